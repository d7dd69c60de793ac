// The executor's system layer on POSIX (exec_system.hpp).
//
// The executor is a child subreaper (set before any step runs): whatever its
// steps start stays in its process tree even after a setsid, a setpgid or a
// double fork, because orphans are re-parented to it. So ending the tree
// (children/process_tree.hpp) ends everything the process started.

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "procman/children/process_tree.hpp"

#include "exec_system.hpp"

namespace procman::exec::sys {

namespace {

pid_t parent_pid = 0;        // from PROCMAN_PARENT_PID; 0: unknown
char cgroup_kill_file[1024]; // "$PROCMAN_CGROUP/cgroup.kill", or ""

extern "C" void on_terminate(int sig) {
  if (ending.exchange(true))
    return; // being ended already, by another thread
  kill_all_and_exit(128 + sig);
}

// Replaces descriptor `fd` by the null device (for `flags`).
void null_device_on(int fd, int flags) {
  int null_fd = open("/dev/null", flags);
  if (null_fd >= 0 && null_fd != fd) {
    dup2(null_fd, fd);
    close(null_fd);
  }
}

} // namespace

void prepare() {
  // A closed report pipe shows as EPIPE, not as a silent death.
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_terminate;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP})
    sigaddset(&sa.sa_mask, sig);
  for (int sig : {SIGTERM, SIGINT, SIGHUP})
    sigaction(sig, &sa, nullptr);
  procman::become_subreaper();
  // The runner's cgroup for this executor, if it made one; not for the
  // commands (a procman-exec among them would kill ours).
  if (auto cg = std::getenv("PROCMAN_CGROUP");
      cg && *cg && std::strlen(cg) + 13 < sizeof(cgroup_kill_file)) {
    std::strcpy(cgroup_kill_file, cg);
    std::strcat(cgroup_kill_file, "/cgroup.kill");
  }
  unsetenv("PROCMAN_CGROUP");
}

outcome<int> take_report_channel() {
  int report_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
  if (report_fd < 0) {
    auto err = errno;
    return failure{errc::invalid_argument, std::strerror(err), err};
  }
  if (dup2(2, 1) < 0)
    null_device_on(1, O_WRONLY);
  return report_fd;
}

bool parent_is(long parent) {
  // Set the death signal, then check the parent is still the one that
  // started us (it may have died before prctl).
  parent_pid = static_cast<pid_t>(parent);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  return getppid() == parent_pid;
}

int take_ack_channel() {
  int ack_fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
  null_device_on(0, O_RDONLY);
  return ack_fd;
}

void lead_own_group() {
  // So that killing it takes exactly the executor and what its steps
  // started (the supervisor normally spawned us as a group leader already).
  if (getpgrp() != getpid())
    setpgid(0, 0);
}

// Its tree first; after the runner's death, or when its lease ran out
// (`runner_unable`), also its cgroup (the runner that would have killed it
// cannot); then its own group. Only its own: while it is not (yet) a group
// leader it has started nothing, and its group belongs to someone else.
void kill_all_and_exit(int code, bool runner_unable) {
  procman::kill_tree(getpid(), false);
  if (cgroup_kill_file[0] != '\0'
      && (runner_unable || (parent_pid > 0 && getppid() != parent_pid)))
    procman::write_cgroup_kill(cgroup_kill_file); // includes us
  if (getpgrp() == getpid())
    kill(0, SIGKILL); // includes us; does not return
  _exit(code);
}

void end_descendants() {
  procman::end_descendants();
}

void stderr_nonblocking() {
  if (int fl = fcntl(2, F_GETFL); fl >= 0)
    fcntl(2, F_SETFL, fl | O_NONBLOCK);
}

} // namespace procman::exec::sys
