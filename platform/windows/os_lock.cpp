#include "procman/platform/os_lock.hpp"

#include "procman/platform/paths.hpp"

#include "win.hpp"

namespace procman::platform {

namespace {

HANDLE as_handle(intptr_t h) {
  return reinterpret_cast<HANDLE>(h);
}

} // namespace

void os_lock::release() {
  if (handle_ == -1)
    return;
  // Closing the handle releases the lock.
  CloseHandle(as_handle(handle_));
  handle_ = -1;
}

failure os_lock::try_lock(const std::string& path) {
  release();
  win::owner_only_security security;
  // Shared for reading, writing and deleting: the lock, not the sharing
  // mode, keeps others out (they may read a lease file's text). Never
  // through a symbolic link: the reparse point itself is opened, then
  // refused.
  win::handle h{
    CreateFileW(win::widen(path).c_str(), GENERIC_READ | GENERIC_WRITE,
                FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                security.attributes(), OPEN_ALWAYS,
                FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, nullptr)};
  if (!h)
    return {errc::store_access,
            "cannot open " + path + ": " + win::last_error_text()};
  BY_HANDLE_FILE_INFORMATION info;
  if (!GetFileInformationByHandle(h.get(), &info))
    return {errc::store_access,
            "cannot open " + path + ": " + win::last_error_text()};
  if ((info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0)
    return {errc::store_access,
            path + " is a symbolic link; refusing to use it"};
  if ((info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0)
    return {errc::store_access,
            path + " is not a regular file; refusing to use it"};
  OVERLAPPED at{};
  if (!LockFileEx(h.get(), LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY,
                  0, 1, 0, &at)) {
    auto err = GetLastError();
    if (err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING)
      return {errc::runner_busy, path + " is locked by another process"};
    return {errc::store_access,
            "cannot lock " + path + ": " + error_text(static_cast<int>(err))};
  }
  handle_ = reinterpret_cast<intptr_t>(h.release());
  return {};
}

} // namespace procman::platform
