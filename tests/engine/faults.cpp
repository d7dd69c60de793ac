// Faults under a real runner with a real store: a full disk (the
// disk_full.so injector preloaded into the runner makes LMDB's writes fail
// with ENOSPC while a trigger file exists) and claims that fail.

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli_fixture.hpp"

using namespace procman::test;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

struct fault_fixture : cli_fixture {
  std::string trigger = tmp.str() + "/disk-full";

  /// The environment that gives a program a full disk while `trigger` exists.
  std::vector<std::string> disk_full_env() const {
    return {"LD_PRELOAD=" + test_path("plugins/disk_full.so"),
            "PROCMAN_TEST_DISK_FULL=" + trigger};
  }

  std::unique_ptr<background>
  faulty_runner(std::vector<std::string> args,
                const std::string& name = "runner") {
    args.insert(args.begin(), {bin("procman-runner"), "--store", store});
    return std::make_unique<background>(args, tmp.str() + "/" + name + ".log",
                                        disk_full_env());
  }

  void fill_disk() { std::ofstream(trigger) << "full"; }
  void free_disk() { fs::remove(trigger); }

  bool log_has(background& run, const std::string& text,
               double timeout_s = 30) {
    return eventually([&] { return run.log().find(text) != std::string::npos; },
                      timeout_s);
  }

  std::string marker(const std::string& name) const {
    return tmp.str() + "/" + name;
  }
};

/// A step that creates `started`, then waits until `go` exists.
json::object wait_step(const std::string& started, const std::string& go) {
  return {
    {"class", "procman.exec"},
    {"args",
     {{"command", json::array{"sh", "-c",
                              "touch " + started + "; while [ ! -e " + go
                                + " ]; do sleep 0.05; done; echo went"}}}}};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(disk_full, fault_fixture)

BOOST_AUTO_TEST_CASE(
  a_full_disk_keeps_the_process_and_its_output_until_commits_succeed) {
  auto run = faulty_runner({"--wait"});
  json::object steps{
    {"wait", wait_step(marker("started"), marker("go"))},
    {"set", {{"class", "procman.set"}, {"args", {{"result", "kept"}}}}}};
  auto pid = start(json::serialize(json::object{{"steps", steps}}));
  BOOST_REQUIRE(eventually([&] { return fs::exists(marker("started")); }, 30));
  BOOST_TEST_MESSAGE("the disk fills while the process runs");
  fill_disk();
  std::ofstream(marker("go")) << "";
  BOOST_REQUIRE_MESSAGE(
    log_has(*run, "no space left on device (store " + store + ")"),
    "runner log:\n" + run->log());
  // Several retries go by (the store says so after a few seconds); the
  // record waits, nothing is dropped.
  BOOST_REQUIRE_MESSAGE(log_has(*run, "still cannot commit ("),
                        "runner log:\n" + run->log());
  BOOST_TEST(status_of(pid) == "running");
  BOOST_TEST(run->running());
  BOOST_TEST(run->log().find("store refused") == std::string::npos);
  BOOST_TEST_MESSAGE("space comes back");
  free_disk();
  BOOST_REQUIRE_MESSAGE(await_status(pid, "finished", 60),
                        "runner log:\n" + run->log());
  auto info = status(pid);
  BOOST_TEST(info.at("output").at("result").as_string() == "kept");
  BOOST_TEST(info.at("steps").at("wait").as_string() == "completed");
  BOOST_TEST(log_has(*run, "commits succeed again"));
  run->signal(SIGTERM);
  BOOST_TEST(run->wait(30));
  BOOST_TEST(run->exit_code() == 0);
}

BOOST_AUTO_TEST_CASE(a_full_disk_is_named_with_the_store_in_cli_errors) {
  start(R"({"steps": {"s": {"class": "procman.set"}}})"); // creates the store
  fill_disk();
  auto r = run_command({bin("procman"), "--store", store, "start",
                        R"({"steps": {"s": {"class": "procman.set"}}})"},
                       {}, 60, disk_full_env());
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("no space left on device (store " + store + ")")
               != std::string::npos,
             r.err);
  BOOST_TEST(r.err.find("Input/output error") == std::string::npos);
  BOOST_TEST_MESSAGE("an I/O error names the store too");
  auto env = disk_full_env();
  env.push_back("PROCMAN_TEST_DISK_ERRNO=" + std::to_string(EIO));
  r = run_command({bin("procman"), "--store", store, "start",
                   R"({"steps": {"s": {"class": "procman.set"}}})"},
                  {}, 60, env);
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("Input/output error (store " + store + ")")
               != std::string::npos,
             r.err);
}

BOOST_AUTO_TEST_CASE(
  a_runner_stopped_while_commits_fail_ends_and_the_next_ends_the_process) {
  auto run = faulty_runner({"--wait", "--grace", "1"});
  auto pid = start(json::serialize(json::object{
    {"steps", {{"wait", wait_step(marker("started"), marker("go"))}}}}));
  BOOST_REQUIRE(eventually([&] { return fs::exists(marker("started")); }, 30));
  fill_disk();
  std::ofstream(marker("go")) << "";
  BOOST_REQUIRE(log_has(*run, "no space left on device"));
  run->signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(run->wait(60), "runner log:\n" + run->log());
  BOOST_TEST(run->exit_code() == 0);
  BOOST_TEST(status_of(pid) == "running");
  free_disk();
  BOOST_TEST(runner().exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "runner_lost");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(claim_failures, fault_fixture)

BOOST_AUTO_TEST_CASE(a_failed_claim_is_retried_without_a_doorbell) {
  auto pid
    = start(R"({"steps": {"s": {"class": "procman.set", "args": {"ok": 1}}}})");
  fill_disk();
  auto run = faulty_runner({"--wait"});
  BOOST_REQUIRE_MESSAGE(log_has(*run, "claim failed"),
                        "runner log:\n" + run->log());
  BOOST_TEST(status_of(pid) == "queued");
  free_disk(); // nobody rings the doorbell
  BOOST_TEST_REQUIRE(await_status(pid, "finished", 60),
                     "runner log:\n" + run->log());
  BOOST_TEST(log_has(*run, "claims succeed again"));
}

BOOST_AUTO_TEST_CASE(a_runner_without_wait_does_not_quit_on_a_failed_claim) {
  auto pid
    = start(R"({"steps": {"s": {"class": "procman.set", "args": {"ok": 1}}}})");
  fill_disk();
  auto run = faulty_runner({});
  BOOST_REQUIRE_MESSAGE(log_has(*run, "claim failed"),
                        "runner log:\n" + run->log());
  // Retried claims (logged with their count after a few seconds), and the
  // runner still there.
  BOOST_REQUIRE_MESSAGE(log_has(*run, " attempts)"),
                        "runner log:\n" + run->log());
  BOOST_TEST(run->running());
  free_disk();
  BOOST_REQUIRE_MESSAGE(run->wait(60), "runner log:\n" + run->log());
  BOOST_TEST(run->exit_code() == 0);
  BOOST_TEST(status_of(pid) == "finished");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(step_durability, fault_fixture)

namespace {

/// Three steps: "one" waits for `go1`, "two" marks that it started and
/// sleeps, "three" sets a value.
std::string three_steps(const fault_fixture& f) {
  json::object two{{"class", "procman.exec"},
                   {"args",
                    {{"command", json::array{"sh", "-c",
                                             "touch " + f.marker("two-started")
                                               + "; sleep 300"}}}}};
  json::object steps{
    {"one", wait_step(f.marker("one-started"), f.marker("go1"))},
    {"two", two},
    {"three", {{"class", "procman.set"}, {"args", {{"c", 3}}}}}};
  return json::serialize(json::object{{"steps", steps}, {"timeout", 600}});
}

} // namespace

BOOST_AUTO_TEST_CASE(a_runner_killed_during_step_two_is_lost_at_step_two) {
  auto run = background_runner({"--wait"});
  auto pid = start(three_steps(*this));
  std::ofstream(marker("go1")) << "";
  BOOST_REQUIRE(
    eventually([&] { return fs::exists(marker("two-started")); }, 60));
  BOOST_TEST_MESSAGE("SIGKILL the runner while step two runs");
  run->signal(SIGKILL);
  BOOST_REQUIRE(run->wait(30));
  BOOST_TEST(runner().exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "runner_lost");
  BOOST_TEST(info.at("error").at("step").as_string() == "two");
  BOOST_TEST(info.at("steps").at("one").as_string() == "completed");
  BOOST_TEST(info.at("last_completed_step").as_string() == "one");
}

BOOST_AUTO_TEST_CASE(step_two_never_starts_while_step_one_is_not_durable) {
  auto run = faulty_runner({"--wait"});
  auto pid = start(three_steps(*this));
  BOOST_REQUIRE(
    eventually([&] { return fs::exists(marker("one-started")); }, 60));
  auto state_of_one = [&] {
    return std::string(status(pid).at("steps").at("one").as_string());
  };
  BOOST_REQUIRE(eventually([&] { return state_of_one() == "running"; }, 60));
  fill_disk();
  std::ofstream(marker("go1")) << "";
  BOOST_REQUIRE_MESSAGE(log_has(*run, "no space left on device"),
                        "runner log:\n" + run->log());
  // Step one has completed; its completion cannot be written, retry
  // after retry.
  BOOST_REQUIRE_MESSAGE(log_has(*run, "still cannot commit ("),
                        "runner log:\n" + run->log());
  BOOST_TEST(!fs::exists(marker("two-started")));
  BOOST_TEST(state_of_one() == "running");
  BOOST_TEST_MESSAGE("space comes back: step two starts, then the runner dies");
  free_disk();
  BOOST_REQUIRE(
    eventually([&] { return fs::exists(marker("two-started")); }, 60));
  run->signal(SIGKILL);
  BOOST_REQUIRE(run->wait(30));
  BOOST_TEST(runner().exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("error").at("kind").as_string() == "runner_lost");
  BOOST_TEST(info.at("error").at("step").as_string() == "two");
  BOOST_TEST(info.at("steps").at("one").as_string() == "completed");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(claimed_ahead_kills, fault_fixture)

BOOST_AUTO_TEST_CASE(
  records_claimed_ahead_and_never_started_are_queued_again_after_a_kill_9) {
  // One slot: the first process runs, the next two are claimed ahead.
  auto run = background_runner({"--wait", "--parallel", "1"});
  auto first
    = start(shell_spec("touch " + marker("first") + "; sleep 300", 600));
  BOOST_REQUIRE(eventually([&] { return fs::exists(marker("first")); }, 60));
  std::vector<std::string> ahead;
  for (int i = 0; i < 2; ++i)
    ahead.push_back(
      start(shell_spec("echo x >> " + marker("ran-" + std::to_string(i)))));
  BOOST_REQUIRE(eventually(
    [&] {
      for (auto& pid : ahead)
        if (status(pid).at("status").as_string() != "running")
          return false;
      return true;
    },
    60));
  BOOST_TEST(!fs::exists(marker("ran-0")));
  BOOST_TEST_MESSAGE(
    "SIGKILL the runner: one process runs, two are claimed ahead");
  run->signal(SIGKILL);
  BOOST_REQUIRE(run->wait(30));
  BOOST_TEST(runner().exit_code == 0);
  BOOST_TEST_MESSAGE(
    "the one that ran is lost; the two others ran once, later");
  auto info = status(first);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "runner_lost");
  for (int i = 0; i < 2; ++i) {
    auto again = status(ahead[static_cast<size_t>(i)]);
    BOOST_TEST(again.at("status").as_string() == "finished",
               json::serialize(again));
    auto errors = again.at("attempt_errors").as_array();
    BOOST_REQUIRE_EQUAL(errors.size(), 1u);
    BOOST_TEST(errors[0].at("kind").as_string() == "runner_lost");
    BOOST_TEST(std::string(errors[0].at("message").as_string())
                 .find("no step ran, queued again")
               != std::string::npos);
    std::ifstream ran(marker("ran-" + std::to_string(i)));
    std::string all{std::istreambuf_iterator<char>(ran), {}};
    BOOST_TEST(all == "x\n");
  }
  BOOST_TEST_MESSAGE("the dead runner's marks are gone");
  for (auto& e : fs::directory_iterator(store + "/runners"))
    BOOST_TEST(e.path().extension() != ".started", e.path());
}

BOOST_AUTO_TEST_CASE(
  without_marks_a_kill_9_ends_every_claimed_record_as_runner_lost) {
  // A runner whose marks are gone (another boot, or deleted) cannot tell
  // what it started: nothing is run twice, everything ends runner_lost.
  auto run = background_runner({"--wait", "--parallel", "1"});
  auto first
    = start(shell_spec("touch " + marker("first") + "; sleep 300", 600));
  BOOST_REQUIRE(eventually([&] { return fs::exists(marker("first")); }, 60));
  auto next = start(shell_spec("echo x >> " + marker("ran")));
  BOOST_REQUIRE(eventually(
    [&] { return status(next).at("status").as_string() == "running"; }, 60));
  run->signal(SIGKILL);
  BOOST_REQUIRE(run->wait(30));
  for (auto& e : fs::directory_iterator(store + "/runners"))
    if (e.path().extension() == ".started")
      fs::remove(e.path());
  BOOST_TEST(runner().exit_code == 0);
  for (auto& pid : {first, next}) {
    auto info = status(pid);
    BOOST_TEST(info.at("status").as_string() == "error");
    BOOST_TEST(info.at("error").at("kind").as_string() == "runner_lost");
  }
  BOOST_TEST(!fs::exists(marker("ran")));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(give_up_marks, fault_fixture)

BOOST_AUTO_TEST_CASE(
  a_runner_that_gives_up_recording_nothing_leaves_its_marks_to_the_next) {
  // One slot: the first process runs, the two others are claimed ahead.
  json::object steps{{"wait", wait_step(marker("started"), marker("go"))},
                     {"set", {{"class", "procman.set"}}}};
  auto first = start(json::serialize(json::object{{"steps", steps}}));
  std::vector<std::string> ahead;
  for (int i = 0; i < 2; ++i)
    ahead.push_back(
      start(shell_spec("echo x >> " + marker("ran-" + std::to_string(i)))));
  auto run = faulty_runner({"--parallel", "1", "--give-up-after", "1s"});
  BOOST_REQUIRE(eventually([&] { return fs::exists(marker("started")); }, 60));
  for (auto& pid : ahead)
    BOOST_REQUIRE(await_status(pid, "running", 60));
  BOOST_TEST_MESSAGE("nothing can be written any more; step one completes");
  fill_disk();
  std::ofstream(marker("go")) << "";
  BOOST_REQUIRE_MESSAGE(run->wait(60),
                        "runner still running; log:\n" + run->log());
  BOOST_TEST(run->exit_code() == 75, run->log());
  BOOST_TEST(run->log().find("gave up: commits failed for ")
             != std::string::npos);
  BOOST_TEST_MESSAGE(
    "none of it was recorded; the marks name only the one that started");
  for (auto& pid : {first, ahead[0], ahead[1]})
    BOOST_TEST(status_of(pid) == "running");
  std::string marks;
  for (auto& e : fs::directory_iterator(store + "/runners"))
    if (e.path().extension() == ".started") {
      std::ifstream in(e.path());
      marks = {std::istreambuf_iterator<char>(in), {}};
    }
  BOOST_TEST(marks.find(first) != std::string::npos, marks);
  BOOST_TEST(marks.find(ahead[0]) == std::string::npos);
  BOOST_TEST(marks.find(ahead[1]) == std::string::npos);
  BOOST_TEST_MESSAGE(
    "space comes back: the next runner ends the first, runs the others once");
  free_disk();
  BOOST_TEST(runner({"--parallel", "1"}).exit_code == 0);
  auto info = status(first);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "runner_lost");
  BOOST_TEST(info.at("error").at("step").as_string() == "wait");
  for (int i = 0; i < 2; ++i) {
    auto again = status(ahead[static_cast<size_t>(i)]);
    BOOST_TEST(again.at("status").as_string() == "finished",
               json::serialize(again));
    BOOST_REQUIRE(again.contains("attempt_errors"));
    auto errors = again.at("attempt_errors").as_array();
    BOOST_REQUIRE_EQUAL(errors.size(), 1u);
    BOOST_TEST(std::string(errors[0].at("message").as_string())
                 .find("(it was claimed ahead); no step ran, queued again")
               != std::string::npos);
    std::ifstream ran(marker("ran-" + std::to_string(i)));
    std::string all{std::istreambuf_iterator<char>(ran), {}};
    BOOST_TEST(all == "x\n");
  }
}

BOOST_AUTO_TEST_SUITE_END()
