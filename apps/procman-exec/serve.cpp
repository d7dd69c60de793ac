// procman-exec --serve: the fork server (docs/protocol.md#fork-server).
//
// The runner starts it once with its step libraries; the server loads them,
// builds the step registry and then, per process, forks a child that runs
// `executor_main` exactly as a spawned procman-exec would, with a fresh
// address space (a copy of the small, already initialised server) instead
// of posix_spawn + exec + dynamic loading + static initialisation.
//
//   fd 0: a SOCK_SEQPACKET socket to the runner (protocol/fork_request.hpp)
//   request (+ 3 fds) --> clone3(CLONE_PARENT [| CLONE_INTO_CGROUP])
//        child: signals reset, fds 0-2 are the request's, every other fd
//               closed, own process group, PROCMAN_PID / PROCMAN_CGROUP set,
//               libc's rand reseeded --> executor_main (parent death,
//               subreaper, reports, acks: as a spawned executor)
//        server: waits until the child closed its end of a pipe (it is set
//               up), replies with its pid
//
// CLONE_PARENT makes the child the runner's child, not the server's: the
// runner awaits its exit through a pidfd, reaps it and kills its tree,
// group and cgroup exactly as for a spawned executor, and its parent-death
// signal follows the runner. So the children do not depend on the server:
// a killed server is restarted by the runner, and the processes it forked
// run on. The server itself dies with the runner (PR_SET_PDEATHSIG) or when
// the runner closes the socket.
//
// A step library that changed on disk (inode, size or mtime) is picked up:
// before each fork the server compares them and, if one changed, executes
// itself again (same pid, same socket, the request still unread) and says
// hello again.

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procman/children/clone3.hpp"
#include "procman/messages/failure.hpp"
#include "procman/protocol/fork_request.hpp"

#include "executor.hpp"

namespace procman::exec {

namespace {

/// A step library as it was on disk when the server loaded it.
struct lib_file {
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  timespec mtime{};
  bool present = false;
};

lib_file stat_lib(const std::string& path) {
  lib_file f;
  f.path = path;
  struct stat sb;
  if (::stat(path.c_str(), &sb) == 0) {
    f.present = true;
    f.dev = sb.st_dev;
    f.ino = sb.st_ino;
    f.size = sb.st_size;
    f.mtime = sb.st_mtim;
  }
  return f;
}

bool same(const lib_file& a, const lib_file& b) {
  return a.present == b.present && a.dev == b.dev && a.ino == b.ino
         && a.size == b.size && a.mtime.tv_sec == b.mtime.tv_sec
         && a.mtime.tv_nsec == b.mtime.tv_nsec;
}

/// glibc keeps a thread's id in its thread descriptor (at byte 720 on
/// x86-64 with glibc 2.36) and uses it for raise() and pthread_kill(). A
/// child made with a raw clone3 would keep the server's; CLONE_CHILD_SETTID
/// writes the child's own there. The field is found without trusting a
/// layout: the places in the descriptor that hold this thread's id (the
/// server is single-threaded, so it is the process id) are the candidates,
/// and a probe child made by glibc's own fork(), which sets the field,
/// says which one of them then holds its id. Null when not exactly one does
/// (the children then keep the server's id there).
pid_t* thread_id_field() {
  auto* base = reinterpret_cast<char*>(pthread_self());
  auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
  auto at = [&](size_t off) { return reinterpret_cast<pid_t*>(base + off); };
  std::vector<size_t> candidates;
  for (size_t off = 0; off < 2048; off += sizeof(pid_t))
    if (*at(off) == tid)
      candidates.push_back(off);
  if (candidates.empty())
    return nullptr;
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0)
    return nullptr;
  auto child = ::fork();
  if (child == 0) {
    auto me = static_cast<pid_t>(::syscall(SYS_gettid));
    size_t found = SIZE_MAX;
    int hits = 0;
    for (auto off : candidates)
      if (*at(off) == me) {
        found = off;
        ++hits;
      }
    if (hits != 1)
      found = SIZE_MAX;
    auto n = ::write(p[1], &found, sizeof(found));
    ::_exit(n == static_cast<ssize_t>(sizeof(found)) ? 0 : 1);
  }
  ::close(p[1]);
  size_t found = SIZE_MAX;
  if (child > 0) {
    ssize_t n;
    while ((n = ::read(p[0], &found, sizeof(found))) < 0 && errno == EINTR)
      ; // retry
    if (n != static_cast<ssize_t>(sizeof(found)))
      found = SIZE_MAX;
    while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR)
      ; // retry
  }
  ::close(p[0]);
  return found == SIZE_MAX ? nullptr : at(found);
}

void send_reply(fork_reply r) {
  while (::send(0, &r, sizeof(r), MSG_NOSIGNAL) < 0 && errno == EINTR)
    ; // retry
}

/// One request and its three descriptors.
struct received {
  fork_request req;
  int fds[3] = {-1, -1, -1};
};

/// Receives one request with its three descriptors. None when the runner
/// is gone (end of file, an error); invalid_argument when it sent
/// something else (the descriptors that came with it are closed).
std::optional<procman::outcome<received>> receive() {
  received x;
  auto& fds = x.fds;
  char buf[8192];
  alignas(cmsghdr) char ctl[CMSG_SPACE(3 * sizeof(int))];
  iovec iov{buf, sizeof(buf)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl;
  msg.msg_controllen = sizeof(ctl);
  ssize_t n;
  while ((n = ::recvmsg(0, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
    ; // retry
  if (n <= 0)
    return std::nullopt;
  int got = 0;
  for (auto* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      auto count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      auto* data = reinterpret_cast<int*>(CMSG_DATA(c));
      for (size_t i = 0; i < count; ++i) {
        if (got < 3)
          fds[got++] = data[i];
        else
          ::close(data[i]);
      }
    }
  auto req = fork_request::decode(buf, static_cast<size_t>(n));
  if (got != 3 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || !req) {
    for (int i = 0; i < got; ++i)
      ::close(fds[i]);
    return procman::outcome<received>{procman::failure{
      procman::errc::invalid_argument, "malformed fork request"}};
  }
  x.req = std::move(*req);
  return procman::outcome<received>{std::move(x)};
}

/// The kernel's struct sigaction (x86-64): raw rt_sigaction reaches the
/// signals glibc keeps for itself (32 and 33) too.
struct kernel_sigaction {
  void* handler;
  unsigned long flags;
  void* restorer;
  uint64_t mask;
};

constexpr int max_signal = 64;

/// The dispositions the server was started with: posix_spawn gave it what
/// it gives a spawned executor (the same attributes, the same runner), so
/// its children get them back.
kernel_sigaction initial_dispositions[max_signal + 1];

void record_dispositions() {
  for (int sig = 1; sig <= max_signal; ++sig)
    ::syscall(SYS_rt_sigaction, sig, nullptr, &initial_dispositions[sig],
              sizeof(uint64_t));
  // glibc's posix_spawn ignores its internal signals (SIGCANCEL and
  // SIGSETXID, 32 and 33) in the new program when the parent handles them;
  // an executor starts with them at their default, as from a clone3 with
  // CLONE_CLEAR_SIGHAND.
  for (int sig : {32, 33}) {
    initial_dispositions[sig].handler = nullptr; // SIG_DFL
    initial_dispositions[sig].flags = 0;
  }
}

/// The signals whose disposition differs from `initial_dispositions`
/// once the server is set up: all a child has to restore.
int changed_signals[max_signal];
int changed_count = -1; ///< -1: not known yet, restore every signal

void find_changed_dispositions() {
  changed_count = 0;
  for (int sig = 1; sig <= max_signal; ++sig) {
    kernel_sigaction now;
    ::syscall(SYS_rt_sigaction, sig, nullptr, &now, sizeof(uint64_t));
    auto& was = initial_dispositions[sig];
    if (now.handler != was.handler || now.flags != was.flags
        || now.mask != was.mask)
      changed_signals[changed_count++] = sig;
  }
}

void restore_dispositions() {
  auto restore = [](int sig) {
    if (sig != SIGKILL && sig != SIGSTOP)
      ::syscall(SYS_rt_sigaction, sig, &initial_dispositions[sig], nullptr,
                sizeof(uint64_t));
  };
  if (changed_count < 0) {
    for (int sig = 1; sig <= max_signal; ++sig)
      restore(sig);
    return;
  }
  for (int i = 0; i < changed_count; ++i)
    restore(changed_signals[i]);
}

struct child_setup {
  int fds[3];
  const fork_request* req;
  bool move_to_cgroup; ///< not started in its cgroup: move itself
};

/// In the child, before it runs the executor: what a spawned executor
/// gets from posix_spawn and exec.
void prepare_child(const child_setup& s) {
  // The dispositions of a spawned executor (the server ignores SIGPIPE),
  // then, below, an empty mask: the executor installs its own handlers.
  restore_dispositions();
  for (int i = 0; i < 3; ++i)
    ::dup2(s.fds[i], i);
  ::setpgid(0, 0);
  if (s.move_to_cgroup) {
    auto procs = s.req->cgroup + "/cgroup.procs";
    int fd = ::open(procs.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || ::write(fd, "0", 1) != 1) {
      std::fprintf(stderr, "procman-exec: cannot enter cgroup %s: %s\n",
                   s.req->cgroup.c_str(), std::strerror(errno));
      _exit(126);
    }
    ::close(fd);
  }
  // Every descriptor but 0-2 closes: the socket, the other children's
  // pipes the server held for a moment, the ready pipe.
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
    for (int fd = 3; fd < 65536; ++fd)
      ::close(fd);
  ::setenv("PROCMAN_PID", s.req->pid.c_str(), 1);
  if (s.req->cgroup.empty())
    ::unsetenv("PROCMAN_CGROUP");
  else
    ::setenv("PROCMAN_CGROUP", s.req->cgroup.c_str(), 1);
  // Each process its own random sequence (a copy of the server's state
  // would repeat in every child).
  unsigned seed = 0;
  if (::getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
    seed = static_cast<unsigned>(::getpid())
           ^ static_cast<unsigned>(time(nullptr));
  ::srand(seed);
  ::srandom(seed);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

} // namespace

const bool fork_server_available = true;

int serve_main(int argc, char** argv) {
  std::vector<std::string> cli_libs;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--step-lib" && i + 1 < argc)
      cli_libs.emplace_back(argv[++i]);
    else if (arg.rfind("--step-lib=", 0) == 0)
      cli_libs.push_back(arg.substr(11));
    else if (arg != "--serve") {
      std::fprintf(stderr, "procman-exec --serve: unknown option \"%s\"\n",
                   arg.c_str());
      return 2;
    }
  }
  record_dispositions();
  ::signal(SIGPIPE, SIG_IGN);
  // Dies with the runner; its children do not need it.
  if (auto p = std::getenv("PROCMAN_PARENT_PID"); p && *p) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != static_cast<pid_t>(std::atol(p)))
      return 4;
  }
  int sock_type = 0;
  socklen_t len = sizeof(sock_type);
  if (::getsockopt(0, SOL_SOCKET, SO_TYPE, &sock_type, &len) != 0
      || sock_type != SOCK_SEQPACKET) {
    std::fprintf(stderr, "procman-exec --serve: stdin must be a Unix "
                         "SOCK_SEQPACKET socket from the runner\n");
    return 2;
  }
  static preloaded_steps pre;
  register_builtin_steps(pre.reg);
  auto list = preload_list(cli_libs);
  if (auto f = load_step_libraries(list, pre.reg, pre.services)) {
    std::fprintf(stderr, "procman-exec --serve: %s\n", f.context.c_str());
    return 2;
  }
  std::vector<lib_file> libs;
  for (auto& lib : split_library_list(list)) {
    pre.libs.insert(lib);
    // A name without '/' is found by the loader: not watched.
    if (lib.find('/') != std::string::npos)
      libs.push_back(stat_lib(lib));
  }
  auto* tid_field = thread_id_field();
  find_changed_dispositions();
  bool restarted = std::getenv("PROCMAN_SERVE_RESTARTED") != nullptr;
  ::unsetenv("PROCMAN_SERVE_RESTARTED");
  send_reply(fork_reply{fork_reply::hello, ::getpid(), restarted ? 1 : 0});
  for (;;) {
    pollfd pfd{0, POLLIN, 0};
    if (::poll(&pfd, 1, -1) < 0) {
      if (errno == EINTR)
        continue;
      return 0;
    }
    if ((pfd.revents & POLLIN) == 0)
      return 0; // the runner closed its end
    // A library that changed on disk: start afresh, the request unread.
    for (auto& lib : libs)
      if (!same(lib, stat_lib(lib.path))) {
        std::fflush(nullptr);
        ::setenv("PROCMAN_SERVE_RESTARTED", "1", 1);
        restore_dispositions();
        ::execv("/proc/self/exe", argv);
        std::fprintf(stderr, "procman-exec --serve: cannot restart: %s\n",
                     std::strerror(errno));
        ::unsetenv("PROCMAN_SERVE_RESTARTED");
        ::signal(SIGPIPE, SIG_IGN);
        lib = stat_lib(lib.path); // serve with what is loaded
      }
    auto next = receive();
    if (!next)
      return 0;
    if (!*next) {
      send_reply(fork_reply{fork_reply::reply, 0, EINVAL});
      continue;
    }
    auto& req = (**next).req;
    auto& fds = (**next).fds;
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) {
      auto e = errno;
      for (int fd : fds)
        ::close(fd);
      send_reply(fork_reply{fork_reply::reply, 0, e});
      continue;
    }
    int cg_fd = -1;
    if (!req.cgroup.empty())
      cg_fd = ::open(req.cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    clone3::args_v2 ca;
    std::memset(&ca, 0, sizeof(ca));
    ca.flags = clone3::clone_parent;
    if (tid_field) {
      ca.flags |= clone3::clone_child_settid;
      ca.child_tid = reinterpret_cast<uint64_t>(tid_field);
    }
    if (cg_fd >= 0) {
      ca.flags |= clone3::clone_into_cgroup;
      ca.cgroup = static_cast<uint64_t>(cg_fd);
    }
    // No signal reaches the child before it has reset the dispositions.
    sigset_t all, old;
    sigfillset(&all);
    ::sigprocmask(SIG_BLOCK, &all, &old);
    std::fflush(nullptr);
    bool move = false;
    long rc = ::syscall(SYS_clone3, &ca, sizeof(ca));
    if (rc < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL)) {
      // Before Linux 5.7 (or a filter refusing clone3): clone, and the
      // child moves itself into its cgroup.
      unsigned long flags = clone3::clone_parent;
      if (tid_field)
        flags |= clone3::clone_child_settid;
      rc = ::syscall(SYS_clone, flags, nullptr, nullptr, tid_field, nullptr);
      move = !req.cgroup.empty();
    }
    if (rc == 0) {
      ::close(ready[0]);
      // ready[1] closes with every other descriptor in prepare_child.
      child_setup s{{fds[0], fds[1], fds[2]}, &req, move};
      prepare_child(s);
      _exit(executor_main(argc, argv, &pre));
    }
    auto e = errno;
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    if (cg_fd >= 0)
      ::close(cg_fd);
    for (int fd : fds)
      ::close(fd);
    ::close(ready[1]);
    if (rc < 0) {
      ::close(ready[0]);
      send_reply(fork_reply{fork_reply::reply, 0, e});
      continue;
    }
    // Set up (or dead) once its end of the pipe is closed.
    char c;
    while (::read(ready[0], &c, 1) < 0 && errno == EINTR)
      ; // retry
    ::close(ready[0]);
    send_reply(fork_reply{fork_reply::reply, static_cast<int32_t>(rc), 0});
  }
}

} // namespace procman::exec
