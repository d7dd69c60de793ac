// Helpers for the procman-exec tests: run the executor as a real child,
// feed it its input, and read its report lines as they arrive.

#pragma once

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures/background.hpp"
#include "fixtures/temp_dir.hpp"

extern char** environ;

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

inline std::string plugin_path(const std::string& name) {
  return test_path("plugins/" + name + ".so");
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

/// Runs procman-exec with `input` on stdin, collecting report lines as they
/// arrive (`on_line` sees each one then, while the executor runs on).
/// Checks that every line of stdout is a JSON object with "event" and that
/// the output ends with a newline.
inline exec_result
run_exec(const std::string& input, const std::vector<std::string>& args = {},
         const std::vector<std::string>& env = {}, double timeout_s = 60,
         const std::function<void(const json::object&)>& on_line = {}) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0
      || pipe2(err, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<std::string> argv{exec_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = 0;
  try {
    // As the supervisor does: a process group of its own. Start from a clean
    // slate for the variables the executor reads.
    pid = spawn_in_group(argv, env, &fa,
                         {"PROCMAN_STEP_LIBS", "PROCMAN_PARENT_PID"});
  } catch (...) {
    posix_spawn_file_actions_destroy(&fa);
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1]})
      close(fd);
    throw;
  }
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  exec_result result;
  auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now()
                                         - start)
      .count();
  };
  signal(SIGPIPE, SIG_IGN);
  int in_fd = in[1];
  size_t written = 0;
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  } else {
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
  }
  int out_fd = out[0], err_fd = err[0];
  std::string partial;
  bool killed = false;
  while (out_fd >= 0 || err_fd >= 0) {
    if (elapsed() > patience(timeout_s)) {
      kill(-pid, SIGKILL);
      killed = true;
      break;
    }
    pollfd fds[3];
    int n = 0, oi = -1, ei = -1, ii = -1;
    if (out_fd >= 0) {
      oi = n;
      fds[n++] = {out_fd, POLLIN, 0};
    }
    if (err_fd >= 0) {
      ei = n;
      fds[n++] = {err_fd, POLLIN, 0};
    }
    if (in_fd >= 0) {
      ii = n;
      fds[n++] = {in_fd, POLLOUT, 0};
    }
    poll(fds, static_cast<nfds_t>(n), 200);
    char buf[65536];
    if (oi >= 0 && (fds[oi].revents & (POLLIN | POLLHUP | POLLERR))) {
      auto got = read(out_fd, buf, sizeof(buf));
      if (got > 0) {
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
      } else {
        close(out_fd);
        out_fd = -1;
      }
    }
    if (ei >= 0 && (fds[ei].revents & (POLLIN | POLLHUP | POLLERR))) {
      auto got = read(err_fd, buf, sizeof(buf));
      if (got > 0) {
        result.err.append(buf, static_cast<size_t>(got));
      } else {
        close(err_fd);
        err_fd = -1;
      }
    }
    if (ii >= 0 && (fds[ii].revents & (POLLOUT | POLLERR | POLLHUP))) {
      auto w = write(in_fd, input.data() + written, input.size() - written);
      if (w > 0)
        written += static_cast<size_t>(w);
      if (w < 0 || written == input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  for (int fd : {in_fd, out_fd, err_fd})
    if (fd >= 0)
      close(fd);
  if (!partial.empty()) {
    result.all_lines_parse = false;
    BOOST_TEST_MESSAGE("unterminated report line: " << partial.substr(0, 300));
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status))
    result.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    result.signal = WTERMSIG(status);
  if (killed)
    BOOST_ERROR("procman-exec did not finish within " << patience(timeout_s)
                                                      << " s");
  return result;
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
inline bool process_gone(pid_t pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty())
    return true;
  auto paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size())
    return true;
  auto state = stat[paren + 2];
  return state == 'Z' || state == 'X';
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace procman::test
