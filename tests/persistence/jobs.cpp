// The store's job indexes: priorities in the queue key, delayed processes
// kept out of the claims' way, unique keys, schedules fired once per due
// time, the upgrade of a schema 1 store, and records of value version 2
// (before step times) read.

#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <caf/binary_serializer.hpp>
#include <lmdb.h>

#include "procman/lifecycle/front_door.hpp"
#include "procman/messages/binary_codec.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/render.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/messages/time.hpp"

#include "persistence/raw_store.hpp"
#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
using tk = transition_kind;

namespace {

/// A store whose clock the test sets.
struct clocked {
  temp_dir tmp;
  uint64_t clock = 1'800'000'000'000;
  std::unique_ptr<store> st;

  clocked() {
    auto opts = fast(tmp.str() + "/store");
    opts.clock = [this] { return clock; };
    st = must(store::open(opts));
  }

  std::string enqueue(const std::string& spec) {
    return must(st->apply(enqueue_of(spec))).pid;
  }

  std::vector<std::string> claim_all() {
    std::vector<std::string> out;
    for (auto& rec : must(st->claim("r1", 100)))
      out.push_back(rec.pid);
    return out;
  }
};

std::string with(const std::string& extra) {
  return R"({"steps": {"s": {"class": "procman.set"}})" + extra + "}";
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_jobs, clocked)

BOOST_AUTO_TEST_CASE(claims_take_the_highest_priority_first_fifo_within_one) {
  auto a = enqueue(with(""));
  auto b = enqueue(with(R"(, "priority": 3)"));
  auto c = enqueue(with(R"(, "priority": -2)"));
  auto d = enqueue(with(R"(, "priority": 3)"));
  auto e = enqueue(with(R"(, "priority": 2147483647)"));
  auto f = enqueue(with(R"(, "priority": -2147483648)"));
  std::vector<std::string> want{e, b, d, a, c, f};
  BOOST_TEST(claim_all() == want, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(
  a_delayed_process_is_claimed_only_when_due_and_blocks_nothing) {
  auto late
    = enqueue(with(R"(, "not_before": ")" + iso_time(clock + 5000) + "\""));
  auto now = enqueue(with(""));
  BOOST_TEST(must(st->next_wake()) == clock + 5000);
  BOOST_TEST(claim_all() == std::vector<std::string>{now});
  BOOST_TEST((must(st->get(late)).status == process_status::queued));
  clock += 4999;
  BOOST_TEST(claim_all().empty());
  clock += 1;
  BOOST_TEST(claim_all() == std::vector<std::string>{late});
  BOOST_TEST(must(st->next_wake()) == 0u);
  // Cancelled while delayed: gone from the delayed index too.
  auto gone
    = enqueue(with(R"(, "not_before": ")" + iso_time(clock + 1000) + "\""));
  must(st->apply(front_door::cancel(gone)));
  BOOST_TEST(must(st->next_wake()) == 0u);
  clock += 2000;
  BOOST_TEST(claim_all().empty());
}

BOOST_AUTO_TEST_CASE(a_retry_waits_in_the_delayed_index_for_its_backoff) {
  auto pid = enqueue(with(R"(, "retry": {"max": 1, "initial": 2})"));
  BOOST_REQUIRE_EQUAL(claim_all().size(), 1u);
  auto t = make_transition(tk::fail, pid);
  t.error.kind = error_kind::exception;
  auto rec = must(st->apply(t));
  BOOST_TEST((rec.status == process_status::queued));
  BOOST_TEST(must(st->next_wake()) == clock + 2000);
  BOOST_TEST(claim_all().empty());
  clock += 2000;
  BOOST_TEST(claim_all() == std::vector<std::string>{pid});
}

BOOST_AUTO_TEST_CASE(a_unique_key_is_held_while_the_process_may_run) {
  auto spec = with(R"(, "key": "k")");
  auto first = enqueue(spec);
  BOOST_TEST(enqueue(spec) == first);
  BOOST_TEST(must(st->stats()).records == 1u);
  BOOST_TEST(must(st->log(0)).size() == 1u); // nothing logged for the second
  BOOST_REQUIRE_EQUAL(claim_all().size(), 1u);
  BOOST_TEST(enqueue(spec) == first); // running holds it too
  auto t = make_transition(tk::finish, first);
  t.output = "{}";
  must(st->apply(t));
  auto second = enqueue(spec);
  BOOST_TEST(second != first);
  // A retry by hand of a process whose key another holds is refused.
  must(st->apply(front_door::cancel(second)));
  auto third = enqueue(spec);
  BOOST_TEST(third != second);
  BOOST_REQUIRE_EQUAL(claim_all().size(), 1u);
  auto f = make_transition(tk::fail, third);
  f.error.kind = error_kind::exception;
  must(st->apply(f));
  auto fourth = enqueue(spec);
  auto res = st->apply(*front_door::retry(third));
  BOOST_REQUIRE(!res);
  BOOST_TEST(render(res.error())
             == third + ": cannot retry: its key \"k\" is held by process "
                  + fourth);
}

BOOST_AUTO_TEST_CASE(a_due_schedule_fires_once_and_missed_runs_are_one) {
  auto t = front_door::schedule_add("tick", "*/10 * * * * *",
                                    *parse_spec(with("")));
  BOOST_REQUIRE(t);
  must(st->apply(*t));
  auto x = must(st->schedule("tick"));
  BOOST_TEST(x.next_due > clock);
  BOOST_TEST(x.next_due % 10000 == 0u);
  BOOST_TEST(must(st->next_wake()) == x.next_due);
  BOOST_TEST(must(st->fire_schedules()) == 0u);
  // Three due times pass without a runner: one run, for the first of them.
  auto first_due = x.next_due;
  clock = first_due + 25000;
  BOOST_TEST(must(st->fire_schedules()) == 1u);
  BOOST_TEST(must(st->fire_schedules()) == 0u);
  x = must(st->schedule("tick"));
  BOOST_TEST(x.next_due == first_due + 30000);
  BOOST_TEST(x.last_fired == clock);
  auto rec = must(st->get(x.last_pid));
  BOOST_TEST(rec.schedule == "tick");
  auto entries = must(st->log(0));
  BOOST_TEST(entries.back().what.due == first_due);
  BOOST_TEST(entries.back().what.source == "schedule");
  // A schedule whose key is held skips the run but moves on.
  auto keyed = front_door::schedule_add("keyed", "* * * * * *",
                                        *parse_spec(with(R"(, "key": "one")")));
  must(st->apply(*keyed));
  clock = first_due + 30000; // both due
  BOOST_TEST(must(st->fire_schedules()) == 2u);
  clock += 1000;
  BOOST_TEST(must(st->fire_schedules()) == 0u); // tick not due; keyed held
  BOOST_TEST(must(st->schedule("keyed")).next_due > clock);
  must(st->apply(front_door::schedule_remove("tick")));
  BOOST_TEST(!st->schedule("tick"));
  auto gone = st->apply(front_door::schedule_remove("tick"));
  BOOST_REQUIRE(!gone);
  BOOST_TEST((is(gone.error(), errc::unknown_schedule)));
}

BOOST_AUTO_TEST_CASE(two_stores_on_one_directory_fire_each_due_time_once) {
  auto opts = fast(tmp.str() + "/store");
  opts.clock = [this] { return clock; };
  auto other = must(store::open(opts));
  must(st->apply(
    *front_door::schedule_add("tick", "* * * * * *", *parse_spec(with("")))));
  uint32_t fired = 0;
  for (int i = 0; i < 50; ++i) {
    clock += 1000;
    fired += must(st->fire_schedules()) + must(other->fire_schedules());
  }
  BOOST_TEST(fired == 50u);
}

BOOST_AUTO_TEST_SUITE_END()

// -- schema 1 -----------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(store_upgrade)

BOOST_AUTO_TEST_CASE(a_schema_1_store_is_upgraded_and_keeps_its_queue_order) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  std::vector<std::string> pids;
  {
    auto st = must(store::open(fast(dir)));
    for (int i = 0; i < 3; ++i)
      pids.push_back(must(st->apply(enqueue_of(spec_json(2)))).pid);
  }
  // Make it look as procman wrote it before: schema 1, records of value
  // version 1, queue keys of the queue number alone.
  {
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    BOOST_REQUIRE(mdb_env_create(&env) == 0);
    mdb_env_set_maxdbs(env, 16);
    BOOST_REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
    BOOST_REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi meta, queue, processes;
    mdb_dbi_open(txn, "meta", 0, &meta);
    mdb_dbi_open(txn, "queue", 0, &queue);
    mdb_dbi_open(txn, "processes", 0, &processes);
    std::vector<std::pair<std::string, std::string>> keys;
    MDB_cursor* cur = nullptr;
    mdb_cursor_open(txn, queue, &cur);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
      keys.emplace_back(std::string(static_cast<char*>(k.mv_data), k.mv_size),
                        std::string(static_cast<char*>(v.mv_data), v.mv_size));
    mdb_cursor_close(cur);
    BOOST_REQUIRE_EQUAL(keys.size(), 3u);
    for (auto& [key, pid] : keys) {
      BOOST_REQUIRE_EQUAL(key.size(), 12u);
      MDB_val dk{key.size(), key.data()};
      mdb_del(txn, queue, &dk, nullptr);
      auto old_key = key.substr(4);
      MDB_val ok{old_key.size(), old_key.data()};
      MDB_val pv{pid.size(), pid.data()};
      BOOST_REQUIRE(mdb_put(txn, queue, &ok, &pv, 0) == 0);
      MDB_val rk{pid.size(), pid.data()};
      MDB_val rv;
      BOOST_REQUIRE(mdb_get(txn, processes, &rk, &rv) == 0);
      auto read = codec::decode<process_record>(static_cast<char*>(rv.mv_data),
                                                rv.mv_size);
      BOOST_REQUIRE(read);
      auto& rec = *read;
      std::vector<char> buf{1};
      caf::binary_serializer sink{nullptr, buf};
      codec::record_v1 view{rec};
      BOOST_REQUIRE(!sink(view));
      MDB_val nv{buf.size(), buf.data()};
      BOOST_REQUIRE(mdb_put(txn, processes, &rk, &nv, 0) == 0);
    }
    std::string one("\0\0\0\x01", 4);
    MDB_val sk{6, const_cast<char*>("schema")};
    MDB_val sv{one.size(), one.data()};
    BOOST_REQUIRE(mdb_put(txn, meta, &sk, &sv, 0) == 0);
    BOOST_REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  auto st = must(store::open(fast(dir)));
  BOOST_TEST(must(st->get(pids[1])).steps.size() == 2u);
  std::vector<std::string> got;
  for (auto& rec : must(st->claim("r1", 10)))
    got.push_back(rec.pid);
  BOOST_TEST(got == pids, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(store_step_times, clocked)

BOOST_AUTO_TEST_CASE(
  a_record_of_version_2_is_read_and_gets_times_when_it_runs) {
  auto dir = tmp.str() + "/store";
  auto pid = enqueue(R"({"steps": {"a": {"class": "procman.set"}, )"
                     R"("b": {"class": "procman.set"}}, "priority": 3, )"
                     R"("key": "k1"})");
  BOOST_REQUIRE(claim_all() == std::vector<std::string>{pid});
  st.reset();
  // As procman of schema 5 left it: the record in the layout of value
  // version 2, which has no step times.
  {
    raw_store raw{dir};
    auto bytes = raw.get("processes", pid);
    BOOST_REQUIRE_EQUAL(bytes[0], '\x03');
    auto read = codec::decode<process_record>(bytes.data(), bytes.size());
    BOOST_REQUIRE(read);
    auto& rec = *read;
    std::vector<char> buf{2};
    binary::writer sink{buf};
    codec::record_v2 v2{rec};
    BOOST_REQUIRE(!sink(v2));
    raw.put("processes", pid, std::string(buf.begin(), buf.end()));
    raw.put("meta", "schema", codec::u64_key(5).substr(4));
    raw.commit();
  }
  auto opts = fast(dir);
  opts.clock = [this] { return clock; };
  st = must(store::open(opts));
  auto old = must(st->get(pid));
  BOOST_TEST(to_string(old.status) == "running");
  BOOST_TEST(old.priority == 3);
  BOOST_TEST(old.key == "k1");
  BOOST_TEST(old.step_times.empty());
  // Its status shows the times as not known.
  auto info = render_info(old);
  BOOST_TEST(
    boost::json::serialize(info.at("step_times"))
    == R"({"a":{"started_ms":null,"ended_ms":null,"duration_ms":null},)"
       R"("b":{"started_ms":null,"ended_ms":null,"duration_ms":null}})");
  // Running on, it gets times and is written in the current layout.
  transition t;
  t.kind = tk::step_started;
  t.pid = pid;
  t.source = "runner";
  t.step = 1;
  clock += 250;
  must(st->apply(t));
  t.kind = tk::step_completed;
  clock += 1500;
  must(st->apply(t));
  auto now = must(st->get(pid));
  BOOST_REQUIRE_EQUAL(now.step_times.size(), 2u);
  BOOST_TEST(now.step_times[0].started_at == 0u);
  BOOST_TEST(now.step_times[1].started_at == clock - 1500);
  BOOST_TEST(now.step_times[1].ended_at == clock);
  info = render_info(now);
  BOOST_TEST(
    info.at("step_times").at("b").at("duration_ms").to_number<int64_t>()
    == 1500);
  BOOST_TEST(info.at("step_times").at("a").at("duration_ms").is_null());
  st.reset();
  raw_store raw{dir};
  BOOST_TEST(raw.get("processes", pid)[0] == '\x03');
  BOOST_TEST(raw.get("meta", "schema")
             == codec::u64_key(defaults::schema_version).substr(4));
}

BOOST_AUTO_TEST_SUITE_END()
