// Who may read and use a store: private modes whatever the umask, refusal
// of a store that another user owns or can write, no symbolic links.

#include <filesystem>
#include <fstream>
#include <string>

#include <boost/test/unit_test.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures/preconditions.hpp"
#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(store_permissions)

BOOST_AUTO_TEST_CASE(a_new_store_is_private_under_a_permissive_umask) {
  umask_guard mask{022};
  temp_dir tmp;
  auto dir = tmp.str() + "/parent/store";
  auto st = must(store::open(fast(dir)));
  must(st->apply(enqueue_of(spec_json())));
  BOOST_TEST(mode_of(dir).mode == 0700u);
  BOOST_TEST(mode_of(dir + "/data.mdb").mode == 0600u);
  BOOST_TEST(mode_of(dir + "/lock.mdb").mode == 0600u);
}

BOOST_AUTO_TEST_CASE(an_old_store_left_readable_is_tightened_by_its_owner) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  must(store::open(fast(dir))).reset();
  // As an older procman left it under umask 022.
  chmod(dir.c_str(), 0755);
  chmod((dir + "/data.mdb").c_str(), 0644);
  chmod((dir + "/lock.mdb").c_str(), 0644);
  must(store::open(fast(dir))).reset();
  BOOST_TEST(mode_of(dir).mode == 0700u);
  BOOST_TEST(mode_of(dir + "/data.mdb").mode == 0600u);
  BOOST_TEST(mode_of(dir + "/lock.mdb").mode == 0600u);
}

BOOST_AUTO_TEST_CASE(a_store_owned_by_another_user_is_refused,
                     *boost::unit_test::precondition(runs_as_root)) {
  // The other user is nobody (65534).
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  fs::create_directory(dir);
  BOOST_REQUIRE(chown(dir.c_str(), 65534, 65534) == 0);
  chmod(dir.c_str(), 0755);
  auto res = store::open(fast(dir));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_access)));
  BOOST_TEST(render(res.error())
             == "store " + dir
                  + " is owned by uid 65534 (nobody), not by uid 0 "
                    "(root); refusing to use it");
  BOOST_TEST(!fs::exists(dir + "/data.mdb"));
  BOOST_TEST(!fs::exists(dir + "/lock.mdb"));
}

BOOST_AUTO_TEST_CASE(a_group_or_world_writable_store_is_refused) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  must(store::open(fast(dir))).reset();
  for (unsigned mode : {0777u, 0770u, 0702u, 01777u}) {
    BOOST_TEST_INFO("mode " << std::oct << mode);
    chmod(dir.c_str(), mode);
    auto res = store::open(fast(dir));
    BOOST_REQUIRE(!res);
    BOOST_TEST((is(res.error(), errc::store_access)));
    char octal[8];
    std::snprintf(octal, sizeof(octal), "%04o", mode & 07777);
    BOOST_TEST(render(res.error())
               == "store " + dir + " has mode " + octal
                    + " (group/world-writable); refusing to use it");
    BOOST_TEST(mode_of(dir).mode == mode); // left as it was
  }
}

BOOST_AUTO_TEST_CASE(a_symbolic_link_in_place_of_a_store_file_is_refused) {
  for (std::string name : {"data.mdb", "lock.mdb"}) {
    BOOST_TEST_INFO(name);
    temp_dir tmp;
    auto dir = tmp.str() + "/store";
    must(store::open(fast(dir))).reset();
    auto elsewhere = tmp.str() + "/elsewhere";
    fs::rename(dir + "/" + name, elsewhere);
    fs::create_symlink(elsewhere, dir + "/" + name);
    auto res = store::open(fast(dir));
    BOOST_REQUIRE(!res);
    BOOST_TEST((is(res.error(), errc::store_access)));
    BOOST_TEST(render(res.error())
               == "store file " + dir + "/" + name
                    + " is a symbolic link; refusing to use it");
    // A dangling link is not followed to create a file either.
    fs::remove(elsewhere);
    res = store::open(fast(dir));
    BOOST_REQUIRE(!res);
    BOOST_TEST(!fs::exists(elsewhere));
  }
}

BOOST_AUTO_TEST_SUITE_END()
