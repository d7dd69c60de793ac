// The routes of the HTTP API (docs/http.md, docs/openapi.yaml): what the
// server answers to one request, through the front door only. The server
// (http/server.hpp) asks `admit` once a request's header is in, before
// reading its body, so that a client without a valid token, or with a
// wrong method, content type or body size, costs no body read; then
// `answer` with the whole request.

#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "procman/door/door.hpp"
#include "procman/http/events.hpp"
#include "procman/http/metrics.hpp"

namespace procman::http {

namespace bhttp = boost::beast::http;

using request = bhttp::request<bhttp::string_body>;
using response = bhttp::response<bhttp::string_body>;
using request_header = bhttp::request_header<>;

/// The prefix of every route.
constexpr std::string_view api_root = "/api/v1";

/// What a token may do: read < operate < admin.
enum class scope : uint8_t { none, read, operate, admin };

/// A route: method, path under api_root ("{pid}" matches one segment) and
/// the scope it needs (none: no token).
struct route {
  bhttp::verb method;
  std::string_view path;
  scope needs;
  bool has_body;        ///< takes a JSON body
  bool at_root = false; ///< the path is not under api_root (/metrics)
};

/// Every route the server has, for docs/openapi.yaml's test.
const std::vector<route>& routes();

/// docs/openapi.yaml as JSON (generated at build time).
std::string_view openapi_json();

/// A problem response (RFC 9457, application/problem+json): `status`, the
/// error kind (an errc name) and what was wrong.
response problem(unsigned version, bhttp::status status, std::string_view kind,
                 const std::string& detail);

/// The HTTP status of a front door's failure.
bhttp::status status_of(const failure& err);

class api {
public:
  api(door& d, uint64_t max_body);

  /// Checks a request's header: its route and method, token and scope,
  /// content type and declared length. A refusal to send as it is (the
  /// body is not read). Sets `which` to the route otherwise.
  std::optional<response> admit(const request_header& h, const route*& which);

  /// The answer to an admitted request with its body.
  response answer(const request& r, const route& which);

  /// The server-sent event stream an admitted request opens (GET /events,
  /// GET /processes/{pid}/logs?follow=1), or null: then `answer` it. A
  /// request refused instead (a bad Last-Event-ID, an unknown process)
  /// gets its answer in `refused`.
  std::unique_ptr<event_stream> stream(const request& r, const route& which,
                                       std::optional<response>& refused);

  /// Reads what is new for the /events streams, once for all (the
  /// server's tick; one call at a time).
  void refresh_streams();

  /// Forgets what was read for the /events streams if none is left; reads
  /// nothing.
  void forget_streams();

  /// The answers of the server, counted by the server (GET /metrics).
  request_counts& counts() { return counts_; }

private:
  /// The token of `r` (id, name, scope, created), for a client that must
  /// know what it may do (the dashboard shows only the buttons it allows).
  response whoami(const request& r);
  /// GET /processes with its query.
  response list(const request& r,
                const std::map<std::string, std::string>& query);
  /// GET /metrics.
  response metrics(const request& r);

  /// The routes under /schedules (`name`: the path's).
  response schedules(const request& r, const route& which,
                     const std::string& name);

  /// GET /processes/{pid}/logs without follow: the output as text.
  response logs(const request& r, const std::string& pid,
                const std::map<std::string, std::string>& query);

  door& door_;
  uint64_t max_body_;
  event_feed feed_;
  request_counts counts_;
};

} // namespace procman::http
