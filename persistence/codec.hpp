// Bytes on disk: values are one version byte followed by the CAF 0.17 binary
// serialization of the struct (the same `inspect` serves network, disk and
// the message log), written and read by messages/binary_codec.hpp, which
// needs no CAF library; keys are fixed-width big-endian integers, optionally
// followed by a pid, so that LMDB's byte-wise order is numeric order.

#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "procman/messages/binary_codec.hpp"
#include "procman/messages/types.hpp"

namespace procman::codec {

/// The version byte in front of an encoded `T`: 1 unless said below.
template <class T>
struct value_version : std::integral_constant<uint8_t, 1> {};

/// Records: 3 since they carry step times; 2 is the layout without them
/// (`record_v2`), with job options and attempts (priority, not_before, key,
/// retry, attempts, attempt_errors, schedule); 1 the layout without those
/// too (`record_v1`).
template <>
struct value_version<process_record> : std::integral_constant<uint8_t, 3> {};

/// Log entries: 3 since transitions and specs carry the job fields; 2 is
/// the layout without them (`entry_v2`); 1 the layout with a JSON text
/// (persistence/legacy_log_entry.hpp reads it).
template <>
struct value_version<log_entry> : std::integral_constant<uint8_t, 3> {};

// -- older layouts ------------------------------------------------------------
// Views that (de)serialize the fields an older layout had, into or out of
// the current structs; the newer fields keep their defaults.

struct spec_v1 {
  process_spec& x;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, spec_v1& v) {
  return f(caf::meta::type_name("process_spec"), v.x.steps, v.x.timeout,
           v.x.data);
}

struct record_v1 {
  process_record& x;
  /// Stands for x.queue_seq (record_digest writes a 0 there instead).
  uint64_t& queue_seq = x.queue_seq;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_v1& v) {
  auto& x = v.x;
  return f(caf::meta::type_name("process_record"), x.pid, x.status,
           x.created_at, x.started_at, x.updated_at, x.finished_at, x.timeout,
           x.steps, x.step_states, x.last_completed, x.next_step, x.data,
           x.output, x.progress, x.error, x.runner, x.exec_pid, v.queue_seq,
           x.runs, x.cancel_requested);
}

struct record_v2 {
  process_record& x;
  /// Stands for x.queue_seq (record_digest writes a 0 there instead).
  uint64_t& queue_seq = x.queue_seq;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_v2& v) {
  auto& x = v.x;
  return f(caf::meta::type_name("process_record"), x.pid, x.status,
           x.created_at, x.started_at, x.updated_at, x.finished_at, x.timeout,
           x.steps, x.step_states, x.last_completed, x.next_step, x.data,
           x.output, x.progress, x.error, x.runner, x.exec_pid, v.queue_seq,
           x.runs, x.cancel_requested, x.priority, x.not_before, x.key, x.retry,
           x.attempts, x.attempt_errors, x.schedule);
}

struct transition_v2 {
  transition& x;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transition_v2& v) {
  auto& x = v.x;
  spec_v1 spec{x.spec};
  return f(caf::meta::type_name("transition"), x.kind, x.pid, x.source,
           x.runner, x.step, x.exec_pid, x.timeout, spec, x.data, x.output,
           x.progress, x.error, x.exec_path, x.spawn_errno, x.garbage);
}

struct entry_v2 {
  log_entry& x;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, entry_v2& v) {
  auto& x = v.x;
  transition_v2 what{x.what};
  return f(caf::meta::type_name("log_entry"), x.seq, x.time, what,
           x.status_after, x.digest);
}

/// A log entry from its parts, as `encode` writes a log_entry with these
/// fields (the same bytes): the transition is not copied.
struct entry_parts {
  uint64_t seq = 0;
  uint64_t time = 0;
  transition& what;
  process_status status_after = process_status::queued;
  uint64_t digest = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, entry_parts& x) {
  return f(caf::meta::type_name("log_entry"), x.seq, x.time, x.what,
           x.status_after, x.digest);
}

template <>
struct value_version<entry_parts> : value_version<log_entry> {};

/// This thread's buffer for an encoding that lives only until the next
/// (a value written to LMDB, a digest): empty, with the capacity of its
/// last use, so that a commit does not allocate one per value. One scratch
/// at a time per thread; one that grew past 64 KiB (a record with a large
/// output) is freed when it is let go.
class scratch {
public:
  scratch() : buf(instance()) { buf.clear(); }

  ~scratch() {
    if (buf.capacity() > (64u << 10))
      std::vector<char>{}.swap(buf);
  }

  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;

  std::vector<char>& buf;

private:
  static std::vector<char>& instance() {
    thread_local std::vector<char> b;
    return b;
  }
};

/// Writes `x` behind its version byte into `out` (cleared first; a buffer
/// kept for the next value, see `scratch`). Plain data cannot fail to
/// encode.
template <class T>
void encode(const T& x, std::vector<char>& out) {
  out.clear();
  out.push_back(static_cast<char>(value_version<T>::value));
  binary::writer sink{out};
  // The writer only reads; CAF 0.17's inspect takes a mutable reference.
  sink(const_cast<T&>(x));
}

/// The `T` in the bytes after a version byte, read through `View` (an
/// older version's field list over a `T&`; by default the `T` itself), or
/// nothing for a truncated value or trailing bytes.
template <class T, class View = T&>
std::optional<T> decode_body(const char* data, size_t size) {
  std::optional<T> x{std::in_place};
  View v{*x};
  binary::reader src{data, size};
  if (src(v) || src.remaining() != 0)
    return std::nullopt;
  return x;
}

/// The version byte of an encoded value (0: empty, no value).
inline uint8_t version_of(const char* data, size_t size) {
  return size < 1 ? 0 : static_cast<uint8_t>(data[0]);
}

/// The value `encode` wrote, or nothing for another version byte, a
/// truncated value, or trailing bytes.
template <class T>
std::optional<T> decode(const char* data, size_t size) {
  if (version_of(data, size) != value_version<T>::value)
    return std::nullopt;
  return decode_body<T>(data + 1, size - 1);
}

/// A record of any version (the fields an older one lacks at their
/// defaults: no step times before version 3).
template <>
inline std::optional<process_record>
decode<process_record>(const char* data, size_t size) {
  switch (version_of(data, size)) {
    case 1:
      return decode_body<process_record, record_v1>(data + 1, size - 1);
    case 2:
      return decode_body<process_record, record_v2>(data + 1, size - 1);
    case 3:
      return decode_body<process_record>(data + 1, size - 1);
    default:
      return std::nullopt;
  }
}

/// A log entry of version 2 or 3 (version 1: legacy_log_entry).
template <>
inline std::optional<log_entry>
decode<log_entry>(const char* data, size_t size) {
  switch (version_of(data, size)) {
    case 2:
      return decode_body<log_entry, entry_v2>(data + 1, size - 1);
    case 3:
      return decode_body<log_entry>(data + 1, size - 1);
    default:
      return std::nullopt;
  }
}

/// FNV-1a (64 bit) of a byte range.
inline uint64_t fnv1a(const char* data, size_t size) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 1099511628211ull;
  }
  return h;
}

/// The digest a log entry carries of the record after its transition:
/// FNV-1a of the record's encoding with its queue position zeroed (the
/// position depends on the store's history, not on the process). A record
/// whose job fields are all at their defaults is digested in its version 1
/// encoding, any other in its version 2 encoding, so that logs recorded
/// before those fields existed replay. Step times are not digested: they
/// follow from the entries' times, which the replay compares itself, and
/// leaving them out keeps the digests of older logs.
inline uint64_t record_digest(const process_record& rec) {
  uint64_t no_position = 0;
  // The writer only reads (encode); the record is not copied.
  auto& x = const_cast<process_record&>(rec);
  scratch s;
  auto& buf = s.buf;
  binary::writer sink{buf};
  if (plain_record(rec)) {
    buf.push_back(1);
    record_v1 v{x, no_position};
    sink(v);
  } else {
    buf.push_back(2);
    record_v2 v{x, no_position};
    sink(v);
  }
  return fnv1a(buf.data(), buf.size());
}

/// The digest a schedule_add or schedule_remove entry carries: of the
/// schedule after it (removed: as it was).
inline uint64_t schedule_digest(const schedule_record& x) {
  std::vector<char> buf;
  encode(x, buf);
  return fnv1a(buf.data(), buf.size());
}

// -- keys ---------------------------------------------------------------------

inline void put_u64_be(char* out, uint64_t x) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(x & 0xFF);
    x >>= 8;
  }
}

inline uint64_t get_u64_be(const char* in) {
  uint64_t x = 0;
  for (int i = 0; i < 8; ++i)
    x = (x << 8) | static_cast<uint8_t>(in[i]);
  return x;
}

inline std::string u64_key(uint64_t x) {
  std::string key(8, '\0');
  put_u64_be(key.data(), x);
  return key;
}

/// 8 bytes big-endian `x`, then `pid` (expiry and created indexes).
inline std::string u64_pid_key(uint64_t x, std::string_view pid) {
  std::string key(8, '\0');
  put_u64_be(key.data(), x);
  key.append(pid);
  return key;
}

inline void put_u32_be(char* out, uint32_t x) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<char>(x & 0xFF);
    x >>= 8;
  }
}

inline uint32_t get_u32_be(const char* in) {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x = (x << 8) | static_cast<uint8_t>(in[i]);
  return x;
}

/// The queue index's key: 4 bytes of the priority inverted (higher first),
/// then the queue number big-endian (FIFO within a priority).
inline std::string queue_key(int32_t priority, uint64_t queue_seq) {
  std::string key(12, '\0');
  // Flipping the sign bit orders int32 as unsigned; inverting puts the
  // highest priority first.
  put_u32_be(key.data(), ~(static_cast<uint32_t>(priority) ^ 0x80000000u));
  put_u64_be(key.data() + 4, queue_seq);
  return key;
}

/// The delayed index's key: not_before big-endian, then the queue key.
inline std::string delayed_key(uint64_t not_before, int32_t priority,
                               uint64_t queue_seq) {
  std::string key(8, '\0');
  put_u64_be(key.data(), not_before);
  key += queue_key(priority, queue_seq);
  return key;
}

/// 1 byte `status`, then `pid` (status index).
inline std::string u8_pid_key(uint8_t x, std::string_view pid) {
  std::string key(1, static_cast<char>(x));
  key.append(pid);
  return key;
}

} // namespace procman::codec
