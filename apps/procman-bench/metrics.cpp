// Section "metrics": GET /metrics of `procman web` on a store of --big
// processes and on an empty one, side by side (docs/performance.md,
// "Metrics"), and the same read and rendering in this process.

#include "procman/http/metrics.hpp"

#include <csignal>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fcntl.h>
#include <unistd.h>

#include "procman/apps/procman-bench/bench.hpp"
#include "procman/messages/render.hpp"
#include "procman/messages/spec_check.hpp"

namespace procman::bench {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

/// `procman web` on `store`, with a read token, until destroyed.
class web_server {
public:
  web_server(const options& o, const std::string& store,
             const std::string& log) {
    auto tok = run_capture({o.bin_dir + "/procman", "--store", store, "token",
                            "create", "--scope", "read"},
                           log);
    if (tok.code != 0)
      throw std::runtime_error("procman token create failed (" + log + ")");
    token_ = tok.out.substr(0, tok.out.find('\n'));
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    pid_ = spawn({o.bin_dir + "/procman", "--store", store, "web", "--http",
                  "127.0.0.1:0"},
                 -1, out[1], -1);
    close(out[1]);
    std::string text;
    char buf[256];
    for (ssize_t n; text.find('\n') == std::string::npos
                    && (n = read(out[0], buf, sizeof buf)) > 0;)
      text.append(buf, static_cast<size_t>(n));
    close(out[0]);
    auto at = text.find("127.0.0.1:");
    if (at == std::string::npos)
      throw std::runtime_error("procman web did not start: " + text);
    port_ = static_cast<uint16_t>(std::stoul(text.substr(at + 10)));
  }

  ~web_server() {
    kill(pid_, SIGTERM);
    wait_exit(pid_);
  }

  uint16_t port() const { return port_; }
  const std::string& token() const { return token_; }

private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string token_;
};

/// A kept-alive connection that scrapes /metrics.
class scraper {
public:
  explicit scraper(const web_server& w) : stream_(io_), token_(w.token()) {
    stream_.connect({asio::ip::make_address("127.0.0.1"), w.port()});
  }

  /// One scrape; returns its body's size.
  size_t get() {
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/metrics", 11};
    req.set(bhttp::field::host, "127.0.0.1");
    req.set(bhttp::field::authorization, "Bearer " + token_);
    bhttp::write(stream_, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(stream_, buf_, res);
    if (res.result_int() != 200)
      throw std::runtime_error(
        "GET /metrics: " + std::to_string(res.result_int()) + " " + res.body());
    return res.body().size();
  }

private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  std::string token_;
};

/// Fills `dir` with `n` queued processes at three priorities, 10,000 per
/// commit without fsync, and ends a tenth of them (finished, failed).
void fill(const std::string& dir, uint64_t n) {
  remove_tree(dir);
  store_options so;
  so.dir = dir;
  so.no_sync = true;
  so.ring_doorbell = false;
  auto db = get_or_throw(store::open(so), "open " + dir);
  auto spec = parse_spec(trivial_spec);
  if (!spec)
    throw std::runtime_error("trivial spec: " + render(spec.error()));
  constexpr uint64_t batch = 10000;
  std::vector<transition> ts;
  for (uint64_t done = 0; done < n;) {
    auto k = std::min(batch, n - done);
    ts.assign(k, transition{});
    for (uint64_t i = 0; i < k; ++i) {
      ts[i].kind = transition_kind::enqueue;
      ts[i].source = "client";
      ts[i].spec = *spec;
      ts[i].spec.priority = static_cast<int32_t>((done + i) % 3);
    }
    for (auto& res : db->apply(ts))
      if (!res)
        throw std::runtime_error("fill: " + render(res.error()));
    done += k;
  }
  // Claim and end a tenth, so that every family has samples.
  for (uint64_t done = 0; done < n / 10;) {
    auto k = std::min(batch, n / 10 - done);
    auto claimed = get_or_throw(db->claim("bench", k), "claim");
    ts.clear();
    for (auto& rec : claimed) {
      transition t;
      t.kind = rec.queue_seq % 2 ? transition_kind::finish
                                 : transition_kind::fail;
      t.pid = rec.pid;
      t.source = "runner";
      t.output = "{}";
      t.error.kind = error_kind::exception;
      ts.push_back(std::move(t));
    }
    for (auto& res : db->apply(ts))
      if (!res)
        throw std::runtime_error("fill: " + render(res.error()));
    done += k;
  }
}

} // namespace

void run_metrics(const options& o, report& r) {
  if (!o.wants("metrics"))
    return;
  auto big = o.work_dir + "/metrics-big";
  auto empty = o.work_dir + "/metrics-empty";
  auto t0 = clock::now();
  fill(big, o.big);
  auto fill_s = seconds_since(t0);
  fill(empty, 0);
  auto& s = r.section("metrics");
  s["big"] = o.big;
  s["fill_seconds"] = fill_s;
  auto nbig = fmt_int(static_cast<double>(o.big));
  constexpr int scrapes = 200;
  // In this process: the front door's read and the rendering.
  {
    auto cb = get_or_throw(client::open(big), "open " + big);
    auto ce = get_or_throw(client::open(empty), "open " + empty);
    std::vector<double> tb, te;
    size_t bytes = 0;
    for (int i = 0; i < scrapes; ++i)
      for (int k = 0; k < 2; ++k) {
        auto& c = (i + k) % 2 ? cb : ce;
        auto t1 = now_us();
        auto m = get_or_throw(c.metrics(), "metrics");
        bytes = http::render_metrics(m).size();
        ((i + k) % 2 ? tb : te).push_back(now_us() - t1);
      }
    s["door_big_p50_us"] = percentile(tb, 0.5);
    s["door_big_p99_us"] = percentile(tb, 0.99);
    s["door_empty_p50_us"] = percentile(te, 0.5);
    r.add("metrics",
          "read + render (front door, in process), " + nbig + " / 0 processes, "
            + "p50",
          fmt_us(percentile(tb, 0.5)) + " / " + fmt_us(percentile(te, 0.5))
            + " (" + std::to_string(bytes) + " bytes)");
  }
  // Over HTTP: procman web, kept-alive connection, alternating stores.
  {
    web_server wb{o, big, o.work_dir + "/metrics-web-big.log"};
    web_server we{o, empty, o.work_dir + "/metrics-web-empty.log"};
    scraper sb{wb};
    scraper se{we};
    std::vector<double> tb, te;
    for (int i = 0; i < scrapes; ++i)
      for (int k = 0; k < 2; ++k) {
        auto& c = (i + k) % 2 ? sb : se;
        auto t1 = now_us();
        c.get();
        ((i + k) % 2 ? tb : te).push_back(now_us() - t1);
      }
    auto p50 = percentile(tb, 0.5);
    auto p99 = percentile(tb, 0.99);
    s["http_big_p50_us"] = p50;
    s["http_big_p99_us"] = p99;
    s["http_empty_p50_us"] = percentile(te, 0.5);
    s["http_empty_p99_us"] = percentile(te, 0.99);
    r.add("metrics", "GET /metrics (procman web), " + nbig + " processes, p50",
          fmt_us(p50));
    r.add("metrics", "GET /metrics, " + nbig + " processes, p99", fmt_us(p99),
          "<= 10 ms", p99 <= 10000 ? 1 : 0);
    r.add("metrics", "GET /metrics, empty store, p50 / p99 (alternating)",
          fmt_us(percentile(te, 0.5)) + " / " + fmt_us(percentile(te, 0.99)));
  }
  remove_tree(big);
  remove_tree(empty);
}

} // namespace procman::bench
