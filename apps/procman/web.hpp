// The HTTP API's commands of the procman CLI: `procman token` (the API
// tokens) and `procman web` (the HTTP server on a store, no runner).
// Both go through the front door that `open` gives (the store directory,
// or the store node of --connect), like every other command.

#pragma once

#include <functional>

#include "procman/apps/common/args.hpp"
#include "procman/door/door.hpp"

namespace procman::cli {

/// `procman token create --scope S [--name N] | list | revoke ID|NAME`:
/// prints, returns the exit code; usage errors throw usage_error.
int token_command(const args& a, const std::function<door()>& open);

/// `procman web --http ADDR:PORT [--http-max-body N] ...`: serves the HTTP
/// API until SIGINT or SIGTERM; returns the exit code.
int web_command(const args& a, const std::function<door()>& open);

} // namespace procman::cli
