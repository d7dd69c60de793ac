// GET /metrics: the store's metrics (messages/requests.hpp, store_metrics,
// read through the front door from the counters table,
// persistence/counters.hpp) and the server's own request counts, in
// Prometheus's text exposition format 0.0.4 (docs/http.md, "Metrics").

#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "procman/messages/requests.hpp"

namespace procman::http {

/// The Content-Type of the text exposition format.
constexpr std::string_view metrics_content_type
  = "text/plain; version=0.0.4; charset=utf-8";

/// The answers of one server by route and status code, since it started.
/// Safe to use from several threads.
class request_counts {
public:
  /// Counts one answer: the route's method and path (as docs/openapi.yaml
  /// names it; "other" for a request that matched none) and its status.
  void add(std::string_view method, std::string_view route, unsigned code);

  /// procman_http_requests_total, its HELP and TYPE lines included.
  std::string render() const;

private:
  mutable std::mutex mtx_;
  std::map<std::tuple<std::string, std::string, unsigned>, uint64_t> counts_;
};

/// The store's metric families, HELP and TYPE lines included.
std::string render_metrics(const store_metrics& m);

/// The text exposition of the runners and worker nodes serving the store.
std::string render_node_metrics(const nodes_info& n);

} // namespace procman::http
