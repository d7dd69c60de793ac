// The wake-up of a waiting runner: a ring wakes the listener of the same
// store (from this process or another), rings do not queue up, and ringing
// with nobody listening does nothing.

#include "procman/platform/wake_event.hpp"

#include <thread>

#include <boost/test/unit_test.hpp>

#include "platform_fixture.hpp"

using namespace procman;
using namespace procman::test;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_SUITE(wake_event)

BOOST_AUTO_TEST_CASE(a_ring_wakes_a_waiting_listener) {
  platform_temp_dir tmp;
  platform::wake_listener listener;
  BOOST_TEST_REQUIRE(!listener.bind(tmp.str()));
  BOOST_TEST(listener.native_handle() != -1);
  BOOST_TEST(!listener.wait(0ms));
  std::thread ringer{[&] {
    std::this_thread::sleep_for(50ms);
    platform::ring(tmp.str());
  }};
  // Bounded: the ring comes after 50 ms.
  BOOST_TEST(listener.wait(30s));
  ringer.join();
  BOOST_TEST(!listener.wait(0ms));
}

BOOST_AUTO_TEST_CASE(a_ring_from_another_process_wakes_the_listener) {
  platform_temp_dir tmp;
  platform::wake_listener listener;
  BOOST_TEST_REQUIRE(!listener.bind(tmp.str()));
  auto ringer = platform::contained_child::start(helper("ring", {tmp.str()}));
  BOOST_TEST_REQUIRE(bool(ringer), why(ringer));
  BOOST_TEST(listener.wait(30s));
  auto exit = ringer->wait_for(30s);
  BOOST_TEST_REQUIRE(exit.has_value());
  BOOST_TEST(exit->code == 0);
}

BOOST_AUTO_TEST_CASE(rings_before_a_wait_count_once) {
  platform_temp_dir tmp;
  platform::wake_listener listener;
  BOOST_TEST_REQUIRE(!listener.bind(tmp.str()));
  for (int i = 0; i < 5; ++i)
    platform::ring(tmp.str());
  BOOST_TEST(listener.wait(30s));
  BOOST_TEST(!listener.wait(0ms));
}

BOOST_AUTO_TEST_CASE(rings_reach_only_their_own_store) {
  platform_temp_dir tmp;
  auto a = tmp / "a";
  auto b = tmp / "b";
  std::filesystem::create_directories(tmp.path / "a");
  std::filesystem::create_directories(tmp.path / "b");
  platform::wake_listener listener_a;
  platform::wake_listener listener_b;
  BOOST_TEST_REQUIRE(!listener_a.bind(a));
  BOOST_TEST_REQUIRE(!listener_b.bind(b));
  platform::ring(b);
  BOOST_TEST(listener_b.wait(30s));
  BOOST_TEST(!listener_a.wait(0ms));
}

BOOST_AUTO_TEST_CASE(ringing_with_nobody_listening_does_nothing) {
  platform_temp_dir tmp;
  platform::ring(tmp.str());
  platform::wake_listener listener;
  BOOST_TEST_REQUIRE(!listener.bind(tmp.str()));
  BOOST_TEST(!listener.wait(0ms));
}

BOOST_AUTO_TEST_SUITE_END()
