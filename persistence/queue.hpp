// The queue and delayed tables: where a queued process waits its turn.
//
//   queue    queue key (priority, queue_seq) -> pid    (queued and due)
//   delayed  u64 not_before + queue key -> pid         (queued, not yet due)
//
// The queue key is 4 bytes of inverted priority then the u64 queue_seq
// (codec::queue_key): the first key is the highest priority's oldest
// process. A claim first moves the delayed processes that are due into
// the queue.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "procman/messages/requests.hpp"
#include "procman/messages/types.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables::queue {

/// Whether `rec` has a place in the queue or the delayed table.
bool waits(const process_record& rec);

/// Whether `a` and `b` wait at the same place.
bool same_place(const process_record& a, const process_record& b);

/// Puts a waiting record in the queue, or in the delayed table while its
/// not_before is after `now` (out of the claims' way).
void place(const tx& t, const process_record& rec, uint64_t now);

/// Takes a waiting record out of the queue or delayed table, wherever it is.
void unqueue(const tx& t, const process_record& rec);

/// Moves the delayed processes that are due at `now` into the queue:
/// O(log n) each; nothing to do costs one cursor read.
void promote_due(const tx& t, uint64_t now);

/// The earliest not_before in the delayed table, 0 if none.
uint64_t first_delayed(const tx& t);

/// The pid at the queue's head.
std::optional<std::string> head(const tx& t);

/// The pid at the head of priority `priority`'s part of the queue.
std::optional<std::string> head_of(const tx& t, int32_t priority);

/// The first delayed process (the earliest not_before): its not_before
/// and priority.
std::optional<std::pair<uint64_t, int32_t>> first_delayed_entry(const tx& t);

/// How many processes wait in the delayed table.
uint64_t delayed_size(const tx& t);

/// The next queue number (a record entering the queue goes behind all).
uint64_t next_position(const tx& t);

/// How many processes are in the queue (due ones).
uint64_t size(const tx& t);

/// The queue by priority (highest first) and state at `now`, each
/// priority's head (its first due key: claimed next) and the counts of
/// running and interrupted processes. Reads the keys of the queue,
/// delayed and status index, and the records of the heads and of the held
/// ones: O(queued + delayed + held + running + interrupted).
queue_stats stats(const tx& t, uint64_t now);

/// Schema 1 -> 2: queue keys were the queue number alone; now the
/// priority comes first (every process queued then has priority 0).
void upgrade_keys(const tx& t);

} // namespace procman::tables::queue
