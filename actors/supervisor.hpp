// The supervisor: claims work from the queue when it has free slots and
// runs each claimed process in a process actor (one procman-exec child
// each), up to `parallel` at once.

#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include <caf/actor_clock.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "procman/actors/process.hpp"
#include "procman/messages/actors.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/persistence/started_marks.hpp"

namespace procman {

struct supervisor_options {
  uint32_t parallel = 1;       ///< 0: claim nothing
  uint64_t max_processes = 0;  ///< 0 = unlimited
  bool wait = false;           ///< keep running when the queue is empty
  uint32_t grace_seconds = 10; ///< on drain, before children are killed
  /// Records claimed ahead per slot, ready when a slot frees. A worker
  /// node claims none ahead: a node that is lost ends only what it ran.
  uint32_t claim_ahead = 2;
  /// Up to this many per slot while processes end fast: as many as the
  /// slots start within defaults::claim_horizon_ms at the pace of the
  /// recent exits (supervisor_state::ahead). 0: `claim_ahead` always.
  uint32_t claim_ahead_max = defaults::claim_ahead_max;
  /// Where each process is marked as started before its executor starts
  /// (persistence/started_marks.hpp); null: nowhere, and after a kill -9
  /// every record of this runner ends runner_lost.
  std::shared_ptr<started_marks> marks;
  /// Where the slots running a process are counted for /metrics (read by
  /// the store actor's metrics answer); null: nowhere.
  std::shared_ptr<std::atomic<uint32_t>> busy;
};

struct supervisor_state {
  static inline const char* name = "supervisor";
  supervisor_options opts;
  queue_actor queue;
  store_actor store;
  std::shared_ptr<const exec_config> cfg;
  /// Process actors whose executor runs (or is being started): one slot
  /// each.
  std::unordered_map<std::string, process_actor> active;
  /// Process actors whose executor has exited while their last
  /// transitions are being committed: no slot, but not forgotten (an actor
  /// that dies now still has its process recorded as runner_lost).
  std::unordered_map<std::string, process_actor> finishing;
  /// Claimed ahead: records that are `running` for this runner and start
  /// as soon as a slot frees, so that a slot never waits for a claim's
  /// commit. At most `ahead()` of them, refilled once no more than half
  /// of that (and at least `parallel`) are left: claims in batches that
  /// share commits.
  std::deque<process_record> ready;
  /// The time between two executors' exits, a moving average (µs); 0 until
  /// two have exited. It says how fast the slots free.
  double exit_gap_us = 0;
  std::optional<caf::actor_clock::time_point> last_exit;
  /// Claimed again (a retry) while the actor of its last run was still
  /// ending here: started when that one is done. Counts as a slot.
  std::unordered_map<std::string, process_record> next_runs;
  uint64_t claimed = 0;
  bool claim_pending = false;
  uint32_t abandoning = 0; ///< ready records being ended at a drain
  bool claim_again = false;
  bool queue_empty = false; ///< the last claim got less than it asked for
  bool draining = false;
  /// After a failed claim (the store cannot commit): wait before the next,
  /// doubling up to a limit; 0 while claims succeed.
  std::chrono::milliseconds claim_delay{0};
  bool claim_retry_armed = false;
  uint64_t failed_claims = 0; ///< in a row
  std::chrono::steady_clock::time_point last_claim_log;
  /// A `fire` (due schedules, the next wake-up time) is in flight.
  bool fire_pending = false;
  /// The wake-up timer is armed for this time (unix ms); 0 = none.
  uint64_t wake_at = 0;
  /// The transitions that end runs of process actors, held for the
  /// store (`send_ends`), with the promises the store's answers keep.
  struct held_end {
    std::vector<transition> ts;
    caf::typed_response_promise<std::vector<process_record>> rp;
  };
  std::vector<held_end> held_ends;
  /// A `flush` is due within defaults::hold_limit_ms.
  bool ends_timer_armed = false;

  /// Sends the held ends of runs to the store, right before a claim (the
  /// store commits them with it) or, with `commit_now`, to be committed at
  /// once. The store answers each process actor itself.
  void send_ends(supervisor_actor::stateful_pointer<supervisor_state> self,
                 bool commit_now);

  /// Enqueues the runs of due schedules, then claims if any were, and
  /// (with --wait) arms one timer for when the next delayed process or
  /// schedule is due.
  void fire(supervisor_actor::stateful_pointer<supervisor_state> self);
  void arm_wake(supervisor_actor::stateful_pointer<supervisor_state> self,
                uint64_t at);

  void try_claim(supervisor_actor::stateful_pointer<supervisor_state> self);
  /// How many records to keep claimed ahead now: as many as the slots
  /// start within defaults::claim_horizon_ms at the recent pace, between
  /// `claim_ahead` and `claim_ahead_max` per slot.
  uint64_t ahead() const;
  /// Counts an executor's exit into the pace of the slots.
  void count_exit(caf::actor_clock::time_point now);
  /// Starts ready records while slots are free.
  void start_ready(supervisor_actor::stateful_pointer<supervisor_state> self);
  /// The grace period is over with records still ready: none of their
  /// steps ran, so they go back to the queue (a fail, runner_lost, and a
  /// retry).
  void abandon_ready(supervisor_actor::stateful_pointer<supervisor_state> self);
  void claim_failed(supervisor_actor::stateful_pointer<supervisor_state> self,
                    const caf::error& err);
  void maybe_quit(supervisor_actor::stateful_pointer<supervisor_state> self);
  /// Spawns the process actor of a claimed record.
  void start(supervisor_actor::stateful_pointer<supervisor_state> self,
             process_record rec);
  /// The actor of `pid` is done: frees its slot, and starts its next run
  /// if one was claimed meanwhile.
  void release(supervisor_actor::stateful_pointer<supervisor_state> self,
               const std::string& pid);
  /// Counts the busy slots into `opts.busy`.
  void publish_busy();
  /// A process actor died before it was done: record its process as
  /// runner_lost and free its slot.
  void lost_actor(supervisor_actor::stateful_pointer<supervisor_state> self,
                  const std::string& pid, const caf::error& reason);
};

supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           supervisor_options opts, queue_actor queue, store_actor store,
           std::shared_ptr<const exec_config> cfg);

} // namespace procman
