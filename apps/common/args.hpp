// Command-line parsing shared by procman's apps: options may come anywhere,
// as `--name value` or `--name=value`; everything else is positional.
// Unknown options and missing values are usage errors (exit 2).

#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

namespace procman::cli {

/// Thrown for usage errors; the app prints it and exits 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class args {
public:
  /// `flags` take no value; `options` take one; an option listed in
  /// `repeated` may be given several times.
  args(int argc, char** argv, const std::set<std::string>& flags,
       const std::set<std::string>& options,
       const std::set<std::string>& repeated = {}) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--") {
        for (++i; i < argc; ++i)
          positional_.emplace_back(argv[i]);
        break;
      }
      if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
        auto eq = a.find('=');
        auto name = a.substr(2, eq == std::string::npos ? std::string::npos
                                                         : eq - 2);
        if (flags.count(name)) {
          if (eq != std::string::npos)
            throw usage_error("option --" + name + " takes no value");
          flags_.insert(name);
          continue;
        }
        if (!options.count(name) && !repeated.count(name))
          throw usage_error("unknown option --" + name);
        std::string value;
        if (eq != std::string::npos) {
          value = a.substr(eq + 1);
        } else {
          if (i + 1 >= argc)
            throw usage_error("option --" + name + " needs a value");
          value = argv[++i];
        }
        if (repeated.count(name)) {
          multi_[name].push_back(value);
        } else {
          if (options_.count(name))
            throw usage_error("option --" + name + " given twice");
          options_[name] = value;
        }
        continue;
      }
      if (a.size() > 1 && a[0] == '-' && a != "-") {
        if (a == "-h")
          flags_.insert("help");
        else
          throw usage_error("unknown option " + a);
        continue;
      }
      positional_.push_back(a);
    }
  }

  bool flag(const std::string& name) const { return flags_.count(name) > 0; }

  bool has(const std::string& name) const { return options_.count(name) > 0; }

  std::string get(const std::string& name, const std::string& fallback = {}) const {
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
    if (s.empty() || s[0] == '-' || *end != '\0' || errno != 0 || v < lo
        || v > hi)
      throw usage_error("option --" + name + " must be a whole number from "
                        + std::to_string(lo) + " to " + std::to_string(hi)
                        + ", not \"" + s + "\"");
    return v;
  }

  const std::vector<std::string>& positional() const { return positional_; }

private:
  std::set<std::string> flags_;
  std::map<std::string, std::string> options_;
  std::map<std::string, std::vector<std::string>> multi_;
  std::vector<std::string> positional_;
};

/// The store directory: --store, else $PROCMAN_STORE, else
/// $XDG_STATE_HOME/procman, else ~/.local/state/procman.
inline std::string store_dir(const args& a) {
  if (a.has("store"))
    return a.get("store");
  if (auto v = std::getenv("PROCMAN_STORE"); v && *v)
    return v;
  if (auto v = std::getenv("XDG_STATE_HOME"); v && *v)
    return std::string(v) + "/procman";
  if (auto v = std::getenv("HOME"); v && *v)
    return std::string(v) + "/.local/state/procman";
  return "/tmp/procman-" + std::to_string(getuid());
}

} // namespace procman::cli
