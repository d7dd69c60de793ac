// How a runner reads its executor: each report line, the exit, and a spawn
// that failed become a transition of the process, or none. Pure: the
// process actor (actors/process.cpp) sends what these return to the store
// and keeps the timers, the kills and the held transitions.
//
//   report line          transition
//   step_started k       step_started k            (may be held)
//   step_completed k     step_completed k, output  (held unless an
//                                                   acknowledgement waits)
//   progress             progress (step name, percent, message)
//   finished             finish, output            (final)
//   interrupted k        interrupt k, output       (final)
//   error                fail, the report's error  (final)
//   output, other,       none: live output goes to the store without a
//   garbage              transition, garbage kills the executor
//
//   exit (killed for)    transition
//   timeout              fail timeout              (none after a final report)
//   cancel               cancel                    (none after a final report)
//   shutdown             fail runner_lost          (none after a final report)
//   garbage              fail crash, the garbage
//   nothing              fail crash (runner_lost when the executor's lease
//                        ran out)                  (none after a final report)
//
// A step a report does not name is the one running as far as the runner
// knows. The exit's failure names that step and carries the exit code, the
// signal and the tail of stderr.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "procman/messages/types.hpp"
#include "procman/protocol/executor_report.hpp"

namespace procman {

/// Why a runner killed an executor.
enum class kill_reason { none, timeout, cancel, shutdown, garbage };

/// The transition `r` makes of a run of `steps` whose running step is
/// `current_step`; nullopt for output, other and garbage. Its pid, source
/// and runner are the caller's to fill.
std::optional<transition>
report_transition(executor_report r, uint32_t current_step,
                  const std::vector<step_spec>& steps);

/// Whether `t`, made by a report, need not be durable before the next
/// transition that must be: `step_started` always, `step_completed` when no
/// acknowledgement waits for it (`acks` off, or the run's last step).
bool may_hold(const transition& t, bool acks, size_t steps);

/// Whether a transition of kind `k`, reported by an executor, ends its run
/// (finish, interrupt, fail): no executor waits for it to be durable, only
/// observers, so the runner's store commits it with the next commit (the
/// claim that the executor's exit brings), within the hold limit.
bool ends_run(transition_kind k);

/// What ended an executor, as its process actor saw it.
struct executor_exit {
  int32_t code = 0; ///< -1 when signalled
  int32_t signal = 0;
  std::string stderr_tail;
  kill_reason killed = kill_reason::none;
  /// The executor's last line was final (finished, interrupted, error).
  bool final_seen = false;
  /// It ended itself because its lease ran out.
  bool lease_lapsed = false;
  std::string step;     ///< the step running as far as the runner knows
  uint32_t timeout = 0; ///< the process's effective timeout, s
  std::string runner;
  std::string garbage; ///< the garbage line, with kill_reason::garbage
};

/// The transition the exit `x` makes; nullopt when a final report was
/// already made into one.
std::optional<transition> exit_transition(executor_exit x);

/// The failure of a process whose executor `exec_path` could not be
/// started at `step`: `spawn_errno` (0: unknown) and the error's text.
transition spawn_failure(std::string step, std::string exec_path,
                         int spawn_errno, const std::string& error);

} // namespace procman
