// Bytes on disk: values are one version byte followed by the CAF 0.17 binary
// serialization of the struct (the same `inspect` serves network, disk and
// the message log); keys are fixed-width big-endian integers, optionally
// followed by a pid, so that LMDB's byte-wise order is numeric order.

#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/error.hpp>

#include "procman/messages/types.hpp"

namespace procman::codec {

/// The version byte in front of an encoded `T`: 1 for everything but log
/// entries.
template <class T>
struct value_version : std::integral_constant<uint8_t, 1> {};

/// Log entries: 2 since transitions carry typed payloads; 1 is the layout
/// with a JSON text (persistence/legacy_log_entry.hpp reads it).
template <>
struct value_version<log_entry> : std::integral_constant<uint8_t, 2> {};

/// Serializes `x` behind its version byte. Returns an error only if the
/// serializer does (it never does for plain data).
template <class T>
caf::error encode(const T& x, std::vector<char>& out) {
  out.clear();
  out.push_back(static_cast<char>(value_version<T>::value));
  caf::binary_serializer sink{nullptr, out};
  // The serializer only reads; CAF 0.17's inspect takes a mutable reference.
  return sink(const_cast<T&>(x));
}

/// Deserializes the bytes after a version byte. Returns false for a
/// truncated value or trailing bytes.
template <class T>
bool decode_body(const char* data, size_t size, T& x) {
  caf::binary_deserializer src{nullptr, data, size};
  if (auto err = src(x))
    return false;
  return src.remaining() == 0;
}

/// Deserializes a value written by `encode`. Returns false for another
/// version byte, a truncated value, or trailing bytes.
template <class T>
bool decode(const char* data, size_t size, T& x) {
  if (size < 1 || static_cast<uint8_t>(data[0]) != value_version<T>::value)
    return false;
  return decode_body(data + 1, size - 1, x);
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
/// position depends on the store's history, not on the process).
template <class Record>
uint64_t record_digest(const Record& rec) {
  auto copy = rec;
  copy.queue_seq = 0;
  std::vector<char> buf;
  if (encode(copy, buf))
    return 0;
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

/// 1 byte `status`, then `pid` (status index).
inline std::string u8_pid_key(uint8_t x, std::string_view pid) {
  std::string key(1, static_cast<char>(x));
  key.append(pid);
  return key;
}

} // namespace procman::codec
