#include "procman/messages/time.hpp"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "procman/messages/calendar.hpp"

namespace procman {

std::string timestamp(uint64_t unix_ms) {
  if (unix_ms == 0)
    return {};
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d%H%M%S", &tm);
  return buf;
}

std::string iso_time(uint64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (auto ms = unix_ms % 1000; ms != 0) {
    char frac[8];
    std::snprintf(frac, sizeof(frac), ".%03u", static_cast<unsigned>(ms));
    out += frac;
  }
  return out + "Z";
}

/// Why a date and second that are in range field by field are still no
/// time (empty: they are one). timegm would carry them into the next
/// month or minute.
static std::string calendar_problem(int year, int month, int day, int second) {
  if (day > days_in_month(year, month))
    return std::string(month_name(month)) + " " + std::to_string(year) + " has "
           + std::to_string(days_in_month(year, month)) + " days, not "
           + std::to_string(day)
           + (month == 2 && day == 29
                ? " (" + std::to_string(year) + " is not a leap year)"
                : "");
  if (second == 60)
    return "second 60 (a leap second) is not a time procman can keep; the "
           "seconds go from 00 to 59";
  return {};
}

outcome<uint64_t> parse_time(const std::string& text) {
  auto fail = [&] {
    return failure{errc::invalid_spec,
                   "\"" + text
                     + "\" is not a time: expected UTC YYYYMMDDHHMMSS "
                       "(20261201100000) or ISO 8601 (2026-12-01T10:00:00Z, "
                       "2026-12-01T11:00:00+01:00)"};
  };
  auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > text.size())
      return false;
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i])))
        return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0, ms = 0;
  long offset = 0;
  if (text.size() == 14) {
    if (!digits(0, 4, y) || !digits(4, 2, mo) || !digits(6, 2, d)
        || !digits(8, 2, h) || !digits(10, 2, mi) || !digits(12, 2, se))
      return fail();
  } else {
    // YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)
    if (!digits(0, 4, y) || text.size() < 20 || text[4] != '-'
        || !digits(5, 2, mo) || text[7] != '-' || !digits(8, 2, d)
        || (text[10] != 'T' && text[10] != 't' && text[10] != ' ')
        || !digits(11, 2, h) || text[13] != ':' || !digits(14, 2, mi)
        || text[16] != ':' || !digits(17, 2, se))
      return fail();
    size_t pos = 19;
    if (pos < text.size() && text[pos] == '.') {
      size_t start = ++pos;
      while (pos < text.size()
             && std::isdigit(static_cast<unsigned char>(text[pos])))
        ++pos;
      if (pos == start)
        return fail();
      auto frac = text.substr(start, std::min<size_t>(3, pos - start));
      while (frac.size() < 3)
        frac += '0';
      ms = std::stoi(frac);
    }
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
      ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      int oh = 0, om = 0;
      if (!digits(pos + 1, 2, oh) || pos + 3 >= text.size()
          || text[pos + 3] != ':' || !digits(pos + 4, 2, om) || oh > 23
          || om > 59)
        return fail();
      offset = (text[pos] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
      pos += 6;
    } else {
      return fail();
    }
    if (pos != text.size())
      return fail();
  }
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
      || se > 60)
    return fail();
  if (auto why = calendar_problem(y, mo, d, se); !why.empty())
    return failure{errc::invalid_spec,
                   "\"" + text + "\" is not a time: " + why};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  auto secs = static_cast<long long>(timegm(&tm)) - offset;
  if (secs < 0)
    return fail();
  return static_cast<uint64_t>(secs) * 1000 + static_cast<uint64_t>(ms);
}

uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
    duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count());
}

} // namespace procman
