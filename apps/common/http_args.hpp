// The HTTP server's options, shared by `procman web` and `procman-runner
// --http` (docs/http.md, "Limits" and "TLS"): their declarations for the
// help, and the server_options they give. An address beyond loopback needs
// TLS, as `procman-runner --listen` does.

#pragma once

#include <chrono>
#include <string>
#include <type_traits>
#include <vector>

#include "procman/apps/common/args.hpp"
#include "procman/http/api.hpp"
#include "procman/http/server.hpp"
#include "procman/messages/units.hpp"

namespace procman::cli {

/// The options of the HTTP server but `--tls-cert` and `--tls-key` (each
/// program declares those once, for its CAF TLS too).
inline std::vector<option_decl> http_option_decls() {
  constexpr auto opt = option_decl::option;
  return {
    {"http", opt, "ADDR:PORT",
     "where to listen (beyond loopback: with --tls-cert and --tls-key)"},
    {"http-max-body", opt, "N", "the largest request body (default 1M)"},
    {"http-header-timeout", opt, "D",
     "a request's headers (and a TLS handshake) must arrive within D "
     "(default 10s)"},
    {"http-idle-timeout", opt, "D",
     "a connection idle for D is closed (default 60s)"},
    {"http-max-connections", opt, "N", "connections at once (default 256)"},
  };
}

/// The server's options from `a`: `--http` (needed), the limits, and the
/// TLS files of `--tls-cert` and `--tls-key` (with `env`, or their
/// variables). Usage errors throw usage_error.
inline http::server_options http_options(const args& a, bool env) {
  if (!a.has("http"))
    throw usage_error("--http ADDR:PORT is missing");
  http::server_options opts;
  opts.listen = a.get("http");
  auto where = http::split_listen(opts.listen);
  if (!where)
    throw usage_error(where.error().context);
  opts.tls_cert = env ? value_or_env(a, "tls-cert") : a.get("tls-cert");
  opts.tls_key = env ? value_or_env(a, "tls-key") : a.get("tls-key");
  if (opts.tls_cert.empty() != opts.tls_key.empty())
    throw usage_error(opts.tls_cert.empty()
                        ? "--tls-key needs --tls-cert (HTTPS needs both)"
                        : "--tls-cert needs --tls-key (HTTPS needs both)");
  if (!opts.tls() && !http::is_loopback_host(where->first))
    throw usage_error("--http " + opts.listen
                      + " is beyond loopback: without --tls-cert and "
                        "--tls-key the HTTP API listens on loopback only "
                        "(or put a TLS proxy in front, docs/http.md)");
  // A size or duration option above 0, read by `parse`.
  auto positive = [&](const char* opt, auto parse, auto& out) {
    if (!a.has(opt))
      return;
    auto x = parse(a.get(opt), std::string{"--"} + opt);
    if (!x || *x == 0)
      throw usage_error(x ? std::string{"--"} + opt + " must be above 0"
                          : x.error().context);
    out = std::remove_reference_t<decltype(out)>{*x};
  };
  auto size_of = [&](const char* opt, uint64_t& out) {
    positive(opt, parse_size, out);
  };
  auto ms_of = [&](const char* opt, std::chrono::milliseconds& out) {
    positive(opt, parse_duration, out);
  };
  size_of("http-max-body", opts.max_body);
  ms_of("http-header-timeout", opts.header_timeout);
  ms_of("http-idle-timeout", opts.idle_timeout);
  opts.max_connections = static_cast<uint32_t>(
    a.number("http-max-connections", opts.max_connections, 1, 65536));
  return opts;
}

/// Where the server at `opts` answers once bound to `port`:
/// "http[s]://ADDR:PORT/api/v1".
inline std::string http_url(const http::server_options& opts, uint16_t port) {
  auto host = http::split_listen(opts.listen)->first;
  if (host.find(':') != std::string::npos)
    host = "[" + host + "]";
  return std::string{opts.tls() ? "https://" : "http://"} + host + ":"
         + std::to_string(port) + std::string{http::api_root};
}

} // namespace procman::cli
