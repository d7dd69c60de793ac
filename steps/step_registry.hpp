// Step factories by class name, built-in steps and step libraries.

#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"
#include "procman/steps/step.hpp"

namespace procman {

/// Step factories by class name.
///
/// ```cpp
/// procman::step_registry reg;
/// procman::register_builtin_steps(reg);
/// auto s = reg.make({"greet", "procman.set", R"({"hello": 1})", {}},
///                   procman::service_registry{});
/// if (!s) std::fprintf(stderr, "%s\n", s.error().context.c_str());
/// ```
///
/// Not thread-safe for `add`; `make` and the queries may run concurrently
/// once registration is over.
class step_registry {
public:
  /// Registers `factory` under `cls`, replacing an earlier one. Inline so
  /// that step libraries need no procman symbols from their host.
  void add(const std::string& cls, step_factory factory) {
    factories_[cls] = std::move(factory);
    pure_.erase(cls);
  }

  /// Registers `factory` as `add` does and declares that calling it has
  /// no side effects: it only reads its args and services and builds the
  /// step. `precheck` may then build such a step to check its args before
  /// the process is queued. The built-ins are registered so.
  void add_pure(const std::string& cls, step_factory factory) {
    factories_[cls] = std::move(factory);
    pure_.insert(cls);
  }

  bool contains(const std::string& cls) const {
    return factories_.count(cls) > 0;
  }

  /// Registered class names, sorted.
  std::vector<std::string> classes() const;

  /// Checks what `make` can check without calling the factory: the class
  /// is registered and every service exists. Fails as `make` would.
  failure check(const step_spec& spec, const service_registry& services) const;

  /// Builds the step of `spec`: resolves its services in `services`, parses
  /// its args and calls the factory. Failures name the step and the
  /// problem:
  /// - errc::unknown_class `step "<name>": unknown class "<cls>"` (known
  ///   classes listed when there are few),
  /// - errc::unknown_service `step "<name>": unknown service "<svc>"`,
  /// - errc::invalid_spec `step "<name>": bad args: <what>` (malformed args
  ///   JSON, or the factory threw `spec_error` or another
  ///   `std::exception`).
  outcome<std::unique_ptr<step>> make(const step_spec& spec,
                                      const service_registry& services) const;

  /// What this registry can tell of a process's steps before the process
  /// is queued (`procman start`, the manager's start), running nothing:
  /// - a step whose class is not registered is refused
  ///   (errc::unknown_class, `step "<name>": unknown class "<cls>"`) when
  ///   the class's namespace, the text before its first '.', is the
  ///   namespace of a registered class (`procman` for the built-ins); a
  ///   class of another namespace, or without one, may come from a step
  ///   library only the runner loads: `unchecked` gets its step instead;
  /// - a step of a class registered with `add_pure` is built from its
  ///   args, and a refusal is errc::invalid_spec
  ///   `step "<name>": bad args: <what>` (steps naming a service that
  ///   `services` lacks are not built).
  /// The first refusal is returned.
  failure precheck(const std::vector<step_spec>& steps,
                   const service_registry& services,
                   std::vector<step_spec>* unchecked = nullptr) const;

private:
  std::map<std::string, step_factory> factories_;
  /// Classes whose factories have no side effects (`add_pure`).
  std::set<std::string> pure_;
};

/// Registers procman.exec, procman.set, procman.sleep, procman.fail and
/// procman.pause.
void register_builtin_steps(step_registry& reg);

/// The C symbol a step library exports:
///   extern "C" void procman_register_steps(procman::step_registry&,
///                                          procman::service_registry&);
using register_steps_fn = void (*)(step_registry&, service_registry&);
constexpr const char* register_steps_symbol = "procman_register_steps";

/// Loads a step library (a shared object; a DLL on Windows) with every
/// symbol resolved now and its names kept to itself (platform/library.hpp)
/// and calls its registration function. The library stays loaded for the
/// life of the program (its steps' code lives there). Fails
/// (errc::invalid_argument) with `step library "<path>": <reason>` (why it
/// cannot be loaded, a missing registration symbol, or what the
/// registration function threw).
failure load_step_library(const std::string& path, step_registry& reg,
                          service_registry& services);

/// The entries of a list of step libraries separated by ':' (';' on
/// Windows: platform::path_list_separator), empty ones skipped.
std::vector<std::string> split_library_list(const std::string& list);

/// Loads every library named in `list` (split_library_list), as the
/// PROCMAN_STEP_LIBS environment variable and `--step-lib` give them.
/// Stops at the first failure and returns it.
failure load_step_libraries(const std::string& list, step_registry& reg,
                            service_registry& services);

} // namespace procman
