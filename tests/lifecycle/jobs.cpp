// The life cycle's job rules without a store: retries and their backoff, a
// retry by hand, step outputs that move where a later run starts; and the
// cron expressions of schedules.

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/lifecycle/cron.hpp"
#include "procman/lifecycle/machine.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/json.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/messages/time.hpp"

using namespace procman;
using tk = transition_kind;
using ps = process_status;

namespace {

const std::string pid = "0123456789abcdef0123456789abcdef";
constexpr uint64_t now = 1'700'000'000'000;

process_record running_with(retry_policy retry) {
  transition t;
  t.kind = tk::enqueue;
  t.pid = pid;
  t.spec.steps = {{"a", "procman.set", "{}", {}},
                  {"b", "procman.set", "{}", {}},
                  {"c", "procman.set", "{}", {}}};
  t.spec.retry = retry;
  auto rec = *next(nullptr, t, now);
  transition c;
  c.kind = tk::claim;
  c.pid = pid;
  c.runner = "r1";
  return *next(&rec, c, now);
}

transition fail_of(error_kind kind, const std::string& step = "b") {
  transition t;
  t.kind = tk::fail;
  t.pid = pid;
  t.error.kind = kind;
  t.error.step = step;
  t.error.message = "boom";
  return t;
}

process_record must(outcome<process_record> x) {
  if (!x)
    BOOST_FAIL("refused: " + render(x.error()));
  return std::move(*x);
}

uint64_t at(const std::string& text) {
  auto x = parse_time(text);
  BOOST_REQUIRE(x);
  return *x;
}

std::string next_of(const std::string& cron, const std::string& after) {
  auto e = parse_cron(cron);
  BOOST_REQUIRE_MESSAGE(e, cron);
  return iso_time(next_cron_time(*e, at(after)));
}

} // namespace

BOOST_AUTO_TEST_SUITE(lifecycle_jobs)

BOOST_AUTO_TEST_CASE(
  a_failure_with_retries_left_queues_the_process_after_the_backoff) {
  retry_policy p;
  p.max = 2;
  p.initial_ms = 1000;
  auto rec = running_with(p);
  auto after = must(next(&rec, fail_of(error_kind::exception), now));
  BOOST_TEST((after.status == ps::queued));
  BOOST_TEST(after.not_before == now + 1000);
  BOOST_TEST(after.attempts == 1u);
  BOOST_REQUIRE_EQUAL(after.attempt_errors.size(), 1u);
  BOOST_TEST(after.attempt_errors[0].attempt == 1u);
  BOOST_TEST(after.attempt_errors[0].at == now);
  BOOST_TEST(after.attempt_errors[0].error.message == "boom");
  BOOST_TEST(after.finished_at == 0u);
  BOOST_TEST((after.step_states[1] == step_status::failed));
  // Claimed again: the failed step runs again, the backoff is over.
  transition c;
  c.kind = tk::claim;
  c.pid = pid;
  auto again = must(next(&after, c, now + 1000));
  BOOST_TEST(again.not_before == 0u);
  BOOST_TEST((again.step_states[1] == step_status::pending));
  auto second = must(next(&again, fail_of(error_kind::timeout), now + 2000));
  BOOST_TEST((second.status == ps::queued));
  BOOST_TEST(second.not_before == now + 2000 + 2000); // doubled
  auto third = must(next(&second, c, now + 4000));
  auto last = must(next(&third, fail_of(error_kind::crash), now + 5000));
  BOOST_TEST((last.status == ps::error));
  BOOST_TEST(last.attempts == 3u);
  BOOST_TEST(last.attempt_errors.size() == 3u);
  BOOST_TEST(last.finished_at == now + 5000);
}

BOOST_AUTO_TEST_CASE(spec_output_and_unlisted_kinds_end_the_process_at_once) {
  retry_policy p;
  p.max = 5;
  p.on = retry_bit(error_kind::timeout);
  for (auto k : {error_kind::spec, error_kind::output, error_kind::exception}) {
    auto rec = running_with(p);
    auto after = must(next(&rec, fail_of(k), now));
    BOOST_TEST((after.status == ps::error), to_string(k));
    BOOST_TEST(after.attempts == 1u);
  }
  // Without a policy nothing is counted: records look as before.
  auto plain = running_with({});
  auto after = must(next(&plain, fail_of(error_kind::exception), now));
  BOOST_TEST((after.status == ps::error));
  BOOST_TEST(after.attempts == 0u);
  BOOST_TEST(plain_record(after));
}

BOOST_AUTO_TEST_CASE(
  node_lost_is_retried_only_when_listed_and_survives_the_json_round_trip) {
  auto listed = parse_spec(R"({"steps": {"a": {"class": "procman.set"}},
    "retry": {"max": 2, "on": ["runner_lost", "node_lost"]}})");
  BOOST_REQUIRE(listed);
  BOOST_TEST((listed->retry.on & retry_bit(error_kind::node_lost)) != 0);
  auto text = boost::json::serialize(boost::json::value_from(listed->retry));
  BOOST_TEST(text.find("\"node_lost\"") != std::string::npos, text);
  auto rec = running_with(listed->retry);
  auto after = must(next(&rec, fail_of(error_kind::node_lost), now));
  BOOST_TEST((after.status == ps::queued));
  // The default list leaves it out.
  rec = running_with(retry_policy{5});
  after = must(next(&rec, fail_of(error_kind::node_lost), now));
  BOOST_TEST((after.status == ps::error));
}

BOOST_AUTO_TEST_CASE(
  backoff_grows_exponentially_up_to_max_delay_or_stays_fixed) {
  retry_policy p;
  p.initial_ms = 1000;
  p.max_delay_ms = 5000;
  BOOST_TEST(retry_delay(p, 1) == 1000u);
  BOOST_TEST(retry_delay(p, 2) == 2000u);
  BOOST_TEST(retry_delay(p, 3) == 4000u);
  BOOST_TEST(retry_delay(p, 4) == 5000u);
  BOOST_TEST(retry_delay(p, 1000) == 5000u);
  p.backoff = backoff_kind::fixed;
  BOOST_TEST(retry_delay(p, 7) == 1000u);
  p.initial_ms = 0;
  p.backoff = backoff_kind::exponential;
  BOOST_TEST(retry_delay(p, 3) == 0u);
}

BOOST_AUTO_TEST_CASE(a_step_output_moves_where_the_next_run_starts) {
  auto rec = running_with({});
  transition t;
  t.kind = tk::step_completed;
  t.pid = pid;
  t.step = 0;
  t.output = R"({"x":1})";
  auto after = must(next(&rec, t, now));
  BOOST_TEST(after.next_step == 1u);
  BOOST_TEST(after.data == R"({"x":1})");
  BOOST_TEST(after.last_completed == 0);
  // Without an output (an older executor) nothing moves.
  t.output.clear();
  auto plain = must(next(&rec, t, now));
  BOOST_TEST(plain.next_step == 0u);
  t.output = "{not json";
  BOOST_TEST(!next(&rec, t, now));
}

BOOST_AUTO_TEST_CASE(
  retry_by_hand_queues_an_errored_process_and_keeps_its_attempts) {
  auto rec = running_with({});
  auto failed = must(next(&rec, fail_of(error_kind::exception), now));
  transition r;
  r.kind = tk::retry;
  r.pid = pid;
  auto queued = must(next(&failed, r, now + 10));
  BOOST_TEST((queued.status == ps::queued));
  BOOST_TEST(queued.finished_at == 0u);
  BOOST_TEST((queued.error.kind == error_kind::none));
  BOOST_TEST(queued.attempts == 1u);
  BOOST_REQUIRE_EQUAL(queued.attempt_errors.size(), 1u);
  BOOST_TEST(queued.attempt_errors[0].error.message == "boom");
  auto err = next(&queued, r, now);
  BOOST_REQUIRE(!err);
  BOOST_TEST(render(err.error()) == pid + ": cannot retry a queued process");
}

BOOST_AUTO_TEST_CASE(only_the_latest_attempt_errors_are_kept) {
  retry_policy p;
  p.max = 50;
  p.initial_ms = 0;
  auto rec = running_with(p);
  transition c;
  c.kind = tk::claim;
  c.pid = pid;
  for (int i = 0; i < 15; ++i) {
    rec = must(next(&rec, fail_of(error_kind::exception), now));
    rec = must(next(&rec, c, now));
  }
  BOOST_TEST(rec.attempts == 15u);
  BOOST_REQUIRE_EQUAL(rec.attempt_errors.size(), defaults::max_attempt_errors);
  BOOST_TEST(rec.attempt_errors.front().attempt == 6u);
  BOOST_TEST(rec.attempt_errors.back().attempt == 15u);
}

BOOST_AUTO_TEST_CASE(schedule_events_are_not_a_processs_transitions) {
  auto rec = running_with({});
  transition t;
  t.kind = tk::schedule_add;
  t.pid = pid;
  auto res = next(&rec, t, now);
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::invalid_argument)));
}

// -- cron ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(cron_fields_lists_ranges_steps_and_names) {
  auto from = "2026-12-01T10:07:30Z"; // a Tuesday
  BOOST_TEST(next_of("* * * * *", from) == "2026-12-01T10:08:00Z");
  BOOST_TEST(next_of("*/15 * * * *", from) == "2026-12-01T10:15:00Z");
  BOOST_TEST(next_of("5,40 * * * *", from) == "2026-12-01T10:40:00Z");
  BOOST_TEST(next_of("0 9-17/4 * * *", from) == "2026-12-01T13:00:00Z");
  BOOST_TEST(next_of("30 2 * * *", from) == "2026-12-02T02:30:00Z");
  BOOST_TEST(next_of("0 0 1 * *", from) == "2027-01-01T00:00:00Z");
  BOOST_TEST(next_of("0 0 * feb *", from) == "2027-02-01T00:00:00Z");
  BOOST_TEST(next_of("0 12 * * sat", from) == "2026-12-05T12:00:00Z");
  BOOST_TEST(next_of("0 12 * * 7", from) == "2026-12-06T12:00:00Z"); // Sunday
  BOOST_TEST(next_of("0 12 * * Mon-Fri", from) == "2026-12-01T12:00:00Z");
  BOOST_TEST(next_of("0 0 29 2 *", from) == "2028-02-29T00:00:00Z");
  // Day of month or day of week when both are given (Vixie cron).
  BOOST_TEST(next_of("0 0 15 * fri", from) == "2026-12-04T00:00:00Z");
  // Seconds as a sixth, first field.
  BOOST_TEST(next_of("*/20 * * * * *", from) == "2026-12-01T10:07:40Z");
  BOOST_TEST(next_of("@hourly", from) == "2026-12-01T11:00:00Z");
  BOOST_TEST(next_of("@daily", from) == "2026-12-02T00:00:00Z");
  BOOST_TEST(next_of("@weekly", from) == "2026-12-06T00:00:00Z");
  BOOST_TEST(next_of("@monthly", from) == "2027-01-01T00:00:00Z");
  BOOST_TEST(next_of("@yearly", from) == "2027-01-01T00:00:00Z");
  // Strictly after: a time that matches gives the next one.
  BOOST_TEST(next_of("8 10 * * *", "2026-12-01T10:08:00Z")
             == "2026-12-02T10:08:00Z");
  // 29 February: in leap years only.
  BOOST_TEST(next_of("0 0 29 2 *", from) == "2028-02-29T00:00:00Z");
  // 31 February or a Monday: February's Mondays (either day matches).
  BOOST_TEST(next_of("0 0 31 2 mon", from) == "2027-02-01T00:00:00Z");
}

BOOST_AUTO_TEST_CASE(cron_days_that_no_month_named_has_never_fire_and_fail) {
  auto why = [](const std::string& text) {
    auto e = parse_cron(text);
    BOOST_REQUIRE_MESSAGE(!e, text);
    BOOST_TEST((e.error().code == errc::invalid_argument));
    return e.error().context;
  };
  BOOST_TEST(why("0 0 31 2 *")
             == "cron \"0 0 31 2 *\": day-of-month and "
                "month: February never has day 31, so it "
                "never fires");
  BOOST_TEST(why("0 0 30,31 feb *")
             == "cron \"0 0 30,31 feb *\": "
                "day-of-month and month: February never "
                "has day 30, 31, so it never fires");
  BOOST_TEST(why("0 0 31 4,6,9,11 *")
             == "cron \"0 0 31 4,6,9,11 *\": "
                "day-of-month and month: April, June, "
                "September, November never have day "
                "31, so it never fires");
  BOOST_TEST(static_cast<bool>(parse_cron("0 0 31 * *")));
  BOOST_TEST(static_cast<bool>(parse_cron("0 0 30 1-3 *")));
}

BOOST_AUTO_TEST_CASE(bad_cron_expressions_name_the_field) {
  auto why = [](const std::string& text) {
    auto e = parse_cron(text);
    BOOST_REQUIRE(!e);
    BOOST_TEST((e.error().code == errc::invalid_argument));
    return e.error().context;
  };
  BOOST_TEST(why("61 * * * *")
             == "cron \"61 * * * *\": minute: 61 is out of range 0-59");
  BOOST_TEST(why("* * *")
             == "cron \"* * *\": expected 5 fields (minute hour "
                "day-of-month month day-of-week) or 6 (second "
                "first), got 3");
  BOOST_TEST(why("* 5-2 * * *").find("hour: range 5-2 goes backwards")
             != std::string::npos);
  BOOST_TEST(why("* * * foo *").find("month: \"foo\" is not a valid value")
             != std::string::npos);
  BOOST_TEST(why("*/0 * * * *").find("minute: step \"0\"")
             != std::string::npos);
  BOOST_TEST(why("* * 0 * *").find("day-of-month: 0 is out of range 1-31")
             != std::string::npos);
  BOOST_TEST(why("@sometimes").find("unknown shorthand") != std::string::npos);
  BOOST_TEST(why("1,,2 * * * *").find("empty list item") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(times_are_read_as_utc_timestamps_or_iso_8601) {
  BOOST_TEST(at("20261201100000") == at("2026-12-01T10:00:00Z"));
  BOOST_TEST(at("2026-12-01T11:00:00+01:00") == at("2026-12-01T10:00:00Z"));
  BOOST_TEST(at("2026-12-01T10:00:00.250Z")
             == at("2026-12-01T10:00:00Z") + 250);
  BOOST_TEST(iso_time(at("2026-12-01T10:00:00.250Z"))
             == "2026-12-01T10:00:00.250Z");
  for (auto bad : {"tomorrow", "2026-12-01", "2026-12-01T10:00:00",
                   "20261301000000", "2026-12-01T10:00:00+1"})
    BOOST_TEST(!parse_time(bad), bad);
}

BOOST_AUTO_TEST_CASE(a_day_beyond_its_month_or_a_second_60_is_no_time) {
  auto why = [](const std::string& text) {
    auto t = parse_time(text);
    BOOST_REQUIRE_MESSAGE(!t, text << " was read as " << (t ? *t : 0));
    BOOST_TEST((t.error().code == errc::invalid_spec));
    return t.error().context;
  };
  BOOST_TEST(why("2026-02-29T10:00:00Z")
             == "\"2026-02-29T10:00:00Z\" is not a time: February 2026 has "
                "28 days, not 29 (2026 is not a leap year)");
  BOOST_TEST(why("21000229000000")
             == "\"21000229000000\" is not a time: February 2100 has 28 "
                "days, not 29 (2100 is not a leap year)");
  BOOST_TEST(why("2026-04-31T00:00:00Z")
             == "\"2026-04-31T00:00:00Z\" is not a time: April 2026 has 30 "
                "days, not 31");
  BOOST_TEST(why("2026-02-30T00:00:00+01:00")
               .find("February 2026 has 28 "
                     "days, not 30")
             != std::string::npos);
  BOOST_TEST(why("2026-12-31T23:59:60Z")
             == "\"2026-12-31T23:59:60Z\" is not a time: second 60 (a leap "
                "second) is not a time procman can keep; the seconds go from "
                "00 to 59");
  BOOST_TEST(why("20261231235960").find("second 60") != std::string::npos);
  // Leap years: every 4th, not every 100th, but every 400th.
  BOOST_TEST(at("2028-02-29T10:00:00Z")
             == at("2028-02-28T10:00:00Z") + 86400000);
  BOOST_TEST(static_cast<bool>(parse_time("20000229000000")));
  BOOST_TEST(static_cast<bool>(parse_time("2026-04-30T23:59:59Z")));
}

BOOST_AUTO_TEST_SUITE_END()
