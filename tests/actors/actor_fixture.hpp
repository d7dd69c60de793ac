// The deterministic fixture of the actor tests: an actor system under CAF's
// test_coordinator, a real LMDB store in a temporary directory with its store
// service, a fake executor launcher, and stand-ins that record what an actor
// tells its neighbours (supervisor, subscribers).
//
// Every transition and every executor report line the tests use is built
// by the helpers at the top of this file, which also read back what a
// transition keeps in its JSON text (a start's timeout, an output, a spawn
// failure's errno), and every launcher call goes through `fake_launcher`:
// when the shape of `transition`, of the report protocol or of
// `executor_launcher` changes, this file is what follows.
//
// Nothing runs unless a test runs the scheduler: `sched.run()` runs every
// queued message (no timers), `advance_time(d)` fires the timers due within
// `d` (then `run()` again), `ask()` sends a request and returns its reply
// slot without running anything, `request()` sends and runs to the end.

#pragma once

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/send.hpp>

#include "procman/actors/manager.hpp"
#include "procman/actors/process.hpp"
#include "procman/actors/queue.hpp"
#include "procman/actors/store_service.hpp"
#include "procman/actors/supervisor.hpp"
#include "procman/children/executor_launcher.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/error.hpp"
#include "procman/persistence/store.hpp"

#include "fixtures/temp_dir.hpp"

namespace procman::test {

// -- specs, transitions and report lines --------------------------------------

/// A spec of `steps` steps named s0, s1, ... (class "echo", args [i]).
inline process_spec spec_of(size_t steps, uint32_t timeout = 0,
                            std::string data = R"({"n":1})") {
  process_spec spec;
  for (size_t i = 0; i < steps; ++i)
    spec.steps.push_back(step_spec{
      "s" + std::to_string(i), "echo", "[" + std::to_string(i) + "]", {}});
  spec.timeout = timeout;
  spec.data = std::move(data);
  return spec;
}

/// Transitions as a client (source "test") asks them of the store.
namespace tr {

inline transition make(transition_kind kind, const std::string& pid) {
  transition t;
  t.kind = kind;
  t.pid = pid;
  t.source = "test";
  return t;
}

inline transition enqueue(const process_spec& spec,
                          const std::string& pid = {}) {
  auto t = make(transition_kind::enqueue, pid);
  t.spec = spec;
  return t;
}

inline transition claim(const std::string& pid, const std::string& runner) {
  auto t = make(transition_kind::claim, pid);
  t.runner = runner;
  return t;
}

inline transition interrupt(const std::string& pid, uint32_t step,
                            const std::string& output) {
  auto t = make(transition_kind::interrupt, pid);
  t.step = step;
  t.output = output;
  return t;
}

inline transition proceed(const std::string& pid, const std::string& data) {
  auto t = make(transition_kind::proceed, pid);
  t.data = data;
  return t;
}

inline transition cancel(const std::string& pid) {
  return make(transition_kind::cancel, pid);
}

} // namespace tr

/// The effective timeout (seconds) a `start` transition records.
inline uint32_t start_timeout(const transition& t) {
  return t.timeout;
}

/// Whether a spawn failure's transition names the errno `err`.
inline bool names_errno(const transition& t, int err) {
  return t.spawn_errno == err
         && t.error.message.find(std::strerror(err)) != std::string::npos;
}

/// The output a `finish` or `interrupt` transition records.
inline boost::json::value output_of(const transition& t) {
  return boost::json::parse(t.output);
}

/// Report lines as procman-exec writes them (docs/protocol.md, "Reports").
namespace report {

inline std::string line(boost::json::object o) {
  return boost::json::serialize(o);
}

inline std::string step_started(uint32_t k) {
  return line({{"event", "step_started"},
               {"step", k},
               {"name", "s" + std::to_string(k)}});
}

inline std::string step_completed(uint32_t k) {
  return line({{"event", "step_completed"},
               {"step", k},
               {"name", "s" + std::to_string(k)}});
}

inline std::string progress(uint32_t k, double percent,
                            const std::string& msg) {
  return line({{"event", "progress"},
               {"step", k},
               {"name", "s" + std::to_string(k)},
               {"percent", percent},
               {"message", msg}});
}

inline std::string finished(const std::string& output) {
  return line({{"event", "finished"}, {"output", boost::json::parse(output)}});
}

inline std::string interrupted(uint32_t k, const std::string& output) {
  return line({{"event", "interrupted"},
               {"step", k},
               {"name", "s" + std::to_string(k)},
               {"output", boost::json::parse(output)}});
}

inline std::string error(uint32_t k, const std::string& message) {
  return line({{"event", "error"},
               {"step", k},
               {"name", "s" + std::to_string(k)},
               {"error",
                {{"kind", "exception"},
                 {"step", "s" + std::to_string(k)},
                 {"message", message},
                 {"stack", ""}}}});
}

/// What the executor writes on stdin after step k's completion is durable.
inline std::string ack(uint32_t k) {
  return "{\"ack\":" + std::to_string(k) + "}\n";
}

} // namespace report

// -- a full disk --------------------------------------------------------------

/// While on, writes of LMDB data files in this process fail with ENOSPC
/// (tests/actors/disk_faults.cpp): every commit fails, reads work.
void set_disk_full(bool on);

// -- a launcher that starts nothing -------------------------------------------

/// Records what process actors ask of their executors; the test plays the
/// executor: `report()` a line, `exit()`.
struct fake_launcher : executor_launcher {
  struct child {
    std::string pid; ///< the procman process (PROCMAN_PID)
    int os_pid = 0;
    child_spec spec;
    child_handlers handlers;
    std::vector<std::string> inputs; ///< write_input calls, in order
  };

  std::vector<child> children;  ///< every successful spawn, in order
  std::vector<int> killed;      ///< kill_group calls, in order
  std::deque<int> spawn_errors; ///< errno of the next spawns that fail
  int next_os_pid = 4000;
  /// Called at each write_input, before it is recorded.
  std::function<void(int os_pid, const std::string& text)> on_input;
  /// Whether this launcher keeps the children's timers (has_timers): they
  /// are then in each child's `handlers.timers` and in `calls_after`, for
  /// the test to fire.
  bool keeps_timers = false;
  struct call_later {
    int os_pid = 0;
    std::chrono::milliseconds after{0};
    std::function<void()> fn;
  };
  std::vector<call_later> calls_after;

  bool has_timers() const override { return keeps_timers; }

  void call_after(int os_pid, std::chrono::milliseconds after,
                  std::function<void()> fn) override {
    calls_after.push_back({os_pid, after, std::move(fn)});
  }

  caf::expected<int> spawn(const child_spec& spec,
                           child_handlers handlers) override {
    if (!spawn_errors.empty()) {
      auto err = spawn_errors.front();
      spawn_errors.pop_front();
      return make_error(
        errc::spawn_failure,
        "cannot start " + spec.argv.at(0) + ": " + std::strerror(err), err);
    }
    child c;
    for (auto& e : spec.env)
      if (e.rfind("PROCMAN_PID=", 0) == 0)
        c.pid = e.substr(12);
    c.os_pid = next_os_pid++;
    c.spec = spec;
    c.handlers = std::move(handlers);
    children.push_back(std::move(c));
    return children.back().os_pid;
  }

  void kill_group(int os_pid) override { killed.push_back(os_pid); }

  void write_input(int os_pid, std::string text) override {
    if (on_input)
      on_input(os_pid, text);
    if (auto c = find(os_pid))
      c->inputs.push_back(std::move(text));
  }

  child* find(int os_pid) {
    for (auto& c : children)
      if (c.os_pid == os_pid)
        return &c;
    return nullptr;
  }

  /// The latest executor of process `pid`.
  child& of(const std::string& pid) {
    for (auto i = children.rbegin(); i != children.rend(); ++i)
      if (i->pid == pid)
        return *i;
    BOOST_FAIL("no executor was spawned for " << pid);
    throw std::logic_error("unreachable");
  }

  bool spawned(const std::string& pid) const {
    for (auto& c : children)
      if (c.pid == pid)
        return true;
    return false;
  }

  bool was_killed(const std::string& pid) {
    auto os_pid = of(pid).os_pid;
    return std::find(killed.begin(), killed.end(), os_pid) != killed.end();
  }

  /// The executor of `pid` writes `line` on its report channel.
  void report(const std::string& pid, const std::string& line) {
    of(pid).handlers.on_report(line);
  }

  /// The executor of `pid` ends (code -1 when signalled).
  void exit(const std::string& pid, int code, int sig = 0,
            const std::string& stderr_tail = {}) {
    of(pid).handlers.on_exit(code, sig, stderr_tail);
  }
};

// -- stand-ins for an actor's neighbours --------------------------------------

/// What the stand-in supervisor heard. Each entry notes the store's last log
/// sequence number when it arrived, to tell what was committed by then.
struct supervisor_log {
  struct done {
    std::string pid;
    process_status status;
    process_status status_in_store;
    uint64_t seq;
  };
  std::vector<uint64_t> wakeups; ///< last seq at each wakeup
  std::vector<std::string> cancels;
  std::vector<done> exec;
  std::vector<std::string> exited; ///< slots freed, in order
};

struct stand_in_state {
  static inline const char* name = "stand-in-supervisor";
};

inline supervisor_actor::behavior_type
stand_in_supervisor(supervisor_actor::stateful_pointer<stand_in_state> self,
                    std::shared_ptr<supervisor_log> log,
                    std::shared_ptr<procman::store> db, store_actor store,
                    std::string runner) {
  auto last_seq = [db] {
    auto s = db->stats();
    return s ? s->last_seq : 0;
  };
  return {
    [=](atom::wakeup) { log->wakeups.push_back(last_seq()); },
    [=](atom::cancel, const std::string& pid) { log->cancels.push_back(pid); },
    [](atom::drain) {
      // nop
    },
    [](atom::check) {
      // nop
    },
    [=](atom::exec, const std::string& pid, process_status status) {
      auto rec = db->get(pid);
      log->exec.push_back(
        {pid, status, rec ? rec->status : process_status::queued, last_seq()});
    },
    [](atom::stats) -> caf::result<uint32_t, uint64_t> {
      return caf::result<uint32_t, uint64_t>(uint32_t{0}, uint64_t{0});
    },
    [](caf::get_atom, const std::string& pid) -> caf::result<caf::actor> {
      return make_error(errc::unknown_process,
                        "no process " + pid + " runs here");
    },
    [](atom::claim) {
      // nop
    },
    [=](atom::apply, atom::flush, std::vector<transition>& ts)
      -> caf::result<std::vector<process_record>> {
      // The end of a run, which the supervisor holds for its next claim:
      // to the store, committed at once as that claim would.
      if (!store)
        return std::vector<process_record>{};
      auto pid = ts.empty() ? std::string{} : ts.front().pid;
      auto rp = self->make_response_promise<std::vector<process_record>>();
      rp.delegate(store, atom::apply_v, atom::flush_v, std::move(ts));
      // Before the exit, held for the claim the exit brings; after it,
      // committed as the supervisor does when no exit is to come.
      if (std::find(log->exited.begin(), log->exited.end(), pid)
          != log->exited.end())
        self->request(store, caf::infinite, atom::claim_v, runner, uint32_t{0})
          .then([](const std::vector<process_record>&) {},
                [](const caf::error&) {});
      return rp;
    },
    [](atom::flush) {
      // nop
    },
    [=](atom::exited, const std::string& pid) {
      log->exited.push_back(pid);
      // As the supervisor claims when a slot frees (here: nothing), which
      // commits the end of the run that waits for the next commit.
      if (store)
        self->request(store, caf::infinite, atom::claim_v, runner, uint32_t{0})
          .then([](const std::vector<process_record>&) {},
                [](const caf::error&) {});
    },
  };
}

/// Events an event sink received, each with the status the store held for
/// its process when it arrived.
struct event_log {
  struct seen {
    process_event ev;
    process_status status_in_store;
  };
  std::vector<seen> events;

  size_t count(const std::string& pid) const {
    size_t n = 0;
    for (auto& e : events)
      n += e.ev.record.pid == pid ? 1 : 0;
    return n;
  }
};

// -- the fixture --------------------------------------------------------------

struct actor_fixture {
  static inline const std::string runner_id = "r-test";

  temp_dir tmp;
  /// Unix ms; ticks once per read. The store reads it once per commit, so
  /// the log entries of one commit share their time and those of two
  /// commits do not.
  uint64_t clock_ms = 1'600'000'000'000;
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  std::shared_ptr<procman::store> db;
  store_actor store;
  std::shared_ptr<fake_launcher> launcher;
  std::shared_ptr<exec_config> exec;
  /// Ended when the test ends.
  std::vector<caf::actor> spawned;

  /// Spawns an actor that is ended when the test ends.
  template <class... Ts>
  auto spawn(Ts&&... xs) {
    auto hdl = sys.spawn(std::forward<Ts>(xs)...);
    spawned.push_back(caf::actor_cast<caf::actor>(hdl));
    return hdl;
  }

  static caf::actor_system_config& testing(caf::actor_system_config& cfg) {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.add_message_types<caf::id_block::procman>();
    return cfg;
  }

  actor_fixture()
    : sys(testing(cfg)),
      sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())) {
    // The actors log as in a runner; the tests narrate instead.
    logger::set_level(log_level::error);
    // A test that fails early must not hang in ~actor_system on an actor it
    // did not get to end.
    sys.await_actors_before_shutdown(false);
    store_options so;
    so.dir = tmp.str() + "/store";
    so.no_sync = true;
    so.ring_doorbell = false;
    so.clock = [this] { return ++clock_ms; };
    auto opened = store::open(so);
    if (!opened)
      BOOST_FAIL("store::open: " << render(opened.error()));
    db = std::shared_ptr<procman::store>(std::move(*opened));
    // The store service is detached in an engine; here it runs on the test
    // scheduler like the rest and blocks it while LMDB commits.
    store = spawn(store_service, db, runner_id, commit_failure_policy{},
                  store_runtime{});
    launcher = std::make_shared<fake_launcher>();
    exec = std::make_shared<exec_config>();
    exec->exec_path = "/nonexistent/procman-exec";
    exec->runner_id = runner_id;
    exec->default_timeout = 60;
    exec->children = launcher;
    sched.run();
  }

  ~actor_fixture() {
    set_disk_full(false);
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sched.run();
  }

  // -- requests ---------------------------------------------------------------

  /// The slot of a reply that may not have arrived yet.
  template <class R>
  struct reply {
    struct slot {
      std::optional<caf::expected<R>> result;
      /// Runs when the reply arrives, before it is stored.
      std::function<void(const caf::expected<R>&)> on_arrival;
    };
    std::shared_ptr<slot> st = std::make_shared<slot>();

    bool arrived() const { return st->result.has_value(); }

    const R& value() const {
      BOOST_REQUIRE_MESSAGE(arrived(), "no reply arrived");
      if (!*st->result)
        BOOST_FAIL("request failed: " << render(st->result->error()));
      return **st->result;
    }

    caf::error error() const {
      BOOST_REQUIRE_MESSAGE(arrived(), "no reply arrived");
      BOOST_REQUIRE_MESSAGE(!*st->result,
                            "request succeeded, an error was expected");
      return st->result->error();
    }
  };

  /// Sends a request from a fresh actor once the scheduler runs. It has no
  /// timeout, the only request of the tests without one: under the test
  /// coordinator no time passes while it waits, its reply arrives in a
  /// `sched.run()` or never (then `value()` fails the test), and a timeout
  /// would put a timer in the test clock that `advance()` would fire.
  template <class R, class Handle, class... Ts>
  reply<R> ask(const Handle& hdl, Ts... xs) {
    reply<R> r;
    auto st = r.st;
    auto args = std::make_tuple(std::move(xs)...);
    sys.spawn([st, hdl, args](caf::event_based_actor* self) {
      std::apply(
        [&](const auto&... a) {
          self->request(hdl, caf::infinite, a...)
            .then(
              [st](R& x) {
                caf::expected<R> res{std::move(x)};
                if (st->on_arrival)
                  st->on_arrival(res);
                st->result = std::move(res);
              },
              [st](caf::error& e) {
                caf::expected<R> res{std::move(e)};
                if (st->on_arrival)
                  st->on_arrival(res);
                st->result = std::move(res);
              });
        },
        args);
    });
    return r;
  }

  /// Sends a request and runs the scheduler until nothing is left to do.
  template <class R, class Handle, class... Ts>
  reply<R> request(const Handle& hdl, Ts... xs) {
    auto r = ask<R>(hdl, std::move(xs)...);
    sched.run();
    return r;
  }

  /// Whether `hdl` has messages waiting for the scheduler.
  template <class Handle>
  bool has_job(const Handle& hdl) {
    auto ptr = dynamic_cast<caf::resumable*>(
      caf::actor_cast<caf::abstract_actor*>(hdl));
    return std::find(sched.jobs.begin(), sched.jobs.end(), ptr)
           != sched.jobs.end();
  }

  /// Runs one message at a time until `pred` holds (checked before each).
  template <class Pred>
  void run_until(Pred pred) {
    while (!pred())
      BOOST_REQUIRE_MESSAGE(
        sched.try_run_once(),
        "nothing left to run and the condition does not hold");
  }

  /// Advances the test clock by `d`, firing due timers, and runs.
  void advance(caf::timespan d) {
    sched.advance_time(d);
    sched.run();
  }

  // -- stand-ins --------------------------------------------------------------

  std::shared_ptr<supervisor_log> sup_log = std::make_shared<supervisor_log>();

  supervisor_actor stand_in() {
    return spawn(stand_in_supervisor, sup_log, db, store, runner_id);
  }

  /// An actor that records every (event, process_event) it receives.
  std::pair<caf::actor, std::shared_ptr<event_log>> event_sink() {
    auto log = std::make_shared<event_log>();
    auto db_ = db;
    auto hdl = sys.spawn([log, db_]() -> caf::behavior {
      return {
        [log, db_](atom::event, const process_event& ev) {
          auto rec = db_->get(ev.record.pid);
          log->events.push_back(
            {ev, rec ? rec->status : process_status::queued});
        },
      };
    });
    spawned.push_back(hdl);
    return {hdl, log};
  }

  /// Set to the exit reason once `hdl` terminates.
  template <class Handle>
  std::shared_ptr<std::optional<caf::error>> watch(const Handle& hdl) {
    auto out = std::make_shared<std::optional<caf::error>>();
    auto target = caf::actor_cast<caf::actor>(hdl);
    auto w
      = sys.spawn([out, target](caf::event_based_actor* self) -> caf::behavior {
          self->monitor(target);
          self->set_down_handler([self, out](const caf::down_msg& dm) {
            *out = dm.reason;
            self->quit();
          });
          return {[](caf::get_atom) {}};
        });
    spawned.push_back(w);
    return out;
  }

  /// The state of a stateful actor spawned on this system (white-box).
  template <class State, class Handle>
  static State& state_of(const Handle& hdl) {
    using impl = typename Handle::template stateful_base<State>;
    auto ptr = caf::actor_cast<caf::abstract_actor*>(hdl);
    return dynamic_cast<impl&>(*ptr).state;
  }

  // -- the store, read and written directly -----------------------------------

  template <class T>
  static T must(outcome<T> x, const std::string& what) {
    if (!x)
      BOOST_FAIL(what << " failed: " << render(x.error()));
    return std::move(*x);
  }

  process_record apply(const transition& t) {
    return must(db->apply(t), to_string(t.kind));
  }

  process_record enqueue(size_t steps = 1, uint32_t timeout = 0) {
    return apply(tr::enqueue(spec_of(steps, timeout)));
  }

  /// A process enqueued and claimed by this runner, as the supervisor hands
  /// it to a process actor.
  process_record claimed(size_t steps = 1, uint32_t timeout = 0) {
    auto rec = enqueue(steps, timeout);
    return apply(tr::claim(rec.pid, runner_id));
  }

  process_record record(const std::string& pid) {
    return must(db->get(pid), "get " + pid);
  }

  uint64_t last_seq() { return must(db->stats(), "stats").last_seq; }

  /// The log entries of `pid` after sequence number `since`.
  std::vector<log_entry> log_of(const std::string& pid, uint64_t since = 0) {
    return must(db->log(since, SIZE_MAX, pid), "log");
  }

  std::vector<transition_kind> kinds_of(const std::string& pid,
                                        uint64_t since = 0) {
    std::vector<transition_kind> out;
    for (auto& e : log_of(pid, since))
      out.push_back(e.what.kind);
    return out;
  }

  /// How many commits wrote the entries after `since` (see clock_ms).
  size_t commits_since(uint64_t since) {
    std::vector<uint64_t> times;
    for (auto& e : must(db->log(since), "log"))
      if (times.empty() || times.back() != e.time)
        times.push_back(e.time);
    return times.size();
  }
};

/// Transition kinds as text, for readable failures.
inline std::string kinds(const std::vector<transition_kind>& xs) {
  std::string out;
  for (auto x : xs)
    out += (out.empty() ? "" : ", ") + to_string(x);
  return out;
}

} // namespace procman::test
