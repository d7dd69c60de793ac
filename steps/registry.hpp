// Step factories by class name, built-in steps and step libraries.

#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "messages/types.hpp"
#include "steps/step.hpp"

namespace procman {

class step_registry {
public:
  /// Registers `factory` under `cls`, replacing an earlier one.
  void add(const std::string& cls, step_factory factory);

  bool contains(const std::string& cls) const;

  std::vector<std::string> classes() const;

  /// Builds the step of `spec`: resolves its services in `services`, parses
  /// its args and calls the factory. On failure returns nullptr and sets
  /// `err` to a message naming the step and the problem (unknown class,
  /// unknown service, bad args).
  std::unique_ptr<step> make(const step_spec& spec,
                             const service_registry& services,
                             std::string& err) const;

private:
  std::map<std::string, step_factory> factories_;
};

/// Registers procman.exec, procman.set, procman.sleep, procman.fail and
/// procman.pause.
void register_builtin_steps(step_registry& reg);

/// The C symbol a step library exports:
///   extern "C" void procman_register_steps(procman::step_registry&,
///                                          procman::service_registry&);
using register_steps_fn = void (*)(step_registry&, service_registry&);
constexpr const char* register_steps_symbol = "procman_register_steps";

/// Loads a step library (shared object) and calls its registration function.
/// Returns "" on success, else the reason (path, dlerror).
std::string load_step_library(const std::string& path, step_registry& reg,
                              service_registry& services);

/// Loads every library named in `list` (separated by ':'), as the
/// PROCMAN_STEP_LIBS environment variable and `--step-lib` give them.
std::string load_step_libraries(const std::string& list, step_registry& reg,
                                service_registry& services);

} // namespace procman
