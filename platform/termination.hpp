// Requests to stop from the user or the system, turned into calls: POSIX
// SIGTERM, SIGINT and SIGHUP; Windows Ctrl+C, Ctrl+Break, the console
// window closing, logoff and shutdown, and `request_stop` from another
// process (a named event, "Local\procman-stop-<pid>": a program started
// without a console, by the Task Scheduler or as a service, has no other
// way to be asked). The runner drains on the first and stops at once on
// the second (docs/usage.md).

#pragma once

#include <functional>
#include <string>

namespace procman::platform {

/// Makes this process deliver termination requests to a
/// `termination_watch` instead of dying of them. On POSIX it blocks the
/// signals, and must run before any other thread starts (threads inherit
/// the mask); on Windows it does nothing.
void hold_termination_requests();

/// Makes a write to a pipe or socket whose reader is gone fail instead of
/// ending the process: POSIX ignores SIGPIPE; Windows has no such signal
/// (the write fails with ERROR_NO_DATA), so it does nothing there.
void ignore_broken_pipes();

/// Asks the process `pid` to stop as a termination request would: SIGTERM
/// on POSIX; on Windows its stop event when it has a termination_watch,
/// else Ctrl+Break to its console process group. False when it could not
/// be asked.
bool request_stop(int pid);

/// Calls `on_request(what)` for each request ("SIGTERM", "Ctrl+C", "console
/// closed", "stop request", ...), one at a time, on a thread of its own,
/// while it exists.
/// One watch per process at a time.
/// For the console closing, logoff and shutdown, Windows ends the process
/// once the handler returns: the handler returns when the watch is
/// destroyed (the program finished its drain) or after Windows' own limit.
class termination_watch {
public:
  explicit termination_watch(
    std::function<void(const std::string&)> on_request);
  ~termination_watch();
  termination_watch(const termination_watch&) = delete;
  termination_watch& operator=(const termination_watch&) = delete;

  /// The implementation's state (Windows' handler reaches it too).
  struct impl;

private:
  impl* impl_;
};

} // namespace procman::platform
