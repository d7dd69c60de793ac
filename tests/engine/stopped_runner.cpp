// A runner that is stopped (SIGSTOP: a debugger, a frozen container, a
// machine that does not schedule it) holds its locks, so no other runner
// takes its processes over; and its executors do not outlive its lease:
// each ends itself, with its step, when the runner has not renewed it for
// --exec-lease, and all end at once when the stopped runner is killed.
// Real runners, real executors, a step that ticks into a file.

#include <csignal>

#include "procman/messages/defaults.hpp"

#include "cli_fixture.hpp"
#include "fixtures/ticks.hpp"

using namespace procman::test;

namespace {

const std::string noop
  = R"({"steps": {"s": {"class": "procman.set", "args": {}}}})";

struct stopped_fixture : cli_fixture {
  std::string ticks = tmp.str() + "/ticks";

  /// A process that ticks for `seconds`, with `extra` spec fields.
  std::string start_ticking(int seconds, const std::string& extra = "") {
    return start(R"({"steps": {"tick": )" + tick_step(ticks, seconds) + "}"
                 + extra + "}");
  }

  /// The first copy's shell, once it ticked and its runner has committed
  /// that the step runs. A runner stopped in the middle of a commit would
  /// hold LMDB's write lock, and every other writer would wait for it
  /// (docs/architecture.md, "Leases"); after that commit it writes nothing
  /// while the step ticks.
  pid_t first_copy(const std::string& pid) {
    BOOST_REQUIRE(eventually([&] { return !tick_copies(ticks).empty(); }, 60));
    BOOST_REQUIRE(eventually(
      [&] { return status(pid).at("steps").at("tick") == "running"; }, 60));
    return tick_copies(ticks).front().pid;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(stopped_runner, stopped_fixture)

BOOST_AUTO_TEST_CASE(
  a_stopped_runner_is_not_overtaken_and_its_steps_end_with_its_lease) {
  auto first = background_runner({"--wait", "--exec-lease", "2"}, "first");
  auto pid = start_ticking(
    8, R"(, "retry": {"max": 1, "initial": 0, "on": ["runner_lost"]})");
  BOOST_REQUIRE(await_status(pid, "running", 60));
  auto shell = first_copy(pid);
  BOOST_TEST_MESSAGE("SIGSTOP the runner " << first->pid());
  first->signal(SIGSTOP);
  auto stopped_ns = tick_clock_ns();
  // It holds its locks while stopped: a second waiting runner leaves at
  // once, and one that drains the queue runs other work but leaves this
  // process alone (it is not lost: its runner lives).
  auto second = runner({"--wait"});
  BOOST_TEST(second.exit_code == 0);
  BOOST_TEST(second.err.find("another runner holds the store")
               != std::string::npos,
             second.err);
  auto other = start(noop);
  auto third = runner({"--exec-lease", "2"});
  BOOST_TEST(third.exit_code == 0, third.err);
  BOOST_TEST(status_of(other) == "finished");
  BOOST_TEST(status_of(pid) == "running");
  // Nobody renews the executor's lease: it ends itself and its step.
  BOOST_REQUIRE(eventually([&] { return !os_process_alive(shell); }, 60));
  auto copies = tick_copies(ticks);
  BOOST_REQUIRE_EQUAL(copies.size(), 1u);
  auto bound_ns = (2000 + int64_t{procman::defaults::exec_kill_ms}) * 1000000;
  BOOST_TEST(copies[0].last_ns - stopped_ns < bound_ns,
             "the step ticked " << (copies[0].last_ns - stopped_ns) / 1000000
                                << " ms after the runner stopped");
  BOOST_TEST(status_of(pid) == "running");
  BOOST_TEST(third.err.find("left running by dead runners")
               == std::string::npos,
             third.err);
  // Continued, the runner finds its executor ended: runner_lost, which the
  // spec retries; the second copy runs alone and finishes.
  first->signal(SIGCONT);
  BOOST_REQUIRE(await_status(pid, "finished", 120));
  auto info = status(pid);
  BOOST_TEST(info.at("attempts") == 1);
  auto& err = info.at("attempt_errors").as_array().at(0).as_object();
  BOOST_TEST(err.at("kind").as_string() == "runner_lost");
  BOOST_TEST(std::string(err.at("message").as_string()).find("lease ran out")
               != std::string::npos,
             err);
  copies = tick_copies(ticks);
  BOOST_REQUIRE_EQUAL(copies.size(), 2u);
  BOOST_TEST(copies[1].first_ns > copies[0].last_ns);
  BOOST_TEST_MESSAGE("gap between the copies: "
                     << (copies[1].first_ns - copies[0].last_ns) / 1000000
                     << " ms");
  first->signal(SIGTERM);
  BOOST_TEST(first->wait(90));
  BOOST_TEST(first->exit_code() == 0);
}

BOOST_AUTO_TEST_CASE(a_runner_killed_while_stopped_takes_its_steps_along) {
  // A lease far longer than the test: the kill, not the lease, ends them.
  auto first = background_runner({"--wait", "--exec-lease", "600"}, "first");
  auto pid = start_ticking(600);
  BOOST_REQUIRE(await_status(pid, "running", 60));
  auto shell = first_copy(pid);
  first->signal(SIGSTOP);
  first->signal(SIGKILL);
  BOOST_REQUIRE(first->wait(60));
  // Gone with the runner (its parent-death signal), long before its lease.
  BOOST_REQUIRE(eventually([&] { return !os_process_alive(shell); }, 60));
  // The next runner ends the process as runner_lost; nothing ticks again.
  auto next = runner();
  BOOST_TEST(next.exit_code == 0, next.err);
  BOOST_TEST(status_of(pid) == "error");
  BOOST_TEST(status(pid).at("error").at("kind").as_string() == "runner_lost");
  BOOST_TEST(tick_copies(ticks).size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
