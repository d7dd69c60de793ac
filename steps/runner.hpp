// Runs a list of steps in order: the core of both the executor child
// (procman-exec) and synchronous execution (`procman run`).

#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "messages/types.hpp"
#include "steps/registry.hpp"

namespace procman {

namespace defaults {

/// Largest output (serialized JSON) one step may return: 16 MiB.
constexpr size_t max_output_bytes = size_t{16} << 20;

} // namespace defaults

/// How a run of steps ended.
struct step_run_result {
  enum outcome_t { finished, interrupted, failed } outcome = finished;
  uint32_t step = 0;            ///< last step executed (interrupted / failed)
  boost::json::object output;   ///< finished: last output; interrupted: that step's output
  error_info error;             ///< failed
};

/// Receives events while steps run (the executor forwards them to its parent).
struct step_observer {
  std::function<void(uint32_t step)> started;
  std::function<void(uint32_t step)> completed;
  std::function<void(uint32_t step, double percent, const std::string& msg)>
    progress;
};

struct step_run_options {
  std::string pid;
  std::string script_args;
  size_t max_output_bytes = defaults::max_output_bytes;
};

/// Runs `steps[first..]` on `data`. Never throws: a step's exception, an
/// unknown class or service, bad args, a too-large output become `failed`
/// with an `error_info` naming the step (kinds exception, spec, output).
step_run_result run_steps(const std::vector<step_spec>& steps, uint32_t first,
                          boost::json::object data, const step_registry& reg,
                          const service_registry& services,
                          const step_observer& observer,
                          const step_run_options& opts);

} // namespace procman
