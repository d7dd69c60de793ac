// A worker node: runs processes of a store on another machine, without the
// store (`procman-runner --join HOST:PORT`, docs/distribution.md).
//
//   caf::actor_system_config cfg;
//   cfg.add_message_types<caf::id_block::procman>();
//   procman::configure_remote(cfg, tls);          // TLS unless on loopback
//   procman::set_connection_timeout(cfg, std::chrono::seconds(10));
//   caf::actor_system sys{cfg};
//   procman::worker_options opts;
//   opts.host = "store1.example"; opts.port = 4000; opts.exec.parallel = 8;
//   auto node = procman::worker_node::start(sys, opts);
//   (*node)->await();                             // until drain()
//
// It joins the store node's work endpoint and gets a lease, which it renews;
// its supervisor and process actors are a runner's, with a store and a
// queue (distribution/remote_store.hpp) that send every claim, read and
// transition to the endpoint under the lease. Its executors hold leases
// of their own that only the renewals the store node confirms extend
// (lease_grant::exec_lease_ms): they end themselves before the store node
// can declare the node lost, even while this process is stopped or cut
// off. When it loses the store node (the connection closes, or no renewal
// was confirmed for the executors' lease) it kills all its children at
// once, forgets their processes (the store node ends them as node_lost)
// and joins again with backoff (0.5 s doubling to 10 s).

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include "procman/engine/engine.hpp"
#include "procman/messages/actors.hpp"

namespace procman {

struct worker_options {
  std::string host; ///< the store node
  uint16_t port = 0;
  /// The executor and its children, as for an engine: exec_path, parallel
  /// (0: cores), script_args, step_libs, grace_seconds, containment,
  /// reap_orphans. Store options are not used; the store node's
  /// default_timeout applies.
  engine_options exec;
  /// How long one attempt to connect and join may take.
  caf::timespan connect_timeout = std::chrono::seconds(30);
  /// Called with HOST:PORT each time the node has joined the store node
  /// (from the node's own thread; it must not block).
  std::function<void(const std::string&)> on_joined;
};

class worker_node {
public:
  /// Checks the executor and sets up containment as engine::start does,
  /// then starts joining the store node (in the background: the node
  /// keeps trying until it joins). Errors: as engine::start's before it
  /// opens the store.
  static caf::expected<std::unique_ptr<worker_node>>
  start(caf::actor_system& sys, worker_options opts);

  /// Kills what still runs (the store node records it) and leaves.
  ~worker_node();

  /// Stops claiming; running children get the grace period, then the node
  /// leaves the store node. A second drain kills them at once.
  /// Thread-safe.
  void drain();

  /// Blocks until the node is done (after drain).
  void await();

  /// This node's id ("<hostname>-<os pid>-<8 hex>"); its leases are
  /// "<id>@<8 hex>".
  const std::string& node_id() const;

private:
  struct impl;
  explicit worker_node(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace procman
