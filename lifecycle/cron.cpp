#include "procman/lifecycle/cron.hpp"

#include <cctype>
#include <ctime>
#include <optional>
#include <sstream>
#include <vector>

#include "procman/messages/calendar.hpp"

namespace procman {

namespace {

struct field_def {
  const char* name;
  int lo;
  int hi;
  const char* const* names; ///< names for lo.. (months, weekdays) or null
  int names_base;
};

const char* const month_names[] = {"jan", "feb", "mar",  "apr", "may",
                                   "jun", "jul", "aug",  "sep", "oct",
                                   "nov", "dec", nullptr};
const char* const weekday_names[] = {"sun", "mon", "tue", "wed",
                                     "thu", "fri", "sat", nullptr};

/// One value of a field: a number or a name; nothing if it is neither.
std::optional<int> parse_value(const std::string& s, const field_def& f) {
  if (s.empty())
    return std::nullopt;
  if (std::isdigit(static_cast<unsigned char>(s[0]))) {
    if (s.size() > 4)
      return std::nullopt;
    for (auto c : s)
      if (!std::isdigit(static_cast<unsigned char>(c)))
        return std::nullopt;
    return std::stoi(s);
  }
  if (f.names == nullptr)
    return std::nullopt;
  std::string lower;
  for (auto c : s)
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (int i = 0; f.names[i] != nullptr; ++i)
    if (lower == f.names[i])
      return i + f.names_base;
  return std::nullopt;
}

/// The values one field allows (bit v: value v; every field's values are
/// below 64), and whether it is `*` (or `?`).
struct field_values {
  std::bitset<64> bits;
  bool any = false;
};

/// `x`'s bits as a field of `cron_expr` holds them.
template <size_t N>
std::bitset<N> narrow(const std::bitset<64>& x) {
  return std::bitset<N>{x.to_ullong()};
}

/// The values of `text`, one field; a failure naming the field and why.
outcome<field_values> parse_field(const std::string& text, const field_def& f) {
  auto fail = [&](const std::string& why) {
    return failure{errc::invalid_argument, std::string{f.name} + ": " + why};
  };
  field_values out;
  out.any = text == "*" || text == "?";
  std::stringstream items{text};
  std::string item;
  bool seen = false;
  while (std::getline(items, item, ',')) {
    seen = true;
    if (item.empty())
      return fail("empty list item in \"" + text + "\"");
    int step = 1;
    auto slash = item.find('/');
    std::string range = item.substr(0, slash);
    if (slash != std::string::npos) {
      auto s = item.substr(slash + 1);
      auto st = parse_value(s, field_def{f.name, 0, 0, nullptr, 0});
      if (!st || *st <= 0)
        return fail("step \"" + s + "\" must be a positive number");
      step = *st;
    }
    int a = f.lo;
    int b = f.hi;
    if (range != "*" && range != "?") {
      auto dash = range.find('-');
      auto first = parse_value(range.substr(0, dash), f);
      if (!first)
        return fail("\"" + range.substr(0, dash) + "\" is not a valid value");
      a = *first;
      if (dash != std::string::npos) {
        auto last = parse_value(range.substr(dash + 1), f);
        if (!last)
          return fail("\"" + range.substr(dash + 1)
                      + "\" is not a valid value");
        b = *last;
      } else if (slash == std::string::npos) {
        b = a;
      }
      for (int v : {a, b})
        if (v < f.lo || v > f.hi)
          return fail(std::to_string(v) + " is out of range "
                      + std::to_string(f.lo) + "-" + std::to_string(f.hi));
      if (a > b)
        return fail("range " + range + " goes backwards");
    }
    for (int v = a; v <= b; v += step)
      out.bits.set(static_cast<size_t>(v));
  }
  if (!seen)
    return fail("is empty");
  return out;
}

uint64_t to_ms(std::tm tm) {
  return static_cast<uint64_t>(timegm(&tm)) * 1000;
}

/// Why the days of month and months of `e` never meet (none: they do).
/// Only when the day of the week does not decide: with both restricted a
/// day matches if either does.
failure never_meets(const cron_expr& e) {
  if (e.any_day || !e.any_weekday)
    return {};
  std::string days;
  std::string months;
  for (int m = 1; m <= 12; ++m) {
    if (!e.months.test(static_cast<size_t>(m)))
      continue;
    for (int d = 1; d <= max_days_in_month(m); ++d)
      if (e.days.test(static_cast<size_t>(d)))
        return {};
    months += (months.empty() ? "" : ", ") + std::string(month_name(m));
  }
  for (int d = 1; d <= 31; ++d)
    if (e.days.test(static_cast<size_t>(d)))
      days += (days.empty() ? "" : ", ") + std::to_string(d);
  return make_failure(errc::invalid_argument,
                      "day-of-month and month: " + months + " never "
                        + (months.find(',') == std::string::npos ? "has"
                                                                 : "have")
                        + " day " + days + ", so it never fires");
}

bool day_matches(const cron_expr& e, const std::tm& tm) {
  bool dom = e.days.test(static_cast<size_t>(tm.tm_mday));
  bool dow = e.weekdays.test(static_cast<size_t>(tm.tm_wday));
  if (e.any_day && e.any_weekday)
    return true;
  if (e.any_day)
    return dow;
  if (e.any_weekday)
    return dom;
  return dom || dow;
}

} // namespace

outcome<cron_expr> parse_cron(const std::string& text) {
  auto fail = [&](const std::string& why) {
    return failure{errc::invalid_argument, "cron \"" + text + "\": " + why};
  };
  std::string expr = text;
  static const std::pair<const char*, const char*> shorthands[]
    = {{"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
       {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
       {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
       {"@hourly", "0 * * * *"}};
  if (!expr.empty() && expr[0] == '@') {
    bool found = false;
    for (auto& [name, value] : shorthands)
      if (expr == name) {
        expr = value;
        found = true;
      }
    if (!found)
      return fail("unknown shorthand (expected @yearly, @annually, @monthly, "
                  "@weekly, @daily, @midnight or @hourly)");
  }
  std::vector<std::string> parts;
  std::stringstream ss{expr};
  for (std::string p; ss >> p;)
    parts.push_back(p);
  if (parts.size() == 5)
    parts.insert(parts.begin(), "0");
  else if (parts.size() != 6)
    return fail("expected 5 fields (minute hour day-of-month month "
                "day-of-week) or 6 (second first), got "
                + std::to_string(parts.size()));
  static const field_def defs[] = {
    {"second", 0, 59, nullptr, 0},    {"minute", 0, 59, nullptr, 0},
    {"hour", 0, 23, nullptr, 0},      {"day-of-month", 1, 31, nullptr, 0},
    {"month", 1, 12, month_names, 1}, {"day-of-week", 0, 7, weekday_names, 0}};
  field_values v[6];
  for (size_t i = 0; i < 6; ++i) {
    auto x = parse_field(parts[i], defs[i]);
    if (!x)
      return fail(x.error().context);
    v[i] = *x;
  }
  cron_expr e;
  e.seconds = narrow<60>(v[0].bits);
  e.minutes = narrow<60>(v[1].bits);
  e.hours = narrow<24>(v[2].bits);
  e.days = narrow<32>(v[3].bits);
  e.any_day = v[3].any;
  e.months = narrow<13>(v[4].bits);
  e.any_weekday = v[5].any;
  auto& wd = v[5].bits;
  for (size_t i = 0; i < 7; ++i)
    e.weekdays[i] = wd[i];
  if (wd[7])
    e.weekdays.set(0);
  if (auto never = never_meets(e))
    return fail(never.context);
  return e;
}

uint64_t next_cron_time(const cron_expr& e, uint64_t after_ms) {
  auto t = static_cast<std::time_t>(after_ms / 1000) + 1;
  std::tm tm{};
  gmtime_r(&t, &tm);
  int limit_year = tm.tm_year + 5;
  // Walk field by field from the largest; each mismatch moves to the start
  // of the next value of that field and starts over.
  while (tm.tm_year <= limit_year) {
    if (!e.months.test(static_cast<size_t>(tm.tm_mon + 1))) {
      tm.tm_mon += 1;
      tm.tm_mday = 1;
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      if (tm.tm_mon > 11) {
        tm.tm_mon = 0;
        tm.tm_year += 1;
      }
      continue;
    }
    // Normalize (tm_wday) before checking the day.
    auto norm = timegm(&tm);
    gmtime_r(&norm, &tm);
    if (!day_matches(e, tm)) {
      if (tm.tm_mday >= days_in_month(tm.tm_year + 1900, tm.tm_mon + 1)) {
        tm.tm_mday = 1;
        tm.tm_mon += 1;
        if (tm.tm_mon > 11) {
          tm.tm_mon = 0;
          tm.tm_year += 1;
        }
      } else {
        tm.tm_mday += 1;
      }
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      continue;
    }
    if (!e.hours.test(static_cast<size_t>(tm.tm_hour))) {
      tm.tm_hour += 1;
      tm.tm_min = tm.tm_sec = 0;
      if (tm.tm_hour > 23) {
        tm.tm_hour = 0;
        tm.tm_mday += 1;
        norm = timegm(&tm);
        gmtime_r(&norm, &tm);
      }
      continue;
    }
    if (!e.minutes.test(static_cast<size_t>(tm.tm_min))) {
      tm.tm_min += 1;
      tm.tm_sec = 0;
      if (tm.tm_min > 59) {
        tm.tm_min = 0;
        tm.tm_hour += 1;
        norm = timegm(&tm);
        gmtime_r(&norm, &tm);
      }
      continue;
    }
    if (!e.seconds.test(static_cast<size_t>(tm.tm_sec))) {
      tm.tm_sec += 1;
      if (tm.tm_sec > 59) {
        tm.tm_sec = 0;
        tm.tm_min += 1;
        norm = timegm(&tm);
        gmtime_r(&norm, &tm);
      }
      continue;
    }
    return to_ms(tm);
  }
  return 0;
}

} // namespace procman
