// The process actor with a fake launcher: the test plays the executor
// (report lines, exit) and checks what the actor commits, writes to the
// executor, kills, and tells its supervisor.

#include <csignal>

#include <boost/test/unit_test.hpp>

#include "actors/actor_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct process_fixture : actor_fixture {
  supervisor_actor sup = stand_in();
  std::string pid;
  uint64_t claimed_at = 0; ///< log seq of the claim
  process_actor proc;

  /// Claims a process of `steps` steps and starts its actor.
  void start(size_t steps, uint32_t timeout = 0) {
    auto rec = claimed(steps, timeout);
    pid = rec.pid;
    claimed_at = last_seq();
    proc = spawn(process, rec, store, sup, exec);
    sched.run();
  }

  /// The executor writes `line`; the actors run.
  void feed(const std::string& line) {
    launcher->report(pid, line);
    sched.run();
  }

  void exit_with(int code, int sig = 0, const std::string& tail = {}) {
    launcher->exit(pid, code, sig, tail);
    sched.run();
  }

  /// The kinds committed since the claim.
  std::string committed() { return kinds(kinds_of(pid, claimed_at)); }

  transition last_transition() { return log_of(pid).back().what; }

  /// The supervisor heard `exec` exactly once, with `status`, and only when
  /// the store already held that final status.
  void check_done(process_status status) {
    BOOST_REQUIRE_MESSAGE(sup_log->exec.size() == 1u,
                          "the supervisor heard exec " << sup_log->exec.size()
                                                       << " times");
    auto& d = sup_log->exec[0];
    BOOST_TEST(d.pid == pid);
    BOOST_TEST((d.status == status), to_string(d.status));
    BOOST_TEST((d.status_in_store == status), to_string(d.status_in_store));
    BOOST_TEST(d.seq == last_seq());
    BOOST_TEST((record(pid).status == status));
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(process_actor, process_fixture)

BOOST_AUTO_TEST_CASE(
  it_spawns_the_executor_and_records_the_start_with_its_timeout) {
  start(1, 25);
  BOOST_REQUIRE(launcher->children.size() == 1u);
  auto& child = launcher->of(pid);
  BOOST_TEST(child.spec.argv.at(0) == exec->exec_path);
  auto input = boost::json::parse(child.spec.input);
  BOOST_TEST((input.at("pid").as_string() == pid));
  BOOST_TEST(input.at("steps").as_array().size() == 1u);
  BOOST_TEST(!child.spec.keep_stdin_open);
  BOOST_TEST_MESSAGE("the start waits for a commit that must be durable");
  BOOST_TEST(committed() == "");
  advance(process_state::hold_limit);
  BOOST_TEST(committed() == "start");
  auto t = last_transition();
  BOOST_TEST(t.exec_pid == child.os_pid);
  BOOST_TEST(start_timeout(t) == 25u);
  BOOST_TEST(record(pid).exec_pid == child.os_pid);
  BOOST_TEST(sup_log->exec.empty());
}

BOOST_AUTO_TEST_CASE(a_process_without_a_timeout_gets_the_runners_default) {
  start(1, 0);
  advance(process_state::hold_limit);
  BOOST_TEST(start_timeout(last_transition()) == exec->default_timeout);
}

BOOST_AUTO_TEST_CASE(report_lines_become_transitions_in_order) {
  start(2);
  feed(report::step_started(0));
  feed(report::progress(0, 40.5, "working"));
  feed(report::step_completed(0));
  feed(report::step_started(1));
  feed(report::step_completed(1));
  feed(report::finished(R"({"result":42})"));
  BOOST_TEST_MESSAGE("the end of the run waits for the next commit, which "
                     "the supervisor's claim on the exit brings");
  BOOST_TEST(committed() == "start, step_started, progress, step_completed");
  BOOST_TEST(sup_log->exec.empty());
  exit_with(0);
  BOOST_TEST(committed()
             == "start, step_started, progress, step_completed, step_started, "
                "step_completed, finish");
  auto entries = log_of(pid, claimed_at);
  BOOST_TEST(entries[2].what.progress.percent == 40.5);
  BOOST_TEST(entries[2].what.progress.message == "working");
  BOOST_TEST(entries[2].what.progress.step == "s0");
  BOOST_TEST(entries[4].what.step == 1u);
  BOOST_TEST(output_of(entries[6].what).at("result") == 42);
  auto rec = record(pid);
  BOOST_TEST(rec.last_completed == 1);
  BOOST_TEST(boost::json::parse(rec.output).at("result") == 42);
  check_done(process_status::finished);
  BOOST_TEST(committed().find("fail") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(output_lines_become_live_output_not_transitions) {
  exec->output_events = true;
  start(1);
  BOOST_TEST(boost::json::parse(launcher->of(pid).spec.input)
               .at("output_events")
               .as_bool());
  feed(report::step_started(0));
  feed(
    R"({"event":"output","step":0,"name":"s0","stream":"stdout","data":"hello\n"})");
  feed(
    R"({"event":"output","step":0,"name":"s0","stream":"stderr","data":"careful\n"})");
  // Parked: nothing committed of it until the timer or the next transition.
  BOOST_TEST(must(db->read_output(pid), "read_output").chunks.empty());
  feed(report::step_completed(0));
  feed(report::finished("{}"));
  exit_with(0);
  BOOST_TEST(committed() == "start, step_started, step_completed, finish");
  auto log = must(db->read_output(pid), "read_output");
  BOOST_REQUIRE_EQUAL(log.chunks.size(), 2u);
  BOOST_TEST(log.chunks[0].data == "hello\n");
  BOOST_TEST((log.chunks[1].stream == output_stream::err));
  BOOST_TEST((log.status == process_status::finished));
}

BOOST_AUTO_TEST_CASE(lines_that_arrive_together_are_committed_in_their_order) {
  start(2);
  for (auto& line : {report::step_started(0), report::step_completed(0),
                     report::step_started(1), report::step_completed(1),
                     report::finished("{}")})
    launcher->report(pid, line);
  launcher->exit(pid, 0);
  sched.run();
  BOOST_TEST(committed()
             == "start, step_started, step_completed, step_started, "
                "step_completed, finish");
  check_done(process_status::finished);
}

BOOST_AUTO_TEST_CASE(an_interrupted_report_records_the_step_and_its_output) {
  start(3);
  feed(report::step_started(0));
  feed(report::step_completed(0));
  feed(report::step_started(1));
  feed(report::step_completed(1));
  feed(report::interrupted(1, R"({"question":"go on?"})"));
  exit_with(3);
  BOOST_TEST(committed()
             == "start, step_started, step_completed, step_started, "
                "step_completed, interrupt");
  auto t = last_transition();
  BOOST_TEST(t.step == 1u);
  BOOST_TEST(output_of(t).at("question") == "go on?");
  BOOST_TEST(record(pid).next_step == 2u);
  check_done(process_status::interrupted);
}

BOOST_AUTO_TEST_CASE(an_error_report_records_the_failure_of_its_step) {
  start(2);
  feed(report::step_started(0));
  feed(report::error(0, "Step \"s0\" failed: boom"));
  exit_with(1, 0, "some stderr");
  BOOST_TEST(committed() == "start, step_started, fail");
  auto rec = record(pid);
  BOOST_TEST((rec.error.kind == error_kind::exception));
  BOOST_TEST(rec.error.step == "s0");
  BOOST_TEST(rec.error.message == "Step \"s0\" failed: boom");
  check_done(process_status::error);
}

BOOST_AUTO_TEST_CASE(
  a_step_is_acknowledged_only_after_its_completion_is_committed) {
  start(2);
  auto& child = launcher->of(pid);
  BOOST_TEST(child.spec.keep_stdin_open);
  BOOST_TEST(boost::json::parse(child.spec.input).at("step_acks") == true);
  auto committed_at_ack = std::make_shared<std::vector<int32_t>>();
  auto db_ = db;
  auto pid_ = pid;
  launcher->on_input = [=](int, const std::string&) {
    committed_at_ack->push_back(db_->get(pid_)->last_completed);
  };
  feed(report::step_started(0));
  BOOST_TEST(child.inputs.empty());
  launcher->report(pid, report::step_completed(0));
  BOOST_TEST_MESSAGE("the actor takes the line; the store has not run yet");
  BOOST_REQUIRE(sched.prioritize(proc));
  sched.run_once();
  BOOST_TEST(child.inputs.empty());
  sched.run();
  BOOST_TEST(child.inputs == std::vector<std::string>{report::ack(0)},
             boost::test_tools::per_element());
  BOOST_TEST(*committed_at_ack == std::vector<int32_t>{0},
             boost::test_tools::per_element());
  BOOST_TEST_MESSAGE("the last step's completion needs no acknowledgement");
  feed(report::step_started(1));
  feed(report::step_completed(1));
  BOOST_TEST(child.inputs.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_single_step_run_gets_no_acknowledgements) {
  start(1);
  feed(report::step_started(0));
  feed(report::step_completed(0));
  BOOST_TEST(launcher->of(pid).inputs.empty());
}

BOOST_AUTO_TEST_CASE(
  garbage_on_the_report_channel_kills_the_executor_and_records_a_crash) {
  start(2);
  feed(report::step_started(0));
  feed("this is not a report");
  BOOST_TEST(launcher->was_killed(pid));
  BOOST_TEST_MESSAGE("what follows the garbage is ignored");
  feed(report::step_completed(0));
  feed(report::finished("{}"));
  advance(process_state::hold_limit);
  BOOST_TEST(committed() == "start, step_started");
  exit_with(-1, SIGKILL, "tail");
  BOOST_TEST(committed() == "start, step_started, fail");
  auto rec = record(pid);
  BOOST_TEST((rec.error.kind == error_kind::crash));
  BOOST_TEST(rec.error.step == "s0");
  BOOST_TEST(rec.error.message.find("this is not a report")
               != std::string::npos,
             rec.error.message);
  BOOST_TEST(rec.error.signal == SIGKILL);
  BOOST_TEST(rec.error.stderr_tail == "tail");
  check_done(process_status::error);
}

BOOST_AUTO_TEST_CASE(a_report_that_is_json_without_an_event_is_garbage_too) {
  start(1);
  feed(R"({"step":0})");
  BOOST_TEST(launcher->was_killed(pid));
  exit_with(-1, SIGKILL);
  BOOST_TEST((record(pid).error.kind == error_kind::crash));
}

BOOST_AUTO_TEST_CASE(the_timeout_kills_the_executor_and_records_a_timeout) {
  start(2, 30);
  feed(report::step_started(0));
  BOOST_TEST_MESSAGE("29 s: nothing happens");
  advance(std::chrono::seconds(29));
  BOOST_TEST(launcher->killed.empty());
  BOOST_TEST_MESSAGE("30 s: the executor is killed");
  advance(std::chrono::seconds(1));
  BOOST_TEST(launcher->was_killed(pid));
  BOOST_TEST(committed() == "start, step_started");
  BOOST_TEST(sup_log->exec.empty());
  exit_with(-1, SIGKILL);
  BOOST_TEST(committed() == "start, step_started, fail");
  auto rec = record(pid);
  BOOST_TEST((rec.error.kind == error_kind::timeout));
  BOOST_TEST(rec.error.step == "s0");
  BOOST_TEST(rec.error.message.find("30 s") != std::string::npos,
             rec.error.message);
  check_done(process_status::error);
}

BOOST_AUTO_TEST_CASE(the_timeout_is_the_launchers_when_it_keeps_timers) {
  launcher->keeps_timers = true;
  start(1, 7);
  auto& timers = launcher->of(pid).handlers.timers;
  BOOST_REQUIRE(timers.size() == 2u);
  BOOST_TEST((timers[0].after == std::chrono::seconds(7)));
  BOOST_TEST((timers[1].after == process_state::hold_limit));
  BOOST_TEST_MESSAGE("no timer of the actor's own");
  advance(process_state::hold_limit);
  BOOST_TEST(!sched.has_pending_timeout());
  timers[0].fn();
  sched.run();
  BOOST_TEST(launcher->was_killed(pid));
  exit_with(-1, SIGKILL);
  BOOST_TEST((record(pid).error.kind == error_kind::timeout));
  check_done(process_status::error);
}

BOOST_AUTO_TEST_CASE(a_timeout_after_the_final_report_kills_nothing) {
  start(1, 5);
  feed(report::step_started(0));
  feed(report::step_completed(0));
  feed(report::finished("{}"));
  advance(std::chrono::seconds(5));
  BOOST_TEST(launcher->killed.empty());
  exit_with(0);
  check_done(process_status::finished);
}

BOOST_AUTO_TEST_CASE(a_cancel_kills_the_executor_and_records_the_cancellation) {
  start(2);
  feed(report::step_started(0));
  advance(process_state::hold_limit);
  BOOST_TEST_MESSAGE("a client cancels; the supervisor forwards it");
  apply(tr::cancel(pid));
  caf::anon_send(proc, atom::cancel_v);
  sched.run();
  BOOST_TEST(launcher->was_killed(pid));
  exit_with(-1, SIGKILL);
  BOOST_TEST(committed() == "start, step_started, cancel, cancel");
  check_done(process_status::cancelled);
}

BOOST_AUTO_TEST_CASE(a_check_finds_a_cancel_requested_elsewhere) {
  start(1);
  caf::anon_send(proc, atom::check_v);
  sched.run();
  BOOST_TEST(launcher->killed.empty());
  apply(tr::cancel(pid));
  caf::anon_send(proc, atom::check_v);
  sched.run();
  BOOST_TEST(launcher->was_killed(pid));
  exit_with(-1, SIGKILL);
  check_done(process_status::cancelled);
}

BOOST_AUTO_TEST_CASE(
  a_shutdown_kills_the_executor_and_records_the_runner_as_lost) {
  start(2);
  feed(report::step_started(0));
  feed(report::step_completed(0));
  feed(report::step_started(1));
  caf::anon_send(proc, atom::kill_v);
  sched.run();
  BOOST_TEST(launcher->was_killed(pid));
  exit_with(-1, SIGKILL);
  auto rec = record(pid);
  BOOST_TEST((rec.error.kind == error_kind::runner_lost));
  BOOST_TEST(rec.error.step == "s1");
  check_done(process_status::error);
}

BOOST_AUTO_TEST_CASE(an_exit_without_a_final_report_records_a_crash) {
  start(2);
  feed(report::step_started(0));
  exit_with(-1, SIGSEGV, "Segmentation fault");
  auto rec = record(pid);
  BOOST_TEST((rec.error.kind == error_kind::crash));
  BOOST_TEST(rec.error.step == "s0");
  BOOST_TEST(rec.error.message.find("SIGSEGV") != std::string::npos,
             rec.error.message);
  BOOST_TEST(rec.error.stderr_tail == "Segmentation fault");
  BOOST_TEST(launcher->killed.empty());
  check_done(process_status::error);
}

BOOST_AUTO_TEST_CASE(an_exit_code_without_a_final_report_is_named) {
  start(1);
  exit_with(7);
  auto rec = record(pid);
  BOOST_TEST((rec.error.kind == error_kind::crash));
  BOOST_TEST(rec.error.exit_code == 7);
  BOOST_TEST(rec.error.message.find("code 7") != std::string::npos,
             rec.error.message);
  check_done(process_status::error);
}

BOOST_AUTO_TEST_CASE(a_spawn_failure_records_a_crash_with_the_errno) {
  launcher->spawn_errors.push_back(ENOENT);
  start(2);
  BOOST_TEST(launcher->children.empty());
  BOOST_TEST(committed() == "fail");
  auto t = last_transition();
  BOOST_TEST((t.error.kind == error_kind::crash));
  BOOST_TEST(t.error.step == "s0");
  BOOST_TEST(names_errno(t, ENOENT), t.error.message);
  BOOST_TEST(t.error.message.find(exec->exec_path) != std::string::npos,
             t.error.message);
  check_done(process_status::error);
}

BOOST_AUTO_TEST_CASE(
  the_supervisor_hears_of_the_end_only_after_every_transition_is_committed) {
  start(2);
  BOOST_TEST_MESSAGE("the final lines and the exit arrive together");
  launcher->report(pid, report::step_started(0));
  launcher->report(pid, report::step_completed(0));
  launcher->report(pid, report::step_started(1));
  launcher->report(pid, report::error(1, "late failure"));
  launcher->exit(pid, 1);
  BOOST_TEST_MESSAGE("the actor takes them all before the store runs");
  BOOST_REQUIRE(sched.prioritize(proc));
  sched.run_once();
  BOOST_TEST(!has_job(sup));
  sched.run();
  BOOST_TEST(committed()
             == "start, step_started, step_completed, step_started, fail");
  check_done(process_status::error);
}

BOOST_AUTO_TEST_CASE(a_process_actor_that_dies_kills_its_executor) {
  start(1);
  caf::anon_send_exit(proc, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_TEST(launcher->was_killed(pid));
  BOOST_TEST(sup_log->exec.empty());
}

BOOST_AUTO_TEST_SUITE_END()
