// The store node's gate: what `procman-runner --listen` publishes. It
// answers the manager's messages by handing them to the manager, and serves
// worker nodes: joins and leases, claims, the transitions of the processes
// they run, cancels and wakeups pushed to them (docs/distribution.md).

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "procman/messages/actors.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/types.hpp"
#include "procman/persistence/file_lock.hpp"

namespace procman {

// clang-format off
/// The gate's own type: what it publishes, and its timers.
using work_endpoint_gate = node_gate_actor::extend<
  /// Internal: look for leases that ran out (4 times a second).
  caf::reacts_to<caf::tick_atom>,
  /// Internal: tell every worker that work may be queued.
  caf::reacts_to<atom::wakeup>,
  /// Internal: after a restart, end what leases of the last run held once
  /// they ran out (through the store's recovery).
  caf::reacts_to<atom::recover>>;
// clang-format on

struct endpoint_options {
  std::string store_dir; ///< where the lease lock files go (runners/)
  uint32_t lease_ms = defaults::lease_seconds * 1000;
  /// The lease of worker nodes' executors (lease_grant::exec_lease_ms);
  /// 0: node_exec_lease's default. Checked by node_exec_lease.
  uint32_t exec_lease_ms = 0;
  uint32_t default_timeout = defaults::process_timeout; ///< for the grants
  bool output_events = true; ///< for the grants: the store keeps output
  /// A fault for tests ($PROCMAN_FAULT_DROP_FIRST_ANSWER): a request under
  /// a key the gate has not seen is carried out but not answered, as if the
  /// answer were lost; its repeat is answered.
  bool drop_first_answers = false;
};

/// One worker node's lease.
struct node_lease {
  std::string holder;
  node_hello hello;
  node_link_actor link;
  std::chrono::steady_clock::time_point last_heard;
  /// Processes claimed under this lease and not yet out of `running`.
  std::unordered_set<std::string> held;
  /// Claims and transitions of this lease that the store has not answered.
  uint32_t in_flight = 0;
  /// runners/<holder>.lock, renewed at each heartbeat.
  std::shared_ptr<file_lock> lock;
  /// Its connection closed: lost once its executors have surely ended.
  bool closed = false;
  bool lost = false;   ///< refused from now on; its processes are being ended
  bool ending = false; ///< the processes it held are being ended
  std::string why;     ///< why it was lost
};

struct work_endpoint_state {
  static inline const char* name = "work-endpoint";
  endpoint_options opts;
  manager_actor manager;
  store_actor store;
  /// The store node's own supervisor: woken with the workers.
  supervisor_actor local;
  /// Every lease by holder, live or being ended.
  std::unordered_map<std::string, node_lease> leases;
  bool wake_scheduled = false;
  /// With opts.drop_first_answers: the request keys seen.
  std::unordered_set<std::string> keys_seen;

  /// Whether the answer to the request under `key` is to be dropped (the
  /// test fault).
  bool drop_answer(const std::string& key);

  /// The live lease of `holder` (not lost, its connection open), null if
  /// it has none.
  node_lease* live(const std::string& holder);

  /// Refuses everything of `holder` from now on and ends the processes it
  /// holds as node_lost once the store has answered what is in flight.
  void lose(work_endpoint_gate::stateful_pointer<work_endpoint_state> self,
            const std::string& holder, const std::string& why);

  /// Goes on with a lost lease when nothing of it is in flight.
  void settle(work_endpoint_gate::stateful_pointer<work_endpoint_state> self,
              const std::string& holder);

  void wake(work_endpoint_gate::stateful_pointer<work_endpoint_state> self);
};

work_endpoint_gate::behavior_type
work_endpoint(work_endpoint_gate::stateful_pointer<work_endpoint_state> self,
              endpoint_options opts, manager_actor manager, store_actor store,
              supervisor_actor local);

/// The lease a store node with the node lease `lease_ms` (`--lease`) grants
/// its workers' executors: `exec_lease_ms` (`--exec-lease`; 0: half the
/// lease, at most defaults::exec_lease_seconds). An executor of a worker
/// ends itself that long after the last renewal the store node confirmed,
/// and needs up to defaults::exec_kill_ms more to be gone: that must end
/// before the store node may declare the node lost and run its processes
/// again, and the executors must live through two renewals. Errors:
/// invalid_argument naming both options and what would fit.
caf::expected<uint32_t> node_exec_lease(uint32_t lease_ms,
                                        uint32_t exec_lease_ms);

/// The error that refuses a request under a lease that is not current.
caf::error lease_not_current(const std::string& holder, const std::string& why);

} // namespace procman
