// The durable store: one LMDB environment in a directory.
//
// Every state change is a `transition` applied in one LMDB write transaction
// that loads the record, asks the life cycle (lifecycle/machine.hpp) for the
// record after the transition (a refused one writes nothing), writes it and
// the indexes whose keys change, and appends the transition to the message
// log with the next sequence number. `apply` with several transitions
// commits them together.
//
// Several OS processes may open one store at once (LMDB's own locking);
// within one process, every `store` opened on one directory shares a single
// LMDB environment (LMDB forbids opening one twice in a process). A `store`
// may be used from several threads. A forked child must open its own.
//
// Each table family is a unit of its own over one transaction layer
// (transaction.hpp: the environment, its map, transactions, the database
// handles), which this class composes: records.hpp (processes and their
// indexes status, expiry, created), queue.hpp (queue, delayed), keys.hpp,
// schedules.hpp, output.hpp, log.hpp, settings.hpp (settings and purge),
// requests.hpp, pids.hpp, tokens.hpp; transitions.hpp applies one transition.
//
// Layout (named databases):
//   meta       "schema" -> u32 version, "seq" -> u64 last log sequence
//              as of the last trim of the log (else the log's last key
//              says it), "qseq" -> u64 last queue number (all big-endian)
//   processes  pid (32 hex chars) -> version byte + binary process_record
//   queue      queue key (priority, queue_seq) -> pid    (queued and due)
//   status     u8 status + pid -> ""                      (list, recovery;
//              running and interrupted records only)
//   expiry     u64 big-endian finished_at + pid -> ""     (retention)
//   created    u64 big-endian created_at + pid -> ""      (list, newest first)
//   log        u64 big-endian seq -> version byte + binary log_entry
//              (version 1, before typed transitions: legacy_log_entry)
//   output     pid -> version byte (1) + u64 next seq + u64 first seq +
//              u64 kept bytes + u64 dropped bytes        (a process's live
//              output: its bounds)
//              pid + u64 big-endian seq -> version byte (1) + u8 stream +
//              u32 step + u64 time + the bytes          (one chunk)
//   meta also holds the settings (`procman config`): "setting.retention"
//   (u64 ms) and "setting.output-limit" (u64 bytes).
//
// Live output (output_chunk) is committed with the transitions of a batch
// but is not a transition: it goes into `output`, not into the message
// log. Each process keeps at most the output limit's bytes, the newest;
// older chunks are dropped and counted. Purging a record removes its
// output.
//   delayed    u64 not_before + queue key -> pid    (queued, not yet due)
//   keys       unique key -> pid            (while queued/running/interrupted)
//   schedules  name -> version byte + binary schedule_record
//   tokens     SHA-256 of an API token (64 hex) -> version byte + binary
//              token_record (tokens.hpp)
//
// The queue key is 4 bytes of inverted priority then the u64 queue_seq
// (codec::queue_key): the first key is the highest priority's oldest
// process. A claim first moves the delayed processes that are due into
// the queue, in its own transaction.
//
// What a transition does and when it is refused is lifecycle/machine.hpp's
// (`next`); the store supplies what only it knows: the pid of an enqueue
// without one, the queue head for a claim without one (an empty queue is
// errc::queue_empty), the queue position of a record entering the
// queue, and `store_options::default_timeout`. `purge()` applies the
// retention period; `apply(purge)` removes any terminal record.
//
// Log entries carry the pid even where the store chose it (enqueue without
// a pid, claim of the queue head), so replaying the log reproduces it.

#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "procman/messages/defaults.hpp"
#include "procman/messages/failure.hpp"
#include "procman/messages/requests.hpp"
#include "procman/messages/types.hpp"

namespace procman {

/// The durable settings of a store (`procman config`), kept in `meta`.
enum class store_setting : uint8_t {
  retention = 1,    ///< ms; how long terminal records are kept
  output_limit = 2, ///< bytes of live output kept per process
};

/// The setting's name as users write it ("retention", "output-limit"), and
/// back (none for an unknown name).
std::string to_string(store_setting x);
std::optional<store_setting> store_setting_from(const std::string& name);

struct store_options {
  std::string dir;
  uint64_t initial_map_size = defaults::initial_map_size;
  /// How long terminal records are kept (`procman-runner --retention`);
  /// 0: the store's retention setting, else `defaults::retention_ms`.
  uint64_t retention_ms = 0;
  /// Bytes of live output kept per process (`procman-runner
  /// --output-limit`); none: the store's setting, else
  /// `defaults::output_limit`.
  std::optional<uint64_t> output_limit;
  /// Timeout written into records whose spec has none. 0 (the default)
  /// keeps 0 there, meaning "the runner's --default-timeout", so that a
  /// record does not depend on which program enqueued it.
  uint32_t default_timeout = 0;
  /// Commit without fsync (tests and benchmarks only).
  bool no_sync = false;
  /// Clock in unix ms; replaced by the replay harness.
  std::function<uint64_t()> clock;
  /// Ring the runner's doorbell after commits that give it work.
  bool ring_doorbell = true;
};

struct store_stats {
  uint64_t records = 0;
  uint64_t queued = 0;
  uint64_t last_seq = 0;
  /// Oldest log entry still kept (purge trims old ones), 0 if the log is empty.
  uint64_t first_seq = 0;
  uint64_t map_size = 0;
  uint64_t used_bytes = 0;
};

class store {
public:
  /// Opens (creating if needed) the store in `opts.dir`. Errors:
  /// `store_access` (directory missing and not creatable, not writable),
  /// `store_version` (written by a newer procman), `store_damaged`.
  static outcome<std::unique_ptr<store>> open(store_options opts);

  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Applies one transition in one durable commit; returns the record after
  /// it (for purge: the removed record). Called from several threads at
  /// once, the transitions share commits (group_commit.hpp).
  outcome<process_record> apply(const transition& t);

  /// Applies several transitions in one commit, in order. A refused one gets
  /// its error and changes nothing; the others commit.
  std::vector<outcome<process_record>> apply(const std::vector<transition>& ts);

  /// What `commit` did.
  struct batch_result {
    /// One per transition, as `apply` returns them.
    std::vector<outcome<process_record>> results;
    /// Set when the commit failed as a whole: nothing was written (and
    /// every result carries this error).
    failure error;
    /// Per transition: its request key was remembered, so nothing was
    /// applied and the result is the record as it is.
    std::vector<bool> repeated;
  };

  /// Appends live output and applies transitions in one commit (the
  /// output first). Output of a process that has no record (purged, never
  /// enqueued) is dropped, as is all of it while the output limit is 0;
  /// each process keeps at most the limit's bytes, the newest.
  batch_result commit(const std::vector<transition>& ts,
                      const std::vector<output_chunk>& output);

  /// The live output of `pid` kept after chunk `after` (0: all), with the
  /// process's status, read in one transaction. Errors: unknown_process.
  outcome<output_log> read_output(const std::string& pid, uint64_t after = 0);

  /// Takes up to `n` processes from the queue head for `runner` in one
  /// commit (one `claim` log entry each): `commit(claims(runner, n))`, then
  /// `claimed`. Costs O(log n) per process.
  outcome<std::vector<process_record>> claim(const std::string& runner,
                                             size_t n);

  /// The transitions of a claim of `n` processes for `runner`: claims
  /// without pid, each of which `commit` gives the queue head at its turn
  /// (errc::queue_empty once the queue is empty). The store actor commits
  /// them behind the transitions it has parked.
  static std::vector<transition> claims(const std::string& runner, size_t n);

  /// The records that the results of `claims` took, in order, up to an
  /// empty queue. Errors: the first claim's, when it failed otherwise; a
  /// later failure ends the list early and goes into `stopped`.
  static outcome<std::vector<process_record>>
  claimed(std::vector<outcome<process_record>> results,
          failure* stopped = nullptr);

  /// Enqueues one run of every schedule due now, each with its schedule's
  /// next due time moved on, in one commit: two runners (or hosts) firing
  /// at once enqueue each due run once. Returns how many it enqueued.
  outcome<uint32_t> fire_schedules();

  /// When something next becomes due: the earliest not_before of a delayed
  /// process or next due time of a schedule (unix ms), 0 if nothing waits.
  outcome<uint64_t> next_wake();

  /// Every schedule, by name.
  outcome<std::vector<schedule_record>> schedules();

  /// One schedule. Errors: `unknown_schedule`.
  outcome<schedule_record> schedule(const std::string& name);

  /// Stores an API token's record (its id and created_at are set here);
  /// with the hash stored already under the same name and scope, replies
  /// with that record. Errors: invalid_argument (the hash under another
  /// name or scope, a name in use).
  outcome<token_record> add_token(token_record x);

  /// Every API token, oldest first.
  outcome<std::vector<token_record>> tokens();

  /// Removes the API token whose id or name is `which`; replies with it.
  /// Errors: `unknown_token`.
  outcome<token_record> revoke_token(const std::string& which);

  /// The API token whose SHA-256 (hex) is `hash`. Errors: `unauthorized`.
  outcome<token_record> token(const std::string& hash);

  /// Reads one record. Errors: `unknown_process`.
  outcome<process_record> get(const std::string& pid);

  /// Lists records, newest first by creation, filtered by status.
  outcome<std::vector<process_record>> list(const list_query& q);

  /// The queue by priority and state (queue_request), read in one
  /// transaction.
  outcome<queue_stats> queue_depths();

  /// Every record with the given status (uses the status index).
  outcome<std::vector<process_record>> with_status(process_status s);

  /// Log entries with seq > `since`, optionally only for `pid`, at most
  /// `limit`.
  outcome<std::vector<log_entry>> log(uint64_t since, size_t limit = SIZE_MAX,
                                      const std::string& pid = {});

  /// The log entries with seq > `since` (only `pid`'s if given, at most
  /// `limit`) and the current record of every process they name, read in
  /// one transaction so that the two agree, with the log's last sequence
  /// number then. Processes already purged have no record.
  struct log_snapshot {
    std::vector<log_entry> entries;
    std::vector<process_record> records;
    uint64_t last_seq = 0;
  };
  outcome<log_snapshot> snapshot(uint64_t since, const std::string& pid = {},
                                 size_t limit = SIZE_MAX);

  /// Removes terminal records whose finished_at is older than the retention
  /// period (`retention_ms()`; one `purge` log entry each, source
  /// "retention"), with their output, then trims log entries older than
  /// the retention period (by time, oldest first; `stats().first_seq` tells
  /// where the log now starts). Returns how many records it removed.
  /// Interrupted records are never removed.
  outcome<size_t> purge();

  /// `purge` with `older_than_ms` in place of the retention period for
  /// the records (the log is still trimmed by the retention period), the
  /// log entries naming `source` (`procman purge --older-than`:
  /// "client").
  outcome<size_t> purge(uint64_t older_than_ms, const std::string& source);

  /// A setting as stored (milliseconds, bytes); none when unset.
  outcome<std::optional<uint64_t>> setting(store_setting s);

  /// Sets a setting, or with none unsets it (the default applies again).
  /// Durable at once; not in the message log.
  failure set_setting(store_setting s, std::optional<uint64_t> value);

  /// What applies: the store options' value if given, else the setting,
  /// else the default (`defaults::retention_ms`, `defaults::output_limit`).
  outcome<uint64_t> retention_ms();
  outcome<uint64_t> output_limit();

  outcome<store_stats> stats();

  /// What /metrics reports of the store (`runners` left 0): the counters
  /// table and a few lookups, in one read transaction; O(priorities queued
  /// * log n), never a pass over the records.
  outcome<store_metrics> metrics();

  const std::string& dir() const;
  uint64_t now() const;

  /// Generates a fresh pid: 32 lowercase hex characters, the creation time
  /// in unix milliseconds (48 bits) followed by 80 bits from getrandom():
  /// unguessable, and ordered by creation so that the pid-keyed indexes
  /// grow at their ends.
  static std::string make_pid();

private:
  struct impl;
  explicit store(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace procman
