#include "procman/platform/paths.hpp"

#include <cerrno>
#include <cstring>
#include <system_error>

namespace procman::platform {

// POSIX paths are bytes: UTF-8 in, UTF-8 out.

std::filesystem::path path_from_utf8(std::string_view utf8) {
  return std::filesystem::path{std::string{utf8}};
}

std::string utf8_from_path(const std::filesystem::path& p) {
  return p.string();
}

std::string error_text(int code) {
  return std::generic_category().message(code);
}

disk_error disk_error_of(int code) {
  switch (code) {
    case ENOSPC:
      return disk_error::full;
    case EDQUOT:
      return disk_error::quota;
    case EIO:
      return disk_error::io;
    default:
      return disk_error::other;
  }
}

bool store_open_is_transient(int) {
  return false;
}

std::string signal_name(int sig) {
  if (auto abbrev = sigabbrev_np(sig))
    return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

} // namespace procman::platform
