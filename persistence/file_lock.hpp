// OS-level locks in a store directory (platform/os_lock.hpp: flock(2),
// LockFileEx on Windows; released by the system when the holder dies,
// however it dies).
//
//   <store>/runner.lock          held by the one --wait runner
//   <store>/runners/<id>.lock    held by each live runner for its lifetime;
//                                a record claimed by <id> whose lock is free
//                                belongs to a dead runner ("runner_lost")
//   <store>/runners/<holder>.lock held by a store node for each worker
//                                node's lease (docs/distribution.md); it
//                                says "lease-ms N" and is renewed (its
//                                mtime) at each heartbeat, so that it counts
//                                as held for N ms after the last renewal
//                                even when the store node died: the worker
//                                may still be ending its children then
//
// Beside them, runners/<id>.started holds the pids a runner has started
// (persistence/started_marks.hpp); it is not a lock.
//
// Lock files are 0600 and runners/ 0700, and none is opened through a
// symbolic link. A free runners/<id>.lock is removed by whoever finds it
// free, and only while it is still the file that was locked; a runner that
// finds its own file removed before its lock took hold makes a new one.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "procman/messages/failure.hpp"
#include "procman/platform/os_lock.hpp"

namespace procman {

/// A locked file, released on destruction. Move-only.
class file_lock {
public:
  file_lock() = default;
  ~file_lock() = default;
  file_lock(file_lock&& other) noexcept = default;
  file_lock& operator=(file_lock&& other) noexcept = default;
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;

  /// Tries to take an exclusive lock on `path` (created 0600 if missing;
  /// never through a symbolic link) without blocking. Errors: runner_busy
  /// when another process holds it, store_access with the reason.
  failure try_lock(const std::string& path);

  bool held() const { return lock_.held(); }

  /// Marks the held lock as a lease of `lease_ms` and renews it now: once
  /// it is free, it still counts as held until `lease_ms` after the last
  /// renewal.
  void renew(uint32_t lease_ms);

  /// Releases the lock and removes the file.
  void release_and_remove();

private:
  platform::os_lock lock_;
  uint32_t lease_ms_ = 0;
};

/// A fresh runner id: "<hostname>-<os pid>-<8 hex>".
std::string make_runner_id();

/// Path of the liveness lock of `runner_id` in `store_dir`.
std::string runner_lock_path(const std::string& store_dir,
                             const std::string& runner_id);

/// Whether the runner `runner_id` of this store is alive (holds its lock,
/// or its lease was renewed within the lease). The lock file of a dead
/// runner is removed.
bool runner_alive(const std::string& store_dir, const std::string& runner_id);

/// Creates `<store_dir>/runners` (0700), or checks and tightens it.
/// Errors: store_access with the reason.
failure prepare_runners_dir(const std::string& store_dir);

/// Removes the lock files in `<store_dir>/runners` that no runner holds;
/// returns how many it found free.
size_t remove_stale_runner_locks(const std::string& store_dir);

/// How many runners (procman-runner, or a host's engine; waiting or not)
/// serve `store_dir` now: the lock files in `<store_dir>/runners` that are
/// held. Those found free are removed, as `remove_stale_runner_locks`
/// does. Never touches the --wait lock.
size_t live_runners(const std::string& store_dir);

/// A held lock file of <store_dir>/runners: a runner's, or a worker
/// node's lease (its id has an '@').
struct runner_lock {
  std::string id;          ///< the file's name less ".lock"
  bool lock_held = false;  ///< locked now (else a lease not run out yet)
  uint32_t lease_ms = 0;   ///< a lease's length, 0 for a runner's lock
  uint64_t renewed_at = 0; ///< unix ms of the file's mtime (last renewal)
};

/// The lock files `live_runners` counts, by id (stale ones removed as
/// there).
std::vector<runner_lock> live_runner_locks(const std::string& store_dir);

} // namespace procman
