// The rule of default timeouts without a store or runner.

#include "procman/lifecycle/timeouts.hpp"

#include <boost/test/unit_test.hpp>

using namespace procman;

BOOST_AUTO_TEST_SUITE(lifecycle_timeouts)

BOOST_AUTO_TEST_CASE(a_spec_without_timeout_records_the_stores_default) {
  BOOST_TEST(recorded_timeout(0, 0) == 0u); // the runner's, at run time
  BOOST_TEST(recorded_timeout(0, 30) == 30u);
  BOOST_TEST(recorded_timeout(5, 30) == 5u);
  transition t;
  t.kind = transition_kind::enqueue;
  apply_default_timeout(t, 30);
  BOOST_TEST(t.spec.timeout == 30u);
  t.spec.timeout = 7;
  apply_default_timeout(t, 30);
  BOOST_TEST(t.spec.timeout == 7u);
  transition other;
  other.kind = transition_kind::proceed;
  apply_default_timeout(other, 30);
  BOOST_TEST(other.spec.timeout == 0u); // only enqueues carry a spec
}

BOOST_AUTO_TEST_CASE(a_record_without_timeout_runs_under_the_runners_default) {
  BOOST_TEST(run_timeout(0, 3600) == 3600u);
  BOOST_TEST(run_timeout(12, 3600) == 12u);
  BOOST_TEST(run_timeout(0, 0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
