// Live output kept per process (bounded, oldest dropped, gone with its
// record), the store's settings (retention, output-limit), a purge with its
// own age, and the upgrade of a schema 2 store.

#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <lmdb.h>

#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
using tk = transition_kind;
using ps = process_status;

namespace {

output_chunk chunk_of(const std::string& pid, const std::string& data,
                      output_stream stream = output_stream::out,
                      uint32_t step = 0) {
  output_chunk c;
  c.pid = pid;
  c.step = step;
  c.stream = stream;
  c.data = data;
  return c;
}

/// Commits `chunks` with no transition, as the store service does when
/// its output timer fires.
void write(store& st, std::vector<output_chunk> chunks) {
  auto r = st.commit({}, chunks);
  BOOST_REQUIRE_MESSAGE(!r.error, render(r.error));
}

std::string text_of(const output_log& log) {
  std::string out;
  for (auto& c : log.chunks)
    out += c.data;
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_output, store_fixture)

BOOST_AUTO_TEST_CASE(output_is_kept_in_order_with_its_stream_and_step) {
  auto rec = make_in(ps::running);
  write(*st, {chunk_of(rec.pid, "one\n"),
              chunk_of(rec.pid, "oops\n", output_stream::err, 1)});
  clock_ms += 5;
  write(*st, {chunk_of(rec.pid, "two\n")});
  auto log = must(st->read_output(rec.pid));
  BOOST_TEST((log.status == ps::running));
  BOOST_REQUIRE_EQUAL(log.chunks.size(), 3u);
  BOOST_TEST(text_of(log) == "one\noops\ntwo\n");
  BOOST_TEST(log.chunks[0].seq == 1u);
  BOOST_TEST(log.chunks[2].seq == 3u);
  BOOST_TEST((log.chunks[1].stream == output_stream::err));
  BOOST_TEST(log.chunks[1].step == 1u);
  BOOST_TEST(log.chunks[2].time == clock_ms);
  BOOST_TEST(log.first_seq == 1u);
  BOOST_TEST(log.last_seq == 3u);
  BOOST_TEST(log.kept_bytes == 13u);
  BOOST_TEST(log.dropped_bytes == 0u);
  // Reading on from a seq gives what came after it only.
  auto rest = must(st->read_output(rec.pid, 2));
  BOOST_REQUIRE_EQUAL(rest.chunks.size(), 1u);
  BOOST_TEST(rest.chunks[0].data == "two\n");
  BOOST_TEST(must(st->read_output(rec.pid, 3)).chunks.empty());
  // Output is not a transition: the message log did not grow.
  auto seq = last_seq();
  write(*st, {chunk_of(rec.pid, "three\n")});
  BOOST_TEST(last_seq() == seq);
}

BOOST_AUTO_TEST_CASE(output_commits_with_the_transitions_of_its_batch) {
  auto rec = make_in(ps::running);
  auto fin = make_transition(tk::finish, rec.pid);
  fin.output = "{}";
  auto r = st->commit({fin}, {chunk_of(rec.pid, "last words\n")});
  BOOST_REQUIRE(!r.error);
  BOOST_REQUIRE_EQUAL(r.results.size(), 1u);
  BOOST_TEST(bool(r.results[0]));
  // Output and the status that ends a follower's loop are read together.
  auto log = must(st->read_output(rec.pid));
  BOOST_TEST((log.status == ps::finished));
  BOOST_TEST(text_of(log) == "last words\n");
}

BOOST_AUTO_TEST_CASE(the_oldest_output_is_dropped_beyond_the_limit) {
  BOOST_REQUIRE(!st->set_setting(store_setting::output_limit, 10));
  auto rec = make_in(ps::running);
  write(*st, {chunk_of(rec.pid, "aaaa"), chunk_of(rec.pid, "bbbb")});
  write(*st, {chunk_of(rec.pid, "cccc")});
  // The oldest chunk loses its front: exactly the limit stays.
  auto log = must(st->read_output(rec.pid));
  BOOST_TEST(text_of(log) == "aabbbbcccc");
  BOOST_TEST(log.first_seq == 1u);
  BOOST_TEST(log.last_seq == 3u);
  BOOST_TEST(log.kept_bytes == 10u);
  BOOST_TEST(log.dropped_bytes == 2u);
  write(*st, {chunk_of(rec.pid, "dddddd")});
  log = must(st->read_output(rec.pid));
  BOOST_TEST(text_of(log) == "ccccdddddd");
  BOOST_TEST(log.first_seq == 3u);
  BOOST_TEST(log.dropped_bytes == 8u);
  // A chunk larger than the limit keeps its end, at a character boundary.
  // (12 bytes, the cut at 2 falls inside the "é" and moves past it.)
  write(*st, {chunk_of(rec.pid, "0\xc3\xa9"
                                "123456789")});
  log = must(st->read_output(rec.pid));
  BOOST_TEST(text_of(log) == "d123456789");
  BOOST_TEST(log.kept_bytes == 10u);
  BOOST_TEST(log.dropped_bytes == 8u + 3u + 4u + 5u);
  // Limit 0 keeps none.
  BOOST_REQUIRE(!st->set_setting(store_setting::output_limit, 0));
  write(*st, {chunk_of(rec.pid, "more")});
  BOOST_TEST(must(st->read_output(rec.pid)).last_seq == 5u);
}

BOOST_AUTO_TEST_CASE(output_of_an_unknown_process_is_dropped) {
  std::string ghost(32, 'a');
  write(*st, {chunk_of(ghost, "boo")});
  auto log = st->read_output(ghost);
  BOOST_TEST((!log && is(log.error(), errc::unknown_process)));
}

BOOST_AUTO_TEST_CASE(a_purged_process_takes_its_output_along) {
  auto rec = make_in(ps::finished);
  write(*st, {chunk_of(rec.pid, "bye\n")});
  clock_ms += 1;
  BOOST_TEST(must(st->purge(0, "client")) == 1u);
  auto log = st->read_output(rec.pid);
  BOOST_TEST((!log && is(log.error(), errc::unknown_process)));
  // A process enqueued under the same pid later starts without it.
  auto again = must(st->apply(enqueue_of(spec_json(1), rec.pid)));
  auto fresh = must(st->read_output(again.pid));
  BOOST_TEST(fresh.chunks.empty());
  BOOST_TEST(fresh.last_seq == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// -- settings and purge -------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(store_settings, store_fixture)

BOOST_AUTO_TEST_CASE(settings_default_persist_and_unset) {
  BOOST_TEST(!must(st->setting(store_setting::retention)).has_value());
  BOOST_TEST(must(st->retention_ms()) == defaults::retention_ms);
  BOOST_TEST(must(st->output_limit()) == defaults::output_limit);
  BOOST_REQUIRE(!st->set_setting(store_setting::retention, 3'600'000));
  BOOST_REQUIRE(!st->set_setting(store_setting::output_limit, 4096));
  st.reset();
  st = must(store::open(options()));
  BOOST_TEST(must(st->retention_ms()) == 3'600'000u);
  BOOST_TEST(must(st->output_limit()) == 4096u);
  BOOST_REQUIRE(!st->set_setting(store_setting::retention, std::nullopt));
  BOOST_TEST(must(st->retention_ms()) == defaults::retention_ms);
  // The options of the program that opened the store (--retention) win.
  auto opts = options();
  opts.retention_ms = 60'000;
  opts.output_limit = 0;
  st.reset();
  st = must(store::open(opts));
  BOOST_TEST(must(st->retention_ms()) == 60'000u);
  BOOST_TEST(must(st->output_limit()) == 0u);
}

BOOST_AUTO_TEST_CASE(the_retention_setting_decides_what_purge_removes) {
  BOOST_REQUIRE(!st->set_setting(store_setting::retention, 3'600'000));
  auto old = make_in(ps::finished);
  clock_ms += 3'600'001;
  auto young = make_in(ps::error);
  BOOST_TEST(must(st->purge()) == 1u);
  BOOST_TEST(!st->get(old.pid));
  BOOST_TEST(bool(st->get(young.pid)));
  auto entries = must(st->log(0));
  BOOST_REQUIRE(!entries.empty());
  BOOST_TEST((entries.back().what.kind == tk::purge));
  BOOST_TEST(entries.back().what.source == "retention");
  // The old process's history went with the retention period too.
  BOOST_TEST(entries.front().what.pid == young.pid);
}

BOOST_AUTO_TEST_CASE(a_purge_with_its_own_age_keeps_the_log_for_the_retention) {
  auto done = make_in(ps::cancelled);
  auto live = make_in(ps::interrupted);
  auto waiting = make_in(ps::queued);
  clock_ms += 120'000;
  auto recent = make_in(ps::finished);
  auto seq = last_seq();
  // Older than a minute: the cancelled one; the interrupted and queued
  // ones are never purged, the recent one is too young.
  BOOST_TEST(must(st->purge(60'000, "client")) == 1u);
  BOOST_TEST(!st->get(done.pid));
  for (auto* kept : {&live, &waiting, &recent})
    BOOST_TEST(bool(st->get(kept->pid)));
  auto entries = must(st->log(seq));
  BOOST_REQUIRE_EQUAL(entries.size(), 1u);
  BOOST_TEST((entries[0].what.kind == tk::purge));
  BOOST_TEST(entries[0].what.pid == done.pid);
  BOOST_TEST(entries[0].what.source == "client");
  // The log keeps all of it: nothing is older than the retention period.
  BOOST_TEST(must(st->stats()).first_seq == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

// -- schema 2 -----------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(store_upgrade_3)

BOOST_AUTO_TEST_CASE(a_schema_2_store_is_upgraded_and_keeps_its_processes) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  std::string pid;
  {
    auto st = must(store::open(fast(dir)));
    pid = must(st->apply(enqueue_of(spec_json(2)))).pid;
  }
  // As procman of schema 2 left it: no `output` database, schema 2.
  {
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    BOOST_REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 16);
    BOOST_REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
    BOOST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi meta, output;
    BOOST_REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    BOOST_REQUIRE(mdb_dbi_open(txn, "output", 0, &output) == 0);
    BOOST_REQUIRE(mdb_drop(txn, output, 1) == 0);
    std::string two("\0\0\0\x02", 4);
    MDB_val sk{6, const_cast<char*>("schema")};
    MDB_val sv{two.size(), two.data()};
    BOOST_REQUIRE(mdb_put(txn, meta, &sk, &sv, 0) == 0);
    BOOST_REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  auto st = must(store::open(fast(dir)));
  BOOST_TEST(must(st->get(pid)).steps.size() == 2u);
  auto r = st->commit({}, {chunk_of(pid, "hello")});
  BOOST_REQUIRE(!r.error);
  BOOST_TEST(text_of(must(st->read_output(pid))) == "hello");
  st.reset();
  // The schema now reads the current one (3 added the output database).
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  BOOST_REQUIRE(mdb_env_create(&env) == 0);
  mdb_env_set_maxdbs(env, 16);
  BOOST_REQUIRE(mdb_env_open(env, dir.c_str(), MDB_RDONLY, 0600) == 0);
  BOOST_REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  MDB_dbi meta;
  BOOST_REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
  MDB_val sk{6, const_cast<char*>("schema")};
  MDB_val sv;
  BOOST_REQUIRE(mdb_get(txn, meta, &sk, &sv) == 0);
  BOOST_TEST(std::string(static_cast<char*>(sv.mv_data), sv.mv_size)
             == std::string("\0\0\0", 3)
                  + static_cast<char>(defaults::schema_version));
  mdb_txn_abort(txn);
  mdb_env_close(env);
}

BOOST_AUTO_TEST_SUITE_END()
