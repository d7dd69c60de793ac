// The LMDB environment behind `tables::database` (transaction.hpp): one
// per store directory and OS process. Only the transaction layer's own
// units include this.

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>

#include <lmdb++.h>

#include "procman/messages/failure.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables {

/// The LMDB environment of one store directory in this OS process, shared
/// by every `store` opened on that directory. LMDB must not open one
/// environment twice in a process (closing either copy drops the locks of
/// the other), so `database::open` hands out this one object instead.
struct environment {
  lmdb::env env{nullptr};
  handles db;

  /// Shared by every transaction of this process; exclusive while the map
  /// is resized (LMDB requires that no transaction of the environment be
  /// active then).
  std::shared_mutex mtx;

  /// Map size of this process's mapping; guarded by `mtx`.
  uint64_t map_size = 0;

  /// Opened with MDB_NOSYNC: durable stores sync after each commit.
  bool no_sync = false;

  /// The process that opened it. A forked child inherits the object but
  /// must open its own environment.
  int owner = 0;

  /// Runs `body` in one transaction, committing it when `write` (and
  /// syncing when `sync`). Grows or re-maps the map and retries on
  /// MDB_MAP_FULL / MDB_MAP_RESIZED. Throws lmdb::error and store_failure.
  void transact(bool write, bool sync, const std::string& dir,
                const std::function<void(const tx&)>& body);

  /// `transact` with every failure turned into a procman error.
  failure guarded(bool write, bool sync, const std::string& dir,
                  const std::function<void(const tx&)>& body);
};

/// Whether an LMDB error code says the files are damaged.
bool is_damage_code(int code);

/// The text of an errno value.
std::string errno_text(int code);

} // namespace procman::tables
