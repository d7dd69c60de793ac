// Every tunable default of procman in one place. No CAF: the executor and
// the steps include it too.

#pragma once

#include <cstddef>
#include <cstdint>

namespace procman::defaults {

// -- processes ----------------------------------------------------------------

/// Seconds a process may run when neither its spec nor the runner says
/// (`procman-runner --default-timeout`).
constexpr uint32_t process_timeout = 60;

/// Seconds running children get after SIGTERM/SIGINT before they are
/// killed (`procman-runner --grace`).
constexpr uint32_t grace_seconds = 10;

/// Seconds a runner or node that has drained and committed everything may
/// take to stop its actor system before it exits anyway: enough for its
/// connections to close, and a bound on any wait there.
constexpr uint32_t stop_deadline_seconds = 10;

/// Children at once; 0 means one per core (`procman-runner --parallel`).
constexpr uint32_t parallel = 0;

/// Largest output (serialized JSON) one step may return: 16 MiB.
constexpr size_t max_output_bytes = size_t{16} << 20;

// -- JSON ---------------------------------------------------------------------

/// Deepest nesting of arrays and objects in a JSON document a user hands
/// procman: `--data`, a spec's "data", a step's "args", a step's output.
/// Deeper input is refused where it enters (`errc::invalid_json`, or
/// `invalid_spec` for a spec), never cut or dropped on the way.
constexpr size_t max_json_depth = 256;

/// Deepest nesting procman accepts in its own envelopes around such a
/// document: the executor's input (`{"steps": [{"args": ...}]}`, +3), its
/// report lines (`{"output": ...}`, +1) and the message log's lines
/// (`{"payload": <spec>}`, `{"record": {"steps": [{"args": ...}]}}`, +4).
/// A document at `max_json_depth` fits into each of them.
constexpr size_t max_wrapped_json_depth = max_json_depth + 8;

// -- the store ----------------------------------------------------------------

/// How long a runner without --wait goes on while its commits fail (a full
/// disk) before it gives up and exits, ms (`procman-runner
/// --give-up-after`): long enough for a passing spike, short enough that
/// a drain started by cron every minute has ended before the next.
constexpr uint64_t give_up_after_ms = 30000;

/// Initial LMDB map size; it doubles whenever it fills up.
constexpr uint64_t initial_map_size = uint64_t{64} << 20;

/// Attempts to open a store's LMDB environment when another process's
/// opening or closing it at the same moment made it fail (Windows only:
/// platform::store_open_is_transient), and the pause before the second
/// (growing with each further one): about 1 s in all.
constexpr uint32_t store_open_attempts = 10;
constexpr uint32_t store_open_pause_ms = 20;

/// Attempts to start a child when the system failed its start-up before
/// any of its code ran (Windows only: Wine's CreateProcessW answers
/// ERROR_INTERNAL_ERROR now and then while many processes start at once;
/// the child was created suspended, so nothing ran), and the pause
/// between two: a few tries, well under a second in all.
constexpr uint32_t child_start_attempts = 3;
constexpr uint32_t child_start_pause_ms = 100;

/// How long finished, failed and cancelled records are kept (7 days),
/// unless the store's `retention` setting or `procman-runner --retention`
/// says otherwise.
constexpr uint64_t retention_ms = uint64_t{7} * 24 * 3600 * 1000;

// -- live output --------------------------------------------------------------

/// Bytes of live output (stdout and stderr of procman.exec commands) the
/// store keeps per process, the newest (1 MiB), unless the store's
/// `output-limit` setting or `procman-runner --output-limit` says
/// otherwise. 0 keeps none.
constexpr uint64_t output_limit = uint64_t{1} << 20;

/// Longest an executor holds live output back before it reports it, and
/// the most it puts into one report line (bytes of output, before JSON
/// escaping): a chatty command costs the runner at most one line per
/// this interval and stream switch, or per this many bytes.
constexpr uint32_t output_interval_ms = 100;
constexpr size_t output_line_bytes = size_t{64} << 10;

/// Longest the store service holds live output back when no transition
/// commits in the meantime, and how much it holds at most.
constexpr uint32_t output_commit_interval_ms = 100;
constexpr size_t output_commit_bytes = size_t{4} << 20;

/// Current on-disk schema. Log entries and records carry their own value
/// version (persistence/codec.hpp). Schema 2: queue keys carry the
/// priority, and the `delayed`, `keys` and `schedules` databases exist; a
/// store of schema 1 is upgraded when it is opened. Schema 3: the
/// `output` database (live output) and the settings in `meta` exist, and
/// a step's state may be `cancelled`, which older procman cannot read; a
/// store of schema 1 or 2 is upgraded when it is opened (nothing to
/// convert: the database starts empty and no setting is set). Schema 4:
/// the status index holds only running and interrupted records and the
/// log's last key is its last sequence number (`meta` "seq" is written
/// only when the log is trimmed), which older procman would misread; a
/// store of schema 1 to 3 is upgraded when it is opened. Schema 5: the
/// `counters` and `run_times` databases (what /metrics reports), which
/// every writer must keep up to date, so older procman may not write; a
/// store of schema 1 to 4 gets them built from its records when opened.
/// Schema 6: records of value version 3 (step times), which older procman
/// cannot read; older records are read as they are (without times).
constexpr uint32_t schema_version = 6;

/// Errors of failed attempts a record keeps (the latest ones).
constexpr size_t max_attempt_errors = 10;

/// A commit or a claim that failed for storage reasons (a full disk, an
/// I/O error) is tried again after this many milliseconds, doubling up to
/// the maximum: quick after a passing spike, one attempt per 5 s when it
/// lasts (lifecycle/recovery.hpp, storage_retry_delay).
constexpr uint32_t storage_retry_first_ms = 10;
constexpr uint32_t storage_retry_max_ms = 5000;

// -- nodes --------------------------------------------------------------------

/// Seconds of silence after which a store node declares a worker node lost
/// and ends the processes it held as node_lost (`procman-runner --lease`).
constexpr uint32_t lease_seconds = 10;

/// How many times per lease a worker node renews it.
constexpr uint32_t renewals_per_lease = 5;

// -- executor leases ----------------------------------------------------------

/// Seconds an executor outlives the last renewal of its lease by its runner
/// (`procman-runner --exec-lease`): a runner that is not scheduled for this
/// long (stopped, hung) finds its executors ended. Long enough that a busy
/// machine does not end healthy work; a stopped runner holds its locks, so
/// nothing takes its processes over meanwhile.
constexpr uint32_t exec_lease_seconds = 10;

/// How long an executor whose lease ran out may take to end its process
/// tree: its watchdog thread's wake-up on a loaded machine, and the kills.
/// A store node's executor lease plus this must stay below its --lease.
constexpr uint32_t exec_kill_ms = 1000;

/// A worker node reconnects after this many milliseconds, doubling up to
/// the maximum.
constexpr uint32_t reconnect_first_ms = 500;
constexpr uint32_t reconnect_max_ms = 10000;

// -- remote calls -------------------------------------------------------------

/// How long a remote client waits for its first attempt's answer before it
/// asks again on a new connection, doubling for each further attempt within
/// its timeout: a store node answers in milliseconds on loopback or a LAN,
/// and a busy one's commit well within this.
constexpr uint32_t remote_attempt_ms = 2000;

/// How long a store remembers the key of a client's request and the process
/// it touched, so that a repeat is answered instead of applied again: far
/// past a client's whole timeout (30 s by default).
constexpr uint64_t request_memory_ms = uint64_t{10} * 60 * 1000;

/// At most this many keys past their time are forgotten per commit that
/// remembers one (the rest at the next): the cost per commit stays small.
constexpr size_t request_forget_batch = 16;

/// Accepted connections of a published port get descriptor numbers that
/// cycle through the upper three quarters of the descriptor limit, at most
/// up to this number: a number comes back only after that many connections
/// (768 under a limit of 1024), long after CAF cleaned up the last one that
/// had it.
constexpr uint64_t accepted_fd_cycle_max = 65536;

/// A port logs the refused connections of one user once per this many
/// seconds.
constexpr uint32_t refusal_log_interval_s = 60;

// -- the runner's timers ------------------------------------------------------

/// How long a process actor holds `start` and step events that no
/// acknowledgement waits for before it commits them anyway, ms: a slow
/// step shows as started after this, a fast process commits once.
constexpr uint32_t hold_limit_ms = 20;

/// A runner claims ahead as many records as its slots start within this
/// many ms at the pace of its recent exits (at least `claim_ahead` per
/// slot, at most `claim_ahead_max`): fast processes then come in claims of
/// several that share one commit, and a record claimed ahead waits about
/// this long for a slot.
constexpr uint32_t claim_horizon_ms = 25;

/// The most records a runner claims ahead per slot when its processes end
/// fast: above what claim_horizon_ms gives at the pace of trivial
/// processes (about 19 per slot at 1,500/s over two), so the horizon sizes
/// their claims; it bounds one claim's transaction, and what goes back to
/// the queue after a crash, when processes end in microseconds.
constexpr uint32_t claim_ahead_max = 32;

/// The most empty executor cgroups a runner keeps for its next executors
/// (the rest are removed): more than a runner's slots need at once.
constexpr size_t spare_cgroups_max = 64;

/// While claims or commits keep failing, one log line per this many
/// seconds at most: the log shows the failure without filling the disk
/// that is full already.
constexpr uint32_t failure_log_interval_s = 5;

/// How often active processes re-read their records (a cancel requested by
/// another OS process) and a worker node's supervisor looks for work, ms:
/// a cancel takes effect within this.
constexpr uint32_t record_check_interval_ms = 1000;

/// How often a runner with --wait looks for processes of runners that
/// died, s: a dead runner's lock is free at once, but recovery reads every
/// running record, so not more often.
constexpr uint32_t recover_interval_s = 60;

/// How long `procman-exec --check` may take at start-up on a loaded
/// machine, s.
constexpr uint32_t executor_check_timeout_s = 60;

// -- children -----------------------------------------------------------------

/// Bytes of an executor's stderr kept for the error of a process that
/// failed without a result: the end of a stack trace or a panic.
constexpr size_t stderr_tail_bytes = 4096;

/// How long the fork server may take to say hello or to answer a request
/// on a loaded machine before it counts as gone, ms; and, meanwhile, how
/// often to look whether it is stopped (SIGSTOP, a debugger), ms.
constexpr int fork_server_answer_timeout_ms = 30000;
constexpr int fork_server_stopped_check_ms = 100;

/// A fork server that died is started again at most once per this, ms.
constexpr uint32_t fork_server_restart_ms = 1000;

/// After an executor was killed, its orphans are looked for again every
/// this many ms (until they are gone), and every 5 s in any case for
/// orphans that came some other way (`orphan_sweep_s`).
constexpr uint32_t orphan_resweep_ms = 250;
constexpr uint32_t orphan_sweep_s = 5;

/// How often the child service polls for an exit or an empty cgroup that
/// has no event of its own, ms: short, since a slot waits for it.
constexpr uint32_t child_poll_ms = 5;

/// How long the child service reads an exited executor's stdout further
/// (a grandchild that inherited it), ms.
constexpr uint32_t stdout_drain_ms = 1000;

/// How long the child service leaves the report channel and stderr of an
/// executor that has no stdin open (a run without acknowledgements or
/// lease) unread, ms: one that ends sooner is read once at its exit, and
/// wakes the runner once instead of once per report line. Below
/// `hold_limit_ms`, so a slow step shows as started no later than before.
constexpr uint32_t reports_unwatched_ms = 10;

/// Entries of the table of processes one kill of a process tree handles
/// (children/process_tree.cpp): its memory is fixed, as it runs after
/// fork.
constexpr size_t kill_tree_table_size = 4096;

// -- the executor -------------------------------------------------------------

/// Least time between two progress reports of an executor, ms: a step
/// that reports in a tight loop costs the runner at most 20 lines a second.
constexpr uint32_t progress_interval_ms = 50;

/// Largest input an executor reads (its work, with the spec's data and
/// each step's args): 1 GiB, far past what a user's JSON is.
constexpr size_t max_executor_input_bytes = size_t{1} << 30;

/// Frames of a stack trace a step's exception records.
constexpr size_t max_stack_frames = 128;

// -- nodes' timers ------------------------------------------------------------

/// How often a store node's work endpoint looks at its leases, ms: a lease
/// is declared lost within this of its end.
constexpr uint32_t endpoint_tick_ms = 250;

/// How long a leaving worker node waits for the store node's answer, s.
constexpr uint32_t leave_timeout_s = 10;

/// How often a node tells its peers that it lives (CAF's
/// `middleman.heartbeat-interval`), s: well within a lease.
constexpr uint32_t heartbeat_interval_s = 1;

// -- the HTTP API (docs/http.md) ----------------------------------------------

/// Largest request body (`--http-max-body`): a spec with its data is a few
/// kB; 1 MiB leaves room for large data without letting one client fill
/// memory.
constexpr uint64_t http_max_body = uint64_t{1} << 20;

/// Largest request line and headers, bytes: beyond any browser's or curl's.
constexpr uint32_t http_max_header = 16 * 1024;

/// How long a request's line and headers may take to arrive, ms: a slow
/// sender (slowloris) holds a connection no longer than this.
constexpr uint32_t http_header_timeout_ms = 10'000;

/// How long a kept-alive connection may wait for its next request, or a
/// body take to arrive, ms.
constexpr uint32_t http_idle_timeout_ms = 60'000;

/// Connections served at once; more are closed at accept, so that no
/// number of clients exhausts the server's descriptors.
constexpr uint32_t http_max_connections = 256;
/// Threads that carry out the HTTP server's changes (POST, DELETE) off its
/// I/O thread: so many starts at once share one commit, and a cancel that
/// waits for its runner holds one of them, not the server.
constexpr uint32_t http_write_threads = 64;

/// How often the server reads what is new for its server-sent event
/// streams (one read of the message log for every /events subscriber
/// together, one output read per logs follower), ms: within a tenth of a
/// second of the commit, at 20 reads a second however many subscribe.
constexpr uint32_t http_stream_poll_ms = 50;

/// A server-sent event stream with nothing to say writes a comment line
/// this often, ms: proxies and load balancers close connections idle for
/// 30 to 60 s, and a client gone away is noticed at the next write.
constexpr uint32_t http_sse_heartbeat_ms = 15'000;

/// The `retry:` a server-sent event stream gives its clients, ms: how long
/// an EventSource waits before reconnecting (with Last-Event-ID).
constexpr uint32_t http_sse_retry_ms = 2'000;

/// Message log entries the server keeps for its /events subscribers, so
/// that one read serves them all: ten seconds at 1,000 transitions a
/// second. A subscriber further behind reads the log itself until it
/// catches up.
constexpr uint32_t http_events_kept = 10'000;

/// Entries of the message log per read for /events (the shared read and
/// each catch-up read), so that one read does not hold the server's
/// thread long.
constexpr uint32_t http_events_batch = 1'000;
/// The upper bounds of the duration histograms of /metrics (milliseconds;
/// +Inf implied): from a claim within a millisecond to runs of an hour.
/// The store keeps each bucket under its bound: a new bound starts a new
/// bucket (persistence/counters.hpp).
constexpr uint64_t metrics_ms_buckets[]
  = {1,    5,    10,    25,    50,    100,    250,    500,    1000,
     2500, 5000, 10000, 30000, 60000, 300000, 900000, 3600000};

/// The same for commit latencies (microseconds): an fsync of 0.1 ms to 1 s.
constexpr uint64_t metrics_us_buckets[] = {100,   250,    500,    1000,
                                           2500,  5000,   10000,  25000,
                                           50000, 100000, 250000, 1000000};

/// Commit latencies one OS process keeps until its next commit counts
/// them (a process that stops committing keeps no more).
constexpr size_t metrics_pending_latencies = 4096;

} // namespace procman::defaults
