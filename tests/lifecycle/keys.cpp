// The rules of unique keys without a store: who holds a key, what answers
// an enqueue under a held key, when a retry is refused for its key.

#include "procman/lifecycle/keys.hpp"

#include <boost/test/unit_test.hpp>

#include "procman/messages/error.hpp"

using namespace procman;
using ps = process_status;

namespace {

const std::string pid_a = "0123456789abcdef0123456789abcdef";
const std::string pid_b = "fedcba9876543210fedcba9876543210";

process_record with_key(const std::string& pid, ps status,
                        const std::string& key = "k") {
  process_record rec;
  rec.pid = pid;
  rec.status = status;
  rec.key = key;
  return rec;
}

} // namespace

BOOST_AUTO_TEST_SUITE(lifecycle_keys)

BOOST_AUTO_TEST_CASE(a_process_holds_its_key_while_it_may_still_run) {
  for (auto s : {ps::queued, ps::running, ps::interrupted})
    BOOST_TEST(holds_key(with_key(pid_a, s)), to_string(s));
  for (auto s : {ps::finished, ps::error, ps::cancelled})
    BOOST_TEST(!holds_key(with_key(pid_a, s)), to_string(s));
  BOOST_TEST(!holds_key(with_key(pid_a, ps::queued, "")));
}

BOOST_AUTO_TEST_CASE(an_enqueue_under_a_held_key_is_answered_by_the_holder) {
  transition t;
  t.kind = transition_kind::enqueue;
  t.pid = pid_b;
  t.spec.key = "k";
  BOOST_TEST(answered_by_holder(t, with_key(pid_a, ps::running)));
  BOOST_TEST(!answered_by_holder(t, with_key(pid_a, ps::finished)));
  BOOST_TEST(!answered_by_holder(t, with_key(pid_a, ps::running, "other")));
  t.spec.key.clear();
  BOOST_TEST(!answered_by_holder(t, with_key(pid_a, ps::running, "")));
  t.spec.key = "k";
  t.kind = transition_kind::retry;
  BOOST_TEST(!answered_by_holder(t, with_key(pid_a, ps::running)));
}

BOOST_AUTO_TEST_CASE(a_retry_is_refused_while_another_process_holds_the_key) {
  auto rec = with_key(pid_a, ps::error);
  BOOST_TEST(!check_retry_key(rec, ""));
  BOOST_TEST(!check_retry_key(rec, pid_a));
  auto f = check_retry_key(rec, pid_b);
  BOOST_REQUIRE(f);
  BOOST_TEST((f.code == errc::illegal_transition));
  BOOST_TEST(f.context
             == pid_a + ": cannot retry: its key \"k\" is held by process "
                  + pid_b);
}

BOOST_AUTO_TEST_SUITE_END()
