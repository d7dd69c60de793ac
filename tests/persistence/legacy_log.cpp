// Stores written before transitions carried typed payloads (log entries of
// value version 1, with one JSON text per transition) stay readable: their
// entries come back with typed fields, and new entries (version 3) follow
// the old ones in the same log.

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <caf/binary_serializer.hpp>

#include "procman/messages/log_format.hpp"

#include "persistence/raw_store.hpp"
#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
using tk = transition_kind;

namespace {

// -- the layout of version 1, copied here so that the test does not depend
// on the library's own copy -----------------------------------------------

struct v1_transition {
  transition_kind kind = transition_kind::enqueue;
  std::string pid;
  std::string source;
  std::string runner;
  uint32_t step = 0;
  int32_t exec_pid = 0;
  std::string json;
  progress_info progress;
  error_info error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, v1_transition& x) {
  return f(caf::meta::type_name("transition"), x.kind, x.pid, x.source,
           x.runner, x.step, x.exec_pid, x.json, x.progress, x.error);
}

struct v1_log_entry {
  uint64_t seq = 0;
  uint64_t time = 0;
  v1_transition what;
  process_status status_after = process_status::queued;
  uint64_t digest = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, v1_log_entry& x) {
  return f(caf::meta::type_name("log_entry"), x.seq, x.time, x.what,
           x.status_after, x.digest);
}

std::string v1_bytes(v1_log_entry x) {
  std::vector<char> buf{static_cast<char>(1)};
  caf::binary_serializer sink{nullptr, buf};
  BOOST_REQUIRE(!sink(x));
  return std::string(buf.begin(), buf.end());
}

std::string u32_be(uint32_t x) {
  std::string out(4, '\0');
  for (int i = 3; i >= 0; --i, x >>= 8)
    out[static_cast<size_t>(i)] = static_cast<char>(x & 0xFF);
  return out;
}

const std::string p1(32, 'a');
const std::string p2(32, 'b');
const std::string p3(32, 'c');

/// The entries an old procman wrote for three processes: one enqueued,
/// started, interrupted, proceeded and finished; one whose executor could
/// not start; one whose executor wrote garbage.
std::vector<v1_log_entry> old_entries() {
  std::vector<v1_log_entry> out;
  auto add = [&](tk kind, const std::string& pid, const std::string& json) {
    v1_log_entry e;
    e.seq = out.size() + 1;
    e.time = 1'600'000'000'000 + e.seq;
    e.what.kind = kind;
    e.what.pid = pid;
    e.what.source = "supervisor";
    e.what.runner = "r1";
    e.what.json = json;
    e.digest = 1000 + e.seq;
    out.push_back(e);
    return &out.back();
  };
  add(tk::enqueue, p1,
      R"({"steps":[{"name":"a","class":"procman.set","args":{"k":1},)"
      R"("services":[]}],"timeout":0,"data":{"n":1}})")
    ->what.source
    = "client";
  add(tk::start, p1, R"({"timeout":90})")->what.exec_pid = 4711;
  add(tk::interrupt, p1, R"({"asked":true})")->what.step = 0;
  add(tk::proceed, p1, R"({"answer":"yes"})")->what.source = "client";
  add(tk::finish, p1, R"({"done":true})");
  auto spawn = add(tk::fail, p2, "");
  spawn->what.error.kind = error_kind::crash;
  spawn->what.error.message = "cannot start executor /opt/procman-exec: "
                              + std::string(std::strerror(ENOENT));
  auto garbage = add(tk::fail, p3, "");
  garbage->what.error.kind = error_kind::crash;
  garbage->what.error.message
    = "executor wrote garbage on its report channel: hello there";
  return out;
}

/// A store in `dir` as an old procman left it: `entries` in the log (value
/// version 1), the sequence counter at the last one.
void write_old_store(const std::string& dir,
                     const std::vector<v1_log_entry>& entries) {
  must(store::open(fast(dir))).reset(); // creates the databases
  raw_store raw{dir};
  for (auto& e : entries)
    raw.put("log", codec::u64_key(e.seq), v1_bytes(e));
  raw.put("meta", "seq", codec::u64_key(entries.size()));
  raw.commit();
}

} // namespace

BOOST_AUTO_TEST_SUITE(legacy_log)

BOOST_AUTO_TEST_CASE(entries_of_an_old_store_are_read_with_typed_fields) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  auto old = old_entries();
  write_old_store(dir, old);
  auto st = must(store::open(fast(dir)));
  auto entries = must(st->log(0));
  BOOST_REQUIRE_EQUAL(entries.size(), old.size());
  for (size_t i = 0; i < old.size(); ++i) {
    BOOST_TEST(entries[i].seq == old[i].seq);
    BOOST_TEST(entries[i].time == old[i].time);
    BOOST_TEST(entries[i].digest == old[i].digest);
    BOOST_TEST(entries[i].what.pid == old[i].what.pid);
    BOOST_TEST(entries[i].what.source == old[i].what.source);
    BOOST_TEST(entries[i].what.runner == old[i].what.runner);
  }
  auto& enq = entries[0].what;
  BOOST_REQUIRE_EQUAL(enq.spec.steps.size(), 1u);
  BOOST_TEST(enq.spec.steps[0].name == "a");
  BOOST_TEST(enq.spec.steps[0].args == R"({"k":1})");
  BOOST_TEST(enq.spec.data == R"({"n":1})");
  BOOST_TEST(entries[1].what.timeout == 90u);
  BOOST_TEST(entries[1].what.exec_pid == 4711);
  BOOST_TEST(entries[2].what.output == R"({"asked":true})");
  BOOST_TEST(entries[2].what.step == 0u);
  BOOST_TEST(entries[3].what.data == R"({"answer":"yes"})");
  BOOST_TEST(entries[4].what.output == R"({"done":true})");
  BOOST_TEST(entries[5].what.spawn_errno == ENOENT);
  BOOST_TEST(entries[5].what.exec_path == "/opt/procman-exec");
  BOOST_TEST(entries[6].what.garbage == "hello there");
  BOOST_TEST(entries[6].what.spawn_errno == 0);
  // Exported, they look as an old procman exported them.
  auto start = log_line(entries[1]);
  BOOST_TEST(boost::json::serialize(start.at("payload"))
             == R"({"timeout":90})");
  auto enqueue = log_line(entries[0]);
  BOOST_TEST(boost::json::serialize(enqueue.at("payload"))
             == R"({"steps":[{"name":"a","class":"procman.set","args":{"k":1},)"
                R"("services":[]}],"timeout":0,"data":{"n":1}})");
}

BOOST_AUTO_TEST_CASE(
  new_entries_follow_the_old_ones_and_the_schema_is_upgraded) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  auto old = old_entries();
  write_old_store(dir, old);
  {
    auto st = must(store::open(fast(dir)));
    auto rec = must(st->apply(enqueue_of(spec_json(1))));
    auto entries = must(st->log(0));
    BOOST_REQUIRE_EQUAL(entries.size(), old.size() + 1);
    BOOST_TEST(entries.back().seq == old.size() + 1);
    BOOST_TEST(entries.back().what.pid == rec.pid);
    BOOST_TEST(entries.back().what.spec.steps.size() == 1u);
    auto snap = must(st->snapshot(0));
    BOOST_TEST(snap.entries.size() == old.size() + 1);
  }
  raw_store raw{dir};
  // The current schema (defaults::schema_version); the old entries stay
  // readable.
  BOOST_TEST(raw.get("meta", "schema") == u32_be(defaults::schema_version));
  // The new entry is written in the new layout; the old ones stay as they
  // were.
  BOOST_TEST(raw.get("log", codec::u64_key(old.size() + 1))[0] == '\x03');
  BOOST_TEST(raw.get("log", codec::u64_key(1))[0] == '\x01');
}

BOOST_AUTO_TEST_CASE(an_old_entry_whose_payload_is_not_its_kinds_is_damage) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  auto old = old_entries();
  old[1].what.json = R"({"timeout":"soon"})";
  write_old_store(dir, old);
  auto st = must(store::open(fast(dir)));
  auto res = st->log(0);
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_damaged)));
  BOOST_TEST(render(res.error()).find("log entry 2 (version 1) of " + p1)
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
