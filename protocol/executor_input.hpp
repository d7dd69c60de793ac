// The work a runner hands an executor: one JSON document on the executor's
// stdin (docs/protocol.md, "Input"). Encoded by the process actor, decoded
// by procman-exec; no CAF in here.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "procman/messages/defaults.hpp"
#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {

/// The executor's input document.
struct executor_input {
  std::string pid;
  std::vector<step_spec> steps;
  uint32_t first_step = 0;  ///< first step to run, <= steps.size()
  boost::json::object data; ///< input of the first step run
  std::string script_args;  ///< the runner's --script-args
  std::string step_libs;    ///< ':'-separated step libraries
  size_t max_output_bytes = defaults::max_output_bytes;
  /// Wait for `{"ack": k}` (protocol/step_ack.hpp) on stdin after step k
  /// before step k + 1.
  bool step_acks = false;
  /// Report what the commands of procman.exec write, while they run
  /// (`output` report lines).
  bool output_events = false;
  /// The executor's lease (protocol/executor_lease.hpp): when
  /// lease_clock_ms() reaches this, unless a `{"lease": T}` line on stdin
  /// has moved it, the executor kills its process tree and itself. 0: no
  /// lease. With a lease, stdin stays open for the renewals.
  int64_t lease_until_ms = 0;
};

/// The document as one line with its newline (an executor written as a
/// shell script can `read` it). A step's args that are not JSON text are
/// sent as null; fields at their defaults are left out.
std::string encode_input(const executor_input& x);

/// Decodes an executor's input. Failures (errc::invalid_json for text
/// that is not one JSON object, errc::invalid_spec for a missing, mistyped
/// or unknown field) name the field: `executor input: field "first_step"
/// must be a non-negative integer`. A process spec (`{"steps", "timeout",
/// "data"}`) is valid input as it stands.
outcome<executor_input> decode_input(std::string_view text);

} // namespace procman
