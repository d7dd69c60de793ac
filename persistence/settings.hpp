// The settings in `meta` (`procman config`) and what they govern: how long
// records and log entries are kept (purge) and how much output is.
//
//   meta  "setting.retention" -> u64 ms, "setting.output-limit" -> u64 bytes

#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "procman/persistence/store.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables::settings {

/// A setting as stored; none when unset.
std::optional<uint64_t> read(const tx& t, store_setting s);

/// Sets a setting, or with none unsets it.
void write(const tx& t, store_setting s, std::optional<uint64_t> value);

/// What applies: the options' value if given, else the setting, else the
/// default.
uint64_t retention(const tx& t, const store_options& opts);
uint64_t output_limit(const tx& t, const store_options& opts);

/// One transaction's share of a purge: removes up to a chunk (2,000) of
/// terminal records that finished before `cutoff` (one `purge` log entry
/// each, from `source`), then as many log entries older than the
/// retention period. Returns how many records it removed; `more`: call
/// again.
size_t purge(const tx& t, const store_options& opts, uint64_t cutoff,
             const std::string& source, uint64_t now, bool& more);

} // namespace procman::tables::settings
