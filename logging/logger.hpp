// One line per event: UTC time, level, component, OS pid of the logging
// program, the process id it concerns (or "-"), and the message:
//
//   2026-11-27T23:30:01.123Z INFO  ProcessRunner[4711] 1211a3...: finished
//
// or, in the JSON format, one object per line (docs/usage.md, "Logging"):
//
//   {"time":"2026-11-27T23:30:01.123Z","level":"info",
//    "component":"ProcessRunner","os_pid":4711,"pid":"1211a3...",
//    "message":"finished","fields":{}}
//
// where "fields" holds the line's named values (a run number, an executor's
// OS pid, a step) that the text format says in its message only.
// Lines go to stderr (each line one write(2)), or to the sink a host set.
// Thread-safe.

#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace procman {

enum class log_level { error = 0, warn = 1, info = 2, debug = 3 };

/// The level named "error", "warn", "info" or "debug"; none for anything
/// else.
std::optional<log_level> parse_log_level(const std::string& str);

/// How a line is written: `text` (the default) or `json`.
enum class log_format { text, json };

/// The format named "text" or "json"; none for anything else.
std::optional<log_format> parse_log_format(const std::string& str);

/// Named values of one line, in order (JSON: the object "fields").
using log_fields = std::vector<std::pair<std::string, std::string>>;

/// Where a host's lines go instead of stderr: called with the level and the
/// whole line (no newline at its end), from whichever thread logged, one
/// call at a time.
using log_sink = std::function<void(log_level, const std::string& line)>;

class logger {
public:
  static void set_level(log_level lvl);
  static void set_component(const std::string& name);
  static void set_format(log_format fmt);
  /// An empty sink writes to stderr again.
  static void set_sink(log_sink sink);
  static bool enabled(log_level lvl);
  static void write(log_level lvl, const std::string& pid,
                    const std::string& msg, const log_fields& fields = {});
};

inline void log_error(const std::string& pid, const std::string& msg,
                      const log_fields& fields = {}) {
  logger::write(log_level::error, pid, msg, fields);
}
inline void log_warn(const std::string& pid, const std::string& msg,
                     const log_fields& fields = {}) {
  logger::write(log_level::warn, pid, msg, fields);
}
inline void log_info(const std::string& pid, const std::string& msg,
                     const log_fields& fields = {}) {
  if (logger::enabled(log_level::info))
    logger::write(log_level::info, pid, msg, fields);
}
inline void log_debug(const std::string& pid, const std::string& msg,
                      const log_fields& fields = {}) {
  if (logger::enabled(log_level::debug))
    logger::write(log_level::debug, pid, msg, fields);
}

} // namespace procman
