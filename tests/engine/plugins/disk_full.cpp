// A full disk for the store, on demand: preloaded into a runner
// (LD_PRELOAD), it makes writes and syncs of any LMDB data file
// (`.../data.mdb`) fail with ENOSPC while the file named by
// $PROCMAN_TEST_DISK_FULL exists ($PROCMAN_TEST_DISK_ERRNO=5 makes it EIO).
// Everything else passes through.
//
// Only pages past the two meta pages fail, as on a real full disk, where
// the appended pages are what cannot be allocated: a failed meta-page
// write would mark the environment broken (MDB_PANIC) until reopened,
// which is LMDB's reaction to a failing disk, not to a full one.
//
// Covers what LMDB 0.9 calls to write its data file: pwrite, write,
// writev (after lseek), fdatasync and fsync. It is not used with
// MDB_WRITEMAP (msync), which procman does not set.

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <dlfcn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

bool disk_full() {
  static const char* trigger = std::getenv("PROCMAN_TEST_DISK_FULL");
  struct stat sb;
  return trigger != nullptr && *trigger != '\0' && ::stat(trigger, &sb) == 0;
}

bool is_data_file(int fd) {
  char link[64];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char target[4096];
  auto n = ::readlink(link, target, sizeof(target));
  constexpr char suffix[] = "/data.mdb";
  constexpr size_t len = sizeof(suffix) - 1;
  return n >= static_cast<ssize_t>(len)
         && std::memcmp(target + n - len, suffix, len) == 0;
}

bool past_meta(off_t offset) {
  static const off_t meta_end = 2 * ::sysconf(_SC_PAGESIZE);
  return offset >= meta_end;
}

int fault_errno() {
  static const char* code = std::getenv("PROCMAN_TEST_DISK_ERRNO");
  return code != nullptr && *code != '\0' ? std::atoi(code) : ENOSPC;
}

/// Whether a write at `offset` of `fd` fails now; sets errno then.
bool fail_write(int fd, off_t offset) {
  if (!disk_full() || !is_data_file(fd) || !past_meta(offset))
    return false;
  errno = fault_errno();
  return true;
}

bool fail_sync(int fd) {
  if (!disk_full() || !is_data_file(fd))
    return false;
  errno = fault_errno();
  return true;
}

template <class F>
F real(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

ssize_t pwrite(int fd, const void* buf, size_t n, off_t offset) {
  static auto next = real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  if (fail_write(fd, offset))
    return -1;
  return next(fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t offset) {
  static auto next
    = real<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64");
  if (fail_write(fd, offset))
    return -1;
  return next(fd, buf, n, offset);
}

ssize_t write(int fd, const void* buf, size_t n) {
  static auto next = real<ssize_t (*)(int, const void*, size_t)>("write");
  if (disk_full() && fail_write(fd, ::lseek(fd, 0, SEEK_CUR)))
    return -1;
  return next(fd, buf, n);
}

ssize_t writev(int fd, const struct iovec* iov, int n) {
  static auto next = real<ssize_t (*)(int, const struct iovec*, int)>("writev");
  if (disk_full() && fail_write(fd, ::lseek(fd, 0, SEEK_CUR)))
    return -1;
  return next(fd, iov, n);
}

int fdatasync(int fd) {
  static auto next = real<int (*)(int)>("fdatasync");
  if (fail_sync(fd))
    return -1;
  return next(fd);
}

int fsync(int fd) {
  static auto next = real<int (*)(int)>("fsync");
  if (fail_sync(fd))
    return -1;
  return next(fd);
}

} // extern "C"
