// Group commit (persistence/group_commit.hpp): transitions applied from
// several threads while a commit is under way wait and then share the next
// commit; each gets the result it would have had alone, a refused one
// among them included, and a commit that fails fails all of its batch.

#include "procman/persistence/group_commit.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

using tk = transition_kind;

/// Applies `ts[i]` on thread i through `g`, all at once, with a commit
/// that holds the first batch until every other transition waits: so the
/// first commit takes one transition and the second all the others.
struct group_fixture : store_fixture {
  group_commit g;
  std::mutex mtx;
  std::vector<size_t> batches;
  bool fail_commits = false;

  std::vector<outcome<process_record>> run(const std::vector<transition>& ts) {
    std::vector<std::optional<outcome<process_record>>> results(ts.size());
    auto commit = [&](const std::vector<transition>& batch) {
      bool first = false;
      {
        std::lock_guard<std::mutex> guard{mtx};
        first = batches.empty();
        batches.push_back(batch.size());
      }
      if (first) {
        auto deadline = std::chrono::steady_clock::now()
                        + std::chrono::seconds(30);
        while (g.waiting() < ts.size() - 1
               && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (fail_commits)
        throw std::runtime_error("disk gone");
      return st->apply(batch);
    };
    std::vector<std::thread> threads;
    for (size_t i = 0; i < ts.size(); ++i)
      threads.emplace_back([&, i] { results[i] = g.apply(ts[i], commit); });
    for (auto& t : threads)
      t.join();
    std::vector<outcome<process_record>> out;
    for (auto& r : results)
      out.push_back(std::move(*r));
    return out;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(group_commits, group_fixture)

BOOST_AUTO_TEST_CASE(concurrent_applies_share_one_commit) {
  std::vector<transition> ts;
  for (int i = 0; i < 16; ++i)
    ts.push_back(enqueue_of(spec_json(1), store::make_pid()));
  auto results = run(ts);
  BOOST_TEST(batches.size() == 2u);
  BOOST_TEST(batches.at(0) == 1u);
  BOOST_TEST(batches.at(1) == 15u);
  for (size_t i = 0; i < ts.size(); ++i) {
    BOOST_REQUIRE_MESSAGE(results[i], "enqueue " << i);
    BOOST_TEST(results[i]->pid == ts[i].pid); // its own record, not another's
    BOOST_TEST((results[i]->status == process_status::queued));
  }
  BOOST_TEST(must(st->stats()).records == 16u);
  BOOST_TEST(must(st->log(0)).size() == 16u);
}

BOOST_AUTO_TEST_CASE(a_refused_transition_fails_alone) {
  std::vector<transition> ts;
  for (int i = 0; i < 6; ++i)
    ts.push_back(enqueue_of(spec_json(1), store::make_pid()));
  ts[3] = make_transition(tk::cancel, store::make_pid()); // no such process
  auto results = run(ts);
  BOOST_TEST(batches.size() == 2u);
  for (size_t i = 0; i < ts.size(); ++i) {
    if (i == 3) {
      BOOST_REQUIRE(!results[i]);
      BOOST_TEST(is(results[i].error(), errc::unknown_process),
                 render(results[i].error()));
    } else {
      BOOST_REQUIRE_MESSAGE(results[i], "enqueue " << i);
      BOOST_TEST(results[i]->pid == ts[i].pid);
    }
  }
  BOOST_TEST(must(st->stats()).records == 5u);
}

BOOST_AUTO_TEST_CASE(starts_of_one_key_in_one_commit_make_one_process) {
  std::vector<transition> ts;
  for (int i = 0; i < 8; ++i)
    ts.push_back(enqueue_of(spec_json(1, 0, R"({"n":1}, "key": "once")"),
                            store::make_pid()));
  BOOST_REQUIRE(ts[0].spec.key == "once");
  auto results = run(ts);
  BOOST_TEST(batches.size() == 2u);
  std::set<std::string> pids;
  for (auto& r : results) {
    BOOST_REQUIRE(r);
    pids.insert(r->pid);
  }
  BOOST_TEST(pids.size() == 1u); // every caller sees the one holder
  BOOST_TEST(must(st->stats()).records == 1u);
}

BOOST_AUTO_TEST_CASE(a_failed_commit_fails_its_whole_batch) {
  fail_commits = true;
  std::vector<transition> ts;
  for (int i = 0; i < 4; ++i)
    ts.push_back(enqueue_of(spec_json(1), store::make_pid()));
  auto results = run(ts);
  for (auto& r : results) {
    BOOST_REQUIRE(!r);
    BOOST_TEST(is(r.error(), errc::storage_failure), render(r.error()));
    BOOST_TEST(render(r.error()).find("disk gone") != std::string::npos);
  }
  BOOST_TEST(must(st->stats()).records == 0u);
}

BOOST_AUTO_TEST_CASE(a_store_shares_commits_between_threads) {
  // The store's own single applies go through a group commit: many
  // threads at once, every start recorded once, under its own pid.
  std::vector<std::string> pids(32);
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (size_t i = 0; i < pids.size(); ++i)
    threads.emplace_back([&, i] {
      auto t = enqueue_of(spec_json(1), store::make_pid());
      auto rec = st->apply(t);
      if (!rec || rec->pid != t.pid)
        ++failed;
      else
        pids[i] = rec->pid;
    });
  for (auto& t : threads)
    t.join();
  BOOST_TEST(failed.load() == 0);
  BOOST_TEST(std::set<std::string>(pids.begin(), pids.end()).size() == 32u);
  BOOST_TEST(must(st->stats()).records == 32u);
}

BOOST_AUTO_TEST_SUITE_END()
