// An exclusive lock on a file that the operating system releases when its
// holder dies, however it dies: flock(2) on POSIX, LockFileEx on Windows.
// The runner's --wait lock and the runners' liveness locks are such locks
// (persistence/file_lock.hpp).

#pragma once

#include <cstdint>
#include <string>

#include "procman/messages/failure.hpp"

namespace procman::platform {

/// A held lock, released on destruction. Move-only.
class os_lock {
public:
  os_lock() = default;
  ~os_lock();
  os_lock(os_lock&& other) noexcept;
  os_lock& operator=(os_lock&& other) noexcept;
  os_lock(const os_lock&) = delete;
  os_lock& operator=(const os_lock&) = delete;

  /// Tries to take the lock on `path` (UTF-8; the file is created, owner
  /// only, when missing, and never opened through a symbolic link) without
  /// waiting. Errors: runner_busy when someone else holds it (another
  /// process, or another os_lock of this one), store_access with the reason.
  failure try_lock(const std::string& path);

  bool held() const;

  /// Releases the lock (the file stays).
  void release();

private:
  // An fd on POSIX, a HANDLE on Windows; -1 when nothing is held.
  intptr_t handle_ = -1;
};

} // namespace procman::platform
