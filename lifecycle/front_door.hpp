// The front door: the transitions a client asks for (start, proceed,
// cancel), built and checked in one place. The manager (hosts, remote
// nodes) and `client` (the CLI, hosts without an engine) both go through
// it, so that the same request is refused alike, with the same message,
// before the store sees it. The life cycle (lifecycle/machine.hpp) checks
// again what depends on the process's state.

#pragma once

#include <string>

#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {

class step_registry;

struct front_door {
  /// An enqueue of `spec` under `pid` (empty: the store picks a fresh
  /// one). The spec is checked as `check_spec` checks it (steps, classes,
  /// args and data within the limits of a user's JSON, no repeated keys)
  /// and its JSON written compactly; with `steps`, also as
  /// `step_registry::precheck` checks it (an unknown class of a known
  /// namespace, bad args of a built-in). Errors: invalid_spec naming the
  /// step and field, unknown_class, invalid_argument for a pid that is not
  /// 32 lowercase hex.
  static outcome<transition> start(process_spec spec, std::string pid = {},
                                   std::string source = "client",
                                   const step_registry* steps = nullptr);

  /// The built-in steps (procman.*), what the manager checks a start
  /// against: it loads no step libraries, so classes of other namespaces
  /// pass and are the executor's to find.
  static const step_registry& builtin_steps();

  /// A proceed of `pid` with `data`, a JSON object ("" = {}) merged over
  /// the output of the interrupted step. Errors: invalid_json naming the
  /// process (`<pid>: proceed data must be a JSON object`, repeated keys,
  /// deeper than `defaults::max_json_depth`).
  static outcome<transition> proceed(std::string pid, std::string data,
                                     std::string source = "client");

  /// A cancel of `pid`: a queued or interrupted process ends at once, a
  /// running one is asked to (its runner then cancels it again).
  static transition cancel(std::string pid, std::string source = "client");

  /// A retry of `pid` by hand: an errored process queued again. Errors:
  /// invalid_argument for a pid that is not 32 lowercase hex.
  static outcome<transition> retry(std::string pid,
                                   std::string source = "client");

  /// Adds (or replaces) the schedule `name`: `cron` (lifecycle/cron.hpp)
  /// enqueues `spec` at each due time. Errors: invalid_argument for an
  /// empty or overlong name or a bad cron expression (naming the field),
  /// invalid_spec as for start, and for a "not_before" in the spec.
  static outcome<transition> schedule_add(std::string name, std::string cron,
                                          process_spec spec,
                                          std::string source = "client");

  /// Removes the schedule `name` (the store refuses an unknown one with
  /// unknown_schedule).
  static transition schedule_remove(std::string name,
                                    std::string source = "client");

  /// `t` under the key of a client's request that may come again
  /// (transition::request): a repeat of it is answered, not applied again.
  /// Errors: those of `t`, invalid_argument for a key that is not 32
  /// lowercase hex.
  static outcome<transition> keyed(outcome<transition> t, std::string key);
};

} // namespace procman
