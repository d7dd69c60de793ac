// The built-in steps: procman.exec, procman.set, procman.sleep, procman.fail
// and procman.pause. Their args and outputs are documented in
// docs/protocol.md ("Built-in steps").

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procman/messages/json.hpp"
#include "procman/steps/runner.hpp"
#include "procman/steps/step_registry.hpp"
#include "procman/steps/text.hpp"

extern char** environ;

namespace procman {

namespace json = boost::json;

namespace {

// -- argument helpers ---------------------------------------------------------

std::string field(const char* name) {
  return std::string("field \"") + name + "\"";
}

// Named args of a step whose args are an object of known fields. A
// positional array maps onto `fields` in order (ObjectFactory style), and
// null means "no args".
json::object named_args(const json::value& args,
                        std::initializer_list<const char*> fields) {
  json::object result;
  auto known = [&](json::string_view key) {
    return std::any_of(fields.begin(), fields.end(),
                       [&](const char* f) { return key == f; });
  };
  auto field_list = [&] {
    std::string out;
    for (auto f : fields) {
      if (!out.empty())
        out += ", ";
      out += f;
    }
    return out;
  };
  if (args.is_null())
    return result;
  if (args.is_object()) {
    for (auto& kv : args.get_object())
      if (!known(kv.key()))
        throw spec_error("unknown field \"" + std::string(kv.key())
                         + "\" (known: " + field_list() + ")");
    return args.get_object();
  }
  if (args.is_array()) {
    auto& arr = args.get_array();
    if (arr.size() > fields.size())
      throw spec_error("takes at most " + std::to_string(fields.size())
                       + " positional args (" + field_list() + "), got "
                       + std::to_string(arr.size()));
    auto f = fields.begin();
    for (auto& v : arr)
      result[*f++] = v;
    return result;
  }
  throw spec_error("args must be an object or an array");
}

// An object to merge over the data: null, an object, or [object].
json::object merge_args(const json::value& args) {
  if (args.is_null())
    return {};
  if (args.is_object())
    return args.get_object();
  if (args.is_array() && args.get_array().size() == 1
      && args.get_array()[0].is_object())
    return args.get_array()[0].get_object();
  throw spec_error("args must be an object (the keys to set)");
}

const json::value* find(const json::object& o, const char* key) {
  auto i = o.find(key);
  return i == o.end() || i->value().is_null() ? nullptr : &i->value();
}

std::string no_nul(json::string_view s, const std::string& what) {
  if (s.find('\0') != json::string_view::npos)
    throw spec_error(what + " must not contain NUL characters");
  return std::string(s);
}

// -- procman.set --------------------------------------------------------------

class set_step : public step {
public:
  explicit set_step(json::object values) : values_(std::move(values)) {
    // nop
  }

  json::object execute(const json::object& data, step_context&) override {
    return merge_objects(data, values_);
  }

private:
  json::object values_;
};

// -- procman.pause ------------------------------------------------------------

class pause_step : public interrupting_step {
public:
  explicit pause_step(json::object values) : values_(std::move(values)) {
    // nop
  }

  json::object execute(const json::object& data, step_context&) override {
    return values_.empty() ? data : merge_objects(data, values_);
  }

private:
  json::object values_;
};

// -- procman.fail -------------------------------------------------------------

class fail_step : public step {
public:
  explicit fail_step(std::string message) : message_(std::move(message)) {
    // nop
  }

  json::object execute(const json::object&, step_context&) override {
    throw std::runtime_error(message_);
  }

private:
  std::string message_;
};

// -- procman.sleep ------------------------------------------------------------

class sleep_step : public step {
public:
  explicit sleep_step(double seconds) : seconds_(seconds) {
    // nop
  }

  json::object execute(const json::object& data, step_context& ctx) override {
    using clock = std::chrono::steady_clock;
    using std::chrono::duration;
    // Progress about 100 times per sleep, but not more often than every
    // 0.1 s nor less often than every second.
    auto interval = std::clamp(seconds_ / 100, 0.1, 1.0);
    auto start = clock::now();
    auto total = duration<double>(seconds_);
    auto end = start + std::chrono::duration_cast<clock::duration>(total);
    ctx.progress(0, remaining(seconds_));
    for (;;) {
      auto now = clock::now();
      if (now >= end)
        break;
      auto next = std::min(end, now
                                  + std::chrono::duration_cast<clock::duration>(
                                    duration<double>(interval)));
      std::this_thread::sleep_until(next);
      auto done = duration<double>(clock::now() - start).count();
      if (clock::now() < end)
        ctx.progress(100 * done / seconds_, remaining(seconds_ - done));
    }
    ctx.progress(100, "slept " + format_seconds(seconds_));
    return data;
  }

private:
  static std::string format_seconds(double s) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.1f s", s);
    return buf;
  }

  static std::string remaining(double s) {
    return "sleeping, " + format_seconds(std::max(0.0, s)) + " left";
  }

  double seconds_;
};

// -- procman.exec -------------------------------------------------------------

struct exec_options {
  std::vector<std::string> argv;
  std::optional<std::string> cwd;
  // name -> value; nullopt removes the variable.
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
  std::optional<std::string> input;
  std::vector<int> ok_codes{0};
};

exec_options parse_exec_args(const json::value& args) {
  auto o = named_args(args, {"command", "cwd", "env", "stdin", "ok_codes"});
  exec_options opts;
  auto cmd = find(o, "command");
  if (!cmd)
    throw spec_error(field("command")
                     + " is missing (an array: program and arguments)");
  if (!cmd->is_array() || cmd->get_array().empty())
    throw spec_error(field("command")
                     + " must be a non-empty array of strings");
  for (auto& a : cmd->get_array()) {
    if (!a.is_string())
      throw spec_error(field("command")
                       + " must be a non-empty array of strings");
    opts.argv.push_back(no_nul(a.get_string(), field("command")));
  }
  if (opts.argv[0].empty())
    throw spec_error(field("command") + " must name a program first");
  if (auto v = find(o, "cwd")) {
    if (!v->is_string() || v->get_string().empty())
      throw spec_error(field("cwd") + " must be a non-empty string");
    opts.cwd = no_nul(v->get_string(), field("cwd"));
  }
  if (auto v = find(o, "env")) {
    if (!v->is_object())
      throw spec_error(field("env")
                       + " must be an object of strings (name -> value)");
    for (auto& kv : v->get_object()) {
      auto name = std::string(kv.key());
      if (name.empty() || name.find('=') != std::string::npos
          || name.find('\0') != std::string::npos)
        throw spec_error(field("env") + " has a bad variable name \"" + name
                         + "\"");
      if (kv.value().is_null())
        opts.env.emplace_back(name, std::nullopt);
      else if (kv.value().is_string())
        opts.env.emplace_back(name,
                              no_nul(kv.value().get_string(), field("env")));
      else
        throw spec_error(field("env") + " must map names to strings (\"" + name
                         + "\" does not)");
    }
  }
  if (auto v = find(o, "stdin")) {
    if (!v->is_string())
      throw spec_error(field("stdin") + " must be a string");
    opts.input = std::string(v->get_string());
  }
  if (auto v = find(o, "ok_codes")) {
    auto bad = [] {
      return spec_error(field("ok_codes")
                        + " must be a non-empty array of exit codes "
                          "(integers 0..255)");
    };
    if (!v->is_array() || v->get_array().empty())
      throw bad();
    opts.ok_codes.clear();
    for (auto& c : v->get_array()) {
      if (!c.is_int64() && !c.is_uint64())
        throw bad();
      auto n = c.is_int64() ? c.get_int64()
                            : static_cast<int64_t>(
                              std::min<uint64_t>(c.get_uint64(), 1000));
      if (n < 0 || n > 255)
        throw bad();
      opts.ok_codes.push_back(static_cast<int>(n));
    }
  }
  return opts;
}

// Closes a file descriptor once.
struct fd_guard {
  int fd = -1;
  ~fd_guard() { reset(); }
  void reset() {
    if (fd >= 0)
      ::close(fd);
    fd = -1;
  }
};

std::string signal_name(int sig) {
  if (auto abbrev = sigabbrev_np(sig))
    return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

// Writes to a pipe without dying of SIGPIPE when the reader is gone, even in
// programs that keep SIGPIPE's default action: block it for this thread and
// swallow the one this write raised.
ssize_t write_no_sigpipe(int fd, const char* buf, size_t len) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  auto n = ::write(fd, buf, len);
  auto saved = errno;
  if (n < 0 && errno == EPIPE && !was_pending) {
    timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR)
      ; // retry
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = saved;
  return n;
}

class exec_step : public step {
public:
  explicit exec_step(exec_options opts) : opts_(std::move(opts)) {
    // nop
  }

  json::object execute(const json::object& data, step_context& ctx) override {
    auto& prog = opts_.argv[0];
    auto prefix = "command \"" + prog + "\"";
    if (opts_.cwd) {
      struct stat st;
      std::string why;
      if (::stat(opts_.cwd->c_str(), &st) != 0)
        why = std::strerror(errno);
      else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
      if (!why.empty())
        throw std::runtime_error(prefix + ": cannot run in directory \""
                                 + *opts_.cwd + "\": " + why);
    }
    // Pipes: ours are close-on-exec, the child's ends are dup2'ed to 0-2.
    fd_guard in_r, in_w, out_r, out_w, err_r, err_w;
    int p[2];
    auto make_pipe = [&](fd_guard& r, fd_guard& w) {
      if (::pipe2(p, O_CLOEXEC) != 0)
        throw std::runtime_error(
          prefix + ": cannot create a pipe: " + std::strerror(errno));
      r.fd = p[0];
      w.fd = p[1];
    };
    make_pipe(out_r, out_w);
    make_pipe(err_r, err_w);
    if (opts_.input)
      make_pipe(in_r, in_w);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (opts_.input)
      posix_spawn_file_actions_adddup2(&fa, in_r.fd, 0);
    else
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_w.fd, 2);
    // No descriptor of the executor leaks into the command.
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    if (opts_.cwd)
      posix_spawn_file_actions_addchdir_np(&fa, opts_.cwd->c_str());
    // The command starts with default signal actions and an empty mask
    // (the executor ignores SIGPIPE, and ignored signals survive exec). It
    // stays in the executor's process group: a timeout kills both.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t all, none;
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    auto env = environment(ctx);
    std::vector<char*> envp;
    for (auto& e : env)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<char*> argv;
    for (auto& a : opts_.argv)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawnp(&pid, prog.c_str(), &fa, &attr, argv.data(),
                          envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
      throw std::runtime_error(
        prefix + ": cannot run: " + std::strerror(rc)
        + (rc == ENOENT && prog.find('/') == std::string::npos
             ? " (not found in PATH)"
             : ""));
    in_r.reset();
    out_w.reset();
    err_w.reset();
    std::string out, err;
    auto status = collect(pid, in_w, out_r, err_r, out, err, prefix, ctx);
    sanitize_utf8(out);
    sanitize_utf8(err);
    auto stderr_tail = [&] {
      auto tail = text_tail(err, 2000);
      while (!tail.empty()
             && std::isspace(static_cast<unsigned char>(tail.back())))
        tail.pop_back();
      return tail.empty() ? std::string{} : "; stderr: " + tail;
    };
    if (WIFSIGNALED(status))
      throw std::runtime_error(
        prefix + " was killed by signal " + std::to_string(WTERMSIG(status))
        + " (" + signal_name(WTERMSIG(status)) + ")" + stderr_tail());
    int code = WEXITSTATUS(status);
    if (std::find(opts_.ok_codes.begin(), opts_.ok_codes.end(), code)
        == opts_.ok_codes.end())
      throw std::runtime_error(prefix + " exited with code "
                               + std::to_string(code) + stderr_tail());
    json::object extra{{"exit_code", code},
                       {"stdout", std::move(out)},
                       {"stderr", std::move(err)}};
    return merge_objects(data, extra);
  }

private:
  // The executor's environment, then PROCMAN_PID, PROCMAN_STEP and
  // PROCMAN_SCRIPT_ARGS (when known), then the step's "env" (which wins).
  std::vector<std::string> environment(const step_context& ctx) const {
    std::vector<std::pair<std::string, std::optional<std::string>>> vars;
    if (!ctx.pid().empty())
      vars.emplace_back("PROCMAN_PID", ctx.pid());
    if (!ctx.step_name().empty())
      vars.emplace_back("PROCMAN_STEP", ctx.step_name());
    if (!ctx.script_args().empty())
      vars.emplace_back("PROCMAN_SCRIPT_ARGS", ctx.script_args());
    vars.insert(vars.end(), opts_.env.begin(), opts_.env.end());
    auto set_here = [&](const std::string& name) {
      return std::any_of(vars.begin(), vars.end(),
                         [&](auto& kv) { return kv.first == name; });
    };
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) {
      std::string entry = *e;
      if (!set_here(entry.substr(0, entry.find('='))))
        env.push_back(std::move(entry));
    }
    // Later entries win: keep the last value given for each name.
    for (size_t i = 0; i < vars.size(); ++i) {
      auto& [name, value] = vars[i];
      bool overridden = std::any_of(vars.begin() + static_cast<long>(i) + 1,
                                    vars.end(),
                                    [&](auto& kv) { return kv.first == name; });
      if (!overridden && value)
        env.push_back(name + "=" + *value);
    }
    return env;
  }

  // Feeds stdin and reads stdout and stderr until the command exits; returns
  // its wait status. Stops reading once the command has exited and the pipes
  // are drained, even if a background process it started keeps them open.
  // What it reads goes to the context as live output too, as it arrives.
  int collect(pid_t pid, fd_guard& in_w, fd_guard& out_r, fd_guard& err_r,
              std::string& out, std::string& err, const std::string& prefix,
              step_context& ctx) {
    const size_t limit = defaults::max_output_bytes;
    size_t written = 0;
    const std::string& input = opts_.input ? *opts_.input : std::string{};
    if (in_w.fd >= 0) {
      if (input.empty())
        in_w.reset();
      else
        ::fcntl(in_w.fd, F_SETFL, O_NONBLOCK);
    }
    for (int fd : {out_r.fd, err_r.fd})
      ::fcntl(fd, F_SETFL, O_NONBLOCK);
    int status = 0;
    bool exited = false;
    auto last_check = std::chrono::steady_clock::now();
    std::string overflow;
    char buf[65536];
    // Reads what is there, at most 1 MiB so that one busy stream cannot
    // starve the others; returns false at EOF.
    auto drain = [&](fd_guard& fd, std::string& dst, output_stream stream) {
      for (int round = 0; round < 16; ++round) {
        auto n = ::read(fd.fd, buf, sizeof(buf));
        if (n > 0) {
          if (dst.size() + static_cast<size_t>(n) > limit) {
            if (overflow.empty())
              overflow = to_string(stream);
            continue; // keep draining, drop the excess
          }
          dst.append(buf, static_cast<size_t>(n));
          ctx.live_output(stream,
                          std::string_view{buf, static_cast<size_t>(n)});
          continue;
        }
        if (n < 0 && errno == EINTR)
          continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
          return true;
        fd.reset(); // EOF or error
        return false;
      }
      return true;
    };
    while (out_r.fd >= 0 || err_r.fd >= 0) {
      pollfd fds[3];
      int n = 0;
      int out_i = -1, err_i = -1, in_i = -1;
      if (out_r.fd >= 0) {
        out_i = n;
        fds[n++] = {out_r.fd, POLLIN, 0};
      }
      if (err_r.fd >= 0) {
        err_i = n;
        fds[n++] = {err_r.fd, POLLIN, 0};
      }
      if (in_w.fd >= 0) {
        in_i = n;
        fds[n++] = {in_w.fd, POLLOUT, 0};
      }
      // Every 100 ms, check whether the command has exited while something
      // it started still holds the pipes (quietly or writing on).
      int ready = ::poll(fds, static_cast<nfds_t>(n), 100);
      if (ready < 0 && errno != EINTR)
        break;
      auto now = std::chrono::steady_clock::now();
      if (ready <= 0 || now - last_check >= std::chrono::milliseconds(100)) {
        last_check = now;
        if (!exited && ::waitpid(pid, &status, WNOHANG) == pid)
          exited = true;
        if (exited) {
          if (out_r.fd >= 0)
            drain(out_r, out, output_stream::out);
          if (err_r.fd >= 0)
            drain(err_r, err, output_stream::err);
          break;
        }
        if (ready <= 0)
          continue;
      }
      if (out_i >= 0 && (fds[out_i].revents & (POLLIN | POLLHUP | POLLERR)))
        drain(out_r, out, output_stream::out);
      if (err_i >= 0 && (fds[err_i].revents & (POLLIN | POLLHUP | POLLERR)))
        drain(err_r, err, output_stream::err);
      if (in_i >= 0 && (fds[in_i].revents & (POLLOUT | POLLHUP | POLLERR))) {
        auto w = write_no_sigpipe(in_w.fd, input.data() + written,
                                  input.size() - written);
        if (w > 0)
          written += static_cast<size_t>(w);
        if ((w < 0 && errno != EAGAIN && errno != EINTR)
            || written == input.size())
          in_w.reset(); // done, or the command stopped reading
      }
      if (!overflow.empty() && !exited) {
        // Unbounded output: stop the command instead of buffering it.
        ::kill(pid, SIGKILL);
      }
    }
    in_w.reset();
    out_r.reset();
    err_r.reset();
    if (!exited) {
      while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
          throw std::runtime_error(
            prefix + ": lost track of the command: " + std::strerror(errno));
      }
    }
    if (!overflow.empty())
      throw output_error(prefix + ": " + overflow + " is above the limit of "
                         + std::to_string(limit)
                         + " bytes; the command was stopped");
    return status;
  }

  exec_options opts_;
};

} // namespace

// Every built-in factory only reads its args: `procman start` builds the
// steps to check them (step_registry::add_pure).
void register_builtin_steps(step_registry& reg) {
  reg.add_pure("procman.set", [](const json::value& args, const service_map&) {
    return std::make_unique<set_step>(merge_args(args));
  });
  reg.add_pure("procman.pause",
               [](const json::value& args, const service_map&) {
                 return std::make_unique<pause_step>(merge_args(args));
               });
  reg.add_pure("procman.fail", [](const json::value& args, const service_map&) {
    auto o = named_args(args, {"message"});
    std::string message = "failed on purpose (procman.fail)";
    if (auto m = find(o, "message")) {
      if (!m->is_string())
        throw spec_error(field("message") + " must be a string");
      message = std::string(m->get_string());
    }
    return std::make_unique<fail_step>(std::move(message));
  });
  reg.add_pure("procman.sleep", [](const json::value& args,
                                   const service_map&) {
    auto o = named_args(args, {"seconds"});
    auto s = find(o, "seconds");
    if (!s)
      throw spec_error(field("seconds") + " is missing");
    if (!s->is_number())
      throw spec_error(field("seconds") + " must be a number >= 0");
    auto secs = s->to_number<double>();
    if (!std::isfinite(secs) || secs < 0 || secs > 31536000)
      throw spec_error(field("seconds")
                       + " must be a number between 0 and 31536000");
    return std::make_unique<sleep_step>(secs);
  });
  reg.add_pure("procman.exec", [](const json::value& args, const service_map&) {
    return std::make_unique<exec_step>(parse_exec_args(args));
  });
}

} // namespace procman
