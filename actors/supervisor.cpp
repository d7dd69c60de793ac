// Claim loop:
//
//   wakeup / slot freed --> try_claim, once no more than half the records
//        to keep ahead (at least `parallel`) are ready: want = parallel +
//        ahead - active - ready (capped by --max-processes)
//        --claim(want)--> queue. `ahead` is what the slots start within
//        defaults::claim_horizon_ms at the pace of the recent exits,
//        between claim_ahead (2) and claim_ahead_max (32) per slot: fast
//        processes come in claims of many that share one commit, slow ones
//        keep two per slot claimed ahead.
//   claimed records --> ready --(a slot is free)--> one process actor each
//   got fewer than asked --> queue_empty; without --wait and with nothing
//   active, finishing or ready, the supervisor quits (the runner exits).
//   claim failed (the store cannot commit) --> retry after a backoff
//   (10 ms doubling to 5 s); a failed claim never counts as an empty queue.
//   got fewer than asked --> fire: the store enqueues the runs of due
//   schedules (claim again if it did) and says when the next delayed
//   process or schedule is due; with --wait one timer (delayed_send) is
//   armed for that time, whose wakeup claims and fires again. No polling:
//   an enqueue of an earlier one rings the doorbell, whose claim comes back
//   short and fires, which arms the earlier timer.
//
// A slot is freed when the executor exits (`exited`), not when its last
// transitions are committed: the actor moves to `finishing` until it
// reports `exec`, and its final transitions ride in the next group commit
// with the claims and transitions of the processes that follow. Records
// claimed ahead (`ready`) start at once when a slot frees, so a slot never
// waits for a claim's commit either.
//
// Each process actor is monitored: one that dies before it reported `exec`
// (active or finishing) has its process recorded as runner_lost (its
// executor group was killed as the actor terminated) and its slot freed.
//
// Drain (SIGTERM/SIGINT): stop claiming; what is ready or still arriving
// from a claim in flight starts as slots free, under the same grace period
// as the running children; then each process actor is told to kill its
// child and record it, and records still ready are ended as runner_lost
// (none of their steps ran).

#include "procman/actors/supervisor.hpp"

#include <algorithm>

#include "procman/lifecycle/lost.hpp"
#include "procman/lifecycle/recovery.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/time.hpp"

namespace procman {

namespace {

/// While claims keep failing, one log line per this period at most.
constexpr auto claim_log_interval
  = std::chrono::seconds(defaults::failure_log_interval_s);

} // namespace

void supervisor_state::try_claim(
  supervisor_actor::stateful_pointer<supervisor_state> self) {
  if (draining)
    return maybe_quit(self);
  if (claim_pending) {
    claim_again = true;
    // The store is busy with that claim: what ends now may ride with it.
    send_ends(self, false);
    return;
  }
  // The slots and the records claimed ahead, refilled once no more than
  // half of those (at least `parallel`) are ready: claims come in batches
  // that share commits, and a slot that frees finds a record ready.
  auto keep = ahead();
  uint64_t want = opts.parallel + keep;
  uint64_t have = active.size() + next_runs.size() + ready.size();
  uint64_t refill_at = std::max<uint64_t>(opts.parallel, keep / 2);
  uint64_t free = want > have && ready.size() <= refill_at ? want - have : 0;
  if (opts.max_processes > 0)
    free = std::min<uint64_t>(free, opts.max_processes - claimed);
  if (free == 0) {
    // No executor runs, so no exit is coming to bring a claim: the ends
    // held need not wait for one.
    if (active.empty() && next_runs.empty())
      send_ends(self, true);
    // Busy: schedules still fire on time (another runner may be free). A
    // store node that runs nothing itself (parallel 0) fires them for its
    // worker nodes whenever it is woken.
    if ((opts.parallel == 0 || (wake_at != 0 && now_ms() >= wake_at))
        && !fire_pending)
      fire(self);
    return maybe_quit(self);
  }
  claim_pending = true;
  claim_again = false;
  // Ahead of the claim in the store's mailbox: one commit takes both.
  send_ends(self, false);
  auto asked = static_cast<uint32_t>(free);
  self->request(queue, caf::infinite, atom::claim_v, asked)
    .then(
      [self, asked](std::vector<process_record>& recs) {
        auto& st = self->state;
        st.claim_pending = false;
        if (st.failed_claims > 0)
          log_info("", "claims succeed again after "
                         + std::to_string(st.failed_claims)
                         + " failed attempts");
        st.failed_claims = 0;
        st.claim_delay = std::chrono::milliseconds{0};
        st.queue_empty = recs.size() < asked;
        for (auto& rec : recs) {
          ++st.claimed;
          log_info(rec.pid, "claimed (run " + std::to_string(rec.runs) + ")",
                   {{"run", std::to_string(rec.runs)}});
          st.ready.push_back(std::move(rec));
        }
        st.start_ready(self);
        if (!st.queue_empty || st.claim_again)
          st.try_claim(self);
        else if (!st.fire_pending)
          st.fire(self);
        else
          st.maybe_quit(self);
      },
      [self](const caf::error& err) {
        auto& st = self->state;
        st.claim_pending = false;
        st.claim_failed(self, err);
      });
}

uint64_t supervisor_state::ahead() const {
  uint64_t least = uint64_t{opts.parallel} * opts.claim_ahead;
  uint64_t most
    = std::max<uint64_t>(least, uint64_t{opts.parallel} * opts.claim_ahead_max);
  if (exit_gap_us <= 0) // fewer than two exits seen: no pace yet
    return least;
  // As many as the slots start within the horizon at the recent pace.
  auto pace = defaults::claim_horizon_ms * 1000.0 / exit_gap_us;
  if (pace >= static_cast<double>(most))
    return most;
  return std::max(least, static_cast<uint64_t>(pace));
}

void supervisor_state::count_exit(caf::actor_clock::time_point now) {
  if (last_exit) {
    using us = std::chrono::duration<double, std::micro>;
    // At least 1 µs: exits seen in one go mean a fast pace, not no pace.
    auto gap = std::max(1.0, us(now - *last_exit).count());
    exit_gap_us = exit_gap_us <= 0 ? gap : 0.75 * exit_gap_us + 0.25 * gap;
  }
  last_exit = now;
}

void supervisor_state::start_ready(
  supervisor_actor::stateful_pointer<supervisor_state> self) {
  while (active.size() + next_runs.size() < opts.parallel && !ready.empty()) {
    auto rec = std::move(ready.front());
    ready.pop_front();
    start(self, std::move(rec));
  }
}

void supervisor_state::abandon_ready(
  supervisor_actor::stateful_pointer<supervisor_state> self) {
  while (!ready.empty()) {
    auto rec = std::move(ready.front());
    ready.pop_front();
    auto t = shut_down_before_start(rec, cfg->runner_id);
    log_warn(rec.pid, t.error.message);
    ++abandoning;
    // The end of this run and the next one in one commit: a process that
    // ran nothing must not stay ended because the second of two commits
    // failed (a full disk). If the commit fails, it stays claimed and
    // unmarked, and the next runner queues it again the same way.
    auto pid = rec.pid;
    std::vector<transition> both{
      std::move(t), requeue_unstarted(pid, "supervisor", cfg->runner_id)};
    self->request(store, caf::infinite, atom::apply_v, std::move(both))
      .then(
        [self](const std::vector<process_record>&) {
          // (A retry policy that covers runner_lost queued it with the
          // first; the second was then refused.)
          --self->state.abandoning;
          self->state.maybe_quit(self);
        },
        [self, pid](const caf::error& err) {
          log_error(pid, "cannot queue an unstarted process again: "
                           + render(err) + "; the next runner queues it again");
          --self->state.abandoning;
          self->state.maybe_quit(self);
        });
  }
}

void supervisor_state::fire(
  supervisor_actor::stateful_pointer<supervisor_state> self) {
  fire_pending = true;
  self->request(store, caf::infinite, atom::fire_v)
    .then(
      [self](uint32_t fired, uint64_t at) {
        auto& st = self->state;
        st.fire_pending = false;
        st.arm_wake(self, at);
        if (fired > 0) {
          log_info("", "enqueued " + std::to_string(fired) + " scheduled runs");
          st.queue_empty = false;
          return st.try_claim(self);
        }
        st.maybe_quit(self);
      },
      [self](const caf::error& err) {
        auto& st = self->state;
        st.fire_pending = false;
        log_error("", "cannot fire schedules: " + render(err));
        st.maybe_quit(self);
      });
}

void supervisor_state::arm_wake(
  supervisor_actor::stateful_pointer<supervisor_state> self, uint64_t at) {
  auto now = now_ms();
  if (wake_at != 0 && wake_at <= now)
    wake_at = 0; // that timer went off
  if (!opts.wait || at == 0 || (wake_at != 0 && wake_at <= at))
    return;
  wake_at = at;
  auto delay = std::chrono::milliseconds(at > now ? at - now : 0);
  self->delayed_send(self, delay, atom::wakeup_v);
}

void supervisor_state::claim_failed(
  supervisor_actor::stateful_pointer<supervisor_state> self,
  const caf::error& err) {
  // A failed claim says nothing about the queue: an earlier short claim
  // must not let a runner without --wait quit on this one.
  queue_empty = false;
  auto now = std::chrono::steady_clock::now();
  if (failed_claims++ == 0 || now - last_claim_log >= claim_log_interval) {
    last_claim_log = now;
    log_error("", "claim failed: " + render(err) + "; retrying"
                    + (failed_claims > 1
                         ? " (" + std::to_string(failed_claims) + " attempts)"
                         : std::string{}));
  }
  claim_delay = storage_retry_delay(claim_delay);
  if (!claim_retry_armed) {
    claim_retry_armed = true;
    self->delayed_send(self, claim_delay, atom::claim_v);
  }
  maybe_quit(self);
}

void supervisor_state::lost_actor(
  supervisor_actor::stateful_pointer<supervisor_state> self,
  const std::string& pid, const caf::error& reason) {
  auto why = reason ? render(reason) : std::string{"without a result"};
  // An end of its run held here goes first: the store commits it before
  // the runner_lost below, which it then refuses.
  send_ends(self, false);
  auto release = [self, pid] {
    self->state.release(self, pid);
    self->send(self, atom::wakeup_v);
  };
  // The record says which step was running; the store keeps retrying the
  // fail until it commits.
  self->request(store, caf::infinite, caf::get_atom_v, pid)
    .then(
      [self, pid, why, release](const process_record& rec) {
        auto& st = self->state;
        if (rec.status != process_status::running
            || rec.runner != st.cfg->runner_id)
          return release();
        auto t = actor_died(rec, st.cfg->runner_id, why);
        log_error(pid, t.error.message);
        self->request(st.store, caf::infinite, atom::apply_v, std::move(t))
          .then([release](const process_record&) { release(); },
                [pid, release](const caf::error& err) {
                  log_error(pid,
                            "cannot record the lost process: " + render(err));
                  release();
                });
      },
      [pid, release](const caf::error& err) {
        log_error(pid,
                  "cannot read the record of a lost process: " + render(err));
        release();
      });
}

void supervisor_state::start(
  supervisor_actor::stateful_pointer<supervisor_state> self,
  process_record rec) {
  auto pid = rec.pid;
  // A retry can be claimed before the actor of the run that failed has
  // heard the store's answer (on a worker node, the answers cross the
  // network): one actor per process at a time. It holds a slot meanwhile.
  if (active.count(pid) > 0 || finishing.count(pid) > 0) {
    next_runs.emplace(std::move(pid), std::move(rec));
    return;
  }
  if (auto& marks = opts.marks) {
    if (marks->full()) {
      std::vector<std::string> live{pid};
      for (auto* m : {&active, &finishing})
        for (auto& kv : *m)
          live.push_back(kv.first);
      marks->rewrite(live);
    }
    marks->add(pid);
  }
  auto hdl = self->spawn(process, std::move(rec), store,
                         caf::actor_cast<supervisor_actor>(self), cfg);
  self->monitor(hdl);
  active.emplace(std::move(pid), hdl);
  publish_busy();
}

void supervisor_state::publish_busy() {
  if (opts.busy)
    opts.busy->store(static_cast<uint32_t>(active.size() + next_runs.size()));
}

void supervisor_state::release(
  supervisor_actor::stateful_pointer<supervisor_state> self,
  const std::string& pid) {
  active.erase(pid);
  finishing.erase(pid);
  publish_busy();
  if (auto i = next_runs.find(pid); i != next_runs.end()) {
    auto rec = std::move(i->second);
    next_runs.erase(i);
    start(self, std::move(rec));
  }
  start_ready(self);
}

void supervisor_state::send_ends(
  supervisor_actor::stateful_pointer<supervisor_state> self, bool commit_now) {
  if (held_ends.empty())
    return;
  auto ends = std::move(held_ends);
  held_ends.clear();
  for (auto& e : ends)
    e.rp.delegate(store, atom::apply_v, atom::flush_v, std::move(e.ts));
  if (commit_now)
    self
      ->request(store, caf::infinite, atom::apply_v, std::vector<transition>{})
      .then(
        [](const std::vector<process_record>&) {
          // nop: the store answered the process actors
        },
        [](const caf::error&) {
          // nop: so were they of an error
        });
}

void supervisor_state::maybe_quit(
  supervisor_actor::stateful_pointer<supervisor_state> self) {
  if (!active.empty() || !finishing.empty() || !ready.empty()
      || !next_runs.empty() || claim_pending || fire_pending || abandoning > 0)
    return;
  bool limit_reached = opts.max_processes > 0 && claimed >= opts.max_processes;
  if (draining || limit_reached || (!opts.wait && queue_empty)) {
    log_info("", "runner done: " + std::to_string(claimed) + " processes run");
    self->quit();
  }
}

supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           supervisor_options opts, queue_actor queue, store_actor store,
           std::shared_ptr<const exec_config> cfg) {
  auto& st = self->state;
  // parallel 0 claims nothing: a store node that only serves workers.
  st.opts = opts;
  st.queue = std::move(queue);
  st.store = std::move(store);
  st.cfg = std::move(cfg);
  self->set_down_handler([self](const caf::down_msg& dm) {
    // A process actor that reported `exec` is known no more: it ended
    // normally. One still active or finishing died before its process's
    // end was committed.
    for (auto* m : {&self->state.active, &self->state.finishing}) {
      auto i = std::find_if(m->begin(), m->end(), [&](const auto& kv) {
        return kv.second.address() == dm.source;
      });
      if (i != m->end())
        return self->state.lost_actor(self, i->first, dm.reason);
    }
  });
  // Start with whatever is already queued.
  self->send(self, atom::wakeup_v);
  return {
    [self](atom::wakeup) { self->state.try_claim(self); },
    [self](atom::claim) {
      self->state.claim_retry_armed = false;
      self->state.try_claim(self);
    },
    [self](caf::get_atom, const std::string& pid) -> caf::result<caf::actor> {
      auto& st = self->state;
      auto i = st.active.find(pid);
      if (i == st.active.end()) {
        i = st.finishing.find(pid);
        if (i == st.finishing.end())
          return make_error(errc::unknown_process,
                            "no process " + pid + " runs here");
      }
      return caf::actor_cast<caf::actor>(i->second);
    },
    [self](atom::cancel, const std::string& pid) {
      auto i = self->state.active.find(pid);
      if (i != self->state.active.end())
        self->send(i->second, atom::cancel_v);
    },
    [self](atom::check) {
      for (auto& kv : self->state.active)
        self->send(kv.second, atom::check_v);
    },
    [self](atom::drain) {
      auto& st = self->state;
      if (st.draining) {
        // Second signal or grace elapsed: kill what is left. What the store
        // cannot commit now it answers with the error, so that the runner
        // can end; the next runner ends such records as runner_lost.
        for (auto& kv : st.active)
          self->send(kv.second, atom::kill_v);
        st.abandon_ready(self);
        st.send_ends(self, true);
        self->send(st.store, atom::drain_v);
        return;
      }
      st.draining = true;
      st.send_ends(self, true);
      log_info("", "stopping: " + std::to_string(st.active.size())
                     + " processes still running, grace period "
                     + std::to_string(st.opts.grace_seconds) + " s");
      if (st.active.empty() && st.finishing.empty() && st.ready.empty()
          && !st.claim_pending)
        return st.maybe_quit(self);
      // What a claim in flight brings runs under the same grace period.
      self->delayed_send(self, std::chrono::seconds(st.opts.grace_seconds),
                         atom::drain_v);
    },
    [self](atom::exited, const std::string& pid) {
      auto& st = self->state;
      auto i = st.active.find(pid);
      if (i == st.active.end())
        return;
      st.finishing.emplace(pid, std::move(i->second));
      st.active.erase(i);
      st.count_exit(self->clock().now());
      st.publish_busy();
      st.start_ready(self);
      self->send(self, atom::wakeup_v);
    },
    [self](atom::apply, atom::flush, std::vector<transition>& ts)
      -> caf::result<std::vector<process_record>> {
      // The end of a run: held for the next claim, which an exit brings
      // soon while executors run. The store is not woken for it alone.
      auto& st = self->state;
      auto rp = self->make_response_promise<std::vector<process_record>>();
      st.held_ends.push_back({std::move(ts), rp});
      if (st.draining) {
        st.send_ends(self, true); // no claim is coming
      } else if (st.claim_pending || st.ready.empty()) {
        // The store is busy with a claim, or soon with the one that the
        // next record (none is claimed ahead) brings: the end waits there
        // for the next commit, as it would here.
        st.send_ends(self, false);
      } else if (!st.ends_timer_armed) {
        st.ends_timer_armed = true;
        self->delayed_send(self, process_state::hold_limit, atom::flush_v);
      }
      return rp;
    },
    [self](atom::flush) {
      self->state.ends_timer_armed = false;
      self->state.send_ends(self, true);
    },
    [self](atom::exec, const std::string& pid, process_status status) {
      auto& st = self->state;
      st.release(self, pid);
      log_debug(pid, "done with status " + to_string(status));
      // Claim through the mailbox: other processes that ended meanwhile
      // free their slots first, and one claim (one commit) fills them all.
      // The claim (or finding nothing to claim) decides whether to quit.
      self->send(self, atom::wakeup_v);
    },
    [self](atom::stats) -> caf::result<uint32_t, uint64_t> {
      auto& st = self->state;
      return caf::result<uint32_t, uint64_t>(
        static_cast<uint32_t>(st.active.size()), st.claimed);
    },
  };
}

} // namespace procman
