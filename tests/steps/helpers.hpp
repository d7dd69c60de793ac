// Helpers for the steps-layer tests: a recording step context and a
// registry with the built-ins.

#pragma once

#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "procman/messages/types.hpp"
#include "procman/steps/runner.hpp"
#include "procman/steps/step_registry.hpp"

namespace procman::test {

/// A step_context that records progress reports.
struct recording_context : step_context {
  std::string pid_ = "0123456789abcdef0123456789abcdef";
  std::string name_ = "step";
  std::string script_args_ = "--farm=site1";
  std::vector<std::pair<double, std::string>> reports;

  void progress(double percent, const std::string& message) override {
    reports.emplace_back(percent, message);
  }
  const std::string& pid() const override { return pid_; }
  const std::string& step_name() const override { return name_; }
  const std::string& script_args() const override { return script_args_; }
};

inline step_spec spec(std::string name, std::string cls,
                      std::string args = "null",
                      std::vector<std::string> services = {}) {
  return step_spec{std::move(name), std::move(cls), std::move(args),
                   std::move(services)};
}

/// Records the observer calls of a run as text: "started 0", "progress 0
/// 50 half", "completed 0".
struct observer_log {
  std::vector<std::string> events;
  std::vector<std::pair<double, std::string>> progress;

  step_observer observer() {
    step_observer obs;
    obs.started = [this](uint32_t i) {
      events.push_back("started " + std::to_string(i));
    };
    obs.completed = [this](uint32_t i) {
      events.push_back("completed " + std::to_string(i));
    };
    obs.progress = [this](uint32_t i, double p, const std::string& m) {
      events.push_back("progress " + std::to_string(i));
      progress.emplace_back(p, m);
    };
    return obs;
  }
};

} // namespace procman::test
