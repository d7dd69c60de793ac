// The rules of unique keys (process_spec::key): while a process may still
// run, it holds its key; an enqueue under a held key is answered with the
// holder (nothing new is enqueued), a retry of a process whose key another
// process took meanwhile is refused. Pure functions: the store
// (persistence/transitions.cpp, persistence/keys.cpp) applies them.

#pragma once

#include <string>

#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {

/// Whether `rec` holds its unique key: it has one and is queued, running
/// or interrupted.
bool holds_key(const process_record& rec);

/// Whether an enqueue of `t` is answered by `holder`, the process that
/// holds `t`'s key, instead of being applied.
bool answered_by_holder(const transition& t, const process_record& holder);

/// Checks a retry of `rec` while `holder_pid` ("" for none) holds its key.
/// Errors: illegal_transition naming both processes and the key, when
/// another process holds it.
failure check_retry_key(const process_record& rec,
                        const std::string& holder_pid);

} // namespace procman
