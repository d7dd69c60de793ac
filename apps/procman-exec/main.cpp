// procman-exec: the executor child. Reads one JSON document (the work) on
// stdin, runs the steps, reports JSON Lines on a private copy of the
// original stdout, exits. docs/protocol.md is the full contract; in short:
//
//   stdin   {"pid", "steps", "first_step", "data", "script_args",
//            "step_libs", "max_output_bytes", "step_acks", "output_events",
//            "lease"}, then {"ack": k} and {"lease": T} lines
//   reports {"event": "step_started" | "progress" | "output" |
//            "step_completed", ...}
//           then exactly one of "finished" | "interrupted" | "error"
//   exit    0 finished, 1 a step failed, 2 bad input, 3 interrupted,
//           4 parent already gone at start
//
// It starts once per process, so it stays lean: no CAF, no iostreams,
// libstdc++ and Boost.JSON linked in statically.
//
// `procman-exec --serve` is the fork server (serve.cpp): started once by
// the runner with the step libraries loaded, it forks one child per
// process, and each child runs `executor_main` below, exactly as a spawned
// executor does.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <unistd.h>

#include "procman/messages/defaults.hpp"
#include "procman/platform/paths.hpp"
#include "procman/protocol/executor_input.hpp"
#include "procman/protocol/executor_report.hpp"
#include "procman/steps/runner.hpp"
#include "procman/steps/step_registry.hpp"
#include "procman/steps/text.hpp"

#include "exec_system.hpp"
#include "executor.hpp"
#include "runner_channel.hpp"

namespace json = boost::json;

namespace procman::exec {
std::atomic<bool> ending{false};
} // namespace procman::exec

namespace {

// -- exit codes ---------------------------------------------------------------

constexpr int exit_finished = 0;
constexpr int exit_failed = 1;
constexpr int exit_bad_input = 2;
constexpr int exit_interrupted = 3;
constexpr int exit_parent_gone = 4;

// -- ending the tree ----------------------------------------------------------

// For the threads of the executor: waits for whoever ends the tree now (a
// stop request exits the process; the normal end lets go), then ends it.
[[noreturn]] void kill_group_and_exit(int code) {
  while (procman::exec::ending.exchange(true))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  procman::exec::sys::kill_all_and_exit(code);
}

// The runner's channel ends the executor (runner_channel::end_fn): the
// runner is gone, wrote garbage, or let the lease run out.
void end_for_runner(const std::string& why, bool lease_ran_out) {
  while (procman::exec::ending.exchange(true))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // After a lease ran out nobody may read stderr (a stopped runner): the
  // line must not block the kill.
  if (lease_ran_out)
    procman::exec::sys::stderr_nonblocking();
  auto line = why + "\n";
  if (::write(2, line.data(), line.size()) < 0) {
    // nop: the kill matters, not the line
  }
  procman::exec::sys::kill_all_and_exit(exit_failed, lease_ran_out);
}

// Before the final report: kills and reaps whatever the steps left running,
// so that a process that ends leaves nothing behind.
void end_descendants() {
  while (procman::exec::ending.exchange(true))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  procman::exec::sys::end_descendants();
  procman::exec::ending = false;
}

// -- reports ------------------------------------------------------------------

class reporter {
public:
  using clock = std::chrono::steady_clock;
  static constexpr auto progress_interval
    = std::chrono::milliseconds(procman::defaults::progress_interval_ms);
  static constexpr auto output_interval
    = std::chrono::milliseconds(procman::defaults::output_interval_ms);

  explicit reporter(int fd) : fd_(fd) {
    // nop
  }

  ~reporter() { stop(); }

  void started(uint32_t step, const std::string& name) {
    std::lock_guard<std::mutex> guard{mtx_};
    end_output();
    flush_pending();
    last_progress_ = clock::time_point{};
    write_line(step_event(procman::report_event::step_started, step, name));
  }

  void completed(uint32_t step, const std::string& name,
                 const boost::json::object* output = nullptr) {
    std::lock_guard<std::mutex> guard{mtx_};
    end_output();    // all of a step's output comes before its completion
    flush_pending(); // a step's last progress always arrives
    auto line = step_event(procman::report_event::step_completed, step, name);
    if (output != nullptr)
      line.output = *output;
    write_line(line);
  }

  // Live output. Pieces keep the order in which they were written and
  // are coalesced while they come from one stream of one step. They go
  // out at most every `output_interval` (the first after a quiet spell at
  // once), as soon as a line's worth (`defaults::output_line_bytes`) is
  // waiting, and always before the step's next event, so that a chatty
  // command costs the runner a few lines per interval, not one per write.
  // A piece never ends inside a UTF-8 character: an incomplete one waits
  // for the rest of its stream.
  void output(uint32_t step, const std::string& name,
              procman::output_stream stream, std::string_view data) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto& carry = carry_[stream == procman::output_stream::err ? 1 : 0];
    std::string text = std::move(carry.data);
    text.append(data.data(), data.size());
    auto complete = complete_utf8_prefix(text);
    carry = output_piece{step, name, stream, text.substr(complete)};
    text.resize(complete);
    if (!text.empty())
      append_output(step, name, stream, std::move(text));
    if (out_pending_.empty())
      return;
    if (out_bytes_ >= procman::defaults::output_line_bytes
        || clock::now() - last_output_ >= output_interval) {
      flush_output();
      return;
    }
    if (!flusher_.joinable())
      flusher_ = std::thread([this] { flush_loop(); });
    cv_.notify_one();
  }

  // At most one progress line per `progress_interval`; a report that comes
  // sooner waits (replacing any older waiting one) and goes out when the
  // interval is over or the step ends, whichever is first.
  void progress(uint32_t step, const std::string& name, double percent,
                const std::string& message) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto now = clock::now();
    pending_.waiting = true;
    pending_.report = step_event(procman::report_event::progress, step, name);
    pending_.report.percent = percent;
    pending_.report.message = message;
    if (now - last_progress_ >= progress_interval) {
      flush_pending();
      return;
    }
    if (!flusher_.joinable())
      flusher_ = std::thread([this] { flush_loop(); });
    cv_.notify_one();
  }

  void final_line(const procman::executor_report& line) {
    std::lock_guard<std::mutex> guard{mtx_};
    end_output();
    flush_pending();
    write_line(line);
  }

  void stop() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    cv_.notify_one();
    if (flusher_.joinable())
      flusher_.join();
  }

private:
  struct pending_progress {
    bool waiting = false;
    procman::executor_report report;
  };

  struct output_piece {
    uint32_t step = 0;
    std::string name;
    procman::output_stream stream = procman::output_stream::out;
    std::string data;
  };

  // How much of `text` ends with a complete UTF-8 character: a lead byte
  // among the last three bytes whose character does not fit is cut off
  // with what follows it. (Ill-formed bytes are replaced later.)
  static size_t complete_utf8_prefix(const std::string& text) {
    auto n = text.size();
    for (size_t back = 1; back <= 3 && back <= n; ++back) {
      auto c = static_cast<unsigned char>(text[n - back]);
      if ((c & 0xC0) == 0x80)
        continue; // a continuation byte: look further back
      size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
      return need > back ? n - back : n;
    }
    return n;
  }

  // Requires mtx_.
  void append_output(uint32_t step, const std::string& name,
                     procman::output_stream stream, std::string text) {
    out_bytes_ += text.size();
    if (!out_pending_.empty()) {
      auto& last = out_pending_.back();
      if (last.step == step && last.stream == stream) {
        last.data += text;
        return;
      }
    }
    out_pending_.push_back(output_piece{step, name, stream, std::move(text)});
  }

  // The end of a step's output: what waits for the rest of a character
  // goes out as it is (replaced by U+FFFD), then everything pending.
  // Requires mtx_.
  void end_output() {
    for (auto& carry : carry_) {
      if (carry.data.empty())
        continue;
      append_output(carry.step, carry.name, carry.stream,
                    std::move(carry.data));
      carry.data.clear();
    }
    flush_output();
  }

  // One line per piece, split where a piece is longer than a line may be
  // (at character boundaries). Requires mtx_.
  void flush_output() {
    if (out_pending_.empty())
      return;
    constexpr auto max_bytes = procman::defaults::output_line_bytes;
    for (auto& piece : out_pending_) {
      procman::sanitize_utf8(piece.data);
      std::string_view rest = piece.data;
      while (!rest.empty()) {
        auto cut = std::min(rest.size(), max_bytes);
        while (cut < rest.size() && cut > 0
               && (static_cast<unsigned char>(rest[cut]) & 0xC0) == 0x80)
          --cut;
        auto line = step_event(procman::report_event::output, piece.step,
                               piece.name);
        line.stream = piece.stream;
        line.data = std::string(rest.substr(0, cut));
        write_line(line);
        rest.remove_prefix(cut);
      }
    }
    out_pending_.clear();
    out_bytes_ = 0;
    last_output_ = clock::now();
  }

  static procman::executor_report step_event(procman::report_event event,
                                             uint32_t step,
                                             const std::string& name) {
    procman::executor_report x;
    x.event = event;
    x.step = step;
    x.name = name;
    return x;
  }

  void flush_loop() {
    std::unique_lock<std::mutex> lock{mtx_};
    while (!stopping_) {
      auto progress_due = pending_.waiting ? last_progress_ + progress_interval
                                           : clock::time_point::max();
      auto output_due = !out_pending_.empty() ? last_output_ + output_interval
                                              : clock::time_point::max();
      auto due = std::min(progress_due, output_due);
      if (due == clock::time_point::max()) {
        cv_.wait(lock);
        continue;
      }
      auto now = clock::now();
      if (now < due) {
        cv_.wait_until(lock, due);
        continue;
      }
      if (now >= progress_due)
        flush_pending();
      if (now >= output_due)
        flush_output();
    }
  }

  // Requires mtx_.
  void flush_pending() {
    if (!pending_.waiting)
      return;
    pending_.waiting = false;
    last_progress_ = clock::now();
    write_line(pending_.report);
  }

  // One line, one write (atomic on a pipe up to PIPE_BUF); a report channel
  // that is gone means the supervisor is gone: stop everything.
  void write_line(const procman::executor_report& report) {
    auto line = procman::encode_report(report);
    procman::sanitize_utf8(line);
    line += '\n';
    size_t done = 0;
    while (done < line.size()) {
      auto n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        std::fprintf(stderr, "procman-exec: report channel lost (%s)\n",
                     std::strerror(errno));
        kill_group_and_exit(exit_failed);
      }
      done += static_cast<size_t>(n);
    }
  }

  int fd_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::thread flusher_;
  bool stopping_ = false;
  pending_progress pending_;
  clock::time_point last_progress_;
  std::vector<output_piece> out_pending_;
  size_t out_bytes_ = 0;
  output_piece carry_[2]; // per stream: the start of an incomplete character
  clock::time_point last_output_;
};

procman::executor_report error_line(const procman::error_info& err,
                                    bool with_step, uint32_t step) {
  procman::executor_report line;
  line.event = procman::report_event::error;
  if (with_step) {
    line.step = step;
    line.name = err.step;
  }
  line.error = err;
  return line;
}

int bad_input(reporter& rep, std::string message) {
  procman::error_info err;
  err.kind = procman::error_kind::spec;
  err.message = std::move(message);
  rep.final_line(error_line(err, false, 0));
  return exit_bad_input;
}

// -- input --------------------------------------------------------------------

/// Finds where the JSON value that starts `text` ends, scanning from
/// `pos` with the scanner state in `depth` and `in_string`/`escaped`.
/// Only objects and arrays end before end-of-file; anything else (a
/// scalar, garbage) is read to the end and left to the parser's message.
struct value_end_finder {
  size_t pos = 0;
  int depth = 0;
  bool started = false;
  bool scalar = false;
  bool in_string = false;
  bool escaped = false;

  /// Returns the offset just past the value, or npos if it has not ended.
  size_t scan(const std::string& text) {
    for (; pos < text.size(); ++pos) {
      char c = text[pos];
      if (!started) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
          continue;
        started = true;
        scalar = c != '{' && c != '[';
      }
      if (scalar)
        return std::string::npos;
      if (in_string) {
        if (escaped)
          escaped = false;
        else if (c == '\\')
          escaped = true;
        else if (c == '"')
          in_string = false;
        continue;
      }
      if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return ++pos;
      }
    }
    return std::string::npos;
  }
};

/// Reads `fd` into `out`: to end-of-file, or with `rest` only up to the
/// end of the first JSON value (the runner keeps stdin open after the work,
/// for acknowledgements); bytes read past it go to `rest`.
procman::failure read_input(int fd, std::string& out,
                            std::string* rest = nullptr) {
  constexpr size_t max_input = procman::defaults::max_executor_input_bytes;
  char buf[65536];
  value_end_finder finder;
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      if (out.size() > max_input)
        return {procman::errc::invalid_json,
                "executor input: larger than 1 GiB"};
      if (!rest)
        continue;
      if (auto end = finder.scan(out); end != std::string::npos) {
        *rest = out.substr(end);
        out.resize(end);
        return {};
      }
      continue;
    }
    if (n == 0)
      return {};
    if (errno == EINTR)
      continue;
    return {procman::errc::invalid_argument,
            std::string("executor input: cannot read stdin: ")
              + std::strerror(errno)};
  }
}

/// The step libraries to load, in order: $PROCMAN_STEP_LIBS, the input's
/// "step_libs", then --step-lib options (separated by
/// platform::path_list_separator: ':', on Windows ';').
std::string step_libraries(const std::string& from_input,
                           const std::vector<std::string>& cli_libs) {
  std::string libs;
  if (auto env = std::getenv("PROCMAN_STEP_LIBS"))
    libs = env;
  constexpr char sep = procman::platform::path_list_separator;
  libs += sep + from_input;
  for (auto& l : cli_libs)
    libs += sep + l;
  return libs;
}

const char* usage
  = "usage: procman-exec [--step-lib PATH]... < work.json\n"
    "       procman-exec --check [--serve] [--step-lib PATH]...\n"
    "       procman-exec --serve [--step-lib PATH]... (the runner's fork "
    "server)\n"
    "\n"
    "Runs the steps of one procman process and reports on stdout as JSON\n"
    "Lines. Step libraries: --step-lib PATH (repeatable), the ':'-separated\n"
    "(on Windows ';'-separated) PROCMAN_STEP_LIBS environment variable and\n"
    "the \"step_libs\" input field.\n"
    "--check loads the step libraries, prints ok and exits 0 (2 if one\n"
    "cannot be loaded); with --serve it says \"serve\" first.\n"
    "Exit codes: 0 finished, 1 a step failed, 2 bad input, 3 interrupted,\n"
    "4 parent already gone. See docs/protocol.md.\n";

} // namespace

namespace procman::exec {

/// The step libraries of a run, without those a fork server loaded
/// already (`pre`): loading one again would only register its classes
/// again.
std::string libraries_to_load(const std::string& from_input,
                              const std::vector<std::string>& cli_libs,
                              const preloaded_steps* pre) {
  auto all = step_libraries(from_input, cli_libs);
  if (!pre)
    return all;
  std::string out;
  for (auto& lib : split_library_list(all))
    if (pre->libs.count(lib) == 0)
      out += (out.empty() ? "" : std::string(1, platform::path_list_separator))
             + lib;
  return out;
}

std::string preload_list(const std::vector<std::string>& cli_libs) {
  return step_libraries({}, cli_libs);
}

int executor_main(int argc, char** argv, preloaded_steps* pre) {
  sys::prepare();
  auto report = sys::take_report_channel();
  if (!report) {
    std::fprintf(stderr, "procman-exec: no stdout to report on: %s\n",
                 report.error().context.c_str());
    return exit_bad_input;
  }
  int report_fd = *report;
  reporter rep{report_fd};
  // Parent death: the supervisor passes its pid.
  if (auto p = std::getenv("PROCMAN_PARENT_PID"); p && *p) {
    char* end = nullptr;
    errno = 0;
    long parent = std::strtol(p, &end, 10);
    if (errno != 0 || *end != '\0' || parent <= 0)
      return bad_input(rep, std::string("executor: PROCMAN_PARENT_PID is not "
                                        "a process id: \"")
                              + p + "\"");
    if (!sys::parent_is(parent)) {
      // Nothing started yet, so there is nothing to take along.
      std::fprintf(stderr, "procman-exec: parent %ld is gone\n", parent);
      _exit(exit_parent_gone);
    }
  }
  // Options.
  std::vector<std::string> cli_libs;
  bool check = false;
  bool serve = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--check") {
      check = true;
    } else if (arg == "--step-lib" && i + 1 < argc) {
      cli_libs.emplace_back(argv[++i]);
    } else if (arg.rfind("--step-lib=", 0) == 0) {
      cli_libs.push_back(arg.substr(11));
    } else if (arg == "--serve" && (pre || check)) {
      // A fork server's child (its executor), or `--check --serve`: the
      // runner asks whether this executor can serve.
      serve = !pre;
    } else if (arg == "--help" || arg == "-h") {
      auto len = std::strlen(usage);
      if (write(report_fd, usage, len) != static_cast<ssize_t>(len))
        return exit_failed;
      return exit_finished;
    } else {
      return bad_input(rep, "executor: unknown option \"" + arg + "\""
                              + (arg == "--step-lib" ? " (needs a PATH)" : ""));
    }
  }
  // --check: load the step libraries and say "ok"; a runner does this
  // once at start-up instead of failing every process later.
  if (check) {
    procman::step_registry reg;
    procman::service_registry services;
    procman::register_builtin_steps(reg);
    if (auto f = procman::load_step_libraries(step_libraries({}, cli_libs), reg,
                                              services))
      return bad_input(rep, f.context);
    // "serve" and "lease" first: an executor that cannot serve (a
    // stand-in script, or any on Windows) does not say "serve", and the
    // runner then spawns it per process; one that does not say "lease"
    // gets no lease.
    constexpr char serves[] = "serve\nlease\nok\n";
    constexpr char leases[] = "lease\nok\n";
    constexpr char plain[] = "ok\n";
    const char* ok = !serve ? plain : fork_server_available ? serves : leases;
    auto ok_len = std::strlen(ok);
    if (write(report_fd, ok, ok_len) != static_cast<ssize_t>(ok_len))
      return exit_failed;
    return exit_finished;
  }
  // Input.
  std::string text, rest;
  if (auto f = read_input(0, text, &rest))
    return bad_input(rep, f.context);
  // What follows the work on stdin is for us (acknowledgements): keep a
  // private copy. Steps get no stdin of ours (procman.exec gives commands
  // /dev/null or their own "stdin").
  int ack_fd = sys::take_ack_channel();
  auto decoded = procman::decode_input(text);
  if (!decoded) {
    // Whatever already followed the document is part of the problem: the
    // parser names it ("extra characters after the document").
    if (rest.find_first_not_of(" \t\r\n") != std::string::npos)
      decoded = procman::decode_input(text + rest);
    return bad_input(rep, decoded.error().context);
  }
  auto& in = *decoded;
  // Acknowledgements and the lease's renewals: with a lease, read as they
  // come by a thread that ends the executor when the lease runs out.
  std::unique_ptr<procman::exec::runner_channel> channel;
  if ((in.step_acks || in.lease_until_ms > 0) && ack_fd >= 0) {
    channel = std::make_unique<procman::exec::runner_channel>(
      ack_fd, std::move(rest), in.lease_until_ms, end_for_runner);
  } else if (ack_fd >= 0) {
    // Without acknowledgements only white space may follow the document.
    std::string more;
    if (auto f = read_input(ack_fd, more))
      return bad_input(rep, f.context);
    close(ack_fd);
    rest += more;
    if (rest.find_first_not_of(" \t\r\n") != std::string::npos)
      if (auto again = procman::decode_input(text + rest); !again)
        return bad_input(rep, again.error().context);
  }
  text.clear();
  text.shrink_to_fit();
  // Our own process group: killing it takes exactly the executor and what
  // its steps started.
  sys::lead_own_group();
  // Steps: built-ins, then libraries (a later class replaces an earlier).
  // A fork server's child has them loaded already.
  procman::step_registry own_reg;
  procman::service_registry own_services;
  auto& reg = pre ? pre->reg : own_reg;
  auto& services = pre ? pre->services : own_services;
  if (!pre)
    procman::register_builtin_steps(reg);
  if (auto f = procman::load_step_libraries(
        libraries_to_load(in.step_libs, cli_libs, pre), reg, services))
    return bad_input(rep, f.context);
  // Run.
  auto& steps = in.steps;
  procman::step_observer obs;
  obs.started = [&](uint32_t i) {
    // Step i - 1's completion must be durable before step i has effects.
    if (in.step_acks && channel && i > in.first_step)
      channel->await_ack(i - 1);
    rep.started(i, steps[i].name);
  };
  // With acknowledgements (more steps follow) a completion carries the
  // output: the next step's input, which the record keeps so that a retry
  // resumes at the first step that did not complete.
  obs.output = [&](uint32_t i, const boost::json::object& out) {
    if (in.step_acks && channel && i + 1 < steps.size())
      rep.completed(i, steps[i].name, &out);
    else
      rep.completed(i, steps[i].name);
  };
  obs.progress = [&](uint32_t i, double percent, const std::string& msg) {
    rep.progress(i, steps[i].name, percent, msg);
  };
  if (in.output_events)
    obs.live_output = [&](uint32_t i, procman::output_stream stream,
                          std::string_view data) {
      rep.output(i, steps[i].name, stream, data);
    };
  procman::step_run_options opts;
  opts.pid = in.pid;
  opts.script_args = in.script_args;
  opts.max_output_bytes = in.max_output_bytes;
  auto result = procman::run_steps(steps, in.first_step, std::move(in.data),
                                   reg, services, obs, opts);
  if (channel)
    channel->stop();   // the steps are done; see runner_channel::stop
  ::end_descendants(); // ours, not procman::end_descendants
  int code = exit_finished;
  procman::executor_report last;
  switch (result.outcome) {
    case procman::step_run_result::finished:
      last.event = procman::report_event::finished;
      last.output = std::move(result.output);
      rep.final_line(last);
      break;
    case procman::step_run_result::interrupted:
      last.event = procman::report_event::interrupted;
      last.step = result.step;
      last.name = steps[result.step].name;
      last.output = std::move(result.output);
      rep.final_line(last);
      code = exit_interrupted;
      break;
    case procman::step_run_result::failed:
      rep.final_line(
        error_line(result.error, result.step < steps.size(), result.step));
      code = exit_failed;
      break;
  }
  rep.stop();
  // What steps wrote through stdio (now going to stderr) goes out; then
  // leave without running destructors of whatever steps left behind.
  std::fflush(nullptr);
  _exit(code);
}

} // namespace procman::exec

namespace procman {
const char* version_string(); // generated (cmake/version.cmake)
} // namespace procman

int main(int argc, char** argv) {
  bool serve = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--version") == 0) {
      std::printf("procman-exec %s\n", procman::version_string());
      return 0;
    }
    if (std::strcmp(argv[i], "--check") == 0)
      return procman::exec::executor_main(argc, argv, nullptr);
    serve = serve || std::strcmp(argv[i], "--serve") == 0;
  }
  if (serve)
    return procman::exec::serve_main(argc, argv);
  return procman::exec::executor_main(argc, argv, nullptr);
}
