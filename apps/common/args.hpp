// Command-line parsing shared by procman's apps, on CLI11 (Debian's
// libcli11-dev, header-only): a program, or each of its commands, declares
// the options it takes (`--name value`, `--name=value`, or a flag); its
// other words are positional. What a command line gave lands in an `args`.
// Unknown options, options of another command and missing values are usage
// errors (exit 2).

#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "procman/platform/paths.hpp"
#include "procman/platform/store_dir.hpp"

namespace procman::cli {

/// Thrown for usage errors; the app prints it and exits 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// What a command line gave: flags, options (one value each), repeated
/// options, and the positional words (a command's name first).
class args {
public:
  args() = default;

  /// Parses a program without commands (procman-runner, procman-bench):
  /// `flags` take no value (`help` is also `-h`); `options` take one; an
  /// option listed in `repeated` may be given several times.
  args(int argc, char** argv, const std::set<std::string>& flags,
       const std::set<std::string>& options,
       const std::set<std::string>& repeated = {});

  bool flag(const std::string& name) const { return flags_.count(name) > 0; }

  bool has(const std::string& name) const { return options_.count(name) > 0; }

  std::string get(const std::string& name,
                  const std::string& fallback = {}) const {
    auto i = options_.find(name);
    return i == options_.end() ? fallback : i->second;
  }

  std::vector<std::string> all(const std::string& name) const {
    auto i = multi_.find(name);
    return i == multi_.end() ? std::vector<std::string>{} : i->second;
  }

  /// A whole number in [lo, hi]; usage error naming the option otherwise.
  uint64_t number(const std::string& name, uint64_t fallback, uint64_t lo = 0,
                  uint64_t hi = UINT64_MAX) const {
    auto i = options_.find(name);
    if (i == options_.end())
      return fallback;
    const auto& s = i->second;
    char* end = nullptr;
    errno = 0;
    auto v = std::strtoull(s.c_str(), &end, 10);
    // Digits only: strtoull would also take leading blanks and a sign.
    if (s.empty() || s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0
        || v < lo || v > hi)
      throw usage_error("option --" + name + " must be a whole number from "
                        + std::to_string(lo) + " to " + std::to_string(hi)
                        + ", not \"" + s + "\"");
    return v;
  }

  const std::vector<std::string>& positional() const { return positional_; }

  // -- filled by the parser ---------------------------------------------------

  void set_flag(const std::string& name) { flags_.insert(name); }

  void set(const std::string& name, const std::string& value) {
    options_[name] = value;
  }

  void add(const std::string& name, const std::string& value) {
    multi_[name].push_back(value);
  }

  void add_positional(const std::string& word) { positional_.push_back(word); }

private:
  std::set<std::string> flags_;
  std::map<std::string, std::string> options_;
  std::map<std::string, std::vector<std::string>> multi_;
  std::vector<std::string> positional_;
};

// -- environment --------------------------------------------------------------

/// The environment variables that stand in for options not given on the
/// command line, the one place that names them (docs/usage.md).
/// `step-lib`'s variable holds ':'-separated paths that come after the
/// options' ones.
struct env_fallback {
  const char* option;
  const char* variable;
};

inline constexpr env_fallback env_fallbacks[] = {
  {"store", "PROCMAN_STORE"},       {"connect", "PROCMAN_CONNECT"},
  {"tls-cert", "PROCMAN_TLS_CERT"}, {"tls-key", "PROCMAN_TLS_KEY"},
  {"tls-ca", "PROCMAN_TLS_CA"},     {"step-lib", "PROCMAN_STEP_LIBS"},
};

/// The variable that stands in for `--option` (nullptr: none).
inline const char* env_variable(const std::string& option) {
  for (auto& x : env_fallbacks)
    if (option == x.option)
      return x.variable;
  return nullptr;
}

/// The value of `--option`'s variable; empty when unset or empty.
inline std::string env(const std::string& option) {
  auto name = env_variable(option);
  auto v = name ? std::getenv(name) : nullptr;
  return v ? v : "";
}

/// `--option` if given, else its variable.
inline std::string value_or_env(const args& a, const std::string& option) {
  return a.has(option) ? a.get(option) : env(option);
}

/// The paths of a repeatable `--step-lib`, then its variable's, as one
/// list (separated by platform::path_list_separator: ':', ';' on Windows).
inline std::string step_libs(const args& a) {
  std::string libs;
  auto add = [&libs](const std::string& l) {
    if (!libs.empty())
      libs += platform::path_list_separator;
    libs += l;
  };
  for (auto& l : a.all("step-lib"))
    add(l);
  if (auto v = env("step-lib"); !v.empty())
    add(v);
  return libs;
}

/// The store directory: --store, else $PROCMAN_STORE, else
/// $XDG_STATE_HOME/procman, else ~/.local/state/procman.
inline std::string store_dir(const args& a) {
  if (a.has("store"))
    return a.get("store");
  if (auto dir = env("store"); !dir.empty())
    return dir;
  if (auto dir = platform::default_store_dir(); !dir.empty())
    return dir;
  return platform::last_resort_store_dir();
}

// -- declaring options on CLI11 -----------------------------------------------

/// One option of a program or command, for `declare` and its help.
struct option_decl {
  enum kind_t { flag, option, repeated };
  const char* name; ///< without the dashes
  kind_t kind;
  const char* value; ///< what its value is, for the help (`JSON`, `S`)
  const char* help;
};

/// Declares `opts` on `app`; once parsed, what the command line gave lands
/// in `out`. An option (not repeated) given twice is a usage error.
inline void declare(CLI::App& app, args& out,
                    std::initializer_list<option_decl> opts) {
  for (auto& o : opts) {
    std::string name = o.name;
    auto flag_names = (name == "help" ? "-h,--" : "--") + name;
    if (o.kind == option_decl::flag) {
      app
        .add_flag_callback(
          flag_names, [&out, name] { out.set_flag(name); }, o.help)
        ->disable_flag_override();
      continue;
    }
    bool repeated = o.kind == option_decl::repeated;
    app
      .add_option_function<std::vector<std::string>>(
        "--" + name,
        [&out, name, repeated](const std::vector<std::string>& xs) {
          if (!repeated && xs.size() > 1)
            throw usage_error("option --" + name + " given twice");
          for (auto& x : xs)
            repeated ? out.add(name, x) : out.set(name, x);
        },
        o.help)
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->type_name(o.value);
  }
}

/// Collects the positional words of `app` into `out`; `usage` is how its
/// help names them (`PID`, `SPEC`, `NAME "CRON" SPEC`).
inline void positionals(CLI::App& app, args& out, const std::string& usage) {
  app
    .add_option_function<std::vector<std::string>>(
      "words",
      [&out](const std::vector<std::string>& xs) {
        for (auto& x : xs)
          out.add_positional(x);
      })
    ->type_name(usage);
}

/// The first option that `app` and its commands did not take, as
/// `--name` (without `=value`); empty when there is none. Words that are
/// not options are left to the caller.
inline std::string unknown_option(const std::vector<std::string>& rest) {
  for (auto& w : rest)
    if (w.size() > 1 && w[0] == '-' && w != "--")
      return w.substr(0, w.find('='));
  return {};
}

/// A CLI11 parse error in procman's words.
inline std::string describe(const CLI::ParseError& e) {
  std::string msg = e.what();
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e)
      && msg.find(" missing") != std::string::npos)
    return "option " + msg.substr(0, msg.find(':')) + " needs a value";
  if (auto at = msg.find(" was given a disallowed flag override");
      at != std::string::npos)
    return "option --" + msg.substr(msg.find_first_not_of('-'), at)
           + " takes no value";
  return msg;
}

/// Help in procman's layout: the usage line first (`usage: procman start
/// SPEC [OPTIONS]`, positionals as `positionals` named them), then the
/// description, the options and the footer.
class formatter : public CLI::Formatter {
public:
  formatter() {
    label("Usage", "usage");
    column_width(22);
  }

  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::string out = get_label("Usage") + ": " + name;
    for (auto* opt : app->get_options({}))
      if (opt->get_positional() && !opt->get_type_name().empty())
        out += " " + opt->get_type_name();
    if (!app
           ->get_options(
             [](const CLI::Option* o) { return o->nonpositional(); })
           .empty())
      out += " [OPTIONS]";
    return out + "\n";
  }

  std::string make_positionals(const CLI::App*) const override { return {}; }

  std::string make_option_desc(const CLI::Option* opt) const override {
    return wrap(opt->get_description(), width - get_column_width());
  }

  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override {
    auto out = make_usage(app, name) + wrap(app->get_description(), width)
               + "\n" + make_groups(app, mode);
    if (out.back() != '\n')
      out += '\n';
    if (auto footer = app->get_footer(); !footer.empty())
      out += "\n" + wrap(footer, width) + "\n";
    return out;
  }

private:
  static constexpr size_t width = 78;

  /// `text` broken into lines of at most `cols` characters at spaces.
  static std::string wrap(const std::string& text, size_t cols) {
    std::string out;
    size_t line = 0;
    size_t pos = 0;
    while (pos < text.size()) {
      auto end = text.find(' ', pos);
      if (end == std::string::npos)
        end = text.size();
      auto word = text.substr(pos, end - pos);
      if (line > 0 && line + 1 + word.size() > cols) {
        out += '\n';
        line = 0;
      } else if (line > 0) {
        out += ' ';
        ++line;
      }
      out += word;
      line += word.size();
      pos = end + 1;
    }
    return out;
  }
};

inline args::args(int argc, char** argv, const std::set<std::string>& flags,
                  const std::set<std::string>& options,
                  const std::set<std::string>& repeated) {
  CLI::App app;
  app.set_help_flag();
  app.allow_extras();
  for (auto& f : flags)
    declare(app, *this, {{f.c_str(), option_decl::flag, "", ""}});
  for (auto& o : options)
    declare(app, *this, {{o.c_str(), option_decl::option, "", ""}});
  for (auto& r : repeated)
    declare(app, *this, {{r.c_str(), option_decl::repeated, "", ""}});
  positionals(app, *this, "");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    throw usage_error(describe(e));
  }
  if (auto opt = unknown_option(app.remaining()); !opt.empty())
    throw usage_error("unknown option " + opt);
}

} // namespace procman::cli
