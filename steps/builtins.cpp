// The built-in steps: procman.exec, procman.set, procman.sleep, procman.fail
// and procman.pause. Their args and outputs are documented in
// docs/protocol.md ("Built-in steps").

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "procman/messages/json.hpp"
#include "procman/platform/command.hpp"
#include "procman/platform/paths.hpp"
#include "procman/steps/runner.hpp"
#include "procman/steps/step_registry.hpp"
#include "procman/steps/text.hpp"

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

class exec_step : public step {
public:
  explicit exec_step(exec_options opts) : opts_(std::move(opts)) {
    // nop
  }

  json::object execute(const json::object& data, step_context& ctx) override {
    auto& prog = opts_.argv[0];
    auto prefix = "command \"" + prog + "\"";
    if (opts_.cwd) {
      std::error_code ec;
      auto st = std::filesystem::status(platform::path_from_utf8(*opts_.cwd),
                                        ec);
      std::string why;
      if (ec)
        why = ec.message();
      else if (!std::filesystem::is_directory(st))
        why = "not a directory";
      if (!why.empty())
        throw std::runtime_error(prefix + ": cannot run in directory \""
                                 + *opts_.cwd + "\": " + why);
    }
    platform::command_options cmd;
    cmd.argv = opts_.argv;
    cmd.env = environment(ctx);
    cmd.cwd = opts_.cwd.value_or(std::string{});
    cmd.input = opts_.input;
    cmd.output_limit = defaults::max_output_bytes;
    auto ran = platform::run_command(cmd, [&](output_stream stream,
                                              std::string_view bytes) {
      ctx.live_output(stream, bytes);
    });
    if (!ran)
      throw std::runtime_error(prefix + ": " + ran.error().context);
    auto& result = *ran;
    if (result.overflow)
      throw output_error(prefix + ": " + to_string(*result.overflow)
                         + " is above the limit of "
                         + std::to_string(defaults::max_output_bytes)
                         + " bytes; the command was stopped");
    auto& out = result.out;
    auto& err = result.err;
    sanitize_utf8(out);
    sanitize_utf8(err);
    auto stderr_tail = [&] {
      auto tail = text_tail(err, 2000);
      while (!tail.empty()
             && std::isspace(static_cast<unsigned char>(tail.back())))
        tail.pop_back();
      return tail.empty() ? std::string{} : "; stderr: " + tail;
    };
    if (result.signal != 0)
      throw std::runtime_error(prefix + " was killed by signal "
                               + std::to_string(result.signal) + " ("
                               + result.signal_name + ")" + stderr_tail());
    int code = result.code;
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
    for (auto& entry : platform::this_environment())
      if (!set_here(entry.substr(0, entry.find('='))))
        env.push_back(std::move(entry));
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
