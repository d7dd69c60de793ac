#include "procman/persistence/doorbell.hpp"

#include <cerrno>
#include <cstring>
#include <utility>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "procman/messages/failure.hpp"

namespace procman {

namespace {

std::string socket_path(const std::string& store_dir) {
  return store_dir + "/doorbell.sock";
}

/// Fills `addr`; false if `path` does not fit into sun_path (with its NUL).
bool make_addr(const std::string& path, sockaddr_un& addr) {
  std::memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return false;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return true;
}

} // namespace

void ring_doorbell(const std::string& store_dir) {
  sockaddr_un addr;
  if (!make_addr(socket_path(store_dir), addr))
    return;
  auto fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  char byte = 1;
  // ENOENT / ECONNREFUSED: nobody listens. EAGAIN: the runner has wake-ups
  // pending already. Either way there is nothing to do.
  auto rc = sendto(fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  static_cast<void>(rc);
  close(fd);
}

doorbell::~doorbell() {
  if (fd_ < 0)
    return;
  close(fd_);
  // Unlink only our own socket: a later runner may have replaced it.
  struct stat st;
  if (!path_.empty() && lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)
      && st.st_ino == ino_ && st.st_dev == dev_)
    unlink(path_.c_str());
}

doorbell::doorbell(doorbell&& other) noexcept {
  *this = std::move(other);
}

doorbell& doorbell::operator=(doorbell&& other) noexcept {
  if (this != &other) {
    std::swap(fd_, other.fd_);
    std::swap(path_, other.path_);
    std::swap(ino_, other.ino_);
    std::swap(dev_, other.dev_);
  }
  return *this;
}

failure doorbell::bind(const std::string& store_dir) {
  auto refuse = [](std::string why) {
    return make_failure(errc::store_access, std::move(why));
  };
  if (fd_ >= 0)
    return refuse("doorbell already bound to " + path_);
  auto path = socket_path(store_dir);
  sockaddr_un addr;
  if (!make_addr(path, addr))
    return refuse("doorbell socket path " + path + " is too long ("
                  + std::to_string(path.size())
                  + " bytes; a Unix socket path has at most "
                  + std::to_string(sizeof(addr.sun_path) - 1) + ")");
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return refuse(path + " exists and is not a socket");
    // A socket left by a runner that died.
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      return refuse("cannot remove stale " + path + ": "
                    + std::strerror(errno));
  }
  auto fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return refuse(std::string{"cannot create doorbell socket: "}
                  + std::strerror(errno));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    auto err = errno;
    close(fd);
    return refuse("cannot bind " + path + ": " + std::strerror(err));
  }
  // bind() creates the socket file with the umask's mode; only the store's
  // owner may ring (the store directory is private too).
  if (chmod(path.c_str(), 0600) != 0) {
    auto err = errno;
    close(fd);
    unlink(path.c_str());
    return refuse("cannot make " + path + " private: " + std::strerror(err));
  }
  if (lstat(path.c_str(), &st) == 0) {
    ino_ = st.st_ino;
    dev_ = st.st_dev;
  }
  fd_ = fd;
  path_ = std::move(path);
  return {};
}

size_t doorbell::drain() {
  if (fd_ < 0)
    return 0;
  size_t n = 0;
  char buf[64];
  for (;;) {
    auto got = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (got >= 0) {
      ++n;
      continue;
    }
    if (errno == EINTR)
      continue;
    return n;
  }
}

} // namespace procman
