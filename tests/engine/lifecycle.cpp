// The whole process lifecycle through the real CLI and runner.

#include <csignal>
#include <fstream>
#include <set>
#include <sstream>

#include "cli_fixture.hpp"

using namespace procman::test;
namespace json = boost::json;

namespace {

const std::string three_steps = R"({"steps": {
  "first": {"class": "procman.set", "args": {"a": 1}},
  "second": {"class": "procman.set", "args": {"b": 2}},
  "third": {"class": "procman.set", "args": {"c": 3}}},
  "data": {"input": "x"}})";

const std::string with_pause = R"({"steps": {
  "prepare": {"class": "procman.set", "args": {"stage": "prepared"}},
  "approve": {"class": "procman.pause"},
  "publish": {"class": "procman.set", "args": {"stage": "published"}}},
  "data": {"title": "T"}})";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(process_lifecycle, cli_fixture)

BOOST_AUTO_TEST_CASE(queued_process_runs_to_finished_with_last_output) {
  auto pid = start(three_steps);
  BOOST_TEST(status_of(pid) == "queued");
  auto run = runner();
  BOOST_TEST_MESSAGE("runner log:\n" << run.err);
  BOOST_TEST(run.exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "finished");
  auto& out = info.at("output").as_object();
  BOOST_TEST(out.at("input").as_string() == "x");
  BOOST_TEST(out.at("a").as_int64() == 1);
  BOOST_TEST(out.at("c").as_int64() == 3);
  BOOST_TEST(info.at("last_completed_step").as_string() == "third");
  BOOST_TEST(info.at("steps").at("second").as_string() == "completed");
  BOOST_TEST(info.at("started_at").as_string().size() == 14u);
  BOOST_TEST(info.at("finished_at").as_string().size() == 14u);
  BOOST_TEST(info.at("error").is_null());
}

BOOST_AUTO_TEST_CASE(pause_then_proceed_merges_data_and_finishes) {
  auto pid = start(with_pause);
  BOOST_TEST(runner().exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "interrupted");
  BOOST_TEST(info.at("output").at("stage").as_string() == "prepared");
  BOOST_TEST(info.at("steps").at("publish").as_string() == "pending");
  auto w = procman({"wait", pid, "--timeout", "5"});
  BOOST_TEST(w.exit_code == 3);
  auto p = procman({"proceed", pid, "--data",
                    R"({"approved_by": "ann", "stage": "approved"})"});
  BOOST_TEST(p.exit_code == 0);
  BOOST_TEST(p.out == pid + "\n");
  BOOST_TEST(status_of(pid) == "queued");
  BOOST_TEST(runner().exit_code == 0);
  info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "finished");
  auto& out = info.at("output").as_object();
  BOOST_TEST(out.at("approved_by").as_string() == "ann");
  BOOST_TEST(out.at("stage").as_string() == "published");
  BOOST_TEST(out.at("title").as_string() == "T");
}

BOOST_AUTO_TEST_CASE(proceed_of_a_process_that_is_not_interrupted_is_refused) {
  auto pid = start(three_steps);
  auto p = procman({"proceed", pid});
  BOOST_TEST(p.exit_code == 1);
  BOOST_TEST(p.err.find(pid) != std::string::npos);
  BOOST_TEST(p.err.find("interrupted") != std::string::npos);
  BOOST_TEST(status_of(pid) == "queued");
}

BOOST_AUTO_TEST_CASE(unknown_pid_exits_1_with_no_process_message) {
  std::string pid(32, 'a');
  for (auto cmd : {"status", "proceed", "cancel", "wait"}) {
    auto r = procman({cmd, pid});
    BOOST_TEST_INFO("command " << cmd);
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(r.err.find("no process " + pid) != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2) {
  BOOST_TEST(procman({"frobnicate"}).exit_code == 2);
  BOOST_TEST(procman({"status"}).exit_code == 2);
  BOOST_TEST(procman({"list", "--limit", "x"}).exit_code == 2);
  BOOST_TEST(procman({"list", "--status", "sleeping"}).exit_code == 2);
  BOOST_TEST(procman({"start", three_steps, "--bogus"}).exit_code == 2);
  BOOST_TEST(runner({"--parallel", "0"}).exit_code == 2);
}

BOOST_AUTO_TEST_CASE(
  bad_spec_is_refused_naming_the_problem_and_stores_nothing) {
  auto r = procman({"start", R"({"steps": {"a": {"class": 5}}})"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("step \"a\"") != std::string::npos);
  BOOST_TEST(r.err.find("class") != std::string::npos);
  auto l = procman({"list"});
  BOOST_TEST(l.exit_code == 0);
  BOOST_TEST(l.out.empty());
}

BOOST_AUTO_TEST_CASE(unknown_class_ends_in_error_without_hurting_the_runner) {
  auto bad = start(R"({"steps": {"x": {"class": "no.such.step"}}})");
  auto good = start(three_steps);
  BOOST_TEST(runner().exit_code == 0);
  auto info = status(bad);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "spec");
  BOOST_TEST(info.at("error").at("step").as_string() == "x");
  BOOST_TEST(
    std::string(info.at("error").at("message").as_string()).find("no.such.step")
    != std::string::npos);
  BOOST_TEST(status_of(good) == "finished");
}

BOOST_AUTO_TEST_CASE(failing_step_records_step_message_and_stack) {
  auto pid = start(R"({"steps": {"ok": {"class": "procman.set", "args": {}},
    "bad": {"class": "procman.fail", "args": {"message": "disk full"}}}})");
  BOOST_TEST(runner().exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "error");
  auto& err = info.at("error").as_object();
  BOOST_TEST(err.at("kind").as_string() == "exception");
  BOOST_TEST(err.at("step").as_string() == "bad");
  BOOST_TEST(std::string(err.at("message").as_string()).find("disk full")
             != std::string::npos);
  BOOST_TEST(!err.at("stack").as_string().empty());
  BOOST_TEST(info.at("last_completed_step").as_string() == "ok");
  BOOST_TEST(info.at("steps").at("bad").as_string() == "failed");
  BOOST_TEST(procman({"wait", pid}).exit_code == 1);
}

BOOST_AUTO_TEST_CASE(timeout_kills_the_executor_and_its_grandchildren) {
  auto pidfile = tmp.str() + "/grandchild.pid";
  auto pid = start(command_spec(grandchild_command(pidfile), 1));
  auto run = runner();
  BOOST_TEST(run.exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "timeout");
  auto gc = std::stoi(read_file(pidfile));
  BOOST_TEST_MESSAGE("grandchild " << gc);
  BOOST_TEST(eventually([&] { return !os_process_alive(gc); }, 5));
}

BOOST_AUTO_TEST_CASE(cancel_of_queued_and_interrupted_is_immediate) {
  auto queued = start(three_steps);
  auto c = procman({"cancel", queued});
  BOOST_TEST(c.exit_code == 0);
  BOOST_TEST(status_of(queued) == "cancelled");
  auto paused = start(with_pause);
  BOOST_TEST(runner().exit_code == 0);
  BOOST_TEST(status_of(paused) == "interrupted");
  BOOST_TEST(procman({"cancel", paused}).exit_code == 0);
  BOOST_TEST(status_of(paused) == "cancelled");
  BOOST_TEST(procman({"cancel", paused}).exit_code == 1); // already ended
  BOOST_TEST(procman({"wait", paused}).exit_code == 1);
}

BOOST_AUTO_TEST_CASE(cancel_of_a_running_process_kills_its_child_group) {
  auto pidfile = tmp.str() + "/gc.pid";
  auto run = background_runner({"--wait"});
  auto pid = start(command_spec(grandchild_command(pidfile), 120));
  BOOST_REQUIRE(await_status(pid, "running"));
  BOOST_REQUIRE(eventually([&] { return !read_file(pidfile).empty(); }));
  auto gc = std::stoi(read_file(pidfile));
  auto c = procman({"cancel", pid});
  BOOST_TEST_MESSAGE(c.out << c.err);
  BOOST_TEST(c.exit_code == 0);
  BOOST_TEST(status_of(pid) == "cancelled");
  BOOST_TEST(eventually([&] { return !os_process_alive(gc); }, 5));
  run->stop();
  BOOST_TEST(run->wait(20));
}

BOOST_AUTO_TEST_CASE(status_shows_step_states_and_live_progress) {
  auto run = background_runner({"--wait"});
  auto pid = start(R"({"steps": {
    "nap": {"class": "procman.sleep", "args": {"seconds": 3}},
    "after": {"class": "procman.set", "args": {"done": true}}}})");
  bool saw_progress = false;
  BOOST_REQUIRE(await_status(pid, "running"));
  BOOST_TEST(eventually(
    [&] {
      auto info = status(pid);
      if (info.at("status").as_string() != "running")
        return false;
      BOOST_TEST(info.at("steps").at("after").as_string() == "pending");
      if (!info.at("progress").is_object())
        return false;
      saw_progress = info.at("progress").at("step").as_string() == "nap"
                     && info.at("steps").at("nap").as_string() == "running";
      return saw_progress;
    },
    10));
  BOOST_TEST(saw_progress);
  BOOST_TEST(procman({"wait", pid, "--timeout", "30"}).exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("steps").at("nap").as_string() == "completed");
  BOOST_TEST(info.at("progress").is_null());
  run->stop();
  BOOST_TEST(run->wait(20));
}

BOOST_AUTO_TEST_CASE(wait_times_out_with_exit_4) {
  auto pid = start(three_steps); // no runner: stays queued
  auto w = procman({"wait", pid, "--timeout", "1"});
  BOOST_TEST(w.exit_code == 4);
  BOOST_TEST(w.err.find("timed out") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(list_filters_by_status_and_limits) {
  auto a = start(three_steps);
  auto b = start(three_steps);
  auto c = start(three_steps);
  BOOST_TEST(procman({"cancel", b}).exit_code == 0);
  auto all = procman({"list"});
  BOOST_TEST(all.exit_code == 0);
  std::vector<json::object> rows;
  std::istringstream lines(all.out);
  for (std::string line; std::getline(lines, line);)
    rows.push_back(json::parse(line).as_object());
  BOOST_REQUIRE_EQUAL(rows.size(), 3u);
  auto cancelled = procman({"list", "--status", "cancelled"});
  BOOST_TEST(cancelled.out.find(b) != std::string::npos);
  BOOST_TEST(cancelled.out.find(a) == std::string::npos);
  auto limited = procman({"list", "--limit", "1"});
  BOOST_TEST(std::count(limited.out.begin(), limited.out.end(), '\n') == 1);
  (void) c;
}

BOOST_AUTO_TEST_SUITE_END()
