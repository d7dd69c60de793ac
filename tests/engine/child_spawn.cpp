// The child service reports a child it cannot start as an error that
// carries the errno, so that nobody reads it back out of a message; and it
// keeps a child's timers (timeout, hold limit) while the child runs, and
// not after.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "procman/children/child_service.hpp"
#include "procman/children/executor_cgroups.hpp"
#include "procman/messages/error.hpp"

using namespace procman;

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
