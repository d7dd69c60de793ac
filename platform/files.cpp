// The parts of files.hpp that the standard library does the same way on
// every system.

#include "procman/platform/files.hpp"

#include <filesystem>
#include <system_error>
#include <utility>

#include "procman/platform/paths.hpp"

namespace procman::platform {

append_file::~append_file() {
  close();
}

append_file::append_file(append_file&& other) noexcept
  : handle_(std::exchange(other.handle_, -1)) {
  // nop
}

append_file& append_file::operator=(append_file&& other) noexcept {
  if (this != &other) {
    close();
    handle_ = std::exchange(other.handle_, -1);
  }
  return *this;
}

std::vector<std::string> directory_names(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  std::filesystem::directory_iterator it{path_from_utf8(dir), ec};
  for (; !ec && it != std::filesystem::directory_iterator{}; it.increment(ec))
    out.push_back(utf8_from_path(it->path().filename()));
  return out;
}

} // namespace procman::platform
