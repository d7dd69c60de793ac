// What an executor reports on its report channel: one JSON object per line
// (docs/protocol.md, "Reports"). Encoded by procman-exec and by the replay
// harness (which plays an executor), decoded by the process actor; no CAF
// in here.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "procman/messages/types.hpp"

namespace procman {

/// The `event` of a report line.
enum class report_event : uint8_t {
  step_started,
  progress,
  step_completed,
  finished,    ///< final: every step ran
  interrupted, ///< final: an interrupting step ran
  error,       ///< final: a step failed, or the input was bad
  other,       ///< a well-formed line with an event this procman ignores
  garbage,     ///< not a report: not a JSON object with a string "event"
  output,      ///< live output of a step's command (not final)
};

/// One report line.
struct executor_report {
  report_event event = report_event::garbage;
  /// Index into the input's steps; step events, progress, interrupted, and
  /// an error of a step.
  std::optional<uint32_t> step;
  std::string name;    ///< the step's name, where `step` is set
  double percent = 0;  ///< progress: 0..100
  std::string message; ///< progress
  /// finished, interrupted: the output (an absent one decodes as {});
  /// step_completed: the step's output when the run has more steps (null
  /// when absent).
  boost::json::value output;
  /// error: kind `exception` when the line names none; an error object
  /// that does not decode becomes a message saying so.
  error_info error;
  /// output: which stream of the command, and what it wrote (valid UTF-8).
  output_stream stream = output_stream::out;
  std::string data;
  /// garbage: the line; other: its event.
  std::string text;

  /// Whether this is the run's last line.
  bool final() const {
    return event == report_event::finished || event == report_event::interrupted
           || event == report_event::error;
  }
};

/// The line without its newline. Progress percents are rounded to two
/// decimals and written as integers when whole; an empty name is left out.
/// An output line is `{"event":"output","step":k,"name":"...","stream":
/// "stdout"|"stderr","data":"..."}`.
std::string encode_report(const executor_report& x);

/// Decodes a line; what is not a report decodes as `garbage`, never fails.
executor_report decode_report(std::string_view line);

} // namespace procman
