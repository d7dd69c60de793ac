// The requests tables: the keys of clients' requests that may come again
// (transition::request), so that a repeat is answered, not applied again.
//
//   requests       request key -> u64 time + the pid it touched
//   request_times  u64 time + request key -> ""    (the keys by age)

#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "procman/persistence/transaction.hpp"

namespace procman::tables::requests {

/// The pid that the request `key` touched, if it is remembered.
std::optional<std::string> remembered(const tx& t, const std::string& key);

/// Remembers that the request `key` touched `pid`, and forgets a few keys
/// older than defaults::request_memory_ms.
void remember(const tx& t, const std::string& key, const std::string& pid,
              uint64_t now);

} // namespace procman::tables::requests
