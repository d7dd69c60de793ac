// The store actor: the one writer of a store in this OS process.

#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "procman/messages/actors.hpp"
#include "procman/persistence/store.hpp"

namespace procman {

/// What the store actor does when its commits keep failing (a full disk):
/// by default it retries until they succeed or the runner stops (`drain`).
struct commit_failure_policy {
  /// Give up once commits have failed in a row for this long: answer every
  /// waiting and every later request with the error, as after `drain`, and
  /// call `gave_up`. 0: never.
  std::chrono::milliseconds give_up_after{0};
  /// Called once, in the store actor, when it gives up: with the storage
  /// failure (it names the store) and how long commits had failed.
  std::function<void(const failure&, std::chrono::milliseconds)> gave_up;
};

/// Fills in what the runner knows and the store does not (its slots, busy
/// slots, fork server restarts) in a metrics answer; called in the store
/// actor. Empty: nothing (a replay).
using store_runtime = std::function<void(store_metrics&)>;

struct store_state {
  static inline const char* name = "store";
  std::shared_ptr<procman::store> db;
  store_runtime runtime;
  /// Transitions waiting for the next commit, with what answers each (a
  /// promise of its own, or a share of a batch's).
  std::vector<transition> pending;
  std::vector<std::function<void(outcome<process_record>)>> answers;
  /// Live output waiting for the next commit, and its bytes.
  std::vector<output_chunk> pending_output;
  size_t pending_output_bytes = 0;
  /// When the commit timer fires next (nullopt: not armed). It is armed
  /// for live output, and for the ends of runs, which wait for the next
  /// commit (`park`, store_service.cpp) at most this long.
  std::optional<caf::actor_clock::time_point> timer_due;
  /// A `flush` is in the mailbox or armed as a retry timer.
  bool flush_scheduled = false;
  std::vector<caf::actor> listeners;
  /// Front-door requests whose commit failed for storage reasons: carried
  /// out again after the next commit that succeeds (or answered with the
  /// error once the store gives up), as parked transitions are. Each
  /// returns whether it was answered.
  std::vector<std::function<bool()>> parked_requests;
  /// This runner's id: recovery never touches its own processes.
  std::string runner_id;

  // -- commits that fail (disk full, I/O errors) --------------------------
  // A commit that fails for storage reasons keeps its transitions parked
  // and is retried with exponential backoff; the requesters wait. After
  // `drain`, or once they have failed for `policy.give_up_after`, a failed
  // commit answers them with the error instead.

  using clock = std::chrono::steady_clock;
  /// Wait before the next retry; 0 while commits succeed.
  std::chrono::milliseconds retry_delay{0};
  uint64_t failed_commits = 0; ///< in a row
  clock::time_point failing_since;
  clock::time_point last_failure_log;
  bool give_up = false;
  commit_failure_policy policy;

  /// Commits the parked output and transitions and then `extra` in one
  /// transaction, answers the parked requests and returns the results of
  /// `extra`. When the commit fails for storage reasons (and not
  /// `give_up`), the parked output and transitions stay parked, `extra`
  /// get the error and `retry_delay` says when to try again.
  std::vector<outcome<process_record>>
  flush(std::vector<transition> extra = {});

private:
  void commit_failed(const failure& err, size_t n);
  void commit_succeeded();
};

/// Ends processes left running by dead runners and removes the lock files
/// of runners that are gone; shared by the store actor and start-up.
/// Returns how many processes it ended.
uint32_t recover_lost_processes(procman::store& db,
                                const std::string& own_runner);

/// Spawn with `caf::detached`: LMDB commits block.
store_actor::behavior_type
store_service(store_actor::stateful_pointer<store_state> self,
              std::shared_ptr<procman::store> db, std::string runner_id,
              commit_failure_policy policy, store_runtime runtime);

} // namespace procman
