#include "procman/messages/units.hpp"

#include <cctype>
#include <limits>
#include <optional>

namespace procman {

namespace {

/// A whole number at the start of a text, and where it ends.
struct leading {
  uint64_t value = 0;
  size_t end = 0;
};

/// The whole number at the start of `text`. None when there is no digit
/// or it overflows.
std::optional<leading> leading_number(std::string_view text) {
  leading x;
  while (x.end < text.size()
         && std::isdigit(static_cast<unsigned char>(text[x.end]))) {
    auto digit = static_cast<uint64_t>(text[x.end] - '0');
    if (x.value > (std::numeric_limits<uint64_t>::max() - digit) / 10)
      return std::nullopt;
    x.value = x.value * 10 + digit;
    ++x.end;
  }
  if (x.end == 0)
    return std::nullopt;
  return x;
}

/// `x * factor`, none when it overflows.
std::optional<uint64_t> times(uint64_t x, uint64_t factor) {
  if (factor != 0 && x > std::numeric_limits<uint64_t>::max() / factor)
    return std::nullopt;
  return x * factor;
}

} // namespace

outcome<uint64_t> parse_duration(std::string_view text,
                                 const std::string& what) {
  auto refuse = [&] {
    return failure{errc::invalid_argument,
                   what
                     + " must be a duration such as 30, 30s, 15m, 12h or "
                       "7d, not \""
                     + std::string(text) + "\""};
  };
  // A whole number, optionally with a fraction, then at most a unit.
  auto number = leading_number(text);
  if (!number)
    return refuse();
  auto whole = number->value;
  auto pos = number->end;
  uint64_t frac = 0;
  uint64_t frac_scale = 1;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    auto start = pos;
    while (pos < text.size()
           && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      // Digits beyond the ninth cannot change a millisecond of a day.
      if (frac_scale < 1000000000) {
        frac = frac * 10 + static_cast<uint64_t>(text[pos] - '0');
        frac_scale *= 10;
      }
      ++pos;
    }
    if (pos == start)
      return refuse();
  }
  uint64_t unit = 1000; // a bare number is seconds
  if (pos < text.size()) {
    switch (text[pos]) {
      case 's':
        unit = 1000;
        break;
      case 'm':
        unit = 60 * 1000;
        break;
      case 'h':
        unit = 3600 * 1000;
        break;
      case 'd':
        unit = 24 * 3600 * 1000;
        break;
      default:
        return refuse();
    }
    ++pos;
  }
  if (pos != text.size())
    return refuse();
  // Beyond a hundred years nothing is ever due or purged anyway.
  constexpr uint64_t max_ms = uint64_t{36500} * 24 * 3600 * 1000;
  auto product = times(whole, unit);
  if (!product || *product > max_ms)
    return failure{errc::invalid_argument,
                   what + " is too long (at most 36500d), not \""
                     + std::string(text) + "\""};
  // Rounded to the nearest millisecond.
  auto ms = *product + (frac * unit + frac_scale / 2) / frac_scale;
  if (ms > max_ms)
    return failure{errc::invalid_argument,
                   what + " is too long (at most 36500d), not \""
                     + std::string(text) + "\""};
  return ms;
}

std::string format_duration(uint64_t ms) {
  auto s = ms / 1000;
  if (s == 0)
    return "0s";
  if (s % (24 * 3600) == 0)
    return std::to_string(s / (24 * 3600)) + "d";
  if (s % 3600 == 0)
    return std::to_string(s / 3600) + "h";
  if (s % 60 == 0)
    return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

outcome<uint64_t> parse_size(std::string_view text, const std::string& what) {
  auto refuse = [&] {
    return failure{errc::invalid_argument,
                   what + " must be a size like 1048576, 512K, 1M or 1G, not \""
                     + std::string(text) + "\""};
  };
  auto number = leading_number(text);
  if (!number)
    return refuse();
  auto suffix = text.substr(number->end);
  uint64_t unit = 1;
  if (!suffix.empty()) {
    switch (std::toupper(static_cast<unsigned char>(suffix[0]))) {
      case 'K':
        unit = uint64_t{1} << 10;
        break;
      case 'M':
        unit = uint64_t{1} << 20;
        break;
      case 'G':
        unit = uint64_t{1} << 30;
        break;
      default:
        return refuse();
    }
    auto rest = suffix.substr(1);
    if (!rest.empty() && rest != "B" && rest != "iB")
      return refuse();
  }
  auto bytes = times(number->value, unit);
  if (!bytes || *bytes > (uint64_t{1} << 40))
    return failure{errc::invalid_argument,
                   what + " is too large (at most 1024G), not \""
                     + std::string(text) + "\""};
  return *bytes;
}

std::string format_size(uint64_t bytes) {
  if (bytes != 0 && bytes % (uint64_t{1} << 30) == 0)
    return std::to_string(bytes >> 30) + "G";
  if (bytes != 0 && bytes % (uint64_t{1} << 20) == 0)
    return std::to_string(bytes >> 20) + "M";
  if (bytes != 0 && bytes % (uint64_t{1} << 10) == 0)
    return std::to_string(bytes >> 10) + "K";
  return std::to_string(bytes);
}

} // namespace procman
