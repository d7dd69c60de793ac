// Serving a manager to other nodes and reaching one from another node, over
// CAF's middleman: with mutual TLS (caf::openssl) when a certificate, key and
// CA are given, else in cleartext, on loopback only, and to the users who
// may read the store only.
//
//   caf::actor_system_config cfg;
//   cfg.add_message_types<caf::id_block::procman>();
//   procman::tls_options tls{"node.pem", "node.key", "ca.pem"};
//   if (auto err = procman::configure_remote(cfg, tls)) ... // before sys
//   caf::actor_system sys{cfg};
//   auto port = procman::publish_manager(sys, mgr, 4000, "0.0.0.0");  // server
//   auto mgr = procman::connect_manager(sys, "runner.example", 4000);  // host
//
// What TLS verifies (CAF 0.17's caf::openssl, docs/usage.md "Remote access"):
// both sides present a certificate, and each checks that the other's is
// signed by the CA (chain, validity dates). Nothing else: no host name, no
// subject; any certificate the CA signed is accepted.

#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/expected.hpp>

#include "procman/messages/actors.hpp"
#include "procman/messages/defaults.hpp"

namespace procman {

/// PEM files for mutual TLS: this node's certificate (a chain is fine) and
/// its unencrypted private key, and the CA that signs every node's
/// certificate. All three or none.
struct tls_options {
  std::string cert;
  std::string key;
  std::string ca;

  /// Whether any of the three is set.
  bool enabled() const { return !cert.empty() || !key.empty() || !ca.empty(); }
};

/// Prepares `cfg` for remote access: loads caf::io::middleman and, with
/// TLS, caf::openssl::manager. Call it before constructing the actor system,
/// instead of loading the middleman yourself. With TLS it first checks that
/// all three are set and that each file is readable and usable (a PEM
/// certificate, an unencrypted PEM key that belongs to it, a PEM CA
/// certificate), then hands CAF sealed in-memory copies: CAF reads its files
/// again at every connection and aborts the program when that fails, so
/// later changes to the files (removed, half-written) cannot reach it, and
/// new certificates take effect at the next start. Errors: invalid_argument
/// naming what is missing, or the file and what is wrong with it.
caf::error configure_remote(caf::actor_system_config& cfg,
                            const tls_options& tls);

/// Whether `sys` was configured with TLS by configure_remote.
bool uses_tls(const caf::actor_system& sys);

/// Whether `host` names this machine only: every address it resolves to is
/// in 127.0.0.0/8 or ::1.
bool is_loopback(const std::string& host);

/// Whether this build can serve other nodes (publish_manager,
/// publish_gate): none, or invalid_argument saying why not. Windows
/// cannot yet: CAF names a connection by its socket, and Winsock hands a
/// closed socket's number to the next accepted connection before CAF has
/// cleaned up the old one (remote/accept_guard.hpp), which loses answers;
/// a Windows node joins store nodes and reaches them instead.
caf::error can_publish();

/// Serves `mgr` on `bind`:`port` (port 0: any free port) and returns the
/// port. With TLS only peers whose certificate the CA signed get through.
/// Without TLS only a loopback `bind` is allowed (invalid_argument
/// otherwise), and only peers on this machine whose user may read the
/// directory `readers_of` (a store's; empty: this process's user and root),
/// as the kernel tells the owner of their end of the connection; anyone
/// else's connection is closed before a byte is read or written (and
/// logged). Errors: invalid_argument for a bind beyond loopback without
/// TLS, or when the kernel cannot tell who connects.
caf::expected<uint16_t>
publish_manager(caf::actor_system& sys, const manager_actor& mgr, uint16_t port,
                const std::string& bind, const std::string& readers_of = {});

/// Serves a store node's gate (the manager and the work endpoint,
/// docs/distribution.md) as publish_manager serves a manager, with the same
/// rules.
caf::expected<uint16_t>
publish_gate(caf::actor_system& sys, const node_gate_actor& gate, uint16_t port,
             const std::string& bind, const std::string& readers_of = {});

/// Connects to a manager that publish_manager serves on `host`:`port`, with
/// TLS when `sys` was configured with it. Blocks the calling thread (not for
/// use inside an actor). Errors: connect_failure, naming the node and why.
caf::expected<manager_actor>
connect_manager(caf::actor_system& sys, const std::string& host, uint16_t port,
                caf::timespan timeout = std::chrono::seconds(30));

/// How often a node configured by configure_remote tells its peers that it
/// lives (CAF's `middleman.heartbeat-interval`).
constexpr auto heartbeat_interval
  = std::chrono::seconds(defaults::heartbeat_interval_s);

/// Makes the middleman of `cfg` close a connection whose peer has been
/// silent (no message, no heartbeat) for `timeout`, so that its actors go
/// down: CAF's `middleman.connection-timeout`, off by default. Every node
/// configured by configure_remote sends heartbeats.
void set_connection_timeout(caf::actor_system_config& cfg,
                            caf::timespan timeout);

/// The actor that connects to other nodes (TLS or not, as `sys` was
/// configured): request `(caf::connect_atom, host, port)` from inside an
/// actor, which must not block; the reply is `(node_id, strong_actor_ptr,
/// std::set<std::string> interfaces)`.
caf::actor connector(caf::actor_system& sys);

/// Why a connection to another node failed, in words: `err` as a connect
/// request or a connection answered it.
std::string connect_failure_reason(caf::actor_system& sys,
                                   const caf::error& err);

/// `HOST:PORT` (`[V6ADDR]:PORT` for IPv6) as host and port. Errors:
/// invalid_argument naming `what` and the text.
caf::expected<std::pair<std::string, uint16_t>>
parse_host_port(const std::string& text, const std::string& what);

} // namespace procman
