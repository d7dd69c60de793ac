// The runner's remote nodes (docs/distribution.md): --publish serves the
// manager, --listen makes a store node that worker nodes join, --join a
// worker node; over CAF's middleman, with mutual TLS (--tls-cert,
// --tls-key, --tls-ca) or in cleartext on loopback. On Windows a runner
// joins and is reached, but serves no other node (remote.hpp's
// can_publish): --publish and --listen are refused there.

#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "procman/apps/common/args.hpp"
#include "procman/engine/engine.hpp"

#include "ready.hpp"

namespace procman {

class runner_nodes {
public:
  runner_nodes();
  ~runner_nodes();
  runner_nodes(const runner_nodes&) = delete;
  runner_nodes& operator=(const runner_nodes&) = delete;

  /// Reads and checks --publish, --bind, --listen, --lease, --join and the
  /// TLS files, against each other and against the rest of the command
  /// line (--http's HTTPS takes --tls-cert and --tls-key too); throws
  /// cli::usage_error naming the option.
  void read(const cli::args& a);

  /// --listen: a store node (implies --wait; --parallel 0 allowed).
  bool listen() const;

  /// --join: a worker node (no store here).
  bool join() const;

  /// With --listen: the executors' lease its worker nodes get, from
  /// --lease and `opts.exec_lease_ms` (given with --exec-lease or not);
  /// throws cli::usage_error when they do not fit.
  void grant_exec_lease(const cli::args& a, const engine_options& opts);

  /// CAF's middleman and TLS on `cfg` when serving or joining; an error
  /// (a bad TLS file) stops the runner with exit code 2.
  caf::error configure(caf::actor_system_config& cfg);

  /// --join: a worker node until a termination request drains it; the
  /// exit code.
  int run_worker(caf::actor_system& sys, engine_options opts,
                 ready_signal& ready);

  /// --publish, --listen: serves the started engine's manager (and a store
  /// node's work endpoint). False when it could not (logged); then the
  /// runner exits 1. Does nothing without them.
  bool serve(caf::actor_system& sys, engine& eng, const engine_options& opts);

  /// The line --ready-fd gets once the runner serves: "ready", or "ready
  /// ADDR:PORT" once published.
  std::string ready_line() const;

  /// Ends the store node's work endpoint and waits until it is gone: alive
  /// when the actor system stops, it would keep the store actor (and so
  /// the system's destructor) waiting forever.
  void end(caf::actor_system& sys);

private:
  struct state;
  std::unique_ptr<state> state_;
};

} // namespace procman
