// Spawns procman-exec children and watches them on one I/O thread. This is
// the POSIX implementation (child_service.cpp); on Windows the same class
// is children/windows/child_service.cpp (CreateProcessW, a Job Object per
// executor, no fork server and no cgroups).
//
// Children are started with posix_spawn (never fork: the runner may be
// large) as leaders of their own process group, or forked by the
// executor's fork server (children/fork_server.hpp) as children of this
// process all the same. A timeout or a cancel kills
// the executor and everything it started, even what left its group: the
// executor's cgroup (cgroup.kill) where there is one, its process tree
// (children/process_tree.hpp) and its group. Exits are awaited through
// Boost.Process v2 (a pidfd), pipes are read with Asio. No CAF in here: the
// handlers run on the I/O thread and typically send a message to the
// process actor. No actors in here; errors are caf::error.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "procman/children/executor_launcher.hpp"
#include "procman/messages/defaults.hpp"

namespace procman {

class executor_cgroups;

class child_service : public executor_launcher {
public:
  /// Bytes of a child's stderr kept for error reports.
  static constexpr size_t stderr_tail_bytes = defaults::stderr_tail_bytes;

  /// No cgroups, no orphans to reap.
  child_service();

  /// `cgroups`: each child gets a cgroup of its own there (null: no
  /// cgroups). When the child has exited, its cgroup goes to a later child
  /// if the child ended by itself and left nothing there (a kill_group of
  /// the ended child no longer reaches it); otherwise what is left is
  /// killed and the cgroup removed.
  /// `reap_orphans`: this OS process is a child subreaper whose children
  /// are all executors (procman-runner); any other child that appears was
  /// orphaned in an executor's tree, and is killed with its own tree and
  /// reaped (by its pid: exits of executors are awaited per pid). (Linux;
  /// on Windows there are neither.)
  explicit child_service(std::unique_ptr<executor_cgroups> cgroups,
                         bool reap_orphans = false);

  /// Kills every remaining child with all it started, joins the I/O
  /// thread, removes the cgroups.
  ~child_service() override;

  child_service(const child_service&) = delete;
  child_service& operator=(const child_service&) = delete;

  /// Starts a child; returns its OS pid. Errors: spawn_failure with the
  /// errno (`os_errno`). Thread-safe.
  caf::expected<int> spawn(const child_spec& spec,
                           child_handlers handlers) override;

  /// SIGKILLs a child started here and everything it started: its cgroup,
  /// its process tree (stopped first, so that nothing forks meanwhile) and
  /// its process group. Thread-safe.
  void kill_group(int pid) override;

  void write_input(int pid, std::string text) override;

  /// Timers on the I/O thread (asio), dropped when the child ends.
  bool has_timers() const override;
  void call_after(int pid, std::chrono::milliseconds delay,
                  std::function<void()> fn) override;

  /// Executor leases (docs/architecture.md, "Leases"): from now on
  /// `lease_until()` gives an executor a lease that ends `bound` after
  /// now, and the I/O thread pushes the lease of every child that holds
  /// one forward to `bound` after now, 4 times per `bound`. A runner that
  /// is not scheduled for `bound` pushes nothing, and its executors end
  /// themselves.
  void use_leases(std::chrono::milliseconds bound);

  /// From now on no lease goes past `until_ms` (lease_clock_ms()); a later
  /// call only moves the cap forward, and pushes the leases there at once.
  /// A worker node caps them at the last renewal of its own lease that its
  /// store node confirmed, plus its bound.
  void cap_leases(int64_t until_ms);

  int64_t lease_until() const override;

  /// Sends `sig` to the process group of every live child; SIGKILL kills
  /// as `kill_group` does. Thread-safe.
  void signal_all(int sig);

  /// How many children are alive.
  size_t active() const;

  /// From now on, starts executors (children whose argv is just the
  /// executor, as process actors start them) through a fork server:
  /// `server_argv` is procman-exec, `--serve` and its `--step-lib`
  /// options. The server is started on the I/O thread now, restarted when
  /// it is gone, and executors are spawned as before while it cannot be.
  /// Returns the server's OS pid. Errors: spawn_failure (it cannot start).
  caf::expected<int> use_fork_server(std::vector<std::string> server_argv);

  /// Why this system can have no fork server (Windows has no fork);
  /// nullptr where it can.
  static const char* no_fork_server();

  /// The fork server's OS pid; 0 when there is none.
  int fork_server_pid() const;

  /// How often the fork server was started again (fork_server::restarts);
  /// 0 without one.
  uint64_t fork_server_restarts() const;

  /// Calls `fn` on the I/O thread whenever `fd` becomes readable, until the
  /// service ends. The caller keeps the fd open.
  void watch_readable(int fd, std::function<void()> fn);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace procman
