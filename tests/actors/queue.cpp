// The queue actor: FIFO claims of at most N processes for its runner.

#include <boost/test/unit_test.hpp>

#include "actors/actor_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct queue_fixture : actor_fixture {
  queue_actor q = spawn(procman::queue, store, runner_id);

  std::vector<process_record> claim(uint32_t n) {
    return request<std::vector<process_record>>(q, atom::claim_v, n).value();
  }
};

std::vector<std::string> pids_of(const std::vector<process_record>& recs) {
  std::vector<std::string> out;
  for (auto& r : recs)
    out.push_back(r.pid);
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(queue_actor, queue_fixture)

BOOST_AUTO_TEST_CASE(claims_hand_out_processes_in_the_order_they_were_queued) {
  std::vector<std::string> queued;
  for (int i = 0; i < 4; ++i)
    queued.push_back(enqueue().pid);
  auto first = claim(2);
  auto second = claim(2);
  BOOST_TEST(pids_of(first) == (std::vector<std::string>{queued[0], queued[1]}),
             boost::test_tools::per_element());
  BOOST_TEST(pids_of(second)
               == (std::vector<std::string>{queued[2], queued[3]}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_claim_takes_at_most_n_and_leaves_the_rest_queued) {
  for (int i = 0; i < 5; ++i)
    enqueue();
  auto got = claim(3);
  BOOST_TEST(got.size() == 3u);
  BOOST_TEST(must(db->stats(), "stats").queued == 2u);
}

BOOST_AUTO_TEST_CASE(claimed_records_are_running_for_the_queues_runner) {
  auto pid = enqueue().pid;
  auto got = claim(1);
  BOOST_REQUIRE(got.size() == 1u);
  BOOST_TEST(got[0].pid == pid);
  BOOST_TEST((got[0].status == process_status::running));
  BOOST_TEST(got[0].runner == runner_id);
  BOOST_TEST(got[0].runs == 1u);
  // The reply is what the store holds, and the claim is in the log.
  BOOST_TEST((record(pid).status == process_status::running));
  BOOST_TEST(kinds(kinds_of(pid)) == "enqueue, claim");
}

BOOST_AUTO_TEST_CASE(
  a_claim_of_an_empty_queue_gets_nothing_and_writes_nothing) {
  auto before = last_seq();
  BOOST_TEST(claim(3).empty());
  BOOST_TEST(last_seq() == before);
  enqueue();
  BOOST_TEST(claim(3).size() == 1u);
  BOOST_TEST(claim(3).empty());
}

BOOST_AUTO_TEST_CASE(a_cancelled_process_is_skipped_by_later_claims) {
  auto a = enqueue().pid;
  auto b = enqueue().pid;
  apply(tr::cancel(a));
  auto got = claim(2);
  BOOST_TEST(pids_of(got) == std::vector<std::string>{b},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
