// procman's errors where CAF is spoken (the actors, the engine, remote
// calls): `caf::error` of category "procman" with an `errc`
// (messages/errc.hpp) and a message. Handlers return `make_error(errc::x,
// context)`; users see `procman::render(err)`. The code below the actors
// returns a `failure` (messages/failure.hpp); `to_error`/`to_expected` and
// `to_failure`/`to_outcome` convert at the boundary.

#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/make_message.hpp>

#include "procman/messages/errc.hpp"
#include "procman/messages/failure.hpp"

namespace procman {

/// Builds an error of category "procman" with a human-readable context.
caf::error make_error(errc code, std::string context);

/// The same for a failed system call: the error also carries its errno,
/// which `os_errno` reads back (the message need not be parsed for it).
caf::error make_error(errc code, std::string context, int32_t os_errno);

/// The errno a `make_error(code, context, os_errno)` carries, 0 if none.
int32_t os_errno(const caf::error& err);

/// Renders any error: procman's as its context message (which names the
/// process and the problem), CAF's as CAF does.
std::string render(const caf::error& err);

/// Whether `err` is procman's `code`.
bool is(const caf::error& err, errc code);

/// The `caf::error` of a failure of the code below the actors (none for
/// none), with its code, message and errno.
caf::error to_error(const failure& f);

/// The failure of a `caf::error`: procman's keep their code, message and
/// errno; CAF's own (a remote call that timed out or found no peer) become
/// errc::timeout or errc::connect_failure with CAF's wording.
failure to_failure(const caf::error& err);

/// A `caf::expected` as an outcome.
template <class T>
outcome<T> to_outcome(caf::expected<T> x) {
  if (!x)
    return to_failure(x.error());
  return std::move(*x);
}

/// An outcome of the code without CAF as a `caf::expected`.
template <class T>
caf::expected<T> to_expected(outcome<T> x) {
  if (!x)
    return to_error(x.error());
  return std::move(*x);
}

} // namespace procman

CAF_ERROR_CODE_ENUM(procman::errc, "procman")
