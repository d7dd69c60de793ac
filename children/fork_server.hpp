// The runner's side of the executor's fork server (`procman-exec --serve`,
// docs/protocol.md#fork-server): starts the server with the step
// libraries, asks it for one child per process over a Unix socket
// (protocol/fork_request.hpp) and restarts it when it is gone.
//
// The children are the runner's own (CLONE_PARENT): the child service
// awaits, reaps and kills them as it does spawned executors. Used by the
// child service only; no actors in here, errors are caf::error.

#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <sys/types.h>

namespace procman {

class fork_server {
public:
  /// `argv`: procman-exec, `--serve` and its `--step-lib` options.
  explicit fork_server(std::vector<std::string> argv);

  /// Closes the socket (the server exits), kills and reaps the server.
  ~fork_server();

  fork_server(const fork_server&) = delete;
  fork_server& operator=(const fork_server&) = delete;

  /// Starts the server unless it runs, and waits for its hello. Call it
  /// from a thread that lives as long as the children (their parent-death
  /// signal follows the thread that started the server). Errors:
  /// spawn_failure naming the program and why.
  caf::error ensure_running();

  /// Whether a server is up (as far as this side knows).
  bool running() const;

  /// The server's OS pid, 0 when none runs. Thread-safe.
  pid_t pid() const;

  /// Forks a child with `fds` as its stdin, stdout and stderr,
  /// PROCMAN_PID=`procman_pid` and, unless empty, started in `cgroup`.
  /// Returns its OS pid (a child of this process). Errors: spawn_failure
  /// with the errno when the server could not fork; containment_failure
  /// when the server is gone or does not answer (it is then marked dead:
  /// `ensure_running` starts a new one). Thread-safe; requests are
  /// served one at a time.
  caf::expected<pid_t> fork_child(const int fds[3],
                                  const std::string& procman_pid,
                                  const std::string& cgroup);

  /// Called (outside any lock) when the server says it restarted because
  /// a step library changed.
  std::function<void()> on_library_restart;

  /// How often a server was started again: after the first died, or
  /// because a step library changed. Thread-safe.
  uint64_t restarts() const;

private:
  /// Requires mtx_.
  void stop_locked();
  std::vector<std::string> argv_;
  mutable std::mutex mtx_;
  int sock_ = -1;
  pid_t pid_ = 0;
  std::atomic<uint64_t> starts_{0};
  std::atomic<uint64_t> library_restarts_{0};
};

} // namespace procman
