#include "procman/platform/files.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <system_error>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "procman/platform/paths.hpp"

namespace procman::platform {

outcome<append_file> append_file::create(const std::string& path) {
  int fd = ::open(path.c_str(),
                  O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_failure(errc::store_access,
                        "cannot create " + path + ": " + error_text(errno));
  append_file f;
  f.handle_ = fd;
  return f;
}

bool append_file::append(std::string_view text) {
  if (handle_ == -1)
    return false;
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(static_cast<int>(handle_), text.data() + done,
                     text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

void append_file::truncate() {
  if (handle_ != -1 && ::ftruncate(static_cast<int>(handle_), 0) != 0) {
    // nop: the caller removes the file then
  }
}

void append_file::close() {
  if (handle_ == -1)
    return;
  ::close(static_cast<int>(handle_));
  handle_ = -1;
}

bool replace_file(const std::string& from, const std::string& to) {
  return std::rename(from.c_str(), to.c_str()) == 0;
}

bool remove_file(const std::string& path) {
  return ::unlink(path.c_str()) == 0;
}

std::string make_temp_dir(const std::string& prefix) {
  std::error_code ec;
  auto base = std::filesystem::temp_directory_path(ec);
  if (ec)
    return {};
  auto tmpl = (base / (prefix + "XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    return {};
  return tmpl;
}

std::string private_copy(const std::string& contents) {
  static std::mutex mtx;
  static std::map<std::string, int> fds;
  std::lock_guard<std::mutex> guard{mtx};
  auto i = fds.find(contents);
  if (i == fds.end()) {
    int fd = memfd_create("procman-copy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
      return {};
    size_t done = 0;
    while (done < contents.size()) {
      auto n = ::write(fd, contents.data() + done, contents.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        ::close(fd);
        return {};
      }
      done += static_cast<size_t>(n);
    }
    fcntl(fd, F_ADD_SEALS,
          F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
    i = fds.emplace(contents, fd).first;
  }
  return "/proc/self/fd/" + std::to_string(i->second);
}

} // namespace procman::platform
