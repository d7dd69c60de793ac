// What a process actor needs to run its executor: start a child with its
// work on stdin, hear its report lines and its exit, kill it with all it
// started. `child_service` (children/child_service.hpp) starts real
// children; the replay harness and the actor tests drive recorded ones.

#pragma once

#include <functional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace procman {

struct child_spec {
  std::vector<std::string> argv;  ///< argv[0] is the executable path
  std::vector<std::string> env;   ///< extra NAME=VALUE entries
  std::string input;              ///< written to stdin, then stdin closes
  /// Keep stdin open after `input` for `write_input` (until the child ends).
  bool keep_stdin_open = false;
};

struct child_handlers {
  /// One line the child wrote to stdout (its report channel).
  std::function<void(std::string line)> on_report;
  /// Called once, after the child exited and its stdout is drained.
  /// `exit_code` is -1 when a signal ended it.
  std::function<void(int exit_code, int signal, std::string stderr_tail)>
    on_exit;
};

/// Starts executors for process actors.
class executor_launcher {
public:
  virtual ~executor_launcher();

  /// Starts a child; returns its OS pid. Errors: spawn_failure naming the
  /// program and carrying the errno (`os_errno` in messages/error.hpp).
  /// Thread-safe.
  virtual caf::expected<int> spawn(const child_spec& spec,
                                   child_handlers handlers) = 0;

  /// Kills the child and everything it started. Thread-safe.
  virtual void kill_group(int pid) = 0;

  /// Writes `text` to the stdin of a child spawned with `keep_stdin_open`,
  /// after what was written before; nothing if the child is gone.
  /// Thread-safe.
  virtual void write_input(int pid, std::string text);
};

} // namespace procman
