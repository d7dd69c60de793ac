#include "procman/platform/programs.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <sys/stat.h>
#include <unistd.h>

#include "procman/platform/paths.hpp"

namespace procman::platform {

std::string program_file_name(std::string_view name) {
  return std::string{name};
}

bool is_bare_program_name(std::string_view path) {
  return path.find('/') == std::string_view::npos;
}

std::string find_in_path(std::string_view name) {
  auto env = std::getenv("PATH");
  for (auto& dir : split_path_list(env ? env : "")) {
    auto candidate = dir + "/" + std::string{name};
    if (::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return {};
}

failure check_program(const std::string& path) {
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) {
    auto err = errno;
    return {errc::spawn_failure, path + ": " + std::strerror(err), err};
  }
  if (!S_ISREG(sb.st_mode))
    return {errc::spawn_failure, path + " is not a regular file"};
  if (::access(path.c_str(), X_OK) != 0) {
    auto err = errno;
    return {errc::spawn_failure,
            path + " is not executable: " + std::strerror(err), err};
  }
  return {};
}

} // namespace procman::platform
