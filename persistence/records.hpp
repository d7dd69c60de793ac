// The records table and the indexes that follow a record's fields.
//
//   processes  pid (32 hex chars) -> version byte + binary process_record
//   status     u8 status + pid -> "" or, for a running record whose
//              executor started, u64 big-endian start (unix ms)
//                                                     (list, recovery,
//              the run time of /metrics)
//              only running, interrupted and held records (schema 4): queued
//              ones are in queue or delayed, terminal ones in expiry
//   expiry     u64 big-endian finished_at + pid -> "" (retention)
//   created    u64 big-endian created_at + pid -> ""  (list, newest first)
//
// Saving a record also brings its place in the queue (queue.hpp), its
// unique key (keys.hpp) along; removing one removes its output too.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "procman/messages/types.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables::records {

/// The record of `pid`, if there is one.
std::optional<process_record> load(const tx& t, const std::string& pid);

/// Whether `pid` has a record (without reading it).
bool exists(const tx& t, std::string_view pid);

/// Writes `rec` and brings every index from `old` (null: a new record) to
/// `rec`. The record itself is written by `write_saved`, once however
/// often the transaction saves it; `load` and `exists` see it at once.
void save(const tx& t, const process_record* old, const process_record& rec,
          uint64_t now);

/// Writes the records saved in the transaction so far. The transaction
/// layer calls it before every commit.
void write_saved(const tx& t);

/// Notes in the status index that the run of the running record `rec`
/// started (its executor) at `at`: the entry is written by the claim, and
/// the end of the run removes it, so this costs no page of its own.
void mark_run_start(const tx& t, const process_record& rec, uint64_t at);

/// When the run of the running record `rec` started (mark_run_start), if
/// it was noted.
std::optional<uint64_t> run_start(const tx& t, const process_record& rec);

/// Removes `rec` with its index entries and its output.
void remove(const tx& t, const process_record& rec);

/// Records newest first by creation, filtered as `q` says.
std::vector<process_record> list(const tx& t, const list_query& q);

/// Every record with status `s` (the status index).
std::vector<process_record> with_status(const tx& t, process_status s);

/// How many records have status `s`, one of those the status index
/// holds (running, interrupted, held): O(that many) keys, no records.
uint64_t count_with_status(const tx& t, process_status s);

/// The terminal records that finished before `cutoff`, oldest
/// first, at most `max` (`more`: there are others). Removes stale index
/// entries on the way.
std::vector<process_record> finished_before(const tx& t, uint64_t cutoff,
                                            size_t max, bool& more);

/// Schema 3 -> 4: removes the status index's entries of queued and
/// terminal records, which other indexes imply.
void upgrade_status_index(const tx& t);

/// How many records there are.
uint64_t count(const tx& t);

} // namespace procman::tables::records
