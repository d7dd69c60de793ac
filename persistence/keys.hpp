// The keys table: which process holds a unique key.
//
//   keys  unique key -> pid    (while the holder may still run)
//
// Who holds a key is lifecycle/keys.hpp's rule (`holds_key`).

#pragma once

#include <optional>
#include <string>

#include "procman/messages/types.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables::keys {

/// Brings the table from `old` (null: a new record) to `rec`.
void update(const tx& t, const process_record* old, const process_record& rec);

/// Gives up `rec`'s key, if `rec` holds it.
void release(const tx& t, const process_record& rec);

/// The live process holding `key`, if any.
std::optional<process_record> holder(const tx& t, const std::string& key);

} // namespace procman::tables::keys
