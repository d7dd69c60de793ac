// How a runner reads its executor (lifecycle/reports.hpp), without an
// executor: each report line and each way an executor ends become the
// transition the store records, or none.

#include "procman/lifecycle/reports.hpp"

#include <csignal>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

using namespace procman;
using tk = transition_kind;

namespace {

const std::vector<step_spec> steps = {{"a", "procman.set", "{}", {}},
                                      {"b", "procman.set", "{}", {}}};

executor_report line(const std::string& json) {
  return decode_report(json);
}

executor_exit exit_of(kill_reason why) {
  executor_exit x;
  x.code = 1;
  x.signal = 0;
  x.stderr_tail = "oops";
  x.killed = why;
  x.step = "b";
  x.timeout = 7;
  x.runner = "r1";
  return x;
}

} // namespace

BOOST_AUTO_TEST_SUITE(executor_reports)

BOOST_AUTO_TEST_CASE(step_events_name_their_step_or_the_running_one) {
  auto t = report_transition(line(R"({"event":"step_started","step":1})"), 0,
                             steps);
  BOOST_TEST_REQUIRE(t.has_value());
  BOOST_TEST((t->kind == tk::step_started));
  BOOST_TEST(t->step == 1u);
  t = report_transition(line(R"({"event":"step_started"})"), 1, steps);
  BOOST_TEST(t->step == 1u);
  t = report_transition(
    line(R"({"event":"step_completed","step":0,"output":{"x":1}})"), 0, steps);
  BOOST_TEST((t->kind == tk::step_completed));
  BOOST_TEST(t->step == 0u);
  BOOST_TEST(t->output == R"({"x":1})");
  // Without an output (the run's last step) the record keeps its data.
  t = report_transition(line(R"({"event":"step_completed","step":1})"), 1,
                        steps);
  BOOST_TEST(t->output.empty());
  t = report_transition(
    line(R"({"event":"progress","step":1,"percent":40,"message":"half"})"), 0,
    steps);
  BOOST_TEST((t->kind == tk::progress));
  BOOST_TEST(t->progress.step == "b");
  BOOST_TEST(t->progress.percent == 40);
  BOOST_TEST(t->progress.message == "half");
}

BOOST_AUTO_TEST_CASE(final_lines_finish_interrupt_or_fail) {
  auto t = report_transition(line(R"({"event":"finished","output":{"y":2}})"),
                             1, steps);
  BOOST_TEST((t->kind == tk::finish));
  BOOST_TEST(t->output == R"({"y":2})");
  t = report_transition(
    line(R"({"event":"interrupted","step":0,"output":{"ask":true}})"), 0,
    steps);
  BOOST_TEST((t->kind == tk::interrupt));
  BOOST_TEST(t->step == 0u);
  BOOST_TEST(t->output == R"({"ask":true})");
  t = report_transition(
    line(
      R"({"event":"error","error":{"kind":"exception","step":"b","message":"boom"}})"),
    1, steps);
  BOOST_TEST((t->kind == tk::fail));
  BOOST_TEST((t->error.kind == error_kind::exception));
  BOOST_TEST(t->error.step == "b");
  BOOST_TEST(t->error.message == "boom");
}

BOOST_AUTO_TEST_CASE(output_other_and_garbage_are_no_transition) {
  BOOST_TEST(
    !report_transition(
       line(R"({"event":"output","step":0,"stream":"stdout","data":"x"})"), 0,
       steps)
       .has_value());
  BOOST_TEST(
    !report_transition(line(R"({"event":"later"})"), 0, steps).has_value());
  BOOST_TEST(!report_transition(line("not json"), 0, steps).has_value());
}

BOOST_AUTO_TEST_CASE(held_unless_an_acknowledgement_waits) {
  transition started;
  started.kind = tk::step_started;
  BOOST_TEST(may_hold(started, true, 2));
  transition done;
  done.kind = tk::step_completed;
  done.step = 0;
  BOOST_TEST(!may_hold(done, true, 2)); // the executor waits for its ack
  BOOST_TEST(may_hold(done, false, 2));
  done.step = 1;
  BOOST_TEST(may_hold(done, true, 2)); // the last step: nothing waits
  transition fin;
  fin.kind = tk::finish;
  BOOST_TEST(!may_hold(fin, false, 2));
  transition progress;
  progress.kind = tk::progress;
  BOOST_TEST(!may_hold(progress, false, 2));
}

BOOST_AUTO_TEST_CASE(only_what_an_executor_reports_last_ends_a_run) {
  for (auto k : {tk::finish, tk::interrupt, tk::fail})
    BOOST_TEST(ends_run(k), to_string(k));
  // The executor waits for step completions; a cancel's confirmation, a
  // claim or a start is no end of a run.
  for (auto k : {tk::step_started, tk::step_completed, tk::progress, tk::start,
                 tk::claim, tk::cancel, tk::enqueue})
    BOOST_TEST(!ends_run(k), to_string(k));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(executor_exits)

BOOST_AUTO_TEST_CASE(a_kill_names_its_reason) {
  auto t = exit_transition(exit_of(kill_reason::timeout));
  BOOST_TEST_REQUIRE(t.has_value());
  BOOST_TEST((t->kind == tk::fail));
  BOOST_TEST((t->error.kind == error_kind::timeout));
  BOOST_TEST(t->error.step == "b");
  BOOST_TEST(t->error.exit_code == 1);
  BOOST_TEST(t->error.stderr_tail == "oops");
  BOOST_TEST(t->error.message
             == "process timed out after 7 s; its executor and commands were "
                "killed");
  t = exit_transition(exit_of(kill_reason::cancel));
  BOOST_TEST((t->kind == tk::cancel));
  t = exit_transition(exit_of(kill_reason::shutdown));
  BOOST_TEST((t->error.kind == error_kind::runner_lost));
  BOOST_TEST(t->error.message
             == "runner r1 shut down before the process finished; its "
                "executor was killed after the grace period");
  auto g = exit_of(kill_reason::garbage);
  g.garbage = "%%%";
  t = exit_transition(g);
  BOOST_TEST((t->error.kind == error_kind::crash));
  BOOST_TEST(t->garbage == "%%%");
  BOOST_TEST(t->error.message
             == "executor wrote garbage on its report channel: %%%");
}

BOOST_AUTO_TEST_CASE(an_exit_without_a_result_is_a_crash) {
  auto x = exit_of(kill_reason::none);
  auto t = exit_transition(x);
  BOOST_TEST((t->error.kind == error_kind::crash));
  BOOST_TEST(t->error.message
             == "executor exited with code 1 without a result");
  x.code = -1;
  x.signal = SIGKILL;
  t = exit_transition(x);
  BOOST_TEST(t->error.signal == SIGKILL);
  BOOST_TEST(t->error.message
             == "executor was killed by SIGKILL without a result");
  x.lease_lapsed = true;
  t = exit_transition(x);
  BOOST_TEST((t->error.kind == error_kind::runner_lost));
  BOOST_TEST(t->error.message.find("lease ran out: runner r1")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(after_a_final_report_only_garbage_counts) {
  for (auto why : {kill_reason::none, kill_reason::timeout, kill_reason::cancel,
                   kill_reason::shutdown}) {
    auto x = exit_of(why);
    x.final_seen = true;
    BOOST_TEST(!exit_transition(x).has_value());
  }
  auto x = exit_of(kill_reason::garbage);
  x.final_seen = true;
  BOOST_TEST(exit_transition(x).has_value());
}

BOOST_AUTO_TEST_CASE(a_spawn_that_failed_names_the_executor_and_why) {
  auto t = spawn_failure("a", "/no/procman-exec", ENOENT, "ignored");
  BOOST_TEST((t.kind == tk::fail));
  BOOST_TEST((t.error.kind == error_kind::crash));
  BOOST_TEST(t.error.step == "a");
  BOOST_TEST(t.exec_path == "/no/procman-exec");
  BOOST_TEST(t.spawn_errno == ENOENT);
  BOOST_TEST(t.error.message
             == "cannot start executor /no/procman-exec: No such file or "
                "directory");
  t = spawn_failure("a", "/x", 0, "too many processes");
  BOOST_TEST(t.error.message == "cannot start executor /x: too many processes");
}

BOOST_AUTO_TEST_SUITE_END()
