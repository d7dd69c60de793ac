// The few POSIX C functions that code shared with Linux uses, as MinGW-w64
// provides them, included into every file of the Windows build
// (cmake/windows/procman.cmake) so that those files need no
// system-dependent code of their own:
//
// - gmtime_r (UTC dates in the messages and the cron rules): MinGW-w64's
//   own, once _POSIX_THREAD_SAFE_FUNCTIONS is defined;
// - timegm: Windows' _mkgmtime (which, unlike glibc's, refuses dates
//   before 1970 with -1; procman's timestamps are later);
// - setenv and unsetenv (tests pin TZ): _putenv_s, which also updates what
//   getenv and the time functions see;
// - SIGKILL: MinGW-w64's signal.h has the C signals only; 9 is the number
//   with which a tree's kill is reported on Windows too (a Job Object
//   terminated: platform::child_exit, child_service), and which records
//   made on Linux carry;
// - CLOCK_BOOTTIME (the executor's lease clock, protocol/executor_lease):
//   MinGW-w64's clock_gettime has CLOCK_MONOTONIC, QueryPerformanceCounter,
//   one clock for every process of the machine as the lease needs.

#pragma once

#ifndef _POSIX_THREAD_SAFE_FUNCTIONS
#define _POSIX_THREAD_SAFE_FUNCTIONS 200112L
#endif
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#ifndef SIGKILL
#define SIGKILL 9
#endif

#ifndef CLOCK_BOOTTIME
#define CLOCK_BOOTTIME CLOCK_MONOTONIC
#endif

inline time_t timegm(struct tm* tm) {
  return _mkgmtime(tm);
}

inline int setenv(const char* name, const char* value, int overwrite) {
  if (!overwrite && getenv(name) != nullptr)
    return 0;
  return _putenv_s(name, value) == 0 ? 0 : -1;
}

inline int unsetenv(const char* name) {
  return _putenv_s(name, "") == 0 ? 0 : -1;
}
