// Job features with real runners, real executors and a real store: retries
// (resuming at the failed step, by hand, across a runner's SIGKILL),
// priorities, delayed starts, recurring schedules (two runners firing one)
// and unique keys.

#include <csignal>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/messages/time.hpp"

#include "engine/cli_fixture.hpp"

namespace json = boost::json;
using namespace procman;
using namespace procman::test;

namespace {

/// How many lines a marker file has: how often a step ran.
size_t lines_of(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);)
    ++n;
  return n;
}

json::object exec_step(const std::string& script) {
  return json::object{{"class", "procman.exec"},
                      {"args", {{"command", json::array{"sh", "-c", script}}}}};
}

/// Four steps: `a` counts its runs, `seed` adds {"seed": 7}, `b` counts its
/// runs and fails until <dir>/ok exists, `c` adds {"done": true}.
std::string flaky_spec(const std::string& dir, json::object retry) {
  json::object steps;
  steps["a"] = exec_step("echo run >> " + dir + "/a");
  steps["seed"] = json::object{{"class", "procman.set"},
                               {"args", {{"seed", 7}}}};
  steps["b"] = exec_step("echo run >> " + dir + "/b; test -f " + dir + "/ok");
  steps["c"] = json::object{{"class", "procman.set"},
                            {"args", {{"done", true}}}};
  json::object spec{{"steps", std::move(steps)}};
  if (!retry.empty())
    spec["retry"] = std::move(retry);
  return json::serialize(spec);
}

void touch(const std::string& path) {
  std::ofstream{path} << "ok\n";
}

/// The entries of the store's message log.
std::vector<json::object> log_entries(cli_fixture& f) {
  auto res = f.procman({"log", "export"});
  BOOST_REQUIRE_EQUAL(res.exit_code, 0);
  std::vector<json::object> out;
  std::istringstream in(res.out);
  for (std::string line; std::getline(in, line);) {
    auto v = json::parse(line).as_object();
    if (v.contains("type") && v.at("type") == "entry")
      out.push_back(std::move(v));
  }
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(jobs, cli_fixture)

// -- retries ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_retried_process_resumes_at_its_failed_step) {
  auto dir = tmp.str();
  auto pid = start(flaky_spec(dir, {{"max", 3}, {"initial", 0.3}}));
  runner({"--parallel", "1"});
  auto info = status(pid);
  BOOST_TEST_MESSAGE("after the first run: " << json::serialize(info));
  BOOST_TEST(info.at("status") == "queued");
  BOOST_TEST(info.at("attempts") == 1);
  BOOST_TEST(info.at("steps").at("a") == "completed");
  BOOST_TEST(info.at("steps").at("b") == "failed");
  BOOST_TEST(info.contains("not_before"));
  auto& errs = info.at("attempt_errors").as_array();
  BOOST_REQUIRE_EQUAL(errs.size(), 1u);
  BOOST_TEST(errs[0].at("step") == "b");
  BOOST_TEST(errs[0].at("kind") == "exception");
  BOOST_TEST(errs[0].at("attempt") == 1);
  touch(dir + "/ok");
  // Runners started one after another (as cron would) run it once its
  // backoff is over, and not before.
  BOOST_REQUIRE(eventually(
    [&] {
      runner({"--parallel", "1"});
      return status_of(pid) != "queued";
    },
    30));
  info = status(pid);
  BOOST_TEST_MESSAGE("after the retry: " << json::serialize(info));
  BOOST_TEST(info.at("status") == "finished");
  BOOST_TEST(lines_of(dir + "/a") == 1u); // completed steps did not run again
  BOOST_TEST(lines_of(dir + "/b") == 2u);
  // The retried step got the output of the step before it.
  BOOST_TEST(info.at("output").at("seed") == 7);
  BOOST_TEST(info.at("output").at("done") == true);
  BOOST_TEST(info.at("attempts") == 1);
  uint64_t failed_at = 0, claimed_again = 0;
  for (auto& e : log_entries(*this))
    if (e.at("pid") == json::value(pid)) {
      if (e.at("event") == "fail")
        failed_at = e.at("time").to_number<uint64_t>();
      if (e.at("event") == "claim" && failed_at != 0)
        claimed_again = e.at("time").to_number<uint64_t>();
    }
  BOOST_REQUIRE(claimed_again != 0);
  BOOST_TEST(claimed_again >= failed_at + 300, "claimed "
                                                 << claimed_again - failed_at
                                                 << " ms after the failure");
}

BOOST_AUTO_TEST_CASE(retries_stop_at_max_and_wait_returns_only_then) {
  auto pid = start(
    R"({"steps": {"f": {"class": "procman.fail", "args": {"message": "nope"}}},
    "retry": {"max": 2, "backoff": "fixed", "initial": 0.2}})");
  auto run = background_runner({"--wait", "--parallel", "1"});
  // `wait` does not return while a retry is pending.
  auto res = procman({"wait", pid, "--timeout", "60"});
  BOOST_TEST(res.exit_code == 1);
  auto info = json::parse(res.out).as_object();
  BOOST_TEST_MESSAGE("final: " << res.out);
  BOOST_TEST(info.at("status") == "error");
  BOOST_TEST(info.at("attempts") == 3);
  auto& errs = info.at("attempt_errors").as_array();
  BOOST_REQUIRE_EQUAL(errs.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    BOOST_TEST(errs[i].at("attempt") == i + 1);
  BOOST_TEST(info.at("error").at("message").as_string().find("nope")
             != json::string::npos);
  // The backoff as it happened (recorded, not asserted as a speed).
  for (auto& e : log_entries(*this))
    if (e.at("pid") == json::value(pid))
      BOOST_TEST_MESSAGE(e.at("time").to_number<uint64_t>() % 100000
                         << " ms: " << e.at("event").as_string() << " -> "
                         << e.at("status_after").as_string());
}

BOOST_AUTO_TEST_CASE(spec_errors_are_not_retried) {
  auto pid = start(R"({"steps": {"x": {"class": "no.such.step"}},
    "retry": {"max": 3, "initial": 0}})");
  runner();
  auto info = status(pid);
  BOOST_TEST(info.at("status") == "error");
  BOOST_TEST(info.at("error").at("kind") == "spec");
  BOOST_TEST(info.at("attempts") == 1);
  auto bad = procman({"start", R"({"steps": {"s": {"class": "procman.set"}},
    "retry": {"max": 1, "on": ["spec"]}})"});
  BOOST_TEST(bad.exit_code == 1);
  BOOST_TEST(bad.err.find("\"spec\" errors are never retried")
               != std::string::npos,
             bad.err);
}

BOOST_AUTO_TEST_CASE(procman_retry_queues_an_errored_process_by_hand) {
  auto dir = tmp.str();
  auto pid = start(flaky_spec(dir, {}));
  runner();
  BOOST_REQUIRE(status_of(pid) == "error");
  auto res = procman({"retry", pid});
  BOOST_TEST(res.exit_code == 0, res.err);
  BOOST_TEST(status_of(pid) == "queued");
  auto twice = procman({"retry", pid});
  BOOST_TEST(twice.exit_code == 1);
  BOOST_TEST(twice.err.find("cannot retry a queued process")
               != std::string::npos,
             twice.err);
  touch(dir + "/ok");
  runner();
  auto info = status(pid);
  BOOST_TEST(info.at("status") == "finished");
  BOOST_TEST(lines_of(dir + "/a") == 1u);
  BOOST_TEST(lines_of(dir + "/b") == 2u);
  BOOST_TEST(info.at("attempts") == 1);
  BOOST_TEST(info.at("attempt_errors").as_array().size() == 1u);
  BOOST_TEST(procman({"retry", "0123456789abcdef0123456789abcdef"}).exit_code
             == 1);
}

BOOST_AUTO_TEST_CASE(
  a_runner_killed_during_a_retry_backoff_leaves_nothing_lost_or_doubled) {
  auto dir = tmp.str();
  auto pid = start(flaky_spec(dir, {{"max", 2}, {"initial", 3}}));
  auto first = background_runner({"--wait", "--parallel", "1"}, "first");
  BOOST_REQUIRE_MESSAGE(
    eventually([&] { return lines_of(dir + "/b") == 1; }, 30), first->log());
  BOOST_REQUIRE(eventually([&] { return status_of(pid) == "queued"; }, 30));
  first->kill();
  BOOST_REQUIRE(first->wait(10));
  touch(dir + "/ok");
  auto info = status(pid);
  BOOST_TEST(info.at("status") == "queued");
  auto not_before = std::string(info.at("not_before").as_string());
  auto second = background_runner({"--wait", "--parallel", "1"}, "second");
  BOOST_REQUIRE_MESSAGE(await_status(pid, "finished", 60), second->log());
  info = status(pid);
  BOOST_TEST(lines_of(dir + "/a") == 1u);
  BOOST_TEST(lines_of(dir + "/b") == 2u);
  BOOST_TEST(info.at("attempts") == 1);
  // Not run before its time (timestamps have whole seconds).
  BOOST_TEST(std::string(info.at("finished_at").as_string()) >= not_before);
}

// -- priorities ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(higher_priorities_run_first_and_fifo_within_one) {
  auto order = tmp.str() + "/order";
  std::vector<std::pair<std::string, int>> jobs{
    {"p0a", 0}, {"p5a", 5}, {"p0b", 0}, {"p5b", 5}, {"m3", -3}, {"p10", 10}};
  for (auto& [label, prio] : jobs) {
    json::object spec{
      {"steps", {{"s", exec_step("echo " + label + " >> " + order)}}}};
    if (label == "p0b")
      start(json::serialize(spec)); // the default is 0
    else
      start(json::serialize(spec), {"--priority", std::to_string(prio)});
  }
  runner({"--parallel", "1"});
  std::ifstream in(order);
  std::vector<std::string> got;
  for (std::string line; std::getline(in, line);)
    got.push_back(line);
  std::vector<std::string> want{"p10", "p5a", "p5b", "p0a", "p0b", "m3"};
  BOOST_TEST(got == want, boost::test_tools::per_element());
  BOOST_TEST(procman({"start", true_spec(), "--priority", "high"}).exit_code
             == 2);
}

// -- delayed starts -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(
  a_delayed_process_waits_and_a_waiting_runner_wakes_for_it) {
  // How soon after its time it starts, and what the waiting runner costs
  // meanwhile, are procman-bench's (section waits).
  auto run = background_runner({"--wait", "--parallel", "1"});
  auto pid = start(true_spec(), {"--delay", "2s"});
  // Other work is not held up behind it.
  auto other = start(true_spec());
  BOOST_REQUIRE(await_status(other, "finished", 30));
  // Nothing else happens: the runner wakes for it on its own.
  BOOST_REQUIRE_MESSAGE(await_status(pid, "finished", 30), run->log());
  uint64_t not_before = 0, claimed = 0;
  for (auto& e : log_entries(*this))
    if (e.at("pid") == json::value(pid)) {
      if (e.at("event") == "enqueue") {
        auto t = parse_time(
          std::string(e.at("payload").at("not_before").as_string()));
        BOOST_REQUIRE(t);
        not_before = *t;
      }
      if (e.at("event") == "claim")
        claimed = e.at("time").to_number<uint64_t>();
    }
  BOOST_REQUIRE(not_before != 0);
  BOOST_TEST_MESSAGE("claimed " << static_cast<int64_t>(claimed - not_before)
                                << " ms after its time");
  // Not claimed early.
  BOOST_TEST(claimed >= not_before);
}

BOOST_AUTO_TEST_CASE(not_before_in_the_spec_takes_utc_timestamps_and_iso_8601) {
  auto later = iso_time(now_ms() + 3600 * 1000);
  auto pid
    = start(R"({"steps": {"s": {"class": "procman.set"}}, "not_before": ")"
            + later + "\"}");
  runner();
  BOOST_TEST(status_of(pid) == "queued");
  auto bad = procman({"start", R"({"steps": {"s": {"class": "procman.set"}},
    "not_before": "tomorrow"})"});
  BOOST_TEST(bad.exit_code == 1);
  BOOST_TEST(bad.err.find("field \"not_before\"") != std::string::npos,
             bad.err);
  auto past = start(R"({"steps": {"s": {"class": "procman.set"}},
    "not_before": "20000101000000"})");
  runner();
  BOOST_TEST(status_of(past) == "finished");
  BOOST_TEST(procman({"start", true_spec(), "--delay", "5x"}).exit_code == 2);
  // A day beyond its month is refused, not moved into the next month.
  auto before = procman({"list"}).out;
  auto feb30 = procman({"start", R"({"steps": {"s": {"class": "procman.set"}},
    "not_before": "2027-02-29T10:00:00Z"})"});
  BOOST_TEST(feb30.exit_code == 1);
  BOOST_TEST(feb30.err.find("field \"not_before\": \"2027-02-29T10:00:00Z\" "
                            "is not a time: February 2027 has 28 days, not 29")
               != std::string::npos,
             feb30.err);
  BOOST_TEST(procman({"list"}).out == before);
}

// -- schedules ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(schedules_are_added_listed_fired_and_removed) {
  auto spec
    = R"({"steps": {"t": {"class": "procman.set", "args": {"tick": 1}}}})";
  auto bad = procman({"schedule", "add", "tick", "61 * * * *", spec});
  BOOST_TEST(bad.exit_code == 1);
  BOOST_TEST(bad.err.find("minute: 61 is out of range 0-59")
               != std::string::npos,
             bad.err);
  auto never = procman({"schedule", "add", "tick", "0 0 31 2 *", spec});
  BOOST_TEST(never.exit_code == 1);
  BOOST_TEST(never.err.find("February never has day 31, so it never fires")
               != std::string::npos,
             never.err);
  BOOST_TEST(procman({"schedule", "list"}).out.find("tick")
             == std::string::npos);
  auto added = procman({"schedule", "add", "tick", "* * * * * *", spec});
  BOOST_REQUIRE_MESSAGE(added.exit_code == 0, added.err);
  auto list = procman({"schedule", "list"});
  BOOST_TEST(list.out.find("\"name\":\"tick\"") != std::string::npos, list.out);
  BOOST_TEST(list.out.find("\"next_due\":\"2") != std::string::npos, list.out);
  auto run = background_runner({"--wait"});
  auto runs = [&] {
    auto res = procman({"list", "--status", "finished"});
    size_t n = 0;
    for (size_t p = 0;
         (p = res.out.find("\"schedule\":\"tick\"", p)) != std::string::npos;
         ++p)
      ++n;
    return n;
  };
  BOOST_REQUIRE_MESSAGE(eventually([&] { return runs() >= 2; }, 30),
                        run->log());
  BOOST_TEST(procman({"schedule", "remove", "tick"}).exit_code == 0);
  auto removed = procman({"schedule", "remove", "tick"});
  BOOST_TEST(removed.exit_code == 1);
  BOOST_TEST(removed.err.find("no schedule \"tick\"") != std::string::npos,
             removed.err);
  // No run of it after its removal. A schedule added now shows when due
  // times have passed with the runner awake: once it fired twice, a tick
  // that was still armed would have fired too.
  uint64_t removed_at = 0;
  for (auto& e : log_entries(*this))
    if (e.at("event") == "schedule_remove")
      removed_at = e.at("seq").to_number<uint64_t>();
  BOOST_REQUIRE(removed_at != 0);
  BOOST_REQUIRE(
    procman({"schedule", "add", "tock", "* * * * * *", spec}).exit_code == 0);
  auto fired_after = [&](const std::string& name) {
    size_t n = 0;
    for (auto& e : log_entries(*this))
      if (e.at("event") == "enqueue" && e.contains("schedule")
          && e.at("schedule") == json::value(name)
          && e.at("seq").to_number<uint64_t>() > removed_at)
        ++n;
    return n;
  };
  BOOST_REQUIRE_MESSAGE(
    eventually([&] { return fired_after("tock") >= 2; }, 30), run->log());
  BOOST_TEST(fired_after("tick") == 0u);
  BOOST_TEST(procman({"schedule", "remove", "tock"}).exit_code == 0);
  BOOST_TEST(procman({"schedule", "list"}).out.empty());
}

BOOST_AUTO_TEST_CASE(two_runners_fire_each_due_time_of_a_schedule_once) {
  BOOST_REQUIRE(procman({"schedule", "add", "tick", "* * * * * *",
                         R"({"steps": {"t": {"class": "procman.set"}}})"})
                  .exit_code
                == 0);
  // A waiting runner, and plain runners started one after another (as
  // cron would), each of which fires what is due when it starts.
  auto waiting = background_runner({"--wait", "--parallel", "2"}, "waiting");
  auto loop = std::make_unique<background>(
    std::vector<std::string>{"sh", "-c",
                             "while :; do " + bin("procman-runner")
                               + " --store " + store
                               + " --log-level error; done"},
    tmp.str() + "/loop.log");
  auto loop2 = std::make_unique<background>(
    std::vector<std::string>{"sh", "-c",
                             "while :; do " + bin("procman-runner")
                               + " --store " + store
                               + " --log-level error; done"},
    tmp.str() + "/loop2.log");
  // Until six due times have fired (how many of the seconds meanwhile got
  // a run is procman-bench's, section waits).
  auto fired = [&] {
    std::map<uint64_t, std::vector<json::object>> by_due;
    for (auto& e : log_entries(*this))
      if (e.at("event") == "enqueue" && e.contains("schedule"))
        by_due[e.at("due").to_number<uint64_t>()].push_back(e);
    return by_due;
  };
  BOOST_REQUIRE_MESSAGE(eventually([&] { return fired().size() >= 6; }, 60),
                        waiting->log());
  BOOST_TEST(procman({"schedule", "remove", "tick"}).exit_code == 0);
  loop.reset();
  loop2.reset();
  // Each due time fired once, none before it was due.
  for (auto& [due, runs] : fired()) {
    BOOST_TEST(runs.size() == 1u,
               "due " << due << " fired " << runs.size() << " times");
    for (auto& e : runs)
      BOOST_TEST(e.at("time").to_number<uint64_t>() >= due);
  }
}

BOOST_AUTO_TEST_CASE(runs_missed_while_no_runner_was_up_are_enqueued_once) {
  BOOST_REQUIRE(procman({"schedule", "add", "tick", "* * * * * *",
                         R"({"steps": {"t": {"class": "procman.set"}}})"})
                  .exit_code
                == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(3500)); // 3 missed
  auto at = now_ms();
  runner();
  // The due times that passed before the runner started are one run; a
  // due time that passes while it runs gets a run of its own.
  std::vector<json::object> missed, later;
  for (auto& e : log_entries(*this))
    if (e.at("event") == "enqueue" && e.contains("schedule"))
      (e.at("due").to_number<uint64_t>() < at ? missed : later).push_back(e);
  BOOST_REQUIRE_EQUAL(missed.size(), 1u);
  // It ran for the oldest missed time; the next is in the future.
  BOOST_TEST(missed[0].at("due").to_number<uint64_t>() + 2000 < at);
  auto list = json::parse(procman({"schedule", "list"}).out).as_object();
  BOOST_TEST(std::string(list.at("next_due").as_string()) >= timestamp(at));
  auto& last = later.empty() ? missed.back() : later.back();
  BOOST_TEST(std::string(list.at("last_pid").as_string())
             == std::string(last.at("pid").as_string()));
}

// -- unique keys --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(a_unique_key_returns_the_holder_until_it_ends) {
  auto spec = R"({"steps": {"s": {"class": "procman.set"}}, "key": "nightly"})";
  auto pid = start(spec);
  auto again = procman({"start", spec});
  BOOST_TEST(again.exit_code == 0);
  BOOST_TEST(again.out == pid + "\n");
  BOOST_TEST(again.err.find("holds the key \"nightly\" already")
               != std::string::npos,
             again.err);
  // Concurrent starts: one process, whoever comes first.
  auto many = run_command(
    {"sh", "-c",
     "for i in 1 2 3 4 5 6 7 8; do " + bin("procman") + " --store " + store
       + " start '{\"steps\": {\"s\": {\"class\": \"procman.set\"}}, \"key\": "
         "\"race\"}' & done; wait"});
  std::set<std::string> pids;
  std::istringstream in(many.out);
  for (std::string line; std::getline(in, line);)
    pids.insert(line);
  BOOST_TEST(pids.size() == 1u, many.out);
  size_t enqueues = 0;
  for (auto& e : log_entries(*this))
    if (e.at("event") == "enqueue"
        && e.at("payload").as_object().contains("key")
        && e.at("payload").at("key") == "race")
      ++enqueues;
  BOOST_TEST(enqueues == 1u);
  runner();
  BOOST_TEST(status_of(pid) == "finished");
  auto fresh = start(spec);
  BOOST_TEST(fresh != pid); // the key was freed when the process ended
}

BOOST_AUTO_TEST_SUITE_END()
