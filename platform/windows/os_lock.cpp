#include "procman/platform/os_lock.hpp"

#include "procman/platform/paths.hpp"

#include "win.hpp"

namespace procman::platform {

namespace {

HANDLE as_handle(intptr_t h) {
  return reinterpret_cast<HANDLE>(h);
}

/// Windows's byte-range locks are mandatory: a lock on the text would
/// keep others from reading a lease. The lock is on one byte far past any
/// text instead (a range past the end of a file may be locked).
OVERLAPPED lock_range() {
  OVERLAPPED at{};
  at.OffsetHigh = 0x40000000; // offset 2^62
  return at;
}

/// Takes the lock of `h` (the file `path`) without waiting. Errors:
/// runner_busy when someone holds it, store_access when it cannot be
/// taken.
failure lock(HANDLE h, const std::string& path) {
  auto at = lock_range();
  if (LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1,
                 0, &at))
    return {};
  auto err = GetLastError();
  if (err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING)
    return {errc::runner_busy, "another process holds the lock " + path};
  return {errc::store_access,
          "cannot lock " + path + ": " + error_text(static_cast<int>(err))};
}

/// Opens the lock file `path` (`disposition`: OPEN_ALWAYS creates it, for
/// its owner alone), never through a symbolic link: the reparse point
/// itself is opened, then refused. Shared for reading, writing and
/// deleting: the lock, not the sharing mode, keeps others out (they read
/// a lease's text, and remove a free file). Errors: store_access naming
/// the file and why it cannot be used; a failed open carries GetLastError's
/// code in `os_errno`, for try_lock's retry alone (not an errno: try_lock
/// returns the failure without it).
outcome<win::handle> open_lock_file(const std::string& path,
                                    DWORD disposition) {
  win::owner_only_security security;
  win::handle h{
    CreateFileW(win::widen(path).c_str(), GENERIC_READ | GENERIC_WRITE | DELETE,
                FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                security.attributes(), disposition,
                FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, nullptr)};
  if (!h) {
    auto err = GetLastError();
    return failure{errc::store_access,
                   "cannot open " + path + ": " + win::last_error_text(),
                   static_cast<int32_t>(err)};
  }
  BY_HANDLE_FILE_INFORMATION info;
  if (!GetFileInformationByHandle(h.get(), &info))
    return failure{errc::store_access,
                   "cannot open " + path + ": " + win::last_error_text()};
  if ((info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0)
    return failure{errc::store_access,
                   path + " is a symbolic link; refusing to use it"};
  if ((info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0)
    return failure{errc::store_access,
                   path + " is not a regular file; refusing to use it"};
  return h;
}

/// Marks the file of `h` for removal once its last handle closes: exactly
/// the file opened, whatever is at its path now.
bool remove_on_close(HANDLE h) {
  FILE_DISPOSITION_INFO remove{TRUE};
  return SetFileInformationByHandle(h, FileDispositionInfo, &remove,
                                    sizeof(remove))
         != 0;
}

/// Whether the file of `h` is being removed (a sweep marked it).
bool being_removed(HANDLE h) {
  FILE_STANDARD_INFO info{};
  return GetFileInformationByHandleEx(h, FileStandardInfo, &info, sizeof(info))
         && info.DeletePending;
}

int64_t unix_ms(const FILETIME& t) {
  ULARGE_INTEGER v;
  v.LowPart = t.dwLowDateTime;
  v.HighPart = t.dwHighDateTime;
  // 100 ns since 1601-01-01 to ms since 1970-01-01.
  return static_cast<int64_t>(v.QuadPart / 10000) - 11644473600000LL;
}

} // namespace

void os_lock::release() {
  if (handle_ == -1)
    return;
  // Closing the handle releases the lock.
  CloseHandle(as_handle(handle_));
  handle_ = -1;
}

void os_lock::release_and_remove() {
  if (handle_ == -1)
    return;
  remove_on_close(as_handle(handle_));
  release();
}

failure os_lock::try_lock(const std::string& path) {
  release();
  // A sweep (probe_lock) may mark our file for removal after we opened it
  // and before we lock it; such a lock is dropped and the file made anew
  // (while the marked file is still open somewhere, opening its name is
  // refused: tried again).
  failure last;
  for (int attempt = 0; attempt < 100; ++attempt) {
    last = {};
    auto h = open_lock_file(path, OPEN_ALWAYS);
    if (!h) {
      last = {h.error().code, h.error().context};
      if (h.error().os_errno == ERROR_ACCESS_DENIED) {
        Sleep(1);
        continue;
      }
      return last;
    }
    if (auto refused = lock(h->get(), path))
      return refused;
    if (being_removed(h->get()))
      continue;
    handle_ = reinterpret_cast<intptr_t>(h->release());
    path_ = path;
    return {};
  }
  if (last)
    return last;
  return {errc::store_access,
          "cannot lock " + path + ": it is removed whenever it is created"};
}

bool os_lock::rewrite(std::string_view text) {
  if (handle_ == -1)
    return false;
  auto h = as_handle(handle_);
  LARGE_INTEGER zero{};
  DWORD n = 0;
  return SetFilePointerEx(h, zero, nullptr, FILE_BEGIN) && SetEndOfFile(h)
         && WriteFile(h, text.data(), static_cast<DWORD>(text.size()), &n,
                      nullptr)
         && n == text.size();
}

void os_lock::touch() {
  if (handle_ == -1)
    return;
  FILETIME now;
  GetSystemTimeAsFileTime(&now);
  SetFileTime(as_handle(handle_), nullptr, nullptr, &now);
}

lock_probe
probe_lock(const std::string& path,
           const std::function<bool(const lock_probe&)>& remove_free) {
  lock_probe probe;
  auto opened = open_lock_file(path, OPEN_EXISTING);
  if (!opened || being_removed(opened->get()))
    return probe;
  auto& h = *opened;
  probe.found = true;
  FILETIME written{};
  if (GetFileTime(h.get(), nullptr, nullptr, &written))
    probe.modified_ms = unix_ms(written);
  char buf[32] = {};
  DWORD n = 0;
  if (ReadFile(h.get(), buf, sizeof(buf) - 1, &n, nullptr) && n > 0)
    probe.head.assign(buf, n);
  if (auto refused = lock(h.get(), path))
    probe.held = is(refused, errc::runner_busy);
  else if (remove_free && remove_free(probe))
    // The file opened, not whatever is at its path: a fresh one made
    // there since stays.
    remove_on_close(h.get());
  return probe;
}

} // namespace procman::platform
