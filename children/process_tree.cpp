#include "procman/children/process_tree.hpp"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <ctime>

#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procman/messages/defaults.hpp"

namespace procman {

namespace {

// -- text without the C library's formatting (not async-signal-safe) ----------

/// Appends the decimal digits of `v` at `p`; returns the new end.
char* put_uint(char* p, unsigned long v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n > 0)
    *p++ = digits[--n];
  return p;
}

char* put_str(char* p, const char* s) {
  while (*s)
    *p++ = *s++;
  return p;
}

/// A directory entry's name as a pid, or 0 when it is not all digits.
pid_t name_as_pid(const char* name) {
  unsigned long v = 0;
  if (*name == '\0')
    return 0;
  for (; *name; ++name) {
    if (*name < '0' || *name > '9' || v > 100000000)
      return 0;
    v = v * 10 + static_cast<unsigned long>(*name - '0');
  }
  return static_cast<pid_t>(v);
}

/// Calls `fn(pid, arg)` for every all-digit entry of the directory `path`.
/// Returns false when it cannot be opened.
template <class Fn>
bool for_each_numeric_entry(const char* path, Fn&& fn) {
  int dfd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return false;
  alignas(8) char buf[4096];
  for (;;) {
    auto n = ::syscall(SYS_getdents64, dfd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name
      unsigned short reclen;
      __builtin_memcpy(&reclen, buf + off + 16, sizeof(reclen));
      if (auto pid = name_as_pid(buf + off + 19))
        fn(pid);
      off += reclen;
    }
  }
  ::close(dfd);
  return true;
}

/// Reads the whitespace-separated numbers of the file at `path` and calls
/// `fn` for each. Returns false when it cannot be opened.
template <class Fn>
bool for_each_number_in(const char* path, Fn&& fn) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  char buf[512];
  unsigned long v = 0;
  bool in_number = false;
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] >= '0' && buf[i] <= '9') {
        v = v * 10 + static_cast<unsigned long>(buf[i] - '0');
        in_number = true;
      } else if (in_number) {
        fn(static_cast<pid_t>(v));
        v = 0;
        in_number = false;
      }
    }
  }
  if (in_number)
    fn(static_cast<pid_t>(v));
  ::close(fd);
  return true;
}

/// The parent pid in /proc/<pid>/stat, or -1.
pid_t parent_of(pid_t pid) {
  char path[48];
  *put_str(put_uint(put_str(path, "/proc/"), static_cast<unsigned long>(pid)),
           "/stat")
    = '\0';
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  // "pid (comm) state ppid ...": comm is at most 16 bytes but may hold
  // ')' and spaces, so look for the last ')'.
  char buf[256];
  auto n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0)
    return -1;
  ssize_t close_paren = -1;
  for (ssize_t i = 0; i < n; ++i)
    if (buf[i] == ')')
      close_paren = i;
  if (close_paren < 0 || close_paren + 4 >= n)
    return -1;
  unsigned long v = 0;
  for (auto i = close_paren + 4; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i)
    v = v * 10 + static_cast<unsigned long>(buf[i] - '0');
  return static_cast<pid_t>(v);
}

/// 1: /proc/<pid>/task/<tid>/children exist (CONFIG_PROC_CHILDREN);
/// 0: they do not; -1: not checked yet. A benign race at worst checks twice.
volatile sig_atomic_t children_files = -1;

bool have_children_files() {
  if (children_files < 0) {
    char path[64];
    auto self = static_cast<unsigned long>(::getpid());
    auto p = put_uint(put_str(path, "/proc/"), self);
    p = put_uint(put_str(p, "/task/"), self);
    *put_str(p, "/children") = '\0';
    children_files = ::access(path, R_OK) == 0 ? 1 : 0;
  }
  return children_files == 1;
}

// -- the table of one kill_tree -----------------------------------------------

constexpr size_t table_size = defaults::kill_tree_table_size;
pid_t table[table_size];
size_t table_used = 0;

bool in_table(pid_t pid) {
  for (size_t i = 0; i < table_used; ++i)
    if (table[i] == pid)
      return true;
  return false;
}

void stop_and_note(pid_t child, void*) {
  if (child <= 0 || child == ::getpid() || table_used == table_size
      || in_table(child))
    return;
  // Stopped before its own children are read: it cannot fork meanwhile.
  ::kill(child, SIGSTOP);
  table[table_used++] = child;
}

long now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

} // namespace

bool become_subreaper() {
  return ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
}

bool for_each_child(pid_t pid, void (*fn)(pid_t child, void* arg), void* arg) {
  char path[64];
  auto p = put_uint(put_str(path, "/proc/"), static_cast<unsigned long>(pid));
  if (!have_children_files()) {
    *p = '\0';
    if (::access(path, F_OK) != 0)
      return false;
    for_each_numeric_entry("/proc", [&](pid_t n) {
      if (parent_of(n) == pid)
        fn(n, arg);
    });
    return true;
  }
  p = put_str(p, "/task");
  *p = '\0';
  return for_each_numeric_entry(path, [&](pid_t tid) {
    // The directory is open: its path can take each thread's file name.
    auto q = put_str(put_uint(put_str(p, "/"), static_cast<unsigned long>(tid)),
                     "/children");
    *q = '\0';
    for_each_number_in(path, [&](pid_t child) { fn(child, arg); });
    *p = '\0';
  });
}

size_t kill_tree(pid_t root, bool with_root) {
  table_used = 0;
  if (with_root)
    ::kill(root, SIGSTOP);
  for_each_child(root, stop_and_note, nullptr);
  // The table is also the queue: entries are read in the order they came.
  for (size_t i = 0; i < table_used; ++i)
    for_each_child(table[i], stop_and_note, nullptr);
  for (size_t i = 0; i < table_used; ++i)
    ::kill(table[i], SIGKILL);
  if (with_root)
    ::kill(root, SIGKILL);
  return table_used;
}

void end_descendants(int limit_ms) {
  auto deadline = now_ms() + limit_ms;
  for (;;) {
    kill_tree(::getpid(), false);
    pid_t r;
    int status;
    while ((r = ::waitpid(-1, &status, WNOHANG)) > 0)
      ; // a killed one, or one that ended on its own
    if (r < 0 && errno == ECHILD)
      return; // nothing left
    if (r < 0 && errno != EINTR)
      return;
    if (now_ms() >= deadline)
      return;
    // Children that are still dying, and their children re-parented to us.
    timespec pause{0, 200 * 1000};
    ::nanosleep(&pause, nullptr);
  }
}

bool write_cgroup_kill(const char* path) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  bool ok = ::write(fd, "1", 1) == 1;
  int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

} // namespace procman
