// The error style of the code without CAF.
//
// Library code with CAF returns `caf::expected<T>` / `caf::error` built by
// `make_error(errc, context)` (messages/error.hpp). Code that must not link
// CAF (procman_base, procman_steps, procman-exec) returns the same codes as
// a `failure`, or an `outcome<T>` (a value or a failure); `to_error` in
// messages/error.hpp turns one into a `caf::error` where the library calls
// such code. docs/architecture.md, "Errors".

#pragma once

#include <string>
#include <utility>
#include <variant>

#include "procman/messages/errc.hpp"

namespace procman {

/// An error of the code without CAF: a code and a message for the user
/// that names what failed. A default-constructed failure means "no
/// failure", as a default `caf::error` does.
struct failure {
  errc code = errc{};
  std::string context;

  failure() = default;

  failure(errc code, std::string context)
    : code(code), context(std::move(context)) {
    // nop
  }

  explicit operator bool() const {
    return code != errc{};
  }
};

/// A value or a failure: the `caf::expected<T>` of the code without CAF.
template <class T>
class outcome {
public:
  outcome(T value) : x_(std::move(value)) {
    // nop
  }

  outcome(failure f) : x_(std::move(f)) {
    // nop
  }

  explicit operator bool() const {
    return x_.index() == 0;
  }

  T& operator*() {
    return std::get<0>(x_);
  }

  const T& operator*() const {
    return std::get<0>(x_);
  }

  T* operator->() {
    return &std::get<0>(x_);
  }

  const T* operator->() const {
    return &std::get<0>(x_);
  }

  /// The failure; only when there is no value.
  const failure& error() const {
    return std::get<1>(x_);
  }

private:
  std::variant<T, failure> x_;
};

} // namespace procman
