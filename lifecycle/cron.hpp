// Cron expressions of recurring schedules, in UTC. No actors, no LMDB.
//
//   minute hour day-of-month month day-of-week          (5 fields)
//   second minute hour day-of-month month day-of-week   (6 fields)
//
// Each field: `*`, a number, a range `a-b`, a step `*/n` or `a-b/n` or
// `a/n`, or a comma-separated list of those. Months may be named jan-dec,
// days of the week sun-sat (0 or 7 is Sunday). As in Vixie cron, when both
// day-of-month and day-of-week are restricted (neither is `*`), a day
// matches if either does. Shorthands: @yearly (@annually), @monthly,
// @weekly, @daily (@midnight), @hourly.

#pragma once

#include <bitset>
#include <cstdint>
#include <string>

#include "procman/messages/failure.hpp"

namespace procman {

/// A parsed cron expression.
struct cron_expr {
  std::bitset<60> seconds;
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;    ///< 1..31
  std::bitset<13> months;  ///< 1..12
  std::bitset<7> weekdays; ///< 0 = Sunday
  bool any_day = true;     ///< day-of-month is `*`
  bool any_weekday = true; ///< day-of-week is `*`
};

/// Parses `text`. Fails (errc::invalid_argument) naming the field and the
/// problem: `cron "61 * * * *": minute: 61 is out of range 0-59`. An
/// expression whose days of month no month it names has (`0 0 31 2 *`,
/// `0 0 31 4,6 *`) never fires and fails too.
outcome<cron_expr> parse_cron(const std::string& text);

/// The first time strictly after `after_ms` (unix ms, UTC) that matches,
/// in unix ms (whole seconds); 0 if none within the next 5 years.
uint64_t next_cron_time(const cron_expr& expr, uint64_t after_ms);

} // namespace procman
