// Contained children on POSIX: a process group of their own, killed as a
// group and, for what left it, as a tree of descendants
// (children/process_tree.hpp). The runner's executors get more today from
// children/ (a cgroup, the fork server, a subreaper); this is what the
// platform interface promises everywhere.

#include "procman/platform/child.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procman/children/process_tree.hpp"
#include "procman/platform/command.hpp"
#include "procman/platform/paths.hpp"
#include "procman/platform/termination.hpp"

#include "spawn.hpp"

namespace procman::platform {

namespace {

/// What /proc/<pid>/stat says of a process.
struct proc_stat {
  char state = 0; ///< 'R', 'S', ..., 'Z' (a zombie), 'X' (dead)
  pid_t pgrp = 0; ///< its process group
};

/// A process's state and process group; none when it is gone.
std::optional<proc_stat> read_stat(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  auto f = std::fopen(path, "r");
  if (f == nullptr)
    return std::nullopt;
  char buf[512];
  auto n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // "pid (comm) state ppid pgrp ...": comm may hold anything, up to the
  // last ')'.
  auto close = std::strrchr(buf, ')');
  char state = 0;
  int ppid = 0;
  int group = 0;
  if (close == nullptr
      || std::sscanf(close + 1, " %c %d %d", &state, &ppid, &group) != 3)
    return std::nullopt;
  return proc_stat{state, static_cast<pid_t>(group)};
}

/// Whether that process is more than a zombie.
bool living(const proc_stat& s) {
  return s.state != 'Z' && s.state != 'X';
}

} // namespace

// -- pipe_end
// -------------------------------------------------------------------------

std::ptrdiff_t pipe_end::read(void* buf, size_t size) {
  for (;;) {
    auto n = ::read(static_cast<int>(handle_), buf, size);
    if (n >= 0 || errno != EINTR)
      return n;
  }
}

bool pipe_end::write(const void* buf, size_t size) {
  auto p = static_cast<const char*>(buf);
  while (size > 0) {
    // MSG_NOSIGNAL has no write(2) twin: a gone reader is EPIPE here only
    // where SIGPIPE is ignored, as procman's programs do.
    auto n = ::write(static_cast<int>(handle_), p, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void pipe_end::close() {
  if (handle_ != -1)
    ::close(static_cast<int>(handle_));
  handle_ = -1;
}

// -- contained_child
// ---------------------------------------------------------------

struct contained_child::impl {
  pid_t pid = -1;
  pipe_end in;
  pipe_end out;
  pipe_end err;
  bool reaped = false;
  child_exit exit;
};

outcome<contained_child> contained_child::start(const child_options& opts) {
  if (opts.argv.empty() || opts.argv[0].empty())
    return failure{errc::spawn_failure, "no program to start"};
  auto& prog = opts.argv[0];
  auto spawn_failed = [&](int code) {
    return failure{errc::spawn_failure,
                   "cannot start " + prog + ": " + error_text(code), code};
  };
  int in[2] = {-1, -1};
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {in, out, err})
      for (int i = 0; i < 2; ++i)
        if (p[i] >= 0)
          ::close(p[i]);
  };
  if ((opts.stdin_pipe && pipe2(in, O_CLOEXEC) != 0)
      || (opts.stdout_pipe && pipe2(out, O_CLOEXEC) != 0)
      || (opts.stderr_pipe && pipe2(err, O_CLOEXEC) != 0)) {
    auto code = errno;
    close_all();
    return spawn_failed(code);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (opts.stdin_pipe)
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (opts.stdout_pipe)
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  if (opts.stderr_pipe)
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  if (!opts.cwd.empty())
    posix_spawn_file_actions_addchdir_np(&fa, opts.cwd.c_str());
  // This environment less the names `opts.env` sets, then `opts.env`; in
  // a process group of its own.
  std::vector<std::string> env;
  for (auto& entry : this_environment()) {
    auto name = std::string_view{entry}.substr(0, entry.find('=') + 1);
    bool overridden = false;
    for (auto& o : opts.env)
      overridden = overridden
                   || std::string_view{o}.substr(0, name.size()) == name;
    if (!overridden)
      env.push_back(entry);
  }
  env.insert(env.end(), opts.env.begin(), opts.env.end());
  auto spawned = posix::spawn(opts.argv, std::move(env), &fa, true);
  posix_spawn_file_actions_destroy(&fa);
  if (!spawned) {
    close_all();
    return spawn_failed(os_errno(spawned.error()));
  }
  auto pid = *spawned;
  auto p = new impl;
  p->pid = pid;
  p->in = pipe_end{in[1]};
  p->out = pipe_end{out[0]};
  p->err = pipe_end{err[0]};
  for (int fd : {in[0], out[1], err[1]})
    if (fd >= 0)
      ::close(fd);
  return contained_child{p};
}

contained_child::~contained_child() {
  if (impl_ == nullptr)
    return;
  if (!impl_->reaped || tree_alive()) {
    kill_tree();
    if (!impl_->reaped)
      ::waitpid(impl_->pid, nullptr, 0);
  }
  delete impl_;
  impl_ = nullptr;
}

int contained_child::pid() const {
  return impl_->pid;
}

pipe_end& contained_child::in() {
  return impl_->in;
}

pipe_end& contained_child::out() {
  return impl_->out;
}

pipe_end& contained_child::err() {
  return impl_->err;
}

void contained_child::kill_tree() {
  // The group first, at once; then whatever left the group but is still
  // below the child (while the child is not reaped, its descendants can
  // be found from it).
  ::kill(-impl_->pid, SIGKILL);
  if (!impl_->reaped)
    while (procman::kill_tree(impl_->pid, true) > 0)
      ; // again until none is left
}

void contained_child::request_stop() {
  if (!impl_->reaped)
    platform::request_stop(impl_->pid);
}

std::optional<child_exit>
contained_child::wait_for(std::chrono::milliseconds timeout) {
  if (impl_->reaped)
    return impl_->exit;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // A pidfd (Linux 5.3) becomes readable when the child ends; without
  // one, look every few milliseconds.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, impl_->pid, 0));
  for (;;) {
    int status = 0;
    auto rc = ::waitpid(impl_->pid, &status, WNOHANG);
    if (rc == impl_->pid) {
      impl_->reaped = true;
      if (WIFSIGNALED(status))
        impl_->exit = child_exit{-1, WTERMSIG(status)};
      else
        impl_->exit = child_exit{WEXITSTATUS(status), 0};
      break;
    }
    if (rc < 0 && errno != EINTR)
      break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      break;
    if (pidfd >= 0) {
      pollfd fds{pidfd, POLLIN, 0};
      ::poll(&fds, 1, static_cast<int>(left.count()));
    } else {
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(5)));
    }
  }
  if (pidfd >= 0)
    ::close(pidfd);
  if (!impl_->reaped)
    return std::nullopt;
  return impl_->exit;
}

bool contained_child::tree_alive() const {
  if (!impl_->reaped)
    return true;
  // A member of its process group that is not a zombie.
  auto dir = opendir("/proc");
  if (dir == nullptr)
    return false;
  bool alive = false;
  while (auto entry = readdir(dir)) {
    auto pid = std::atoi(entry->d_name);
    if (pid <= 0)
      continue;
    if (auto s = read_stat(pid); s && s->pgrp == impl_->pid && living(*s)) {
      alive = true;
      break;
    }
  }
  closedir(dir);
  return alive;
}

bool tree_ends_with_owner() {
  return false;
}

bool process_alive(int pid) {
  auto s = read_stat(pid);
  return s && living(*s);
}

bool kill_process(int pid) {
  return ::kill(pid, SIGKILL) == 0;
}

} // namespace procman::platform
