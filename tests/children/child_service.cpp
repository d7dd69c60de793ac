// The runner's launcher of executors (children/child_service.hpp) with real
// procman-exec children, on both systems: on POSIX posix_spawn and process
// groups (the fork server has suites of its own), on Windows CreateProcessW
// and a Job Object per executor. A kill (a timeout, a cancel) and the
// owner's death end the executor's whole tree, grandchildren included.
//
// The step's command is the platform suites' helper in its "tree" mode
// (exec_helpers.hpp's tree_step). This test executable is a helper too: with
// PROCMAN_CHILDREN_HELPER=owner it is a runner in small (a child_service
// and one such executor), which says the three pids and dies at once, as a
// kill -9 would end it.

#include "procman/children/child_service.hpp"

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "procman/messages/error.hpp"
#include "procman/platform/child.hpp"
#include "procman/platform/paths.hpp"
#include "procman/platform/system.hpp"
#include "procman/protocol/executor_lease.hpp"

#include "exec/exec_helpers.hpp"

using namespace procman::test;
using procman::child_handlers;
using procman::child_service;
using procman::child_spec;

namespace {

/// What a child's handlers saw, for a test to wait on.
struct seen {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<std::string> reports;
  bool exited = false;
  bool lapsed = false; ///< on_lease_lapsed came
  int code = -2;
  int signal = 0;

  child_handlers handlers() {
    child_handlers h;
    h.on_report = [this](std::string line) {
      std::lock_guard<std::mutex> guard{mtx};
      reports.push_back(std::move(line));
      cv.notify_all();
    };
    h.on_lease_lapsed = [this] {
      std::lock_guard<std::mutex> guard{mtx};
      lapsed = true;
    };
    h.on_exit = [this](int c, int s, std::string) {
      std::lock_guard<std::mutex> guard{mtx};
      exited = true;
      code = c;
      signal = s;
      cv.notify_all();
    };
    return h;
  }

  /// Waits (30 s at most) for a report line holding `text`; returns it.
  std::string report_with(const std::string& text) {
    std::unique_lock<std::mutex> lock{mtx};
    std::string found;
    cv.wait_for(lock, std::chrono::seconds(30), [&] {
      for (auto& r : reports)
        if (contains(r, text))
          found = r;
      return !found.empty() || exited;
    });
    return found;
  }

  bool wait_exit() {
    std::unique_lock<std::mutex> lock{mtx};
    return cv.wait_for(lock, std::chrono::seconds(30), [&] { return exited; });
  }
};

/// The executor's work: one step running the tree helper, its output
/// reported as it comes.
std::string tree_work() {
  json::object input{{"steps", json::array{tree_step()}},
                     {"output_events", true}};
  return json::serialize(input) + "\n";
}

child_spec tree_spec() {
  child_spec spec;
  spec.argv = {exec_path()};
  spec.env = {"PROCMAN_PARENT_PID="
              + std::to_string(procman::platform::this_process_id())};
  spec.input = tree_work();
  return spec;
}

/// The error's text of an expected, empty when it holds a value: for a
/// check's message (which is evaluated either way).
template <class T>
std::string why(const caf::expected<T>& x) {
  return x ? std::string{} : procman::render(x.error());
}

/// The command's and the grandchild's pids from the helper's line.
std::pair<int, int> tree_pids(const std::string& report) {
  int cmd = 0, grandchild = 0;
  auto at = report.find("tree ");
  if (at != std::string::npos)
    std::sscanf(report.c_str() + at, "tree %d grandchild %d", &cmd,
                &grandchild);
  return {cmd, grandchild};
}

// PROCMAN_CHILDREN_HELPER=owner: a child_service with one executor running
// the tree helper; prints "executor E tree C grandchild G", then dies.
const bool is_owner = [] {
  auto mode = std::getenv("PROCMAN_CHILDREN_HELPER");
  if (mode == nullptr || std::string(mode) != "owner")
    return false;
  child_service svc;
  seen s;
  auto pid = svc.spawn(tree_spec(), s.handlers());
  if (!pid) {
    std::printf("cannot spawn: %s\n", procman::render(pid.error()).c_str());
    std::fflush(stdout);
    std::_Exit(1);
  }
  auto [cmd, grandchild] = tree_pids(s.report_with("grandchild"));
  std::printf("executor %d tree %d grandchild %d\n", *pid, cmd, grandchild);
  std::fflush(stdout);
  procman::platform::kill_process(procman::platform::this_process_id());
  std::_Exit(2); // not reached
}();

} // namespace

BOOST_AUTO_TEST_SUITE(executor_children)

BOOST_AUTO_TEST_CASE(an_executor_reports_and_exits) {
  child_service svc;
  seen s;
  child_spec spec;
  spec.argv = {exec_path()};
  spec.input = work(R"([{"name": "a", "class": "procman.set",
                         "args": {"x": 1}}])");
  auto pid = svc.spawn(spec, s.handlers());
  BOOST_TEST_REQUIRE(bool(pid), why(pid));
  BOOST_TEST(s.wait_exit());
  BOOST_TEST(s.code == 0);
  BOOST_TEST(s.signal == 0);
  BOOST_TEST_REQUIRE(!s.reports.empty());
  BOOST_TEST(s.reports.back() == R"({"event":"finished","output":{"x":1}})");
  BOOST_TEST(eventually([&] { return svc.active() == 0u; }, 30));
}

BOOST_AUTO_TEST_CASE(a_kill_ends_the_executor_its_command_and_a_grandchild) {
  // What a timeout or a cancel does.
  child_service svc;
  seen s;
  auto pid = svc.spawn(tree_spec(), s.handlers());
  BOOST_TEST_REQUIRE(bool(pid), why(pid));
  auto [cmd, grandchild] = tree_pids(s.report_with("grandchild"));
  BOOST_TEST_REQUIRE(cmd > 0);
  BOOST_TEST_REQUIRE(grandchild > 0);
  BOOST_TEST(!process_gone(grandchild));
  svc.kill_group(*pid);
  BOOST_TEST(s.wait_exit());
  BOOST_TEST(s.code == -1);
  BOOST_TEST(s.signal == 9); // SIGKILL, or the job terminated
  BOOST_TEST(eventually(
    [&] {
      return process_gone(*pid) && process_gone(cmd)
             && process_gone(grandchild);
    },
    30));
}

BOOST_AUTO_TEST_CASE(the_owners_death_ends_the_executors_tree) {
  procman::platform::child_options opts;
  opts.argv = {procman::platform::this_program_path()};
  opts.env = {"PROCMAN_CHILDREN_HELPER=owner"};
  opts.stdout_pipe = true;
  auto owner = procman::platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(bool(owner), (owner ? "" : owner.error().context));
  std::string said;
  char c;
  while (owner->out().read(&c, 1) == 1 && c != '\n')
    said += c;
  int exec = 0, cmd = 0, grandchild = 0;
  BOOST_TEST_REQUIRE(std::sscanf(said.c_str(),
                                 "executor %d tree %d grandchild %d", &exec,
                                 &cmd, &grandchild)
                       == 3,
                     said);
  BOOST_TEST(owner->wait_for(std::chrono::seconds(30)).has_value());
  BOOST_TEST(eventually(
    [&] {
      return process_gone(exec) && process_gone(cmd)
             && process_gone(grandchild);
    },
    30));
}

BOOST_AUTO_TEST_CASE(leases_are_renewed_while_the_executor_runs) {
  child_service svc;
  // The step outlasts the first lease twice over.
  svc.use_leases(std::chrono::milliseconds(1500));
  seen s;
  child_spec spec;
  spec.argv = {exec_path()};
  spec.keep_stdin_open = true;
  spec.lease_until_ms = svc.lease_until();
  BOOST_TEST_REQUIRE(spec.lease_until_ms > 0);
  spec.input = work(R"([{"name": "nap", "class": "procman.sleep",
                         "args": {"seconds": 3.5}}])",
                    {{"lease", spec.lease_until_ms}});
  auto pid = svc.spawn(spec, s.handlers());
  BOOST_TEST_REQUIRE(bool(pid), why(pid));
  BOOST_TEST(s.wait_exit());
  BOOST_TEST(s.code == 0);
  BOOST_TEST_REQUIRE(!s.reports.empty());
  BOOST_TEST(contains(s.reports.back(), R"("event":"finished")"));
}

#ifndef _WIN32
BOOST_AUTO_TEST_CASE(a_lease_that_ran_out_is_not_renewed_and_the_end_is_its) {
  // A child that ignores its lease (sh), so that it lives on after the end
  // of its lease as an executor still killing its tree would: a runner
  // continued after a stop renews at once (here: a cap) and only then hears
  // the exit. Renewed, the lapse would read as a crash.
  child_service svc;
  svc.use_leases(std::chrono::seconds(60)); // no regular renewal in time
  seen s;
  child_spec spec;
  spec.argv = {"/bin/sh", "-c", "sleep 30"};
  spec.keep_stdin_open = true;
  spec.lease_until_ms = procman::lease_clock_ms() + 100;
  auto pid = svc.spawn(spec, s.handlers());
  BOOST_TEST_REQUIRE(bool(pid), why(pid));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  svc.cap_leases(procman::lease_clock_ms() + 60000); // renews now
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  svc.kill_group(*pid);
  BOOST_TEST_REQUIRE(s.wait_exit());
  BOOST_TEST(s.signal == SIGKILL);
  std::lock_guard<std::mutex> guard{s.mtx};
  BOOST_TEST(s.lapsed, "the end of a child whose lease ran out counts as "
                       "the lease's");
}
#endif

BOOST_AUTO_TEST_CASE(an_executor_under_a_non_ascii_path_starts) {
  // The executor copied to "Zoë データ/" (UTF-8) and started from there:
  // wide-character paths through CreateProcessW on Windows.
  temp_dir tmp;
  auto from = procman::platform::path_from_utf8(exec_path());
  if (!std::filesystem::exists(from))
    from += ".exe";
  auto dir = tmp.path
             / procman::platform::path_from_utf8(
               "Zo\xC3\xAB \xE3\x83\x87\xE3\x83\xBC\xE3\x82\xBF");
  std::filesystem::create_directories(dir);
  auto to = dir / from.filename();
  std::filesystem::copy_file(from, to);
  child_service svc;
  seen s;
  child_spec spec;
  spec.argv = {procman::platform::utf8_from_path(to)};
  spec.input = work(R"([{"name": "a", "class": "procman.set",
                         "args": {"where": "Zo\u00eb"}}])");
  auto pid = svc.spawn(spec, s.handlers());
  BOOST_TEST_REQUIRE(bool(pid), why(pid));
  BOOST_TEST(s.wait_exit());
  BOOST_TEST(s.code == 0);
  BOOST_TEST_REQUIRE(!s.reports.empty());
  BOOST_TEST(
    s.reports.back()
    == "{\"event\":\"finished\",\"output\":{\"where\":\"Zo\xC3\xAB\"}}");
}

BOOST_AUTO_TEST_CASE(a_fork_server_where_the_system_has_fork_only) {
  child_service svc;
  auto started = svc.use_fork_server({exec_path(), "--serve"});
  if (auto reason = child_service::no_fork_server()) {
    BOOST_TEST_MESSAGE("no fork server: " << reason);
    BOOST_TEST_REQUIRE(!started);
    BOOST_TEST(contains(why(started), "--executor fork is not available"),
               why(started));
  } else {
    BOOST_TEST(bool(started), why(started));
    BOOST_TEST(svc.fork_server_pid() > 0);
  }
}

BOOST_AUTO_TEST_SUITE_END()
