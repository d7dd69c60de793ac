// Runs a list of steps in order: the core of both the executor child
// (procman-exec) and synchronous execution (`procman run`).

#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "procman/messages/defaults.hpp"
#include "procman/messages/types.hpp"
#include "procman/steps/step_registry.hpp"

namespace procman {

/// How a run of steps ended.
struct step_run_result {
  enum outcome_t { finished, interrupted, failed } outcome = finished;
  uint32_t step = 0; ///< failed / interrupted step; finished: the last
  boost::json::object
    output;         ///< finished: last output; interrupted: that step's output
  error_info error; ///< failed
};

/// Receives events while steps run (the executor forwards them to its parent).
struct step_observer {
  std::function<void(uint32_t step)> started;
  std::function<void(uint32_t step)> completed;
  /// Optional, after `completed`: the step's output (the next step's input).
  std::function<void(uint32_t step, const boost::json::object& output)> output;
  std::function<void(uint32_t step, double percent, const std::string& msg)>
    progress;
  /// Live output of the step's commands (step_context::live_output), as
  /// given.
  std::function<void(uint32_t step, output_stream stream,
                     std::string_view data)>
    live_output;
};

struct step_run_options {
  std::string pid;
  std::string script_args;
  size_t max_output_bytes = defaults::max_output_bytes;
};

/// Runs `steps[first..]` on `data`. Never throws: a step's exception, an
/// unknown class or service, bad args, a too-large output become `failed`
/// with an `error_info` naming the step (kinds exception, spec, output).
///
/// Order of events and checks:
/// 1. Before any step runs, the class and services of every step from
///    `first` on are checked (`step_registry::check`): a typo in step 3
///    fails the run with kind "spec" naming step 3 before step 1 has had
///    any side effect. `started` is not called for it.
/// 2. For each step: `started(i)`, then the step is built from its spec
///    (args are parsed and checked by its factory only now: a factory may
///    be costly or need the earlier steps' effects), then `execute`d with a
///    `step_context` whose `progress` calls `observer.progress` (percent
///    clamped to 0..100, messages made valid UTF-8).
/// 3. The output's serialized size is checked against
///    `opts.max_output_bytes` (kind "output": `step "<name>": output is N
///    bytes, above the limit of M bytes`), then `completed(i)`.
/// 4. An interrupting step ends the run as `interrupted` with its output.
///
/// A step that throws ends the run with kind "exception", message
/// `Step "<name>" failed: <what>` and `stack` (captured at throw time in
/// procman-exec, else at the catch site; see steps/throw_trace.hpp). A
/// `spec_error` thrown by `execute` counts as kind "spec". `first ==
/// steps.size()` (proceeding after an interrupting last step) finishes at
/// once with `data` as the output; `first > steps.size()` is a spec error.
step_run_result run_steps(const std::vector<step_spec>& steps, uint32_t first,
                          boost::json::object data, const step_registry& reg,
                          const service_registry& services,
                          const step_observer& observer,
                          const step_run_options& opts);

} // namespace procman
