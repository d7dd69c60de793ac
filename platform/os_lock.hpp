// An exclusive lock on a file that the operating system releases when its
// holder dies, however it dies: flock(2) on POSIX, LockFileEx on Windows.
// The runner's --wait lock and the runners' liveness locks are such locks
// (persistence/file_lock.hpp).

#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

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
  /// waiting. A lock on a file that a sweep (`probe_lock`) removed before
  /// the lock took hold protects nothing: the file is then made anew.
  /// Errors: runner_busy when someone else holds it (another process, or
  /// another os_lock of this one), store_access with the reason.
  failure try_lock(const std::string& path);

  bool held() const;

  /// Replaces the held file's text with `text` (others may read it while
  /// the lock is held); false when that failed.
  bool rewrite(std::string_view text);

  /// Sets the held file's modification time to now.
  void touch();

  /// Releases the lock (the file stays).
  void release();

  /// Removes the held file, then releases the lock.
  void release_and_remove();

private:
  // An fd on POSIX, a HANDLE on Windows; -1 when nothing is held.
  intptr_t handle_ = -1;
  std::string path_;
};

/// What `probe_lock` saw of a lock file.
struct lock_probe {
  bool found = false;      ///< a regular file is there
  bool held = false;       ///< someone holds its lock now
  std::string head;        ///< its first bytes (up to 31)
  int64_t modified_ms = 0; ///< its modification time, unix ms
};

/// Looks at the lock file `path` without waiting. When nobody holds it and
/// `remove_free(probe)` says so, removes it, but only while it is still
/// the file looked at (a new holder may have made a fresh one there).
lock_probe
probe_lock(const std::string& path,
           const std::function<bool(const lock_probe&)>& remove_free);

} // namespace procman::platform
