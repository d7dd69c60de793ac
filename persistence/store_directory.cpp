#include "procman/persistence/store_directory.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <system_error>

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include "procman/messages/failure.hpp"

namespace procman {

namespace {

namespace fs = std::filesystem;

std::string errno_text(int code) {
  return std::generic_category().message(code);
}

std::string user_label(uid_t uid) {
  passwd pw;
  passwd* found = nullptr;
  char buf[4096];
  std::string name = "unknown user";
  if (getpwuid_r(uid, &pw, buf, sizeof(buf), &found) == 0 && found != nullptr)
    name = found->pw_name;
  return "uid " + std::to_string(uid) + " (" + name + ")";
}

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

} // namespace

failure create_store_dir(const std::string& dir) {
  struct stat sb;
  if (::stat(dir.c_str(), &sb) == 0)
    return {};
  std::error_code ec;
  auto parent = fs::path{dir}.parent_path();
  if (!parent.empty())
    fs::create_directories(parent, ec);
  if (!ec && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    ec = std::error_code{errno, std::generic_category()};
  if (ec)
    return make_failure(errc::store_access, "cannot create store directory "
                                              + dir + ": " + ec.message());
  return {};
}

failure check_store_dir(const std::string& dir, const struct stat& sb) {
  auto me = geteuid();
  if (sb.st_uid != me && sb.st_uid != 0)
    return make_failure(errc::store_access, "store " + dir + " is owned by "
                                              + user_label(sb.st_uid)
                                              + ", not by " + user_label(me)
                                              + "; refusing to use it");
  if ((sb.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return make_failure(errc::store_access,
                        "store " + dir + " has mode " + octal_mode(sb.st_mode)
                          + " (group/world-writable); refusing to use it");
  if (sb.st_uid == me && (sb.st_mode & 077) != 0
      && ::chmod(dir.c_str(), sb.st_mode & 07700) != 0)
    return make_failure(errc::store_access,
                        "cannot make store " + dir
                          + " private: " + errno_text(errno));
  return {};
}

failure prepare_store_file(const std::string& path) {
  auto fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                   0600);
  if (fd < 0) {
    if (errno == ELOOP)
      return make_failure(errc::store_access,
                          "store file " + path
                            + " is a symbolic link; refusing to use it");
    return make_failure(errc::store_access, "cannot open store file " + path
                                              + ": " + errno_text(errno));
  }
  struct stat sb;
  failure err;
  auto me = geteuid();
  if (fstat(fd, &sb) != 0)
    err = make_failure(errc::store_access, "cannot open store file " + path
                                             + ": " + errno_text(errno));
  else if (!S_ISREG(sb.st_mode))
    err = make_failure(errc::store_access, "store file " + path
                                             + " is not a regular file; "
                                               "refusing to use it");
  else if (sb.st_uid != me && sb.st_uid != 0)
    err = make_failure(errc::store_access,
                       "store file " + path + " is owned by "
                         + user_label(sb.st_uid) + ", not by " + user_label(me)
                         + "; refusing to use it");
  else if (sb.st_uid == me && (sb.st_mode & 07777) != 0600
           && fchmod(fd, 0600) != 0)
    err = make_failure(errc::store_access,
                       "cannot make store file " + path
                         + " private: " + errno_text(errno));
  close(fd);
  return err;
}

void set_cloexec_under(const std::string& dir, int env_fd) {
  if (env_fd >= 0) {
    auto flags = fcntl(env_fd, F_GETFD);
    if (flags >= 0)
      fcntl(env_fd, F_SETFD, flags | FD_CLOEXEC);
  }
  std::error_code ec;
  auto canon = fs::canonical(dir, ec);
  if (ec)
    return;
  auto prefix = canon.string() + "/";
  auto d = opendir("/proc/self/fd");
  if (d == nullptr)
    return;
  while (auto entry = readdir(d)) {
    if (entry->d_name[0] == '.')
      continue;
    auto link = std::string{"/proc/self/fd/"} + entry->d_name;
    char target[4096];
    auto n = readlink(link.c_str(), target, sizeof(target) - 1);
    if (n <= 0)
      continue;
    std::string_view path{target, static_cast<size_t>(n)};
    if (path.substr(0, prefix.size()) != prefix)
      continue;
    auto fd = std::atoi(entry->d_name);
    auto flags = fcntl(fd, F_GETFD);
    if (flags >= 0)
      fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
  closedir(d);
}

} // namespace procman
