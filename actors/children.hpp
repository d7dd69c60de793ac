// Spawns procman-exec children and watches them on one I/O thread.
//
// Children are started with posix_spawn (never fork: the runner may be
// large) as leaders of their own process group, so that a timeout or a
// cancel kills the executor and every command its steps started. Exits are
// awaited through Boost.Process v2 (a pidfd), pipes are read with Asio.
// No CAF in here: the handlers run on the I/O thread and typically send a
// message to the process actor.

#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

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

/// Starts executors for process actors. `child_service` starts real ones;
/// the replay harness drives recorded ones.
class executor_launcher {
public:
  virtual ~executor_launcher();

  /// Starts a child. Returns its OS pid (> 0) or -errno. Thread-safe.
  virtual int spawn(const child_spec& spec, child_handlers handlers) = 0;

  /// Kills the child's whole process group. Thread-safe.
  virtual void kill_group(int pid) = 0;

  /// Writes `text` to the stdin of a child spawned with `keep_stdin_open`,
  /// after what was written before; nothing if the child is gone.
  /// Thread-safe.
  virtual void write_input(int pid, std::string text);
};

class child_service : public executor_launcher {
public:
  /// Bytes of a child's stderr kept for error reports.
  static constexpr size_t stderr_tail_bytes = 4096;

  child_service();

  /// Kills every remaining child's group and joins the I/O thread.
  ~child_service() override;

  child_service(const child_service&) = delete;
  child_service& operator=(const child_service&) = delete;

  /// Starts a child. Returns its OS pid (> 0) or -errno. Thread-safe.
  int spawn(const child_spec& spec, child_handlers handlers) override;

  /// SIGKILLs the process group of a child started here. Thread-safe.
  void kill_group(int pid) override;

  void write_input(int pid, std::string text) override;

  /// Sends `sig` to the process group of every live child. Thread-safe.
  void signal_all(int sig);

  /// How many children are alive.
  size_t active() const;

  /// Calls `fn` on the I/O thread whenever `fd` becomes readable, until the
  /// service ends. The caller keeps the fd open.
  void watch_readable(int fd, std::function<void()> fn);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace procman
