// Binary encoding of procman's stored values without linking CAF: a writer
// and a reader over the same `inspect` functions (messages/types.hpp) that
// produce and read exactly the bytes of CAF 0.17.6's binary_serializer and
// binary_deserializer, so that stores, message logs and golden logs written
// either way read either way. A program that only reads and writes a store
// (the local CLI) then needs no CAF library at run time.
//
// The encoding, as CAF 0.17.6 writes it:
//   - integers and enums (as their underlying type): fixed width, big-endian;
//     bool: one byte, 0 or 1;
//   - float, double: CAF's IEEE 754 packing (caf/detail/ieee_754.hpp, a
//     header-only part of CAF) as a 32 or 64 bit integer;
//   - strings and sequences: the element count as a varbyte (7 bits per
//     byte, low bits first, high bit set on all but the last; the count
//     is cut to 32 bits), then the bytes or the elements;
//   - pairs, tuples, arrays: their elements in order, no count;
//   - durations: the count; time points: the duration since the epoch;
//   - a struct: the fields its `inspect` names, in order; annotations such
//     as caf::meta::type_name write nothing.
// tests/messages/binary_codec.cpp holds both to caf::binary_serializer's
// bytes for every stored type.

#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

// Header-only parts of CAF: the annotation traits inspect functions use and
// CAF's float packing. Neither needs libcaf_core.
#include <caf/detail/ieee_754.hpp>
#include <caf/meta/annotation.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/save_callback.hpp>
#include <caf/meta/type_name.hpp>

namespace procman::binary {

/// What an `inspect` function returns with these inspectors. Like
/// caf::error, it converts to true when something went wrong: a value that
/// ends early or holds what its type cannot.
class result {
public:
  result() = default;

  static result failed() {
    result r;
    r.failed_ = true;
    return r;
  }

  explicit operator bool() const noexcept { return failed_; }

private:
  bool failed_ = false;
};

namespace detail {

template <class T, class = void>
struct is_sequence : std::false_type {};

template <class T>
struct is_sequence<T, std::void_t<decltype(std::declval<T&>().begin()),
                                  decltype(std::declval<T&>().end()),
                                  decltype(std::declval<T&>().size()),
                                  decltype(std::declval<T&>().clear())>>
  : std::true_type {};

template <class T>
struct is_duration : std::false_type {};

template <class Rep, class Period>
struct is_duration<std::chrono::duration<Rep, Period>> : std::true_type {};

template <class T>
struct is_time_point : std::false_type {};

template <class Clock, class Duration>
struct is_time_point<std::chrono::time_point<Clock, Duration>>
  : std::true_type {};

template <class T>
struct is_pair : std::false_type {};

template <class F, class S>
struct is_pair<std::pair<F, S>> : std::true_type {};

template <class T>
struct is_tuple : std::false_type {};

template <class... Ts>
struct is_tuple<std::tuple<Ts...>> : std::true_type {};

template <class T>
struct is_array : std::false_type {};

template <class T, size_t N>
struct is_array<std::array<T, N>> : std::true_type {};

template <class T>
struct unsupported : std::false_type {};

/// The unsigned integer of `T`'s width.
template <class T>
using uint_of = std::conditional_t<
  sizeof(T) == 1, uint8_t,
  std::conditional_t<sizeof(T) == 2, uint16_t,
                     std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;

/// What CAF calls an annotation (type_name, omittable, ...) or a callback:
/// fields that are not data.
template <class T>
constexpr bool is_meta = caf::meta::is_annotation<T>::value;

} // namespace detail

/// Appends the encoding of what it inspects to a byte buffer.
class writer {
public:
  using result_type = result;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;

  explicit writer(std::vector<char>& out) : out_(out) {
    // nop
  }

  template <class... Ts>
  result operator()(Ts&&... xs) {
    (put(xs), ...);
    return {};
  }

private:
  void raw(const void* data, size_t n) {
    auto p = static_cast<const char*>(data);
    if (n <= 8) {
      // Integers and short strings: push_back stays inline.
      for (size_t i = 0; i < n; ++i)
        out_.push_back(p[i]);
      return;
    }
    out_.insert(out_.end(), p, p + n);
  }

  template <class U>
  void big_endian(U x) {
    char buf[sizeof(U)];
    for (size_t i = sizeof(U); i > 0; --i) {
      buf[i - 1] = static_cast<char>(x & 0xFF);
      x = static_cast<U>(x >> 8);
    }
    raw(buf, sizeof(U));
  }

  void count(size_t n) {
    auto x = static_cast<uint32_t>(n);
    while (x > 0x7f) {
      out_.push_back(static_cast<char>((x & 0x7f) | 0x80));
      x >>= 7;
    }
    out_.push_back(static_cast<char>(x & 0x7f));
  }

  template <class T>
  void put(const T& x) {
    using type = std::decay_t<T>;
    if constexpr (caf::meta::is_save_callback<type>::value
                  || caf::meta::is_load_callback<type>::value) {
      static_assert(detail::unsupported<type>::value,
                    "stored types have no callbacks");
    } else if constexpr (detail::is_meta<type>) {
      // writes nothing
    } else if constexpr (std::is_same_v<type, bool>) {
      out_.push_back(x ? 1 : 0);
    } else if constexpr (std::is_enum_v<type>) {
      put(static_cast<std::underlying_type_t<type>>(x));
    } else if constexpr (std::is_integral_v<type>) {
      big_endian(static_cast<detail::uint_of<type>>(x));
    } else if constexpr (std::is_floating_point_v<type>) {
      static_assert(!std::is_same_v<type, long double>,
                    "CAF writes a long double as text");
      big_endian(caf::detail::pack754(x));
    } else if constexpr (std::is_same_v<type, std::string>) {
      count(x.size());
      raw(x.data(), x.size());
    } else if constexpr (std::is_same_v<type, std::vector<bool>>) {
      static_assert(detail::unsupported<type>::value,
                    "CAF packs std::vector<bool>; stored types have none");
    } else if constexpr (detail::is_duration<type>::value) {
      put(x.count());
    } else if constexpr (detail::is_time_point<type>::value) {
      put(x.time_since_epoch());
    } else if constexpr (detail::is_pair<type>::value) {
      put(x.first);
      put(x.second);
    } else if constexpr (detail::is_tuple<type>::value) {
      std::apply([this](const auto&... ys) { (put(ys), ...); }, x);
    } else if constexpr (detail::is_array<type>::value) {
      for (auto& y : x)
        put(y);
    } else if constexpr (detail::is_sequence<type>::value) {
      count(x.size());
      for (auto& y : x)
        put(y);
    } else {
      // A struct: its inspect function (CAF 0.17's take a mutable
      // reference; the writer only reads).
      inspect(*this, const_cast<type&>(x));
    }
  }

  std::vector<char>& out_;
};

/// Reads values from a byte range that a writer (or CAF's
/// binary_serializer) wrote.
class reader {
public:
  using result_type = result;
  static constexpr bool reads_state = false;
  static constexpr bool writes_state = true;

  reader(const char* data, size_t size) : pos_(data), end_(data + size) {
    // nop
  }

  /// Bytes not read yet.
  size_t remaining() const noexcept { return static_cast<size_t>(end_ - pos_); }

  template <class... Ts>
  result operator()(Ts&&... xs) {
    if (!(get(xs) && ...))
      return result::failed();
    return {};
  }

private:
  bool raw(void* data, size_t n) {
    if (remaining() < n)
      return false;
    std::memcpy(data, pos_, n);
    pos_ += n;
    return true;
  }

  template <class U>
  bool big_endian(U& x) {
    if (remaining() < sizeof(U))
      return false;
    U v = 0;
    for (size_t i = 0; i < sizeof(U); ++i)
      v = static_cast<U>((v << 8) | static_cast<uint8_t>(pos_[i]));
    pos_ += sizeof(U);
    x = v;
    return true;
  }

  bool count(size_t& n) {
    // A 32-bit count takes at most 5 bytes.
    uint32_t x = 0;
    for (int i = 0; i < 5; ++i) {
      if (pos_ == end_)
        return false;
      auto b = static_cast<uint8_t>(*pos_++);
      x |= static_cast<uint32_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        n = x;
        return true;
      }
    }
    return false;
  }

  template <class T>
  bool get(T& x) {
    using type = std::decay_t<T>;
    if constexpr (caf::meta::is_save_callback<type>::value
                  || caf::meta::is_load_callback<type>::value) {
      static_assert(detail::unsupported<type>::value,
                    "stored types have no callbacks");
      return false;
    } else if constexpr (detail::is_meta<type>) {
      return true;
    } else if constexpr (std::is_same_v<type, bool>) {
      uint8_t b = 0;
      if (!big_endian(b))
        return false;
      x = b != 0;
      return true;
    } else if constexpr (std::is_enum_v<type>) {
      std::underlying_type_t<type> u{};
      if (!get(u))
        return false;
      x = static_cast<type>(u);
      return true;
    } else if constexpr (std::is_integral_v<type>) {
      detail::uint_of<type> u = 0;
      if (!big_endian(u))
        return false;
      x = static_cast<type>(u);
      return true;
    } else if constexpr (std::is_floating_point_v<type>) {
      static_assert(!std::is_same_v<type, long double>,
                    "CAF writes a long double as text");
      typename caf::detail::ieee_754_trait<type>::packed_type u = 0;
      if (!big_endian(u))
        return false;
      x = caf::detail::unpack754(u);
      return true;
    } else if constexpr (std::is_same_v<type, std::string>) {
      size_t n = 0;
      if (!count(n) || remaining() < n)
        return false;
      x.assign(pos_, n);
      pos_ += n;
      return true;
    } else if constexpr (std::is_same_v<type, std::vector<bool>>) {
      static_assert(detail::unsupported<type>::value,
                    "CAF packs std::vector<bool>; stored types have none");
      return false;
    } else if constexpr (detail::is_duration<type>::value) {
      typename type::rep r{};
      if (!get(r))
        return false;
      x = type{r};
      return true;
    } else if constexpr (detail::is_time_point<type>::value) {
      typename type::duration d{};
      if (!get(d))
        return false;
      x = type{d};
      return true;
    } else if constexpr (detail::is_pair<type>::value) {
      using first = std::remove_const_t<typename type::first_type>;
      return get(const_cast<first&>(x.first)) && get(x.second);
    } else if constexpr (detail::is_tuple<type>::value) {
      return std::apply([this](auto&... ys) { return (get(ys) && ...); }, x);
    } else if constexpr (detail::is_array<type>::value) {
      for (auto& y : x)
        if (!get(y))
          return false;
      return true;
    } else if constexpr (detail::is_sequence<type>::value) {
      size_t n = 0;
      if (!count(n))
        return false;
      x.clear();
      auto into = std::inserter(x, x.end());
      for (size_t i = 0; i < n; ++i) {
        // Every element takes at least one byte: a count beyond what is
        // left is a damaged value, not a reason to allocate.
        if (pos_ == end_)
          return false;
        std::remove_const_t<typename type::value_type> y{};
        if (!get(y))
          return false;
        *into++ = std::move(y);
      }
      return true;
    } else {
      return !inspect(*this, x);
    }
  }

  const char* pos_;
  const char* end_;
};

/// `x` encoded (no version byte).
template <class T>
std::vector<char> encode(const T& x) {
  std::vector<char> out;
  writer w{out};
  w(x);
  return out;
}

/// The `T` in exactly `size` bytes; nothing when they end early, hold more,
/// or hold what `T` cannot.
template <class T>
std::optional<T> decode(const char* data, size_t size) {
  std::optional<T> x{std::in_place};
  reader r{data, size};
  if (r(*x) || r.remaining() != 0)
    return std::nullopt;
  return x;
}

} // namespace procman::binary
