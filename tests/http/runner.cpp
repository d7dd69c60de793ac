// procman-runner --http: the HTTP API served by a real runner (a local one
// and a store node) through its engine's manager, reached by a real client
// (http/client.hpp).

#include <algorithm>
#include <csignal>
#include <set>
#include <sstream>

#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "engine/cli_fixture.hpp"
#include "fixtures/background.hpp"
#include "http/client.hpp"
#include "http/posts.hpp"

using namespace procman;
using namespace procman::test;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// "http[s]://ADDR:PORT" of the runner's "HTTP API on URL/api/v1" line.
std::string served_at(background& runner) {
  const std::string marker = "HTTP API on ";
  std::string base;
  BOOST_REQUIRE_MESSAGE(
    eventually(
      [&] {
        auto log = runner.log();
        auto at = log.find(marker);
        auto end = log.find("/api/v1", at);
        if (at == std::string::npos || end == std::string::npos)
          return false;
        base = log.substr(at + marker.size(), end - at - marker.size());
        return true;
      },
      60),
    "the runner serves no HTTP API: " << runner.log());
  return base;
}

uint16_t port_of(const std::string& base) {
  return static_cast<uint16_t>(std::stoul(base.substr(base.rfind(':') + 1)));
}

struct runner_fixture : cli_fixture {
  std::string token(const std::string& scope) {
    auto res = procman({"token", "create", "--scope", scope});
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
    return res.out.substr(0, res.out.find('\n'));
  }

  size_t processes() {
    auto res = procman({"list"});
    BOOST_REQUIRE(res.exit_code == 0);
    return static_cast<size_t>(
      std::count(res.out.begin(), res.out.end(), '\n'));
  }
};

const std::string set_spec
  = R"({"steps": {"a": {"class": "procman.set", "args": {"x": 1}}}})";

const std::string pause_spec
  = R"({"steps": {"ask": {"class": "procman.pause", "args": {}}},
        "timeout": 60})";

} // namespace

BOOST_AUTO_TEST_SUITE(http_runner)

BOOST_AUTO_TEST_CASE(a_runner_runs_what_post_starts_and_stops_on_sigterm) {
  runner_fixture f;
  auto operate = f.token("operate");
  auto read = f.token("read");
  auto runner = f.background_runner({"--wait", "--http", "127.0.0.1:0"});
  auto base = served_at(*runner);
  BOOST_TEST(base.find("http://127.0.0.1:") == 0u, base);
  auto started = http_client(base, "", operate,
                             {{"POST", "/processes", set_spec}})
                   .front();
  BOOST_TEST_REQUIRE(started.status == 201, started.body);
  auto pid = std::string{started.doc().at("pid").as_string()};
  // The runner runs it: the API and the CLI see it finished.
  BOOST_TEST(eventually(
    [&] {
      auto got = http_client(base, "", read, {{"GET", "/processes/" + pid, ""}})
                   .front();
      return got.status == 200
             && got.doc().at("status").as_string() == "finished";
    },
    60));
  BOOST_TEST(f.status_of(pid) == "finished");
  BOOST_TEST(f.status(pid).at("output").at("x").as_int64() == 1);
  // A read token starts nothing.
  auto refused
    = http_client(base, "", read, {{"POST", "/processes", set_spec}}).front();
  BOOST_TEST(refused.status == 403);
  BOOST_TEST(f.processes() == 1u);
  // SIGTERM: the runner drains and exits 0, and the server is gone.
  runner->signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(runner->wait(60), runner->report());
  BOOST_TEST(runner->exit_code() == 0, runner->log());
  asio::io_context io;
  tcp::socket s{io};
  boost::system::error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port_of(base)}, ec);
  BOOST_TEST((ec == asio::error::connection_refused), ec.message());
}

BOOST_AUTO_TEST_CASE(concurrent_starts_share_the_runners_commits_and_all_run) {
  // Through the runner's store actor, which parks each start with its own
  // transitions until the next flush: 16 starts at once, each with a key
  // of its own, and 8 with one key between them; each is answered once,
  // the shared key makes one process, and every process runs once. (They
  // pause: a key is held while its process may still run, so one that
  // finished at once would let a late start with its key begin another.)
  runner_fixture f;
  auto operate = f.token("operate");
  auto runner = f.background_runner(
    {"--wait", "--parallel", "2", "--http", "127.0.0.1:0"});
  auto base = served_at(*runner);
  auto answers = post_all(port_of(base), operate, pause_spec,
                          keys_of("own-", 16, "shared", 8));
  std::set<std::string> own, shared;
  int created = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    auto [status, pid] = answers[i];
    if (i < 16) {
      BOOST_TEST(status == 201, "answer " << i);
      own.insert(pid);
    } else {
      BOOST_TEST((status == 201 || status == 200), "answer " << i);
      created += status == 201 ? 1 : 0;
      shared.insert(pid);
    }
  }
  BOOST_TEST(own.size() == 16u);
  BOOST_TEST(shared.size() == 1u);
  BOOST_TEST(created == 1);
  std::set<std::string> all = own;
  all.insert(shared.begin(), shared.end());
  for (auto& pid : all)
    BOOST_TEST(f.await_status(pid, "interrupted", 60), pid);
  BOOST_TEST(f.processes() == 17u);
  // Each ran once: one claim apiece in the log.
  auto log = f.procman({"log", "export"});
  BOOST_REQUIRE(log.exit_code == 0);
  for (auto& pid : all) {
    size_t claims = 0;
    std::istringstream in{log.out};
    for (std::string line; std::getline(in, line);)
      if (line.find("\"event\":\"claim\"") != std::string::npos
          && line.find(pid) != std::string::npos)
        ++claims;
    BOOST_TEST(claims == 1u, pid);
  }
  runner->signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(runner->wait(60), runner->report());
  BOOST_TEST(runner->exit_code() == 0, runner->log());
}

BOOST_AUTO_TEST_CASE(a_store_node_serves_https_beyond_loopback) {
  runner_fixture f;
  auto cert = f.tmp.str() + "/node.pem";
  auto key = f.tmp.str() + "/node.key";
  make_certificate(cert, key);
  auto operate = f.token("operate");
  // The same files for CAF's mutual TLS (the certificate its own CA) and
  // for HTTPS.
  auto node = f.background_runner({"--listen", "127.0.0.1:0", "--tls-cert",
                                   cert, "--tls-key", key, "--tls-ca", cert,
                                   "--http", "0.0.0.0:0"});
  auto base = served_at(*node);
  BOOST_TEST(base.find("https://0.0.0.0:") == 0u, base);
  auto https = "https://127.0.0.1:" + std::to_string(port_of(base));
  auto both
    = http_client(https, cert, operate,
                  {{"POST", "/processes", set_spec}, {"GET", "/healthz", ""}});
  BOOST_TEST_REQUIRE(both[0].status == 201, both[0].body);
  BOOST_TEST(both[1].status == 200);
  auto pid = std::string{both[0].doc().at("pid").as_string()};
  BOOST_TEST(eventually(
    [&] {
      return http_client(https, cert, operate,
                         {{"GET", "/processes/" + pid, ""}})
               .front()
               .doc()
               .at("status")
               .as_string()
             == "finished";
    },
    60));
  node->signal(SIGTERM);
  BOOST_REQUIRE_MESSAGE(node->wait(60), node->report());
  BOOST_TEST(node->exit_code() == 0, node->log());
}

BOOST_AUTO_TEST_CASE(http_options_are_checked_before_anything_runs) {
  runner_fixture f;
  auto cert = f.tmp.str() + "/node.pem";
  auto key = f.tmp.str() + "/node.key";
  make_certificate(cert, key);
  auto queued = f.start(set_spec);
  auto expect = [&](std::vector<std::string> args, const std::string& says) {
    auto res = f.runner(std::move(args));
    BOOST_TEST(res.exit_code == 2, res.err);
    BOOST_TEST(res.err.find(says) != std::string::npos, res.err);
  };
  expect({"--http", "0.0.0.0:0"}, "beyond loopback");
  expect({"--http-max-body", "1K"}, "--http-max-body needs --http");
  expect({"--http", "127.0.0.1:0", "--tls-cert", cert}, "needs --tls-key");
  expect({"--http", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
          "--tls-ca", cert},
         "--tls-ca needs --publish, --listen or --join");
  expect({"--http", "127.0.0.1:0", "--tls-cert", key, "--tls-key", key},
         "is not a usable PEM certificate");
  expect({"--http", "127.0.0.1:0", "--http-max-connections", "0"},
         "--http-max-connections");
  auto join = run_command(
    {bin("procman-runner"), "--join", "127.0.0.1:1", "--http", "127.0.0.1:0"});
  BOOST_TEST(join.exit_code == 2);
  BOOST_TEST(join.err.find("--http does not go with --join")
             != std::string::npos);
  // None of them ran the queued process.
  BOOST_TEST(f.status_of(queued) == "queued");
}

BOOST_AUTO_TEST_SUITE_END()
