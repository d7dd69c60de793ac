// The executor never outlives its supervisor, and a SIGTERM takes its step
// commands with it. How soon is procman-bench's (section waits); here they
// only have to go.

#include <chrono>
#include <filesystem>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_helpers.hpp"

using namespace procman::test;
namespace json = boost::json;

extern char** environ;

namespace {

using namespace std::chrono_literals;

// A shell stands in for the supervisor: it starts procman-exec in the
// background with PROCMAN_PARENT_PID=$$ and waits. The only step runs a
// command that records its pid and sleeps.
struct lifetime_fixture {
  temp_dir dir;
  std::string grandchild_file = (dir.path / "grandchild").string();
  std::string executor_file = (dir.path / "executor").string();
  std::string status_file = (dir.path / "status").string();
  pid_t shell = -1;
  pid_t executor = -1;
  pid_t grandchild = -1;

  lifetime_fixture() {
    json::array steps{json::object{
      {"name", "nap"},
      {"class", "procman.exec"},
      {"args",
       {{"command", json::array{"sh", "-c",
                                "echo $$ > " + grandchild_file + ".tmp; mv "
                                  + grandchild_file + ".tmp " + grandchild_file
                                  + "; exec sleep 30"}}}}}};
    write_file((dir.path / "in.json").string(), work(json::serialize(steps)));
    auto script = "exec 2>/dev/null; PROCMAN_PARENT_PID=$$ \"$0\" < \"$1\" > "
                  "\"$2\" 2> \"$3\" & "
                  "echo $! > \"$4\"; wait $!; echo $? > \"$5\"";
    std::vector<std::string> argv{"sh",
                                  "-c",
                                  script,
                                  exec_path(),
                                  (dir.path / "in.json").string(),
                                  (dir.path / "out").string(),
                                  (dir.path / "err").string(),
                                  executor_file,
                                  status_file};
    std::vector<char*> cargv;
    for (auto& a : argv)
      cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    int rc = posix_spawn(&shell, "/bin/sh", nullptr, &attr, cargv.data(),
                         environ);
    posix_spawnattr_destroy(&attr);
    BOOST_TEST_REQUIRE(rc == 0);
    // Wait until the step's command runs and the shell wrote the
    // executor's pid (which it may do after the command started).
    auto pid_in = [](const std::string& file) {
      auto text = read_file(file);
      return text.empty() || text.back() != '\n' ? -1 : std::stoi(text);
    };
    eventually(
      [&] {
        grandchild = pid_in(grandchild_file);
        executor = pid_in(executor_file);
        return grandchild > 0 && executor > 0;
      },
      30);
    BOOST_TEST_REQUIRE(grandchild > 0);
    BOOST_TEST_REQUIRE(executor > 0);
    BOOST_TEST(read_file("/proc/" + std::to_string(executor) + "/comm")
               == "procman-exec\n");
  }

  ~lifetime_fixture() {
    // Whatever the test did, leave nothing behind.
    for (pid_t p : {grandchild, executor})
      if (p > 0 && !process_gone(p))
        kill(p, SIGKILL);
    if (shell > 0) {
      kill(-shell, SIGKILL);
      waitpid(shell, nullptr, 0);
    }
  }

  // Waits (30 s at most) for both to be gone; returns the time it took.
  double wait_gone() {
    auto t0 = std::chrono::steady_clock::now();
    eventually(
      [&] { return process_gone(executor) && process_gone(grandchild); }, 30);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(executor_lifetime, lifetime_fixture)

BOOST_AUTO_TEST_CASE(the_executor_leads_a_process_group_with_its_commands) {
  // Started by a shell without job control, it made its own group.
  BOOST_TEST(getpgid(executor) == executor);
  BOOST_TEST(getpgid(grandchild) == executor);
  BOOST_TEST(getpgid(shell) == shell);
}

BOOST_AUTO_TEST_CASE(parent_death_kills_the_executor_and_its_commands) {
  BOOST_TEST_REQUIRE(!process_gone(executor));
  BOOST_TEST_REQUIRE(!process_gone(grandchild));
  kill(shell, SIGKILL);
  waitpid(shell, nullptr, 0);
  shell = -1;
  auto took = wait_gone();
  BOOST_TEST_MESSAGE("executor and command gone after " << took << " s");
  BOOST_TEST(process_gone(executor));
  BOOST_TEST(process_gone(grandchild));
}

BOOST_AUTO_TEST_CASE(sigterm_kills_the_executor_and_its_commands) {
  kill(executor, SIGTERM);
  auto took = wait_gone();
  BOOST_TEST_MESSAGE("executor and command gone after " << took << " s");
  BOOST_TEST(process_gone(executor));
  BOOST_TEST(process_gone(grandchild));
  // The shell saw it die of SIGKILL (128 + 9), its own group kill.
  waitpid(shell, nullptr, 0);
  shell = -1;
  BOOST_TEST(read_file(status_file) == "137\n");
  // It had reported the step as started, and nothing after.
  auto out = read_file((dir.path / "out").string());
  BOOST_TEST(out
             == R"({"event":"step_started","step":0,"name":"nap"})"
                "\n");
}

BOOST_AUTO_TEST_SUITE_END()
