// Helpers for the procman-exec tests: run the executor as a real child,
// feed it its input, and read its report lines as they arrive.

#pragma once

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/platform/child.hpp"
#include "procman/platform/paths.hpp"

#include "fixtures/background.hpp"
#include "fixtures/temp_dir.hpp"

namespace procman::test {

namespace json = boost::json;

/// One run of procman-exec.
struct exec_result {
  int exit_code = -1; ///< -1 when killed by a signal
  int signal = 0;
  std::string out;                 ///< raw stdout (the report channel)
  std::string err;                 ///< raw stderr
  std::vector<json::object> lines; ///< every stdout line, parsed
  std::vector<double> times;       ///< seconds from start when each arrived
  bool all_lines_parse = true;

  /// The lines whose "event" is `event`.
  std::vector<json::object> events(const std::string& event) const {
    std::vector<json::object> result;
    for (auto& l : lines)
      if (l.contains("event") && l.at("event").is_string()
          && l.at("event").get_string() == event)
        result.push_back(l);
    return result;
  }

  const json::object& last() const {
    BOOST_TEST_REQUIRE(!lines.empty());
    return lines.back();
  }

  /// The "error" object of the final line.
  const json::object& error() const {
    BOOST_TEST_REQUIRE(json::serialize(last().at("event")) == "\"error\"");
    return last().at("error").as_object();
  }
};

inline std::string exec_path() {
  return bin("procman-exec");
}

/// A step library the tests build: plugins/<name>.so, on Windows .dll.
inline std::string plugin_path(const std::string& name) {
#ifdef _WIN32
  return test_path("plugins/" + name + ".dll");
#else
  return test_path("plugins/" + name + ".so");
#endif
}

/// A command that creates the empty file `path`: touch on POSIX, cmd's
/// "type nul > PATH" on Windows.
inline json::array touch_command(const std::string& path) {
#ifdef _WIN32
  auto native = platform::path_from_utf8(path).make_preferred();
  return json::array{"cmd", "/c",
                     "type nul > " + platform::utf8_from_path(native)};
#else
  return json::array{"touch", path};
#endif
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

/// How an executor that ended its own tree ends, in wait_exit's terms: on
/// POSIX killed with its process group (128 + SIGKILL), on Windows its Job
/// Object terminated with its exit code for a failure (1).
#ifdef _WIN32
constexpr int self_kill_exit = 1;
#else
constexpr int self_kill_exit = 128 + 9;
#endif

/// Starts procman-exec with `args` and `env`, its standard streams on pipes
/// held by the test, contained (a process group; a Job Object) as the
/// runner starts it, from a clean slate for the variables it reads.
inline platform::contained_child
start_exec(const std::vector<std::string>& args = {},
           const std::vector<std::string>& env = {}, bool stderr_pipe = true) {
#ifndef _WIN32
  // A write to an executor that ended: EPIPE, not the test's death.
  std::signal(SIGPIPE, SIG_IGN);
#endif
  platform::child_options opts;
  opts.argv.push_back(exec_path());
  opts.argv.insert(opts.argv.end(), args.begin(), args.end());
  opts.env = env;
  for (std::string name : {"PROCMAN_STEP_LIBS=", "PROCMAN_PARENT_PID="}) {
    bool named = false;
    for (auto& e : env)
      named = named || e.rfind(name, 0) == 0;
    if (!named)
      opts.env.push_back(name);
  }
  opts.stdin_pipe = true;
  opts.stdout_pipe = true;
  opts.stderr_pipe = stderr_pipe;
  auto child = platform::contained_child::start(opts);
  if (!child)
    throw std::runtime_error("cannot start procman-exec: "
                             + child.error().context);
  return std::move(*child);
}

/// Runs procman-exec with `input` on stdin, collecting report lines as they
/// arrive (`on_line` sees each one then, while the executor runs on).
/// Checks that every line of stdout is a JSON object with "event" and that
/// the output ends with a newline.
inline exec_result
run_exec(const std::string& input, const std::vector<std::string>& args = {},
         const std::vector<std::string>& env = {}, double timeout_s = 60,
         const std::function<void(const json::object&)>& on_line = {}) {
  auto child = start_exec(args, env);
  exec_result result;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now()
                                         - start)
      .count();
  };
  // stdin and stderr on threads of their own; past the deadline the
  // watchdog kills the tree, which ends the reads.
  std::thread feeder([&] {
    if (!input.empty())
      child.in().write(input.data(), input.size());
    child.in().close();
  });
  std::thread err_reader([&] {
    char buf[65536];
    std::ptrdiff_t n;
    while ((n = child.err().read(buf, sizeof(buf))) > 0)
      result.err.append(buf, static_cast<size_t>(n));
  });
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false, killed = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock{mtx};
    auto limit = std::chrono::milliseconds(
      static_cast<long>(patience(timeout_s) * 1000));
    if (!cv.wait_for(lock, limit, [&] { return done; })) {
      killed = true;
      child.kill_tree();
    }
  });
  std::string partial;
  char buf[65536];
  std::ptrdiff_t got;
  while ((got = child.out().read(buf, sizeof(buf))) > 0) {
    result.out.append(buf, static_cast<size_t>(got));
    partial.append(buf, static_cast<size_t>(got));
    size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      auto line = partial.substr(0, nl);
      partial.erase(0, nl + 1);
      json::error_code ec;
      auto v = json::parse(line, ec);
      if (ec || !v.is_object() || !v.as_object().contains("event")) {
        result.all_lines_parse = false;
        BOOST_TEST_MESSAGE("not a report line: " << line.substr(0, 300));
        continue;
      }
      result.lines.push_back(v.as_object());
      result.times.push_back(elapsed());
      if (on_line)
        on_line(result.lines.back());
    }
  }
  feeder.join();
  err_reader.join();
  auto ended = child.wait_for(
    std::chrono::milliseconds(static_cast<long>(patience(timeout_s) * 1000)));
  {
    std::lock_guard<std::mutex> guard{mtx};
    done = true;
  }
  cv.notify_one();
  watchdog.join();
  if (!partial.empty()) {
    result.all_lines_parse = false;
    BOOST_TEST_MESSAGE("unterminated report line: " << partial.substr(0, 300));
  }
  if (ended) {
    result.exit_code = ended->code;
    result.signal = ended->signal;
  }
  if (killed || !ended)
    BOOST_ERROR("procman-exec did not finish within " << patience(timeout_s)
                                                      << " s");
  return result;
}

/// A step whose command is the platform suites' helper in its "tree" mode
/// (tests/platform/helper.cpp): it starts a grandchild the ordinary way,
/// says "tree <its pid> grandchild <pid>" and sleeps.
inline json::object tree_step() {
  return json::object{{"name", "tree"},
                      {"class", "procman.exec"},
                      {"args",
                       {{"command", json::array{test_path("test-platform")}},
                        {"env", {{"PROCMAN_PLATFORM_HELPER", "tree"}}}}}};
}

/// Builds the executor's input from the steps (a JSON array or object as
/// text) and extra top-level fields.
inline std::string work(const std::string& steps,
                        const json::object& extra = {}) {
  json::object o{{"pid", "00000000000000000000000000000001"},
                 {"steps", json::parse(steps)}};
  for (auto& kv : extra)
    o[kv.key()] = kv.value();
  return json::serialize(o);
}

/// Whether a process is gone: no such pid, or a zombie nobody reaped yet.
inline bool process_gone(int pid) {
  return !platform::process_alive(pid);
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace procman::test
