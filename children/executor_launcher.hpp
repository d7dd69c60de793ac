// What a process actor needs to run its executor: start a child with its
// work on stdin, hear its report lines and its exit, kill it with all it
// started. `child_service` (children/child_service.hpp) starts real
// children; the replay harness and the actor tests drive recorded ones.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace procman {

struct child_spec {
  std::vector<std::string> argv; ///< argv[0] is the executable path
  std::vector<std::string> env;  ///< extra NAME=VALUE entries
  std::string input;             ///< written to stdin, then stdin closes
  /// Keep stdin open after `input` for `write_input` (until the child ends).
  bool keep_stdin_open = false;
  /// The end of the executor's lease that `input` gives it
  /// (protocol/executor_lease.hpp, from `executor_launcher::lease_until`):
  /// the launcher renews the lease on stdin while the child runs. 0: none.
  /// Needs `keep_stdin_open`.
  int64_t lease_until_ms = 0;
  /// Nothing waits on the child's report lines before it ends (no step
  /// acknowledgements): the launcher may leave them unread for a moment
  /// (defaults::reports_unwatched_ms) and read them at the exit of a child
  /// that ends by then.
  bool reports_may_wait = false;
};

/// A call after a delay, on the launcher's thread, unless the child has
/// ended by then.
struct child_timer {
  std::chrono::milliseconds after{0};
  std::function<void()> fn;
};

struct child_handlers {
  /// One line the child wrote to stdout (its report channel).
  std::function<void(std::string line)> on_report;
  /// Called once, after the child exited and its stdout is drained.
  /// `exit_code` is -1 when a signal ended it.
  std::function<void(int exit_code, int signal, std::string stderr_tail)>
    on_exit;
  /// Called just before `on_exit` when a child with a lease was killed by
  /// a signal after its lease had run out: the runner had not renewed it
  /// in time, and the executor killed itself with all it started.
  std::function<void()> on_lease_lapsed;
  /// Armed when the child starts, where the launcher `has_timers()`; each
  /// is called once, unless the child has ended (`on_exit` was called)
  /// first, and is dropped with the child.
  std::vector<child_timer> timers;
};

/// Starts executors for process actors.
class executor_launcher {
public:
  virtual ~executor_launcher();

  /// Starts a child; returns its OS pid. Errors: spawn_failure naming the
  /// program and carrying the errno (`os_errno` in messages/error.hpp).
  /// Thread-safe.
  virtual caf::expected<int>
  spawn(const child_spec& spec, child_handlers handlers) = 0;

  /// Kills the child and everything it started. Thread-safe.
  virtual void kill_group(int pid) = 0;

  /// Writes `text` to the stdin of a child spawned with `keep_stdin_open`,
  /// after what was written before; nothing if the child is gone.
  /// Thread-safe.
  virtual void write_input(int pid, std::string text);

  /// The end of the lease (lease_clock_ms()) for an executor that starts
  /// now, which the launcher then renews (`child_spec::lease_until_ms`);
  /// 0 where it gives no leases (launchers without real children).
  /// Thread-safe.
  virtual int64_t lease_until() const;

  /// Whether this launcher calls `child_handlers::timers` and
  /// `call_after`. One that does spares the runner a timer of its own per
  /// process (a message through CAF's clock thread, and a relay that
  /// forgets ended actors); one that does not leaves the caller to arm its
  /// own.
  virtual bool has_timers() const;

  /// Calls `fn` on the launcher's thread after `delay`, unless the child
  /// has ended by then; nothing if it is gone. Only where `has_timers()`.
  /// Thread-safe.
  virtual void call_after(int pid, std::chrono::milliseconds delay,
                          std::function<void()> fn);
};

} // namespace procman
