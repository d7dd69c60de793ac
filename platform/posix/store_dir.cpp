#include "procman/platform/store_dir.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <system_error>

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procman/platform/paths.hpp"

namespace procman::platform {

namespace {

namespace fs = std::filesystem;

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

/// Refuses a store directory that is not this user's to use: owned by
/// someone other than the effective user or root, or writable by group or
/// others (anyone who can write it can plant records, whose steps the
/// runner then runs as the store's user). Tightens a directory of this
/// user that others can read to 0700.
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
                          + " private: " + error_text(errno));
  return {};
}

} // namespace

std::string default_store_dir() {
  if (auto v = std::getenv("XDG_STATE_HOME"); v && *v)
    return std::string(v) + "/procman";
  if (auto v = std::getenv("HOME"); v && *v)
    return std::string(v) + "/.local/state/procman";
  return {};
}

std::string last_resort_store_dir() {
  return "/tmp/procman-" + std::to_string(::getuid());
}

failure create_private_dir(const std::string& dir) {
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

failure check_private_dir(const std::string& dir) {
  struct stat sb;
  if (::stat(dir.c_str(), &sb) != 0)
    return make_failure(errc::store_access,
                        "cannot read store " + dir + ": " + error_text(errno));
  return check_store_dir(dir, sb);
}

outcome<file_identity> open_private_dir(const std::string& dir) {
  if (auto err = create_private_dir(dir))
    return err;
  struct stat sb;
  if (::stat(dir.c_str(), &sb) != 0)
    return make_failure(errc::store_access, "cannot open store directory " + dir
                                              + ": " + error_text(errno));
  if (!S_ISDIR(sb.st_mode))
    return make_failure(errc::store_access,
                        "store path " + dir + " is not a directory");
  if (auto err = check_store_dir(dir, sb))
    return err;
  if (access(dir.c_str(), R_OK | W_OK | X_OK) != 0)
    return make_failure(errc::store_access,
                        "store directory " + dir
                          + " is not writable: " + error_text(errno));
  return file_identity{static_cast<uint64_t>(sb.st_dev),
                       static_cast<uint64_t>(sb.st_ino)};
}

failure prepare_private_file(const std::string& path) {
  auto fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
                   0600);
  if (fd < 0) {
    if (errno == ELOOP)
      return make_failure(errc::store_access,
                          "store file " + path
                            + " is a symbolic link; refusing to use it");
    return make_failure(errc::store_access, "cannot open store file " + path
                                              + ": " + error_text(errno));
  }
  struct stat sb;
  failure err;
  auto me = geteuid();
  if (fstat(fd, &sb) != 0)
    err = make_failure(errc::store_access, "cannot open store file " + path
                                             + ": " + error_text(errno));
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
                         + " private: " + error_text(errno));
  close(fd);
  return err;
}

failure prepare_private_subdir(const std::string& dir) {
  auto refuse = [](std::string why) {
    return make_failure(errc::store_access, std::move(why));
  };
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return refuse("cannot create " + dir + ": " + error_text(errno));
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0)
    return refuse("cannot open " + dir + ": " + error_text(errno));
  if (S_ISLNK(st.st_mode))
    return refuse(dir + " is a symbolic link; refusing to use it");
  if (!S_ISDIR(st.st_mode))
    return refuse(dir + " is not a directory");
  if (st.st_uid == geteuid() && (st.st_mode & 07777) != 0700
      && ::chmod(dir.c_str(), 0700) != 0)
    return refuse("cannot make " + dir + " private: " + error_text(errno));
  return {};
}

void keep_from_children(const std::string& dir, intptr_t handle) {
  if (handle >= 0) {
    auto fd = static_cast<int>(handle);
    auto flags = fcntl(fd, F_GETFD);
    if (flags >= 0)
      fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
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

} // namespace procman::platform
