// Which claimed processes a runner has started: `<store>/runners/<id>.started`.
//
// A runner claims records ahead of its free slots and commits a process's
// `start` together with its later transitions, so after a kill -9 the
// store alone cannot tell a record that was claimed ahead and never
// started from one whose executor ran. The runner appends a record's pid
// here before it starts its executor; the runner that recovers the store
// puts the records the file does not name back in the queue (none of their
// steps ran) and ends the others as runner_lost.
//
// The file is not synced: it holds across the kill of a process, whose
// writes stay in the page cache, not across an OS crash. Its first line
// carries the boot id, and after a reboot (another boot id), or when the
// file is missing or unreadable, no record is taken as unstarted. No
// actors in here.

#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "procman/messages/failure.hpp"
#include "procman/platform/files.hpp"

namespace procman {

class started_marks {
public:
  /// Creates the file of `runner_id` (replacing any), headed by this
  /// boot's id. Errors: store_access naming the file.
  static outcome<std::unique_ptr<started_marks>>
  create(const std::string& store_dir, const std::string& runner_id);

  /// Closes and removes the file: a runner that ends normally has
  /// recorded every process it claimed. Unless `keep` was called.
  ~started_marks();

  /// Leaves the file for the runner that recovers this one's records: this
  /// runner ends without having recorded every process it claimed (its
  /// commits failed and it gave up). Thread-safe.
  void keep();

  started_marks(const started_marks&) = delete;
  started_marks& operator=(const started_marks&) = delete;

  /// Appends `pid`; call it before the process's executor starts. A failed
  /// write makes the file untrusted (it is truncated to nothing): the
  /// recovering runner then ends every record of this runner as
  /// runner_lost, as it did before these marks existed.
  void add(const std::string& pid);

  /// Whether the file has grown past a limit: time to `rewrite` it.
  bool full() const;

  /// Rewrites the file with only `live`: every process of this runner
  /// that may still be running (executing, or its end not yet committed).
  void rewrite(const std::vector<std::string>& live);

private:
  started_marks(std::string path, platform::append_file file,
                std::string header);
  std::string path_;
  platform::append_file file_;
  std::string header_;
  size_t bytes_ = 0;
  std::atomic<bool> keep_{false};
};

/// The pids the dead runner `runner_id` marked as started; nullopt when
/// its file is missing, unreadable or from another boot (then nothing can
/// be taken as unstarted).
std::optional<std::unordered_set<std::string>>
read_started_marks(const std::string& store_dir, const std::string& runner_id);

/// Removes the marks of the runners that are not alive (their processes
/// recovered). Returns how many files it removed.
size_t remove_dead_started_marks(const std::string& store_dir);

} // namespace procman
