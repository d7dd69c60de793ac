// Stores of other users, through the real CLI and runner: root does not run
// what another user queued, a user cannot use someone else's store, and a
// store a user creates is private whatever the umask.

#include <filesystem>

#include <sys/stat.h>
#include <unistd.h>

#include "cli_fixture.hpp"
#include "fixtures/preconditions.hpp"

using namespace procman::test;
namespace fs = std::filesystem;

namespace {

constexpr uid_t nobody = 65534;

/// Changes the owner of `path` and everything below it.
void chown_all(const std::string& path, uid_t uid) {
  BOOST_REQUIRE(lchown(path.c_str(), uid, uid) == 0);
  if (fs::is_directory(fs::symlink_status(path)))
    for (auto& e : fs::recursive_directory_iterator(path))
      BOOST_REQUIRE(lchown(e.path().c_str(), uid, uid) == 0);
}

/// The store lives where the user nobody can reach it.
struct access_fixture : cli_fixture {
  nobody_area area;

  access_fixture() { store = area.str() + "/store"; }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_ownership, cli_fixture)

BOOST_AUTO_TEST_CASE(root_does_not_run_what_another_user_queued,
                     *boost::unit_test::precondition(runs_as_root)) {
  auto marker = tmp.str() + "/ran";
  auto pid = start(shell_spec("touch " + marker));
  chown_all(store, nobody); // as if nobody had made the store and queued it
  auto refusal = "store " + store
                 + " is owned by uid 65534 (nobody), not by "
                   "uid 0 (root); refusing to use it";
  auto r = runner();
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find(refusal) != std::string::npos, r.err);
  auto s = procman({"status", pid});
  BOOST_TEST(s.exit_code == 1);
  BOOST_TEST(s.err.find(refusal) != std::string::npos, s.err);
  BOOST_TEST(!fs::exists(marker));
  BOOST_TEST(mode_of(store + "/data.mdb").uid == nobody); // left alone
}

BOOST_AUTO_TEST_CASE(root_refuses_a_store_that_others_can_write) {
  auto pid = start(R"({"steps": {"s": {"class": "procman.set"}}})");
  chmod(store.c_str(), 0777);
  auto r = procman({"status", pid});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("store " + store
                        + " has mode 0777 (group/world-writable); "
                          "refusing to use it")
               != std::string::npos,
             r.err);
}

BOOST_AUTO_TEST_SUITE_END()

// Run as the user nobody: skipped (and reported) where the tests cannot
// switch users.
BOOST_FIXTURE_TEST_SUITE(store_ownership_as_nobody, access_fixture,
                         *boost::unit_test::precondition(runs_as_nobody))

BOOST_AUTO_TEST_CASE(a_user_cannot_use_a_store_of_another_user) {
  // A store that uid 65533 made readable to all, as an older procman did.
  start(R"({"steps": {"s": {"class": "procman.set"}}})");
  chmod(store.c_str(), 0755);
  chown_all(store, 65533);
  auto r = area.run({area.bin("procman"), "--store", store, "list"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("store " + store + " is owned by uid 65533")
               != std::string::npos,
             r.err);
  BOOST_TEST(r.err.find("not by uid 65534 (nobody); refusing to use it")
               != std::string::npos,
             r.err);
  BOOST_TEST(r.out == "");
}

BOOST_AUTO_TEST_CASE(a_user_makes_a_private_store_under_umask_022) {
  auto home = area.str() + "/home";
  fs::create_directory(home);
  chmod(home.c_str(), 0755);
  BOOST_REQUIRE(chown(home.c_str(), nobody, nobody) == 0);
  auto own = home + "/state/procman";
  auto s = area.run(
    {area.bin("procman"), "--store", own, "start",
     R"({"steps": {"s": {"class": "procman.set", "args": {"ok": true}}}})"});
  BOOST_REQUIRE_MESSAGE(s.exit_code == 0, "start as nobody: " << s.err);
  auto pid = s.out.substr(0, 32);
  auto r = area.run({area.bin("procman-runner"), "--store", own, "--wait",
                     "--max-processes", "1"});
  BOOST_TEST(r.exit_code == 0, r.err);
  auto w = area.run({area.bin("procman"), "--store", own, "status", pid});
  BOOST_TEST(w.out.find("\"status\":\"finished\"") != std::string::npos,
             w.out + w.err);
  for (auto [path, mode] : {std::pair<std::string, unsigned>{own, 0700},
                            {own + "/data.mdb", 0600},
                            {own + "/lock.mdb", 0600},
                            {own + "/runner.lock", 0600},
                            {own + "/runners", 0700}}) {
    BOOST_TEST_INFO(path);
    auto i = mode_of(path);
    BOOST_TEST(i.mode == mode);
    BOOST_TEST(i.uid == nobody);
  }
}

BOOST_AUTO_TEST_SUITE_END()
