// procman-bench: shared declarations of the benchmark's parts.
//
//   main.cpp      options, child modes, the order of the sections, output
//   util.cpp      spawning, timing, /proc readers, statistics, machine facts
//   sections.cpp  the measurements
//
// Every figure goes into a `report`: rows for the table and a JSON object
// for --json. Targets from issue 5 are attached to the rows they judge.

#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <sys/types.h>

#include "procman/door/door.hpp"
#include "procman/persistence/store.hpp"

namespace procman::bench {

namespace json = boost::json;

/// The value of `x`; throws std::runtime_error naming `what` otherwise.
template <class T>
T get_or_throw(outcome<T> x, const std::string& what) {
  if (!x)
    throw std::runtime_error(what + ": " + render(x.error()));
  return std::move(*x);
}

/// A store directory through the front door's local backend, and the
/// store itself for what only a benchmark reads (stats, the log).
class client {
public:
  static outcome<client> open(const std::string& dir) {
    store_options so;
    so.dir = dir;
    so.default_timeout = 0; // the runner's default applies
    auto db = procman::store::open(so);
    if (!db)
      return db.error();
    std::shared_ptr<procman::store> shared = std::move(*db);
    return client{shared, door::on(shared)};
  }
  outcome<std::string> start(const process_spec& spec) {
    return door_.start(spec);
  }
  outcome<process_record> info(const std::string& pid) {
    return door_.info(pid);
  }
  outcome<std::vector<process_record>> list(const list_query& q) {
    return door_.call(list_request{q});
  }
  outcome<process_record> cancel(const std::string& pid) {
    return door_.cancel(pid);
  }
  outcome<schedule_record> add_schedule(const std::string& name,
                                        const std::string& cron,
                                        const process_spec& spec) {
    return door_.call(schedule_add_request{name, cron, spec});
  }
  outcome<schedule_record> remove_schedule(const std::string& name) {
    return door_.call(schedule_remove_request{name});
  }
  outcome<store_metrics> metrics() { return door_.call(metrics_request{}); }
  procman::store& db() { return *db_; }

private:
  client(std::shared_ptr<procman::store> db, door d)
    : db_(std::move(db)), door_(std::move(d)) {
    // nop
  }
  std::shared_ptr<procman::store> db_;
  door door_;
};

// -- options ------------------------------------------------------------------

struct options {
  bool quick = false;
  bool json_out = false;
  bool keep = false;
  std::string bin_dir;         ///< procman, procman-runner, procman-exec
  std::string work_dir;        ///< scratch stores; removed unless --keep
  std::string self;            ///< this program, for child modes
  uint32_t parallel = 0;       ///< P: children at once (0 = cores)
  uint64_t raw_n = 2000;       ///< spawns per raw-limit measurement
  uint64_t engine_n = 10000;   ///< processes through the runner (and replay)
  uint64_t latency_n = 300;    ///< processes one at a time, idle runner
  uint64_t big = 1000000;      ///< processes in the big store
  uint64_t small = 10000;      ///< queued in the small store (claim cost)
  uint64_t claims = 300;       ///< claims per store
  uint64_t enqueue_one = 1000; ///< one-at-a-time enqueues into the big store
  uint64_t enqueue_batched = 50000; ///< batched enqueues (in batches of 1000)
  uint64_t status_cli = 200;        ///< `procman status` commands
  double status_seconds = 1.0;      ///< per in-process look-up loop
  uint64_t timeouts = 5;            ///< timed-out processes
  uint64_t waits = 5;               ///< runs per figure of section "waits"
  double rss_seconds = 3.0;         ///< runner on the big store
  std::vector<std::string> only;    ///< sections to run; empty = all
  std::vector<std::string> runner_args; ///< extra arguments for engine runners

  bool wants(const std::string& section) const;
};

// -- report -------------------------------------------------------------------

struct row {
  std::string section;
  std::string metric;
  std::string value;
  std::string target; ///< "" when none
  int met = -1;       ///< -1 no target, 0 missed, 1 met
};

struct report {
  json::object machine;
  json::object config;
  std::map<std::string, json::object> results; ///< section -> figures
  std::vector<row> rows;

  json::object& section(const std::string& name);
  void add(const std::string& section, const std::string& metric,
           const std::string& value, const std::string& target = {},
           int met = -1);
  void print_table(std::FILE* out) const;
  json::object to_json() const;
};

// -- time ---------------------------------------------------------------------

using clock = std::chrono::steady_clock;

/// Steady clock in µs (for durations).
double now_us();

/// Wall clock in µs since the epoch (comparable with the store's ms times).
uint64_t wall_us();

double seconds_since(clock::time_point t0);

// -- numbers ------------------------------------------------------------------

/// Nearest-rank percentile of `xs` (sorted in place), q in [0, 1].
double percentile(std::vector<double>& xs, double q);
double mean(const std::vector<double>& xs);

/// "1,234" / "1.23" / "12.3" formatting for the table.
std::string fmt_int(double x);
std::string fmt(double x, int decimals);
std::string fmt_rate(double per_second); ///< "1,234/s"
std::string fmt_us(double us);           ///< "850 µs" or "1.23 ms"
std::string fmt_mib(double kib);         ///< "12.3 MiB"

// -- OS processes -------------------------------------------------------------

/// posix_spawn with the given descriptors (-1: /dev/null) and extra
/// NAME=VALUE entries in the environment. Throws std::runtime_error.
pid_t spawn(const std::vector<std::string>& argv, int in_fd, int out_fd,
            int err_fd, const std::vector<std::string>& env = {});

/// waitpid; returns the exit code, or 128 + signal.
int wait_exit(pid_t pid);

/// Waits up to `seconds`; the exit code, or nullopt if it still runs.
std::optional<int> wait_exit_for(pid_t pid, double seconds);

struct captured {
  int code = -1;
  std::string out;
};

/// Runs a program to its end with stdout captured; stderr goes to
/// `err_path` (default /dev/null).
captured run_capture(const std::vector<std::string>& argv,
                     const std::string& err_path = {});

/// A field of /proc/<pid>/status in KiB (VmRSS, VmHWM); -1 if unreadable.
long proc_status_kib(pid_t pid, const char* field);

/// Whether `pid` exists and is not a zombie.
bool alive(pid_t pid);

/// Children of `pid` (from /proc/*/stat).
std::vector<pid_t> children_of(pid_t pid);

// -- runners ------------------------------------------------------------------

/// A procman-runner in the background with its stderr in a log file
/// (`store` empty: no --store, for a worker node; `env`: NAME=VALUE
/// entries added to its environment).
class runner_proc {
public:
  runner_proc(const options& o, const std::string& store,
              const std::vector<std::string>& extra,
              const std::string& log_path,
              const std::vector<std::string>& env = {});
  ~runner_proc();
  runner_proc(const runner_proc&) = delete;
  runner_proc& operator=(const runner_proc&) = delete;

  pid_t pid() const { return pid_; }

  /// With --wait: blocks until the doorbell socket exists (runner ready).
  void await_ready(const std::string& store);

  long rss_kib() const { return proc_status_kib(pid_, "VmRSS"); }
  long hwm_kib() const { return proc_status_kib(pid_, "VmHWM"); }

  /// SIGTERM, then wait (SIGKILL after `seconds`). Returns the exit code.
  int stop(double seconds = 30);

private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// -- waiting for another process's commits ------------------------------------

/// The pause between two reads of a record that another OS process
/// changes: 100 µs. Reading the record costs a few µs, so a change is seen
/// within about 100 µs (50 µs late on average). Waking on inotify events
/// of the store's data file instead was tried: every pwrite of the runner
/// then wakes the client, and on a 2-core machine that slowed the runner
/// down (enqueue -> finished p50 7.8 ms against 4.2 ms when polling).
void poll_pause();

// -- machine ------------------------------------------------------------------

json::object machine_facts();

/// /proc/pressure/io "some" avg60, e.g. "3.21%".
std::string io_pressure();

/// /proc/loadavg's three figures.
std::string load_average();

/// Removes a directory tree; ignores errors.
void remove_tree(const std::string& dir);

/// Bytes used by the files directly in `dir`.
uint64_t dir_bytes(const std::string& dir);

// -- specs --------------------------------------------------------------------

/// The trivial one-step process: procman.set.
extern const char* trivial_spec;

/// The executor's input for the trivial process, as the supervisor writes it.
std::string trivial_exec_input(const std::string& pid);

// -- the disk -----------------------------------------------------------------

struct lmdb_floor {
  double commit_p50_us = 0; ///< one small put per durable commit
  double commits_per_s = 0;
  double puts_per_s = 0; ///< 100 small puts per durable commit
};

/// Plain LMDB in `dir` (created), durable commits: what this machine's
/// disk allows before procman does anything.
lmdb_floor measure_lmdb_floor(const std::string& dir, bool quick);

// -- sections (sections.cpp) --------------------------------------------------

void run_raw_and_engine(const options& o, report& r);
void run_latency_status_timeout(const options& o, report& r);
void run_store(const options& o, report& r);
void run_replay(const options& o, report& r);
void run_nodes(const options& o, report& r);
void run_waits(const options& o, report& r);
/// procman web and procman-runner --http beside nginx, with wrk.
void run_http(const options& o, report& r);

/// Fills `dir` (removed first) with `n` queued trivial processes, 10,000
/// per commit, without fsync; returns the enqueues per second.
double build_store(const std::string& dir, uint64_t n);
void run_metrics(const options& o, report& r); // metrics.cpp

// -- child modes (main.cpp dispatches) ----------------------------------------

/// `procman-bench fill --store D --n N`: build_store, for a test that needs
/// a big store (the dashboard's); prints {"n", "per_s"}.
int child_fill(int argc, char** argv);

/// `procman-bench enqueue --store D --n N [--batch B]`: enqueues N trivial
/// processes through procman::client (one durable commit each, or B per
/// commit), prints {"t0_us", "t1_us", "first", "last"}.
int child_enqueue(int argc, char** argv);

/// `procman-bench claims --small D --big D --n K [--no-sync]`: claims one
/// process at a time from each store in turn, prints the times.
int child_claims(int argc, char** argv);

} // namespace procman::bench
