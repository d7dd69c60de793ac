// The log table: the message log, one entry per transition.
//
//   log  u64 big-endian seq -> version byte + binary log_entry
//        (version 1, before typed transitions: legacy_log_entry)
//
// The last key is the last sequence number (schema 4; before, `meta`
// "seq" was written with every entry). `meta` "seq" now only keeps it
// when a trim removes entries, so that numbers are never given twice,
// even after the log was emptied.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "procman/messages/types.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables::log {

/// Appends `t` with the digest of the record after it, under the next
/// sequence number.
void append(const tx& t, const transition& what, const process_record& rec,
            uint64_t time);

/// Appends a schedule_add or schedule_remove with the digest of the
/// schedule after it (removed: as it was).
void append(const tx& t, const transition& what, const schedule_record& x,
            uint64_t time);

/// Entries with seq > `since` (only `pid`'s unless empty), at most `limit`.
std::vector<log_entry> after(const tx& t, uint64_t since, size_t limit,
                             const std::string& pid);

/// Removes up to `max` entries older than `cutoff` (by time, oldest
/// first); `more`: there are others.
void trim(const tx& t, uint64_t cutoff, size_t max, bool& more);

/// The last and the first sequence number kept (0: none).
uint64_t last_seq(const tx& t);
uint64_t first_seq(const tx& t);

} // namespace procman::tables::log
