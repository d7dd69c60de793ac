// The two faces of procman-exec: the executor of one process run
// (main.cpp) and the fork server that starts such executors (serve.cpp).

#pragma once

#include <set>
#include <string>
#include <vector>

#include "procman/steps/step_registry.hpp"

namespace procman::exec {

/// What a fork server loaded before it forks: its children start with it.
struct preloaded_steps {
  step_registry reg;
  service_registry services;
  /// The libraries loaded, as named (`PROCMAN_STEP_LIBS`, `--step-lib`).
  std::set<std::string> libs;
};

/// Runs one process: reads the work on stdin, reports on stdout, exits
/// (docs/protocol.md). `pre`: the registry of a fork server's child, whose
/// step libraries are loaded already; null in a spawned executor.
int executor_main(int argc, char** argv, preloaded_steps* pre);

/// `procman-exec --serve`: the fork server (docs/protocol.md, "Fork
/// server"). On Windows, which has no fork, it refuses with exit code 2.
int serve_main(int argc, char** argv);

/// Whether `serve_main` is a fork server (false on Windows).
extern const bool fork_server_available;

/// The ':'-separated libraries a server loads: `PROCMAN_STEP_LIBS`, then
/// the `--step-lib` options.
std::string preload_list(const std::vector<std::string>& cli_libs);

} // namespace procman::exec
