// The executor's fork server (procman-runner --executor fork): each process
// still runs in a fresh child that looks like a spawned executor, the
// children belong to the runner, a killed or stopped server is started
// again, an executor that aborts takes only itself down, a killed runner
// takes the server and its children along, and a step library changed on
// disk is loaded again.

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "cli_fixture.hpp"

using namespace procman::test;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// The fork server's pid as the runner logged it ("--serve, pid N"), the
/// last one when it was started again; 0 when none.
pid_t server_pid_in(const std::string& log) {
  auto at = log.rfind("--serve, pid ");
  auto again = log.rfind("fork server started again (pid ");
  if (again != std::string::npos && (at == std::string::npos || again > at))
    return std::stoi(log.substr(again + 31));
  if (at == std::string::npos)
    return 0;
  return std::stoi(log.substr(at + 13));
}

/// The parent of `pid` (from /proc), 0 when gone.
pid_t parent_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("PPid:", 0) == 0)
      return std::stoi(line.substr(5));
  return 0;
}

/// A step whose command reports on its executor (the command's parent):
/// its pid, the kinds of its open descriptors and its signal state.
const std::string about_the_executor = shell_spec(
  "e=$PPID; echo pid $e; echo ppid $(awk '/^PPid/{print $2}' /proc/$e/status);"
  " for f in /proc/$e/fd/*; do"
  "   echo fd ${f##*/} $(readlink $f | sed 's/:.*//;s,^/.*,file,'); done;"
  " grep -E '^Sig(Blk|Ign)' /proc/$e/status");

std::string output_of(cli_fixture& f, const std::string& pid) {
  auto info = f.status(pid);
  BOOST_REQUIRE_MESSAGE(info.at("status").as_string() == "finished",
                        boost::json::serialize(info));
  return std::string(info.at("output").at("stdout").as_string());
}

/// The line of `text` that starts with `key`, without it.
std::string field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key, 0) == 0)
      return line.substr(key.size());
  return {};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(fork_server, cli_fixture)

BOOST_AUTO_TEST_CASE(
  each_process_runs_in_a_fresh_child_of_the_runner_that_looks_spawned) {
  auto run = background_runner({"--wait", "--executor", "fork"});
  BOOST_REQUIRE(eventually([&] { return server_pid_in(run->log()) > 0; }, 30));
  auto server = server_pid_in(run->log());
  auto a = start(about_the_executor);
  auto b = start(about_the_executor);
  BOOST_REQUIRE(await_status(a, "finished", 60));
  BOOST_REQUIRE(await_status(b, "finished", 60));
  auto out_a = output_of(*this, a), out_b = output_of(*this, b);
  BOOST_TEST_MESSAGE("fork mode:\n" << out_a);
  BOOST_TEST_MESSAGE("a fresh child each, neither of them the server");
  BOOST_TEST(field(out_a, "pid ") != field(out_b, "pid "));
  BOOST_TEST(field(out_a, "pid ") != std::to_string(server));
  BOOST_TEST_MESSAGE("the runner's child, not the server's");
  BOOST_TEST(field(out_a, "ppid ") == std::to_string(run->pid()));
  BOOST_TEST(os_process_alive(server));
  run->signal(SIGTERM);
  BOOST_REQUIRE(run->wait(30));
  BOOST_TEST_MESSAGE("as a spawned executor: signal mask, ignored signals and "
                     "descriptors (less what the runner's own parent leaked "
                     "into it, and no socket of the server's)");
  auto spawned = start(about_the_executor);
  BOOST_TEST(runner({"--executor", "spawn"}).exit_code == 0);
  auto out_s = output_of(*this, spawned);
  BOOST_TEST_MESSAGE("spawn mode:\n" << out_s);
  BOOST_TEST(out_a.find("socket") == std::string::npos);
  BOOST_TEST(field(out_a, "SigBlk:") == "\t0000000000000000");
  // What the runner inherited ignored (glibc's posix_spawn ignores its
  // internal signals) may stay ignored in a spawned executor; a forked one
  // ignores no more than that.
  auto ign_a = std::stoull(field(out_a, "SigIgn:"), nullptr, 16);
  auto ign_s = std::stoull(field(out_s, "SigIgn:"), nullptr, 16);
  BOOST_TEST((ign_a & ~ign_s) == 0u);
  BOOST_TEST((ign_a & (1u << (SIGPIPE - 1))) != 0u); // the executor's own
  auto fds = [](const std::string& out) {
    std::multiset<std::string> kinds;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);)
      // "fd N" alone: closed between the listing and readlink (the
      // executor's own short-lived descriptors).
      if (line.rfind("fd ", 0) == 0 && line.find(' ', 3) != std::string::npos)
        kinds.insert(line.substr(line.rfind(' ') + 1));
    return kinds;
  };
  auto forked = fds(out_a), own = fds(out_s);
  BOOST_TEST(forked.size() >= 3u);
  BOOST_TEST(forked.size() <= own.size());
  for (auto& kind : forked)
    BOOST_TEST(own.count(kind) >= forked.count(kind), kind);
}

BOOST_AUTO_TEST_CASE(
  a_killed_fork_server_is_started_again_and_its_children_run_on) {
  auto gate = tmp.str() + "/gate";
  auto run = background_runner({"--wait", "--executor", "fork"});
  BOOST_REQUIRE(eventually([&] { return server_pid_in(run->log()) > 0; }, 30));
  auto server = server_pid_in(run->log());
  auto waiting = start(shell_spec(
    "while [ ! -e " + gate + " ]; do sleep 0.05; done; echo through", 600));
  BOOST_REQUIRE(await_status(waiting, "running", 60));
  BOOST_TEST_MESSAGE("SIGKILL fork server " << server);
  ::kill(server, SIGKILL);
  BOOST_REQUIRE(eventually([&] { return !os_process_alive(server); }, 10));
  std::ofstream(gate) << "x";
  BOOST_TEST_MESSAGE("the process it forked is the runner's: it finishes");
  BOOST_TEST(await_status(waiting, "finished", 60));
  BOOST_TEST(output_of(*this, waiting) == "through\n");
  BOOST_TEST_MESSAGE("the next process gets a new server");
  auto next = start(about_the_executor);
  BOOST_TEST(await_status(next, "finished", 60));
  BOOST_TEST(run->log().find("fork server started again") != std::string::npos,
             run->log());
  auto again = server_pid_in(run->log());
  BOOST_TEST(again != server);
  BOOST_TEST(os_process_alive(again));
  BOOST_TEST(field(output_of(*this, next), "ppid ")
             == std::to_string(run->pid()));
}

BOOST_AUTO_TEST_CASE(a_stopped_fork_server_is_replaced_without_waiting_it_out) {
  auto run = background_runner({"--wait", "--executor", "fork"});
  BOOST_REQUIRE(eventually([&] { return server_pid_in(run->log()) > 0; }, 30));
  auto server = server_pid_in(run->log());
  BOOST_TEST_MESSAGE("SIGSTOP fork server " << server);
  ::kill(server, SIGSTOP);
  auto pid = start(about_the_executor);
  // A stopped server answers nothing; the runner sees it stopped and
  // starts another instead of waiting for its 30 s answer timeout.
  BOOST_TEST(await_status(pid, "finished", 15));
  BOOST_TEST(run->log().find("fork server: it is stopped") != std::string::npos,
             run->log());
  auto again = server_pid_in(run->log());
  BOOST_TEST(again != server);
  BOOST_TEST(os_process_alive(again));
  BOOST_TEST(eventually([&] { return !os_process_alive(server); }, 10));
  BOOST_TEST(field(output_of(*this, pid), "ppid ")
             == std::to_string(run->pid()));
}

BOOST_AUTO_TEST_CASE(
  a_forked_executor_that_aborts_kills_itself_not_the_server) {
  auto lib = test_path("plugins/crash_steps.so");
  auto run
    = background_runner({"--wait", "--executor", "fork", "--step-lib", lib});
  BOOST_REQUIRE(eventually([&] { return server_pid_in(run->log()) > 0; }, 30));
  auto server = server_pid_in(run->log());
  auto pid = start(R"({"steps": {"a": {"class": "crash.abort"}}})");
  BOOST_REQUIRE(await_status(pid, "error", 60));
  auto info = status(pid);
  BOOST_TEST(info.at("error").at("kind").as_string() == "crash");
  BOOST_TEST(
    std::string(info.at("error").at("message").as_string()).find("SIGABRT")
      != std::string::npos,
    boost::json::serialize(info));
  BOOST_TEST_MESSAGE("the server was not hit: the next process forks from it");
  BOOST_TEST(os_process_alive(server));
  auto next = start(about_the_executor);
  BOOST_TEST(await_status(next, "finished", 60));
  BOOST_TEST(server_pid_in(run->log()) == server);
  BOOST_TEST(run->log().find("fork server started again") == std::string::npos,
             run->log());
}

BOOST_AUTO_TEST_CASE(
  a_killed_runner_takes_its_fork_server_and_the_children_along) {
  auto pidfile = tmp.str() + "/gc.pid";
  auto run = background_runner({"--wait", "--executor", "fork"});
  BOOST_REQUIRE(eventually([&] { return server_pid_in(run->log()) > 0; }, 30));
  auto server = server_pid_in(run->log());
  auto pid
    = start(shell_spec("echo $PPID > " + pidfile
                         + ".exec; sleep 300 & echo $! > " + pidfile + "; wait",
                       600));
  BOOST_REQUIRE(await_status(pid, "running", 60));
  BOOST_REQUIRE(eventually([&] { return !slurp(pidfile).empty(); }, 30));
  auto gc = std::stoi(slurp(pidfile));
  auto exec = std::stoi(slurp(pidfile + ".exec"));
  BOOST_TEST(parent_of(exec) == run->pid());
  BOOST_TEST_MESSAGE("SIGKILL runner " << run->pid());
  run->signal(SIGKILL);
  BOOST_REQUIRE(run->wait(10));
  BOOST_TEST(eventually([&] { return !os_process_alive(server); }, 10));
  BOOST_TEST(eventually([&] { return !os_process_alive(exec); }, 10));
  BOOST_TEST(eventually([&] { return !os_process_alive(gc); }, 10));
  BOOST_TEST_MESSAGE("the next runner records it as runner_lost");
  BOOST_TEST(runner({"--executor", "fork"}).exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "runner_lost");
}

BOOST_AUTO_TEST_CASE(a_step_library_changed_on_disk_is_loaded_again) {
  auto lib = tmp.str() + "/steps.so";
  fs::copy_file(test_path("plugins/exec_test_plugin.so"), lib);
  auto run
    = background_runner({"--wait", "--executor", "fork", "--step-lib", lib});
  BOOST_REQUIRE(eventually([&] { return server_pid_in(run->log()) > 0; }, 30));
  auto before
    = start(R"({"steps": {"j": {"class": "test.json", "args": {}}}})");
  BOOST_REQUIRE(await_status(before, "finished", 60));
  BOOST_TEST_MESSAGE("another library replaces the file (a deployment)");
  fs::copy_file(test_path("plugins/steps_test_plugin.so"), lib + ".new");
  fs::rename(lib + ".new", lib);
  auto after = start(R"({"steps": {"s": {"class": "test.service", "args": {},
                                        "services": ["plugin.greeting"]}}})");
  BOOST_TEST(await_status(after, "finished", 60));
  BOOST_TEST(status(after).at("output").at("greeting").as_string()
             == "hello from the plug-in");
  BOOST_TEST(run->log().find("a step library changed on disk")
               != std::string::npos,
             run->log());
}

BOOST_AUTO_TEST_CASE(
  a_broken_step_library_or_an_executor_that_cannot_serve_stops_the_runner) {
  auto r = runner({"--executor", "fork", "--step-lib", "/nope.so"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("/nope.so") != std::string::npos, r.err);
  auto script = tmp.str() + "/stand-in.sh";
  std::ofstream(script)
    << "#!/bin/sh\n[ \"$1\" = --check ] && { echo ok; exit 0; }\nexit 1\n";
  fs::permissions(script, fs::perms::owner_all);
  r = runner({"--executor", "fork", "--exec", script});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("cannot be a fork server") != std::string::npos, r.err);
  r = runner({"--executor", "vfork"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(
    r.err.find("--executor must be fork or spawn") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_SUITE_END()
