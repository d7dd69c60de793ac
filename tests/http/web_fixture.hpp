// The HTTP API's tests' fixture: `procman web` on a real store (or a real
// store node) on an OS-chosen loopback port, tokens of each scope, and
// clients: Boost.Beast, raw sockets, and Python's http.client
// (tests/http/client.py), a client that shares no code with the server.

#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/http/api.hpp"

#include "engine/cli_fixture.hpp"
#include "engine/remote_helpers.hpp"
#include "fixtures/background.hpp"
#include "http/schema.hpp"

namespace procman::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

struct reply {
  unsigned status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  json::value doc() const { return json::parse(body); }
  std::string kind() const { return std::string{doc().at("kind").as_string()}; }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

/// A store with `procman web` serving it, and tokens of each scope.
/// The port a `procman web` (or runner with --http) printed once it
/// listens on loopback.
inline uint16_t web_port(background& web) {
  uint16_t port = 0;
  BOOST_REQUIRE(eventually([&] {
    auto text = web.log();
    auto at = text.find("http://127.0.0.1:");
    auto end = text.find("/api/v1\n");
    if (at == std::string::npos || end == std::string::npos)
      return false;
    port
      = static_cast<uint16_t>(std::stoul(text.substr(at + 17, end - at - 17)));
    return true;
  }));
  return port;
}

struct web_fixture : cli_fixture {
  std::unique_ptr<background> node;
  std::unique_ptr<background> web;
  uint16_t port = 0;
  std::string read_token, operate_token, admin_token;
  std::vector<std::string> web_args;
  int webs = 0; ///< how many servers were started (their logs: web<N>.log)

  /// With `via_node`, a store node (procman-runner --listen) has the
  /// store, and the tokens and the server reach it with --connect.
  explicit web_fixture(std::vector<std::string> extra = {},
                       bool via_node = false) {
    std::vector<std::string> where{"--store", store};
    if (via_node) {
      node = std::make_unique<background>(
        std::vector<std::string>{bin("procman-runner"), "--store", store,
                                 "--listen", "127.0.0.1:0"},
        tmp.str() + "/node.log");
      where = {"--connect",
               "127.0.0.1:" + std::to_string(published_port(*node))};
    }
    read_token = token("read", where);
    operate_token = token("operate", where);
    admin_token = token("admin", where);
    web_args = {bin("procman")};
    web_args.insert(web_args.end(), where.begin(), where.end());
    web_args.insert(web_args.end(), {"web", "--http", "127.0.0.1:0"});
    web_args.insert(web_args.end(), extra.begin(), extra.end());
    start_web();
  }

  /// Starts `procman web` (again: a new port).
  void start_web() {
    web.reset();
    auto log = tmp.str() + "/web" + std::to_string(++webs) + ".log";
    web = std::make_unique<background>(web_args, log);
    port = web_port(*web);
  }

  std::string token(const std::string& scope,
                    const std::vector<std::string>& where) {
    std::vector<std::string> args{bin("procman")};
    args.insert(args.end(), where.begin(), where.end());
    args.insert(args.end(), {"token", "create", "--scope", scope});
    auto res = run_command(args, {}, 90);
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
    return res.out.substr(0, res.out.find('\n'));
  }

  tcp::endpoint where() const {
    return {asio::ip::make_address("127.0.0.1"), port};
  }

  reply send(bhttp::verb method, const std::string& target,
             const std::string& tok = {}, const std::string& body = {},
             std::vector<std::pair<std::string, std::string>> headers = {}) {
    asio::io_context io;
    beast::tcp_stream s{io};
    s.expires_after(std::chrono::seconds(30));
    s.connect(where());
    bhttp::request<bhttp::string_body> req{method, target, 11};
    req.set(bhttp::field::host, "127.0.0.1");
    if (!tok.empty())
      req.set(bhttp::field::authorization, "Bearer " + tok);
    if (!body.empty())
      req.set(bhttp::field::content_type, "application/json");
    for (auto& [k, v] : headers)
      req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    bhttp::write(s, req);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buf, res);
    reply out;
    out.status = res.result_int();
    out.body = res.body();
    for (auto& f : res)
      out.headers[std::string{f.name_string()}] = std::string{f.value()};
    return out;
  }

  /// tests/http/client.py with `args`; its JSON answer.
  json::object python(std::vector<std::string> args, double timeout = 120) {
    args.insert(args.begin(), {"python3", source_path("tests/http/client.py")});
    auto res = run_command(args, {}, timeout);
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0, "client.py: " + res.err);
    return json::parse(res.out).as_object();
  }

  /// One request through Python's http.client.
  reply get(const std::string& target, const std::string& tok,
            std::vector<std::string> headers = {}) {
    std::vector<std::string> args{"request", std::to_string(port), "GET",
                                  target, tok};
    args.insert(args.end(), headers.begin(), headers.end());
    auto o = python(args);
    reply out;
    out.status = static_cast<unsigned>(o.at("status").as_int64());
    out.body = std::string{o.at("body").as_string()};
    for (auto& [k, v] : o.at("headers").as_object())
      out.headers[std::string{k}] = std::string{v.as_string()};
    return out;
  }

  /// Sends `raw` bytes and reads until the server closes (at most 30 s).
  std::string raw(const std::string& bytes) {
    asio::io_context io;
    beast::tcp_stream s{io};
    s.expires_after(std::chrono::seconds(30));
    s.connect(where());
    asio::write(s.socket(), asio::buffer(bytes));
    std::string out;
    beast::error_code ec;
    char chunk[4096];
    for (;;) {
      auto n = s.read_some(asio::buffer(chunk), ec);
      out.append(chunk, n);
      if (ec)
        break;
    }
    BOOST_TEST(!(ec == beast::error::timeout)); // the server closed it
    return out;
  }

  /// The store's records and log, to check that refusals change nothing
  /// (without the export's header line, which says when it was made).
  std::string store_state() {
    auto res = procman({"log", "export"});
    BOOST_REQUIRE(res.exit_code == 0);
    return res.out.substr(res.out.find('\n') + 1);
  }

  std::string cli_status(const std::string& pid) {
    auto res = procman({"status", pid});
    BOOST_REQUIRE(res.exit_code == 0);
    return res.out;
  }
};

inline const std::string pause_spec
  = R"({"steps": {"ask": {"class": "procman.pause", "args": {}},
                  "after": {"class": "procman.set", "args": {"done": true}}},
        "timeout": 60})";

inline const char* const root = "/api/v1";

inline std::string at(const std::string& path) {
  return root + path;
}

/// Whether `r`, the answer to `method` on `path` (as the document names
/// it), is documented with its status and content type and matches the
/// schema there. Empty when it does, else what differs.
inline std::string against_document(const reply& r, const std::string& method,
                                    const std::string& path) {
  auto doc = json::parse(http::openapi_json()).as_object();
  auto& op = doc.at("paths").at(path).at(method).as_object();
  auto code = std::to_string(r.status);
  auto found = op.at("responses").as_object().if_contains(code);
  if (!found)
    return method + " " + path + ": status " + code + " is not documented";
  json::value res = *found;
  if (auto ref = res.as_object().if_contains("$ref")) {
    std::string name{ref->as_string()};
    res = doc.at("components")
            .at("responses")
            .at(name.substr(name.rfind('/') + 1));
  }
  auto media = r.header("Content-Type");
  auto content = res.at("content").as_object().if_contains(media);
  if (!content)
    return method + " " + path + " " + code + ": " + media
           + " is not documented";
  if (media.find("json") == std::string::npos)
    return {}; // text: its status and media type are documented
  auto m = schema_mismatch(doc, content->at("schema"), r.doc());
  return m.empty() ? m : method + " " + path + " " + code + ": " + m;
}

} // namespace procman::test
