// Replays a recorded message log through the real engine, deterministically.
//
// A fresh store in a temporary directory is driven by the real manager,
// queue and process actors under CAF's deterministic scheduler
// (caf::scheduler::test_coordinator). The supervisor is replaced by a
// driver that injects the recorded events: client commands go to the
// manager, claims to the queue, and each executor's reports, exit, timeout
// or cancel go to its process actor through a launcher that starts no child.
// The store's clock is virtual: each commit gets the recorded time of the
// transition it is expected to produce.
//
// Every transition the engine commits is checked against the recording
// (event, pid, source, runner, step, executor pid, payload, progress, error,
// status after, time), then every final record. The first difference is
// reported with its sequence number.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "procman/messages/log_format.hpp"

namespace procman {

struct replay_divergence {
  uint64_t seq = 0; ///< recorded sequence number (0: a final record)
  std::string pid;
  std::string expected; ///< JSON of the recorded entry or record
  std::string got;      ///< JSON of what the engine did, or "nothing"
  std::string reason;   ///< which field differs
  /// For a digest difference: the record the replay arrived at (JSON).
  std::string record;
};

struct replay_report {
  size_t entries = 0;               ///< entries in the log
  size_t checked = 0;               ///< entries reproduced and compared
  size_t processes = 0;             ///< processes replayed
  size_t records_checked = 0;       ///< final records compared
  std::vector<std::string> skipped; ///< pids whose enqueue is not in the log
  std::optional<replay_divergence> divergence;

  bool ok() const { return !divergence.has_value(); }
};

struct replay_options {
  /// Directory for the temporary store; "" = a fresh one under $TMPDIR,
  /// removed afterwards.
  std::string work_dir;
};

/// Replays `log`. Never throws; problems with the log itself show up as a
/// divergence with a reason.
replay_report replay_log(const log_file& log, const replay_options& opts = {});

/// A human-readable summary (one paragraph) of a report.
std::string describe(const replay_report& r);

} // namespace procman
