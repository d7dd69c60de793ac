// A blocking client of a store, without an actor system: what the CLI uses,
// and what a host uses that only enqueues work for a separate
// procman-runner. Safe to use from several OS processes at once.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "procman/messages/error.hpp"
#include "procman/messages/types.hpp"

namespace procman {

class store;

class client {
public:
  /// Opens the store in `dir` (created if needed).
  static caf::expected<client> open(const std::string& dir);

  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  ~client();

  /// Enqueues a process; returns its pid. Errors: invalid_spec. A spec
  /// with a unique key held by a queued, running or interrupted process
  /// returns that process's pid instead (see `submit`).
  caf::expected<std::string> start(const process_spec& spec);

  /// What `submit` did: the pid, and whether it is of a process that held
  /// the spec's unique key already (nothing was enqueued).
  struct submitted {
    std::string pid;
    bool existing = false;
  };

  /// `start`, saying whether the key's holder was returned.
  caf::expected<submitted> submit(const process_spec& spec);

  /// Queues an errored process again (`procman retry`); it resumes at its
  /// first step that did not complete. Errors: unknown_process,
  /// illegal_transition (not in error, or its key is held by another).
  caf::expected<process_record> retry(const std::string& pid);

  /// Adds or replaces a recurring schedule; returns it with its next due
  /// time. Errors: invalid_argument (name, cron), invalid_spec.
  caf::expected<schedule_record> add_schedule(const std::string& name,
                                              const std::string& cron,
                                              const process_spec& spec);

  /// Removes a schedule; returns it as it was. Errors: unknown_schedule.
  caf::expected<schedule_record> remove_schedule(const std::string& name);

  /// Every schedule, by name.
  caf::expected<std::vector<schedule_record>> schedules();

  /// The record of `pid`. Errors: unknown_process ("no process <pid>").
  caf::expected<process_record> info(const std::string& pid);

  /// Merges `data_json` (an object) over the interrupted output and queues
  /// the rest; returns the same pid. Errors: unknown_process,
  /// not_interrupted, invalid_json.
  caf::expected<std::string> proceed(const std::string& pid,
                                     const std::string& data_json);

  /// Cancels: queued or interrupted at once; running: asks its runner to
  /// kill the child and waits up to `wait_for` for it (a dead runner's
  /// process is cancelled directly). Returns the record after.
  caf::expected<process_record>
  cancel(const std::string& pid,
         std::chrono::milliseconds wait_for = std::chrono::seconds(10));

  caf::expected<std::vector<process_record>> list(const list_query& q);

  /// The live output of `pid` kept after chunk `after` (0: all) and the
  /// process's status, read together (store::read_output). Errors:
  /// unknown_process.
  caf::expected<output_log> output(const std::string& pid, uint64_t after = 0);

  /// Calls `on_output` with each new piece of `pid`'s live output, in
  /// order, until the process is finished, error, cancelled or interrupted
  /// (as `wait`), polling the store every `poll`; `on_dropped` hears of
  /// output dropped before it was read (the store's output limit). Returns
  /// the process's last output log (its status tells how it ended).
  caf::expected<output_log>
  follow_output(const std::string& pid,
                const std::function<void(const output_chunk&)>& on_output,
                const std::function<void(uint64_t bytes)>& on_dropped = {},
                std::chrono::milliseconds poll = std::chrono::milliseconds(100));

  /// Removes finished, failed and cancelled processes that ended more than
  /// `older_than_ms` ago, with their output, and log entries older than
  /// the retention period; returns how many processes it removed.
  caf::expected<size_t> purge(uint64_t older_than_ms);

  /// Whether a runner (waiting or not) serves this store now.
  bool runner_present();

  /// Polls until the process is finished, error, cancelled or interrupted,
  /// calling `on_change` whenever its record changes; gives up after
  /// `timeout` (0 = never) with errc::timeout.
  caf::expected<process_record>
  wait(const std::string& pid, std::chrono::milliseconds timeout,
       const std::function<void(const process_record&)>& on_change = {});

  procman::store& db();

private:
  explicit client(std::unique_ptr<procman::store> db);
  std::unique_ptr<procman::store> db_;
};

/// The loop of client::follow_output over `read` (a process's output log
/// after a chunk, and its status): also what remote_client follows with.
caf::expected<output_log> follow_output_by(
  const std::function<caf::expected<output_log>(uint64_t after)>& read,
  const std::function<void(const output_chunk&)>& on_output,
  const std::function<void(uint64_t bytes)>& on_dropped,
  std::chrono::milliseconds poll);

/// The loop of client::wait over `read` (a process's record), polling
/// every `poll`: also what remote_client waits with.
caf::expected<process_record> wait_by(
  const std::function<caf::expected<process_record>()>& read,
  const std::string& pid, std::chrono::milliseconds timeout,
  const std::function<void(const process_record&)>& on_change,
  std::chrono::milliseconds poll);

} // namespace procman
