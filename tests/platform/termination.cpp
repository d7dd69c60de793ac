// Termination requests reach a termination_watch as calls instead of
// ending the program: what request_stop sends (SIGTERM on POSIX, the stop
// event on Windows), once per request.

#include <boost/test/unit_test.hpp>

#include "platform_fixture.hpp"

using namespace procman;
using namespace procman::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(termination)

BOOST_AUTO_TEST_CASE(a_stop_request_becomes_a_call) {
  auto opts = helper("watch");
  opts.stdout_pipe = true;
  auto child = platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(bool(child), why(child));
  BOOST_TEST_REQUIRE(read_line(child->out()) == "watching");
  child->request_stop();
  auto said = read_line(child->out());
  BOOST_TEST_MESSAGE("the helper said: " << said);
#ifdef _WIN32
  BOOST_TEST(said == "stop: stop request");
#else
  BOOST_TEST(said == "stop: SIGTERM");
#endif
  auto exit = child->wait_for(30s);
  BOOST_TEST_REQUIRE(exit.has_value());
  BOOST_TEST(exit->code == 0);
}

BOOST_AUTO_TEST_SUITE_END()
