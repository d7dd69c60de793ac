#include "procman/platform/files.hpp"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <system_error>

#include "procman/platform/paths.hpp"
#include "procman/platform/system.hpp"

#include "win.hpp"

namespace procman::platform {

namespace {

HANDLE as_handle(intptr_t h) {
  return reinterpret_cast<HANDLE>(h);
}

} // namespace

outcome<append_file> append_file::create(const std::string& path) {
  win::owner_only_security security;
  // Shared for deleting: the file may be replaced (replace_file) or
  // removed while open, as on POSIX. Not inheritable: a handle is
  // inherited only when its security attributes say so.
  win::handle h{CreateFileW(
    win::widen(path).c_str(), FILE_APPEND_DATA | GENERIC_WRITE,
    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
    security.attributes(), CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr)};
  if (!h)
    return make_failure(errc::store_access, "cannot create " + path + ": "
                                              + win::last_error_text());
  append_file f;
  f.handle_ = reinterpret_cast<intptr_t>(h.release());
  return f;
}

bool append_file::append(std::string_view text) {
  if (handle_ == -1)
    return false;
  auto h = as_handle(handle_);
  size_t done = 0;
  while (done < text.size()) {
    LARGE_INTEGER end{};
    SetFilePointerEx(h, end, nullptr, FILE_END);
    DWORD n = 0;
    if (!WriteFile(h, text.data() + done,
                   static_cast<DWORD>(text.size() - done), &n, nullptr)
        || n == 0)
      return false;
    done += n;
  }
  return true;
}

void append_file::truncate() {
  if (handle_ == -1)
    return;
  LARGE_INTEGER zero{};
  if (SetFilePointerEx(as_handle(handle_), zero, nullptr, FILE_BEGIN))
    SetEndOfFile(as_handle(handle_));
}

void append_file::close() {
  if (handle_ == -1)
    return;
  CloseHandle(as_handle(handle_));
  handle_ = -1;
}

bool replace_file(const std::string& from, const std::string& to) {
  return MoveFileExW(win::widen(from).c_str(), win::widen(to).c_str(),
                     MOVEFILE_REPLACE_EXISTING)
         != 0;
}

bool remove_file(const std::string& path) {
  return DeleteFileW(win::widen(path).c_str()) != 0;
}

std::string make_temp_dir(const std::string& prefix) {
  std::error_code ec;
  auto base = std::filesystem::temp_directory_path(ec);
  if (ec)
    return {};
  win::owner_only_security security;
  if (security.attributes() == nullptr)
    return {};
  static const char digits[] = "0123456789abcdef";
  // A taken name (ERROR_ALREADY_EXISTS) is tried again with another.
  for (int attempt = 0; attempt < 16; ++attempt) {
    unsigned char bytes[6];
    random_bytes(bytes, sizeof(bytes));
    std::string name = prefix;
    for (auto b : bytes) {
      name += digits[b >> 4];
      name += digits[b & 15];
    }
    auto path = base / path_from_utf8(name);
    if (CreateDirectoryW(path.c_str(), security.attributes()))
      return utf8_from_path(path);
    if (GetLastError() != ERROR_ALREADY_EXISTS)
      return {};
  }
  return {};
}

namespace {

/// The copies private_copy made, and their directory.
struct private_copies {
  std::mutex mtx;
  std::string dir;
  std::map<std::string, std::string> paths; ///< contents -> path
};

private_copies& copies() {
  static private_copies instance;
  return instance;
}

} // namespace

std::string private_copy(const std::string& contents) {
  auto& c = copies();
  std::lock_guard<std::mutex> guard{c.mtx};
  if (auto i = c.paths.find(contents); i != c.paths.end())
    return i->second;
  if (c.dir.empty()) {
    // Windows has no sealed file in memory: the copies live in a
    // directory of this user's alone (make_temp_dir), removed at exit.
    c.dir = make_temp_dir("procman-copy-");
    if (c.dir.empty())
      return {};
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(path_from_utf8(copies().dir), ec);
    });
  }
  auto path = path_from_utf8(c.dir) / std::to_wstring(c.paths.size());
  // No sharing for writes or deletes: the copy is read, never changed.
  win::handle file{CreateFileW(path.c_str(), GENERIC_WRITE, FILE_SHARE_READ,
                               nullptr, CREATE_NEW, FILE_ATTRIBUTE_NORMAL,
                               nullptr)};
  if (!file)
    return {};
  DWORD written = 0;
  if (!WriteFile(file.get(), contents.data(),
                 static_cast<DWORD>(contents.size()), &written, nullptr)
      || written != contents.size())
    return {};
  file.reset();
  return c.paths.emplace(contents, utf8_from_path(path)).first->second;
}

} // namespace procman::platform
