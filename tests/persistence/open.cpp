// Opening a store: creation, schema versions, damage, access, one
// environment per directory. On every system (open_posix.cpp has what
// only POSIX has: descriptors, close-on-exec, errno's texts).

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/test/unit_test.hpp>
#include <lmdb.h>

#include "procman/platform/paths.hpp"
#include "procman/platform/store_dir.hpp"

#include "fixtures/open_to_all.hpp"
#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
namespace fs = std::filesystem;

namespace {

/// Writes `value` under `key` in the store's "meta" database, bypassing
/// procman (the store must be closed).
void poke_meta(const std::string& dir, const std::string& key,
               const std::string& value) {
  MDB_env* env = nullptr;
  BOOST_REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 16);
  BOOST_REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0644) == 0);
  MDB_txn* txn = nullptr;
  BOOST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi;
  BOOST_REQUIRE(mdb_dbi_open(txn, "meta", 0, &dbi) == 0);
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  BOOST_REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
  BOOST_REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

} // namespace

BOOST_AUTO_TEST_SUITE(store_open)

BOOST_AUTO_TEST_CASE(a_missing_directory_is_created) {
  temp_dir tmp;
  auto dir = tmp.str() + "/a/b/c";
  auto st = must(store::open(fast(dir)));
  BOOST_TEST(fs::is_directory(dir));
  BOOST_TEST(fs::exists(dir + "/data.mdb"));
  BOOST_TEST(must(st->stats()).records == 0u);
}

BOOST_AUTO_TEST_CASE(a_newer_schema_is_refused_with_a_clear_message) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  must(store::open(fast(dir))).reset();
  auto newer = defaults::schema_version + 1;
  poke_meta(dir, "schema", std::string("\0\0\0", 3) + static_cast<char>(newer));
  auto res = store::open(fast(dir));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_version)));
  BOOST_TEST(render(res.error())
             == "store " + dir + " has schema version " + std::to_string(newer)
                  + "; this procman reads up to "
                  + std::to_string(defaults::schema_version));
}

BOOST_AUTO_TEST_CASE(unreadable_metadata_is_damage) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  must(store::open(fast(dir))).reset();
  poke_meta(dir, "schema", "garbage");
  auto res = store::open(fast(dir));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_damaged)));
  BOOST_TEST(render(res.error()).find(dir) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_damaged_data_file_is_refused_clearly) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  {
    auto st = must(store::open(fast(dir)));
    must(st->apply(enqueue_of(spec_json())));
  }
  {
    // Overwrite both meta pages with garbage.
    std::fstream f(dir + "/data.mdb",
                   std::ios::in | std::ios::out | std::ios::binary);
    std::string junk(8192, '\xAB');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  auto res = store::open(fast(dir));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_damaged)));
  BOOST_TEST_MESSAGE("damaged store: " << render(res.error()));
  BOOST_TEST(render(res.error()).find("store " + dir + " is damaged")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_data_file_that_is_not_lmdb_is_refused) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  fs::create_directories(dir);
  std::ofstream(dir + "/data.mdb") << "this is not a database\n";
  auto res = store::open(fast(dir));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_damaged)));
  BOOST_TEST(render(res.error()).find(dir) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_regular_file_as_the_directory_is_store_access) {
  temp_dir tmp;
  auto file = tmp.str() + "/file";
  std::ofstream(file) << "x";
  auto res = store::open(fast(file));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_access)));
  BOOST_TEST(render(res.error()).find(file) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_empty_directory_name_is_store_access) {
  auto res = store::open(fast(""));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_access)));
}

BOOST_AUTO_TEST_CASE(a_store_others_may_write_is_refused_and_left_as_it_is) {
  // Anyone who can write a store can plant records whose steps the runner
  // runs as its user (POSIX: group/world-writable; Windows: an entry of
  // its access control list).
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  BOOST_TEST_REQUIRE(!platform::create_private_dir(dir));
  let_everyone_write(dir);
  auto res = store::open(fast(dir));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_access)));
  BOOST_TEST_MESSAGE("refused: " << render(res.error()));
  BOOST_TEST(render(res.error()).find("store " + dir) != std::string::npos);
  BOOST_TEST(render(res.error()).find("refusing to use it")
             != std::string::npos);
  BOOST_TEST(!fs::exists(platform::path_from_utf8(dir + "/data.mdb")));
}

BOOST_AUTO_TEST_CASE(two_stores_on_one_directory_share_one_environment) {
  // LMDB must not open one environment twice in a process; a second store
  // on the same directory (any spelling) uses the first one's.
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  auto a = must(store::open(fast(dir)));
  auto durable = fast(dir + "/.");
  durable.no_sync = false;
  auto b = must(store::open(durable));
  auto rec = must(a->apply(enqueue_of(spec_json())));
  BOOST_TEST(must(b->get(rec.pid)).pid == rec.pid);
  auto other = must(b->apply(enqueue_of(spec_json())));
  a.reset();
  BOOST_TEST(must(b->get(other.pid)).pid == other.pid);
  BOOST_TEST(must(b->stats()).last_seq == 2u);
  b.reset();
  auto c = must(store::open(fast(dir)));
  BOOST_TEST(must(c->stats()).records == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
