// procman-runner: crashes, lost runners, locks, limits, parallel clients.

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <sys/stat.h>

#include "cli_fixture.hpp"

using namespace procman::test;
namespace json = boost::json;

namespace {

const std::string trivial
  = R"({"steps": {"s": {"class": "procman.set", "args": {"ok": true}}}})";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// A stand-in executor: answers the runner's start-up `--check`, then runs
/// `body`.
std::string write_script(const std::string& path, const std::string& body) {
  std::ofstream out(path);
  out << "#!/bin/sh\n[ \"$1\" = --check ] && { echo ok; exit 0; }\n"
      << body << "\n";
  out.close();
  chmod(path.c_str(), 0755);
  return path;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> result;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      result.push_back(line);
  return result;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(executor_crashes, cli_fixture)

BOOST_AUTO_TEST_CASE(executor_killed_by_a_signal_is_a_crash_with_stderr_tail) {
  auto exec
    = write_script(tmp.str() + "/segv.sh",
                   "cat >/dev/null; echo 'about to die' >&2; kill -SEGV $$");
  auto pid = start(trivial);
  BOOST_TEST(runner({"--exec", exec}).exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "error");
  auto& err = info.at("error").as_object();
  BOOST_TEST(err.at("kind").as_string() == "crash");
  BOOST_TEST(err.at("signal").as_int64() == SIGSEGV);
  BOOST_TEST(std::string(err.at("stderr").as_string()).find("about to die")
             != std::string::npos);
  BOOST_TEST(std::string(err.at("message").as_string()).find("SIGSEGV")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(executor_exit_without_result_is_a_crash_with_the_code) {
  auto exec = write_script(tmp.str() + "/exit7.sh", "cat >/dev/null; exit 7");
  auto pid = start(trivial);
  BOOST_TEST(runner({"--exec", exec}).exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("error").at("kind").as_string() == "crash");
  BOOST_TEST(info.at("error").at("exit_code").as_int64() == 7);
}

BOOST_AUTO_TEST_CASE(garbage_on_the_report_channel_is_a_crash) {
  auto exec = write_script(tmp.str() + "/garbage.sh",
                           "cat >/dev/null; echo 'this is not JSON'; sleep 30");
  auto pid = start(trivial);
  BOOST_TEST(runner({"--exec", exec}).exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("error").at("kind").as_string() == "crash");
  BOOST_TEST(
    std::string(info.at("error").at("message").as_string()).find("garbage")
    != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(runner_start_checks, cli_fixture)

BOOST_AUTO_TEST_CASE(
  a_missing_executor_stops_the_runner_with_exit_2_and_work_stays_queued) {
  auto pid = start(trivial);
  auto r = runner({"--exec", "/nonexistent"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("executor /nonexistent: No such file or directory")
               != std::string::npos,
             r.err);
  BOOST_TEST(status_of(pid) == "queued");
}

BOOST_AUTO_TEST_CASE(
  an_executor_that_is_not_an_executable_file_stops_the_runner) {
  auto pid = start(trivial);
  auto r = runner({"--exec", tmp.str()});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("executor " + tmp.str() + " is not a regular file")
               != std::string::npos,
             r.err);
  auto plain = tmp.str() + "/plain";
  std::ofstream(plain) << "#!/bin/sh\n";
  r = runner({"--exec", plain});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("executor " + plain + " is not executable")
               != std::string::npos,
             r.err);
  BOOST_TEST(status_of(pid) == "queued");
}

BOOST_AUTO_TEST_CASE(
  a_step_library_that_cannot_load_stops_the_runner_with_exit_2) {
  auto pid = start(trivial);
  auto r = runner({"--step-lib", "/nope.so"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("step library \"/nope.so\": cannot load")
               != std::string::npos,
             r.err);
  BOOST_TEST(r.err.find("--check failed") != std::string::npos, r.err);
  BOOST_TEST(status_of(pid) == "queued");
  auto again = run_command({bin("procman-runner"), "--store", store}, {}, 120,
                           {"PROCMAN_STEP_LIBS=/nope.so"});
  BOOST_TEST(again.exit_code == 2);
  BOOST_TEST(again.err.find("/nope.so") != std::string::npos, again.err);
  BOOST_TEST(status_of(pid) == "queued");
}

BOOST_AUTO_TEST_CASE(
  a_runner_without_procman_exec_beside_it_stops_with_exit_2) {
  // A runner installed alone, with no procman-exec beside it or in $PATH.
  auto dir = tmp.str() + "/alone";
  std::filesystem::create_directories(dir);
  auto alone = dir + "/procman-runner";
  std::filesystem::copy_file(bin("procman-runner"), alone);
  auto pid = start(trivial);
  auto r = run_command({"env", "-u", "PROCMAN_EXEC", "PATH=/usr/bin:/bin",
                        alone, "--store", store},
                       {}, 120);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("no executor: \"procman-exec\" is not beside " + alone)
               != std::string::npos,
             r.err);
  BOOST_TEST(r.err.find("--exec") != std::string::npos);
  BOOST_TEST(status_of(pid) == "queued");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(runner_process, cli_fixture)

BOOST_AUTO_TEST_CASE(
  killed_runner_takes_its_children_and_the_next_marks_runner_lost) {
  auto pidfile = tmp.str() + "/gc.pid";
  auto run = background_runner({"--wait"});
  auto pid = start(json::serialize(json::object{
    {"steps",
     {{"first", {{"class", "procman.set"}, {"args", json::object{}}}},
      {"long", command_step(grandchild_command(pidfile))}}},
    {"timeout", 600}}));
  BOOST_REQUIRE(await_status(pid, "running"));
  BOOST_REQUIRE(eventually([&] { return !read_file(pidfile).empty(); }));
  auto gc = std::stoi(read_file(pidfile));
  auto exec_pid = status(pid); // the executor's pid is not in the info
  BOOST_TEST_MESSAGE("SIGKILL runner " << run->pid());
  run->kill();
  BOOST_REQUIRE(run->wait(10));
  BOOST_TEST(eventually([&] { return !os_process_alive(gc); }, 5));
  BOOST_TEST(status_of(pid) == "running"); // nobody has noticed yet
  BOOST_TEST(runner().exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "runner_lost");
  BOOST_TEST(info.at("error").at("step").as_string() == "long");
  BOOST_TEST(info.at("last_completed_step").as_string() == "first");
  (void) exec_pid;
}

BOOST_AUTO_TEST_CASE(second_waiting_runner_exits_0_at_once) {
  auto first = background_runner({"--wait"}, "first");
  BOOST_REQUIRE(eventually(
    [&] { return first->log().find("serving") != std::string::npos; }));
  // It exits instead of waiting for the lock (a waiting one would be
  // killed after 10 s: exit_code -1). How soon is procman-bench's.
  auto t0 = std::chrono::steady_clock::now();
  auto second = runner({"--wait"}, 10);
  BOOST_TEST_MESSAGE(
    "the second runner exited after "
    << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
         .count()
    << " s");
  BOOST_TEST(second.exit_code == 0);
  BOOST_TEST(second.err.find("another runner holds the store")
             != std::string::npos);
  first->kill();
  BOOST_REQUIRE(first->wait(10));
  // The lock died with its holder.
  auto third = background_runner({"--wait"}, "third");
  BOOST_TEST(eventually(
    [&] { return third->log().find("serving") != std::string::npos; }));
  BOOST_TEST(third->running());
}

BOOST_AUTO_TEST_CASE(max_processes_stops_a_runner_without_wait) {
  std::vector<std::string> pids;
  for (int i = 0; i < 5; ++i)
    pids.push_back(start(trivial));
  BOOST_TEST(runner({"--max-processes", "2", "--parallel", "1"}).exit_code
             == 0);
  int finished = 0, queued = 0;
  for (auto& p : pids) {
    auto s = status_of(p);
    finished += s == "finished";
    queued += s == "queued";
  }
  BOOST_TEST(finished == 2);
  BOOST_TEST(queued == 3);
}

BOOST_AUTO_TEST_CASE(max_processes_stops_a_waiting_runner) {
  auto run = background_runner({"--wait", "--max-processes=3"});
  std::vector<std::string> pids;
  for (int i = 0; i < 5; ++i)
    pids.push_back(start(trivial));
  BOOST_TEST(run->wait(30));
  BOOST_TEST(run->exit_code() == 0);
  int finished = 0;
  for (auto& p : pids)
    finished += status_of(p) == "finished";
  BOOST_TEST(finished == 3);
}

BOOST_AUTO_TEST_CASE(script_args_reach_every_executor) {
  auto pid = start(shell_spec("printf '%s' \"$PROCMAN_SCRIPT_ARGS\""));
  BOOST_TEST(runner({"--script-args", "--wiki=site1 --lang=de"}).exit_code
             == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "finished");
  BOOST_TEST(info.at("output").at("stdout").as_string()
             == "--wiki=site1 --lang=de");
}

BOOST_AUTO_TEST_CASE(two_clients_enqueue_while_a_waiting_runner_works) {
  auto run = background_runner({"--wait", "--parallel", "2"});
  std::vector<std::string> a, b;
  std::thread ta([&] {
    for (int i = 0; i < 15; ++i) {
      auto r = procman({"start", trivial});
      if (r.exit_code == 0)
        a.push_back(r.out.substr(0, 32));
    }
  });
  std::thread tb([&] {
    for (int i = 0; i < 15; ++i) {
      auto r = procman({"start", trivial});
      if (r.exit_code == 0)
        b.push_back(r.out.substr(0, 32));
    }
  });
  ta.join();
  tb.join();
  BOOST_TEST(a.size() == 15u);
  BOOST_TEST(b.size() == 15u);
  for (auto* xs : {&a, &b})
    for (auto& p : *xs)
      BOOST_TEST(procman({"wait", p, "--timeout", "30"}).exit_code == 0);
  run->stop();
  BOOST_TEST(run->wait(20));
  BOOST_TEST(run->exit_code() == 0);
}

BOOST_AUTO_TEST_CASE(several_runners_never_run_one_process_twice) {
  auto marks = tmp.str() + "/marks";
  std::vector<std::string> pids;
  for (int i = 0; i < 24; ++i)
    pids.push_back(start(shell_spec("echo $PROCMAN_PID >> " + marks)));
  std::vector<std::unique_ptr<background>> runners;
  for (int i = 0; i < 3; ++i)
    runners.push_back(
      background_runner({"--parallel", "2"}, "r" + std::to_string(i)));
  for (auto& r : runners) {
    BOOST_TEST(r->wait(60));
    BOOST_TEST(r->exit_code() == 0);
  }
  auto lines = lines_of(read_file(marks));
  std::set<std::string> unique(lines.begin(), lines.end());
  BOOST_TEST(lines.size() == 24u);
  BOOST_TEST(unique.size() == 24u);
  for (auto& p : pids)
    BOOST_TEST(status_of(p) == "finished");
}

BOOST_AUTO_TEST_CASE(
  sigterm_lets_short_work_finish_and_records_what_was_killed) {
  auto run = background_runner({"--wait", "--parallel", "2", "--grace", "5"});
  auto quick = start(shell_spec("sleep 1; echo done"));
  auto slow = start(shell_spec("sleep 300", 600));
  BOOST_REQUIRE(await_status(quick, "running"));
  BOOST_REQUIRE(await_status(slow, "running"));
  run->stop();
  BOOST_TEST(run->wait(30));
  BOOST_TEST(run->exit_code() == 0);
  BOOST_TEST(status_of(quick) == "finished");
  auto info = status(slow);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "runner_lost");
}

BOOST_AUTO_TEST_CASE(runner_logs_one_line_per_event_as_process_runner) {
  auto pid = start(trivial);
  auto r = runner({"--log-level", "debug"});
  BOOST_TEST(r.exit_code == 0);
  auto lines = lines_of(r.err);
  BOOST_REQUIRE(!lines.empty());
  bool mentions_pid = false;
  for (auto& l : lines) {
    BOOST_TEST(l.find("ProcessRunner[") != std::string::npos);
    mentions_pid |= l.find(pid) != std::string::npos;
  }
  BOOST_TEST(mentions_pid);
  BOOST_TEST(runner({"--log-level", "loud"}).exit_code == 2);
}

BOOST_AUTO_TEST_CASE(
  a_runner_without_pidfd_still_awaits_and_kills_its_children) {
  // valgrind does not implement pidfd_open(2), like kernels before 5.3 and
  // some sandboxes: the runner falls back to polling waitpid.
  auto done = start(trivial);
  auto slow = start(shell_spec("sleep 60", 1));
  auto r = run_command({"valgrind", "-q", "--tool=none", bin("procman-runner"),
                        "--store", store},
                       {}, 120);
  BOOST_TEST_MESSAGE(r.err);
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(status_of(done) == "finished");
  auto info = status(slow);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "timeout");
}

BOOST_AUTO_TEST_CASE(unwritable_store_is_a_clear_error) {
  auto file = tmp.str() + "/a-file";
  std::ofstream(file) << "x";
  auto r = run_command(
    {bin("procman"), "--store", file + "/store", "start", trivial});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find(file) != std::string::npos);
  auto rr = run_command({bin("procman-runner"), "--store", file + "/store"});
  BOOST_TEST(rr.exit_code == 1);
}

BOOST_AUTO_TEST_SUITE_END()
