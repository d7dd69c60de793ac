#include "procman/http/api.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>
#include <optional>

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>

#include "procman/http/token.hpp"
#include "procman/lifecycle/machine.hpp"
#include "procman/messages/json.hpp"
#include "procman/messages/render.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/messages/time.hpp"

namespace procman::http {

namespace json = boost::json;
using bhttp::status;
using bhttp::verb;

namespace {

const char* const problem_type = "application/problem+json";

/// The routes; docs/openapi.yaml lists the same (tests/http/api.cpp).
const std::vector<route> all_routes = {
  {verb::post, "/processes", scope::operate, true},
  {verb::get, "/processes", scope::read, false},
  {verb::get, "/processes/{pid}", scope::read, false},
  {verb::delete_, "/processes/{pid}", scope::operate, false},
  {verb::post, "/processes/{pid}/proceed", scope::operate, true},
  {verb::post, "/processes/{pid}/cancel", scope::operate, false},
  {verb::post, "/processes/{pid}/retry", scope::operate, false},
  {verb::post, "/processes/{pid}/hold", scope::operate, false},
  {verb::post, "/processes/{pid}/release", scope::operate, false},
  {verb::get, "/schedules", scope::read, false},
  {verb::post, "/schedules", scope::operate, true},
  {verb::delete_, "/schedules/{name}", scope::operate, false},
  {verb::get, "/processes/{pid}/logs", scope::read, false},
  {verb::get, "/events", scope::read, false},
  {verb::get, "/queue", scope::read, false},
  {verb::get, "/nodes", scope::read, false},
  {verb::get, "/healthz", scope::none, false},
  {verb::get, "/readyz", scope::none, false},
  {verb::get, "/openapi.json", scope::read, false},
  {verb::get, "/whoami", scope::read, false},
  {verb::get, "/metrics", scope::read, false, true},
};

std::vector<std::string_view> segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t at = 0;
  while (at <= path.size()) {
    auto slash = path.find('/', at);
    if (slash == std::string_view::npos)
      slash = path.size();
    out.push_back(path.substr(at, slash - at));
    at = slash + 1;
  }
  return out;
}

/// Whether `path` (under api_root) is `pattern`'s; sets `pid` to the
/// segment of its parameter ({pid}, {name}).
bool matches(std::string_view pattern, std::string_view path,
             std::string& pid) {
  auto want = segments(pattern);
  auto got = segments(path);
  if (want.size() != got.size())
    return false;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i].front() == '{') {
      if (got[i].empty())
        return false;
      pid = std::string{got[i]};
    } else if (want[i] != got[i]) {
      return false;
    }
  }
  return true;
}

/// The path of a target, without its query.
std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// Percent-decodes a query part; none when malformed.
std::optional<std::string> decoded(std::string_view x) {
  std::string out;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] == '+') {
      out += ' ';
    } else if (x[i] == '%') {
      if (i + 2 >= x.size())
        return std::nullopt;
      auto hi = hex_digit(x[i + 1]);
      auto lo = hex_digit(x[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += x[i];
    }
  }
  return out;
}

/// The query parameters of a target. Errors: a malformed or repeated one.
outcome<std::map<std::string, std::string>> query_of(std::string_view target) {
  std::map<std::string, std::string> out;
  auto q = target.find('?');
  if (q == std::string_view::npos)
    return out;
  auto rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{}
                                         : rest.substr(amp + 1);
    if (part.empty())
      continue;
    auto eq = part.find('=');
    auto name = decoded(part.substr(0, eq));
    auto value = decoded(eq == std::string_view::npos ? std::string_view{}
                                                      : part.substr(eq + 1));
    if (!name || !value)
      return make_failure(errc::invalid_argument, "malformed query parameter \""
                                                    + std::string{part} + "\"");
    if (!out.emplace(*name, *value).second)
      return make_failure(errc::invalid_argument,
                          "query parameter \"" + *name + "\" given twice");
  }
  return out;
}

/// The query parameters a route takes.
std::vector<std::string_view> parameters_of(const route& r) {
  if (r.path == "/processes" && r.method == verb::get)
    return {"status", "key", "limit", "cursor"};
  if (r.path == "/events")
    return {"since"};
  if (r.path == "/processes/{pid}/logs")
    return {"stream", "follow"};
  return {};
}

/// A 400 naming the first query parameter of `query` not in `names`.
std::optional<response>
unknown_parameter(unsigned v, const std::map<std::string, std::string>& query,
                  const std::vector<std::string_view>& names) {
  for (auto& [name, value] : query) {
    if (std::find(names.begin(), names.end(), name) != names.end())
      continue;
    std::string detail = "unknown query parameter \"" + name + "\"";
    if (names.size() > 0) {
      detail += " (known:";
      for (auto n : names)
        detail += " " + std::string{n};
      detail += ")";
    }
    return problem(v, status::bad_request, "invalid_argument", detail);
  }
  return std::nullopt;
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
std::string encoded(const std::string& x) {
  static const char* const hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : x) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// `text` as a whole number of at most `digits` digits; none otherwise.
std::optional<uint64_t> whole_number(const std::string& text, size_t digits) {
  if (text.empty() || text.size() > digits
      || !std::all_of(text.begin(), text.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoull(text);
}

bool lower_hex(std::string_view x) {
  return std::all_of(x.begin(), x.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

/// The list's cursor after `rec`: its place in the store's created index
/// (created_at as 16 hex, then the pid). Opaque to clients.
std::string cursor_of(const process_record& rec) {
  char head[17];
  std::snprintf(head, sizeof(head), "%016llx",
                static_cast<unsigned long long>(rec.created_at));
  return head + rec.pid;
}

/// Where a page starts: before this creation time and pid.
struct page_start {
  uint64_t created = 0;
  std::string pid;
};

/// The page start of a cursor of `cursor_of`; nothing when `x` is not one.
std::optional<page_start> parse_cursor(const std::string& x) {
  if (x.size() != 48 || !lower_hex(x))
    return std::nullopt;
  return page_start{std::stoull(x.substr(0, 16), nullptr, 16), x.substr(16)};
}

/// ISO 8601 UTC, or null for 0.
json::value iso_or_null(uint64_t unix_ms) {
  if (unix_ms == 0)
    return nullptr;
  return json::string{iso_time(unix_ms)};
}

/// GET /queue's answer (docs/openapi.yaml, Queue).
json::object render_queue(const queue_stats& q) {
  uint64_t queued = 0, delayed = 0, held = 0, oldest = 0;
  json::array priorities;
  for (auto& d : q.priorities) {
    queued += d.queued;
    delayed += d.delayed;
    held += d.held;
    json::value wait = nullptr;
    if (!d.head_pid.empty() && d.head_since != 0) {
      auto ms = q.time > d.head_since ? q.time - d.head_since : 0;
      oldest = std::max(oldest, ms);
      wait = ms;
    }
    priorities.push_back(
      json::object{{"priority", d.priority},
                   {"queued", d.queued},
                   {"delayed", d.delayed},
                   {"held", d.held},
                   {"head", d.head_pid.empty() ? json::value(nullptr)
                                               : json::value(d.head_pid)},
                   {"head_wait_ms", wait}});
  }
  return json::object{{"time", iso_time(q.time)},
                      {"queued", queued},
                      {"delayed", delayed},
                      {"held", held},
                      {"running", q.running},
                      {"interrupted", q.interrupted},
                      {"oldest_wait_ms", oldest},
                      {"next_due", iso_or_null(q.next_due)},
                      {"priorities", std::move(priorities)}};
}

/// GET /nodes's answer (docs/openapi.yaml, Nodes).
json::object render_nodes(const nodes_info& n) {
  json::array nodes;
  for (auto& x : n.nodes)
    nodes.push_back(
      json::object{{"id", x.id},
                   {"kind", x.kind},
                   {"host", x.host},
                   {"lock_held", x.lock_held},
                   {"lease_ms", x.lease_ms == 0 ? json::value(nullptr)
                                                : json::value(x.lease_ms)},
                   {"last_heard", iso_time(x.last_heard)},
                   {"running", x.running}});
  return json::object{{"time", iso_time(n.time)},
                      {"store",
                       json::object{{"host", n.host}, {"dir", n.store}}},
                      {"nodes", std::move(nodes)}};
}

response json_response(unsigned version, status code, std::string body) {
  response res{code, version};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = std::move(body);
  res.body() += '\n';
  res.prepare_payload();
  return res;
}

response info_response(unsigned version, const process_record& rec) {
  return json_response(version, status::ok, dump_info(render_info(rec)));
}

response failed(unsigned version, const failure& err) {
  return problem(version, status_of(err), to_string(err.code), err.context);
}

scope scope_from(const std::string& x) {
  if (x == "read")
    return scope::read;
  if (x == "operate")
    return scope::operate;
  if (x == "admin")
    return scope::admin;
  return scope::none;
}

/// The media type of a Content-Type value, lowercased, without parameters.
std::string media_type(std::string_view value) {
  auto semi = value.find(';');
  auto x = value.substr(0, semi);
  while (!x.empty() && (x.back() == ' ' || x.back() == '\t'))
    x.remove_suffix(1);
  std::string out{x};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

/// The request key (requests.hpp) of a change with an Idempotency-Key:
/// the same header on the same route and process gives the same key.
std::string request_key(const request& r, const std::string& pid) {
  auto it = r.find("Idempotency-Key");
  if (it == r.end())
    return {};
  return sha256_hex(std::string{path_of(r.target())} + "\n" + pid + "\n"
                    + std::string{it->value()})
    .substr(0, 32);
}

} // namespace

const std::vector<route>& routes() {
  return all_routes;
}

response problem(unsigned version, status code, std::string_view kind,
                 const std::string& detail) {
  json::object o{{"type", "about:blank"},
                 {"title", std::string{bhttp::obsolete_reason(code)}},
                 {"status", static_cast<unsigned>(code)},
                 {"detail", detail},
                 {"kind", kind}};
  response res{code, version};
  res.set(bhttp::field::content_type, problem_type);
  if (code == status::unauthorized)
    res.set(bhttp::field::www_authenticate, "Bearer");
  res.body() = json::serialize(o) + "\n";
  res.prepare_payload();
  return res;
}

status status_of(const failure& err) {
  switch (err.code) {
    case errc::unknown_process:
    case errc::unknown_schedule:
    case errc::unknown_token:
      return status::not_found;
    case errc::invalid_spec:
    case errc::unknown_class:
    case errc::unknown_service:
      return status::unprocessable_entity;
    case errc::invalid_json:
    case errc::invalid_argument:
      return status::bad_request;
    case errc::illegal_transition:
    case errc::not_interrupted:
    case errc::already_terminal:
      return status::conflict;
    case errc::unauthorized:
      return status::unauthorized;
    case errc::forbidden:
      return status::forbidden;
    case errc::timeout:
      return status::gateway_timeout;
    case errc::storage_failure:
    case errc::store_version:
    case errc::store_damaged:
    case errc::store_access:
    case errc::connect_failure:
    case errc::runner_busy:
      return status::service_unavailable;
    default:
      return status::internal_server_error;
  }
}

api::api(door& d, uint64_t max_body) : door_(d), max_body_(max_body), feed_(d) {
  // nop
}

std::optional<response> api::admit(const request_header& h,
                                   const route*& which) {
  auto v = h.version();
  auto target = std::string_view{h.target().data(), h.target().size()};
  auto path = path_of(target);
  bool at_root = path == "/metrics";
  if (!at_root && path.substr(0, api_root.size()) != api_root)
    return problem(v, status::not_found, "invalid_argument",
                   "no route " + std::string{path} + " (the API is under "
                     + std::string{api_root} + ")");
  if (!at_root)
    path.remove_prefix(api_root.size());
  which = nullptr;
  std::string allowed;
  std::string pid;
  for (auto& r : all_routes) {
    if (r.at_root != at_root || !matches(r.path, path, pid))
      continue;
    if (r.method == h.method())
      which = &r;
    else
      allowed += (allowed.empty() ? "" : ", ")
                 + std::string{bhttp::to_string(r.method)};
  }
  if (!which) {
    if (allowed.empty())
      return problem(v, status::not_found, "invalid_argument",
                     "no route " + std::string{api_root} + std::string{path});
    auto res = problem(v, status::method_not_allowed, "invalid_argument",
                       std::string{h.method_string()} + " is not allowed on "
                         + std::string{api_root} + std::string{path}
                         + " (allowed: " + allowed + ")");
    res.set(bhttp::field::allow, allowed);
    return res;
  }
  if (which->needs != scope::none) {
    auto auth = h.find(bhttp::field::authorization);
    constexpr std::string_view bearer = "Bearer ";
    if (auth == h.end())
      return problem(v, status::unauthorized, "unauthorized",
                     "missing Authorization: Bearer TOKEN (procman token "
                     "create)");
    auto value = std::string_view{auth->value().data(), auth->value().size()};
    if (value.size() <= bearer.size()
        || value.substr(0, bearer.size()) != bearer)
      return problem(v, status::unauthorized, "unauthorized",
                     "the Authorization header must be Bearer TOKEN");
    auto token = value.substr(bearer.size());
    auto rec = door_.call(token_check_request{token_hash(token)});
    if (!rec)
      return failed(v, rec.error());
    if (scope_from(rec->scope) < which->needs)
      return problem(v, status::forbidden, "forbidden",
                     "token " + rec->id + " has scope " + rec->scope + "; "
                       + std::string{h.method_string()} + " "
                       + std::string{api_root} + std::string{which->path}
                       + " needs operate");
  }
  bool chunked = h[bhttp::field::transfer_encoding].find("chunked")
                 != boost::beast::string_view::npos;
  uint64_t length = 0;
  if (auto cl = h.find(bhttp::field::content_length); cl != h.end()) {
    // The parser has checked that it is a number.
    length = std::stoull(std::string{cl->value()});
  }
  if (length > 0 || chunked) {
    if (!which->has_body)
      return problem(v, status::bad_request, "invalid_argument",
                     std::string{h.method_string()} + " "
                       + std::string{api_root} + std::string{which->path}
                       + " takes no body");
    auto type = media_type(h[bhttp::field::content_type]);
    if (type != "application/json")
      return problem(v, status::unsupported_media_type, "invalid_argument",
                     "the body must be application/json, not \""
                       + (type.empty() ? std::string{"(none)"} : type) + "\"");
    if (length > max_body_)
      return problem(v, status::payload_too_large, "invalid_argument",
                     "the body of " + std::to_string(length)
                       + " bytes is over the limit of "
                       + std::to_string(max_body_) + " (--http-max-body)");
  }
  if (which->path.find("{pid}") != std::string_view::npos && !valid_pid(pid))
    return problem(v, status::bad_request, "invalid_argument",
                   "\"" + pid + "\" is not a pid (32 lowercase hex)");
  return std::nullopt;
}

response api::answer(const request& r, const route& which) {
  auto v = r.version();
  auto target = std::string_view{r.target().data(), r.target().size()};
  if (which.at_root)
    return metrics(r);
  std::string pid;
  matches(which.path, path_of(target).substr(api_root.size()), pid);
  auto query = query_of(target);
  if (!query)
    return failed(v, query.error());
  if (auto bad = unknown_parameter(v, *query, parameters_of(which)))
    return *bad;
  auto path = which.path;
  if (path == "/healthz")
    return json_response(v, status::ok, R"({"status":"ok"})");
  if (path == "/readyz") {
    if (auto ok = door_.call(config_request{}); !ok) {
      json::object o{{"status", "unavailable"}, {"detail", render(ok.error())}};
      return json_response(v, status::service_unavailable, json::serialize(o));
    }
    return json_response(v, status::ok, R"({"status":"ok"})");
  }
  if (path == "/openapi.json")
    return json_response(v, status::ok, std::string{openapi_json()});
  if (path == "/whoami")
    return whoami(r);
  if (path == "/queue") {
    auto q = door_.call(queue_request{});
    if (!q)
      return failed(v, q.error());
    return json_response(v, status::ok, json::serialize(render_queue(*q)));
  }
  if (path == "/nodes") {
    auto n = door_.call(nodes_request{});
    if (!n)
      return failed(v, n.error());
    return json_response(v, status::ok, json::serialize(render_nodes(*n)));
  }
  if (path == "/processes" && which.method == verb::post) {
    if (r.body().empty())
      return problem(v, status::bad_request, "invalid_spec",
                     "the body must be a process spec (JSON)");
    if (auto doc = parse_json(r.body()); !doc)
      return problem(v, status::bad_request, "invalid_json",
                     json_error("the body", doc.error().context));
    auto spec = parse_spec(r.body());
    if (!spec)
      return failed(v, spec.error());
    if (auto it = r.find("Idempotency-Key"); it != r.end()) {
      std::string key{it->value()};
      if (key.empty() || key.size() > 256)
        return problem(v, status::bad_request, "invalid_argument",
                       "Idempotency-Key must be 1 to 256 characters");
      if (!spec->key.empty() && spec->key != key)
        return problem(v, status::bad_request, "invalid_argument",
                       "Idempotency-Key \"" + key
                         + "\" differs from the spec's key \"" + spec->key
                         + "\"");
      spec->key = key;
    }
    auto done = door_.submit(std::move(*spec));
    if (!done)
      return failed(v, done.error());
    json::object o{{"pid", done->pid}};
    auto res = json_response(v, done->existing ? status::ok : status::created,
                             json::serialize(o));
    if (!done->existing)
      res.set(bhttp::field::location,
              std::string{api_root} + "/processes/" + done->pid);
    return res;
  }
  if (path == "/processes")
    return list(r, *query);
  if (path == "/processes/{pid}/logs")
    return logs(r, pid, *query);
  if (path == "/processes/{pid}" && which.method == verb::delete_) {
    auto gone = door_.call(remove_request{pid, request_key(r, pid)});
    if (!gone)
      return failed(v, gone.error());
    return json_response(v, status::ok,
                         json::serialize(json::object{{"pid", *gone}}));
  }
  if (path == "/processes/{pid}") {
    auto rec = door_.info(pid);
    if (!rec)
      return failed(v, rec.error());
    return info_response(v, *rec);
  }
  if (path.substr(0, 10) == "/schedules")
    return schedules(r, which, pid);
  if (path != "/processes/{pid}/cancel" && path != "/processes/{pid}/retry"
      && path != "/processes/{pid}/hold" && path != "/processes/{pid}/release"
      && path != "/processes/{pid}/proceed")
    return problem(v, status::internal_server_error, "invalid_argument",
                   "no answer for " + std::string{path}); // a stream
  auto key = request_key(r, pid);
  if (path == "/processes/{pid}/proceed") {
    std::string data = "{}";
    if (!r.body().empty()) {
      auto doc = parse_user_json(r.body(), "the body");
      if (!doc)
        return failed(v, doc.error());
      if (!doc->is_object())
        return problem(v, status::bad_request, "invalid_json",
                       "the body must be a JSON object (the data to merge)");
      data = r.body();
    }
    auto done = door_.call(proceed_request{pid, data, key});
    if (!done)
      return failed(v, done.error());
    auto rec = door_.info(pid);
    if (!rec)
      return failed(v, rec.error());
    return info_response(v, *rec);
  }
  outcome<process_record> rec = make_failure(errc::invalid_argument, "");
  if (path == "/processes/{pid}/cancel")
    rec = door_.call(cancel_request{pid, key});
  else if (path == "/processes/{pid}/hold")
    rec = door_.call(hold_request{pid, key});
  else if (path == "/processes/{pid}/release")
    rec = door_.call(release_request{pid, key});
  else
    rec = door_.call(retry_request{pid, key});
  if (!rec)
    return failed(v, rec.error());
  return info_response(v, *rec);
}

response api::whoami(const request& r) {
  // admit has checked the header: "Bearer " and a token the store knows.
  auto auth = r[bhttp::field::authorization];
  auto rec = door_.call(token_check_request{
    token_hash(std::string_view{auth.data(), auth.size()}.substr(7))});
  if (!rec)
    return failed(r.version(), rec.error());
  json::object o{{"id", rec->id},
                 {"name", rec->name},
                 {"scope", rec->scope},
                 {"created", timestamp(rec->created_at)}};
  return json_response(r.version(), status::ok, json::serialize(o));
}

response api::list(const request& r,
                   const std::map<std::string, std::string>& query) {
  auto v = r.version();
  if (auto bad = unknown_parameter(v, query,
                                   {"status", "key", "limit", "cursor"}))
    return *bad;
  list_query q;
  if (auto it = query.find("status"); it != query.end()) {
    auto s = from_string<process_status>(it->second);
    if (!s)
      return problem(v, status::bad_request, "invalid_argument",
                     "status must be queued, held, running, interrupted, "
                     "finished, error or cancelled, not \""
                       + it->second + "\"");
    q.any_status = false;
    q.status = *s;
  }
  if (auto it = query.find("limit"); it != query.end()) {
    auto& text = it->second;
    auto n = whole_number(text, 4);
    if (!n || *n < 1 || *n > 1000)
      return problem(v, status::bad_request, "invalid_argument",
                     "limit must be a whole number from 1 to 1000, not \""
                       + text + "\"");
    q.limit = static_cast<uint32_t>(*n);
  }
  if (auto it = query.find("key"); it != query.end()) {
    if (it->second.empty() || it->second.size() > 256)
      return problem(v, status::bad_request, "invalid_argument",
                     "key must be 1 to 256 characters");
    q.key = it->second;
  }
  if (auto it = query.find("cursor"); it != query.end()) {
    auto start = parse_cursor(it->second);
    if (!start)
      return problem(v, status::bad_request, "invalid_argument",
                     "cursor \"" + it->second
                       + "\" is not one this server gave (use the \"next\" "
                         "of the page before, unchanged)");
    q.before_created = start->created;
    q.before_pid = std::move(start->pid);
  }
  auto page = q.limit;
  // One more than the page: whether there is a next one.
  q.limit = page + 1;
  auto recs = door_.call(list_request{q});
  if (!recs)
    return failed(v, recs.error());
  bool more = recs->size() > page;
  if (more)
    recs->resize(page);
  std::string body = R"({"items":[)";
  for (size_t i = 0; i < recs->size(); ++i) {
    if (i > 0)
      body += ',';
    body += dump_info(render_info((*recs)[i]));
  }
  body += "],\"next\":";
  std::string next;
  if (more) {
    next = cursor_of(recs->back());
    body += "\"" + next + "\"}";
  } else {
    body += "null}";
  }
  auto res = json_response(v, status::ok, std::move(body));
  if (more) {
    // The same query with the next cursor.
    std::string link = std::string{api_root} + "/processes?";
    for (auto& [name, value] : query)
      if (name != "cursor")
        link += name + "=" + encoded(value) + "&";
    link += "cursor=" + next;
    res.set(bhttp::field::link, "<" + link + ">; rel=\"next\"");
  }
  return res;
}

namespace {

/// A sequence number of Last-Event-ID or a query parameter `name`; a 400
/// naming it when `text` is not one.
outcome<uint64_t> sequence_number(const std::string& text,
                                  const std::string& name) {
  auto n = whole_number(text, 19);
  if (!n)
    return make_failure(errc::invalid_argument,
                        name
                          + " must be a sequence number (the id of an "
                            "event), not \""
                          + text + "\"");
  return *n;
}

/// `stream=`: stdout, stderr, or none for both.
outcome<std::optional<output_stream>>
stream_parameter(const std::map<std::string, std::string>& query) {
  auto it = query.find("stream");
  if (it == query.end())
    return std::optional<output_stream>{};
  auto s = output_stream_from(it->second);
  if (!s)
    return make_failure(errc::invalid_argument,
                        "stream must be stdout or stderr, not \"" + it->second
                          + "\"");
  return std::optional<output_stream>{*s};
}

} // namespace

std::unique_ptr<event_stream> api::stream(const request& r, const route& which,
                                          std::optional<response>& refused) {
  if (which.method != verb::get
      || (which.path != "/events" && which.path != "/processes/{pid}/logs"))
    return nullptr;
  auto v = r.version();
  auto target = std::string_view{r.target().data(), r.target().size()};
  auto query = query_of(target);
  if (!query) {
    refused = failed(v, query.error());
    return nullptr;
  }
  if (auto bad = unknown_parameter(v, *query, parameters_of(which))) {
    refused = std::move(*bad);
    return nullptr;
  }
  // Where to resume: Last-Event-ID (a reconnecting EventSource) wins over
  // since= (the URL it was first opened with).
  std::optional<uint64_t> since;
  auto last_id = r.find("Last-Event-ID");
  if (last_id != r.end()) {
    auto n = sequence_number(std::string{last_id->value()}, "Last-Event-ID");
    if (!n) {
      refused = failed(v, n.error());
      return nullptr;
    }
    since = *n;
  }
  if (which.path == "/events") {
    if (auto it = query->find("since"); it != query->end() && !since) {
      auto n = sequence_number(it->second, "since");
      if (!n) {
        refused = failed(v, n.error());
        return nullptr;
      }
      since = *n;
    }
    if (!since) {
      // From now on.
      auto last = feed_.last_seq();
      if (!last) {
        refused = failed(v, last.error());
        return nullptr;
      }
      since = *last;
    }
    return feed_.subscribe(*since);
  }
  auto follow = query->find("follow");
  if (follow == query->end())
    return nullptr; // the output as text
  if (follow->second != "1" && follow->second != "true") {
    refused
      = problem(v, status::bad_request, "invalid_argument",
                "follow must be 1 or true, not \"" + follow->second + "\"");
    return nullptr;
  }
  auto only = stream_parameter(*query);
  if (!only) {
    refused = failed(v, only.error());
    return nullptr;
  }
  std::string pid;
  matches(which.path, path_of(target).substr(api_root.size()), pid);
  // An unknown process is a 404 now, not a stream that ends at once.
  if (auto rec = door_.info(pid); !rec) {
    refused = failed(v, rec.error());
    return nullptr;
  }
  return follow_output(door_, pid, since.value_or(0), *only);
}

void api::refresh_streams() {
  feed_.refresh();
}

void api::forget_streams() {
  feed_.forget_if_unfollowed();
}

response api::logs(const request& r, const std::string& pid,
                   const std::map<std::string, std::string>& query) {
  auto v = r.version();
  auto only = stream_parameter(query);
  if (!only)
    return failed(v, only.error());
  auto log = door_.call(output_request{pid, 0});
  if (!log)
    return failed(v, log.error());
  response res{status::ok, v};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.set("Procman-Status", to_string(log->status));
  if (log->dropped_bytes > 0)
    res.set("Procman-Dropped-Bytes", std::to_string(log->dropped_bytes));
  for (auto& c : log->chunks)
    if (!*only || c.stream == **only)
      res.body() += c.data;
  res.prepare_payload();
  return res;
}

response api::metrics(const request& r) {
  auto v = r.version();
  auto target = std::string_view{r.target().data(), r.target().size()};
  if (target != path_of(target))
    return problem(v, status::bad_request, "invalid_argument",
                   "GET /metrics takes no query parameters");
  auto m = door_.call(metrics_request{});
  if (!m)
    return failed(v, m.error());
  auto n = door_.call(nodes_request{});
  if (!n)
    return failed(v, n.error());
  response res{status::ok, v};
  res.set(bhttp::field::content_type, metrics_content_type);
  res.body() = render_metrics(*m) + render_node_metrics(*n) + counts_.render();
  res.prepare_payload();
  return res;
}

response api::schedules(const request& r, const route& which,
                        const std::string& name) {
  auto v = r.version();
  if (which.method == verb::get) {
    auto all = door_.call(schedules_request{});
    if (!all)
      return failed(v, all.error());
    json::array out;
    for (auto& x : *all)
      out.push_back(render_schedule(x));
    return json_response(v, status::ok, json::serialize(out));
  }
  if (which.method == verb::delete_) {
    auto key = decoded(name);
    if (!key)
      return problem(v, status::bad_request, "invalid_argument",
                     "malformed schedule name \"" + name + "\"");
    auto gone = door_.call(schedule_remove_request{*key});
    if (!gone)
      return failed(v, gone.error());
    return json_response(v, status::ok,
                         json::serialize(render_schedule(*gone)));
  }
  auto doc = parse_user_json(r.body(), "the body");
  if (!doc)
    return failed(v, doc.error());
  if (!doc->is_object())
    return problem(v, status::bad_request, "invalid_json",
                   "the body must be a JSON object: name, cron, spec");
  auto& o = doc->as_object();
  for (auto& [k, x] : o)
    if (k != "name" && k != "cron" && k != "spec")
      return problem(v, status::bad_request, "invalid_argument",
                     "unknown field \"" + std::string{k}
                       + "\" (known: name, cron, spec)");
  for (auto k : {"name", "cron"})
    if (!o.contains(k) || !o.at(k).is_string())
      return problem(v, status::bad_request, "invalid_argument",
                     std::string{"field \""} + k + "\" must be a string");
  if (!o.contains("spec"))
    return problem(v, status::unprocessable_entity, "invalid_spec",
                   "field \"spec\" is missing");
  auto spec = parse_spec(o.at("spec"));
  if (!spec)
    return failed(v, spec.error());
  auto added = door_.call(schedule_add_request{
    std::string{o.at("name").as_string()},
    std::string{o.at("cron").as_string()}, std::move(*spec)});
  if (!added)
    return failed(v, added.error());
  return json_response(v, status::ok, json::serialize(render_schedule(*added)));
}

} // namespace procman::http
