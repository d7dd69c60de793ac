#include "procman/children/fork_server.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procman/children/spawn_attributes.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/protocol/fork_request.hpp"

extern char** environ;

namespace procman {

namespace {

/// How long the server may take to say hello or to answer a request on a
/// loaded machine before it counts as gone.
constexpr int answer_timeout_ms = defaults::fork_server_answer_timeout_ms;
/// While waiting, how often to look whether the server is stopped.
constexpr int stopped_check_ms = defaults::fork_server_stopped_check_ms;

/// Whether `pid` is stopped (SIGSTOP, SIGTSTP, a debugger): it answers
/// nothing until continued, so a waiting runner need not wait it out.
bool is_stopped(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  auto p = text.rfind(')');
  return p != std::string::npos && p + 2 < text.size()
         && (text[p + 2] == 'T' || text[p + 2] == 't');
}

/// Reads one reply within the timeout. Errors (containment_failure, with
/// the errno): the server closed its end ("it exited", EPIPE), is stopped
/// ("it is stopped (SIGSTOP, or a debugger)", ETIMEDOUT: it answers
/// nothing until it is continued), or gave no answer ("no answer: ...").
caf::expected<fork_reply> read_reply(int sock, pid_t pid) {
  auto no_answer = [](int e) {
    return make_error(errc::containment_failure,
                      std::string("no answer: ") + std::strerror(e), e);
  };
  pollfd pfd{sock, POLLIN, 0};
  int rc = 0;
  for (int waited = 0; waited < answer_timeout_ms;) {
    auto slice = std::min(stopped_check_ms, answer_timeout_ms - waited);
    while ((rc = ::poll(&pfd, 1, slice)) < 0 && errno == EINTR)
      ; // retry
    if (rc != 0)
      break;
    waited += slice;
    if (pid > 0 && is_stopped(pid))
      return make_error(errc::containment_failure,
                        "it is stopped (SIGSTOP, or a debugger)", ETIMEDOUT);
  }
  if (rc == 0)
    return no_answer(ETIMEDOUT);
  if (rc < 0)
    return no_answer(errno);
  fork_reply r;
  ssize_t n;
  while ((n = ::recv(sock, &r, sizeof(r), 0)) < 0 && errno == EINTR)
    ; // retry
  if (n == 0)
    return make_error(errc::containment_failure, "it exited", EPIPE);
  if (n != static_cast<ssize_t>(sizeof(r)))
    return no_answer(n > 0 ? EPROTO : errno);
  return r;
}

} // namespace

fork_server::fork_server(std::vector<std::string> argv)
  : argv_(std::move(argv)) {
  // nop
}

fork_server::~fork_server() {
  std::lock_guard<std::mutex> guard{mtx_};
  stop_locked();
}

void fork_server::stop_locked() {
  if (sock_ >= 0) {
    ::close(sock_);
    sock_ = -1;
  }
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR)
      ; // retry
    pid_ = 0;
  }
}

bool fork_server::running() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return sock_ >= 0;
}

pid_t fork_server::pid() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return pid_;
}

caf::error fork_server::ensure_running() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (sock_ >= 0)
    return {};
  stop_locked(); // reaps a server that died
  auto failed = [&](const std::string& why, int e = 0) {
    return make_error(
      errc::spawn_failure,
      "cannot start the fork server " + argv_.at(0) + " --serve: " + why, e);
  };
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return failed(std::strerror(errno), errno);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  // A group of its own: a terminal's ^C to the runner's group is the
  // runner's to handle, not the server's.
  posix_spawnattr_t attr;
  init_child_spawnattr(attr);
  std::vector<char*> args;
  for (auto& a : argv_)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto parent = "PROCMAN_PARENT_PID=" + std::to_string(::getpid());
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "PROCMAN_PARENT_PID=", 19) != 0)
      envp.push_back(*e);
  envp.push_back(parent.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(sv[1]);
  if (rc != 0) {
    ::close(sv[0]);
    return failed(std::strerror(rc), rc);
  }
  sock_ = sv[0];
  pid_ = pid;
  auto hello = read_reply(sock_, pid_);
  if (!hello || hello->kind != fork_reply::hello) {
    // The server closed its end (EPIPE): it exited, say how.
    auto closed = !hello && os_errno(hello.error()) == EPIPE;
    auto e = hello && !closed ? 0 : os_errno(hello.error());
    int status = 0;
    std::string why;
    if (closed && ::waitpid(pid_, &status, 0) == pid_) {
      pid_ = 0;
      e = 0;
      why = WIFEXITED(status)
              ? "it exited with code " + std::to_string(WEXITSTATUS(status))
              : "it was killed by signal " + std::to_string(WTERMSIG(status));
    } else {
      why = !hello ? std::string("no hello: ") + std::strerror(e)
                   : "it said something else than hello";
    }
    stop_locked();
    return failed(why, e);
  }
  ++starts_;
  return {};
}

uint64_t fork_server::restarts() const {
  auto started = starts_.load();
  return (started > 0 ? started - 1 : 0) + library_restarts_.load();
}

caf::expected<pid_t> fork_server::fork_child(const int fds[3],
                                             const std::string& procman_pid,
                                             const std::string& cgroup) {
  bool restarted = false;
  caf::expected<pid_t> result{pid_t{0}};
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto gone = [&](const std::string& why, int e) -> caf::error {
      // Reaped by the next ensure_running.
      if (sock_ >= 0) {
        ::close(sock_);
        sock_ = -1;
      }
      if (pid_ > 0)
        ::kill(pid_, SIGKILL);
      return make_error(errc::containment_failure, "fork server: " + why, e);
    };
    if (sock_ < 0)
      return make_error(errc::containment_failure, "fork server: not running");
    fork_request req{procman_pid, cgroup};
    auto text = req.encode();
    iovec iov{text.data(), text.size()};
    alignas(cmsghdr) char ctl[CMSG_SPACE(3 * sizeof(int))];
    std::memset(ctl, 0, sizeof(ctl));
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl;
    msg.msg_controllen = sizeof(ctl);
    auto* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(3 * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, 3 * sizeof(int));
    ssize_t n;
    while ((n = ::sendmsg(sock_, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
      ; // retry
    if (n < 0)
      return gone(std::string("cannot send: ") + std::strerror(errno), errno);
    for (;;) {
      auto got = read_reply(sock_, pid_);
      if (!got)
        return gone(render(got.error()), os_errno(got.error()));
      auto& r = *got;
      if (r.kind == fork_reply::hello) {
        restarted = restarted || r.err == 1;
        continue;
      }
      if (r.pid > 0)
        result = static_cast<pid_t>(r.pid);
      else
        result = make_error(errc::spawn_failure,
                            "fork server cannot fork: "
                              + std::string(std::strerror(r.err)),
                            r.err);
      break;
    }
  }
  if (restarted)
    ++library_restarts_;
  if (restarted && on_library_restart)
    on_library_restart();
  return result;
}

} // namespace procman
