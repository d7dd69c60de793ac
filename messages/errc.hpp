// procman's error codes, without CAF: the same codes serve `caf::error`
// (messages/error.hpp) and `failure` (messages/failure.hpp).

#pragma once

#include <cstdint>
#include <string>

namespace procman {

/// Codes cross nodes and are stored nowhere but in messages: new codes go
/// at the end, none is ever renumbered.
enum class errc : uint8_t {
  // 0 means "no error" in CAF.
  unknown_process = 1,    ///< no process with this pid
  illegal_transition = 2, ///< the transition does not apply in this state
  invalid_spec = 3,       ///< the process spec is malformed
  invalid_json = 4,      ///< a JSON payload did not parse or has the wrong type
  storage_failure = 5,   ///< LMDB reported an error
  store_version = 6,     ///< the store was written by a newer procman
  store_damaged = 7,     ///< the store's metadata is unreadable
  store_access = 8,      ///< the store directory cannot be opened or written
  not_interrupted = 9,   ///< proceed on a process that is not interrupted
  already_terminal = 10, ///< cancel on a finished process
  runner_busy = 11,      ///< another --wait runner holds the store
  spawn_failure = 12,    ///< the executor could not be started
  timeout = 13,          ///< a wait or request timed out
  unknown_class = 14,    ///< no step factory by that name
  unknown_service = 15,  ///< no service by that name
  invalid_argument = 16, ///< a command-line or API argument is invalid
  connect_failure = 17, ///< a remote manager could not be reached or refused us
  queue_empty = 18,     ///< a claim found no queued process
  containment_failure
  = 19,                  ///< cgroup v2 or clone3 cannot contain executors here
  unknown_schedule = 20, ///< no recurring schedule by that name
  lease_expired = 21, ///< a worker node's lease is not current (it expired, or
                      ///< the store node restarted)
  unauthorized = 22, ///< no API token, or one the store does not know (revoked)
  forbidden = 23,    ///< the API token's scope does not allow the operation
  unknown_token = 24, ///< no API token by that id or name
};

std::string to_string(errc x);

} // namespace procman
