// procman's error codes. Handlers return `make_error(errc::x, context...)`;
// users see `procman::render(err)`.

#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>

namespace procman {

enum class errc : uint8_t {
  // 0 means "no error" in CAF.
  unknown_process = 1,    ///< no process with this pid
  illegal_transition = 2, ///< the transition does not apply in this state
  invalid_spec = 3,       ///< the process spec is malformed
  invalid_json = 4,       ///< a JSON payload did not parse or has the wrong type
  storage_failure = 5,    ///< LMDB reported an error
  store_version = 6,      ///< the store was written by a newer procman
  store_damaged = 7,      ///< the store's metadata is unreadable
  store_access = 8,       ///< the store directory cannot be opened or written
  not_interrupted = 9,    ///< proceed on a process that is not interrupted
  already_terminal = 10,  ///< cancel on a finished process
  runner_busy = 11,       ///< another --wait runner holds the store
  spawn_failure = 12,     ///< the executor could not be started
  timeout = 13,           ///< a wait or request timed out
  unknown_class = 14,     ///< no step factory by that name
  unknown_service = 15,   ///< no service by that name
  invalid_argument = 16,  ///< a command-line or API argument is invalid
  connect_failure = 17,   ///< a remote manager could not be reached or refused us
};

std::string to_string(errc x);

/// Builds an error of category "procman" with a human-readable context.
caf::error make_error(errc code, std::string context);

/// Renders any error: procman's as its context message (which names the
/// process and the problem), CAF's as CAF does.
std::string render(const caf::error& err);

/// Whether `err` is procman's `code`.
bool is(const caf::error& err, errc code);

} // namespace procman

CAF_ERROR_CODE_ENUM(procman::errc, "procman")
