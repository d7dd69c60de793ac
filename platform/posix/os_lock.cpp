#include "procman/platform/os_lock.hpp"

#include <cerrno>
#include <cstdlib>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procman/platform/paths.hpp"

namespace procman::platform {

namespace {

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/// Opens the lock file `path` (with `flags` beside O_RDWR), never through
/// a symbolic link; `st` gets what fstat says of it. Errors: store_access
/// naming the file and why it cannot be used.
outcome<int> open_lock_file(const std::string& path, int flags,
                            struct stat& st) {
  int fd = ::open(path.c_str(), flags | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    auto err = errno;
    if (err == ELOOP)
      return failure{errc::store_access,
                     path + " is a symbolic link; refusing to use it"};
    return failure{errc::store_access,
                   "cannot open " + path + ": " + error_text(err), err};
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return failure{errc::store_access,
                   path + " is not a regular file; refusing to use it"};
  }
  return fd;
}

int64_t unix_ms(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1000000;
}

} // namespace

void os_lock::release() {
  if (handle_ == -1)
    return;
  // Closing the only descriptor of the open file releases the flock.
  ::close(static_cast<int>(handle_));
  handle_ = -1;
}

void os_lock::release_and_remove() {
  if (handle_ == -1)
    return;
  ::unlink(path_.c_str());
  release();
}

failure os_lock::try_lock(const std::string& path) {
  release();
  // A sweep (probe_lock) may remove our file after we opened it and
  // before we lock it; such a lock is dropped and the file made anew.
  for (int attempt = 0; attempt < 100; ++attempt) {
    struct stat st;
    auto opened = open_lock_file(path, O_CREAT, st);
    if (!opened)
      return opened.error();
    int fd = *opened;
    if (st.st_uid == geteuid() && (st.st_mode & 07777) != 0600)
      fchmod(fd, 0600); // left readable by an older procman
    // flock locks belong to the open file: a second open of the same
    // file, in this process or another, is refused too.
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      auto err = errno;
      ::close(fd);
      if (err == EWOULDBLOCK)
        return {errc::runner_busy, "another process holds the lock " + path};
      return {errc::store_access,
              "cannot lock " + path + ": " + error_text(err)};
    }
    struct stat now;
    if (lstat(path.c_str(), &now) != 0 || !same_file(st, now)) {
      ::close(fd);
      continue;
    }
    handle_ = fd;
    path_ = path;
    return {};
  }
  return {errc::store_access,
          "cannot lock " + path + ": it is removed whenever it is created"};
}

bool os_lock::rewrite(std::string_view text) {
  if (handle_ == -1)
    return false;
  auto fd = static_cast<int>(handle_);
  return ftruncate(fd, 0) == 0
         && pwrite(fd, text.data(), text.size(), 0)
              == static_cast<ssize_t>(text.size());
}

void os_lock::touch() {
  if (handle_ != -1)
    futimens(static_cast<int>(handle_), nullptr);
}

lock_probe
probe_lock(const std::string& path,
           const std::function<bool(const lock_probe&)>& remove_free) {
  lock_probe probe;
  struct stat st;
  auto opened = open_lock_file(path, 0, st);
  if (!opened)
    return probe;
  int fd = *opened;
  probe.found = true;
  probe.modified_ms = unix_ms(st.st_mtim);
  char buf[32] = {};
  auto n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n > 0)
    probe.head.assign(buf, static_cast<size_t>(n));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    probe.held = errno == EWOULDBLOCK;
  } else if (remove_free && remove_free(probe)) {
    // Between our open and our flock, another process may have removed
    // the file and a new holder created and locked a fresh one there.
    struct stat now;
    if (lstat(path.c_str(), &now) == 0 && same_file(st, now))
      ::unlink(path.c_str());
  }
  ::close(fd);
  return probe;
}

} // namespace procman::platform
