// Where procman's log lines go and how they look: the text format, the JSON
// format (procman-runner --log-format json), a host's sink, and the
// runner's readiness line (--ready-fd).

#include <mutex>
#include <optional>
#include <regex>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "procman/logging/logger.hpp"

#include "cli_fixture.hpp"
#include "engine_helpers.hpp"

using namespace procman;
using namespace procman::test;

namespace {

/// Lines a sink received, with their levels.
struct captured {
  std::mutex mtx;
  std::vector<std::pair<log_level, std::string>> lines;

  log_sink sink() {
    return [this](log_level lvl, const std::string& line) {
      std::lock_guard<std::mutex> guard{mtx};
      lines.emplace_back(lvl, line);
    };
  }

  std::vector<std::pair<log_level, std::string>> all() {
    std::lock_guard<std::mutex> guard{mtx};
    return lines;
  }
};

/// Puts the logger back as a test found it.
struct logger_fixture {
  captured got;

  logger_fixture() { logger::set_sink(got.sink()); }

  ~logger_fixture() {
    logger::set_sink({});
    logger::set_format(log_format::text);
    logger::set_level(log_level::info);
  }
};

const std::string hello
  = R"({"steps": {"greet": {"class": "procman.set", "args": {"x": 1}}}})";

/// A pipe whose write end a runner inherits as --ready-fd.
struct ready_pipe {
  int read_end = -1;
  int write_end = -1;

  ready_pipe() {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    read_end = fds[0];
    write_end = fds[1];
    ::fcntl(read_end, F_SETFD, FD_CLOEXEC);
  }

  ~ready_pipe() {
    close_write_end();
    ::close(read_end);
  }

  std::string fd_arg() const { return std::to_string(write_end); }

  /// After the runner started: only the runner holds the write end.
  void close_write_end() {
    if (write_end >= 0)
      ::close(write_end);
    write_end = -1;
  }

  /// The line the runner wrote, or none when it closed the descriptor
  /// without one; fails the test when neither happens in `timeout_s`.
  std::optional<std::string> line(double timeout_s = 30) {
    std::string text;
    auto deadline = std::chrono::steady_clock::now()
                    + std::chrono::milliseconds(
                      static_cast<long>(patience(timeout_s) * 1000));
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
      BOOST_REQUIRE_MESSAGE(left > 0, "no ready line and no end of file; so "
                                      "far: \""
                                        << text << "\"");
      pollfd p{read_end, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0)
        continue;
      char buf[256];
      auto n = ::read(read_end, buf, sizeof(buf));
      if (n <= 0)
        return text.empty() ? std::nullopt : std::optional<std::string>{text};
      text.append(buf, static_cast<size_t>(n));
      if (auto nl = text.find('\n'); nl != std::string::npos) {
        // Exactly one line, then end of file.
        char more;
        BOOST_TEST(::read(read_end, &more, 1) == 0);
        return text.substr(0, nl);
      }
    }
  }
};

uint16_t port_of(const std::string& ready_line) {
  auto colon = ready_line.rfind(':');
  BOOST_REQUIRE(colon != std::string::npos);
  return static_cast<uint16_t>(std::stoul(ready_line.substr(colon + 1)));
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(logging, logger_fixture)

BOOST_AUTO_TEST_CASE(a_text_line_keeps_its_shape_and_goes_to_the_host_sink) {
  log_warn("0123456789abcdef0123456789abcdef", "disk is slow", {{"step", "a"}});
  log_info("", "started");
  log_debug("", "not at level info");
  auto lines = got.all();
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  BOOST_TEST((lines[0].first == log_level::warn));
  std::regex shape(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN  \S+\[\d+\] )"
                   R"(0123456789abcdef0123456789abcdef: disk is slow)");
  BOOST_TEST(std::regex_match(lines[0].second, shape), lines[0].second);
  BOOST_TEST((lines[1].first == log_level::info));
  BOOST_TEST(lines[1].second.find("] -: started") != std::string::npos,
             lines[1].second);
}

BOOST_AUTO_TEST_CASE(a_json_line_is_one_object_with_its_fields_and_escapes) {
  logger::set_format(log_format::json);
  log_error("0123456789abcdef0123456789abcdef", "said \"no\"\nand left",
            {{"step", "a b"}, {"run", "2"}});
  log_info("", "plain");
  auto lines = got.all();
  BOOST_REQUIRE_EQUAL(lines.size(), 2u);
  BOOST_TEST(lines[0].second.find('\n') == std::string::npos);
  auto v = boost::json::parse(lines[0].second).as_object();
  BOOST_TEST(v.size() == 7u);
  BOOST_TEST(v.at("level").as_string() == "error");
  BOOST_TEST(v.at("pid").as_string() == "0123456789abcdef0123456789abcdef");
  BOOST_TEST(v.at("message").as_string() == "said \"no\"\nand left");
  BOOST_TEST(v.at("os_pid").as_int64() == getpid());
  BOOST_TEST(v.at("component").is_string());
  std::regex time(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  BOOST_TEST(std::regex_match(std::string(v.at("time").as_string()), time));
  auto& fields = v.at("fields").as_object();
  BOOST_TEST(fields.size() == 2u);
  BOOST_TEST(fields.at("step").as_string() == "a b");
  BOOST_TEST(fields.at("run").as_string() == "2");
  auto plain = boost::json::parse(lines[1].second).as_object();
  BOOST_TEST(plain.at("pid").is_null());
  BOOST_TEST(plain.at("fields").as_object().empty());
}

BOOST_AUTO_TEST_CASE(only_text_and_json_are_formats) {
  BOOST_TEST((parse_log_format("text") == log_format::text));
  BOOST_TEST((parse_log_format("json") == log_format::json));
  BOOST_TEST(!parse_log_format("JSON"));
  BOOST_TEST(!parse_log_format("xml"));
  BOOST_TEST(!parse_log_format(""));
}

BOOST_AUTO_TEST_CASE(an_embedded_engine_logs_into_the_host_sink) {
  actor_system_fixture host;
  {
    auto eng = start_test_engine(*host.sys, host.tmp.str());
    BOOST_REQUIRE(eventually([&] {
      for (auto& [lvl, line] : got.all())
        if (line.find("serving " + host.tmp.str() + "/store")
            != std::string::npos)
          return lvl == log_level::info;
      return false;
    }));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(runner_logging, cli_fixture)

BOOST_AUTO_TEST_CASE(log_format_json_writes_one_object_per_line) {
  auto pid = start(hello);
  auto res = runner({"--log-format", "json", "--no-sync"});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  std::istringstream in(res.err);
  std::string line;
  int lines = 0;
  bool claimed = false;
  while (std::getline(in, line)) {
    ++lines;
    boost::system::error_code ec;
    auto v = boost::json::parse(line, ec);
    BOOST_REQUIRE_MESSAGE(!ec && v.is_object(), "not a JSON object: " << line);
    auto& o = v.as_object();
    BOOST_TEST(o.at("component").as_string() == "ProcessRunner");
    if (o.at("message").as_string() == "claimed (run 1)") {
      claimed = true;
      BOOST_TEST(o.at("pid").as_string() == pid);
      BOOST_TEST(o.at("fields").at("run").as_string() == "1");
    }
  }
  BOOST_TEST(lines >= 3);
  BOOST_TEST(claimed, res.err);
}

BOOST_AUTO_TEST_CASE(bad_log_format_and_ready_fd_are_refused_with_exit_2) {
  auto pid = start(hello);
  struct bad {
    std::vector<std::string> args;
    std::string says;
  };
  for (auto& b : std::vector<bad>{
         {{"--log-format", "xml"},
          "option --log-format must be text or json, not \"xml\""},
         {{"--ready-fd", "x"},
          "option --ready-fd must be a descriptor number, not \"x\""},
         {{"--ready-fd", "-1"},
          "option --ready-fd must be a descriptor number"},
         {{"--ready-fd", "987"},
          "option --ready-fd 987: descriptor 987 is not open"}}) {
    auto res = runner(b.args);
    BOOST_TEST(res.exit_code == 2, b.args[0] << " " << b.args[1]);
    BOOST_TEST(res.err.find(b.says) != std::string::npos, res.err);
  }
  // Nothing ran.
  BOOST_TEST(status(pid).at("status").as_string() == "queued");
}

BOOST_AUTO_TEST_CASE(a_waiting_runner_says_ready_before_a_start_needs_it) {
  ready_pipe ready;
  auto run = background_runner({"--wait", "--ready-fd", ready.fd_arg()});
  ready.close_write_end();
  auto line = ready.line();
  BOOST_REQUIRE(line);
  BOOST_TEST(*line == "ready");
  // It serves: a start neither warns nor waits for long.
  auto res = procman({"start", hello});
  BOOST_REQUIRE_EQUAL(res.exit_code, 0);
  BOOST_TEST(res.err.empty(), res.err);
  auto pid = res.out.substr(0, 32);
  BOOST_TEST(procman({"wait", pid, "--timeout", "60"}).exit_code == 0);
  // A second waiting runner ends at once without serving: no line.
  ready_pipe second;
  auto two = background_runner({"--wait", "--ready-fd", second.fd_arg()},
                               "second");
  second.close_write_end();
  BOOST_TEST(!second.line());
  BOOST_REQUIRE(two->wait(30));
  BOOST_TEST(two->exit_code() == 0);
}

BOOST_AUTO_TEST_CASE(a_store_node_and_a_worker_say_where_they_serve) {
  ready_pipe node_ready;
  auto node = background_runner({"--listen", "127.0.0.1:0", "--parallel", "0",
                                 "--ready-fd", node_ready.fd_arg()},
                                "node");
  node_ready.close_write_end();
  auto line = node_ready.line();
  BOOST_REQUIRE(line);
  BOOST_TEST(line->rfind("ready 127.0.0.1:", 0) == 0u, *line);
  auto port = port_of(*line);
  BOOST_TEST(port > 0);
  auto where = "127.0.0.1:" + std::to_string(port);
  ready_pipe worker_ready;
  background worker({bin("procman-runner"), "--join", where, "--parallel", "1",
                     "--ready-fd", worker_ready.fd_arg()},
                    tmp.str() + "/worker.log");
  worker_ready.close_write_end();
  auto joined = worker_ready.line();
  BOOST_REQUIRE_MESSAGE(joined, worker.log());
  BOOST_TEST(*joined == "ready " + where);
  // Work started over the address it gave runs on the worker.
  auto res = run_command({bin("procman"), "--connect", where, "start", hello});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  auto pid = res.out.substr(0, 32);
  auto waited = run_command(
    {bin("procman"), "--connect", where, "wait", pid, "--timeout", "60"});
  BOOST_TEST(waited.exit_code == 0, waited.err);
}

BOOST_AUTO_TEST_SUITE_END()
