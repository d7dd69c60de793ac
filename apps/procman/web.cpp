#include "procman/apps/procman/web.hpp"

#include <chrono>
#include <iostream>
#include <type_traits>

#include <boost/json.hpp>

#include "procman/http/api.hpp"
#include "procman/http/server.hpp"
#include "procman/http/token.hpp"
#include "procman/messages/render.hpp"
#include "procman/messages/time.hpp"
#include "procman/messages/units.hpp"

namespace procman::cli {

namespace {

namespace json = boost::json;

/// Prints `err` as the CLI does and gives exit code 1.
int failed(const failure& err) {
  std::cerr << "procman: " << render(err) << "\n";
  return 1;
}

json::object token_json(const token_record& x) {
  json::object o{{"id", x.id},
                 {"name", x.name},
                 {"scope", x.scope},
                 {"created", timestamp(x.created_at)}};
  if (x.name.empty())
    o["name"] = nullptr;
  return o;
}

void print_line(const json::object& o) {
  std::cout << json::serialize(o) << "\n";
}

} // namespace

int token_command(const args& a, const std::function<door()>& open) {
  auto& p = a.positional();
  auto sub = p.size() > 1 ? p[1] : std::string{};
  auto no_more = [&](size_t n) {
    if (p.size() > n)
      throw usage_error("unexpected argument \"" + p[n] + "\"");
  };
  auto only_with_create = [&] {
    for (auto opt : {"scope", "name"})
      if (a.has(opt))
        throw usage_error(std::string("option --") + opt
                          + " is for procman token create");
  };
  if (sub == "create") {
    no_more(2);
    if (!a.has("scope"))
      throw usage_error("procman token create needs --scope read, operate "
                        "or admin");
    auto scope = a.get("scope");
    if (scope != "read" && scope != "operate" && scope != "admin")
      throw usage_error("--scope must be read, operate or admin, not \"" + scope
                        + "\"");
    auto token = http::make_token();
    if (!token)
      return failed(token.error());
    auto d = open();
    auto rec = d.call(
      token_add_request{a.get("name", ""), scope, http::token_hash(*token)});
    if (!rec)
      return failed(rec.error());
    std::cout << *token << "\n";
    std::cout.flush();
    std::cerr << "procman: token " << rec->id << " (" << rec->scope
              << "); it is not shown again: only its SHA-256 is stored\n";
    return 0;
  }
  if (sub == "list") {
    no_more(2);
    only_with_create();
    auto d = open();
    auto all = d.call(tokens_request{});
    if (!all)
      return failed(all.error());
    for (auto& x : *all)
      print_line(token_json(x));
    return 0;
  }
  if (sub == "revoke") {
    if (p.size() < 3)
      throw usage_error("usage: procman token revoke ID|NAME");
    no_more(3);
    only_with_create();
    auto d = open();
    auto gone = d.call(token_revoke_request{p[2]});
    if (!gone)
      return failed(gone.error());
    print_line(token_json(*gone));
    return 0;
  }
  throw usage_error("usage: procman token create --scope read|operate|admin "
                    "[--name N] | list | revoke ID|NAME");
}

int web_command(const args& a, const std::function<door()>& open) {
  if (a.positional().size() > 1)
    throw usage_error("unexpected argument \"" + a.positional()[1] + "\"");
  if (!a.has("http"))
    throw usage_error("procman web needs --http ADDR:PORT");
  http::server_options opts;
  opts.listen = a.get("http");
  auto where = http::split_listen(opts.listen);
  if (!where)
    throw usage_error(where.error().context);
  if (!http::is_loopback_host(where->first))
    throw usage_error("--http " + opts.listen
                      + " is beyond loopback: the HTTP API has no TLS yet, "
                        "so it listens on loopback only (put a TLS proxy "
                        "in front, docs/http.md)");
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
  auto d = open();
  auto srv = http::server::bind(d, opts);
  if (!srv) {
    if (is(srv.error(), errc::invalid_argument))
      throw usage_error(srv.error().context);
    return failed(srv.error());
  }
  auto host = where->first.find(':') != std::string::npos
                ? "[" + where->first + "]"
                : where->first;
  std::cout << "http://" << host << ":" << (*srv)->port()
            << std::string{http::api_root} << "\n";
  std::cout.flush();
  (*srv)->run();
  return 0;
}

} // namespace procman::cli
