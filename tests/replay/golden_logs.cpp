// Golden logs recorded from real runs (tests/data/record-golden-logs.sh),
// every tests/data/*.jsonl and those older versions recorded
// (tests/data/older/*.jsonl), replay clean, and an altered event is caught
// at its sequence number.

#include <algorithm>

#include <boost/json.hpp>

#include "replay_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

/// The seq of the first entry in `log` with this event (and error kind).
uint64_t first_seq(const log_file& log, transition_kind kind,
                   error_kind ek = error_kind::none) {
  for (auto& e : log.entries)
    if (e.what.kind == kind
        && (ek == error_kind::none || e.what.error.kind == ek))
      return e.seq;
  BOOST_FAIL("no such entry in the log");
  return 0;
}

log_entry& entry(log_file& log, uint64_t seq) {
  for (auto& e : log.entries)
    if (e.seq == seq)
      return e;
  BOOST_FAIL("no entry with seq " << seq);
  return log.entries.front();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(golden_replay, replay_fixture)

BOOST_AUTO_TEST_CASE(every_golden_log_replays_clean) {
  auto names = golden_logs();
  auto older = golden_logs("older");
  names.insert(names.end(), older.begin(), older.end());
  for (auto& name : names) {
    BOOST_TEST_CONTEXT("log " << name) {
      auto log = load(name);
      BOOST_TEST(!log.entries.empty());
      auto report = replay(log);
      BOOST_TEST(report.ok());
      BOOST_TEST(report.checked == log.entries.size());
      BOOST_TEST(report.records_checked == log.records.size());
      BOOST_TEST(report.skipped.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(the_golden_logs_cover_every_lifecycle_path) {
  auto has = [](const std::string& name, transition_kind kind,
                error_kind ek = error_kind::none) {
    auto log = load(name);
    for (auto& e : log.entries)
      if (e.what.kind == kind
          && (ek == error_kind::none || e.what.error.kind == ek))
        return true;
    return false;
  };
  BOOST_TEST(has("finished.jsonl", transition_kind::finish));
  BOOST_TEST(has("error.jsonl", transition_kind::fail, error_kind::exception));
  BOOST_TEST(has("error.jsonl", transition_kind::fail, error_kind::spec));
  BOOST_TEST(has("error.jsonl", transition_kind::fail, error_kind::output));
  BOOST_TEST(has("error.jsonl", transition_kind::fail, error_kind::crash));
  BOOST_TEST(has("interrupted-proceeded.jsonl", transition_kind::interrupt));
  BOOST_TEST(has("interrupted-proceeded.jsonl", transition_kind::proceed));
  BOOST_TEST(has("timeout.jsonl", transition_kind::fail, error_kind::timeout));
  BOOST_TEST(has("cancel.jsonl", transition_kind::cancel));
  // A running process's cancel: its step ends cancelled, not pending.
  auto cancels = load("cancel.jsonl");
  BOOST_TEST(std::any_of(cancels.records.begin(), cancels.records.end(),
                         [](const process_record& r) {
                           return r.step_states.size() == 1
                                  && r.step_states[0] == step_status::cancelled;
                         }));
  BOOST_TEST(
    has("runner-lost.jsonl", transition_kind::fail, error_kind::runner_lost));
  BOOST_TEST(has("interleaved.jsonl", transition_kind::progress));
  BOOST_TEST(load("interleaved.jsonl").records.size() >= 10u);
  // A purge by hand (`procman purge --older-than`), then more work.
  auto retention = load("retention.jsonl");
  BOOST_TEST(std::count_if(retention.entries.begin(), retention.entries.end(),
                           [](const log_entry& e) {
                             return e.what.kind == transition_kind::purge
                                    && e.what.source == "client";
                           })
             == 2);
  BOOST_TEST((retention.entries.back().what.kind == transition_kind::finish));
  BOOST_TEST(has("jobs.jsonl", transition_kind::retry));
  BOOST_TEST(has("jobs.jsonl", transition_kind::schedule_add));
  BOOST_TEST(has("jobs.jsonl", transition_kind::schedule_remove));
  auto jobs = load("jobs.jsonl");
  auto count = [&](auto pred) {
    return std::count_if(jobs.entries.begin(), jobs.entries.end(), pred);
  };
  // A fail that queued the process again (a retry), a schedule's runs,
  // a step completion carrying its output, a delayed start.
  BOOST_TEST(count([](const log_entry& e) {
               return e.what.kind == transition_kind::fail
                      && e.status_after == process_status::queued;
             })
             >= 2);
  BOOST_TEST(count([](const log_entry& e) {
               return !e.what.schedule.empty() && e.what.due != 0;
             })
             >= 2);
  BOOST_TEST(count([](const log_entry& e) {
               return e.what.kind == transition_kind::step_completed
                      && !e.what.output.empty();
             })
             >= 2);
  BOOST_TEST(count([](const log_entry& e) {
               return e.what.kind == transition_kind::enqueue
                      && e.what.spec.not_before != 0;
             })
             == 1);
}

BOOST_AUTO_TEST_CASE(an_altered_payload_is_reported_at_its_seq) {
  auto log = load("interrupted-proceeded.jsonl");
  auto seq = first_seq(log, transition_kind::proceed);
  entry(log, seq).what.data = R"({"approved_by": "mallory"})";
  auto report = replay(log);
  BOOST_REQUIRE(!report.ok());
  BOOST_TEST(report.divergence->seq == seq);
  BOOST_TEST(report.divergence->expected.find("mallory") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(
  an_altered_retry_policy_is_reported_where_the_backoff_differs) {
  // The record after a retrying fail holds its not_before, which follows
  // from the policy: a log whose enqueue says another backoff diverges at
  // that fail.
  auto log = load("jobs.jsonl");
  uint64_t fail_seq = 0;
  std::string pid;
  for (auto& e : log.entries)
    if (e.what.kind == transition_kind::fail
        && e.status_after == process_status::queued) {
      fail_seq = e.seq;
      pid = e.what.pid;
      break;
    }
  BOOST_REQUIRE(fail_seq != 0);
  for (auto& e : log.entries)
    if (e.what.kind == transition_kind::enqueue && e.what.pid == pid)
      e.what.spec.retry.initial_ms += 1;
  auto report = replay(log);
  BOOST_REQUIRE(!report.ok());
  // The enqueue's record already differs (its policy), so it is caught
  // there at the latest.
  BOOST_TEST(report.divergence->seq <= fail_seq);
}

BOOST_AUTO_TEST_CASE(an_altered_schedule_run_is_reported_at_its_seq) {
  auto log = load("jobs.jsonl");
  for (auto& e : log.entries)
    if (e.what.kind == transition_kind::enqueue && !e.what.schedule.empty()) {
      e.what.due -= 1000; // a due time the schedule already ran for
      auto seq = e.seq;
      auto report = replay(log);
      BOOST_REQUIRE(!report.ok());
      BOOST_TEST(report.divergence->seq == seq);
      return;
    }
  BOOST_FAIL("no schedule run in jobs.jsonl");
}

BOOST_AUTO_TEST_CASE(an_altered_step_is_reported_at_its_seq) {
  auto log = load("finished.jsonl");
  auto seq = first_seq(log, transition_kind::step_completed);
  entry(log, seq).what.step += 1;
  auto report = replay(log);
  BOOST_REQUIRE(!report.ok());
  BOOST_TEST(report.divergence->seq == seq);
}

BOOST_AUTO_TEST_CASE(an_altered_time_is_reported_at_its_seq) {
  auto log = load("interleaved.jsonl");
  auto seq = log.entries[log.entries.size() / 2].seq;
  entry(log, seq).time += 1;
  auto report = replay(log);
  BOOST_REQUIRE(!report.ok());
  BOOST_TEST(report.divergence->seq == seq);
  // The virtual clock takes the altered time, so the record after the
  // transition (updated_at) no longer has the recorded digest.
  BOOST_TEST(report.divergence->reason.find("digest") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_altered_status_after_is_reported_at_its_seq) {
  auto log = load("timeout.jsonl");
  auto seq = first_seq(log, transition_kind::fail, error_kind::timeout);
  entry(log, seq).status_after = process_status::finished;
  auto report = replay(log);
  BOOST_REQUIRE(!report.ok());
  BOOST_TEST(report.divergence->seq == seq);
  BOOST_TEST(report.divergence->reason.find("status_after")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_altered_error_message_is_reported_at_its_seq) {
  auto log = load("error.jsonl");
  auto seq = first_seq(log, transition_kind::fail, error_kind::crash);
  entry(log, seq).what.error.stderr_tail = "something else";
  auto report = replay(log);
  BOOST_REQUIRE(!report.ok());
  BOOST_TEST(report.divergence->seq == seq);
}

BOOST_AUTO_TEST_CASE(a_claim_out_of_queue_order_is_reported) {
  auto log = load("error.jsonl");
  // Swap the pids of the first two claims: the queue hands out FIFO.
  std::vector<log_entry*> claims;
  for (auto& e : log.entries)
    if (e.what.kind == transition_kind::claim)
      claims.push_back(&e);
  BOOST_REQUIRE(claims.size() >= 2);
  std::swap(claims[0]->what.pid, claims[1]->what.pid);
  auto report = replay(log);
  BOOST_REQUIRE(!report.ok());
  BOOST_TEST(report.divergence->seq == claims[0]->seq);
}

BOOST_AUTO_TEST_CASE(a_missing_entry_is_reported) {
  auto log = load("cancel.jsonl");
  auto seq = first_seq(log, transition_kind::interrupt);
  log.entries.erase(std::find_if(log.entries.begin(), log.entries.end(),
                                 [&](auto& e) { return e.seq == seq; }));
  auto report = replay(log);
  BOOST_REQUIRE(!report.ok());
  BOOST_TEST(report.divergence->seq > seq);
}

BOOST_AUTO_TEST_CASE(an_altered_final_record_is_reported) {
  auto log = load("finished.jsonl");
  BOOST_REQUIRE(!log.records.empty());
  log.records.front().output = R"({"forged": true})";
  auto report = replay(log);
  BOOST_REQUIRE(!report.ok());
  BOOST_TEST(report.divergence->seq == 0u);
  BOOST_TEST(report.divergence->reason.find("output") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
