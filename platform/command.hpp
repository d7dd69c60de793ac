// Running a command to completion, as the procman.exec step does: its stdin
// fed from a string (or the null device), its stdout and stderr collected
// and passed on as they arrive, its end seen even when something it
// started in the background keeps the pipes open. The command stays in
// this process's tree (process group; Job Object), so that whatever ends
// the executor ends it too.

#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "procman/messages/failure.hpp"
#include "procman/messages/output_stream.hpp"

namespace procman::platform {

struct command_options {
  /// The program and its arguments (UTF-8); a program without a directory
  /// is looked up in PATH.
  std::vector<std::string> argv;
  /// The command's whole environment, NAME=VALUE.
  std::vector<std::string> env;
  /// The working directory (UTF-8); empty: this process's.
  std::string cwd;
  /// What the command reads on stdin; none: the null device.
  std::optional<std::string> input;
  /// Bytes kept of each of stdout and stderr; a command that writes more
  /// is killed (`command_result::overflow`).
  size_t output_limit = 0;
};

struct command_result {
  int code = -1;           ///< the exit code; -1 when a signal ended it
  int signal = 0;          ///< the POSIX signal that ended it, else 0
  std::string signal_name; ///< "SIGKILL", ...; empty without a signal
  std::string out;
  std::string err;
  /// The stream that went over `output_limit`, for which the command was
  /// killed; what was read up to the limit is kept.
  std::optional<output_stream> overflow;
};

/// Runs `opts.argv` to its end, calling `on_output` (on this thread) with
/// each piece of output as it arrives. Errors: spawn_failure, "cannot run:
/// <reason>" (with " (not found in PATH)" where that is why), "cannot
/// create a pipe: <reason>", or "lost track of the command: <reason>".
outcome<command_result> run_command(
  const command_options& opts,
  const std::function<void(output_stream, std::string_view)>& on_output);

/// This process's environment, NAME=VALUE in UTF-8.
std::vector<std::string> this_environment();

} // namespace procman::platform
