#include "procman/persistence/file_lock.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procman/messages/failure.hpp"
#include "procman/persistence/store.hpp"

namespace procman {

file_lock::~file_lock() {
  if (fd_ >= 0)
    close(fd_);
}

file_lock::file_lock(file_lock&& other) noexcept
  : fd_(other.fd_), path_(std::move(other.path_)), lease_ms_(other.lease_ms_) {
  other.fd_ = -1;
}

file_lock& file_lock::operator=(file_lock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0)
      close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    lease_ms_ = other.lease_ms_;
    other.fd_ = -1;
  }
  return *this;
}

namespace {

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/// An open lock file and what fstat says of it.
struct lock_file {
  int fd = -1;
  struct stat st;
};

/// Opens the lock file `path`, never through a symbolic link.
/// Errors: store_access with the reason.
outcome<lock_file> open_lock_file(const std::string& path, int flags) {
  lock_file f;
  f.fd = ::open(path.c_str(), flags | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (f.fd < 0)
    return make_failure(errc::store_access,
                        errno == ELOOP
                          ? path + " is a symbolic link; refusing to use it"
                          : "cannot open " + path + ": " + strerror(errno));
  if (fstat(f.fd, &f.st) != 0 || !S_ISREG(f.st.st_mode)) {
    close(f.fd);
    return make_failure(errc::store_access,
                        path + " is not a regular file; refusing to use it");
  }
  return f;
}

constexpr const char* lease_prefix = "lease-ms ";

/// What a lock file's first bytes say of its lease: its length in ms (0:
/// not a lease).
uint32_t lease_ms_of(int fd) {
  char buf[32] = {};
  auto n = pread(fd, buf, sizeof(buf) - 1, 0);
  auto prefix = std::string_view{lease_prefix};
  if (n <= static_cast<ssize_t>(prefix.size())
      || std::string_view(buf, prefix.size()) != prefix)
    return 0;
  return static_cast<uint32_t>(std::strtoul(buf + prefix.size(), nullptr, 10));
}

int64_t unix_ms(const struct timespec& t) {
  return static_cast<int64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1000000;
}

/// Whether the free lock file `fd` is a lease (file_lock::renew) renewed
/// less than its lease ago.
bool lease_still_running(int fd, const struct stat& st) {
  auto lease_ms = lease_ms_of(fd);
  if (lease_ms == 0)
    return false;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return unix_ms(now) < unix_ms(st.st_mtim) + static_cast<int64_t>(lease_ms);
}

/// Whether the lock file `path` is held, and how (`info`, if given). If
/// it is free, it is removed, but only while it is still the file at
/// `path`: between our open and our flock, another process may have
/// removed it and a new runner created and locked a fresh one there. A
/// free lease still running counts as held and stays.
bool held_or_removed(const std::string& path, runner_lock* info = nullptr) {
  auto file = open_lock_file(path, 0);
  if (!file)
    return false; // no lock file: its runner is gone
  auto fd = file->fd;
  auto& st = file->st;
  bool held = false;
  bool locked = false;
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    held = locked = errno == EWOULDBLOCK;
  } else if (lease_still_running(fd, st)) {
    held = true;
  } else {
    struct stat now;
    if (lstat(path.c_str(), &now) == 0 && same_file(st, now))
      ::unlink(path.c_str());
  }
  if (held && info != nullptr) {
    info->lock_held = locked;
    info->lease_ms = lease_ms_of(fd);
    info->renewed_at = static_cast<uint64_t>(unix_ms(st.st_mtim));
  }
  close(fd);
  return held;
}

} // namespace

failure file_lock::try_lock(const std::string& path) {
  // A sweep (held_or_removed) may remove our file after we created it and
  // before we lock it; a lock on a removed file protects nothing and makes
  // us look dead. Such a lock is dropped and the file made anew.
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto file = open_lock_file(path, O_CREAT);
    if (!file)
      return file.error();
    auto fd = file->fd;
    auto& st = file->st;
    if (st.st_uid == geteuid() && (st.st_mode & 07777) != 0600)
      fchmod(fd, 0600); // left readable by an older procman
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      auto e = errno;
      close(fd);
      if (e == EWOULDBLOCK)
        return make_failure(errc::runner_busy,
                            "another process holds the lock " + path);
      return make_failure(errc::store_access,
                          "cannot lock " + path + ": " + strerror(e));
    }
    struct stat now;
    if (lstat(path.c_str(), &now) != 0 || !same_file(st, now)) {
      close(fd);
      continue;
    }
    if (fd_ >= 0)
      close(fd_);
    fd_ = fd;
    path_ = path;
    return {};
  }
  return make_failure(errc::store_access,
                      "cannot lock " + path
                        + ": it is removed whenever it is created");
}

void file_lock::renew(uint32_t lease_ms) {
  if (fd_ < 0)
    return;
  if (lease_ms != lease_ms_) {
    auto text = lease_prefix + std::to_string(lease_ms) + "\n";
    if (ftruncate(fd_, 0) == 0
        && pwrite(fd_, text.data(), text.size(), 0)
             == static_cast<ssize_t>(text.size()))
      lease_ms_ = lease_ms;
  }
  futimens(fd_, nullptr);
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
         + store::make_pid().substr(24); // random bits (the head is time)
}

std::string runner_lock_path(const std::string& store_dir,
                             const std::string& runner_id) {
  return store_dir + "/runners/" + runner_id + ".lock";
}

bool runner_alive(const std::string& store_dir, const std::string& runner_id) {
  if (runner_id.empty())
    return false;
  return held_or_removed(runner_lock_path(store_dir, runner_id));
}

failure prepare_runners_dir(const std::string& store_dir) {
  auto dir = store_dir + "/runners";
  auto refuse = [](std::string why) {
    return make_failure(errc::store_access, std::move(why));
  };
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return refuse("cannot create " + dir + ": " + strerror(errno));
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0)
    return refuse("cannot open " + dir + ": " + strerror(errno));
  if (S_ISLNK(st.st_mode))
    return refuse(dir + " is a symbolic link; refusing to use it");
  if (!S_ISDIR(st.st_mode))
    return refuse(dir + " is not a directory");
  if (st.st_uid == geteuid() && (st.st_mode & 07777) != 0700
      && ::chmod(dir.c_str(), 0700) != 0)
    return refuse("cannot make " + dir + " private: " + strerror(errno));
  return {};
}

namespace {

/// Looks at every lock file in `<store_dir>/runners`: how many are held,
/// and how many were free (and removed); the held ones into `held_ones`
/// if given.
std::pair<size_t, size_t>
sweep_runner_locks(const std::string& store_dir,
                   std::vector<runner_lock>* held_ones = nullptr) {
  auto dir = store_dir + "/runners";
  auto d = opendir(dir.c_str());
  if (d == nullptr)
    return {0, 0};
  std::vector<std::string> names;
  while (auto entry = readdir(d)) {
    std::string_view name{entry->d_name};
    if (name.size() > 5 && name.substr(name.size() - 5) == ".lock")
      names.emplace_back(name);
  }
  closedir(d);
  size_t held = 0;
  size_t removed = 0;
  for (auto& name : names) {
    runner_lock info;
    if (held_or_removed(dir + "/" + name, &info)) {
      ++held;
      if (held_ones != nullptr) {
        info.id = name.substr(0, name.size() - 5);
        held_ones->push_back(std::move(info));
      }
    } else {
      ++removed;
    }
  }
  return {held, removed};
}

} // namespace

size_t remove_stale_runner_locks(const std::string& store_dir) {
  return sweep_runner_locks(store_dir).second;
}

size_t live_runners(const std::string& store_dir) {
  return sweep_runner_locks(store_dir).first;
}

std::vector<runner_lock> live_runner_locks(const std::string& store_dir) {
  std::vector<runner_lock> out;
  sweep_runner_locks(store_dir, &out);
  std::sort(out.begin(), out.end(),
            [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

} // namespace procman
