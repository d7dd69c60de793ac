// The transaction layer of the store: the LMDB environment of a store
// directory, its named databases (declared here, once), the map that
// grows when it is full, and transactions that turn every failure into a
// procman error. The table units (records, queue, keys, schedules, output,
// log, settings, requests) read and write through a `tables::tx`;
// persistence/store.cpp composes them.
//
//   database::read / write(body)     lmdb::error -> errc::storage_failure
//     -> transact                    MDB_MAP_FULL: abort, double, retry
//                                    MDB_MAP_RESIZED: adopt, retry
//        -> body(tx)                 reads and writes through the txn
//
// Within one OS process, every store opened on one directory shares a
// single LMDB environment (LMDB forbids opening one twice in a process);
// a forked child opens its own.

#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <lmdb.h>

#include "procman/messages/failure.hpp"
#include "procman/persistence/codec.hpp"
#include "procman/persistence/store.hpp"

namespace procman::tables {

/// Carries a procman error out of a transaction body; the transaction aborts.
struct store_failure {
  failure err;
};

/// The named databases of a store (the layout: persistence/store.hpp).
struct handles {
  MDB_dbi meta = 0;
  MDB_dbi processes = 0;
  MDB_dbi queue = 0;
  MDB_dbi status = 0;
  MDB_dbi expiry = 0;
  MDB_dbi created = 0;
  MDB_dbi log = 0;
  MDB_dbi output = 0;
  MDB_dbi delayed = 0;
  MDB_dbi keys = 0;
  MDB_dbi schedules = 0;
  /// Request keys of clients (transition::request) -> u64 time of the
  /// commit (big-endian) + the pid it touched.
  MDB_dbi requests = 0;
  /// u64 time (big-endian) + request key -> "": the keys by age.
  MDB_dbi request_times = 0;
  /// The API tokens (tokens.hpp).
  MDB_dbi tokens = 0;
  /// What /metrics reports, and where running records' times are
  /// measured from (counters.hpp).
  MDB_dbi counters = 0;
  MDB_dbi run_times = 0;
};

/// One transaction as the table units see it.
struct tx {
  MDB_txn* txn;
  const handles& db;
  const std::string& dir;
  /// The last log sequence number written in this transaction, 0 until
  /// the first entry (persistence/log.cpp).
  mutable uint64_t log_seq = 0;
  /// The records saved in this transaction, by pid, written once each
  /// right before it commits (records::write_saved): the transitions of
  /// one process that commit together read and write its record once.
  mutable std::map<std::string, process_record, std::less<>> saved_records;

  /// Ends the transaction with errc::store_damaged naming the store and
  /// `what`.
  [[noreturn]] void damaged(const std::string& what) const;
};

/// errc::store_damaged: "store <dir> is damaged: <what>".
failure damaged_store(const std::string& dir, const std::string& what);

// -- raw access ---------------------------------------------------------------

/// The value under `key`, if any (valid until the transaction writes or
/// ends).
std::optional<std::string_view> get_raw(MDB_txn* txn, MDB_dbi dbi,
                                        std::string_view key);

void put_raw(MDB_txn* txn, MDB_dbi dbi, std::string_view key,
             std::string_view value);

/// Writes `x` under `key` as persistence/codec.hpp encodes it.
template <class T>
void put_value(const tx& t, MDB_dbi dbi, std::string_view key, const T& x) {
  codec::scratch s;
  codec::encode(x, s.buf);
  put_raw(t.txn, dbi, key, {s.buf.data(), s.buf.size()});
}

void del_raw(MDB_txn* txn, MDB_dbi dbi, std::string_view key);

/// The keys and values of `dbi` from its first key on while `keep(key)`
/// holds, at most `max`; sets `more` when it stopped at `max`.
std::vector<std::pair<std::string, std::string>> prefix_while(
  const tx& t, MDB_dbi dbi,
  const std::function<bool(std::string_view key, std::string_view value)>& keep,
  size_t max, bool& more);

// -- counters in `meta` -------------------------------------------------------

/// The last log sequence number and the last queue number.
constexpr char key_seq[] = "seq";
constexpr char key_qseq[] = "qseq";

uint64_t read_counter(const tx& t, const char* name);

/// Increments the counter and returns its new value.
uint64_t next_counter(const tx& t, const char* name);

// -- the environment ----------------------------------------------------------

struct environment;

/// A store's access to the environment of its directory.
class database {
public:
  /// Checks the directory (store_directory.hpp), then opens or joins its
  /// environment, creating the databases and checking the schema. Errors:
  /// store_access, store_version, store_damaged, storage_failure.
  static outcome<database> open(const store_options& opts);

  /// Runs `body` in a read transaction.
  failure read(const std::function<void(const tx&)>& body);

  /// Runs `body` in a write transaction and commits it (durably unless the
  /// options say no_sync). Runs `body` again when the map had to grow.
  /// Counts the commit, with the latencies of this process's commits
  /// before it (counters.hpp).
  failure write(const std::function<void(const tx&)>& body);

  /// The environment's map size and the bytes its pages use.
  void sizes(uint64_t& map_size, uint64_t& used_bytes) const;

private:
  failure guarded(bool write, const std::function<void(const tx&)>& body);

  std::shared_ptr<environment> env_;
  std::string dir_;
  /// This store is durable but shares an environment opened with
  /// MDB_NOSYNC: it syncs after each of its commits.
  bool sync_after_commit_ = false;
};

} // namespace procman::tables
