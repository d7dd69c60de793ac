// The rules of recurring schedules without a store: what a schedule may
// be, when it is due, the run it enqueues, and how it moves on.

#include "procman/lifecycle/schedules.hpp"

#include <boost/test/unit_test.hpp>

#include "procman/messages/error.hpp"

using namespace procman;

namespace {

/// 2023-11-14 22:13:20 UTC.
constexpr uint64_t now = 1'700'000'000'000;
/// The next full hour after `now`: 23:00:00 UTC.
constexpr uint64_t next_hour = 1'700'002'800'000;

process_spec one_step() {
  process_spec spec;
  spec.steps.push_back({"a", "procman.set", R"({ "k" : 1 })", {}});
  return spec;
}

schedule_record hourly() {
  auto spec = one_step();
  auto expr = check_schedule("hourly", "0 * * * *", spec);
  BOOST_REQUIRE(expr);
  transition t;
  t.kind = transition_kind::schedule_add;
  t.schedule = "hourly";
  t.cron = "0 * * * *";
  t.spec = spec;
  return added_schedule(t, *expr, std::nullopt, now);
}

} // namespace

BOOST_AUTO_TEST_SUITE(lifecycle_schedules)

BOOST_AUTO_TEST_CASE(a_schedule_needs_a_name_a_cron_expression_and_a_spec) {
  auto spec = one_step();
  auto ok = check_schedule("nightly", "0 3 * * *", spec);
  BOOST_TEST(static_cast<bool>(ok));
  BOOST_TEST(spec.steps[0].args == R"({"k":1})"); // written compactly
  auto name = check_schedule("", "0 3 * * *", spec);
  BOOST_REQUIRE(!name);
  BOOST_TEST((name.error().code == errc::invalid_argument));
  BOOST_TEST(name.error().context
             == "a schedule's name must have 1 to 200 characters");
  BOOST_TEST(!check_schedule(std::string(201, 'n'), "0 3 * * *", spec));
  auto cron = check_schedule("nightly", "61 * * * *", spec);
  BOOST_REQUIRE(!cron);
  BOOST_TEST((cron.error().code == errc::invalid_argument));
  BOOST_TEST(cron.error().context.find("minute") != std::string::npos);
  auto bad = one_step();
  bad.steps.clear();
  auto no_steps = check_schedule("nightly", "0 3 * * *", bad);
  BOOST_REQUIRE(!no_steps);
  BOOST_TEST((no_steps.error().code == errc::invalid_spec));
}

BOOST_AUTO_TEST_CASE(a_schedule_refuses_not_before_since_its_cron_says_when) {
  auto spec = one_step();
  spec.not_before = now;
  auto res = check_schedule("nightly", "0 3 * * *", spec);
  BOOST_REQUIRE(!res);
  BOOST_TEST((res.error().code == errc::invalid_spec));
  BOOST_TEST(res.error().context
             == "schedule \"nightly\": spec: field \"not_before\" has no "
                "meaning in a schedule (its cron expression says when)");
}

BOOST_AUTO_TEST_CASE(
  an_added_schedule_is_due_at_the_next_match_and_keeps_the_last_run) {
  auto x = hourly();
  BOOST_TEST(x.name == "hourly");
  BOOST_TEST(x.created_at == now);
  BOOST_TEST(x.next_due == next_hour);
  BOOST_TEST(x.last_fired == 0u);
  auto old = x;
  old.last_fired = now - 5;
  old.last_pid = "0123456789abcdef0123456789abcdef";
  transition t;
  t.kind = transition_kind::schedule_add;
  t.schedule = "hourly";
  t.cron = "30 * * * *";
  t.spec = x.spec;
  auto expr = parse_cron(t.cron);
  BOOST_REQUIRE(expr);
  auto replaced = added_schedule(t, *expr, old, now);
  BOOST_TEST(replaced.cron == "30 * * * *");
  BOOST_TEST(replaced.next_due == next_hour - 30 * 60 * 1000);
  BOOST_TEST(replaced.last_fired == now - 5);
  BOOST_TEST(replaced.last_pid == old.last_pid);
}

BOOST_AUTO_TEST_CASE(a_due_schedule_enqueues_one_run_of_its_spec) {
  auto x = hourly();
  BOOST_TEST(!schedule_due(x, now));
  BOOST_TEST(!schedule_due(x, next_hour - 1));
  BOOST_TEST(schedule_due(x, next_hour));
  auto never = x;
  never.next_due = 0;
  BOOST_TEST(!schedule_due(never, UINT64_MAX));
  auto t = schedule_run(x, "0123456789abcdef0123456789abcdef");
  BOOST_TEST((t.kind == transition_kind::enqueue));
  BOOST_TEST(t.pid == "0123456789abcdef0123456789abcdef");
  BOOST_TEST(t.source == "schedule");
  BOOST_TEST(t.schedule == "hourly");
  BOOST_TEST(t.due == next_hour);
  BOOST_TEST(t.spec.steps.size() == 1u);
}

BOOST_AUTO_TEST_CASE(
  a_run_moves_the_schedule_on_once_and_missed_runs_count_once) {
  auto x = hourly();
  auto t = schedule_run(x, "0123456789abcdef0123456789abcdef");
  // Three hours late (no runner was up): one run, then the next full hour.
  auto late = next_hour + 3 * 3'600'000 + 10;
  auto moved = advance_schedule(x, t, late);
  BOOST_REQUIRE(moved);
  BOOST_TEST(moved->next_due == next_hour + 4 * 3'600'000);
  BOOST_TEST(moved->last_fired == late);
  BOOST_TEST(moved->last_pid == t.pid);
  // A second runner fires the same due time: refused.
  auto again = advance_schedule(*moved, t, late);
  BOOST_REQUIRE(!again);
  BOOST_TEST((again.error().code == errc::illegal_transition));
  BOOST_TEST(again.error().context.find("schedule \"hourly\" already ran for")
             == 0u);
}

BOOST_AUTO_TEST_CASE(the_earliest_due_time_ignores_schedules_that_never_run) {
  auto a = hourly();
  auto b = a;
  b.next_due = next_hour + 10;
  auto never = a;
  never.next_due = 0;
  BOOST_TEST(earliest_due(0, {}) == 0u);
  BOOST_TEST(earliest_due(0, {never}) == 0u);
  BOOST_TEST(earliest_due(0, {b, never, a}) == next_hour);
  BOOST_TEST(earliest_due(next_hour - 1, {b, a}) == next_hour - 1);
  BOOST_TEST(earliest_due(next_hour + 99, {b}) == next_hour + 10);
}

BOOST_AUTO_TEST_SUITE_END()
