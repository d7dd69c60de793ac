// The child service reports a child it cannot start as an error that
// carries the errno, so that nobody reads it back out of a message; it
// keeps a child's timers (timeout, hold limit) while the child runs, and
// not after; and it delivers every report line, in order, before the exit,
// however it reads them.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "procman/children/child_service.hpp"
#include "procman/children/executor_cgroups.hpp"
#include "procman/messages/error.hpp"

#include "fixtures/preconditions.hpp"

using namespace procman;
using procman::test::has_cgroup_v2;

BOOST_AUTO_TEST_SUITE(child_spawn)

BOOST_AUTO_TEST_CASE(
  a_program_that_cannot_start_is_a_spawn_failure_with_its_errno) {
  child_service children;
  child_spec spec;
  spec.argv = {"/nonexistent/procman-exec"};
  auto res = children.spawn(spec, child_handlers{});
  BOOST_REQUIRE(!res);
  BOOST_TEST(is(res.error(), errc::spawn_failure));
  BOOST_TEST(os_errno(res.error()) == ENOENT);
  BOOST_TEST(render(res.error())
             == "cannot start /nonexistent/procman-exec: "
                  + std::string(std::strerror(ENOENT)));
  BOOST_TEST(children.active() == 0u);
}

BOOST_AUTO_TEST_CASE(errors_without_an_errno_have_none) {
  BOOST_TEST(os_errno(make_error(errc::spawn_failure, "x")) == 0);
  BOOST_TEST(os_errno(caf::error{}) == 0);
  auto err = make_error(errc::containment_failure, "clone3: nope", ENOSYS);
  BOOST_TEST(os_errno(err) == ENOSYS);
  BOOST_TEST(render(err) == "clone3: nope");
}

namespace {

using namespace std::chrono_literals;

/// Spawns `/bin/sh -c script` with `timers`; the future is set at its exit.
int spawn_sh(child_service& children, const std::string& script,
             std::vector<child_timer> timers, std::promise<void>& exited) {
  child_spec spec;
  spec.argv = {"/bin/sh", "-c", script};
  child_handlers h;
  h.on_exit = [&exited](int, int, std::string) { exited.set_value(); };
  h.timers = std::move(timers);
  auto pid = children.spawn(spec, std::move(h));
  BOOST_REQUIRE(pid);
  return *pid;
}

/// Runs `sh -c 'exec sleep 60'` with one timer after `delay`, and returns
/// once that timer fired: timers fire in the order of their due times, so
/// by then every timer due before it that was still armed has fired too.
/// The child is killed and reaped before it returns.
void await_a_timer_after(child_service& children,
                         std::chrono::milliseconds delay) {
  std::promise<void> fired, exited;
  auto marker = fired.get_future();
  auto done = exited.get_future();
  auto pid = spawn_sh(children, "exec sleep 60",
                      {{delay, [&fired] { fired.set_value(); }}}, exited);
  BOOST_REQUIRE(marker.wait_for(60s) == std::future_status::ready);
  children.kill_group(pid);
  BOOST_REQUIRE(done.wait_for(60s) == std::future_status::ready);
}

} // namespace

BOOST_AUTO_TEST_CASE(timers_fire_while_the_child_runs_and_not_after) {
  child_service children;
  BOOST_TEST(children.has_timers());
  std::atomic<int> early{0};
  std::atomic<int> late{0};
  std::atomic<int> later{0};
  std::promise<void> exited;
  auto done = exited.get_future();
  auto t0 = std::chrono::steady_clock::now();
  std::atomic<int64_t> fired_after_ms{-1};
  auto pid = spawn_sh(
    children, "sleep 0.4",
    {{20ms,
      [&] {
        fired_after_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - t0)
                           .count();
        ++early;
      }},
     {2000ms, [&] { ++late; }}},
    exited);
  // Armed later, on the running child.
  children.call_after(pid, 10ms, [&] { ++later; });
  BOOST_REQUIRE(done.wait_for(10s) == std::future_status::ready);
  BOOST_TEST(early.load() == 1);
  BOOST_TEST(fired_after_ms.load() >= 20);
  BOOST_TEST(later.load() == 1);
  // The 2 s timer was dropped with the child: it has not fired when a
  // timer armed later and due after it fires.
  auto since_t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - t0);
  await_a_timer_after(children, std::max(1ms, 2100ms - since_t0));
  BOOST_TEST(late.load() == 0);
}

BOOST_AUTO_TEST_CASE(a_timer_for_a_child_that_is_gone_never_fires) {
  child_service children;
  std::promise<void> exited;
  auto done = exited.get_future();
  auto pid = spawn_sh(children, "exit 0", {}, exited);
  BOOST_REQUIRE(done.wait_for(10s) == std::future_status::ready);
  std::atomic<int> calls{0};
  children.call_after(pid, 1ms, [&] { ++calls; });
  children.call_after(999999, 1ms, [&] { ++calls; });
  await_a_timer_after(children, 5ms);
  BOOST_TEST(calls.load() == 0);
}

BOOST_AUTO_TEST_CASE(launchers_without_timers_say_so) {
  struct none : executor_launcher {
    caf::expected<int> spawn(const child_spec&, child_handlers) override {
      return 1;
    }
    void kill_group(int) override {}
  } launcher;
  BOOST_TEST(!launcher.has_timers());
}

BOOST_AUTO_TEST_SUITE_END()

// Cgroups passed on: the empty cgroup of a child that ended by itself goes
// to a later child; skipped (and reported) where the machine has no usable
// cgroup v2.
BOOST_AUTO_TEST_SUITE(child_cgroups,
                      *boost::unit_test::precondition(has_cgroup_v2))

using namespace std::chrono_literals;

namespace {

/// A child service with a cgroup per child, like the runner's.
struct contained {
  std::string parent; ///< the directory of the children's cgroups
  std::unique_ptr<child_service> children;

  contained() {
    auto cgroups = executor_cgroups::create();
    BOOST_REQUIRE_MESSAGE(static_cast<bool>(cgroups),
                          (cgroups ? std::string{} : render(cgroups.error())));
    parent = (*cgroups)->dir();
    children = std::make_unique<child_service>(std::move(*cgroups));
  }

  /// The directory of a child's cgroup, from the path /proc says.
  std::string dir_of(const std::string& cgroup) const {
    return parent + cgroup.substr(cgroup.rfind('/'));
  }
};

/// A child of `sh -c script` whose first output line is its cgroup.
struct cgroup_child {
  int pid = 0;
  std::promise<std::string> line;
  std::promise<void> exited;
  std::future<std::string> cgroup = line.get_future();
  std::future<void> done = exited.get_future();
  bool said = false;

  cgroup_child(child_service& children, const std::string& script) {
    child_spec spec;
    spec.argv = {"/bin/sh", "-c", "cat /proc/self/cgroup; " + script};
    child_handlers h;
    h.on_report = [this](std::string l) {
      if (!said && l.rfind("0::", 0) == 0) {
        said = true;
        line.set_value(l.substr(3));
      }
    };
    h.on_exit = [this](int, int, std::string) { exited.set_value(); };
    auto started = children.spawn(spec, std::move(h));
    BOOST_REQUIRE(started);
    pid = *started;
  }

  std::string where() {
    BOOST_REQUIRE(cgroup.wait_for(10s) == std::future_status::ready);
    return cgroup.get();
  }

  void await_exit() {
    BOOST_REQUIRE(done.wait_for(10s) == std::future_status::ready);
  }
};

/// Runs `sh -c script` to its end; returns the child's pid and cgroup.
std::pair<int, std::string> run_to_end(child_service& children,
                                       const std::string& script) {
  cgroup_child child{children, script};
  auto cg = child.where();
  child.await_exit();
  return {child.pid, cg};
}

} // namespace

BOOST_AUTO_TEST_CASE(a_child_that_ended_by_itself_passes_its_cgroup_on) {
  contained c;
  auto [pid, cg] = run_to_end(*c.children, "exit 0");
  cgroup_child second{*c.children, "exit 0"};
  BOOST_TEST(second.where() == cg);
  second.await_exit();
}

BOOST_AUTO_TEST_CASE(a_cgroup_with_a_process_left_in_it_is_not_passed_on) {
  contained c;
  auto [pid, cg] = run_to_end(*c.children, "sleep 60 >/dev/null 2>&1 & exit 0");
  cgroup_child second{*c.children, "exit 0"};
  BOOST_TEST(second.where() != cg);
  second.await_exit();
  BOOST_TEST_MESSAGE("what was left is killed, and its cgroup removed");
  auto dir = c.dir_of(cg);
  auto until = std::chrono::steady_clock::now() + 10s;
  while (std::filesystem::exists(dir)
         && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(10ms);
  BOOST_TEST(!std::filesystem::exists(dir), dir);
}

BOOST_AUTO_TEST_CASE(
  a_cgroup_passed_on_is_read_afresh_when_its_next_child_ends) {
  contained c;
  auto [first, cg] = run_to_end(*c.children, "exit 0");
  BOOST_TEST_MESSAGE("its cgroup.events, read once and kept open, says "
                     "populated after a second child left a process there");
  cgroup_child second{*c.children, "sleep 60 >/dev/null 2>&1 & exit 0"};
  BOOST_REQUIRE(second.where() == cg);
  second.await_exit();
  cgroup_child third{*c.children, "exit 0"};
  BOOST_TEST(third.where() != cg);
  third.await_exit();
}

BOOST_AUTO_TEST_CASE(
  killing_a_child_that_ended_spares_the_next_one_in_its_cgroup) {
  contained c;
  auto [first, cg] = run_to_end(*c.children, "exit 0");
  cgroup_child second{*c.children, "exec sleep 60"};
  BOOST_REQUIRE(second.where() == cg);
  BOOST_TEST(std::filesystem::exists(c.dir_of(cg)));
  c.children->kill_group(first);
  BOOST_TEST((second.done.wait_for(300ms) == std::future_status::timeout),
             "the next child in the cgroup was killed with the first");
  c.children->kill_group(second.pid);
  second.await_exit();
}

BOOST_AUTO_TEST_SUITE_END()

// A run that nothing acknowledges (`reports_may_wait`) has its report
// channel and stderr read at its exit if it ends soon, else from
// defaults::reports_unwatched_ms on; its input goes into the pipe at the
// spawn when one write takes it, else from the I/O thread. Either way every
// line arrives, in order, before the exit.
BOOST_AUTO_TEST_SUITE(child_reports)

namespace {

/// What a child's handlers saw, in order: "report:LINE", "exit:CODE".
struct events {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::string> seen;
  std::string stderr_tail;
  bool exited = false;

  child_handlers handlers() {
    child_handlers h;
    h.on_report = [this](std::string line) {
      std::lock_guard<std::mutex> guard{mtx};
      seen.push_back("report:" + line);
      cv.notify_all();
    };
    h.on_exit = [this](int code, int, std::string tail) {
      std::lock_guard<std::mutex> guard{mtx};
      seen.push_back("exit:" + std::to_string(code));
      stderr_tail = std::move(tail);
      exited = true;
      cv.notify_all();
    };
    return h;
  }

  /// Waits (60 s at most) until `pred` holds; returns whether it does.
  template <class Pred>
  bool wait(Pred pred) {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, std::chrono::seconds(60), [&] { return pred(); });
  }

  std::vector<std::string> all() {
    std::lock_guard<std::mutex> guard{mtx};
    return seen;
  }
};

int spawn_reporting(child_service& children, events& ev,
                    const std::string& script, bool may_wait,
                    std::string input = {}) {
  child_spec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.reports_may_wait = may_wait;
  spec.input = std::move(input);
  auto pid = children.spawn(spec, ev.handlers());
  BOOST_REQUIRE(pid);
  return *pid;
}

using strings = std::vector<std::string>;

} // namespace

BOOST_AUTO_TEST_CASE(reports_that_may_wait_come_in_order_before_the_exit) {
  child_service children;
  events ev;
  spawn_reporting(children, ev, "echo one; echo two; echo oops >&2; exit 3",
                  true);
  BOOST_REQUIRE(ev.wait([&] { return ev.exited; }));
  BOOST_TEST(ev.all() == (strings{"report:one", "report:two", "exit:3"}),
             boost::test_tools::per_element());
  BOOST_TEST(ev.stderr_tail == "oops\n");
  // The child leaves the live set right after on_exit returns.
  for (int i = 0; i < 10000 && children.active() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  BOOST_TEST(children.active() == 0u);
}

BOOST_AUTO_TEST_CASE(reports_that_may_wait_are_read_while_the_child_runs) {
  child_service children;
  events ev;
  auto pid = spawn_reporting(children, ev, "echo started; exec sleep 60", true);
  BOOST_REQUIRE(ev.wait([&] { return !ev.seen.empty(); }));
  BOOST_TEST(ev.all() == strings{"report:started"},
             boost::test_tools::per_element());
  children.kill_group(pid);
  BOOST_REQUIRE(ev.wait([&] { return ev.exited; }));
  BOOST_TEST(ev.all() == (strings{"report:started", "exit:-1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_report_channel_a_grandchild_holds_is_read_to_its_end) {
  for (bool may_wait : {true, false}) {
    BOOST_TEST_CONTEXT("reports_may_wait " << may_wait) {
      child_service children;
      events ev;
      spawn_reporting(children, ev, "(sleep 0.3; echo late) & echo early",
                      may_wait);
      BOOST_REQUIRE(ev.wait([&] { return ev.exited; }));
      BOOST_TEST(ev.all() == (strings{"report:early", "report:late", "exit:0"}),
                 boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(input_reaches_the_child_whether_one_write_takes_it) {
  // PIPE_BUF bytes go into the pipe at the spawn; more, from the I/O
  // thread as the child reads.
  for (size_t size : {size_t{10}, size_t{PIPE_BUF}, size_t{300000}}) {
    for (bool may_wait : {true, false}) {
      BOOST_TEST_CONTEXT(size << " bytes, reports_may_wait " << may_wait) {
        child_service children;
        events ev;
        spawn_reporting(children, ev, "wc -c | tr -d ' '", may_wait,
                        std::string(size, 'x'));
        BOOST_REQUIRE(ev.wait([&] { return ev.exited; }));
        BOOST_TEST(ev.all()
                     == (strings{"report:" + std::to_string(size), "exit:0"}),
                   boost::test_tools::per_element());
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
