// The HTTP API over TLS: `procman web --tls-cert --tls-key` with a
// self-signed certificate made by openssl at test time, Python's ssl and
// http.client as the client (http/client.hpp), and raw sockets for what a
// client should not send.

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "engine/cli_fixture.hpp"
#include "fixtures/background.hpp"
#include "http/client.hpp"

using namespace procman;
using namespace procman::test;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

/// A store served by `procman web` over HTTPS with a certificate for
/// 127.0.0.1 and localhost.
struct tls_fixture : cli_fixture {
  std::string cert = tmp.str() + "/server.pem";
  std::string key = tmp.str() + "/server.key";
  std::unique_ptr<background> web;
  std::string url; ///< https://ADDR:PORT/api/v1 as printed
  uint16_t port = 0;
  std::string token;

  explicit tls_fixture(const std::string& listen = "127.0.0.1:0",
                       std::vector<std::string> extra = {}) {
    make_certificate(cert, key);
    auto tok = procman({"token", "create", "--scope", "operate"});
    BOOST_REQUIRE_MESSAGE(tok.exit_code == 0, tok.err);
    token = tok.out.substr(0, tok.out.find('\n'));
    std::vector<std::string> args{
      bin("procman"), "--store",    store, "web",       "--http",
      listen,         "--tls-cert", cert,  "--tls-key", key};
    args.insert(args.end(), extra.begin(), extra.end());
    web = std::make_unique<background>(args, tmp.str() + "/web.log");
    BOOST_REQUIRE_MESSAGE(eventually([&] {
                            auto text = web->log();
                            auto end = text.find("/api/v1\n");
                            if (end == std::string::npos)
                              return false;
                            url = text.substr(0, end + 7);
                            auto colon = url.rfind(':');
                            port = static_cast<uint16_t>(
                              std::stoul(url.substr(colon + 1)));
                            return true;
                          }),
                          "procman web did not start: " << web->log());
  }

  std::vector<answer> https(const std::vector<request>& requests,
                            const std::string& tok) {
    return http_client("https://127.0.0.1:" + std::to_string(port), cert, tok,
                       requests);
  }

  answer https(const std::string& method, const std::string& path,
               const std::string& body = {}) {
    return https({{method, path, body}}, token).front();
  }

  tcp::endpoint where() const {
    return {asio::ip::make_address("127.0.0.1"), port};
  }

  /// Sends `bytes` on a fresh TCP connection and reads what comes back
  /// until the server closes; false when the server keeps it open 30 s.
  bool raw(const std::string& bytes, std::string& out) {
    asio::io_context io;
    beast::tcp_stream s{io};
    s.expires_after(std::chrono::seconds(30));
    s.connect(where());
    if (!bytes.empty())
      asio::write(s.socket(), asio::buffer(bytes));
    beast::error_code ec;
    char chunk[4096];
    for (;;) {
      auto n = s.read_some(asio::buffer(chunk), ec);
      out.append(chunk, n);
      if (ec)
        break;
    }
    return !(ec == beast::error::timeout);
  }
};

const std::string echo_spec
  = R"({"steps": {"hello": {"class": "procman.set", "args": {"x": 1}}}})";

} // namespace

BOOST_AUTO_TEST_SUITE(http_tls)

BOOST_AUTO_TEST_CASE(a_real_client_gets_answers_over_https) {
  tls_fixture f;
  BOOST_TEST(f.url
             == "https://127.0.0.1:" + std::to_string(f.port) + "/api/v1");
  auto health = f.https("GET", "/healthz");
  BOOST_TEST(health.status == 200);
  BOOST_TEST(health.doc().at("status").as_string() == "ok");
  // A start and its status on one kept-alive TLS connection.
  auto both = f.https({{"POST", "/processes", echo_spec},
                       {"GET", "/processes?limit=1", ""}},
                      f.token);
  BOOST_TEST_REQUIRE(both[0].status == 201, both[0].body);
  auto pid = std::string{both[0].doc().at("pid").as_string()};
  BOOST_TEST(both[0].location == "/api/v1/processes/" + pid);
  BOOST_TEST(both[1].status == 200);
  BOOST_TEST(both[1].doc().at("items").at(0).at("pid").as_string() == pid);
  auto got = f.https("GET", "/processes/" + pid);
  BOOST_TEST(got.status == 200);
  // The same JSON as procman status.
  BOOST_TEST(got.body == f.procman({"status", pid}).out);
  // Tokens are checked over TLS as over plain HTTP.
  BOOST_TEST(f.https({{"GET", "/processes", ""}}, "pm_wrong").front().status
             == 401);
}

BOOST_AUTO_TEST_CASE(plain_http_to_the_tls_port_is_refused_cleanly) {
  tls_fixture f;
  std::string out;
  BOOST_TEST(f.raw("GET /api/v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n", out));
  BOOST_TEST(out.find("HTTP/1.1 400") == 0u, out);
  BOOST_TEST(out.find("HTTPS only") != std::string::npos, out);
  // A handshake of garbage: closed, that connection only.
  std::string junk;
  BOOST_TEST(f.raw(std::string{"\x16\x03\x01\x00\x05"} + "hello", junk));
  BOOST_TEST(f.https("GET", "/healthz").status == 200);
  BOOST_TEST(f.web->running());
}

BOOST_AUTO_TEST_CASE(a_stalled_handshake_gets_the_header_timeout) {
  tls_fixture f{"127.0.0.1:0", {"--http-header-timeout", "1s"}};
  asio::io_context io;
  // The first bytes of a TLS record, then nothing; and nothing at all.
  beast::tcp_stream half{io}, silent{io};
  half.connect(f.where());
  asio::write(half.socket(), asio::buffer(std::string{"\x16\x03\x01"}));
  silent.connect(f.where());
  // Others are served meanwhile.
  BOOST_TEST(f.https("GET", "/healthz").status == 200);
  // Both are closed by the server (not by this side's 30 s bound).
  auto closed = [&](beast::tcp_stream& s) {
    char c;
    beast::error_code ec;
    s.expires_after(std::chrono::seconds(30));
    s.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  };
  BOOST_TEST(closed(half));
  BOOST_TEST(closed(silent));
  BOOST_TEST(f.https("GET", "/healthz").status == 200);
}

BOOST_AUTO_TEST_CASE(beyond_loopback_needs_tls) {
  cli_fixture c;
  auto refused = c.procman({"web", "--http", "0.0.0.0:0"});
  BOOST_TEST(refused.exit_code == 2);
  BOOST_TEST(refused.err.find("loopback") != std::string::npos, refused.err);
  // With TLS it listens there (and is reached on loopback).
  tls_fixture f{"0.0.0.0:0"};
  BOOST_TEST(f.url.find("https://0.0.0.0:") == 0u, f.url);
  BOOST_TEST(f.https("GET", "/healthz").status == 200);
}

BOOST_AUTO_TEST_CASE(bad_tls_options_are_usage_errors) {
  tls_fixture f;
  auto web = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"web", "--http", "127.0.0.1:0"});
    return f.procman(args);
  };
  auto expect = [&](std::vector<std::string> args, const std::string& says) {
    auto res = web(std::move(args));
    BOOST_TEST(res.exit_code == 2, res.err);
    BOOST_TEST(res.err.find(says) != std::string::npos, res.err);
  };
  expect({"--tls-cert", f.cert}, "--tls-cert needs --tls-key");
  expect({"--tls-key", f.key}, "--tls-key needs --tls-cert");
  expect({"--tls-cert", f.cert, "--tls-key", f.tmp.str() + "/none"},
         "cannot read the TLS key " + f.tmp.str() + "/none");
  expect({"--tls-cert", f.key, "--tls-key", f.key},
         "is not a usable PEM certificate");
  expect({"--tls-cert", f.cert, "--tls-key", f.key, "--tls-ca", f.cert},
         "--tls-ca needs --connect");
  // A key of another certificate.
  auto other = f.tmp.str() + "/other.key";
  auto made = run_command({"openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                           "ec_paramgen_curve:P-256", "-out", other},
                          {}, 60);
  BOOST_REQUIRE(made.exit_code == 0);
  expect({"--tls-cert", f.cert, "--tls-key", other},
         "does not belong to the certificate");
}

BOOST_AUTO_TEST_SUITE_END()
