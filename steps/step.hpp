// The step interface. Plain C++ and Boost.JSON: no CAF, so that the
// executor child starts fast and user step libraries build quickly.
//
// A step is built from its spec (`class`, `args`, `services`) by a factory
// registered under the class name, then `execute`d once with the previous
// step's output (the first step gets the process's data). It returns the
// object the next step receives. It fails by throwing; the error names the
// step and carries the message and a stack trace.
//
// Everything a step library (plug-in) needs from this header is inline, so a
// plug-in needs no procman symbols from the program that loads it: only
// libstdc++ and Boost.JSON, which every host has (procman-exec exports its
// statically linked copies). See docs/protocol.md, "Step libraries".

#pragma once

#include <any>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "procman/messages/output_stream.hpp"

namespace procman {

/// What a running step may use besides its input.
class step_context {
public:
  virtual ~step_context() = default;

  /// Reports progress: `percent` in 0..100 and a short message. Shows in
  /// `procman status` and `procman wait` while the step runs.
  virtual void progress(double percent, const std::string& message) = 0;

  /// The process id ("" when run synchronously without a store).
  virtual const std::string& pid() const = 0;

  /// The name of the running step.
  virtual const std::string& step_name() const = 0;

  /// Extra arguments the runner passes to every executor (--script-args).
  virtual const std::string& script_args() const = 0;

  /// Live output: what a command the step runs wrote to its stdout or
  /// stderr, as it arrives (any bytes; a chunk may end inside a UTF-8
  /// character). The runner keeps it for `procman logs`; procman.exec
  /// calls it. Does nothing where nobody listens (`procman run`).
  virtual void live_output(output_stream stream, std::string_view data) {
    static_cast<void>(stream);
    static_cast<void>(data);
  }
};

/// A step. Implementations override `execute`.
class step {
public:
  virtual ~step() = default;

  /// Runs the step on `data` and returns its output object.
  virtual boost::json::object
  execute(const boost::json::object& data, step_context& ctx)
    = 0;

  /// Whether the process pauses (`interrupted`) after this step.
  virtual bool interrupts() const { return false; }
};

/// A step after which the process pauses for a human decision; `proceed`
/// merges extra data over its output and continues with the next step.
class interrupting_step : public step {
public:
  bool interrupts() const override { return true; }
};

/// Thrown by a factory for `args` or `services` it cannot use; the process
/// ends in `error` with kind "spec".
class spec_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Thrown by a step whose output would exceed the size limit (as
/// procman.exec does for a command that writes too much); the process ends
/// in `error` with kind "output".
class output_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Named objects a step may ask for in its spec's `services` (a database
/// handle, a mailer, a configuration). Values are `std::any` holding a
/// `std::shared_ptr<T>`.
class service_registry {
public:
  template <class T>
  void add(const std::string& name, std::shared_ptr<T> svc) {
    services_[name] = std::move(svc);
  }

  bool contains(const std::string& name) const {
    return services_.count(name) > 0;
  }

  /// The service `name` as stored, or nullptr if absent.
  const std::any* find(const std::string& name) const {
    auto i = services_.find(name);
    return i == services_.end() ? nullptr : &i->second;
  }

  /// The service `name` as `T`, or nullptr if absent or of another type.
  template <class T>
  std::shared_ptr<T> get(const std::string& name) const {
    auto i = services_.find(name);
    if (i == services_.end())
      return nullptr;
    if (auto p = std::any_cast<std::shared_ptr<T>>(&i->second))
      return *p;
    return nullptr;
  }

private:
  std::map<std::string, std::any> services_;
};

/// The services a step's spec named, resolved: name -> service.
using service_map = std::map<std::string, std::any>;

/// Builds a step from its spec's `args` (array, object or null, as given)
/// and resolved `services`. Throws `spec_error` for unusable args.
using step_factory = std::function<std::unique_ptr<step>(
  const boost::json::value& args, const service_map& services)>;

} // namespace procman
