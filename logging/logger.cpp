#include "procman/logging/logger.hpp"

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <unistd.h>
#ifndef _WIN32
#include <pthread.h>
#endif

namespace procman {

namespace {

std::atomic<int> current_level{static_cast<int>(log_level::info)};
std::atomic<int> current_format{static_cast<int>(log_format::text)};

/// The component's name and the host's sink; held while a sink is called,
/// so that a sink sees one line at a time.
struct destination {
  std::mutex mtx;
  std::string component = "procman";
  log_sink sink;
};

/// This OS process's id, asked of the kernel once (getpid is a system
/// call, and a runner logs a few lines per process); a forked child asks
/// again.
std::atomic<int> cached_pid{0};

int own_pid() {
  auto pid = cached_pid.load(std::memory_order_relaxed);
  if (pid != 0)
    return pid;
#ifndef _WIN32
  static const bool reset_in_children = [] {
    pthread_atfork(nullptr, nullptr, [] { cached_pid.store(0); });
    return true;
  }();
  (void) reset_in_children;
#endif
  pid = static_cast<int>(::getpid());
  cached_pid.store(pid, std::memory_order_relaxed);
  return pid;
}

destination& dest() {
  static auto* d = new destination; // never destroyed: logging until exit
  return *d;
}

const char* level_name(log_level lvl) {
  switch (lvl) {
    case log_level::error:
      return "ERROR";
    case log_level::warn:
      return "WARN ";
    case log_level::info:
      return "INFO ";
    case log_level::debug:
      return "DEBUG";
  }
  return "?    ";
}

const char* level_word(log_level lvl) {
  switch (lvl) {
    case log_level::error:
      return "error";
    case log_level::warn:
      return "warn";
    case log_level::info:
      return "info";
    case log_level::debug:
      return "debug";
  }
  return "?";
}

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[40];
  auto n = std::strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof(ts) - n, ".%03dZ", static_cast<int>(ms % 1000));
  return ts;
}

void append_quoted(std::string& line, const std::string& str) {
  line += boost::json::serialize(boost::json::string(str));
}

/// The fields are for machines: a text line says the same in its message.
std::string text_line(log_level lvl, const std::string& component,
                      const std::string& pid, const std::string& msg) {
  std::string line;
  line.reserve(96 + msg.size());
  line += timestamp();
  line += ' ';
  line += level_name(lvl);
  line += ' ';
  line += component;
  line += '[';
  line += std::to_string(own_pid());
  line += "] ";
  line += pid.empty() ? "-" : pid;
  line += ": ";
  line += msg;
  return line;
}

std::string json_line(log_level lvl, const std::string& component,
                      const std::string& pid, const std::string& msg,
                      const log_fields& fields) {
  std::string line;
  line.reserve(160 + msg.size());
  line += "{\"time\":\"";
  line += timestamp();
  line += "\",\"level\":\"";
  line += level_word(lvl);
  line += "\",\"component\":";
  append_quoted(line, component);
  line += ",\"os_pid\":";
  line += std::to_string(own_pid());
  line += ",\"pid\":";
  if (pid.empty())
    line += "null";
  else
    append_quoted(line, pid);
  line += ",\"message\":";
  append_quoted(line, msg);
  line += ",\"fields\":{";
  bool first = true;
  for (auto& [key, value] : fields) {
    if (!first)
      line += ',';
    first = false;
    append_quoted(line, key);
    line += ':';
    append_quoted(line, value);
  }
  line += "}}";
  return line;
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

std::optional<log_format> parse_log_format(const std::string& str) {
  if (str == "text")
    return log_format::text;
  if (str == "json")
    return log_format::json;
  return std::nullopt;
}

void logger::set_level(log_level lvl) {
  current_level = static_cast<int>(lvl);
}

void logger::set_component(const std::string& name) {
  auto& d = dest();
  std::lock_guard<std::mutex> guard{d.mtx};
  d.component = name;
}

void logger::set_format(log_format fmt) {
  current_format = static_cast<int>(fmt);
}

void logger::set_sink(log_sink sink) {
  auto& d = dest();
  std::lock_guard<std::mutex> guard{d.mtx};
  d.sink = std::move(sink);
}

bool logger::enabled(log_level lvl) {
  return static_cast<int>(lvl) <= current_level.load();
}

void logger::write(log_level lvl, const std::string& pid,
                   const std::string& msg, const log_fields& fields) {
  if (!enabled(lvl))
    return;
  auto& d = dest();
  std::unique_lock<std::mutex> guard{d.mtx};
  auto line = static_cast<log_format>(current_format.load()) == log_format::json
                ? json_line(lvl, d.component, pid, msg, fields)
                : text_line(lvl, d.component, pid, msg);
  if (d.sink) {
    d.sink(lvl, line);
    return;
  }
  guard.unlock();
  line += '\n';
  auto rc = ::write(2, line.data(), line.size());
  (void) rc;
}

} // namespace procman
