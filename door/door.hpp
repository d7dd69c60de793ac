// The front door: one C++ API for every user operation, whatever answers
// it. A request (messages/requests.hpp) goes to a backend:
//
//   - local (`door::open(dir)`): the handlers (door/handlers.hpp) run here,
//     on the store directory, with no actor system: the CLI, and hosts that
//     only enqueue work for a separate procman-runner. Safe to use from
//     several OS processes at once.
//   - remote (`connect_door`, door/remote_backend.hpp): the same request
//     goes to a store node's manager over CAF's middleman, whose store
//     actor runs the same handler: `procman --connect`, hosts that reach a
//     remote store.
//   - in-process (`door_of_manager`, door/manager_backend.hpp): the manager
//     of an engine running in this process.
//
//   auto d = procman::door::open("/var/lib/myapp/procman");
//   if (!d) ... render(d.error()) ...
//   auto pid = d->start(spec);
//   auto rec = d->wait(*pid, std::chrono::minutes(5));
//   auto recs = d->call(procman::list_request{});
//
// What a user waits for (wait, logs --follow, a cancel's confirmation) is a
// loop of requests here, the same for every backend.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "procman/messages/failure.hpp"
#include "procman/messages/requests.hpp"
#include "procman/messages/types.hpp"

namespace procman {

class store;

/// What answers the front door's requests.
class door_backend {
public:
  virtual ~door_backend() = default;

#define PROCMAN_DOOR_CALL(R) virtual outcome<R::reply> call(R r) = 0;
  PROCMAN_DOOR_REQUESTS(PROCMAN_DOOR_CALL)
#undef PROCMAN_DOOR_CALL

  /// The pause between two reads of a loop (wait, follow, cancel).
  virtual std::chrono::milliseconds poll() const = 0;

  /// The store of a local backend (null for others).
  virtual procman::store* local_store() {
    return nullptr;
  }
};

class door {
public:
  /// The local backend on the store in `dir` (created if needed).
  static outcome<door> open(const std::string& dir);

  /// The local backend on a store opened here already (which it shares).
  static door on(std::shared_ptr<procman::store> db);

  explicit door(std::unique_ptr<door_backend> backend);
  door(door&&) noexcept;
  door& operator=(door&&) noexcept;
  ~door();

  /// Carries out one request.
  template <class Request>
  outcome<typename Request::reply> call(Request r) {
    return backend_->call(std::move(r));
  }

  /// What `submit` did: the pid, and whether it is of a process that held
  /// the spec's unique key already (nothing was enqueued).
  struct submitted {
    std::string pid;
    bool existing = false;
  };

  /// Enqueues under a pid chosen here, so that a key's holder shows.
  outcome<submitted> submit(process_spec spec);

  /// `submit`'s pid.
  outcome<std::string> start(process_spec spec);

  /// The record of `pid`. Errors: unknown_process ("no process <pid>").
  outcome<process_record> info(const std::string& pid);

  /// Cancels, and waits up to `wait_for` while a running process's runner
  /// kills its child and records the cancel. Returns the record after
  /// (still `running` when the runner has not confirmed it in time).
  outcome<process_record>
  cancel(const std::string& pid,
         std::chrono::milliseconds wait_for = std::chrono::seconds(10));

  /// Reads until the process is finished, error, cancelled or interrupted,
  /// calling `on_change` whenever its record changes; gives up after
  /// `timeout` (0 = never) with errc::timeout.
  outcome<process_record>
  wait(const std::string& pid, std::chrono::milliseconds timeout,
       const std::function<void(const process_record&)>& on_change = {});

  /// Calls `on_output` with each new piece of `pid`'s live output, in
  /// order, until the process settles (as `wait`); `on_dropped` hears of
  /// output dropped before it was read (the store's output limit).
  /// Returns the process's last output log (its status tells how it
  /// ended).
  outcome<output_log>
  follow_output(const std::string& pid,
                const std::function<void(const output_chunk&)>& on_output,
                const std::function<void(uint64_t bytes)>& on_dropped = {});

  /// The store directory of a local door (empty for others).
  std::string store_dir() const;

  /// The store of a local door (null for others): for what no user
  /// operation reads (the log of one process, statistics), in tests and
  /// benchmarks.
  procman::store* local_store();

private:
  std::unique_ptr<door_backend> backend_;
};

} // namespace procman
