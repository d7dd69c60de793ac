// LMDB's map growing as the store fills, within one process and across
// processes. On Windows LMDB sets the data file to the whole map size when
// it maps it, and a process whose map another process outgrew must adopt
// the new size (MDB_MAP_RESIZED): the resize path differs from Linux's,
// so these cases run there too (under Wine: scripts/test-windows). The
// other process is this test executable started with
// PROCMAN_STORE_HELPER=fill|count (below), through the platform layer.

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "procman/platform/child.hpp"
#include "procman/platform/paths.hpp"
#include "procman/platform/system.hpp"

#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
using ps = process_status;

namespace {

constexpr uint64_t small_map = uint64_t{1} << 20;

store_options small_options(const std::string& dir) {
  auto opts = fast(dir);
  opts.initial_map_size = small_map;
  return opts;
}

std::string big_data(size_t bytes) {
  return R"({"blob":")" + std::string(bytes, 'x') + R"("})";
}

/// Enqueues `batches` batches of `per_batch` processes of about 1 KB of
/// data each; false at the first failure.
bool fill(store& s, int batches, int per_batch) {
  for (int b = 0; b < batches; ++b) {
    std::vector<transition> batch;
    for (int i = 0; i < per_batch; ++i)
      batch.push_back(enqueue_of(spec_json(1, 0, big_data(1000))));
    for (auto& r : s.apply(batch))
      if (!r)
        return false;
  }
  return true;
}

std::string env_or_empty(const char* name) {
  auto v = std::getenv(name);
  return v ? v : "";
}

/// The helper's job: "fill" enqueues PROCMAN_STORE_HELPER_N batches of
/// 100 into the store PROCMAN_STORE_HELPER_DIR; "count" checks that it
/// holds N queued processes, each readable, and N log entries. Exit 0
/// when done, 2 and more for what went wrong.
int run_helper(const std::string& mode) {
  auto dir = env_or_empty("PROCMAN_STORE_HELPER_DIR");
  auto n = std::atoi(env_or_empty("PROCMAN_STORE_HELPER_N").c_str());
  auto st = store::open(small_options(dir));
  if (!st)
    return 2;
  if (mode == "fill")
    return fill(**st, n, 100) ? 0 : 3;
  auto recs = (*st)->with_status(ps::queued);
  if (!recs || recs->size() != static_cast<size_t>(n))
    return 4;
  for (auto& rec : *recs)
    if (!(*st)->get(rec.pid))
      return 5;
  auto log = (*st)->log(0);
  if (!log || log->size() != static_cast<size_t>(n))
    return 6;
  return 0;
}

// Runs before main when this executable is the helper.
const bool is_helper = [] {
  auto mode = env_or_empty("PROCMAN_STORE_HELPER");
  if (mode.empty())
    return false;
  std::exit(run_helper(mode));
}();

/// Runs the helper in `mode` on the store `dir` with `n` and returns its
/// exit code (-1 when it did not end within a minute, killed then).
int run_helper_process(const std::string& mode, const std::string& dir, int n) {
  platform::child_options opts;
  opts.argv = {platform::this_program_path()};
  opts.env = {"PROCMAN_STORE_HELPER=" + mode, "PROCMAN_STORE_HELPER_DIR=" + dir,
              "PROCMAN_STORE_HELPER_N=" + std::to_string(n)};
  auto child = platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(bool(child), (child ? "" : child.error().context));
  auto end = child->wait_for(std::chrono::seconds(60));
  if (!end) {
    child->kill_tree();
    return -1;
  }
  return end->code;
}

uint64_t file_size(const std::string& path) {
  return std::filesystem::file_size(platform::path_from_utf8(path));
}

} // namespace

BOOST_AUTO_TEST_SUITE(store_map_growth)

BOOST_AUTO_TEST_CASE(the_map_grows_in_steps_and_a_reopened_store_has_it_all) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  auto st = must(store::open(small_options(dir)));
  BOOST_TEST(must(st->stats()).map_size == small_map);
  BOOST_REQUIRE(fill(*st, 10, 100)); // ~1,000 records, several MiB
  auto stats = must(st->stats());
  BOOST_TEST(stats.map_size > small_map);
  BOOST_TEST(stats.used_bytes <= stats.map_size);
  // The data file never outgrows the map (on Windows it is the map's
  // size, on Linux what is used).
  BOOST_TEST(file_size(dir + "/data.mdb") <= stats.map_size);
  BOOST_TEST_MESSAGE("map grew from " << small_map << " to " << stats.map_size
                                      << ", data file "
                                      << file_size(dir + "/data.mdb"));
  st.reset();
  // Reopened asking for the small map: it adopts the grown one.
  st = must(store::open(small_options(dir)));
  BOOST_TEST(must(st->stats()).map_size >= stats.map_size);
  BOOST_TEST(must(st->with_status(ps::queued)).size() == 1000u);
  BOOST_REQUIRE(fill(*st, 1, 100));
  BOOST_TEST(must(st->stats()).records == 1100u);
}

BOOST_AUTO_TEST_CASE(another_process_grows_the_map_and_this_one_follows) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  auto st = must(store::open(small_options(dir)));
  BOOST_REQUIRE(fill(*st, 5, 100));
  auto mine = must(st->stats()).map_size;
  // Another process, also asking for 1 MiB, writes far past this map.
  BOOST_REQUIRE(run_helper_process("fill", dir, 40) == 0);
  // This process still maps its old size: reading and writing adopt the
  // new one.
  auto all = must(st->with_status(ps::queued));
  BOOST_TEST(all.size() == 4500u);
  for (auto& rec : all)
    if (rec.data.size() <= 1000u) {
      BOOST_TEST(rec.data.size() > 1000u);
      break;
    }
  BOOST_REQUIRE(fill(*st, 2, 100));
  auto stats = must(st->stats());
  BOOST_TEST(stats.records == 4700u);
  BOOST_TEST(stats.map_size > mine);
  BOOST_TEST(stats.used_bytes <= stats.map_size);
  BOOST_TEST_MESSAGE("this map " << mine << " then " << stats.map_size);
  // A fresh process asking for the small map reads everything.
  BOOST_TEST(run_helper_process("count", dir, 4700) == 0);
}

BOOST_AUTO_TEST_SUITE_END()
