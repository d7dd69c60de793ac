// The CAF-free binary codec (messages/binary_codec.hpp) writes exactly the
// bytes of CAF 0.17.6's binary_serializer for every stored type, reads what
// CAF wrote, and refuses values that end early or run on.

#include "procman/messages/binary_codec.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "procman/persistence/codec.hpp"

#include "samples.hpp"

using namespace procman;
using namespace procman::test;

namespace {

template <class T>
std::vector<char> caf_bytes(const T& x) {
  std::vector<char> out;
  caf::binary_serializer sink{nullptr, out};
  BOOST_REQUIRE(!sink(const_cast<T&>(x)));
  return out;
}

std::vector<char> bytes_of(const process_record& x) {
  std::vector<char> out;
  codec::encode(x, out);
  return out;
}

std::string hex(const std::vector<char>& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto c : bytes) {
    auto b = static_cast<uint8_t>(c);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

/// Writes `x` both ways and compares; reads CAF's bytes back with the
/// reader and writes the result again; checks that no proper prefix and no
/// longer range decodes.
template <class T>
void check(const T& x, const std::string& what) {
  auto want = caf_bytes(x);
  auto got = binary::encode(x);
  BOOST_TEST(hex(got) == hex(want), what);
  auto back = binary::decode<T>(want.data(), want.size());
  BOOST_TEST_REQUIRE(back.has_value(), what);
  BOOST_TEST(hex(binary::encode(*back)) == hex(want), what << " (read back)");
  // CAF reads what the codec wrote.
  T via_caf{};
  caf::binary_deserializer src{nullptr, got.data(), got.size()};
  BOOST_TEST(!src(via_caf), what);
  BOOST_TEST(src.remaining() == 0u, what);
  BOOST_TEST(hex(caf_bytes(via_caf)) == hex(want), what << " (via CAF)");
  // Every shorter range ends early; a longer one runs on.
  size_t refused = 0;
  for (size_t n = 0; n < want.size(); ++n)
    refused += binary::decode<T>(want.data(), n) ? 0 : 1;
  BOOST_TEST(refused == want.size(), what << ": a prefix decoded");
  auto longer = want;
  longer.push_back(0);
  BOOST_TEST(!binary::decode<T>(longer.data(), longer.size()), what);
}

process_record job_record() {
  auto x = sample_record();
  x.priority = -7;
  x.not_before = 1800000000000;
  x.key = "nightly-report";
  x.retry.max = 3;
  x.retry.backoff = backoff_kind::fixed;
  x.retry.initial_ms = 2500;
  attempt_error e;
  e.attempt = 1;
  e.at = 1700000005000;
  e.error = sample_error();
  x.attempt_errors = {e, e};
  x.attempts = 2;
  x.schedule = "nightly";
  return x;
}

} // namespace

BOOST_AUTO_TEST_SUITE(binary_codec)

BOOST_AUTO_TEST_CASE(every_stored_type_is_written_as_caf_writes_it) {
  check(sample_step(), "step_spec");
  check(sample_spec(), "process_spec");
  check(sample_progress(), "progress_info");
  check(sample_error(), "error_info");
  check(sample_record(), "process_record");
  check(job_record(), "process_record with job fields");
  check(process_record{}, "a default process_record");
  for (auto& r : sample_records())
    check(r, "process_record " + r.pid);
  for (auto& t : sample_transitions())
    check(t, "transition");
  check(sample_log_entry(), "log_entry");
  check(sample_event(), "process_event");
  schedule_record s;
  s.name = "nightly";
  s.cron = "0 3 * * *";
  s.spec = sample_spec();
  s.created_at = 1700000000000;
  s.next_due = 1700010000000;
  s.last_fired = 1699990000000;
  s.last_pid = "0123456789abcdef0123456789abcdef";
  check(s, "schedule_record");
  output_chunk c;
  c.pid = "0123456789abcdef0123456789abcdef";
  c.seq = 3;
  c.time = 1700000000000;
  c.step = 2;
  c.stream = output_stream::err;
  c.data = "line\n";
  check(c, "output_chunk");
}

BOOST_AUTO_TEST_CASE(older_layouts_are_written_as_caf_writes_them) {
  auto rec = sample_record();
  codec::record_v1 v1{rec};
  BOOST_TEST(hex(binary::encode(v1)) == hex(caf_bytes(v1)));
  auto entry = sample_log_entry();
  codec::entry_v2 v2{entry};
  BOOST_TEST(hex(binary::encode(v2)) == hex(caf_bytes(v2)));
}

BOOST_AUTO_TEST_CASE(a_log_entry_from_its_parts_has_the_entrys_bytes) {
  uint64_t seq = 41;
  for (auto& t : sample_transitions()) {
    log_entry e;
    e.seq = ++seq;
    e.time = 1700000000000 + seq;
    e.what = t;
    e.status_after = process_status::running;
    e.digest = 0x0123456789abcdefull;
    codec::entry_parts parts{e.seq, e.time, t, e.status_after, e.digest};
    std::vector<char> want;
    std::vector<char> got;
    codec::encode(e, want);
    codec::encode(parts, got);
    BOOST_TEST(hex(got) == hex(want), to_string(t.kind));
  }
}

BOOST_AUTO_TEST_CASE(a_records_digest_is_of_its_old_layout_without_position) {
  // As logs recorded before the job fields digest them: the version 1 or 2
  // encoding of a copy whose queue position is 0.
  auto digest_of_copy = [](process_record x) {
    x.queue_seq = 0;
    std::vector<char> buf;
    binary::writer sink{buf};
    if (plain_record(x)) {
      buf.push_back(1);
      codec::record_v1 v{x};
      BOOST_REQUIRE(!sink(v));
    } else {
      buf.push_back(2);
      codec::record_v2 v{x};
      BOOST_REQUIRE(!sink(v));
    }
    return codec::fnv1a(buf.data(), buf.size());
  };
  auto records = sample_records();
  records.push_back(sample_record());
  records.push_back(job_record());
  for (auto& r : records) {
    r.queue_seq = 77;
    auto before = bytes_of(r);
    BOOST_TEST(codec::record_digest(r) == digest_of_copy(r), r.pid);
    // The record is read, not changed.
    BOOST_TEST(hex(bytes_of(r)) == hex(before), r.pid);
    BOOST_TEST(r.queue_seq == 77u);
  }
  // Records differing only in their queue position digest alike; in
  // anything else, not.
  auto a = sample_record();
  auto b = a;
  b.queue_seq = a.queue_seq + 5;
  BOOST_TEST(codec::record_digest(a) == codec::record_digest(b));
  b.runs = a.runs + 1;
  BOOST_TEST(codec::record_digest(a) != codec::record_digest(b));
}

BOOST_AUTO_TEST_CASE(edge_values_are_written_as_caf_writes_them) {
  // Counts of 0, 127, 128, 16383, 16384 and more: one to three varbyte
  // bytes.
  for (size_t n : {0, 1, 127, 128, 300, 16383, 16384, 70000}) {
    step_spec x = sample_step();
    x.args = std::string(n, 'a');
    check(x, "a string of " + std::to_string(n) + " bytes");
  }
  // Bytes above 0x7f, NUL inside a string.
  step_spec bytes = sample_step();
  bytes.name = std::string("\0\x7f\x80\xff\xc3\xa9", 6);
  check(bytes, "bytes");
  // Signed and unsigned limits.
  process_record r;
  r.last_completed = -1;
  r.exec_pid = std::numeric_limits<int32_t>::min();
  r.priority = std::numeric_limits<int32_t>::max();
  r.queue_seq = std::numeric_limits<uint64_t>::max();
  r.runs = std::numeric_limits<uint32_t>::max();
  check(r, "integer limits");
  // Doubles, CAF's packing: zeros, halves, thirds, large, small, negative.
  for (double d : {0.0, -0.0, 42.5, 100.0, 1.0 / 3.0, 60.2, -3.25, 1e300,
                   1e-300, 123456789.125}) {
    progress_info p = sample_progress();
    p.percent = d;
    check(p, "percent " + std::to_string(d));
  }
  // Every value of every enum.
  for (auto s : all_process_statuses()) {
    process_record x;
    x.status = s;
    check(x, "status " + to_string(s));
  }
  for (auto k : all_transition_kinds()) {
    transition t;
    t.kind = k;
    check(t, "transition kind " + to_string(k));
  }
  for (auto k : all_error_kinds()) {
    error_info e;
    e.kind = k;
    check(e, "error kind " + to_string(k));
  }
}

BOOST_AUTO_TEST_CASE(
  a_count_beyond_the_bytes_left_is_refused_without_reading_on) {
  // A sequence that claims 2^31 elements in a 6-byte value.
  std::vector<char> bytes{'\x80', '\x80', '\x80', '\x80', '\x08', 'x'};
  BOOST_TEST(
    !binary::decode<std::vector<std::string>>(bytes.data(), bytes.size()));
  // A count longer than 5 varbyte bytes.
  std::vector<char> endless(8, '\x80');
  BOOST_TEST(!binary::decode<std::string>(endless.data(), endless.size()));
}

BOOST_AUTO_TEST_SUITE_END()
