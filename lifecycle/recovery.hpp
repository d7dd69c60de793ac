// What becomes of work whose runner is gone, and how long to wait before
// trying again what failed for storage reasons. Pure: the callers read the
// store and the runners' files, and commit what these return.
//
// A process a dead runner left running ends as runner_lost (node_lost when
// its holder was a worker node's lease), unless it was claimed ahead and
// never started: then none of its steps ran, and a retry in the same
// commit queues it again (refused with illegal_transition when its retry
// policy queued it already). A runner that shuts down does the same with
// the records it claimed ahead and did not start.

#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "procman/messages/types.hpp"

namespace procman {

/// The transitions that end `rec` (running), whose runner `rec.runner` is
/// gone (not `own_runner`, its lock free), in the order they commit:
/// the fail, and for a process claimed ahead and never started the retry
/// that queues it again. `started`: the processes the dead runner marked
/// as started (persistence/started_marks.hpp); nullopt when its marks
/// cannot be read, and then every process counts as started.
std::vector<transition>
recover(const process_record& rec, const std::string& own_runner,
        const std::optional<std::unordered_set<std::string>>& started);

/// The retry that queues `pid` again after a fail of a process none of
/// whose steps ran (`shut_down_before_start`, `runner_died_before_start`).
transition requeue_unstarted(const std::string& pid, std::string source,
                             std::string runner);

/// The wait before the next attempt at what failed for storage reasons (a
/// commit, a claim), `previous` the wait before this one (0 after a
/// success): `defaults::storage_retry_first_ms` doubling to
/// `defaults::storage_retry_max_ms`.
std::chrono::milliseconds
storage_retry_delay(std::chrono::milliseconds previous);

} // namespace procman
