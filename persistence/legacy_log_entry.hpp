// Log entries as procman wrote them before transitions carried typed
// payloads (value version 1): the payload of a transition was one JSON
// text, `json` (enqueue: the spec; start: {"timeout": S}; proceed: the
// data; interrupt, finish: the output), and a failed start or garbage on
// the report channel showed only in the error message. Stores keep such
// entries until retention trims them; the store reads them through this
// layout and `upgrade`.

#pragma once

#include <cstdint>
#include <string>

#include <caf/meta/type_name.hpp>

#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {

/// A transition as version 1 serialized it. Never changes.
struct legacy_transition {
  transition_kind kind = transition_kind::enqueue;
  std::string pid;
  std::string source;
  std::string runner;
  uint32_t step = 0;
  int32_t exec_pid = 0;
  std::string json;
  progress_info progress;
  error_info error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, legacy_transition& x) {
  return f(caf::meta::type_name("transition"), x.kind, x.pid, x.source,
           x.runner, x.step, x.exec_pid, x.json, x.progress, x.error);
}

/// A log entry as version 1 serialized it. Never changes.
struct legacy_log_entry {
  uint64_t seq = 0;
  uint64_t time = 0;
  legacy_transition what;
  process_status status_after = process_status::queued;
  uint64_t digest = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, legacy_log_entry& x) {
  return f(caf::meta::type_name("log_entry"), x.seq, x.time, x.what,
           x.status_after, x.digest);
}

/// The entry with its JSON payload read into the typed fields (as the
/// reader of exported logs reads a `payload`). Errors: store_damaged when
/// the payload is not what its kind carries.
outcome<log_entry> upgrade(legacy_log_entry x);

} // namespace procman
