#include "procman/platform/command.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procman/platform/paths.hpp"

#include "spawn.hpp"

extern char** environ;

namespace procman::platform {

namespace {

// Closes a file descriptor once.
struct fd_guard {
  int fd = -1;
  ~fd_guard() { reset(); }
  void reset() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
};

// Writes to a pipe without dying of SIGPIPE when the reader is gone, even in
// programs that keep SIGPIPE's default action: block it for this thread and
// swallow the one this write raised.
ssize_t write_no_sigpipe(int fd, const char* buf, size_t len) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  auto n = ::write(fd, buf, len);
  auto saved = errno;
  if (n < 0 && errno == EPIPE && !was_pending) {
    timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR)
      ; // retry
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = saved;
  return n;
}

// Feeds stdin and reads stdout and stderr until the command exits; returns
// its wait status. Stops reading once the command has exited and the pipes
// are drained, even if a background process it started keeps them open.
// What it reads goes to `on_output` too, as it arrives.
outcome<int>
collect(pid_t pid, fd_guard& in_w, fd_guard& out_r, fd_guard& err_r,
        const command_options& opts, command_result& result,
        const std::function<void(output_stream, std::string_view)>& on_output) {
  const size_t limit = opts.output_limit;
  size_t written = 0;
  const std::string& input = opts.input ? *opts.input : std::string{};
  if (in_w.fd >= 0) {
    if (input.empty())
      in_w.reset();
    else
      ::fcntl(in_w.fd, F_SETFL, O_NONBLOCK);
  }
  for (int fd : {out_r.fd, err_r.fd})
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
  int status = 0;
  bool exited = false;
  auto last_check = std::chrono::steady_clock::now();
  char buf[65536];
  // Reads what is there, at most 1 MiB so that one busy stream cannot
  // starve the others; returns false at EOF.
  auto drain = [&](fd_guard& fd, std::string& dst, output_stream stream) {
    for (int round = 0; round < 16; ++round) {
      auto n = ::read(fd.fd, buf, sizeof(buf));
      if (n > 0) {
        if (dst.size() + static_cast<size_t>(n) > limit) {
          if (!result.overflow)
            result.overflow = stream;
          continue; // keep draining, drop the excess
        }
        dst.append(buf, static_cast<size_t>(n));
        on_output(stream, std::string_view{buf, static_cast<size_t>(n)});
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return true;
      fd.reset(); // EOF or error
      return false;
    }
    return true;
  };
  while (out_r.fd >= 0 || err_r.fd >= 0) {
    pollfd fds[3];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1;
    if (out_r.fd >= 0) {
      out_i = n;
      fds[n++] = {out_r.fd, POLLIN, 0};
    }
    if (err_r.fd >= 0) {
      err_i = n;
      fds[n++] = {err_r.fd, POLLIN, 0};
    }
    if (in_w.fd >= 0) {
      in_i = n;
      fds[n++] = {in_w.fd, POLLOUT, 0};
    }
    // Every 100 ms, check whether the command has exited while something
    // it started still holds the pipes (quietly or writing on).
    int ready = ::poll(fds, static_cast<nfds_t>(n), 100);
    if (ready < 0 && errno != EINTR)
      break;
    auto now = std::chrono::steady_clock::now();
    if (ready <= 0 || now - last_check >= std::chrono::milliseconds(100)) {
      last_check = now;
      if (!exited && ::waitpid(pid, &status, WNOHANG) == pid)
        exited = true;
      if (exited) {
        if (out_r.fd >= 0)
          drain(out_r, result.out, output_stream::out);
        if (err_r.fd >= 0)
          drain(err_r, result.err, output_stream::err);
        break;
      }
      if (ready <= 0)
        continue;
    }
    if (out_i >= 0 && (fds[out_i].revents & (POLLIN | POLLHUP | POLLERR)))
      drain(out_r, result.out, output_stream::out);
    if (err_i >= 0 && (fds[err_i].revents & (POLLIN | POLLHUP | POLLERR)))
      drain(err_r, result.err, output_stream::err);
    if (in_i >= 0 && (fds[in_i].revents & (POLLOUT | POLLHUP | POLLERR))) {
      auto w = write_no_sigpipe(in_w.fd, input.data() + written,
                                input.size() - written);
      if (w > 0)
        written += static_cast<size_t>(w);
      if ((w < 0 && errno != EAGAIN && errno != EINTR)
          || written == input.size())
        in_w.reset(); // done, or the command stopped reading
    }
    if (result.overflow && !exited) {
      // Unbounded output: stop the command instead of buffering it.
      ::kill(pid, SIGKILL);
    }
  }
  in_w.reset();
  out_r.reset();
  err_r.reset();
  if (!exited) {
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR)
        return failure{errc::spawn_failure,
                       "lost track of the command: " + error_text(errno)};
    }
  }
  return status;
}

} // namespace

outcome<command_result> run_command(
  const command_options& opts,
  const std::function<void(output_stream, std::string_view)>& on_output) {
  auto& prog = opts.argv.at(0);
  // Pipes: ours are close-on-exec, the child's ends are dup2'ed to 0-2.
  fd_guard in_r, in_w, out_r, out_w, err_r, err_w;
  auto make_pipe = [](fd_guard& r, fd_guard& w) -> failure {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      auto err = errno;
      return {errc::spawn_failure, "cannot create a pipe: " + error_text(err),
              err};
    }
    r.fd = p[0];
    w.fd = p[1];
    return {};
  };
  if (auto refused = make_pipe(out_r, out_w))
    return refused;
  if (auto refused = make_pipe(err_r, err_w))
    return refused;
  if (opts.input)
    if (auto refused = make_pipe(in_r, in_w))
      return refused;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (opts.input)
    posix_spawn_file_actions_adddup2(&fa, in_r.fd, 0);
  else
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.fd, 2);
  // No descriptor of the executor leaks into the command.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  if (!opts.cwd.empty())
    posix_spawn_file_actions_addchdir_np(&fa, opts.cwd.c_str());
  // The command stays in the executor's process group: a timeout kills
  // both.
  auto spawned = posix::spawn(opts.argv, opts.env, &fa, false);
  posix_spawn_file_actions_destroy(&fa);
  if (!spawned) {
    auto rc = os_errno(spawned.error());
    return failure{errc::spawn_failure,
                   "cannot run: " + spawned.error().context
                     + (rc == ENOENT && prog.find('/') == std::string::npos
                          ? " (not found in PATH)"
                          : ""),
                   rc};
  }
  auto pid = *spawned;
  in_r.reset();
  out_w.reset();
  err_w.reset();
  command_result result;
  auto status = collect(pid, in_w, out_r, err_r, opts, result, on_output);
  if (!status)
    return status.error();
  if (WIFSIGNALED(*status)) {
    result.signal = WTERMSIG(*status);
    result.signal_name = signal_name(result.signal);
  } else {
    result.code = WEXITSTATUS(*status);
  }
  return result;
}

std::vector<std::string> this_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e)
    env.emplace_back(*e);
  return env;
}

} // namespace procman::platform
