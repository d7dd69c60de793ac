// One actor per active process: runs it in a procman-exec child and turns
// the child's reports, its exit, a timeout or a cancel into transitions.

#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "procman/children/executor_launcher.hpp"
#include "procman/lifecycle/reports.hpp"
#include "procman/messages/actors.hpp"
#include "procman/messages/defaults.hpp"

namespace procman {

// clang-format off
using process_actor = caf::typed_actor<
  /// A line from the executor's report channel.
  caf::reacts_to<atom::report, std::string>,
  /// The executor ended: exit code (-1 if signalled), signal, stderr tail.
  caf::reacts_to<atom::exited, int32_t, int32_t, std::string>,
  /// The process's timeout elapsed.
  caf::reacts_to<atom::expire>,
  /// Kill the child and record the process as cancelled.
  caf::reacts_to<atom::cancel>,
  /// Re-read the record: a cancel may have been requested elsewhere.
  caf::reacts_to<atom::check>,
  /// The runner is shutting down: kill the child, record runner_lost.
  caf::reacts_to<atom::kill>,
  /// The hold limit passed: commit the held transitions.
  caf::reacts_to<atom::flush>>;
// clang-format on

/// What every process actor of one runner shares.
struct exec_config {
  std::string exec_path;   ///< procman-exec
  std::string script_args; ///< --script-args
  std::string step_libs;   ///< ':'-separated step libraries
  std::string runner_id;
  uint32_t default_timeout
    = defaults::process_timeout; ///< seconds, for records without one
  /// Executors report live output (`output_events`), which goes to the
  /// store; off when the store keeps none (output limit 0).
  bool output_events = false;
  /// Starts the executor. Its timers (the timeout, the hold limit) are the
  /// launcher's where it keeps them (`has_timers`: the child service), and
  /// are dropped with the child. A delayed message to the actor instead
  /// keeps the actor's memory until it is due, so an actor that sent one
  /// to itself stayed in memory for its whole timeout after it ended
  /// (about 2 KiB per process: 60 MiB at 500 processes/s with the default
  /// 60 s); only launchers without timers (the replay harness, the actor
  /// tests) leave the actor to send them to itself.
  std::shared_ptr<executor_launcher> children;
  /// Hold `start` and the step events no acknowledgement waits for until
  /// the next transition that must be durable (process_state::held). Off
  /// in the replay harness, which expects `start` right after the claim.
  bool hold_transitions = true;
};

struct process_state {
  static inline const char* name = "process";
  /// How long held transitions may wait for a commit that must be
  /// durable: a slow step shows as started in the store after this.
  static constexpr auto hold_limit
    = std::chrono::milliseconds(defaults::hold_limit_ms);
  process_record record;
  store_actor store;
  supervisor_actor supervisor;
  std::shared_ptr<const exec_config> cfg;
  int os_pid = 0;
  int current_step = -1;
  bool final_seen = false;
  bool exited = false;
  bool reported = false;
  /// The executor waits for an acknowledgement of each completed step.
  bool acks = false;
  kill_reason killed = kill_reason::none;
  std::string garbage;
  size_t in_flight = 0; ///< store requests not yet answered
  /// Transitions that need not be durable yet (`start`, and step events
  /// that no acknowledgement waits for), committed with the next one that
  /// must be, or after `hold_limit`: a fast process's whole run then costs
  /// one commit instead of three.
  std::vector<transition> held;
  bool hold_armed = false;
  /// The supervisor was told that the executor has exited (its slot is
  /// free while the last transitions are committed).
  bool slot_freed = false;
  process_status last_status = process_status::running;
  /// The executor ended itself because its lease ran out (set by the
  /// launcher's thread before it reports the exit).
  std::shared_ptr<std::atomic<bool>> lease_lapsed
    = std::make_shared<std::atomic<bool>>(false);
  uint32_t timeout = 0; ///< effective seconds

  /// Sends `t` to the store, after the held transitions.
  void apply(process_actor::stateful_pointer<process_state> self, transition t);
  /// Keeps `t` for the next commit that `apply` asks for.
  void hold(process_actor::stateful_pointer<process_state> self, transition t);
  /// Sends the held transitions to the store, in order.
  void release(process_actor::stateful_pointer<process_state> self);
  /// Sends `ts` to the store in one message, in order.
  void send_all(process_actor::stateful_pointer<process_state> self,
                std::vector<transition> ts);
  /// Names this process, its runner and the source in `t`.
  void stamp(transition& t) const;
  /// Tells the supervisor that the slot is free (once).
  void free_slot(process_actor::stateful_pointer<process_state> self);
  void kill(kill_reason why);
  void maybe_done(process_actor::stateful_pointer<process_state> self);
  std::string step_name(int idx) const;
};

process_actor::behavior_type
process(process_actor::stateful_pointer<process_state> self, process_record rec,
        store_actor store, supervisor_actor supervisor,
        std::shared_ptr<const exec_config> cfg);

} // namespace procman
