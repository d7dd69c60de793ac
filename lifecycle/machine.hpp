// The life cycle of a process as a pure function: which transitions apply
// in which state, and what the record is after one. No actors, no LMDB:
// the store loads the record, calls `next`, and persists what it returns
// (the record, its indexes, the log entry) in one LMDB transaction.
//
//            claim              final report "finished"
//  (none) --> queued ----------> running ---------------------> finished
//   enqueue     ^  \               |  \---- fail (error, timeout, crash,
//               |   \ cancel       |         runner_lost) --------> error
//               |    \             |  \---- cancel (requested, then
//               |     v            |         again by its runner) -> cancelled
//               |   cancelled      | interrupt
//               |                  v
//               +---- proceed -- interrupted --cancel--> cancelled
//
//   fail also ends a queued process (a runner that died between its claim
//   and the start); purge removes a terminal one.
//
// Per kind (the fields of `transition` it reads; legal from -> to):
//   enqueue         spec, pid (32 lowercase hex): (none) -> queued
//   claim           runner: queued -> running (runs += 1, the states of the
//                   steps still to run reset, error and progress cleared)
//   start           exec_pid, runner: running -> running
//   step_started    step: running; step state -> running, progress cleared,
//                   the step's time started now (its end cleared)
//   step_completed  step, output (optional): running; step state ->
//                   completed (its time ended now), last_completed; with an
//                   output, data = the output and next_step = step + 1
//                   (where a retry resumes)
//   progress        progress: running
//   interrupt       step, output: running -> interrupted (output = data =
//                   the output, next_step = step + 1, step completed)
//   proceed         data (a JSON object, "" = {}) merged over the output:
//                   interrupted -> queued
//   finish          output: running -> finished
//   fail            error: running | queued -> error (the named step
//                   failed); with a retry policy the attempt and its error
//                   are counted, and while retries are left and the kind is
//                   retried: -> queued with not_before = now + the backoff
//   retry           error -> queued (by hand; attempts are kept, one more
//                   run; resumes at next_step like an automatic retry)
//   cancel          queued | interrupted -> cancelled; running -> running
//                   with cancel_requested (its runner stops the executor and
//                   applies cancel again: running + cancel_requested ->
//                   cancelled, the running step's state -> cancelled)
//   purge           (terminal) -> the record as it was; the store removes it
//
// Step times: a claim clears those of the steps it will run again (from
// next_step on, with their states); whatever takes a process out of running
// (interrupt, finish, fail, cancel) ends the time of a step that started and
// has not ended at that moment.
//
// Refusals: no record -> errc::unknown_process "no process <pid>"; not
// legal in this state -> errc::illegal_transition "<pid>: cannot <kind> a
// <status> process", except proceed -> errc::not_interrupted and cancel of
// a terminal process -> errc::already_terminal; a step index past the last
// step -> errc::invalid_argument; an output that is not JSON within
// `defaults::max_json_depth`, or proceed data that is not such an object
// (repeated keys refused) -> errc::invalid_json; a bad spec ->
// errc::invalid_spec (naming the step and field); a pid that is not 32
// lowercase hex -> errc::invalid_argument; enqueue of a pid in use ->
// errc::illegal_transition.
//
// What only the store can supply is decided before or after: the pid of an
// enqueue without one and the queue head for a claim without one (filled
// into the transition before `next`), and the queue position of a record
// that enters the queue (`queue_seq` is 0 in what `next` returns).

#pragma once

#include <cstdint>
#include <string>

#include <boost/json/object.hpp>

#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {

/// The record after `t` at `now` (unix ms), or why `t` does not apply.
/// `current` is the record of `t.pid`, null if there is none.
outcome<process_record> next(const process_record* current, const transition& t,
                             uint64_t now);

/// The data of a proceed of `pid` as the life cycle reads it: one JSON
/// object ("" = {}) without repeated keys, within `defaults::max_json_depth`.
/// Errors: invalid_json naming the process.
outcome<boost::json::object> read_proceed_data(const std::string& pid,
                                               const std::string& data);

/// Whether a failure of kind `k` is retried under `p` (never spec and
/// output: they would fail again).
bool retried(const retry_policy& p, error_kind k);

/// The backoff before retry number `attempt` (1 = the first retry), ms:
/// exponential initial * 2^(attempt-1) capped at max_delay, or fixed
/// initial. No jitter: the delay follows from the log alone.
uint64_t retry_delay(const retry_policy& p, uint32_t attempt);

/// The `fail` that ends a running `rec` whose runner or node is gone:
/// error kind `kind` at the step after the last completed one (the one
/// that was running; none when all completed). The caller words the
/// message.
transition lost_process(const process_record& rec, error_kind kind,
                        std::string source, std::string runner);

/// Whether a pid is 32 lowercase hex characters.
bool valid_pid(const std::string& pid);

/// Whether the change from `before` (null: none) to `after` gives a runner
/// work: a process entered the queue, or a cancel of a running process was
/// requested. The store then rings the runner's doorbell.
bool wakes_runner(const process_record* before, const process_record& after);

} // namespace procman
