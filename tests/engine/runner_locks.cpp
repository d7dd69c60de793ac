// The OS-level locks of an engine: private files, no symbolic links,
// stale runners/<id>.lock files removed at start and by recovery. The
// locks themselves (busy, leases, sweeps) are tests/persistence's
// runner_locks, which run on Windows too.

#include <filesystem>
#include <fstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include "procman/persistence/file_lock.hpp"

#include "engine_helpers.hpp"
#include "fixtures/background.hpp"

using namespace procman;
using namespace procman::test;
namespace fs = std::filesystem;

namespace {

struct locks_fixture : actor_system_fixture {
  std::string store = tmp.str() + "/store";
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(runner_locks, locks_fixture)

BOOST_AUTO_TEST_CASE(a_lock_file_is_private_and_never_a_symbolic_link) {
  umask_guard mask{022};
  file_lock lock;
  BOOST_REQUIRE(!lock.try_lock(tmp.str() + "/runner.lock"));
  BOOST_TEST(mode_of(tmp.str() + "/runner.lock").mode == 0600u);
  auto target = tmp.str() + "/target";
  fs::create_symlink(target, tmp.str() + "/link.lock");
  file_lock other;
  auto res = other.try_lock(tmp.str() + "/link.lock");
  BOOST_TEST(is(res, errc::store_access));
  BOOST_TEST(render(res)
             == tmp.str()
                  + "/link.lock is a symbolic link; refusing to use it");
  BOOST_TEST(!other.held());
  BOOST_TEST(!fs::exists(target));
}

BOOST_AUTO_TEST_CASE(an_engine_keeps_its_lock_files_private) {
  umask_guard mask{022};
  // runners/ as an older procman left it.
  fs::create_directories(store + "/runners");
  chmod(store.c_str(), 0700);
  chmod((store + "/runners").c_str(), 0755);
  auto eng = start_test_engine(*sys, tmp.str());
  BOOST_TEST(mode_of(store + "/runner.lock").mode == 0600u);
  BOOST_TEST(mode_of(store + "/runners").mode == 0700u);
  BOOST_TEST(mode_of(runner_lock_path(store, eng->runner_id())).mode == 0600u);
}

BOOST_AUTO_TEST_CASE(stale_runner_locks_are_removed_at_start_and_by_recovery) {
  fs::create_directories(store + "/runners");
  chmod(store.c_str(), 0700);
  chmod((store + "/runners").c_str(), 0700);
  std::ofstream(runner_lock_path(store, "gone-1")) << "";
  file_lock live; // a runner in another process, as far as flock can tell
  BOOST_REQUIRE(!live.try_lock(runner_lock_path(store, "live-1")));
  auto eng = start_test_engine(*sys, tmp.str());
  BOOST_TEST(!fs::exists(runner_lock_path(store, "gone-1")));
  BOOST_TEST(fs::exists(runner_lock_path(store, "live-1")));
  BOOST_TEST(fs::exists(runner_lock_path(store, eng->runner_id())));
  BOOST_TEST(runner_alive(store, "live-1"));
  // One that dies while the engine runs: the periodic recovery sweeps it.
  std::ofstream(runner_lock_path(store, "gone-2")) << "";
  caf::scoped_actor self{*sys};
  self->request(eng->store(), reply_timeout(), atom::recover_v)
    .receive([](uint32_t) {},
             [](const caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_TEST(!fs::exists(runner_lock_path(store, "gone-2")));
  BOOST_TEST(fs::exists(runner_lock_path(store, "live-1")));
  BOOST_TEST(runner_alive(store, eng->runner_id()));
}

BOOST_AUTO_TEST_SUITE_END()
