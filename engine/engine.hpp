// Embedding procman in a host program.
//
// Two ways:
//  - `engine`: run the engine inside the host's own actor system. The host
//    sends `manager()` the front door's requests (messages/requests.hpp:
//    start, status, proceed, cancel, list, ...) and subscribes; children
//    run as with procman-runner.
//      // cfg.add_message_types<caf::id_block::procman>() first:
//      caf::actor_system sys{cfg};
//      auto eng = procman::engine::start(sys, {.store_dir = "/var/lib/x"});
//      caf::scoped_actor self{sys};
//      self->request((*eng)->manager(), caf::infinite,
//                    procman::start_request{spec, {}, {}})
//        .receive([](const std::string& pid) { ... }, [](caf::error&) { ... });
//    or, blocking: `procman::door_of_manager(sys, (*eng)->manager())`
//    (door/remote_backend.hpp).
//  - `door::open(dir)` (door/door.hpp): no actor system; enqueue into and
//    read a store that a separate procman-runner serves.

#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>

#include "procman/messages/actors.hpp"
#include "procman/messages/defaults.hpp"

namespace procman {

struct engine_options {
  std::string store_dir;
  /// procman-exec; default: next to the running program, else $PATH.
  std::string exec_path;
  /// Children at once; 0 = the number of cores.
  uint32_t parallel = defaults::parallel;
  /// Stop after this many processes; 0 = no limit.
  uint64_t max_processes = 0;
  /// Keep running when the queue is empty, hold the store's --wait lock and
  /// serve its doorbell (work enqueued by other OS processes starts at once).
  bool wait = true;
  std::string script_args;
  std::string step_libs;
  /// Seconds for processes whose spec gives no timeout.
  uint32_t default_timeout = defaults::process_timeout;
  /// On drain, seconds running children get before they are killed.
  uint32_t grace_seconds = defaults::grace_seconds;
  /// How long terminal records are kept, ms (`procman-runner
  /// --retention`); 0: the store's `retention` setting, else 7 days.
  uint64_t retention_ms = 0;
  /// Bytes of live output kept per process (`procman-runner
  /// --output-limit`; 0 keeps none and executors report none); none: the
  /// store's `output-limit` setting, else 1 MiB.
  std::optional<uint64_t> output_limit;
  /// Commit without fsync (tests, benchmarks).
  bool no_sync = false;
  /// When commits have failed in a row for this long (a full disk), ms:
  /// stop at once as if stopped twice (executors killed, nothing more
  /// started), keep this runner's started marks for the next runner, and
  /// say why in `failure()`. 0: retry until commits succeed or the engine
  /// is stopped (`procman-runner --give-up-after`; its default without
  /// --wait is `defaults::give_up_after_ms`).
  uint64_t give_up_after_ms = 0;
  /// How what executors start is kept from outliving them
  /// (docs/architecture.md, "Containment"): "auto" puts each executor in a
  /// cgroup v2 of its own where this process may create one, else falls
  /// back to "subreaper" (executors kill their process trees); "cgroup"
  /// refuses to start without cgroup v2. Empty: $PROCMAN_CONTAINMENT, else
  /// "auto".
  std::string containment;
  /// How executors start (docs/architecture.md, "Executors"): "fork" (a
  /// fork server, `procman-exec --serve`, started once with the step
  /// libraries, forks one child per process) or "spawn" (posix_spawn of
  /// procman-exec per process). Empty: $PROCMAN_EXECUTOR, else "fork".
  /// Where the fork server cannot start, "fork" logs why and spawns.
  std::string executor;
  /// Whether this engine runs processes itself. A store node that only
  /// serves worker nodes (`procman-runner --listen ... --parallel 0`)
  /// claims nothing here.
  bool local_work = true;
  /// Executor leases (docs/protocol.md, "Leases"): an executor kills
  /// itself with all it started when this engine has not renewed its
  /// lease for this long (it is stopped, or not scheduled), and the
  /// process ends as runner_lost (`procman-runner --exec-lease`). A worker
  /// node's executors take the lease its store node grants instead. 0 is
  /// refused (invalid_argument).
  uint32_t exec_lease_ms = defaults::exec_lease_seconds * 1000;
  /// Makes this OS process a child subreaper and kills every orphan of an
  /// executor's tree that is re-parented to it. Only for a program whose
  /// children are all executors (procman-runner): a host with children of
  /// its own leaves it off.
  bool reap_orphans = false;
};

class engine {
public:
  /// Checks the executor (an executable file that answers `--check` after
  /// loading the step libraries), sets up the containment of executors
  /// (and logs which), opens the store, takes the locks, ends processes
  /// that dead runners left running, and starts the actors.
  /// Errors: spawn_failure (the executor is missing, not executable, or
  /// its check failed: the message names the path and the reason; the
  /// store is not touched), store_*, runner_busy (with `wait`, when
  /// another waiting runner holds the store), invalid_argument (an unknown
  /// containment or executor, "cgroup" where cgroup v2 is not usable, an
  /// exec_lease_ms of 0).
  static caf::expected<std::unique_ptr<engine>> start(caf::actor_system& sys,
                                                      engine_options opts);

  /// Kills remaining children (recording them) and stops the actors.
  ~engine();

  manager_actor manager() const;
  supervisor_actor supervisor() const;
  store_actor store() const;
  const std::string& runner_id() const;
  const engine_options& options() const;

  /// Whether executors report live output (the store keeps some: its
  /// output limit was above 0 when the engine started).
  bool output_events() const;

  /// Stops claiming; running children get the grace period. Thread-safe.
  void drain();

  /// Blocks until the supervisor is done (queue empty without `wait`,
  /// --max-processes reached, drained, or given up).
  void await();

  /// Why the engine stopped on its own, if it did: storage_failure when
  /// commits failed for longer than `give_up_after_ms` (the message names
  /// the store, the failure and how long). Thread-safe.
  caf::error failure() const;

private:
  struct impl;
  explicit engine(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

class child_service;

/// What `engine::start` does first, for a program that runs executors
/// without a store (a worker node, docs/distribution.md): resolves
/// `opts.exec_path` (default_exec_path() when empty) in place, sets up the
/// containment of executors (`opts.containment`, `opts.reap_orphans`; it
/// logs which), checks the executor with `--check` and `opts.step_libs`,
/// gives executors leases of `opts.exec_lease_ms` when it can hold them (it
/// says "lease"; else it logs that it cannot) and starts its fork server
/// (`opts.executor`; it logs which mode).
/// Errors: as engine::start's before it opens the store.
caf::expected<std::shared_ptr<child_service>>
start_executors(engine_options& opts);

/// Path of procman-exec: `$PROCMAN_EXEC`, else beside /proc/self/exe, else
/// in the directory CMake compiled into a program linking procman::procman
/// (the installed bin/, or the build tree's for add_subdirectory), else
/// "procman-exec" (looked up in $PATH).
std::string default_exec_path();

} // namespace procman
