// The runners' locks and leases (persistence/file_lock.hpp) as the store
// directory holds them: one holder at a time, a lease that outlives its
// holder until it runs out, free lock files swept, and no lock lost to a
// concurrent sweep. The same on Linux (flock) and Windows (LockFileEx).

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <boost/test/unit_test.hpp>

#include "procman/persistence/file_lock.hpp"
#include "procman/platform/paths.hpp"

#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct locks_fixture {
  temp_dir tmp;
  std::string store = tmp.str() + "/store";

  locks_fixture() {
    std::filesystem::create_directories(platform::path_from_utf8(store));
    BOOST_TEST_REQUIRE(!prepare_runners_dir(store));
  }

  bool exists(const std::string& path) {
    return std::filesystem::exists(platform::path_from_utf8(path));
  }
};

/// Checks `done` every 10 ms until it holds or 30 s passed.
bool eventually(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(runner_locks, locks_fixture)

BOOST_AUTO_TEST_CASE(a_lock_held_elsewhere_is_runner_busy) {
  file_lock holder;
  BOOST_REQUIRE(!holder.try_lock(tmp.str() + "/runner.lock"));
  file_lock second;
  auto res = second.try_lock(tmp.str() + "/runner.lock");
  BOOST_TEST(is(res, errc::runner_busy));
  BOOST_TEST(render(res)
             == "another process holds the lock " + tmp.str() + "/runner.lock");
  BOOST_TEST(!second.held());
}

BOOST_AUTO_TEST_CASE(free_lock_files_are_swept_and_held_ones_stay) {
  std::ofstream(platform::path_from_utf8(runner_lock_path(store, "gone-1")))
    << "";
  file_lock live;
  BOOST_REQUIRE(!live.try_lock(runner_lock_path(store, "live-1")));
  BOOST_TEST(live_runners(store) == 1u);
  BOOST_TEST(!exists(runner_lock_path(store, "gone-1")));
  BOOST_TEST(exists(runner_lock_path(store, "live-1")));
  BOOST_TEST(runner_alive(store, "live-1"));
  BOOST_TEST(!runner_alive(store, "gone-1"));
  auto locks = live_runner_locks(store);
  BOOST_TEST_REQUIRE(locks.size() == 1u);
  BOOST_TEST(locks[0].id == "live-1");
  BOOST_TEST(locks[0].lock_held);
  BOOST_TEST(locks[0].lease_ms == 0u);
  live.release_and_remove();
  BOOST_TEST(!exists(runner_lock_path(store, "live-1")));
  BOOST_TEST(!runner_alive(store, "live-1"));
}

BOOST_AUTO_TEST_CASE(a_lease_outlives_its_holder_until_it_runs_out) {
  auto long_lease = runner_lock_path(store, "w1@store");
  auto short_lease = runner_lock_path(store, "w2@store");
  {
    file_lock a;
    file_lock b;
    BOOST_REQUIRE(!a.try_lock(long_lease));
    BOOST_REQUIRE(!b.try_lock(short_lease));
    a.renew(600'000);
    b.renew(1'000);
    b.renew(200); // a new length is written over the old one
  }               // both holders gone
  auto locks = live_runner_locks(store);
  BOOST_TEST_REQUIRE(locks.size() >= 1u);
  BOOST_TEST(locks[0].id == "w1@store");
  BOOST_TEST(!locks[0].lock_held);
  BOOST_TEST(locks[0].lease_ms == 600'000u);
  BOOST_TEST(runner_alive(store, "w1@store"));
  BOOST_TEST(exists(long_lease));
  // The short lease runs out: its file is removed by the next look (on
  // Windows once the look's handle closes: under Wine a moment later).
  BOOST_TEST(eventually([&] { return !runner_alive(store, "w2@store"); }));
  BOOST_TEST(eventually([&] { return !exists(short_lease); }));
  BOOST_TEST(runner_alive(store, "w1@store"));
}

BOOST_AUTO_TEST_CASE(a_lock_taken_while_others_sweep_is_never_lost) {
  // Other runners look for dead ones all the time: they lock a free lock
  // file and remove it. A runner that has just created its file but not
  // yet locked it must not end up holding a removed file, which would make
  // it look dead to everyone while it runs.
  std::atomic<bool> stop{false};
  std::thread sweeper([&] {
    while (!stop)
      runner_alive(store, "racer");
  });
  auto path = runner_lock_path(store, "racer");
  size_t taken = 0;
  size_t lost = 0;
  // 20,000 rounds, or as many as 15 s allow (under Wine a round takes
  // some 7 ms).
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (int i = 0;
       i < 20000 && lost == 0 && std::chrono::steady_clock::now() < until;
       ++i) {
    file_lock lock;
    auto res = lock.try_lock(path);
    if (is(res, errc::runner_busy))
      continue; // the sweeper holds it for a moment
    BOOST_REQUIRE_MESSAGE(!res, render(res));
    ++taken;
    if (!runner_alive(store, "racer"))
      ++lost;
    lock.release_and_remove();
  }
  stop = true;
  sweeper.join();
  BOOST_TEST_MESSAGE("locks taken: " << taken);
  BOOST_TEST(taken > 100u);
  BOOST_TEST(lost == 0u, "a lock was taken on a file the sweeper had removed");
}

BOOST_AUTO_TEST_SUITE_END()
