#include "procman/steps/text.hpp"

#include <boost/json/serializer.hpp>

namespace procman {

namespace {

// Length of the well-formed UTF-8 sequence at `s[i]`, 0 if ill-formed
// (Unicode 15, table 3-7: no overlongs, no surrogates, <= U+10FFFF).
size_t utf8_sequence(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto c = byte(i);
  if (c < 0x80)
    return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size())
    return 0;
  auto c1 = byte(i + 1);
  if (c1 < lo || c1 > hi)
    return 0;
  for (size_t k = 2; k < n; ++k)
    if ((byte(i + k) & 0xC0) != 0x80)
      return 0;
  return n;
}

} // namespace

bool valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    // Fast path for ASCII runs.
    if (static_cast<unsigned char>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    auto n = utf8_sequence(text, i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

bool sanitize_utf8(std::string& text) {
  if (valid_utf8(text))
    return false;
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t i = 0; i < text.size();) {
    auto n = utf8_sequence(text, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  text.swap(out);
  return true;
}

std::string text_tail(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes)
    return std::string(text);
  auto start = text.size() - max_bytes;
  // Do not start inside a multi-byte character.
  while (start < text.size()
         && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
    ++start;
  return "..." + std::string(text.substr(start));
}

size_t serialized_size(const boost::json::value& v) {
  boost::json::serializer sr;
  sr.reset(&v);
  char buf[16384];
  size_t total = 0;
  while (!sr.done())
    total += sr.read(buf, sizeof(buf)).size();
  return total;
}

} // namespace procman
