// The OS-level lock: one holder at a time, in one process or across
// processes, and released by the OS when its holder dies.

#include "procman/platform/os_lock.hpp"

#include <chrono>
#include <filesystem>

#include <boost/test/unit_test.hpp>

#include "procman/platform/paths.hpp"

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
  BOOST_TEST(refused.context.find(tmp.str()) != std::string::npos);
  BOOST_TEST(!lock.held());
}

#ifndef _WIN32
BOOST_AUTO_TEST_CASE(a_symbolic_link_is_not_followed_to_a_lock_file) {
  platform_temp_dir tmp;
  auto target = tmp / "elsewhere.lock";
  auto path = tmp / "runner.lock";
  std::filesystem::create_symlink(target, path);
  platform::os_lock lock;
  auto refused = lock.try_lock(path);
  BOOST_TEST((refused.code == errc::store_access));
  BOOST_TEST(refused.context
             == path + " is a symbolic link; refusing to use it");
  BOOST_TEST(!lock.held());
  BOOST_TEST(!std::filesystem::exists(target));
  BOOST_TEST_MESSAGE("a probe finds no lock there either, and leaves it");
  auto probe = platform::probe_lock(path, {});
  BOOST_TEST(!probe.found);
  BOOST_TEST(std::filesystem::is_symlink(path));
}
#endif

namespace {

bool exists(const std::string& path) {
  return std::filesystem::exists(platform::path_from_utf8(path));
}

int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

const auto remove_it = [](const platform::lock_probe&) { return true; };
const auto keep_it = [](const platform::lock_probe&) { return false; };

} // namespace

BOOST_AUTO_TEST_CASE(a_probe_reads_a_held_lock_s_text_and_leaves_it) {
  platform_temp_dir tmp;
  auto path = tmp / "w@n.lock";
  platform::os_lock lock;
  BOOST_TEST_REQUIRE(!lock.try_lock(path));
  BOOST_TEST(lock.rewrite("lease-ms 1500\n"));
  BOOST_TEST(lock.rewrite("lease-ms 500\n")); // shorter: the rest goes
  lock.touch();
  auto probe = platform::probe_lock(path, remove_it);
  BOOST_TEST(probe.found);
  BOOST_TEST(probe.held);
  BOOST_TEST(probe.head == "lease-ms 500\n");
  BOOST_TEST(probe.modified_ms > unix_ms_now() - 60'000);
  BOOST_TEST(probe.modified_ms < unix_ms_now() + 60'000);
  BOOST_TEST(exists(path)); // held: never removed
  BOOST_TEST(lock.held());
}

BOOST_AUTO_TEST_CASE(a_free_lock_file_is_removed_only_when_the_caller_says) {
  platform_temp_dir tmp;
  auto path = tmp / "r1.lock";
  platform::os_lock lock;
  BOOST_TEST_REQUIRE(!lock.try_lock(path));
  lock.release();
  auto kept = platform::probe_lock(path, keep_it);
  BOOST_TEST(kept.found);
  BOOST_TEST(!kept.held);
  BOOST_TEST(exists(path));
  auto removed = platform::probe_lock(path, remove_it);
  BOOST_TEST(removed.found);
  BOOST_TEST(!removed.held);
  BOOST_TEST(!exists(path));
  BOOST_TEST(!platform::probe_lock(path, remove_it).found);
  // A new holder makes it anew.
  BOOST_TEST(!lock.try_lock(path));
  BOOST_TEST(exists(path));
}

BOOST_AUTO_TEST_CASE(release_and_remove_leaves_no_file) {
  platform_temp_dir tmp;
  auto path = tmp / "r2.lock";
  platform::os_lock lock;
  BOOST_TEST_REQUIRE(!lock.try_lock(path));
  lock.release_and_remove();
  BOOST_TEST(!lock.held());
  BOOST_TEST(!exists(path));
  platform::os_lock again;
  BOOST_TEST(!again.try_lock(path));
}

BOOST_AUTO_TEST_CASE(a_lock_another_process_holds_is_seen_held_and_stays) {
  platform_temp_dir tmp;
  auto path = tmp / "r3.lock";
  auto opts = helper("lock", {path});
  opts.stdout_pipe = true;
  auto holder = platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(bool(holder), why(holder));
  BOOST_TEST_REQUIRE(read_line(holder->out()) == "locked");
  auto probe = platform::probe_lock(path, remove_it);
  BOOST_TEST(probe.found);
  BOOST_TEST(probe.held);
  BOOST_TEST(exists(path));
  BOOST_TEST(platform::kill_process(holder->pid()));
  BOOST_TEST(holder->wait_for(std::chrono::seconds(30)).has_value());
  // Its holder dead, the file is free: removed when asked.
  BOOST_TEST(
    wait_until([&] { return !platform::probe_lock(path, remove_it).held; }));
  BOOST_TEST(!exists(path));
}

BOOST_AUTO_TEST_SUITE_END()
