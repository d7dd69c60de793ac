// GET /metrics with a real server (`procman web` on a real store), real
// runners and child processes, and Prometheus's own checker (`promtool
// check metrics`, from scripts/setup): the output is valid exposition
// text, and its counts are those of `procman list`, after a runner was
// killed with SIGKILL, after a purge and after the server reopened the
// store.

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "engine/cli_fixture.hpp"
#include "fixtures/background.hpp"
#include "http/web_fixture.hpp"

using namespace procman;
using namespace procman::test;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

struct scrape {
  unsigned status = 0;
  std::string content_type;
  std::string body;
  /// Each sample, "name{labels}" -> value.
  std::map<std::string, std::string> samples;

  double value(const std::string& series) const {
    auto it = samples.find(series);
    BOOST_REQUIRE_MESSAGE(it != samples.end(), series << " is missing");
    return std::stod(it->second);
  }

  /// The sum of a family's samples whose series begins with `prefix`.
  double sum(const std::string& prefix) const {
    double out = 0;
    for (auto& [k, v] : samples)
      if (k.rfind(prefix, 0) == 0)
        out += std::stod(v);
    return out;
  }
};

struct metrics_fixture : cli_fixture {
  std::unique_ptr<background> web;
  uint16_t port = 0;
  std::string token;
  int serves = 0;

  metrics_fixture() {
    auto res = procman({"token", "create", "--scope", "read"});
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
    token = res.out.substr(0, res.out.find('\n'));
    serve();
  }

  /// Starts `procman web` on an OS-chosen port (again after `stop`).
  void serve() {
    web = std::make_unique<background>(
      std::vector<std::string>{bin("procman"), "--store", store, "web",
                               "--http", "127.0.0.1:0"},
      tmp.str() + "/web" + std::to_string(++serves) + ".log");
    port = web_port(*web);
  }

  void stop() {
    web->signal(SIGTERM);
    BOOST_REQUIRE(web->wait(10));
  }

  scrape get(const std::string& tok) {
    asio::io_context io;
    beast::tcp_stream s{io};
    s.expires_after(std::chrono::seconds(30));
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    bhttp::request<bhttp::string_body> req{bhttp::verb::get, "/metrics", 11};
    req.set(bhttp::field::host, "127.0.0.1");
    if (!tok.empty())
      req.set(bhttp::field::authorization, "Bearer " + tok);
    bhttp::write(s, req);
    beast::flat_buffer buf;
    bhttp::response<bhttp::string_body> res;
    bhttp::read(s, buf, res);
    scrape out;
    out.status = res.result_int();
    out.content_type = std::string{res[bhttp::field::content_type]};
    out.body = res.body();
    std::istringstream in{out.body};
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#')
        continue;
      auto sp = line.rfind(' ');
      out.samples[line.substr(0, sp)] = line.substr(sp + 1);
    }
    return out;
  }

  /// `promtool check metrics` on `text`: empty when it passes, else what
  /// it says.
  std::string promtool(const std::string& text) {
    auto res = run_command({"promtool", "check", "metrics"}, text, 60);
    return res.exit_code == 0 ? std::string{} : res.out + res.err;
  }

  /// The records per status as `procman list` prints them.
  std::map<std::string, double> listed() {
    std::map<std::string, double> out;
    for (auto s : {"queued", "held", "running", "interrupted", "finished",
                   "error", "cancelled"})
      out[s] = 0;
    auto res = procman({"list", "--limit", "1000"});
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
    std::istringstream in{res.out};
    for (std::string line; std::getline(in, line);)
      if (!line.empty())
        out[std::string{json::parse(line).as_object().at("status").as_string()}]
          += 1;
    return out;
  }

  /// The processes gauge per status.
  static std::map<std::string, double> gauged(const scrape& m) {
    std::map<std::string, double> out;
    for (auto s : {"queued", "held", "running", "interrupted", "finished",
                   "error", "cancelled"})
      out[s] = m.value(std::string{"procman_processes{state=\""} + s + "\"}");
    return out;
  }

  /// Waits until `run`'s log says it started `n` executors.
  static bool started(background& run, size_t n) {
    return eventually(
      [&] {
        auto log = run.log();
        size_t seen = 0;
        for (size_t at = 0;
             (at = log.find("started executor", at)) != std::string::npos; ++at)
          ++seen;
        return seen >= n;
      },
      30);
  }

  /// The families docs/grafana-procman.json queries that `m` does not
  /// serve, but those of `exempt`, space-separated.
  static std::string unserved(const scrape& m,
                              const std::vector<std::string>& exempt = {}) {
    auto src = std::getenv("PROCMAN_SOURCE_DIR");
    BOOST_REQUIRE(src != nullptr);
    std::ifstream dash{std::string{src} + "/docs/grafana-procman.json"};
    std::string text{std::istreambuf_iterator<char>{dash}, {}};
    std::regex name{"procman_[a-z_]+"};
    size_t queried = 0;
    std::string out;
    for (std::sregex_iterator it{text.begin(), text.end(), name}, end;
         it != end; ++it, ++queried) {
      auto family = std::regex_replace(it->str(), std::regex{"_bucket$"}, "");
      if (std::find(exempt.begin(), exempt.end(), family) == exempt.end()
          && m.body.find("# TYPE " + family + " ") == std::string::npos)
        out += family + " ";
    }
    BOOST_TEST(queried > 10u);
    return out;
  }

  /// Waits until no process is queued or running.
  bool settled() {
    return eventually(
      [&] {
        auto l = listed();
        return l["queued"] == 0 && l["running"] == 0;
      },
      60);
  }
};

const std::string lone_pause_spec
  = R"({"steps": {"ask": {"class": "procman.pause", "args": {}}},
        "timeout": 60})";

} // namespace

BOOST_FIXTURE_TEST_SUITE(http_metrics, metrics_fixture)

BOOST_AUTO_TEST_CASE(metrics_pass_promtool_and_count_what_procman_list_shows) {
  BOOST_TEST_MESSAGE("no token: 401, as on every route but the probes");
  BOOST_TEST(get("").status == 401u);
  auto empty = get(token);
  BOOST_TEST_REQUIRE(empty.status == 200u, empty.body);
  BOOST_TEST(empty.content_type == "text/plain; version=0.0.4; charset=utf-8");
  BOOST_TEST(promtool(empty.body) == "");
  BOOST_TEST_MESSAGE("2 finished, 3 failed, 2 interrupted of which one is "
                     "cancelled, run by a real runner");
  for (int i = 0; i < 2; ++i)
    start(shell_spec("echo ok"));
  for (int i = 0; i < 3; ++i)
    start(shell_spec("exit 3"));
  auto paused = start(lone_pause_spec);
  start(lone_pause_spec);
  BOOST_REQUIRE(runner().exit_code == 0);
  BOOST_REQUIRE(settled());
  BOOST_REQUIRE(procman({"cancel", paused}).exit_code == 0);
  BOOST_TEST_MESSAGE("then queued ones at two priorities, with no runner");
  start(shell_spec("true"), {"--priority", "3"});
  start(shell_spec("true"), {"--priority", "3"});
  start(shell_spec("true"));
  auto m = get(token);
  BOOST_TEST_REQUIRE(m.status == 200u);
  BOOST_TEST(promtool(m.body) == "");
  auto l = listed();
  BOOST_TEST(gauged(m) == l);
  BOOST_TEST(l["finished"] == 2);
  BOOST_TEST(l["error"] == 3);
  BOOST_TEST(l["cancelled"] == 1);
  BOOST_TEST(l["interrupted"] == 1);
  BOOST_TEST(m.value("procman_queued_processes{priority=\"3\"}") == 2);
  BOOST_TEST(m.value("procman_queued_processes{priority=\"0\"}") == 1);
  BOOST_TEST(m.value("procman_processes_enqueued_total") == 10);
  BOOST_TEST(m.value("procman_processes_started_total") == 7);
  BOOST_TEST(m.value("procman_processes_finished_total") == 2);
  BOOST_TEST(m.value("procman_processes_cancelled_total") == 1);
  BOOST_TEST(m.value("procman_processes_interrupted_total") == 2);
  BOOST_TEST(m.sum("procman_processes_failed_total{") == 3);
  BOOST_TEST(m.value("procman_processes_failed_total{kind=\"exception\"}")
             == 3);
  BOOST_TEST(m.value("procman_queue_wait_seconds_count") == 7);
  BOOST_TEST(m.value("procman_queue_wait_seconds_bucket{le=\"+Inf\"}") == 7);
  BOOST_TEST(m.value("procman_run_duration_seconds_count") == 7);
  BOOST_TEST(
    m.value("procman_step_duration_seconds_count{class=\"procman.exec\"}")
    == 2);
  BOOST_TEST(m.value("procman_store_records") == 10);
  BOOST_TEST(m.value("procman_store_commits_total") > 0);
  BOOST_TEST(m.value("procman_store_map_size_bytes")
             >= m.value("procman_store_used_bytes"));
  BOOST_TEST(m.value("procman_queue_oldest_age_seconds{priority=\"3\"}") >= 0);
  // Every metric docs/grafana-procman.json queries is one of these, but
  // those only a runner's server has (a_runners_server_counts_...).
  BOOST_TEST(unserved(m, {"procman_slots", "procman_slots_busy",
                          "procman_fork_server_restarts_total"})
             == "");
  // The server's own answers, by route and code: the 401 and the 200s.
  BOOST_TEST(
    m.value("procman_http_requests_total{method=\"GET\",route=\"/metrics\","
            "code=\"401\"}")
    == 1);
  BOOST_TEST(
    m.value("procman_http_requests_total{method=\"GET\",route=\"/metrics\","
            "code=\"200\"}")
    == 1);
}

BOOST_AUTO_TEST_CASE(counts_stay_right_after_sigkill_purge_and_reopen) {
  BOOST_TEST_MESSAGE("a runner killed by SIGKILL while its processes run");
  std::vector<std::string> pids;
  for (int i = 0; i < 3; ++i)
    pids.push_back(start(shell_spec("sleep 300", 600)));
  auto run = background_runner({"--wait", "--parallel", "3"});
  // Started, not only claimed: a claimed-ahead one would be queued again.
  BOOST_REQUIRE(started(*run, 3));
  run->signal(SIGKILL);
  BOOST_REQUIRE(run->wait(10));
  auto killed = get(token);
  BOOST_TEST(gauged(killed) == listed());
  BOOST_TEST(killed.value("procman_processes{state=\"running\"}") >= 3);
  start(shell_spec("echo ok"));
  BOOST_TEST_MESSAGE("the next runner ends them as runner_lost");
  auto next = runner();
  BOOST_REQUIRE_MESSAGE(next.exit_code == 0, next.err);
  BOOST_REQUIRE(settled());
  auto after = get(token);
  BOOST_TEST(promtool(after.body) == "");
  BOOST_TEST(gauged(after) == listed());
  BOOST_TEST(after.value("procman_processes_failed_total{kind=\"runner_lost\"}")
             == 3);
  BOOST_TEST(after.value("procman_processes_finished_total") == 1);
  BOOST_TEST_MESSAGE("the same counts once the store is reopened");
  stop();
  serve();
  auto reopened = get(token);
  BOOST_TEST(gauged(reopened) == gauged(after));
  for (auto name :
       {"procman_processes_failed_total{kind=\"runner_lost\"}",
        "procman_processes_finished_total", "procman_processes_enqueued_total",
        "procman_run_duration_seconds_count",
        "procman_queue_wait_seconds_count"})
    BOOST_TEST(reopened.value(name) == after.value(name), name);
  BOOST_TEST_MESSAGE("a purge takes the records out of the gauges");
  BOOST_REQUIRE(procman({"purge", "--older-than", "0s"}).exit_code == 0);
  auto purged = get(token);
  BOOST_TEST(gauged(purged) == listed());
  BOOST_TEST(purged.value("procman_processes{state=\"error\"}") == 0);
  BOOST_TEST(purged.value("procman_processes_purged_total") == 4);
  BOOST_TEST(purged.value("procman_processes_finished_total") == 1);
  BOOST_TEST(promtool(purged.body) == "");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(http_metrics_runner)

BOOST_FIXTURE_TEST_CASE(a_runners_server_counts_its_slots_and_nodes,
                        metrics_fixture) {
  auto run
    = background_runner({"--wait", "--parallel", "3", "--http", "127.0.0.1:0"});
  auto web_port_was = port;
  port = web_port(*run);
  std::vector<std::string> pids;
  for (int i = 0; i < 2; ++i)
    pids.push_back(start(shell_spec("sleep 300", 600)));
  BOOST_REQUIRE(started(*run, 2));
  auto busy = get(token);
  BOOST_TEST(promtool(busy.body) == "");
  BOOST_TEST(busy.value("procman_slots") == 3);
  BOOST_TEST(busy.value("procman_slots_busy") == 2);
  BOOST_TEST(busy.value("procman_fork_server_restarts_total") == 0);
  BOOST_TEST(busy.value("procman_nodes{kind=\"runner\"}") == 1);
  BOOST_TEST(busy.value("procman_nodes{kind=\"worker\"}") == 0);
  BOOST_TEST(busy.sum("procman_node_running_processes{") == 2);
  // A runner's server has every family the Grafana dashboard queries.
  BOOST_TEST(unserved(busy) == "");
  BOOST_TEST_MESSAGE("procman web knows no runner's slots, but its node");
  port = web_port_was;
  auto web_scrape = get(token);
  BOOST_TEST(web_scrape.samples.count("procman_slots") == 0u);
  BOOST_TEST(web_scrape.samples.count("procman_slots_busy") == 0u);
  BOOST_TEST(web_scrape.value("procman_nodes{kind=\"runner\"}") == 1);
  port = web_port(*run);
  BOOST_TEST_MESSAGE("cancelled, the slots are free again");
  for (auto& pid : pids)
    BOOST_REQUIRE(procman({"cancel", pid}).exit_code == 0);
  BOOST_TEST(eventually(
    [&] { return get(token).value("procman_slots_busy") == 0; }, 30));
  BOOST_TEST_MESSAGE("a fork server killed is started again, and counted");
  auto log = run->log();
  auto at = log.find("--serve, pid ");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos,
                        "the runner has no fork server: " << log);
  auto server = std::stoi(log.substr(at + 13));
  BOOST_REQUIRE(::kill(server, SIGKILL) == 0);
  auto after = start(shell_spec("echo ok"));
  BOOST_TEST(eventually([&] { return status_of(after) == "finished"; }, 60),
             run->log());
  BOOST_TEST(get(token).value("procman_fork_server_restarts_total") == 1);
  run->signal(SIGTERM);
  BOOST_REQUIRE(run->wait(60));
  BOOST_TEST(run->exit_code() == 0, run->log());
}

BOOST_AUTO_TEST_SUITE_END()
