// The rules for work whose runner or node is gone, without a store or a
// runner: the wording of every runner_lost and node_lost failure
// (lifecycle/lost.hpp), what recovery does with a dead runner's processes
// and the backoff of storage retries (lifecycle/recovery.hpp).

#include <boost/test/unit_test.hpp>

#include "procman/lifecycle/lost.hpp"
#include "procman/lifecycle/machine.hpp"
#include "procman/lifecycle/recovery.hpp"
#include "procman/messages/defaults.hpp"

using namespace procman;
using tk = transition_kind;
using namespace std::chrono_literals;

namespace {

const std::string pid = "0123456789abcdef0123456789abcdef";

/// A record running step `b` of a, b, c under `runner` (a completed).
process_record running_at_b(const std::string& runner) {
  process_record rec;
  rec.pid = pid;
  rec.status = process_status::running;
  rec.steps = {{"a", "procman.set", "{}", {}},
               {"b", "procman.set", "{}", {}},
               {"c", "procman.set", "{}", {}}};
  rec.last_completed = 0;
  rec.next_step = 0;
  rec.runner = runner;
  rec.exec_pid = 4242;
  return rec;
}

} // namespace

BOOST_AUTO_TEST_SUITE(lost_processes)

BOOST_AUTO_TEST_CASE(each_loss_names_who_why_and_the_step) {
  auto rec = running_at_b("r-dead");
  auto t = actor_died(rec, "r1", "out of memory");
  BOOST_TEST((t.kind == tk::fail));
  BOOST_TEST((t.error.kind == error_kind::runner_lost));
  BOOST_TEST(t.pid == pid);
  BOOST_TEST(t.source == "supervisor");
  BOOST_TEST(t.runner == "r1");
  BOOST_TEST(t.error.step == "b");
  BOOST_TEST(t.error.message
             == "runner r1: the actor running the process died (out of "
                "memory) at step b; its executor was killed");

  t = runner_died(rec, "r2");
  BOOST_TEST((t.error.kind == error_kind::runner_lost));
  BOOST_TEST(t.source == "runner");
  BOOST_TEST(t.runner == "r2");
  BOOST_TEST(t.error.step == "b");
  BOOST_TEST(t.error.message
             == "runner r-dead died while the process was running; last "
                "completed step: a");

  t = runner_died_before_start(rec, "r2");
  BOOST_TEST(t.error.message
             == "runner r-dead died before the process started (it was "
                "claimed ahead); no step ran, queued again");

  auto held = running_at_b("n1@7");
  t = lease_ended_with_store(held, "r2");
  BOOST_TEST((t.error.kind == error_kind::node_lost));
  BOOST_TEST(t.error.message
             == "node n1 lost: its lease n1@7 ended with its store node "
                "while the process was at step b");

  t = node_lost(held, "n1@7", "silent for 10 s");
  BOOST_TEST((t.error.kind == error_kind::node_lost));
  BOOST_TEST(t.source == "endpoint");
  BOOST_TEST(t.runner == "n1@7");
  BOOST_TEST(t.error.message
             == "node n1 lost (silent for 10 s) while the process was at "
                "step b; its lease n1@7 ended");
  BOOST_TEST(node_of("n1@7") == "n1");
  BOOST_TEST(node_of("plain") == "plain");
}

BOOST_AUTO_TEST_CASE(no_running_step_reads_none) {
  auto rec = running_at_b("r-dead");
  rec.last_completed = 2; // every step completed
  auto t = actor_died(rec, "r1", "killed");
  BOOST_TEST(t.error.step.empty());
  BOOST_TEST(t.error.message
             == "runner r1: the actor running the process died (killed) at "
                "step none; its executor was killed");
  rec.last_completed = -1;
  rec.step_states.clear();
  t = runner_died(rec, "r2");
  BOOST_TEST(t.error.step == "a");
  BOOST_TEST(t.error.message
             == "runner r-dead died while the process was running; last "
                "completed step: none");
  BOOST_TEST(step_or_none("") == "none");
  BOOST_TEST(step_or_none("x") == "x");
}

BOOST_AUTO_TEST_CASE(shut_down_before_start_names_where_it_would_start) {
  auto rec = running_at_b("r1");
  rec.next_step = 2;
  auto t = shut_down_before_start(rec, "r1");
  BOOST_TEST((t.kind == tk::fail));
  BOOST_TEST((t.error.kind == error_kind::runner_lost));
  BOOST_TEST(t.error.step == "c");
  BOOST_TEST(t.error.message
             == "runner r1 shut down before the process started; no step "
                "ran, queued again");
  rec.next_step = 3;
  BOOST_TEST(shut_down_before_start(rec, "r1").error.step.empty());
}

BOOST_AUTO_TEST_CASE(the_process_actor_s_losses_name_the_runner) {
  BOOST_TEST(shut_down_while_running("r1")
             == "runner r1 shut down before the process finished; its "
                "executor was killed after the grace period");
  BOOST_TEST(executor_lease_ran_out("r1")
             == "the executor's lease ran out: runner r1 did not renew it in "
                "time (it was stopped or hung, or lost its store node), so "
                "the executor killed itself and all it started");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(recovery)

BOOST_AUTO_TEST_CASE(a_started_process_of_a_dead_runner_ends) {
  auto rec = running_at_b("r-dead");
  std::optional<std::unordered_set<std::string>> marks;
  marks.emplace();
  // Started: a `start` was committed (exec_pid), whatever the marks say.
  auto ts = recover(rec, "r2", marks);
  BOOST_TEST_REQUIRE(ts.size() == 1u);
  BOOST_TEST((ts[0].kind == tk::fail));
  BOOST_TEST(ts[0].error.message == runner_died(rec, "r2").error.message);
  // Marked as started, its `start` held back when the runner died.
  rec.exec_pid = 0;
  marks->insert(pid);
  ts = recover(rec, "r2", marks);
  BOOST_TEST_REQUIRE(ts.size() == 1u);
  BOOST_TEST((ts[0].error.kind == error_kind::runner_lost));
}

BOOST_AUTO_TEST_CASE(an_unstarted_process_is_queued_again_in_the_same_commit) {
  auto rec = running_at_b("r-dead");
  rec.exec_pid = 0;
  std::optional<std::unordered_set<std::string>> marks;
  marks.emplace();
  auto ts = recover(rec, "r2", marks);
  BOOST_TEST_REQUIRE(ts.size() == 2u);
  BOOST_TEST((ts[0].kind == tk::fail));
  BOOST_TEST(ts[0].error.message
             == runner_died_before_start(rec, "r2").error.message);
  BOOST_TEST((ts[1].kind == tk::retry));
  BOOST_TEST(ts[1].pid == pid);
  BOOST_TEST(ts[1].source == "runner");
  BOOST_TEST(ts[1].runner == "r2");
}

BOOST_AUTO_TEST_CASE(unreadable_marks_count_every_process_as_started) {
  auto rec = running_at_b("r-dead");
  rec.exec_pid = 0;
  auto ts = recover(rec, "r2", std::nullopt);
  BOOST_TEST_REQUIRE(ts.size() == 1u);
  BOOST_TEST(ts[0].error.message == runner_died(rec, "r2").error.message);
}

BOOST_AUTO_TEST_CASE(a_node_s_lease_ends_as_node_lost) {
  auto rec = running_at_b("n1@7");
  rec.exec_pid = 0;
  std::optional<std::unordered_set<std::string>> marks;
  marks.emplace();
  auto ts = recover(rec, "r2", marks);
  BOOST_TEST_REQUIRE(ts.size() == 2u);
  BOOST_TEST((ts[0].error.kind == error_kind::node_lost));
  BOOST_TEST(ts[0].error.message
             == lease_ended_with_store(rec, "r2").error.message);
  BOOST_TEST((ts[1].kind == tk::retry));
}

BOOST_AUTO_TEST_CASE(the_recovered_fail_applies_to_the_running_record) {
  // What recovery returns is what the life cycle accepts of a running
  // record: the fail ends it, the retry queues it again.
  transition e;
  e.kind = tk::enqueue;
  e.pid = pid;
  e.spec.steps = {{"a", "procman.set", "{}", {}}};
  auto rec = *next(nullptr, e, 1);
  transition c;
  c.kind = tk::claim;
  c.pid = pid;
  c.runner = "r-dead";
  rec = *next(&rec, c, 2);
  std::optional<std::unordered_set<std::string>> marks;
  marks.emplace();
  auto ts = recover(rec, "r2", marks);
  BOOST_TEST_REQUIRE(ts.size() == 2u);
  auto failed = next(&rec, ts[0], 3);
  BOOST_TEST_REQUIRE(static_cast<bool>(failed));
  BOOST_TEST((failed->status == process_status::error));
  BOOST_TEST(failed->error.step == "a");
  auto queued = next(&*failed, ts[1], 4);
  BOOST_TEST_REQUIRE(static_cast<bool>(queued));
  BOOST_TEST((queued->status == process_status::queued));
}

BOOST_AUTO_TEST_CASE(storage_retries_back_off_to_the_maximum) {
  using ms = std::chrono::milliseconds;
  auto d = storage_retry_delay(0ms);
  BOOST_TEST(d.count() == defaults::storage_retry_first_ms);
  BOOST_TEST(storage_retry_delay(d).count()
             == 2 * defaults::storage_retry_first_ms);
  for (int i = 0; i < 20; ++i)
    d = storage_retry_delay(d);
  BOOST_TEST(d.count() == defaults::storage_retry_max_ms);
  BOOST_TEST(storage_retry_delay(ms{defaults::storage_retry_max_ms - 1}).count()
             == defaults::storage_retry_max_ms);
}

BOOST_AUTO_TEST_SUITE_END()
