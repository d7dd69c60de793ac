#include "procman/apps/procman/web.hpp"

#include <iostream>

#include <boost/json.hpp>

#include "procman/apps/common/http_args.hpp"
#include "procman/apps/procman/remote.hpp"
#include "procman/http/api.hpp"
#include "procman/http/server.hpp"
#include "procman/http/token.hpp"
#include "procman/messages/render.hpp"
#include "procman/messages/time.hpp"

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
  auto opts = http_options(a, true);
  if (opts.tls())
    if (auto err = run_with_libssl())
      return failed(*err);
  auto d = open();
  auto srv = http::server::bind(d, opts);
  if (!srv) {
    if (is(srv.error(), errc::invalid_argument))
      throw usage_error(srv.error().context);
    return failed(srv.error());
  }
  std::cout << http_url(opts, (*srv)->port()) << "\n";
  std::cout.flush();
  (*srv)->run();
  return 0;
}

} // namespace procman::cli
