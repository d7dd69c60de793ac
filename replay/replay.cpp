// Replay driver. For each recorded entry, in order, that the engine has not
// already reproduced:
//
//   recorded entry --inject--> manager | queue | process actor | store
//        |                          (test_coordinator runs to idle)
//        v                                        v
//   expected chain [entry, derived...]  ==  entries the engine committed
//
// A claim's chain includes the process's next entry (its start, or the
// failure to spawn): the process actor commits both without further input.
// Where a client's transition (a cancel) came between the claim and the
// start, the process actor is spawned at the start entry instead, with the
// record as claimed, so that the two commit in the recorded order.

#include "procman/replay/replay.hpp"

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <tuple>

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include "procman/actors/manager.hpp"
#include "procman/actors/process.hpp"
#include "procman/actors/queue.hpp"
#include "procman/actors/store_service.hpp"
#include "procman/children/child_service.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/json.hpp"
#include "procman/persistence/store.hpp"
#include "procman/platform/files.hpp"
#include "procman/protocol/executor_report.hpp"

namespace procman {

namespace json = boost::json;

namespace {

using process_map = std::map<std::string, process_actor>;

// -- a launcher that starts nothing -------------------------------------------

/// What became of one claim of a process, as the recording says.
struct recorded_start {
  int exec_pid = 0;         ///< the executor started with this pid
  int spawn_errno = 0;      ///< or it could not be started
  bool runner_died = false; ///< or its runner died before it tried
};

struct recorded_launcher : executor_launcher {
  /// Per process: what each of its claims led to, in order.
  std::map<std::string, std::deque<recorded_start>> plans;
  std::map<int, child_handlers> live;

  caf::expected<int> spawn(const child_spec& spec,
                           child_handlers handlers) override {
    std::string pid;
    for (auto& e : spec.env)
      if (e.rfind("PROCMAN_PID=", 0) == 0)
        pid = e.substr(12);
    auto& q = plans[pid];
    auto next = q.empty() ? recorded_start{0, EAGAIN, false} : q.front();
    if (!q.empty())
      q.pop_front();
    if (next.spawn_errno != 0)
      return make_error(errc::spawn_failure,
                        "cannot start " + spec.argv.at(0) + ": "
                          + strerror(next.spawn_errno),
                        next.spawn_errno);
    live[next.exec_pid] = std::move(handlers);
    return next.exec_pid;
  }

  void kill_group(int) override {
    // nop: the recording says how the child ended
  }
};

// -- the supervisor's stand-in ------------------------------------------------

struct driver_state {
  static inline const char* name = "replay-driver";
  std::shared_ptr<process_map> procs;
  store_actor store;
};

supervisor_actor::behavior_type
driver(supervisor_actor::stateful_pointer<driver_state> self,
       std::shared_ptr<process_map> procs, store_actor store) {
  self->state.procs = std::move(procs);
  self->state.store = std::move(store);
  return {
    [self](atom::apply, atom::flush, std::vector<transition>& ts) {
      // The end of a run: to the store at once, which holds it for the
      // next commit (the recorded claim that follows, as in a runner).
      return self->delegate(self->state.store, atom::apply_v, atom::flush_v,
                            std::move(ts));
    },
    [](atom::flush) {
      // nop: nothing is held here
    },
    [](atom::wakeup) {
      // nop: claims come from the recording
    },
    [self](atom::cancel, const std::string& pid) {
      auto& procs = *self->state.procs;
      if (auto i = procs.find(pid); i != procs.end())
        self->send(i->second, atom::cancel_v);
    },
    [](atom::drain) {
      // nop
    },
    [](atom::check) {
      // nop
    },
    [self](atom::exec, const std::string& pid, process_status) {
      self->state.procs->erase(pid);
    },
    [self](atom::stats) -> caf::result<uint32_t, uint64_t> {
      return caf::result<uint32_t, uint64_t>(
        static_cast<uint32_t>(self->state.procs->size()), uint64_t{0});
    },
    [self](caf::get_atom, const std::string& pid) -> caf::result<caf::actor> {
      auto& procs = *self->state.procs;
      if (auto i = procs.find(pid); i != procs.end())
        return caf::actor_cast<caf::actor>(i->second);
      return make_error(errc::unknown_process,
                        "no process " + pid + " runs here");
    },
    [](atom::claim) {
      // nop: claims come from the recording
    },
    [](atom::exited, const std::string&) {
      // nop: the process stays known until it is done
    },
  };
}

// -- helpers ------------------------------------------------------------------

json::object comparable(const log_entry& e) {
  auto o = log_line(e);
  o.erase("seq");
  return o;
}

std::string differing_fields(const json::object& a, const json::object& b) {
  std::string result;
  std::set<std::string> keys;
  for (auto& kv : a)
    keys.insert(std::string(kv.key()));
  for (auto& kv : b)
    keys.insert(std::string(kv.key()));
  for (auto& k : keys) {
    auto x = a.if_contains(k);
    auto y = b.if_contains(k);
    if (!x || !y || *x != *y)
      result += (result.empty() ? "" : ", ") + k;
  }
  return result;
}

/// Whether `e` is a schedule's, not a process's (no pid).
bool schedule_event(const log_entry& e) {
  return e.what.kind == transition_kind::schedule_add
         || e.what.kind == transition_kind::schedule_remove;
}

/// Whether `e` records an executor that could not be started.
bool failed_start(const log_entry& e) {
  return e.what.kind == transition_kind::fail && e.what.spawn_errno != 0;
}

// -- the replayer -------------------------------------------------------------

class replayer {
public:
  replayer(const log_file& log, const replay_options& opts)
    : log_(log), report_() {
    report_.entries = log.entries.size();
    if (opts.work_dir.empty()) {
      dir_ = platform::make_temp_dir("procman-replay-");
      if (dir_.empty())
        throw std::runtime_error("cannot create a temporary directory");
      remove_dir_ = true;
    } else {
      dir_ = opts.work_dir;
    }
    cfg_.set("scheduler.policy", caf::atom("testing"));
    cfg_.add_message_types<caf::id_block::procman>();
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_
      = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  }

  ~replayer() {
    shutdown();
    sys_.reset();
    if (remove_dir_) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  replay_report run() {
    if (!open_store())
      return report_;
    plan();
    auto& entries = log_.entries;
    for (size_t i = 0; i < entries.size() && report_.ok(); ++i) {
      if (matched_[i])
        continue;
      step(i);
    }
    if (report_.ok())
      compare_records();
    return report_;
  }

private:
  // -- set-up -----------------------------------------------------------------

  bool open_store() {
    store_options so;
    so.dir = dir_ + "/store";
    so.no_sync = true;
    so.ring_doorbell = false;
    so.default_timeout = 0;
    so.retention_ms = UINT64_MAX / 2;
    so.clock = [this] {
      if (!times_.empty()) {
        last_time_ = times_.front();
        times_.pop_front();
      }
      return last_time_;
    };
    auto db = store::open(so);
    if (!db) {
      diverge(0, "", "", "",
              "cannot open the replay store: " + render(db.error()));
      return false;
    }
    db_ = std::shared_ptr<procman::store>(std::move(*db));
    launcher_ = std::make_shared<recorded_launcher>();
    procs_ = std::make_shared<process_map>();
    store_ = sys_->spawn(store_service, db_, std::string{"replay"},
                         commit_failure_policy{}, store_runtime{});
    driver_ = sys_->spawn(driver, procs_, store_);
    manager_ = sys_->spawn(procman::manager, store_, driver_);
    sched_->run();
    return true;
  }

  /// Which pids can be replayed, what each spawn returns, each runner's
  /// configuration.
  void plan() {
    auto& entries = log_.entries;
    matched_.assign(entries.size(), false);
    std::set<std::string> enqueued;
    std::map<std::string, uint32_t> spec_timeout;
    for (auto& e : entries)
      if (e.what.kind == transition_kind::enqueue) {
        enqueued.insert(e.what.pid);
        spec_timeout[e.what.pid] = e.what.spec.timeout;
      }
    std::set<std::string> skipped;
    for (size_t i = 0; i < entries.size(); ++i) {
      auto& e = entries[i];
      if (schedule_event(e))
        continue; // not a process's: replayed as it is
      if (!enqueued.count(e.what.pid)) {
        matched_[i] = true;
        skipped.insert(e.what.pid);
        continue;
      }
      if (e.what.kind != transition_kind::claim)
        continue;
      auto& cfg = config_for(e.what.runner);
      auto& plan = launcher_->plans[e.what.pid];
      auto next = next_from_runner(i);
      deferred_[e.what.pid].push_back(next && next_of(i) != next);
      if (!next) {
        // The log ends before the executor started.
        plan.push_back(recorded_start{1 << 22, 0, false});
        continue;
      }
      auto& n = entries[*next];
      if (n.what.kind == transition_kind::start) {
        plan.push_back(recorded_start{n.what.exec_pid, 0, false});
        if (spec_timeout[e.what.pid] == 0)
          cfg.default_timeout = n.what.timeout;
      } else if (failed_start(n)) {
        cfg.exec_path = n.what.exec_path;
        plan.push_back(recorded_start{0, n.what.spawn_errno, false});
      } else {
        // The runner died between the claim and the executor's start.
        plan.push_back(recorded_start{0, 0, true});
      }
    }
    report_.skipped.assign(skipped.begin(), skipped.end());
    report_.processes = enqueued.size();
  }

  exec_config& config_for(const std::string& runner) {
    auto& cfg = configs_[runner];
    if (!cfg) {
      cfg = std::make_shared<exec_config>();
      cfg->exec_path = "procman-exec";
      cfg->runner_id = runner;
      cfg->default_timeout = defaults::process_timeout;
      cfg->children = launcher_;
      // Each transition as soon as it is known: the replay expects the
      // start right after the claim.
      cfg->hold_transitions = false;
    }
    return *cfg;
  }

  queue_actor queue_for(const std::string& runner) {
    auto& q = queues_[runner];
    if (!q)
      q = sys_->spawn(procman::queue, store_, runner);
    return q;
  }

  /// The index of the next entry of the same process after `i` that a
  /// runner committed (a client's cancel may come between a claim and the
  /// executor's start).
  std::optional<size_t> next_from_runner(size_t i) const {
    auto& entries = log_.entries;
    for (size_t j = i + 1; j < entries.size(); ++j)
      if (entries[j].what.pid == entries[i].what.pid
          && entries[j].what.source != "client")
        return j;
    return std::nullopt;
  }

  /// The index of the next entry of the same process after `i`.
  std::optional<size_t> next_of(size_t i) const {
    auto& entries = log_.entries;
    for (size_t j = i + 1; j < entries.size(); ++j)
      if (entries[j].what.pid == entries[i].what.pid)
        return j;
    return std::nullopt;
  }

  // -- asking actors under the deterministic scheduler ------------------------

  template <class R, class Handle, class... Ts>
  caf::expected<R> ask(const Handle& hdl, Ts... xs) {
    auto out = std::make_shared<std::optional<caf::expected<R>>>();
    auto args = std::make_tuple(std::move(xs)...);
    sys_->spawn([out, hdl, args](caf::event_based_actor* self) {
      std::apply(
        [&](const auto&... a) {
          self->request(hdl, caf::infinite, a...)
            .then([out](R& r) { *out = std::move(r); },
                  [out](caf::error& e) { *out = std::move(e); });
        },
        args);
    });
    sched_->run();
    if (!*out)
      return make_error(errc::timeout, "no answer from the engine");
    return std::move(**out);
  }

  // -- one step ---------------------------------------------------------------

  void step(size_t i) {
    auto& entries = log_.entries;
    auto& e = entries[i];
    std::vector<size_t> chain{i};
    if (e.what.kind == transition_kind::claim)
      if (auto n = next_of(i); n && follows_claim(entries[*n]))
        chain.push_back(*n);
    for (auto j : chain)
      times_.push_back(entries[j].time);
    auto before = last_seq();
    inject(e);
    sched_->run();
    times_.clear();
    auto produced = db_->log(before);
    std::vector<log_entry> got;
    if (produced)
      got = std::move(*produced);
    for (size_t k = 0; k < std::max(chain.size(), got.size()); ++k) {
      if (k >= chain.size()) {
        auto& extra = got[k];
        // A process whose recording ends here may go on in the replay.
        if (!next_of_pid_after(extra.what.pid, i))
          continue;
        return diverge(e.seq, extra.what.pid, "nothing more",
                       json::serialize(comparable(extra)),
                       "the engine committed a transition the recording does "
                       "not have");
      }
      auto& want = entries[chain[k]];
      if (k >= got.size())
        return diverge(
          want.seq, want.what.pid, json::serialize(comparable(want)),
          last_error_.empty() ? "nothing" : "nothing (" + last_error_ + ")",
          "the engine did not commit this transition");
      auto a = comparable(want);
      auto b = comparable(got[k]);
      if (a != b) {
        auto fields = differing_fields(a, b);
        auto reason = fields == "digest"
                        ? std::string{"the record after this transition "
                                      "differs from the recorded one (digest)"}
                        : "differs in " + fields;
        diverge(want.seq, want.what.pid, json::serialize(a), json::serialize(b),
                std::move(reason));
        if (fields == "digest")
          if (auto rec = db_->get(want.what.pid))
            report_.divergence->record
              = json::serialize(json::value_from(*rec));
        return;
      }
      matched_[chain[k]] = true;
      ++report_.checked;
      if (want.what.kind == transition_kind::start)
        exec_of_[want.what.pid] = want.what.exec_pid;
    }
    last_error_.clear();
  }

  /// Whether `e` is what a process actor commits right after its claim.
  static bool follows_claim(const log_entry& e) {
    return e.what.kind == transition_kind::start || failed_start(e);
  }

  bool next_of_pid_after(const std::string& pid, size_t i) const {
    auto& entries = log_.entries;
    for (size_t j = i + 1; j < entries.size(); ++j)
      if (entries[j].what.pid == pid && !matched_[j])
        return true;
    return false;
  }

  uint64_t last_seq() {
    auto s = db_->stats();
    return s ? s->last_seq : 0;
  }

  template <class T>
  void keep_error(const caf::expected<T>& res) {
    if (!res)
      last_error_ = render(res.error());
  }

  child_handlers* handlers_of(const std::string& pid) {
    auto i = exec_of_.find(pid);
    if (i == exec_of_.end())
      return nullptr;
    auto j = launcher_->live.find(i->second);
    return j == launcher_->live.end() ? nullptr : &j->second;
  }

  void report(const std::string& pid, const executor_report& line) {
    if (auto h = handlers_of(pid); h && h->on_report)
      h->on_report(encode_report(line));
    else
      last_error_ = "no executor of " + pid + " is running in the replay";
  }

  void exit_child(const std::string& pid, int code, int sig,
                  const std::string& tail) {
    sched_->run();
    auto h = handlers_of(pid);
    if (!h || !h->on_exit) {
      last_error_ = "no executor of " + pid + " is running in the replay";
      return;
    }
    auto on_exit = h->on_exit;
    launcher_->live.erase(exec_of_[pid]);
    on_exit(code, sig, tail);
  }

  template <class Atom>
  void send_to_process(const std::string& pid, Atom atom_value) {
    auto i = procs_->find(pid);
    if (i == procs_->end()) {
      last_error_ = "no process actor for " + pid;
      return;
    }
    caf::anon_send(i->second, atom_value);
  }

  void end_process_actor(const std::string& pid) {
    auto i = procs_->find(pid);
    if (i == procs_->end())
      return;
    caf::anon_send_exit(i->second, caf::exit_reason::user_shutdown);
    procs_->erase(i);
  }

  void inject(const log_entry& e) {
    auto& t = e.what;
    using tk = transition_kind;
    bool from_executor = t.source == "supervisor";
    switch (t.kind) {
      case tk::enqueue:
        if (!t.schedule.empty()) {
          // A schedule's run: the store enqueues it and moves the
          // schedule on, as a runner's fire did.
          keep_error(ask<process_record>(store_, atom::apply_v, t));
          return;
        }
        keep_error(
          ask<std::string>(manager_, start_request{t.spec, t.pid, {}}));
        return;
      case tk::retry:
      case tk::schedule_add:
      case tk::schedule_remove:
      case tk::hold:
      case tk::release:
        keep_error(ask<process_record>(store_, atom::apply_v, t));
        return;
      case tk::claim: {
        auto recs = ask<std::vector<process_record>>(
          queue_for(t.runner), atom::claim_v, uint32_t{1});
        keep_error(recs);
        if (!recs)
          return;
        for (auto& rec : *recs) {
          auto pid = rec.pid;
          auto& later = deferred_[pid];
          bool defer = !later.empty() && later.front();
          if (!later.empty())
            later.pop_front();
          auto& plan = launcher_->plans[pid];
          if (!plan.empty() && plan.front().runner_died) {
            // Its runner died before starting the executor: no actor.
            plan.pop_front();
            continue;
          }
          if (defer) {
            claimed_[pid] = {std::move(rec), t.runner};
            continue;
          }
          (*procs_)[pid] = sys_->spawn(procman::process, std::move(rec), store_,
                                       driver_, configs_[t.runner]);
        }
        return;
      }
      case tk::start: {
        auto i = claimed_.find(t.pid);
        if (i == claimed_.end()) {
          last_error_ = "an executor start without its claim";
          return;
        }
        auto [rec, runner] = std::move(i->second);
        claimed_.erase(i);
        auto hdl = sys_->spawn(procman::process, std::move(rec), store_,
                               driver_, configs_[runner]);
        (*procs_)[t.pid] = hdl;
        // A cancel requested before the start reached the real process
        // actor through its periodic check of the record.
        if (auto cur = db_->get(t.pid); cur && cur->cancel_requested)
          caf::anon_send(hdl, atom::cancel_v);
        return;
      }
      case tk::step_started:
        report(t.pid, executor_line(report_event::step_started, t));
        return;
      case tk::step_completed: {
        auto line = executor_line(report_event::step_completed, t);
        if (!t.output.empty())
          line.output = payload_value(t);
        report(t.pid, line);
        return;
      }
      case tk::progress: {
        auto line = executor_line(report_event::progress, t);
        line.percent = t.progress.percent;
        line.message = t.progress.message;
        report(t.pid, line);
        return;
      }
      case tk::finish: {
        auto line = executor_line(report_event::finished, t);
        line.step.reset();
        line.output = payload_value(t);
        report(t.pid, line);
        exit_child(t.pid, 0, 0, {});
        return;
      }
      case tk::interrupt: {
        auto line = executor_line(report_event::interrupted, t);
        line.output = payload_value(t);
        report(t.pid, line);
        exit_child(t.pid, 3, 0, {});
        return;
      }
      case tk::fail:
        if (!from_executor) {
          // A runner's recovery of a dead runner's process, or the store.
          keep_error(ask<process_record>(store_, atom::apply_v, t));
          end_process_actor(t.pid);
          return;
        }
        switch (t.error.kind) {
          case error_kind::timeout:
            send_to_process(t.pid, atom::expire_v);
            break;
          case error_kind::runner_lost:
            send_to_process(t.pid, atom::kill_v);
            break;
          case error_kind::crash:
            if (!t.garbage.empty()) {
              if (auto h = handlers_of(t.pid); h && h->on_report)
                h->on_report(t.garbage);
            }
            break;
          default: {
            auto line = executor_line(report_event::error, t);
            line.step.reset();
            line.error = t.error;
            report(t.pid, line);
            exit_child(t.pid, 1, 0, {});
            return;
          }
        }
        exit_child(t.pid, t.error.exit_code, t.error.signal,
                   t.error.stderr_tail);
        return;
      case tk::cancel:
        if (from_executor) {
          exit_child(t.pid, t.error.exit_code, t.error.signal,
                     t.error.stderr_tail);
          return;
        }
        keep_error(ask<process_record>(manager_, cancel_request{t.pid, {}}));
        if (e.status_after == process_status::cancelled)
          end_process_actor(t.pid);
        return;
      case tk::proceed:
        keep_error(ask<std::string>(
          manager_, proceed_request{
                      t.pid, t.data.empty() ? std::string{"{}"} : t.data, {}}));
        return;
      case tk::purge:
        keep_error(ask<process_record>(store_, atom::apply_v, t));
        return;
    }
  }

  /// The report line of the executor that led to `t`.
  static executor_report executor_line(report_event event,
                                       const transition& t) {
    executor_report x;
    x.event = event;
    x.step = t.step;
    return x;
  }

  /// The output the executor reported, as it was logged.
  static json::value payload_value(const transition& t) {
    if (t.output.empty())
      return nullptr;
    auto v = parse_json(t.output, defaults::max_wrapped_json_depth);
    if (!v)
      return json::string(t.output);
    return std::move(*v);
  }

  // -- the end ----------------------------------------------------------------

  void compare_records() {
    std::set<std::string> skipped(report_.skipped.begin(),
                                  report_.skipped.end());
    for (auto& want : log_.records) {
      if (skipped.count(want.pid))
        continue;
      auto got = db_->get(want.pid);
      auto a = json::value_from(want).as_object();
      a.erase("queue_seq");
      if (!got) {
        // Purged in the recording too: then the export has no record.
        return diverge(0, want.pid, json::serialize(a), render(got.error()),
                       "final record missing");
      }
      auto b = json::value_from(*got).as_object();
      b.erase("queue_seq");
      // A record exported before step times were kept has none to compare.
      if (want.step_times.empty())
        b.erase("step_times");
      if (a != b)
        return diverge(0, want.pid, json::serialize(a), json::serialize(b),
                       "final record differs in " + differing_fields(a, b));
      ++report_.records_checked;
    }
  }

  void diverge(uint64_t seq, const std::string& pid, std::string expected,
               std::string got, std::string reason) {
    if (report_.divergence)
      return;
    report_.divergence = replay_divergence{
      seq, pid, std::move(expected), std::move(got), std::move(reason), {}};
  }

  void shutdown() {
    if (!sys_)
      return;
    for (auto& kv : *procs_or_empty())
      caf::anon_send_exit(kv.second, caf::exit_reason::user_shutdown);
    for (auto& kv : queues_)
      caf::anon_send_exit(kv.second, caf::exit_reason::user_shutdown);
    if (manager_)
      caf::anon_send_exit(manager_, caf::exit_reason::user_shutdown);
    if (driver_)
      caf::anon_send_exit(driver_, caf::exit_reason::user_shutdown);
    if (store_)
      caf::anon_send_exit(store_, caf::exit_reason::user_shutdown);
    sched_->run();
  }

  process_map* procs_or_empty() {
    static process_map none;
    return procs_ ? procs_.get() : &none;
  }

  const log_file& log_;
  replay_report report_;
  std::string dir_;
  bool remove_dir_ = false;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::shared_ptr<procman::store> db_;
  std::shared_ptr<recorded_launcher> launcher_;
  std::shared_ptr<process_map> procs_;
  store_actor store_;
  supervisor_actor driver_;
  manager_actor manager_;
  std::map<std::string, queue_actor> queues_;
  std::map<std::string, std::shared_ptr<exec_config>> configs_;
  std::map<std::string, int> exec_of_;
  /// Per process, for each of its claims in order: whether its executor's
  /// start comes after a client's transition; and such records as claimed.
  std::map<std::string, std::deque<bool>> deferred_;
  std::map<std::string, std::pair<process_record, std::string>> claimed_;
  std::vector<bool> matched_;
  std::deque<uint64_t> times_;
  uint64_t last_time_ = 0;
  std::string last_error_;
};

} // namespace

replay_report replay_log(const log_file& log, const replay_options& opts) {
  try {
    replayer r{log, opts};
    return r.run();
  } catch (const std::exception& ex) {
    replay_report rep;
    rep.entries = log.entries.size();
    rep.divergence = replay_divergence{0, "", "", "", ex.what(), {}};
    return rep;
  }
}

std::string describe(const replay_report& r) {
  std::string s;
  if (r.ok()) {
    s = "replay matches: " + std::to_string(r.checked) + " of "
        + std::to_string(r.entries) + " log entries reproduced, "
        + std::to_string(r.processes) + " processes, "
        + std::to_string(r.records_checked) + " final records identical";
  } else {
    auto& d = *r.divergence;
    s = d.seq > 0 ? "divergence at seq " + std::to_string(d.seq)
                  : std::string{"divergence"};
    if (!d.pid.empty())
      s += " (process " + d.pid + ")";
    s += ": " + d.reason;
    if (!d.expected.empty() || !d.got.empty())
      s += "\n  expected: " + d.expected + "\n  got:      " + d.got;
    if (!d.record.empty())
      s += "\n  the replayed record after it: " + d.record;
  }
  if (!r.skipped.empty())
    s += "\n  skipped " + std::to_string(r.skipped.size())
         + " processes whose enqueue is not in the log";
  return s;
}

} // namespace procman
