// The HTTP API's server: Boost.Beast HTTP/1.1 on one thread (an
// io_context run by `run`), answering through the front door
// (http/api.hpp). Limits (docs/http.md, "Limits"): a request's header must
// arrive within the header timeout of its first byte (of the connection's
// opening, for its first request), a kept-alive connection waits the idle
// timeout for its next request and a body as long for its bytes; header
// and body sizes are capped; past the maximum of connections a new one is
// closed at once. A refused request is answered, then its connection
// closed; none of it waits for another client. With a certificate and key
// the server speaks HTTPS only (TLS 1.2 or later): the handshake must end
// within the header timeout, and a failed one closes that connection.

#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "procman/door/door.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/failure.hpp"

namespace procman::http {

struct server_options {
  /// ADDR:PORT (an IPv6 address in brackets); port 0: one the OS chooses.
  std::string listen;
  uint64_t max_body = defaults::http_max_body;
  uint32_t max_header = defaults::http_max_header;
  std::chrono::milliseconds header_timeout{defaults::http_header_timeout_ms};
  std::chrono::milliseconds idle_timeout{defaults::http_idle_timeout_ms};
  uint32_t max_connections = defaults::http_max_connections;
  /// PEM files (`--tls-cert`, `--tls-key`, an unencrypted key): HTTPS
  /// when both are set.
  std::string tls_cert;
  std::string tls_key;

  bool tls() const { return !tls_cert.empty(); }
};

/// The host and port of "ADDR:PORT". Errors: invalid_argument.
outcome<std::pair<std::string, uint16_t>> split_listen(const std::string& x);

/// Whether `host` is a loopback address (or "localhost").
bool is_loopback_host(const std::string& host);

class server {
public:
  /// Loads the TLS files and binds `opts.listen`. Errors: invalid_argument
  /// (the address, a TLS file that cannot be read or used), connect_failure
  /// (the address cannot be bound).
  static outcome<std::unique_ptr<server>> bind(door& d, server_options opts);

  ~server();

  /// The bound port.
  uint16_t port() const;

  /// Serves until `stop`, or SIGINT or SIGTERM with `until_signal`.
  void run(bool until_signal = true);

  /// Makes `run` return (from any thread): requests in progress are
  /// dropped.
  void stop();

private:
  struct impl;
  explicit server(std::unique_ptr<impl> x);
  std::unique_ptr<impl> impl_;
};

} // namespace procman::http
