// What procman does with the connections CAF's middleman accepts on a port
// that publish_manager or publish_gate opened (remote/accept_guard.cpp):
//
// - Each gets a descriptor number that no recently closed connection had.
//   CAF 0.17 names a connection by its socket's number and cleans up a
//   closed one only after every message it read before has been delivered;
//   a new connection accepted on the same number in between is confused
//   with the old one, and every answer to it is lost.
// - Without TLS, a peer is admitted only if the kernel says that its end of
//   the loopback connection belongs to a user who may read the store
//   directory (or, with none named, to this process's user or root). Anyone
//   else's connection is closed before CAF reads or writes a byte on it.
//
// Internal to remote/: publish_actor (remote.cpp) expects the listener.

#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>

namespace procman::detail {

/// Who may connect to a listener, once it is registered.
struct peer_rule {
  /// Check the peer's user (without TLS); otherwise admit everyone (TLS
  /// checks certificates).
  bool check = false;
  /// Admit users who may read this directory; empty: this process's
  /// effective user and root.
  std::string readers_of;
  /// For log lines: what is served there.
  std::string what;
};

/// Registers, for its lifetime, the next listening socket that this
/// process opens on `bind` (an address) and `port` (0: any) with `rule`:
/// the one CAF's publish opens while it lives. Publishes are serialized
/// while one is expected.
class expected_listener {
public:
  expected_listener(const std::string& bind, uint16_t port, peer_rule rule);
  ~expected_listener();
  expected_listener(const expected_listener&) = delete;
  expected_listener& operator=(const expected_listener&) = delete;

  /// After the publish: whether the listener on `port` was registered and
  /// can check its peers. Errors: invalid_argument naming the port and why.
  caf::error confirm(uint16_t port);
};

/// Whether `uid` may read `dir` by its owner, group and mode (root may).
bool may_read(const std::string& dir, uint32_t uid);

/// Referenced by configure_remote, so that a program that publishes links
/// remote/accept_guard.cpp from the static library.
void accept_guard_linked();

} // namespace procman::detail
