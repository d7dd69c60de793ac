// One line per event on stderr: UTC time, level, component, OS pid of the
// logging program, the process id it concerns (or "-"), and the message.
//
//   2026-11-27T23:30:01.123Z INFO  ProcessRunner[4711] 1211a3...: finished
//
// Thread-safe: each line is one write(2).

#pragma once

#include <optional>
#include <string>

namespace procman {

enum class log_level { error = 0, warn = 1, info = 2, debug = 3 };

/// The level named "error", "warn", "info" or "debug"; none for anything
/// else.
std::optional<log_level> parse_log_level(const std::string& str);

class logger {
public:
  static void set_level(log_level lvl);
  static void set_component(const std::string& name);
  static bool enabled(log_level lvl);
  static void write(log_level lvl, const std::string& pid,
                    const std::string& msg);
};

inline void log_error(const std::string& pid, const std::string& msg) {
  logger::write(log_level::error, pid, msg);
}
inline void log_warn(const std::string& pid, const std::string& msg) {
  logger::write(log_level::warn, pid, msg);
}
inline void log_info(const std::string& pid, const std::string& msg) {
  if (logger::enabled(log_level::info))
    logger::write(log_level::info, pid, msg);
}
inline void log_debug(const std::string& pid, const std::string& msg) {
  if (logger::enabled(log_level::debug))
    logger::write(log_level::debug, pid, msg);
}

} // namespace procman
