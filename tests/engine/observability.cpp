// What users see of their processes, with real runners, executors and
// store: live output (`procman logs [--follow]`), retention and `procman
// purge`, the checks of `procman start` at the door, and the info text
// (percent, a cancelled step).

#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/platform/child.hpp"

#include "engine/cli_fixture.hpp"

namespace json = boost::json;
using namespace procman;
using namespace procman::test;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void touch(const std::string& path) {
  std::ofstream{path} << "go\n";
}

struct logs_fixture : cli_fixture {
  /// A waiting runner, started once per test.
  std::unique_ptr<background> run;

  void wait_runner(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), "--wait");
    run = background_runner(extra);
  }

  std::string logs(const std::string& pid,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"logs", pid};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = procman(args);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "procman logs failed: " + r.err);
    return r.out;
  }

  /// A command that writes a line to stdout and one to stderr, notes its
  /// executor's pid in <tmp>/exec, waits for <tmp>/go, then writes another.
  std::string chatty_spec() {
    auto dir = tmp.str();
    return shell_spec("echo first line; echo a warning >&2; echo $PPID > " + dir
                        + "/exec.tmp; mv " + dir + "/exec.tmp " + dir
                        + "/exec; while [ ! -f " + dir
                        + "/go ]; do sleep 0.05; done; echo second line",
                      120);
  }
};

} // namespace

// -- live output --------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(live_output, logs_fixture)

BOOST_AUTO_TEST_CASE(logs_show_a_running_commands_output_as_it_is_written) {
  wait_runner();
  auto pid = start(chatty_spec());
  // Written, not finished: the step is still waiting for the go file.
  BOOST_REQUIRE(
    eventually([&] { return contains(logs(pid), "a warning\n"); }, 30));
  BOOST_TEST(status_of(pid) == "running");
  auto so_far = logs(pid);
  BOOST_TEST(contains(so_far, "first line\n"));
  BOOST_TEST(!contains(so_far, "second line"));
  BOOST_TEST(logs(pid, {"--stream", "stderr"}) == "a warning\n");
  BOOST_TEST(logs(pid, {"--stream", "stdout"}) == "first line\n");
  // A follower shows what comes until the process ends, then ends itself.
  auto follow = std::make_unique<background>(
    std::vector<std::string>{bin("procman"), "--store", store, "logs", pid,
                             "--follow"},
    tmp.str() + "/follow.log");
  BOOST_REQUIRE(
    eventually([&] { return contains(follow->log(), "first line\n"); }, 30));
  BOOST_TEST(follow->running());
  touch(tmp.str() + "/go");
  BOOST_REQUIRE(follow->wait(60));
  BOOST_TEST(follow->exit_code() == 0);
  auto followed = follow->log();
  BOOST_TEST(contains(followed, "first line\n"));
  BOOST_TEST(contains(followed, "a warning\n"));
  BOOST_TEST(contains(followed, "second line\n"));
  // Kept after the process ended.
  BOOST_TEST(status_of(pid) == "finished");
  auto all = logs(pid);
  BOOST_TEST(contains(all, "first line\n"));
  BOOST_TEST(contains(all, "second line\n"));
}

BOOST_AUTO_TEST_CASE(logs_keep_what_a_killed_executor_had_written) {
  wait_runner();
  auto pid = start(chatty_spec());
  // What the executor reported before it was killed (it holds output
  // back for at most 100 ms) is kept.
  BOOST_REQUIRE(eventually(
    [&] {
      auto so_far = logs(pid);
      return contains(so_far, "first line\n")
             && contains(so_far, "a warning\n");
    },
    30));
  BOOST_REQUIRE(
    eventually([&] { return !slurp(tmp.str() + "/exec").empty(); }, 30));
  auto exec = static_cast<pid_t>(std::stol(slurp(tmp.str() + "/exec")));
  BOOST_REQUIRE(slurp("/proc/" + std::to_string(exec) + "/comm")
                == "procman-exec\n");
  procman::platform::kill_process(exec);
  BOOST_REQUIRE(await_status(pid, "error", 60));
  auto after = logs(pid);
  BOOST_TEST(contains(after, "first line\n"));
  BOOST_TEST(contains(after, "a warning\n"));
  // A follower of an ended process prints it and ends as `wait` does.
  auto r = procman({"logs", pid, "--follow"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.out, "first line\n"));
}

BOOST_AUTO_TEST_CASE(output_beyond_the_limit_drops_the_oldest_and_says_so) {
  auto set = procman({"config", "set", "output-limit", "1K"});
  BOOST_REQUIRE_MESSAGE(set.exit_code == 0, set.err);
  auto pid = start(shell_spec("seq 1 2000"));
  BOOST_REQUIRE_EQUAL(runner().exit_code, 0);
  BOOST_REQUIRE_EQUAL(status_of(pid), "finished");
  auto r = procman({"logs", pid});
  BOOST_REQUIRE_EQUAL(r.exit_code, 0);
  // Exactly the last 1 KiB, whatever the chunks were.
  BOOST_TEST(r.out.size() == 1024u);
  BOOST_TEST(r.out.substr(r.out.size() - 10) == "1999\n2000\n");
  BOOST_TEST(r.out.rfind("1\n2\n3\n", 0) != 0);
  BOOST_TEST(contains(r.err, "bytes of earlier output were dropped"));
  // The process's own output (the step's stdout) is not cut by it.
  auto out = status(pid).at("output").as_object();
  BOOST_TEST(std::string(out.at("stdout").as_string()).rfind("1\n2\n3\n", 0)
             == 0);
}

BOOST_AUTO_TEST_CASE(logs_of_an_unknown_process_or_stream_are_refused) {
  auto r = procman({"logs", std::string(32, 'a')});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, "no process " + std::string(32, 'a')));
  auto pid = start(shell_spec("echo hi"));
  r = procman({"logs", pid, "--stream", "stdin"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(
    contains(r.err, "--stream must be stdout or stderr, not \"stdin\""));
  // Queued, nothing written yet.
  BOOST_TEST(logs(pid).empty());
}

BOOST_AUTO_TEST_SUITE_END()

// -- retention and purge ------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(retention_purge, logs_fixture)

BOOST_AUTO_TEST_CASE(
  purge_older_than_removes_ended_processes_and_their_output) {
  auto done = start(shell_spec("echo bye"));
  BOOST_REQUIRE_EQUAL(runner().exit_code, 0);
  BOOST_REQUIRE_EQUAL(status_of(done), "finished");
  BOOST_REQUIRE(contains(logs(done), "bye\n"));
  auto waiting = start(shell_spec("echo later"));
  // The default retention (7d) keeps it.
  auto r = procman({"purge"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(json::parse(r.out).at("purged") == 0);
  BOOST_TEST(json::parse(r.out).at("older_than") == "7d");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  r = procman({"purge", "--older-than", "0s"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  BOOST_TEST(json::parse(r.out).at("purged") == 1);
  BOOST_TEST(procman({"status", done}).exit_code == 1);
  BOOST_TEST(procman({"logs", done}).exit_code == 1);
  BOOST_TEST(status_of(waiting) == "queued");
  // The log tells who purged it.
  auto exported = procman({"log", "export"}).out;
  BOOST_TEST(
    contains(exported, R"("source":"client","event":"purge","pid":")" + done));
}

BOOST_AUTO_TEST_CASE(
  bad_durations_are_refused_naming_the_flag_and_change_nothing) {
  auto done = start(R"({"steps": {"s": {"class": "procman.set"}}})");
  BOOST_REQUIRE_EQUAL(runner().exit_code, 0);
  auto r = procman({"purge", "--older-than", "7x"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "option --older-than must be a duration"));
  BOOST_TEST(contains(r.err, "\"7x\""));
  BOOST_TEST(status_of(done) == "finished");
  r = procman({"config", "set", "retention", "a week"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "retention must be a duration"));
  BOOST_TEST(procman({"config", "get", "retention"}).out == "7d\n");
  r = procman({"config", "set", "output-limit", "lots"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "output-limit must be a size"));
  r = procman({"config", "set", "colour", "red"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "unknown setting \"colour\""));
  r = runner({"--retention", "soon"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "option --retention must be a duration"));
  r = procman({"start", R"({"steps": {"s": {"class": "procman.set"}}})",
               "--delay", "5 min"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "option --delay must be a duration"));
  BOOST_TEST(json::parse(procman({"config"}).out)
             == json::parse(R"({"retention": "7d", "output-limit": "1M"})"));
}

BOOST_AUTO_TEST_CASE(a_waiting_runner_purges_by_its_retention_or_the_stores) {
  auto first = start(R"({"steps": {"s": {"class": "procman.set"}}})");
  auto second = start(R"({"steps": {"s": {"class": "procman.set"}}})");
  BOOST_REQUIRE_EQUAL(runner().exit_code, 0);
  // Both are older than a second by then.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  // A runner's own --retention (not stored).
  wait_runner({"--retention", "1s"});
  BOOST_TEST(eventually(
    [&] {
      return procman({"status", first}).exit_code == 1;
    },
    30));
  BOOST_TEST(procman({"config", "get", "retention"}).out == "7d\n");
  run->stop();
  BOOST_REQUIRE(run->wait(60));
  // The store's setting, for every runner.
  auto third = start(R"({"steps": {"s": {"class": "procman.set"}}})");
  BOOST_REQUIRE_EQUAL(runner().exit_code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  BOOST_REQUIRE_EQUAL(procman({"config", "set", "retention", "1s"}).exit_code,
                      0);
  BOOST_TEST(procman({"config", "get", "retention"}).out == "1s\n");
  wait_runner();
  BOOST_TEST(eventually(
    [&] {
      return procman({"status", third}).exit_code == 1;
    },
    30));
  auto exported = procman({"log", "export"}).out;
  BOOST_TEST(contains(
    exported, R"("source":"retention","event":"purge","pid":")" + third));
  (void) second;
}

BOOST_AUTO_TEST_SUITE_END()

// -- checks at the door -------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(door_checks, logs_fixture)

BOOST_AUTO_TEST_CASE(start_refuses_an_unknown_builtin_class_and_bad_args) {
  auto r = procman({"start", R"({"steps": {"a": {"class": "procman.set"},
    "b": {"class": "procman.sleeep", "args": {"seconds": 1}}}})"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, R"(step "b": unknown class "procman.sleeep")"));
  BOOST_TEST(r.out.empty());
  r = procman({"start", R"({"steps": {"nap": {"class": "procman.sleep",
    "args": {"seconds": "ten"}}}})"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, R"(step "nap": bad args: )"));
  r = procman(
    {"start", R"({"steps": {"sh": {"class": "procman.exec", "args": {}}}})"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, R"(step "sh": bad args: )"));
  r = procman({"schedule", "add", "nightly", "0 3 * * *",
               R"({"steps": {"x": {"class": "procman.nope"}}})"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, R"(unknown class "procman.nope")"));
  // Nothing was queued or scheduled.
  BOOST_TEST(procman({"list"}).out.empty());
  BOOST_TEST(procman({"schedule", "list"}).out.empty());
}

BOOST_AUTO_TEST_CASE(classes_the_registry_cannot_know_pass_with_a_warning) {
  auto r = procman({"start", R"({"steps": {"r": {"class": "acme.resize"}}})"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.size() == 33u);
  BOOST_TEST(
    contains(r.err, R"(step "r": class "acme.resize" is not built in)"));
}

BOOST_AUTO_TEST_CASE(step_libraries_of_procman_step_libs_are_checked_against) {
  auto lib = test_path("plugins/door_steps.so");
  std::vector<std::string> env{"PROCMAN_STEP_LIBS=" + lib};
  auto start_with = [&](const std::string& spec) {
    return run_command({bin("procman"), "--store", store, "start", spec}, {},
                       60, env);
  };
  auto r = start_with(R"({"steps": {"e": {"class": "door.echo"}}})");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(!contains(r.err, "not built in"));
  r = start_with(R"({"steps": {"e": {"class": "door.ehco"}}})");
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, R"(step "e": unknown class "door.ehco")"));
  // Without the variable, `start` loads no library: it cannot tell.
  r = procman({"start", R"({"steps": {"e": {"class": "door.ehco"}}})"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(contains(r.err, "not built in"));
}

BOOST_AUTO_TEST_CASE(start_warns_when_no_runner_listens) {
  auto spec = R"({"steps": {"s": {"class": "procman.set"}}})";
  auto r = procman({"start", spec});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.size() == 33u);
  BOOST_TEST(
    contains(r.err, "warning: no runner is listening on store " + store));
  wait_runner();
  BOOST_REQUIRE(eventually(
    [&] { return status_of(r.out.substr(0, 32)) == "finished"; }, 30));
  r = procman({"start", spec});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(!contains(r.err, "no runner"), r.err);
}

BOOST_AUTO_TEST_SUITE_END()

// -- the info text ------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(info_text_cli, logs_fixture)

BOOST_AUTO_TEST_CASE(percent_is_printed_with_two_decimals) {
  wait_runner();
  auto pid = start(R"({"steps": {"nap": {"class": "procman.sleep",
    "args": {"seconds": 120}}}, "timeout": 300})");
  std::string text;
  BOOST_REQUIRE(eventually(
    [&] {
      auto r = procman({"status", pid});
      text = r.out;
      auto v = json::parse(r.out).as_object();
      auto p = v.at("progress").if_object();
      return p != nullptr && p->at("percent").to_number<double>() > 0;
    },
    60));
  auto at = text.find("\"percent\":");
  BOOST_REQUIRE(at != std::string::npos);
  auto value = text.substr(at + 10, text.find_first_of(",}", at) - at - 10);
  BOOST_TEST(value.find_first_not_of("0123456789.") == std::string::npos,
             value);
  BOOST_TEST(value.size() >= 4u);
  BOOST_TEST(value[value.size() - 3] == '.', value);
  BOOST_REQUIRE_EQUAL(procman({"cancel", pid}).exit_code, 0);
}

BOOST_AUTO_TEST_CASE(a_cancelled_running_step_shows_cancelled) {
  wait_runner();
  auto pid = start(R"({"steps": {"first": {"class": "procman.set"},
    "long": {"class": "procman.exec", "args": {"command": ["sleep", "60"]}},
    "last": {"class": "procman.set"}}, "timeout": 300})");
  BOOST_REQUIRE(eventually(
    [&] {
      auto s = status(pid);
      return s.at("steps").at("long") == "running";
    },
    60));
  BOOST_REQUIRE_EQUAL(procman({"cancel", pid}).exit_code, 0);
  BOOST_REQUIRE(await_status(pid, "cancelled", 60));
  auto steps = status(pid).at("steps").as_object();
  BOOST_TEST(steps.at("first") == "completed");
  BOOST_TEST(steps.at("long") == "cancelled");
  BOOST_TEST(steps.at("last") == "pending");
}

BOOST_AUTO_TEST_SUITE_END()
