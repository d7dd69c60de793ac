// The error style of everything below the actors.
//
// The store, the life cycle, the front door's handlers and local backend,
// the messages, the steps and the executor link no CAF library: they
// return a `failure` (an `errc` and a message naming what failed), or an
// `outcome<T>` (a value or a failure), built by `make_failure`. So a local
// CLI command loads no CAF at all (docs/performance.md, "A local command").
// The actors, the engine and the remote parts speak `caf::error`:
// `to_error`/`to_expected` and `to_failure` (messages/error.hpp) convert at
// that boundary, keeping the code, the message and the errno.
// docs/architecture.md, "Errors".

#pragma once

#include <cstdint>
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
  /// The errno of a failed system call, 0 if none (`make_failure` with
  /// three arguments).
  int32_t os_errno = 0;

  failure() = default;

  failure(errc code, std::string context, int32_t os_errno = 0)
    : code(code), context(std::move(context)), os_errno(os_errno) {
    // nop
  }

  explicit operator bool() const { return code != errc{}; }
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

  explicit operator bool() const { return x_.index() == 0; }

  bool has_value() const { return x_.index() == 0; }

  T& value() { return std::get<0>(x_); }

  const T& value() const { return std::get<0>(x_); }

  T& operator*() { return std::get<0>(x_); }

  const T& operator*() const { return std::get<0>(x_); }

  T* operator->() { return &std::get<0>(x_); }

  const T* operator->() const { return &std::get<0>(x_); }

  /// The failure; only when there is no value.
  const failure& error() const { return std::get<1>(x_); }

  failure& error() { return std::get<1>(x_); }

private:
  std::variant<T, failure> x_;
};

/// A failure of `code` with a message that names what failed.
inline failure make_failure(errc code, std::string context) {
  return failure{code, std::move(context)};
}

/// The same for a failed system call, with its errno.
inline failure make_failure(errc code, std::string context, int32_t os_errno) {
  return failure{code, std::move(context), os_errno};
}

/// The errno a failure carries, 0 if none.
inline int32_t os_errno(const failure& f) {
  return f.os_errno;
}

/// Whether `f` is a failure of `code`.
inline bool is(const failure& f, errc code) {
  return f && f.code == code;
}

/// What a user reads: the message (the code's name if it has none), or
/// "no error".
std::string render(const failure& f);

} // namespace procman
