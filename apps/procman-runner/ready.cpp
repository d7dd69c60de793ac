#include "ready.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "procman/messages/error.hpp"

namespace procman {

ready_signal::ready_signal(ready_signal&& other) noexcept
  : fd_(other.fd_.exchange(-1)) {}

ready_signal& ready_signal::operator=(ready_signal&& other) noexcept {
  if (this != &other) {
    auto old = fd_.exchange(other.fd_.exchange(-1));
    if (old >= 0)
      ::close(old);
  }
  return *this;
}

ready_signal::~ready_signal() {
  if (auto fd = fd_.exchange(-1); fd >= 0)
    ::close(fd);
}

caf::expected<ready_signal> ready_signal::open(const std::string& n) {
  size_t used = 0;
  int fd = -1;
  try {
    fd = std::stoi(n, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (n.empty() || used != n.size() || fd < 0)
    return make_error(errc::invalid_argument,
                      "option --ready-fd must be a descriptor number, not \""
                        + n + "\"");
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
    return make_error(errc::invalid_argument,
                      "option --ready-fd " + n + ": descriptor " + n
                        + " is not open (" + std::strerror(errno) + ")");
  return ready_signal{fd};
}

void ready_signal::send(const std::string& line) {
  auto fd = fd_.exchange(-1);
  if (fd < 0)
    return;
  auto text = line + "\n";
  const char* p = text.data();
  auto left = text.size();
  while (left > 0) {
    auto n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break; // the reader went away: nobody waits for the line
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);
}

} // namespace procman
