// What the procman CLI needs CAF's actor system for: a front door to a store
// node (--connect, $PROCMAN_CONNECT) and `replay`, which runs an engine;
// and what needs OpenSSL's libssl: `procman web` with HTTPS.
//
// The `procman` program links no CAF library, so that a local command
// (status, start, list, ...) costs little more than the work it does
// (docs/performance.md, "A local command"). Its remote.cpp carries these
// two out by running the full CLI, `procman-remote` (the same commands
// linked with CAF, in libexec/procman/ beside bin/), with the same
// arguments. procman-remote's remote_full.cpp carries them out itself.

#pragma once

#include <optional>
#include <string>

#include "procman/door/door.hpp"
#include "procman/messages/failure.hpp"

namespace procman::cli {

/// A store node to reach, and how.
struct remote_target {
  /// HOST:PORT as given.
  std::string where;
  /// Where it was given, for errors ("option --connect").
  std::string what;
  /// TLS files (all three, or none).
  std::string cert;
  std::string key;
  std::string ca;
};

/// Remembers the program's arguments (for running procman-remote).
void remember_arguments(int argc, char** argv);

/// A door to the store node. Errors: errc::invalid_argument for a wrong
/// address or TLS files (a usage error), others when it cannot be reached.
outcome<door> connect_remote(const remote_target& target);

/// Has procman-remote carry out this command line (`procman web` with
/// TLS, which needs libssl); returns only when it cannot be run. In
/// procman-remote itself: none, carry on.
std::optional<failure> run_with_libssl();

/// `procman replay PATH` ("-": stdin): prints the verdict, returns the
/// exit code.
int replay_file(const std::string& path);

} // namespace procman::cli
