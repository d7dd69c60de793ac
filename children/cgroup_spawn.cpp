// spawn_in_cgroup: posix_spawn, but the child starts in a given cgroup.
//
// Moving a process into a cgroup (writing cgroup.procs) waits for an RCU
// grace period whenever no other move happened just before, about 10 ms on
// an idle machine: an idle runner would start each process that much later.
// clone3(CLONE_INTO_CGROUP) (Linux 5.7) starts the child in its cgroup
// instead. glibc 2.36 has no posix_spawn that uses it, and a fork-style
// clone3 copies the parent's page tables (slow for a large host), so this
// does what posix_spawn does inside glibc: the child shares the parent's
// memory and runs on a stack of its own until it execs, while the parent
// waits (CLONE_VM | CLONE_VFORK). Starting a function on a new stack takes
// a few instructions of assembly, written here for x86-64 only; elsewhere
// the function reports ENOSYS and the caller moves the child instead.

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procman/children/clone3.hpp"
#include "procman/children/executor_cgroups.hpp"
#include "procman/messages/error.hpp"

namespace procman {

namespace {

#if defined(__x86_64__) && defined(SYS_clone3)

using clone_args_v2 = clone3::args_v2;
using clone3::clone_clear_sighand;
using clone3::clone_into_cgroup;
using clone3::clone_vfork;
using clone3::clone_vm;

struct child_args {
  const char* path;
  char* const* argv;
  char* const* envp;
  const int* fds;
  const sigset_t* defaults;
  int error; ///< set by the child when it cannot exec
};

// The child: runs on its own stack in the parent's memory while the parent
// waits, so only async-signal-safe calls, and nothing that allocates.
extern "C" int spawn_child_main(void* arg) {
  auto* a = static_cast<child_args*>(arg);
  // CLONE_CLEAR_SIGHAND reset every handled signal; ignored ones stay
  // ignored unless named here. All signals are blocked until then.
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sigismember(a->defaults, sig) == 1)
      sigaction(sig, &dfl, nullptr);
  if (setpgid(0, 0) != 0)
    goto fail;
  for (int i = 0; i < 3; ++i)
    if (dup2(a->fds[i], i) < 0)
      goto fail;
  {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
  }
  execve(a->path, a->argv, a->envp);
fail:
  a->error = errno;
  _exit(127);
}

/// clone3 that runs `fn(arg)` in the child on the stack given in `ca`. The
/// child never returns here: it calls exit if `fn` returns.
long clone3_on_stack(clone_args_v2* ca, int (*fn)(void*), void* arg) {
  long ret;
  register int (*r12)(void*) asm("r12") = fn;
  register void* r13 asm("r13") = arg;
  asm volatile("syscall\n\t"
               "testq %%rax, %%rax\n\t"
               "jnz 1f\n\t"
               // The child: the kernel set its stack pointer to the top of
               // the new stack, 16-byte aligned for this call.
               "xorl %%ebp, %%ebp\n\t"
               "movq %%r13, %%rdi\n\t"
               "callq *%%r12\n\t"
               "movl %%eax, %%edi\n\t"
               "movl %[exit_nr], %%eax\n\t"
               "syscall\n\t"
               "hlt\n\t"
               "1:\n\t"
               : "=a"(ret)
               : "0"(static_cast<long>(SYS_clone3)), "D"(ca), "S"(sizeof(*ca)),
                 "r"(r12), "r"(r13), [exit_nr] "i"(SYS_exit)
               : "rcx", "r11", "memory", "cc");
  return ret;
}

#endif

} // namespace

caf::expected<pid_t> spawn_in_cgroup(const std::string& cg, const char* path,
                                     char* const argv[], char* const envp[],
                                     const int fds[3],
                                     const sigset_t& defaults) {
  auto unable = [](int e) {
    return make_error(errc::containment_failure,
                      std::string("clone3: ") + std::strerror(e), e);
  };
#if defined(__x86_64__) && defined(SYS_clone3)
  int cg_fd = ::open(cg.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg_fd < 0)
    return unable(errno);
  // The child's stack: in this frame, which nothing else touches while the
  // parent waits for the child's exec.
  alignas(16) char stack[64 * 1024];
  child_args args{path, argv, envp, fds, &defaults, 0};
  clone_args_v2 ca;
  std::memset(&ca, 0, sizeof(ca));
  ca.flags = clone_vm | clone_vfork | clone_clear_sighand | clone_into_cgroup;
  ca.exit_signal = SIGCHLD;
  ca.stack = reinterpret_cast<uint64_t>(stack);
  ca.stack_size = sizeof(stack);
  ca.cgroup = static_cast<uint64_t>(cg_fd);
  // No signal handler may run in the child before it has reset them.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  long rc = clone3_on_stack(&ca, spawn_child_main, &args);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(cg_fd);
  if (rc < 0)
    return unable(static_cast<int>(-rc));
  auto pid = static_cast<pid_t>(rc);
  if (args.error != 0) {
    // It could not exec and exited; reap it like posix_spawn does.
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR)
      ; // retry
    return make_error(errc::spawn_failure,
                      std::string("cannot start ") + path + ": "
                        + std::strerror(args.error),
                      args.error);
  }
  return pid;
#else
  (void) cg;
  (void) path;
  (void) argv;
  (void) envp;
  (void) fds;
  (void) defaults;
  return unable(ENOSYS);
#endif
}

} // namespace procman
