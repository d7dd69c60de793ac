#include "procman/logging/logger.hpp"

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>

#include <unistd.h>

namespace procman {

namespace {

std::atomic<int> current_level{static_cast<int>(log_level::info)};
std::mutex component_mtx;
std::string component = "procman";

const char* level_name(log_level lvl) {
  switch (lvl) {
    case log_level::error: return "ERROR";
    case log_level::warn: return "WARN ";
    case log_level::info: return "INFO ";
    case log_level::debug: return "DEBUG";
  }
  return "?    ";
}

} // namespace

std::optional<log_level> parse_log_level(const std::string& str) {
  if (str == "error")
    return log_level::error;
  if (str == "warn" || str == "warning")
    return log_level::warn;
  if (str == "info")
    return log_level::info;
  if (str == "debug")
    return log_level::debug;
  return std::nullopt;
}

void logger::set_level(log_level lvl) {
  current_level = static_cast<int>(lvl);
}

void logger::set_component(const std::string& name) {
  std::lock_guard<std::mutex> guard{component_mtx};
  component = name;
}

bool logger::enabled(log_level lvl) {
  return static_cast<int>(lvl) <= current_level.load();
}

void logger::write(log_level lvl, const std::string& pid,
                   const std::string& msg) {
  if (!enabled(lvl))
    return;
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[40];
  auto n = std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof(ts) - n, ".%03dZ", static_cast<int>(ms % 1000));
  std::string line;
  line.reserve(96 + msg.size());
  line += ts;
  line += ' ';
  line += level_name(lvl);
  line += ' ';
  {
    std::lock_guard<std::mutex> guard{component_mtx};
    line += component;
  }
  line += '[';
  line += std::to_string(getpid());
  line += "] ";
  line += pid.empty() ? "-" : pid;
  line += ": ";
  line += msg;
  line += '\n';
  auto rc = ::write(2, line.data(), line.size());
  (void) rc;
}

} // namespace procman
