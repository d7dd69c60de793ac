// The plain data that crosses actors, nodes, the store and the message log.
//
// Every struct here has a CAF 0.17 `inspect` (binary serializer, network,
// disk, log); those procman shows or reads as JSON have their JSON form in
// messages/json.hpp, transitions and log entries theirs in
// messages/log_format.hpp. Users' JSON documents (step args, process data,
// outputs) travel as serialized `std::string`s so that the structs stay
// plain and cheap to copy; everything else is typed.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "procman/messages/output_stream.hpp"

namespace procman {

// -- enums --------------------------------------------------------------------

/// Life-cycle state of a process.
///
/// ```
/// queued -> running -> finished | error | cancelled
/// running -> interrupted -> (proceed) -> queued
/// queued | interrupted -> cancelled
/// queued -> (hold) -> held -> (release) -> queued; held -> cancelled
/// ```
enum class process_status : uint8_t {
  queued = 1,
  running = 2,
  interrupted = 3,
  finished = 4,
  error = 5,
  cancelled = 6,
  /// `procman hold`: queued (or delayed) but not claimed until released.
  held = 7,
};

/// State of one step inside a process. Stored in records: new values go
/// at the end.
enum class step_status : uint8_t {
  pending = 0,
  running = 1,
  completed = 2,
  failed = 3,
  cancelled = 4, ///< it was running when its process was cancelled
};

/// Why a process ended in `error`. Rendered as `error.kind`.
enum class error_kind : uint8_t {
  none = 0,
  exception = 1,   ///< a step threw or reported failure
  spec = 2,        ///< unknown class or service, bad args
  output = 3,      ///< a step returned a non-object or an oversized output
  timeout = 4,     ///< the process ran past its timeout
  crash = 5,       ///< the executor died without a result
  runner_lost = 6, ///< the runner holding the process died
  node_lost
  = 7, ///< the worker node holding the process was lost (its lease ended)
};

/// What a store transition does. Also the `event` of a message-log entry.
enum class transition_kind : uint8_t {
  enqueue = 1,
  claim = 2,
  start = 3,
  step_started = 4,
  step_completed = 5,
  progress = 6,
  interrupt = 7,
  proceed = 8,
  finish = 9,
  fail = 10,
  cancel = 11,
  purge = 12,
  /// `procman retry`: an errored process queued again by hand.
  retry = 13,
  /// A recurring schedule added (or replaced) and removed; not a process's
  /// event: `pid` is empty and `schedule` names it.
  schedule_add = 14,
  schedule_remove = 15,
  /// `procman hold` and `procman release`.
  hold = 16,
  release = 17,
};

/// How the delay between retries grows (`"retry": {"backoff": ...}`).
enum class backoff_kind : uint8_t {
  exponential = 0, ///< initial * 2^(n-1), capped at max_delay
  fixed = 1,       ///< initial every time
};

std::string to_string(process_status x);
std::string to_string(step_status x);
std::string to_string(error_kind x);
std::string to_string(transition_kind x);
std::string to_string(backoff_kind x);

/// The value named by what `to_string` produces; none for unknown text.
template <class E>
std::optional<E> from_string(const std::string& str);

template <>
std::optional<process_status> from_string(const std::string& str);
template <>
std::optional<step_status> from_string(const std::string& str);
template <>
std::optional<error_kind> from_string(const std::string& str);
template <>
std::optional<transition_kind> from_string(const std::string& str);
template <>
std::optional<backoff_kind> from_string(const std::string& str);

/// Whether no transition leaves this status.
inline bool is_terminal(process_status x) {
  return x == process_status::finished || x == process_status::error
         || x == process_status::cancelled;
}

// -- spec ---------------------------------------------------------------------

/// One step of a process spec: `name -> {class, args, services}`.
struct step_spec {
  std::string name;
  std::string cls;                   ///< registered factory name
  std::string args = "null";         ///< JSON: array, object or null
  std::vector<std::string> services; ///< names resolved in the executor
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_spec& x) {
  return f(caf::meta::type_name("step_spec"), x.name, x.cls, x.args,
           x.services);
}

/// The bit of an error kind in `retry_policy::on`.
constexpr uint8_t retry_bit(error_kind k) {
  return static_cast<uint8_t>(1u << static_cast<uint8_t>(k));
}

/// When and how often a failed process is queued again by itself
/// (`"retry"` in a spec). `max` 0 means never.
struct retry_policy {
  uint32_t max = 0; ///< retries after the first attempt
  backoff_kind backoff = backoff_kind::exponential;
  uint64_t initial_ms = 10000;     ///< delay before the first retry
  uint64_t max_delay_ms = 3600000; ///< exponential backoff stops growing here
  /// Error kinds that are retried (retry_bit); the default: exception,
  /// timeout, crash, runner_lost. spec and output never are.
  uint8_t on = retry_bit(error_kind::exception) | retry_bit(error_kind::timeout)
               | retry_bit(error_kind::crash)
               | retry_bit(error_kind::runner_lost);
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, retry_policy& x) {
  return f(caf::meta::type_name("retry_policy"), x.max, x.backoff, x.initial_ms,
           x.max_delay_ms, x.on);
}

inline bool operator==(const retry_policy& a, const retry_policy& b) {
  return a.max == b.max && a.backoff == b.backoff
         && a.initial_ms == b.initial_ms && a.max_delay_ms == b.max_delay_ms
         && a.on == b.on;
}

/// What a host submits: `{steps, timeout, data}` and the job options
/// `priority`, `not_before`, `key`, `retry`.
struct process_spec {
  std::vector<step_spec> steps;
  uint32_t timeout = 0;    ///< seconds; 0 = the runner's default
  std::string data = "{}"; ///< JSON object handed to the first step
  int32_t priority = 0;    ///< higher runs first; FIFO within one priority
  uint64_t not_before = 0; ///< unix ms; not claimed before; 0 = at once
  /// Unique key: while a process with this key is queued, running or
  /// interrupted, starting another returns that one. "" = none.
  std::string key;
  retry_policy retry;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_spec& x) {
  return f(caf::meta::type_name("process_spec"), x.steps, x.timeout, x.data,
           x.priority, x.not_before, x.key, x.retry);
}

// -- record parts -------------------------------------------------------------

/// Progress reported by a running step.
struct progress_info {
  std::string step;
  double percent = 0; ///< 0..100
  std::string message;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, progress_info& x) {
  return f(caf::meta::type_name("progress_info"), x.step, x.percent, x.message);
}

/// Why a process failed.
struct error_info {
  error_kind kind = error_kind::none;
  std::string step;
  std::string message;
  std::string stack;
  int32_t exit_code = -1;  ///< executor exit code, -1 if none
  int32_t signal = 0;      ///< signal that killed the executor, 0 if none
  std::string stderr_tail; ///< last bytes of the executor's stderr
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, error_info& x) {
  return f(caf::meta::type_name("error_info"), x.kind, x.step, x.message,
           x.stack, x.exit_code, x.signal, x.stderr_tail);
}

/// One failed attempt of a process with a retry policy (or retried by
/// hand): which attempt, when it ended, and why.
struct attempt_error {
  uint32_t attempt = 0; ///< 1 = the first run
  uint64_t at = 0;      ///< unix ms of the failure
  error_info error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, attempt_error& x) {
  return f(caf::meta::type_name("attempt_error"), x.attempt, x.at, x.error);
}

/// When one step of a process started and ended (unix ms, 0 = not yet);
/// the life cycle sets them with the step's state.
struct step_time {
  uint64_t started_at = 0;
  uint64_t ended_at = 0;
};

inline bool operator==(const step_time& a, const step_time& b) {
  return a.started_at == b.started_at && a.ended_at == b.ended_at;
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, step_time& x) {
  return f(caf::meta::type_name("step_time"), x.started_at, x.ended_at);
}

/// The durable state of one process; what `status` renders.
struct process_record {
  std::string pid; ///< 32 lowercase hex characters
  process_status status = process_status::queued;
  uint64_t created_at = 0; ///< unix milliseconds, UTC
  uint64_t started_at = 0; ///< first claim; 0 = never
  uint64_t updated_at = 0;
  uint64_t finished_at = 0; ///< terminal state reached; 0 = not yet
  uint32_t timeout = 0;     ///< seconds
  std::vector<step_spec> steps;
  std::vector<step_status> step_states;
  int32_t last_completed = -1; ///< index into steps, -1 = none
  uint32_t next_step = 0;      ///< first step the next run executes
  std::string data = "{}";     ///< JSON input of `next_step`
  std::string output = "null"; ///< JSON: final or interrupted output
  progress_info progress;
  error_info error;
  std::string runner;     ///< id of the runner holding the claim
  int32_t exec_pid = 0;   ///< OS pid of the executor child, 0 = none
  uint64_t queue_seq = 0; ///< key in the queue index while queued
  uint32_t runs = 0;      ///< how often it was claimed
  bool cancel_requested = false;
  // -- job options and retries (record value version 2) --
  int32_t priority = 0;
  /// While queued: not claimed before this (unix ms); a delayed start or
  /// a retry's backoff. 0 = at once.
  uint64_t not_before = 0;
  std::string key; ///< unique key, "" = none
  retry_policy retry;
  uint32_t attempts = 0; ///< failed attempts so far
  /// The errors of the last `defaults::max_attempt_errors` failed attempts.
  std::vector<attempt_error> attempt_errors;
  /// The schedule that enqueued it, "" = none.
  std::string schedule;
  // -- step times (record value version 3) --
  /// One per step (records of older procman may have none).
  std::vector<step_time> step_times;
};

/// The fields of a record that version 1 of its encoding lacks are all at
/// their defaults (its digest is then that of the version 1 encoding).
inline bool plain_record(const process_record& x) {
  return x.priority == 0 && x.not_before == 0 && x.key.empty()
         && x.retry == retry_policy{} && x.attempts == 0
         && x.attempt_errors.empty() && x.schedule.empty();
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_record& x) {
  return f(caf::meta::type_name("process_record"), x.pid, x.status,
           x.created_at, x.started_at, x.updated_at, x.finished_at, x.timeout,
           x.steps, x.step_states, x.last_completed, x.next_step, x.data,
           x.output, x.progress, x.error, x.runner, x.exec_pid, x.queue_seq,
           x.runs, x.cancel_requested, x.priority, x.not_before, x.key, x.retry,
           x.attempts, x.attempt_errors, x.schedule, x.step_times);
}

/// Name of the last completed step, empty if none.
inline std::string last_completed_step(const process_record& x) {
  if (x.last_completed < 0
      || static_cast<size_t>(x.last_completed) >= x.steps.size())
    return {};
  return x.steps[static_cast<size_t>(x.last_completed)].name;
}

// -- transitions --------------------------------------------------------------

/// One state change requested of the store; lifecycle/machine.hpp says
/// which kind reads which fields. Each kind carries its payload as typed
/// fields; only user documents (proceed data, an output) are JSON text.
struct transition {
  transition_kind kind = transition_kind::enqueue;
  std::string pid;
  std::string source;     ///< "client", "runner", "supervisor", "replay"
  std::string runner;     ///< claim, start, and what a runner applies
  uint32_t step = 0;      ///< step_started, step_completed, progress, interrupt
  int32_t exec_pid = 0;   ///< start: the executor's OS pid
  uint32_t timeout = 0;   ///< start: the effective timeout, seconds
  process_spec spec;      ///< enqueue
  std::string data;       ///< proceed: a JSON object ("" = {})
  std::string output;     ///< interrupt, finish: the output (JSON)
  progress_info progress; ///< progress
  error_info error;       ///< fail; cancel by the runner: the executor's end
  /// fail: the executor that could not be started, and the errno of that
  /// start (0: it started).
  std::string exec_path;
  int32_t spawn_errno = 0;
  /// fail: the start of the line on the executor's report channel that was
  /// not a report.
  std::string garbage;
  // -- log entry value version 3 --
  /// schedule_add, schedule_remove, and an enqueue by a schedule: its name.
  std::string schedule;
  /// schedule_add: the cron expression.
  std::string cron;
  /// enqueue by a schedule: the due time it fired for (unix ms).
  uint64_t due = 0;
  /// The key of a client's request that may come again (a remote client
  /// asks again when an answer is lost): the store applies a transition
  /// whose key it remembers no second time and answers with the record of
  /// the process the first one touched (defaults::request_memory_ms).
  /// Neither serialized nor logged: the manager sets it for the store of
  /// its own OS process.
  std::string request;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, transition& x) {
  return f(caf::meta::type_name("transition"), x.kind, x.pid, x.source,
           x.runner, x.step, x.exec_pid, x.timeout, x.spec, x.data, x.output,
           x.progress, x.error, x.exec_path, x.spawn_errno, x.garbage,
           x.schedule, x.cron, x.due);
}

/// One entry of the message log: a committed transition.
struct log_entry {
  uint64_t seq = 0;  ///< monotonic, starts at 1, no gaps
  uint64_t time = 0; ///< unix milliseconds of the commit
  transition what;
  process_status status_after = process_status::queued;
  /// Digest of the process record after the transition (record_digest),
  /// so that a replay notices a changed outcome at the entry itself.
  uint64_t digest = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_entry& x) {
  return f(caf::meta::type_name("log_entry"), x.seq, x.time, x.what,
           x.status_after, x.digest);
}

/// A recurring schedule: a cron expression and the spec of the process it
/// enqueues at each due time.
struct schedule_record {
  std::string name;
  std::string cron;
  process_spec spec;
  uint64_t created_at = 0; ///< unix ms of the last schedule_add
  uint64_t next_due = 0;   ///< unix ms of the next run
  uint64_t last_fired = 0; ///< unix ms of the last run enqueued, 0 = none
  std::string last_pid;    ///< the process it enqueued last
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, schedule_record& x) {
  return f(caf::meta::type_name("schedule_record"), x.name, x.cron, x.spec,
           x.created_at, x.next_due, x.last_fired, x.last_pid);
}

/// A change of a process's state, pushed to subscribers.
struct process_event {
  uint64_t seq = 0;
  transition_kind kind = transition_kind::enqueue;
  process_record record;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_event& x) {
  return f(caf::meta::type_name("process_event"), x.seq, x.kind, x.record);
}

/// A piece of what a running step's command wrote (procman.exec), kept per
/// process in the store's `output` database (`procman logs`). Not a
/// transition: it changes no state and is not in the message log.
struct output_chunk {
  std::string pid;
  uint64_t seq = 0;  ///< per process, from 1, no gaps; set by the store
  uint64_t time = 0; ///< unix milliseconds of the commit; set by the store
  uint32_t step = 0; ///< index of the step whose command wrote it
  output_stream stream = output_stream::out;
  std::string data; ///< valid UTF-8
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, output_chunk& x) {
  return f(caf::meta::type_name("output_chunk"), x.pid, x.seq, x.time, x.step,
           x.stream, x.data);
}

/// What the store keeps of a process's live output, from some point on.
struct output_log {
  std::string pid;
  /// The process's status when the output was read: reading output and
  /// status together tells a follower when it has seen everything.
  process_status status = process_status::queued;
  std::vector<output_chunk> chunks; ///< after the point asked for, in order
  uint64_t first_seq = 0;           ///< oldest chunk still kept (0: none)
  uint64_t last_seq = 0;            ///< newest chunk written (0: none yet)
  uint64_t kept_bytes = 0;          ///< bytes kept, all chunks
  /// Bytes dropped from the front so far to stay within the store's
  /// output limit.
  uint64_t dropped_bytes = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, output_log& x) {
  return f(caf::meta::type_name("output_log"), x.pid, x.status, x.chunks,
           x.first_seq, x.last_seq, x.kept_bytes, x.dropped_bytes);
}

/// Filter for `list`: newest first by creation (the store's `created`
/// index, created_at then pid).
struct list_query {
  bool any_status = true;
  process_status status = process_status::queued;
  uint32_t limit = 100;
  /// Where a page starts: only records below this place in the index
  /// (created_at, then pid), i.e. those listed after the record at it.
  /// Empty `before_pid`: from the newest. A record added later sorts above
  /// it, so paging on from the last record of a page neither repeats nor
  /// skips one of those there were.
  uint64_t before_created = 0;
  std::string before_pid;
  /// Only the process holding this unique key (queued, held, running,
  /// interrupted: the keys index), "" = any.
  std::string key;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_query& x) {
  return f(caf::meta::type_name("list_query"), x.any_status, x.status, x.limit,
           x.before_created, x.before_pid, x.key);
}

// -- nodes --------------------------------------------------------------------

/// What a worker node says of itself when it joins a store node
/// (docs/distribution.md).
struct node_hello {
  std::string node_id;   ///< "<hostname>-<os pid>-<8 hex>", fresh per start
  std::string host;      ///< its host name, for logs and error messages
  uint32_t parallel = 0; ///< children at once
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_hello& x) {
  return f(caf::meta::type_name("node_hello"), x.node_id, x.host, x.parallel);
}

/// A store node's answer to a join: the lease under which the worker holds
/// the processes it claims.
struct lease_grant {
  /// "<node id>@<8 hex>": the `runner` of every record the worker claims
  /// under this lease; a new lease gets a new holder.
  std::string holder;
  uint32_t lease_ms = 0;        ///< silence after which the node is lost
  uint32_t heartbeat_ms = 0;    ///< how often the worker renews
  uint32_t default_timeout = 0; ///< the store node's --default-timeout, s
  /// Whether executors report live output (the store keeps some).
  bool output_events = true;
  /// The lease of the worker's executors: each ends itself this long after
  /// the send of the last renewal of this lease that the store node
  /// confirmed; with defaults::exec_kill_ms, shorter than `lease_ms`.
  uint32_t exec_lease_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease_grant& x) {
  return f(caf::meta::type_name("lease_grant"), x.holder, x.lease_ms,
           x.heartbeat_ms, x.default_timeout, x.output_events, x.exec_lease_ms);
}

/// Whether `runner` (a record's holder) is a worker node's lease rather
/// than a runner on the store's machine.
inline bool is_node_holder(const std::string& runner) {
  return runner.find('@') != std::string::npos;
}

} // namespace procman
