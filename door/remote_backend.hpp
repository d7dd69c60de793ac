// The front door's backend over CAF's middleman: a store node's manager
// reached over the network (`procman --connect`, hosts with a remote
// store). It sends the same request structs the local backend hands to its
// handlers (door/door.hpp); door/manager_backend.hpp has the manager of an
// engine in this process.
//
//   procman::remote_door_options o;
//   o.host = "store1.example"; o.port = 4000;
//   o.tls = {"host.pem", "host.key", "ca.pem"};   // required off loopback
//   auto d = procman::connect_door(o);
//   if (!d) ... render(d.error()) ...             // connect_failure
//   auto pid = d->start(spec);
//
// The remote backend owns an actor system of its own (with the middleman,
// and caf::openssl with TLS).

#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "procman/door/door.hpp"
#include "procman/door/manager_backend.hpp"
#include "procman/messages/actors.hpp"
#include "procman/remote/remote.hpp"

namespace procman {

struct remote_door_options {
  std::string host;
  uint16_t port = 0;
  /// Mutual TLS; without it only a loopback host is allowed.
  tls_options tls;
  /// How long the connection, and each call, may take. A call that gets no
  /// answer within defaults::remote_attempt_ms (doubling for each further
  /// attempt) is asked again on a new connection until this runs out; the
  /// store node answers a repeated request that changes state as it
  /// answered the first (each carries a key of its own, and a start the
  /// pid chosen here), and remembers keys for defaults::request_memory_ms.
  caf::timespan timeout = std::chrono::seconds(30);
  /// Told each time a call is asked again, and why (the CLI prints it).
  std::function<void(const std::string&)> on_retry;
};

/// Connects to the manager at host:port. Errors: invalid_argument (TLS
/// files, or a non-loopback host without TLS), connect_failure naming the
/// node and why (refused certificate, nothing listening, no answer).
caf::expected<door> connect_door(const remote_door_options& opts);

} // namespace procman
