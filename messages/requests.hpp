// The front door's requests: every operation a user has, one struct each
// with its answer type (`reply`). The same struct is what the CLI, a host
// and a remote client send (door/door.hpp), what the manager actor answers
// (messages/actors.hpp) and what one handler function carries out against
// the store (door/handlers.hpp). Adding an operation: a struct here (with
// its `inspect`, and at the end of PROCMAN_DOOR_REQUESTS_SINCE_TOKENS, which
// gives it a type ID), its handler, its CLI verb and its HTTP route.
//
// Requests that change state carry `key` (32 lowercase hex, new for each
// request, empty: none): a client that asks again when an answer was lost
// sends the same key, and the store answers the repeat as it answered the
// first instead of acting again (docs/distribution.md, "Lost answers").

#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "procman/messages/types.hpp"

namespace procman {

// -- processes ----------------------------------------------------------------

/// Enqueues `spec` under `pid` (empty: a fresh one); replies with the pid,
/// which is that of another process when the spec's unique key is held
/// already (nothing was enqueued then). Errors: invalid_spec,
/// unknown_class (an unknown `procman.*` class), invalid_argument (a pid
/// or key that is not 32 lowercase hex), illegal_transition (a pid in use).
struct start_request {
  using reply = std::string;
  static constexpr bool queues_work = true;
  process_spec spec;
  std::string pid;
  std::string key;
};

/// The record of a process. Errors: unknown_process.
struct status_request {
  using reply = process_record;
  static constexpr bool queues_work = false;
  std::string pid;
};

/// Records, newest first.
struct list_request {
  using reply = std::vector<process_record>;
  static constexpr bool queues_work = false;
  list_query query;
};

/// Merges `data` (a JSON object as text, "" = {}) over the interrupted
/// output and queues the rest; replies with the pid. Errors:
/// unknown_process, not_interrupted, invalid_json.
struct proceed_request {
  using reply = std::string;
  static constexpr bool queues_work = true;
  std::string pid;
  std::string data;
  std::string key;
};

/// Cancels: a queued, held or interrupted process at once; a running one
/// once its runner has killed the child (the reply then still says
/// `running`, with cancel_requested). Errors: unknown_process,
/// already_terminal.
struct cancel_request {
  using reply = process_record;
  static constexpr bool queues_work = false;
  std::string pid;
  std::string key;
};

/// Queues an errored process again; it resumes at its first step that did
/// not complete. Errors: unknown_process, illegal_transition.
struct retry_request {
  using reply = process_record;
  static constexpr bool queues_work = true;
  std::string pid;
  std::string key;
};

/// The live output of a process kept after chunk `after` (0: all), with
/// its status. Errors: unknown_process.
struct output_request {
  using reply = output_log;
  static constexpr bool queues_work = false;
  std::string pid;
  uint64_t after = 0;
};

/// Keeps a queued (or delayed) process from being claimed (status `held`)
/// until `release_request`; a held process can be cancelled. Errors:
/// unknown_process, illegal_transition (not queued).
struct hold_request {
  using reply = process_record;
  static constexpr bool queues_work = false;
  std::string pid;
  std::string key;
};

/// Puts a held process back in the queue, in its place. Errors:
/// unknown_process, illegal_transition (not held).
struct release_request {
  using reply = process_record;
  static constexpr bool queues_work = true;
  std::string pid;
  std::string key;
};

/// Removes one finished, failed or cancelled process now, with its output
/// (a purge of that process: one `purge` log entry, source `client`);
/// replies with its pid. Errors: unknown_process, illegal_transition (not
/// ended).
struct remove_request {
  using reply = std::string;
  static constexpr bool queues_work = false;
  std::string pid;
  std::string key;
};

// -- the store ----------------------------------------------------------------

/// How many processes a purge removed, and how old they had to be.
struct purge_result {
  uint64_t purged = 0;
  uint64_t older_than_ms = 0;
};

/// Removes finished, failed and cancelled processes that ended more than
/// `older_than_ms` ago (with `by_retention`: the retention setting), with
/// their output, and log entries past retention.
struct purge_request {
  using reply = purge_result;
  static constexpr bool queues_work = false;
  uint64_t older_than_ms = 0;
  bool by_retention = true;
};

/// One store setting and the value that applies.
struct setting_value {
  std::string name; ///< retention, output-limit
  uint64_t value = 0;
};

/// Reads (`get`), sets or unsets (`set`, `unset`) a store setting, or
/// with an empty `name` reads them all; replies with the values that
/// apply after. Errors: invalid_argument (an unknown setting or action, a
/// retention under 1 s).
struct config_request {
  using reply = std::vector<setting_value>;
  static constexpr bool queues_work = false;
  std::string action = "get"; ///< get, set, unset
  std::string name;
  uint64_t value = 0; ///< for set: ms (retention) or bytes (output-limit)
};

/// The message log after entry `since` (of one process, or all; at most
/// `limit` entries, 0: all), with the records of the processes it names
/// and the log's last sequence number as of the read.
struct log_export {
  std::string store; ///< the store directory
  std::vector<log_entry> entries;
  std::vector<process_record> records;
  uint64_t last_seq = 0; ///< the newest entry's, 0 for an empty log
};

struct log_export_request {
  using reply = log_export;
  static constexpr bool queues_work = false;
  uint64_t since = 0;
  std::string pid;
  uint32_t limit = 0;
};

/// How many runners serve the store (a store node: at least its own).
struct runners_request {
  using reply = uint32_t;
  static constexpr bool queues_work = false;
};

/// What /metrics reports of a store (http/metrics.hpp renders it): its
/// counters table (persistence/counters.hpp) and what costs one lookup,
/// read in one transaction at `time`; never a pass over the records.
struct store_metrics {
  uint64_t time = 0; ///< unix ms of the read
  /// The counters table, by name.
  std::vector<std::string> names;
  std::vector<uint64_t> values;
  /// Per priority that has queued records: since when its longest
  /// waiting one is due (unix ms).
  std::vector<int32_t> priorities;
  std::vector<uint64_t> oldest_due;
  uint64_t records = 0;     ///< records in the store
  uint64_t delayed = 0;     ///< queued records not yet moved into the queue
  uint64_t log_entries = 0; ///< entries of the message log kept
  uint64_t last_seq = 0;    ///< the log's last sequence number
  uint64_t map_size = 0;    ///< bytes of the LMDB map
  uint64_t used_bytes = 0;  ///< bytes of the map in use
  uint32_t runners = 0;     ///< runners serving the store (door_site)
  /// The runner that answered (a runner's or store node's own store actor):
  /// its slots (--parallel), those running a process now, and how often
  /// its fork server was started again. slots 0: no runner answered (the
  /// CLI or `procman web` reading a store directory).
  uint32_t slots = 0;
  uint32_t busy_slots = 0;
  uint64_t fork_server_restarts = 0;
};

/// The store's metrics. Errors: storage_failure.
struct metrics_request {
  using reply = store_metrics;
  static constexpr bool queues_work = false;
};

// -- schedules ----------------------------------------------------------------

/// Adds or replaces the recurring schedule `name`; replies with it and its
/// next due time. Errors: invalid_argument (name, cron), invalid_spec.
struct schedule_add_request {
  using reply = schedule_record;
  static constexpr bool queues_work = true;
  std::string name;
  std::string cron;
  process_spec spec;
};

/// Removes a schedule; replies with it as it was. Errors: unknown_schedule.
struct schedule_remove_request {
  using reply = schedule_record;
  static constexpr bool queues_work = false;
  std::string name;
};

/// Every schedule, by name.
struct schedules_request {
  using reply = std::vector<schedule_record>;
  static constexpr bool queues_work = false;
};

// -- API tokens ---------------------------------------------------------------
//
// The HTTP API's bearer tokens (docs/http.md). The store keeps no token,
// only its SHA-256: the client that creates one (`procman token create`)
// draws it, prints it once and sends its hash; the server hashes what a
// request presents and asks for the record of that hash.

/// A token as the store keeps it.
struct token_record {
  std::string id;          ///< 16 lowercase hex, drawn by the store
  std::string name;        ///< unique when not empty
  std::string scope;       ///< read, operate, admin
  uint64_t created_at = 0; ///< unix ms
  std::string hash;        ///< SHA-256 of the token, 64 lowercase hex
};

/// Stores a token's hash under `name` with `scope`; replies with the
/// record. Asked again with the same hash, name and scope, answers with
/// the record stored first. Errors: invalid_argument (scope, hash, a name
/// in use or that looks like an id).
struct token_add_request {
  using reply = token_record;
  static constexpr bool queues_work = false;
  std::string name;
  std::string scope;
  std::string hash;
};

/// Every token, oldest first, without their hashes.
struct tokens_request {
  using reply = std::vector<token_record>;
  static constexpr bool queues_work = false;
};

/// Removes the token with id or name `which`; replies with it (without its
/// hash). Errors: unknown_token.
struct token_revoke_request {
  using reply = token_record;
  static constexpr bool queues_work = false;
  std::string which;
};

/// The record of the token whose SHA-256 is `hash`. Errors: unauthorized
/// (no such token: never created, or revoked).
struct token_check_request {
  using reply = token_record;
  static constexpr bool queues_work = false;
  std::string hash;
};

// -- the queue and the nodes --------------------------------------------------

/// The processes waiting at one priority.
struct queue_depth {
  int32_t priority = 0;
  uint64_t queued = 0;  ///< due: claimed in turn
  uint64_t delayed = 0; ///< not due yet (a delayed start, a retry's backoff)
  uint64_t held = 0;    ///< kept from being claimed (procman hold)
  /// The due process claimed next at this priority (the queue's head for
  /// it), "" = none, and since when it waits (unix ms: when it last
  /// entered the queue or became due).
  std::string head_pid;
  uint64_t head_since = 0;
};

/// The queue as it is, by priority (highest first), and the processes out
/// of it that are running or interrupted.
struct queue_stats {
  uint64_t time = 0; ///< unix ms of the read
  std::vector<queue_depth> priorities;
  uint64_t running = 0;
  uint64_t interrupted = 0;
  uint64_t next_due = 0; ///< the earliest not_before of a delayed one, 0 = none
};

/// The queue's depth by priority and state, and the wait of each
/// priority's head. Reads the queue's and the status index's keys (not
/// the records but the heads and held ones): O(queued + delayed + held +
/// running + interrupted), never the whole store.
struct queue_request {
  using reply = queue_stats;
  static constexpr bool queues_work = false;
};

/// A runner or worker node serving a store, as its lock file in
/// <store>/runners says (persistence/file_lock.hpp).
struct node_info {
  std::string id;   ///< the runner id, or a worker's lease holder
  std::string kind; ///< "runner" (on the store's host), "worker" (a lease)
  std::string host; ///< from the id: "<hostname>-<os pid>-<8 hex>"
  bool lock_held = false; ///< its lock is held now (else: a lease not run out)
  uint32_t lease_ms = 0;  ///< a worker's lease, 0 for a runner
  /// Unix ms: a worker's last renewal; a runner's lock is held, so now.
  uint64_t last_heard = 0;
  uint32_t running = 0; ///< processes running under it
};

/// Where the store is and who serves it.
struct nodes_info {
  uint64_t time = 0; ///< unix ms of the read
  std::string host;  ///< the store's host (where the request was answered)
  std::string store; ///< the store directory there
  std::vector<node_info> nodes;
};

/// The runners and worker nodes serving the store: its runners/ directory
/// (one lock file each) and the running processes (the status index).
struct nodes_request {
  using reply = nodes_info;
  static constexpr bool queues_work = false;
};

// -- the list -----------------------------------------------------------------

/// Every request, for code that handles them all alike (the manager's and
/// the store actor's interfaces, the backends of door/door.hpp).
#define PROCMAN_DOOR_REQUESTS(X)                                               \
  PROCMAN_DOOR_REQUESTS_UNTIL_TOKENS(X) PROCMAN_DOOR_REQUESTS_SINCE_TOKENS(X)

/// The requests before the tokens' answers in the type-ID block
/// (messages/fwd.hpp).
#define PROCMAN_DOOR_REQUESTS_UNTIL_TOKENS(X)                                  \
  X(start_request)                                                             \
  X(status_request)                                                            \
  X(list_request)                                                              \
  X(proceed_request)                                                           \
  X(cancel_request)                                                            \
  X(retry_request)                                                             \
  X(output_request)                                                            \
  X(purge_request)                                                             \
  X(config_request)                                                            \
  X(log_export_request)                                                        \
  X(runners_request)                                                           \
  X(schedule_add_request)                                                      \
  X(schedule_remove_request)                                                   \
  X(schedules_request)                                                         \
  X(hold_request)                                                              \
  X(release_request)                                                           \
  X(token_add_request)                                                         \
  X(tokens_request)                                                            \
  X(token_revoke_request)                                                      \
  X(token_check_request)

/// The requests added after the tokens' answers in the type-ID block
/// (messages/fwd.hpp), so that those keep their ids. A new request goes at
/// the end: the ids of the others stay, for nodes of an older procman.
#define PROCMAN_DOOR_REQUESTS_SINCE_TOKENS(X)                                  \
  X(metrics_request) X(queue_request) X(nodes_request) X(remove_request)

template <class... Rs>
struct request_list {};

namespace detail {

template <class List>
struct drop_void;

template <class... Rs>
struct drop_void<request_list<void, Rs...>> {
  using type = request_list<Rs...>;
};

} // namespace detail

/// Whether a request carries a key (it changes state and may come again).
template <class R, class = void>
struct has_request_key : std::false_type {};

template <class R>
struct has_request_key<R, std::void_t<decltype(std::declval<R&>().key)>>
  : std::true_type {};

#define PROCMAN_DOOR_COMMA_TYPE(R) , R
using door_requests = typename detail::drop_void<
  request_list<void PROCMAN_DOOR_REQUESTS(PROCMAN_DOOR_COMMA_TYPE)>>::type;
#undef PROCMAN_DOOR_COMMA_TYPE

// -- inspect ------------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, start_request& x) {
  return f(caf::meta::type_name("start_request"), x.spec, x.pid, x.key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, status_request& x) {
  return f(caf::meta::type_name("status_request"), x.pid);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_request& x) {
  return f(caf::meta::type_name("list_request"), x.query);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, proceed_request& x) {
  return f(caf::meta::type_name("proceed_request"), x.pid, x.data, x.key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cancel_request& x) {
  return f(caf::meta::type_name("cancel_request"), x.pid, x.key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retry_request& x) {
  return f(caf::meta::type_name("retry_request"), x.pid, x.key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, output_request& x) {
  return f(caf::meta::type_name("output_request"), x.pid, x.after);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purge_result& x) {
  return f(caf::meta::type_name("purge_result"), x.purged, x.older_than_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, purge_request& x) {
  return f(caf::meta::type_name("purge_request"), x.older_than_ms,
           x.by_retention);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, setting_value& x) {
  return f(caf::meta::type_name("setting_value"), x.name, x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, config_request& x) {
  return f(caf::meta::type_name("config_request"), x.action, x.name, x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_export& x) {
  return f(caf::meta::type_name("log_export"), x.store, x.entries, x.records,
           x.last_seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_export_request& x) {
  return f(caf::meta::type_name("log_export_request"), x.since, x.pid, x.limit);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, runners_request&) {
  return f(caf::meta::type_name("runners_request"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, store_metrics& x) {
  return f(caf::meta::type_name("store_metrics"), x.time, x.names, x.values,
           x.priorities, x.oldest_due, x.records, x.delayed, x.log_entries,
           x.last_seq, x.map_size, x.used_bytes, x.runners, x.slots,
           x.busy_slots, x.fork_server_restarts);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metrics_request&) {
  return f(caf::meta::type_name("metrics_request"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, schedule_add_request& x) {
  return f(caf::meta::type_name("schedule_add_request"), x.name, x.cron,
           x.spec);
}

template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, schedule_remove_request& x) {
  return f(caf::meta::type_name("schedule_remove_request"), x.name);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, schedules_request&) {
  return f(caf::meta::type_name("schedules_request"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, hold_request& x) {
  return f(caf::meta::type_name("hold_request"), x.pid, x.key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, release_request& x) {
  return f(caf::meta::type_name("release_request"), x.pid, x.key);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_record& x) {
  return f(caf::meta::type_name("token_record"), x.id, x.name, x.scope,
           x.created_at, x.hash);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_add_request& x) {
  return f(caf::meta::type_name("token_add_request"), x.name, x.scope, x.hash);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tokens_request&) {
  return f(caf::meta::type_name("tokens_request"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_revoke_request& x) {
  return f(caf::meta::type_name("token_revoke_request"), x.which);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, token_check_request& x) {
  return f(caf::meta::type_name("token_check_request"), x.hash);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_depth& x) {
  return f(caf::meta::type_name("queue_depth"), x.priority, x.queued, x.delayed,
           x.held, x.head_pid, x.head_since);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_stats& x) {
  return f(caf::meta::type_name("queue_stats"), x.time, x.priorities, x.running,
           x.interrupted, x.next_due);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_request&) {
  return f(caf::meta::type_name("queue_request"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("node_info"), x.id, x.kind, x.host, x.lock_held,
           x.lease_ms, x.last_heard, x.running);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, nodes_info& x) {
  return f(caf::meta::type_name("nodes_info"), x.time, x.host, x.store,
           x.nodes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, nodes_request&) {
  return f(caf::meta::type_name("nodes_request"));
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, remove_request& x) {
  return f(caf::meta::type_name("remove_request"), x.pid, x.key);
}

} // namespace procman
