// One cgroup v2 per executor, where the runner may create them: everything
// an executor starts stays in its cgroup whatever it does (setsid, double
// fork), and one write to `cgroup.kill` ends them all.
//
//   one per engine, in the runner's own cgroup:
//     <the runner's cgroup>/procman-<pid ns>-<os pid>-<start time>-<k>/
//   one per executor, inside it:
//     .../procman-<pid ns>-<os pid>-<start time>-<k>/exec-<n>/
//
// The runner's cgroup comes from /proc/self/cgroup ("0::/path") and the
// cgroup2 mount from /proc/self/mountinfo. The name of a runner's parent
// says which OS process made it (pid namespace, pid and start time), so a
// runner that starts can tell a dead runner's parent from a live one's and
// remove the dead one's, killing what is left in it.
//
// Executors start in their cgroups (clone3 with CLONE_INTO_CGROUP, see
// spawn_in_cgroup). Where that is not possible the runner moves each
// executor in right after posix_spawn and before writing its input: an
// executor starts no step before it has read its input.
// No actors in here; errors are caf::error (errc::containment_failure,
// errc::spawn_failure) carrying the errno of the failed call.

#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <signal.h>
#include <sys/types.h>

namespace procman {

class executor_cgroups {
public:
  /// Finds this process's cgroup v2 directory, creates this runner's
  /// parent cgroup there, and removes what dead runners left in it
  /// (`removed_at_start`). Errors: containment_failure saying why: there
  /// is no cgroup v2 hierarchy, its cgroups lack `cgroup.kill` (Linux <
  /// 5.14), or it is not writable.
  static caf::expected<std::unique_ptr<executor_cgroups>> create();

  /// Kills what is left in every executor's cgroup and removes them all,
  /// and the parent.
  ~executor_cgroups();

  executor_cgroups(const executor_cgroups&) = delete;
  executor_cgroups& operator=(const executor_cgroups&) = delete;

  /// The parent: `<runner cgroup>/procman-...`.
  const std::string& dir() const { return dir_; }

  /// How many cgroups of dead runners `create` removed.
  size_t removed_at_start() const { return removed_at_start_; }

  /// Creates a fresh cgroup for one executor and returns its path.
  /// Errors: containment_failure. Thread-safe.
  caf::expected<std::string> make_child();

  /// Moves `pid` into the cgroup `cg`. Errors: containment_failure with
  /// the errno (`os_errno`; ESRCH: `pid` is gone).
  static caf::error move(const std::string& cg, pid_t pid);

  /// SIGKILLs every process in `cg` and below (cgroup.kill).
  static bool kill(const std::string& cg);

  /// Whether no process is left in `cg` (`cgroup.events`: populated 0).
  static bool empty(const std::string& cg);

  /// Opens `cg`'s `cgroup.events` for `empty_at`: -1 if it cannot (the
  /// cgroup is gone). The file read again costs the kernel about a tenth
  /// of opening it.
  static int open_events(const std::string& cg);

  /// Whether no process is left in the cgroup whose `cgroup.events` is
  /// `events_fd` (read from its start); true when it cannot be read.
  static bool empty_at(int events_fd);

  /// Removes the empty cgroup `cg`; false while a process is left (EBUSY).
  static bool remove(const std::string& cg);

private:
  explicit executor_cgroups(std::string dir);
  std::string dir_;
  size_t removed_at_start_ = 0;
  std::atomic<uint64_t> next_{0};
};

/// Starts `path` as posix_spawn would with a process group of its own, an
/// empty signal mask, default actions for the signals in `defaults` and
/// `fds` as its stdin, stdout and stderr, but in the cgroup `cg` from its
/// first instruction (clone3 with CLONE_INTO_CGROUP): no move, which waits
/// for an RCU grace period when moves are rare. Returns the child's pid.
/// Errors, with the errno (`os_errno`): spawn_failure when the child could
/// not exec (it is reaped); containment_failure when clone3 could not
/// start it (ENOSYS: not on this architecture or kernel, or a seccomp
/// filter), and then the caller spawns and moves.
caf::expected<pid_t>
spawn_in_cgroup(const std::string& cg, const char* path, char* const argv[],
                char* const envp[], const int fds[3], const sigset_t& defaults);

/// The cgroup v2 directory of this OS process. Errors: containment_failure
/// saying why there is none.
caf::expected<std::string> own_cgroup_dir();

} // namespace procman
