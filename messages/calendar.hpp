// The Gregorian calendar's month lengths, for the checks of times procman
// reads (a spec's not_before, cron expressions): a day beyond its month is
// an error, never carried into the next month.

#pragma once

namespace procman {

constexpr bool leap_year(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/// Days of month `month` (1-12) of `year`; 0 for a month out of range.
constexpr int days_in_month(int year, int month) {
  constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12)
    return 0;
  return month == 2 && leap_year(year) ? 29 : days[month - 1];
}

/// The most days month `month` (1-12) ever has (February: 29).
constexpr int max_days_in_month(int month) {
  return month == 2 ? 29 : days_in_month(2001, month);
}

/// "January" ... "December"; "?" out of range.
constexpr const char* month_name(int month) {
  constexpr const char* names[]
    = {"January", "February", "March",     "April",   "May",      "June",
       "July",    "August",   "September", "October", "November", "December"};
  return month >= 1 && month <= 12 ? names[month - 1] : "?";
}

} // namespace procman
