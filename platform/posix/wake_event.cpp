// The wake-up of a waiting runner on POSIX: a Unix datagram socket at
// `<store>/doorbell.sock`, bound by the runner that holds the --wait lock.
// A ring sends one byte; sending when nobody listens is silently a no-op.

#include "procman/platform/wake_event.hpp"

#include <cerrno>
#include <cstring>
#include <optional>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "procman/platform/paths.hpp"

namespace procman::platform {

namespace {

std::string socket_path(const std::string& store_dir) {
  return store_dir + "/doorbell.sock";
}

/// The address of `path`; nothing if it does not fit into sun_path (with
/// its NUL).
std::optional<sockaddr_un> make_addr(const std::string& path) {
  sockaddr_un addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return std::nullopt;
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

} // namespace

void ring(const std::string& store_dir) {
  auto addr = make_addr(socket_path(store_dir));
  if (!addr)
    return;
  auto fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  char byte = 1;
  // ENOENT / ECONNREFUSED: nobody listens. EAGAIN: the runner has wake-ups
  // pending already. Either way there is nothing to do.
  auto rc = sendto(fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL,
                   reinterpret_cast<const sockaddr*>(&*addr),
                   sizeof(sockaddr_un));
  static_cast<void>(rc);
  close(fd);
}

struct wake_listener::impl {
  int fd = -1;
  std::string path;
  /// Identity of the socket file bound, so that the destructor never
  /// unlinks a socket that a later runner bound at the same path.
  ino_t ino = 0;
  dev_t dev = 0;

  ~impl() {
    close(fd);
    // Unlink only our own socket: a later runner may have replaced it.
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)
        && st.st_ino == ino && st.st_dev == dev)
      unlink(path.c_str());
  }
};

wake_listener::~wake_listener() {
  delete impl_;
}

failure wake_listener::bind(const std::string& store_dir) {
  auto refuse = [](std::string why) {
    return make_failure(errc::store_access, std::move(why));
  };
  if (impl_ != nullptr)
    return refuse("doorbell already bound to " + impl_->path);
  auto path = socket_path(store_dir);
  auto addr = make_addr(path);
  if (!addr)
    return refuse("doorbell socket path " + path + " is too long ("
                  + std::to_string(path.size())
                  + " bytes; a Unix socket path has at most "
                  + std::to_string(sizeof(sockaddr_un::sun_path) - 1) + ")");
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return refuse(path + " exists and is not a socket");
    // A socket left by a runner that died.
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      return refuse("cannot remove stale " + path + ": " + error_text(errno));
  }
  auto fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return refuse("cannot create doorbell socket: " + error_text(errno));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof(sockaddr_un))
      != 0) {
    auto err = errno;
    close(fd);
    return refuse("cannot bind " + path + ": " + error_text(err));
  }
  // bind() creates the socket file with the umask's mode; only the store's
  // owner may ring (the store directory is private too).
  if (chmod(path.c_str(), 0600) != 0) {
    auto err = errno;
    close(fd);
    unlink(path.c_str());
    return refuse("cannot make " + path + " private: " + error_text(err));
  }
  auto p = new impl;
  p->fd = fd;
  p->path = std::move(path);
  if (lstat(p->path.c_str(), &st) == 0) {
    p->ino = st.st_ino;
    p->dev = st.st_dev;
  }
  impl_ = p;
  return {};
}

bool wake_listener::wait(std::chrono::milliseconds timeout) {
  if (impl_ == nullptr)
    return false;
  if (timeout.count() > 0) {
    pollfd fds{impl_->fd, POLLIN, 0};
    ::poll(&fds, 1, static_cast<int>(timeout.count()));
  }
  // Reads every pending wake-up: rings before this wait count once.
  size_t n = 0;
  char buf[64];
  for (;;) {
    auto got = recv(impl_->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (got >= 0)
      ++n;
    else if (errno != EINTR)
      return n > 0;
  }
}

intptr_t wake_listener::native_handle() const {
  return impl_ == nullptr ? -1 : impl_->fd;
}

} // namespace procman::platform
