// What the store's indexes hold (schema 4): no entry that another index
// already implies. Queued records are found through the queue and delayed
// tables, terminal ones through the expiry index, so the status index
// holds only running and interrupted records; the log's last key is its
// last sequence number. A schema 3 store is upgraded when it is opened.

#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "procman/persistence/codec.hpp"

#include "persistence/raw_store.hpp"
#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
using ps = process_status;

namespace {

std::string status_key(ps s, const std::string& pid) {
  return codec::u8_pid_key(static_cast<uint8_t>(s), pid);
}

std::vector<std::string> pids(const std::vector<process_record>& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(x.pid);
  return out;
}

std::vector<std::string> listed(store& st, ps s) {
  list_query q;
  q.any_status = false;
  q.status = s;
  return pids(must(st.list(q), "list"));
}

struct index_fixture : store_fixture {
  process_record queued, running, interrupted, finished, cancelled;

  index_fixture() {
    queued = make_in(ps::queued);
    clock_ms += 1;
    running = make_in(ps::running);
    clock_ms += 1;
    interrupted = make_in(ps::interrupted);
    clock_ms += 1;
    finished = make_in(ps::finished);
    clock_ms += 1;
    cancelled = apply(transition_kind::cancel, make_in(ps::queued).pid);
  }

  /// Every status finds its records, through whichever index holds them.
  void check_lists() {
    using v = std::vector<std::string>;
    BOOST_TEST(listed(*st, ps::queued) == v{queued.pid},
               boost::test_tools::per_element());
    BOOST_TEST(listed(*st, ps::running) == v{running.pid},
               boost::test_tools::per_element());
    BOOST_TEST(listed(*st, ps::interrupted) == v{interrupted.pid},
               boost::test_tools::per_element());
    BOOST_TEST(listed(*st, ps::finished) == v{finished.pid},
               boost::test_tools::per_element());
    BOOST_TEST(listed(*st, ps::cancelled) == v{cancelled.pid},
               boost::test_tools::per_element());
    BOOST_TEST(listed(*st, ps::error).empty());
    BOOST_TEST(pids(must(st->with_status(ps::finished))) == v{finished.pid},
               boost::test_tools::per_element());
    BOOST_TEST(pids(must(st->with_status(ps::running))) == v{running.pid},
               boost::test_tools::per_element());
    BOOST_TEST(pids(must(st->with_status(ps::queued))) == v{queued.pid},
               boost::test_tools::per_element());
  }

  std::vector<std::string> expected_status_keys() {
    auto a = status_key(ps::running, running.pid);
    auto b = status_key(ps::interrupted, interrupted.pid);
    return {a, b};
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_indexes, index_fixture)

BOOST_AUTO_TEST_CASE(
  the_status_index_holds_only_running_and_interrupted_records) {
  check_lists();
  auto dir = st->dir();
  st.reset();
  raw_store raw{dir};
  BOOST_TEST(raw.keys("status") == expected_status_keys(),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(
  a_schema_3_store_loses_the_implied_entries_and_lists_alike) {
  auto dir = st->dir();
  st.reset();
  {
    // As a schema 3 store has them: an entry for every record.
    raw_store raw{dir};
    for (auto* rec : {&queued, &finished, &cancelled})
      raw.put("status", status_key(rec->status, rec->pid), "");
    raw.put("meta", "schema", std::string("\0\0\0\3", 4));
    raw.commit();
  }
  st = must(store::open(options()));
  check_lists();
  st.reset();
  raw_store raw{dir};
  BOOST_TEST(raw.keys("status") == expected_status_keys(),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sequence_numbers_go_on_after_the_log_was_emptied) {
  auto last = last_seq();
  BOOST_TEST(last > 0u);
  // Past the retention period: the records go (purge entries) and so does
  // every log entry but those.
  clock_ms += defaults::retention_ms + 1000;
  BOOST_TEST(must(st->purge(defaults::retention_ms * 2, "client")) == 0u);
  BOOST_TEST(must(st->log(0)).empty());
  BOOST_TEST(last_seq() == last);
  auto rec = enqueue();
  auto entries = must(st->log(0));
  BOOST_REQUIRE_EQUAL(entries.size(), 1u);
  BOOST_TEST(entries[0].seq == last + 1);
  BOOST_TEST(entries[0].what.pid == rec.pid);
}

BOOST_AUTO_TEST_SUITE_END()
