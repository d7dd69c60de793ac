// State machine of one active process, as seen by its runner:
//
//        spawn ok                 final report            exit
//   (claimed) ----> executing -------------------> reported ----> done
//        |              |  expire / cancel / kill                  ^
//        |              +------------> killing --(exit)------------+
//        | spawn failed                                            |
//        +-----------------------------------------(fail crash)----+
//
// Every transition goes to the store actor, a batch that ends the run by
// way of the supervisor (below); the supervisor hears `exec` (done) only
// once the store has answered all of them.
//
// Held transitions: `start` and the step events that no acknowledgement
// waits for (the last step of a run, or a run without acks) are held and
// sent to the store right before the next transition that must be durable
// (an acknowledged step_completed, progress, the final report, the exit),
// or after `hold_limit`. They need not be durable earlier: after a kill -9
// of the runner the record names the step after the last durable
// completion as the one that was running (runner_lost), which is the same
// step whether or not these were committed; nothing reads the executor's
// pid from the store. A fast process so costs one commit (claim aside)
// instead of three, and its final commit no longer waits behind `start`;
// that batch, which ends the run, goes to the supervisor, which hands it
// to the store with the claim that the executor's exit brings, so the
// store commits both at once (supervisor.cpp, `held_ends`).
//
// Step acknowledgements: in a run of several steps the executor's stdin
// stays open, and after the store has committed step_completed k the actor
// writes {"ack": k} there; the executor starts step k + 1 only then. So the
// record's last completed step is never behind the executor by more than
// the step that is running, and runner_lost names that step.

#include "procman/actors/process.hpp"

#include <csignal>
#include <cstring>

#include <boost/json.hpp>
#include <caf/send.hpp>
#include <unistd.h>

#include "procman/lifecycle/reports.hpp"
#include "procman/lifecycle/timeouts.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/json.hpp"
#include "procman/protocol/executor_input.hpp"
#include "procman/protocol/executor_report.hpp"
#include "procman/protocol/step_ack.hpp"

namespace procman {

namespace json = boost::json;

namespace {

/// Whether this run has more than one step: then the executor waits for
/// the acknowledgement of each step's completion before the next starts,
/// and its stdin stays open for them.
bool step_acks(const process_record& rec) {
  return rec.steps.size() > rec.next_step + 1;
}

std::string work_of(const process_record& rec, const exec_config& cfg,
                    int64_t lease_until_ms) {
  executor_input in;
  in.pid = rec.pid;
  in.steps = rec.steps;
  in.first_step = rec.next_step;
  if (auto data = parse_json(rec.data, defaults::max_wrapped_json_depth);
      data && data->is_object())
    in.data = std::move(data->get_object());
  in.script_args = cfg.script_args;
  in.step_libs = cfg.step_libs;
  in.step_acks = step_acks(rec);
  in.output_events = cfg.output_events;
  in.lease_until_ms = lease_until_ms;
  return encode_input(in);
}

} // namespace

std::string process_state::step_name(int idx) const {
  if (idx < 0 || static_cast<size_t>(idx) >= record.steps.size())
    return {};
  return record.steps[static_cast<size_t>(idx)].name;
}

void process_state::hold(process_actor::stateful_pointer<process_state> self,
                         transition t) {
  if (!cfg->hold_transitions)
    return apply(self, std::move(t));
  if (held.empty())
    held.reserve(4); // start, step_started, step_completed and the end
  held.push_back(std::move(t));
  if (!hold_armed) {
    hold_armed = true;
    if (os_pid > 0 && cfg->children->has_timers()) {
      auto hdl = caf::actor_cast<process_actor>(self);
      cfg->children->call_after(os_pid, hold_limit,
                                [hdl] { caf::anon_send(hdl, atom::flush_v); });
    } else {
      self->delayed_send(self, hold_limit, atom::flush_v);
    }
  }
}

void process_state::release(
  process_actor::stateful_pointer<process_state> self) {
  auto ts = std::move(held);
  held.clear();
  if (ts.size() == 1)
    return apply(self, std::move(ts.front()));
  send_all(self, std::move(ts));
}

void process_state::send_all(
  process_actor::stateful_pointer<process_state> self,
  std::vector<transition> ts) {
  // One message for them all: they commit together anyway.
  std::vector<std::string> acks_after;
  for (auto& t : ts) {
    stamp(t);
    if (t.kind == transition_kind::step_completed && acks)
      acks_after.push_back(encode_ack(t.step));
  }
  ++in_flight;
  auto n = ts.size();
  auto done = [self, acks_after](const std::vector<process_record>& recs) {
    auto& st = self->state;
    --st.in_flight;
    if (!recs.empty())
      st.last_status = recs.back().status;
    for (auto& ack : acks_after)
      st.cfg->children->write_input(st.os_pid, ack);
    st.maybe_done(self);
  };
  auto failed = [self, acks_after, n](const caf::error& err) {
    auto& st = self->state;
    --st.in_flight;
    if (!is(err, errc::storage_failure))
      for (auto& ack : acks_after)
        st.cfg->children->write_input(st.os_pid, ack);
    log_error(st.record.pid, "cannot record " + std::to_string(n)
                               + " transitions: " + render(err));
    st.maybe_done(self);
  };
  auto send_to = [&](const auto& to) {
    self
      ->request(to, caf::infinite, atom::apply_v, atom::flush_v, std::move(ts))
      .then(std::move(done), std::move(failed));
  };
  // The end of a run goes through the supervisor, which holds it for the
  // claim that the exit brings: the store commits both at once, woken once.
  if (ends_run(ts.back().kind))
    send_to(supervisor);
  else
    send_to(store);
}

void process_state::stamp(transition& t) const {
  t.pid = record.pid;
  t.source = "supervisor";
  t.runner = cfg->runner_id;
}

void process_state::free_slot(
  process_actor::stateful_pointer<process_state> self) {
  if (slot_freed)
    return;
  slot_freed = true;
  self->send(supervisor, atom::exited_v, record.pid);
}

void process_state::apply(process_actor::stateful_pointer<process_state> self,
                          transition t) {
  if (!held.empty()) {
    auto ts = std::move(held);
    held.clear();
    ts.push_back(std::move(t));
    return send_all(self, std::move(ts));
  }
  stamp(t);
  ++in_flight;
  auto kind = t.kind;
  // The executor waits for this before it starts the next step.
  auto ack = kind == transition_kind::step_completed && acks
               ? encode_ack(t.step)
               : std::string{};
  self->request(store, caf::infinite, atom::apply_v, std::move(t))
    .then(
      [self, ack](const process_record& rec) {
        auto& st = self->state;
        --st.in_flight;
        st.last_status = rec.status;
        if (!ack.empty())
          st.cfg->children->write_input(st.os_pid, ack);
        st.maybe_done(self);
      },
      [self, kind, ack](const caf::error& err) {
        auto& st = self->state;
        --st.in_flight;
        // A refusal never becomes durable, so holding the next step back
        // helps nothing; a storage failure (the runner stops) holds it
        // until the executor is killed.
        if (!ack.empty() && !is(err, errc::storage_failure))
          st.cfg->children->write_input(st.os_pid, ack);
        // A refusal (the transition does not apply) is final; a storage
        // failure reaches here only when the runner stops, and the next
        // runner then ends the process as runner_lost.
        log_error(st.record.pid,
                  (is(err, errc::storage_failure) ? "cannot record "
                                                  : "store refused ")
                    + to_string(kind) + ": " + render(err));
        st.maybe_done(self);
      });
}

void process_state::kill(kill_reason why) {
  if (killed != kill_reason::none || exited)
    return;
  killed = why;
  if (os_pid > 0)
    cfg->children->kill_group(os_pid);
}

void process_state::maybe_done(
  process_actor::stateful_pointer<process_state> self) {
  if (reported || !exited || in_flight > 0)
    return;
  reported = true;
  self->send(supervisor, atom::exec_v, record.pid, last_status);
  self->quit();
}

process_actor::behavior_type
process(process_actor::stateful_pointer<process_state> self, process_record rec,
        store_actor store, supervisor_actor supervisor,
        std::shared_ptr<const exec_config> cfg) {
  auto& st = self->state;
  st.record = std::move(rec);
  st.store = std::move(store);
  st.supervisor = std::move(supervisor);
  st.cfg = std::move(cfg);
  st.current_step = static_cast<int>(st.record.next_step);
  // Spawn the executor.
  child_spec spec;
  spec.argv = {st.cfg->exec_path};
  // The runner's pid, asked once: a process actor never runs in a fork.
  static const std::string parent_pid = "PROCMAN_PARENT_PID="
                                        + std::to_string(getpid());
  spec.env = {parent_pid, "PROCMAN_PID=" + st.record.pid};
  // The executor's lease: it ends itself, with all it started, unless the
  // launcher renews it on its stdin in time (docs/protocol.md, "Leases").
  spec.lease_until_ms = st.cfg->children->lease_until();
  spec.input = work_of(st.record, *st.cfg, spec.lease_until_ms);
  st.acks = step_acks(st.record);
  spec.keep_stdin_open = st.acks || spec.lease_until_ms > 0;
  spec.reports_may_wait = !st.acks;
  auto hdl = caf::actor_cast<process_actor>(self);
  child_handlers handlers;
  // Set on the launcher's thread before `on_exit`, whose message reads it.
  handlers.on_lease_lapsed = [lapsed = st.lease_lapsed] { *lapsed = true; };
  handlers.on_report = [hdl](std::string line) {
    caf::anon_send(hdl, atom::report_v, std::move(line));
  };
  handlers.on_exit = [hdl](int code, int sig, std::string tail) {
    caf::anon_send(hdl, atom::exited_v, static_cast<int32_t>(code),
                   static_cast<int32_t>(sig), std::move(tail));
  };
  st.timeout = run_timeout(st.record.timeout, st.cfg->default_timeout);
  // Where the launcher keeps timers (the child service's I/O thread), the
  // timeout and the first hold limit ride with the spawn: no message
  // through CAF's clock thread per process, and nothing left when the
  // child ends early.
  bool own_timers = st.cfg->children->has_timers();
  if (own_timers) {
    handlers.timers.push_back({std::chrono::seconds(st.timeout),
                               [hdl] { caf::anon_send(hdl, atom::expire_v); }});
    if (st.cfg->hold_transitions) {
      handlers.timers.push_back({process_state::hold_limit, [hdl] {
                                   caf::anon_send(hdl, atom::flush_v);
                                 }});
      st.hold_armed = true;
    }
  }
  auto spawned = st.cfg->children->spawn(spec, std::move(handlers));
  if (!spawned) {
    auto t = spawn_failure(st.step_name(st.current_step), st.cfg->exec_path,
                           os_errno(spawned.error()), render(spawned.error()));
    log_error(st.record.pid, t.error.message);
    st.exited = true;
    st.apply(self, std::move(t));
    st.free_slot(self);
  } else {
    auto pid = *spawned;
    st.os_pid = pid;
    // An actor that dies before it is done (an exception in a handler, an
    // exit message) takes its executor group along; the supervisor then
    // records the process as runner_lost.
    self->attach_functor(
      [children = st.cfg->children, pid](const caf::error& reason) {
        if (reason && reason != caf::exit_reason::normal)
          children->kill_group(pid);
      });
    log_info(st.record.pid,
             "started executor " + std::to_string(pid) + " at step "
               + st.step_name(st.current_step),
             {{"executor", std::to_string(pid)},
              {"step", st.step_name(st.current_step)}});
    transition t;
    t.kind = transition_kind::start;
    t.exec_pid = pid;
    // The effective timeout goes into the log: replay needs it.
    t.timeout = st.timeout;
    st.hold(self, std::move(t));
    if (!own_timers)
      self->delayed_send(self, std::chrono::seconds(st.timeout),
                         atom::expire_v);
  }
  return {
    [self](atom::report, const std::string& line) {
      auto& st = self->state;
      if (st.final_seen || !st.garbage.empty())
        return;
      auto report = decode_report(line);
      if (report.event == report_event::garbage) {
        st.garbage = line.substr(0, 200);
        log_error(st.record.pid,
                  "executor wrote garbage on its report channel: "
                    + st.garbage);
        st.kill(kill_reason::garbage);
        return;
      }
      if (report.event == report_event::output) {
        // Not a transition: the store keeps it with the next commit. It
        // reaches the store before the transitions of later lines.
        output_chunk c;
        c.pid = st.record.pid;
        c.step = report.step.value_or(static_cast<uint32_t>(st.current_step));
        c.stream = report.stream;
        c.data = std::move(report.data);
        self->send(st.store, atom::output_v, std::move(c));
        return;
      }
      if (report.final())
        st.final_seen = true;
      if (report.event == report_event::other) {
        log_debug(st.record.pid, "ignoring executor event " + report.text);
        return;
      }
      auto made = report_transition(std::move(report),
                                    static_cast<uint32_t>(st.current_step),
                                    st.record.steps);
      if (!made)
        return;
      auto& t = *made;
      switch (t.kind) {
        case transition_kind::step_started:
          st.current_step = static_cast<int>(t.step);
          break;
        case transition_kind::step_completed:
          log_debug(st.record.pid, "completed step " + st.step_name(t.step));
          break;
        case transition_kind::finish:
          log_info(st.record.pid, "finished");
          break;
        case transition_kind::interrupt:
          log_info(st.record.pid, "interrupted after step "
                                    + st.step_name(static_cast<int>(t.step)));
          break;
        case transition_kind::fail:
          log_warn(st.record.pid, "failed: " + t.error.message);
          break;
        default:
          break;
      }
      if (may_hold(t, st.acks, st.record.steps.size()))
        st.hold(self, std::move(t));
      else
        st.apply(self, std::move(t));
    },
    [self](atom::exited, int32_t code, int32_t sig, std::string& tail) {
      auto& st = self->state;
      st.exited = true;
      st.free_slot(self);
      if (!st.held.empty())
        st.release(self);
      executor_exit x;
      x.code = code;
      x.signal = sig;
      x.stderr_tail = std::move(tail);
      x.killed = st.killed;
      x.final_seen = st.final_seen;
      x.lease_lapsed = *st.lease_lapsed;
      x.step = st.step_name(st.current_step);
      x.timeout = st.timeout;
      x.runner = st.cfg->runner_id;
      x.garbage = st.garbage;
      if (auto t = exit_transition(std::move(x))) {
        if (st.killed == kill_reason::cancel)
          log_info(st.record.pid, "cancelled; executor killed");
        else if (st.killed == kill_reason::none)
          log_error(st.record.pid, t->error.message);
        else if (st.killed != kill_reason::garbage)
          log_warn(st.record.pid, t->error.message);
        st.apply(self, std::move(*t));
      }
      st.maybe_done(self);
    },
    [self](atom::expire) {
      auto& st = self->state;
      if (st.final_seen || st.exited)
        return;
      log_warn(st.record.pid, "timeout of " + std::to_string(st.timeout)
                                + " s reached; killing executor "
                                + std::to_string(st.os_pid));
      st.kill(kill_reason::timeout);
    },
    [self](atom::cancel) {
      auto& st = self->state;
      if (st.final_seen || st.exited)
        return;
      st.kill(kill_reason::cancel);
    },
    [self](atom::check) {
      auto& st = self->state;
      if (st.final_seen || st.exited || st.killed != kill_reason::none)
        return;
      self->request(st.store, caf::infinite, caf::get_atom_v, st.record.pid)
        .then(
          [self](const process_record& rec) {
            if (rec.cancel_requested)
              self->state.kill(kill_reason::cancel);
          },
          [](const caf::error&) {
            // nop: the record is read again on the next check
          });
    },
    [self](atom::kill) { self->state.kill(kill_reason::shutdown); },
    [self](atom::flush) {
      auto& st = self->state;
      st.hold_armed = false;
      if (!st.held.empty())
        st.release(self);
    },
  };
}

} // namespace procman
