#include "procman/persistence/file_lock.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <vector>

#include "procman/messages/failure.hpp"
#include "procman/messages/time.hpp"
#include "procman/persistence/store.hpp"
#include "procman/platform/files.hpp"
#include "procman/platform/store_dir.hpp"
#include "procman/platform/system.hpp"

namespace procman {

namespace {

constexpr std::string_view lease_prefix = "lease-ms ";

/// What a lock file's first bytes say of its lease: its length in ms (0:
/// not a lease).
uint32_t lease_ms_of(const std::string& head) {
  if (head.size() <= lease_prefix.size()
      || std::string_view{head}.substr(0, lease_prefix.size()) != lease_prefix)
    return 0;
  return static_cast<uint32_t>(
    std::strtoul(head.c_str() + lease_prefix.size(), nullptr, 10));
}

/// Whether the lock file seen in `probe` is a lease (file_lock::renew)
/// renewed less than its lease ago.
bool lease_still_running(const platform::lock_probe& probe) {
  auto lease_ms = lease_ms_of(probe.head);
  if (lease_ms == 0)
    return false;
  return static_cast<int64_t>(now_ms())
         < probe.modified_ms + static_cast<int64_t>(lease_ms);
}

/// The lock file `path` and how it is held; nothing if it is free, and
/// then it is removed, but only while it is still the file at `path`
/// (platform::probe_lock). A free lease still running counts as held and
/// stays. (The lock's `id` is left for the caller.)
std::optional<runner_lock> held_or_removed(const std::string& path) {
  auto probe = platform::probe_lock(path, [](const platform::lock_probe& p) {
    return !lease_still_running(p);
  });
  if (!probe.found)
    return std::nullopt; // no lock file: its runner is gone
  if (!probe.held && !lease_still_running(probe))
    return std::nullopt;
  runner_lock info;
  info.lock_held = probe.held;
  info.lease_ms = lease_ms_of(probe.head);
  info.renewed_at = static_cast<uint64_t>(probe.modified_ms);
  return info;
}

} // namespace

failure file_lock::try_lock(const std::string& path) {
  auto err = lock_.try_lock(path);
  if (!err)
    lease_ms_ = 0;
  return err;
}

void file_lock::renew(uint32_t lease_ms) {
  if (!lock_.held())
    return;
  if (lease_ms != lease_ms_
      && lock_.rewrite(std::string{lease_prefix} + std::to_string(lease_ms)
                       + "\n"))
    lease_ms_ = lease_ms;
  lock_.touch();
}

void file_lock::release_and_remove() {
  lock_.release_and_remove();
}

std::string make_runner_id() {
  return platform::host_name() + "-"
         + std::to_string(platform::this_process_id()) + "-"
         + store::make_pid().substr(24); // random bits (the head is time)
}

std::string runner_lock_path(const std::string& store_dir,
                             const std::string& runner_id) {
  return store_dir + "/runners/" + runner_id + ".lock";
}

bool runner_alive(const std::string& store_dir, const std::string& runner_id) {
  if (runner_id.empty())
    return false;
  return held_or_removed(runner_lock_path(store_dir, runner_id)).has_value();
}

failure prepare_runners_dir(const std::string& store_dir) {
  return platform::prepare_private_subdir(store_dir + "/runners");
}

namespace {

/// What a look at every lock file in `<store_dir>/runners` found.
struct sweep_result {
  std::vector<runner_lock> held;
  size_t removed = 0; ///< free ones, removed
};

sweep_result sweep_runner_locks(const std::string& store_dir) {
  auto dir = store_dir + "/runners";
  std::vector<std::string> names;
  for (auto& name : platform::directory_names(dir))
    if (name.size() > 5 && name.substr(name.size() - 5) == ".lock")
      names.push_back(name);
  sweep_result out;
  for (auto& name : names) {
    if (auto info = held_or_removed(dir + "/" + name)) {
      info->id = name.substr(0, name.size() - 5);
      out.held.push_back(std::move(*info));
    } else {
      ++out.removed;
    }
  }
  return out;
}

} // namespace

size_t remove_stale_runner_locks(const std::string& store_dir) {
  return sweep_runner_locks(store_dir).removed;
}

size_t live_runners(const std::string& store_dir) {
  return sweep_runner_locks(store_dir).held.size();
}

std::vector<runner_lock> live_runner_locks(const std::string& store_dir) {
  auto out = sweep_runner_locks(store_dir).held;
  std::sort(out.begin(), out.end(),
            [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

} // namespace procman
