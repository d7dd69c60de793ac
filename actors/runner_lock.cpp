#include "actors/runner_lock.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "persistence/store.hpp"

namespace procman {

file_lock::~file_lock() {
  if (fd_ >= 0)
    close(fd_);
}

file_lock::file_lock(file_lock&& other) noexcept
  : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

file_lock& file_lock::operator=(file_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

std::string file_lock::try_lock(const std::string& path) {
  auto fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return "cannot open " + path + ": " + strerror(errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto e = errno;
    close(fd);
    if (e == EWOULDBLOCK)
      return "busy";
    return "cannot lock " + path + ": " + strerror(e);
  }
  if (fd_ >= 0)
    close(fd_);
  fd_ = fd;
  path_ = path;
  return {};
}

void file_lock::release_and_remove() {
  if (fd_ < 0)
    return;
  ::unlink(path_.c_str());
  close(fd_);
  fd_ = -1;
}

std::string make_runner_id() {
  char host[64] = "host";
  gethostname(host, sizeof(host) - 1);
  host[sizeof(host) - 1] = '\0';
  return std::string(host) + "-" + std::to_string(getpid()) + "-"
         + store::make_pid().substr(24);  // random bits (the head is time)
}

std::string runner_lock_path(const std::string& store_dir,
                             const std::string& runner_id) {
  return store_dir + "/runners/" + runner_id + ".lock";
}

bool runner_alive(const std::string& store_dir, const std::string& runner_id) {
  if (runner_id.empty())
    return false;
  auto path = runner_lock_path(store_dir, runner_id);
  auto fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return false;  // no lock file: the runner is gone
  bool alive = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  if (!alive)
    ::unlink(path.c_str());  // stale; we hold it briefly, nobody else can
  close(fd);
  return alive;
}

} // namespace procman
