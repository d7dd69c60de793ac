// The counters table (persistence/counters.hpp): every transition moves
// its counters in its own commit, a refused one moves none, a purge takes
// its records out, and a store without the table gets it built from its
// records when it is opened.

#include <map>

#include <boost/test/unit_test.hpp>

#include "persistence/raw_store.hpp"
#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

using tk = transition_kind;

struct counters_fixture : store_fixture {
  /// The counters as the store reports them, by name.
  std::map<std::string, uint64_t> counters() {
    auto m = must(st->metrics(), "metrics");
    std::map<std::string, uint64_t> out;
    for (size_t i = 0; i < m.names.size(); ++i)
      out[m.names[i]] = m.values[i];
    return out;
  }

  uint64_t counter(const std::string& name) {
    auto all = counters();
    auto it = all.find(name);
    return it == all.end() ? 0 : it->second;
  }

  /// The records per status, as procman list sees them.
  std::map<std::string, uint64_t> listed() {
    std::map<std::string, uint64_t> out;
    for (auto& rec : must(st->list(list_query{}), "list"))
      ++out["state:" + to_string(rec.status)];
    return out;
  }

  /// The state gauges that are not zero.
  std::map<std::string, uint64_t> states() {
    std::map<std::string, uint64_t> out;
    for (auto& [name, x] : counters())
      if (name.rfind("state:", 0) == 0 && x > 0)
        out[name] = x;
    return out;
  }

  /// Without the gauges of commits and commit latencies, which change
  /// with every write.
  std::map<std::string, uint64_t> without_commits() {
    auto all = counters();
    for (auto it = all.begin(); it != all.end();)
      if (it->first.find("commit") != std::string::npos)
        it = all.erase(it);
      else
        ++it;
    return all;
  }

  /// A fresh process of `steps` steps, claimed by runner r1.
  process_record claimed(size_t steps) {
    auto rec = enqueue(steps);
    auto claim = make_transition(tk::claim, rec.pid);
    claim.runner = "r1";
    return apply(claim);
  }

  /// Ends the run of `pid` as its executor's crash.
  void crash(const std::string& pid) {
    auto t = make_transition(tk::fail, pid);
    t.error.kind = error_kind::crash;
    t.error.message = "executor died";
    apply(t);
  }

  /// A mix of every status.
  void mix() {
    for (auto s : {process_status::queued, process_status::running,
                   process_status::interrupted, process_status::finished,
                   process_status::finished, process_status::error,
                   process_status::cancelled})
      make_in(s);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_counters, counters_fixture)

BOOST_AUTO_TEST_CASE(each_transition_moves_its_counters) {
  mix();
  BOOST_TEST(states() == listed());
  BOOST_TEST(counter("total:enqueued") == 7u);
  BOOST_TEST(counter("total:claimed") == 6u);
  BOOST_TEST(counter("total:finished") == 2u);
  BOOST_TEST(counter("total:failed:exception") == 1u);
  BOOST_TEST(counter("total:attempt_failed:exception") == 1u);
  BOOST_TEST(counter("total:cancelled") == 1u);
  BOOST_TEST(counter("total:interrupted") == 1u);
  BOOST_TEST(counter("queued:0") == 1u);
  // One wait per claim, measured from the due time on the store's clock.
  BOOST_TEST(counter("hist:wait:count") == 6u);
  BOOST_TEST(counter("hist:wait:le:1") == 6u);
  BOOST_TEST(counter("total:commits") > 7u);
}

BOOST_AUTO_TEST_CASE(queue_depth_follows_priority_and_claims) {
  auto high = enqueue_of(spec_json(1));
  high.spec.priority = 5;
  apply(high);
  apply(high);
  enqueue();
  BOOST_TEST(counter("queued:5") == 2u);
  BOOST_TEST(counter("queued:0") == 1u);
  clock_ms += 2500;
  auto m = must(st->metrics(), "metrics");
  BOOST_TEST_REQUIRE(m.priorities.size() == 2u);
  for (size_t i = 0; i < m.priorities.size(); ++i)
    BOOST_TEST(m.time - m.oldest_due[i] == 2500u);
  auto claimed = must(st->claim("r1", 1), "claim");
  BOOST_TEST_REQUIRE(claimed.size() == 1u);
  BOOST_TEST(claimed[0].priority == 5);
  BOOST_TEST(counter("queued:5") == 1u);
  BOOST_TEST(counter("hist:wait:le:2500") == 1u);
  BOOST_TEST(counter("hist:wait:sum") == 2500u);
}

BOOST_AUTO_TEST_CASE(run_and_step_durations_are_measured_from_their_starts) {
  auto rec = claimed(2);
  clock_ms += 10;
  auto start = make_transition(tk::start, rec.pid);
  start.runner = "r1";
  apply(start);
  auto step = make_transition(tk::step_started, rec.pid);
  step.step = 0;
  apply(step);
  clock_ms += 40;
  auto done = make_transition(tk::step_completed, rec.pid);
  done.step = 0;
  done.output = "{}";
  apply(done);
  clock_ms += 60;
  auto fin = make_transition(tk::finish, rec.pid);
  fin.output = "{}";
  apply(fin);
  BOOST_TEST(counter("hist:step:echo:le:50") == 1u);
  BOOST_TEST(counter("hist:step:echo:sum") == 40u);
  BOOST_TEST(counter("hist:run:le:50") == 0u);
  BOOST_TEST(counter("hist:run:le:100") == 1u);
  BOOST_TEST(counter("hist:run:sum") == 100u);
  BOOST_TEST(counter("total:started") == 1u);
}

BOOST_AUTO_TEST_CASE(a_run_start_is_kept_in_its_status_entry_and_goes_with_it) {
  auto rec = claimed(2);
  clock_ms += 10;
  auto start = make_transition(tk::start, rec.pid);
  start.runner = "r1";
  apply(start);
  auto at = clock_ms;
  st.reset();
  {
    // The running record's status entry holds the start; no table of its
    // own is written for it.
    raw_store raw{tmp.str() + "/store"};
    auto key = std::string(1, static_cast<char>(process_status::running))
               + rec.pid;
    auto value = raw.get("status", key);
    BOOST_TEST_REQUIRE(value.size() == 8u);
    uint64_t x = 0;
    for (auto c : value)
      x = (x << 8) | static_cast<uint8_t>(c);
    BOOST_TEST(x == at);
    BOOST_TEST(raw.keys("run_times").empty());
  }
  st = must(store::open(options()), "store::open");
  clock_ms += 30;
  crash(rec.pid);
  BOOST_TEST(counter("hist:run:le:50") == 1u);
  BOOST_TEST(counter("hist:run:sum") == 30u);
  st.reset();
  raw_store raw{tmp.str() + "/store"};
  BOOST_TEST(raw.keys("status").empty());
}

BOOST_AUTO_TEST_CASE(a_run_whose_executor_never_started_has_no_run_time) {
  auto rec = claimed(2);
  clock_ms += 20;
  crash(rec.pid);
  BOOST_TEST(counter("hist:run:count") == 0u);
  BOOST_TEST(counter("total:started") == 0u);
}

BOOST_AUTO_TEST_CASE(run_times_an_older_procman_left_are_dropped_on_open) {
  make_in(process_status::running);
  st.reset();
  {
    raw_store raw{tmp.str() + "/store"};
    raw.put("run_times", "0123456789abcdef0123456789abcdef",
            std::string(16, '\0'));
    raw.commit();
  }
  st = must(store::open(options()), "store::open");
  st.reset();
  raw_store raw{tmp.str() + "/store"};
  BOOST_TEST(raw.keys("run_times").empty());
}

BOOST_AUTO_TEST_CASE(a_refused_transition_moves_nothing) {
  mix();
  auto before = without_commits();
  auto done = make_in(process_status::finished);
  auto after_finish = without_commits();
  auto again = make_transition(tk::finish, done.pid);
  again.output = "{}";
  BOOST_TEST(!st->apply(again));
  auto cancel = make_transition(tk::cancel, "0123456789abcdef0123456789abcdef");
  BOOST_TEST(!st->apply(cancel));
  BOOST_TEST(without_commits() == after_finish);
  BOOST_TEST(after_finish != before);
}

BOOST_AUTO_TEST_CASE(a_purge_takes_its_records_out_of_the_gauges) {
  mix();
  clock_ms += 1000;
  BOOST_TEST(must(st->purge(0, "client"), "purge") == 4u);
  BOOST_TEST(states() == listed());
  BOOST_TEST(counter("state:finished") == 0u);
  BOOST_TEST(counter("total:purged") == 4u);
  // What ended before stays counted.
  BOOST_TEST(counter("total:finished") == 2u);
}

BOOST_AUTO_TEST_CASE(a_store_without_counters_gets_them_built_on_open) {
  mix();
  auto expected = states();
  auto queued = counter("queued:0");
  st.reset();
  {
    // As a procman of schema 4 left it: no counters, no run times.
    raw_store raw{tmp.str() + "/store"};
    raw.clear("counters");
    raw.clear("run_times");
    raw.put("meta", "schema", std::string{"\0\0\0\4", 4});
    raw.commit();
  }
  st = must(store::open(options()), "store::open");
  BOOST_TEST(states() == expected);
  BOOST_TEST(states() == listed());
  BOOST_TEST(counter("queued:0") == queued);
  // The terminal records present are counted as having ended.
  BOOST_TEST(counter("total:finished") == 2u);
  BOOST_TEST(counter("total:failed:exception") == 1u);
  BOOST_TEST(counter("built") == 1u);
  // Built once: transitions after move them as usual.
  make_in(process_status::finished);
  BOOST_TEST(counter("total:finished") == 3u);
  st.reset();
  st = must(store::open(options()), "store::open");
  BOOST_TEST(counter("total:finished") == 3u);
  BOOST_TEST(states() == listed());
}

BOOST_AUTO_TEST_SUITE_END()
