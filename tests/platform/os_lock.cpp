// The OS-level lock: one holder at a time, in one process or across
// processes, and released by the OS when its holder dies.

#include "procman/platform/os_lock.hpp"

#include <boost/test/unit_test.hpp>

#include "platform_fixture.hpp"

using namespace procman;
using namespace procman::test;

BOOST_AUTO_TEST_SUITE(os_lock)

BOOST_AUTO_TEST_CASE(a_second_holder_is_refused_until_the_first_releases) {
  platform_temp_dir tmp;
  auto path = tmp / "runner.lock";
  platform::os_lock first;
  platform::os_lock second;
  BOOST_TEST(!first.try_lock(path));
  BOOST_TEST(first.held());
  auto refused = second.try_lock(path);
  BOOST_TEST((refused.code == errc::runner_busy));
  BOOST_TEST(refused.context.find(path) != std::string::npos);
  BOOST_TEST(!second.held());
  first.release();
  BOOST_TEST(!first.held());
  BOOST_TEST(!second.try_lock(path));
  BOOST_TEST(second.held());
}

BOOST_AUTO_TEST_CASE(another_process_is_refused_and_the_lock_dies_with_it) {
  platform_temp_dir tmp;
  auto path = tmp / "runner.lock";
  auto opts = helper("lock", {path});
  opts.stdout_pipe = true;
  auto holder = platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(bool(holder), why(holder));
  BOOST_TEST_REQUIRE(read_line(holder->out()) == "locked");
  platform::os_lock mine;
  BOOST_TEST((mine.try_lock(path).code == errc::runner_busy));
  BOOST_TEST_MESSAGE("killing the holder");
  BOOST_TEST(platform::kill_process(holder->pid()));
  BOOST_TEST(holder->wait_for(std::chrono::seconds(30)).has_value());
  BOOST_TEST(wait_until([&] { return !mine.try_lock(path); }));
  BOOST_TEST(mine.held());
}

BOOST_AUTO_TEST_CASE(a_held_lock_refuses_another_process) {
  platform_temp_dir tmp;
  auto path = tmp / "runner.lock";
  platform::os_lock mine;
  BOOST_TEST_REQUIRE(!mine.try_lock(path));
  auto opts = helper("lock", {path});
  opts.stdout_pipe = true;
  auto other = platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(bool(other), why(other));
  BOOST_TEST(read_line(other->out()) == "busy");
}

BOOST_AUTO_TEST_CASE(a_directory_is_not_a_lock_file) {
  platform_temp_dir tmp;
  platform::os_lock lock;
  auto refused = lock.try_lock(tmp.str());
  BOOST_TEST((refused.code == errc::store_access));
  BOOST_TEST_MESSAGE(refused.context);
  BOOST_TEST(!lock.held());
}

BOOST_AUTO_TEST_SUITE_END()
