#include "procman/platform/os_lock.hpp"

#include <cerrno>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procman/platform/paths.hpp"

namespace procman::platform {

void os_lock::release() {
  if (handle_ == -1)
    return;
  // Closing the only descriptor of the open file releases the flock.
  ::close(static_cast<int>(handle_));
  handle_ = -1;
}

failure os_lock::try_lock(const std::string& path) {
  release();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                  0600);
  if (fd < 0)
    return {errc::store_access,
            errno == ELOOP ? path + " is a symbolic link; refusing to use it"
                           : "cannot open " + path + ": " + error_text(errno)};
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return {errc::store_access,
            path + " is not a regular file; refusing to use it"};
  }
  // flock locks belong to the open file: a second open of the same file,
  // in this process or another, is refused too.
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return {errc::runner_busy, path + " is locked by another process"};
    return {errc::store_access, "cannot lock " + path + ": " + error_text(err)};
  }
  handle_ = fd;
  return {};
}

} // namespace procman::platform
