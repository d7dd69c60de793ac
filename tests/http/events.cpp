// The HTTP API's server-sent event streams, read by Python (tests/http/
// client.py): GET /events against the durable message log with a real
// runner, resumed with Last-Event-ID across disconnects and a restart of
// the server, 200 subscribers at once; GET /processes/{pid}/logs with and
// without follow.

#include <atomic>
#include <csignal>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>
#include <sys/socket.h>

#include "http/web_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

/// What a subscriber got (client.py events).
struct received {
  json::object all;
  std::vector<json::object> events; ///< each {"id", "event", "data"}
  std::vector<json::object> data;   ///< each event's data, parsed
  std::vector<uint64_t> ids;        ///< each event's id
  std::string header(const std::string& name) const {
    auto& h = all.at("headers").as_object();
    auto x = h.if_contains(name);
    return x ? std::string{x->as_string()} : std::string{};
  }
};

received parse_received(const json::object& o) {
  received r;
  r.all = o;
  if (auto es = o.if_contains("events"))
    for (auto& e : es->as_array()) {
      r.events.push_back(e.as_object());
      r.data.push_back(json::parse(e.at("data").as_string()).as_object());
      if (auto id = e.as_object().if_contains("id"))
        r.ids.push_back(std::stoull(std::string{id->as_string()}));
    }
  return r;
}

/// A subscriber in the background (client.py events).
struct subscriber {
  std::unique_ptr<background> run;

  subscriber(web_fixture& f, const std::string& target, int count,
             double seconds, const std::string& until = {},
             std::vector<std::string> headers = {},
             const std::string& name = "sub") {
    std::vector<std::string> args{"python3",
                                  source_path("tests/http/client.py"),
                                  "events",
                                  std::to_string(f.port),
                                  target,
                                  f.read_token,
                                  std::to_string(count),
                                  std::to_string(seconds),
                                  until};
    args.insert(args.end(), headers.begin(), headers.end());
    // A log of its own: one that is read again would hold an older answer.
    static int made = 0;
    run = std::make_unique<background>(
      args, f.tmp.str() + "/" + name + std::to_string(++made) + ".log");
    BOOST_REQUIRE_MESSAGE(
      eventually(
        [&] { return run->log().find("connected") != std::string::npos; }, 60),
      run->log());
  }

  /// Waits for it to end; what it got.
  received result(double timeout_s = 120) {
    BOOST_REQUIRE_MESSAGE(run->wait(timeout_s), run->report());
    std::istringstream lines{run->log()};
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("{\"status\"", 0) == 0)
        return parse_received(json::parse(line).as_object());
    BOOST_FAIL("no answer from client.py: " << run->log());
    return {};
  }
};

/// The message log as `procman log export` gives it: seq -> entry line.
std::map<uint64_t, json::object> exported(web_fixture& f) {
  auto res = f.procman({"log", "export"});
  BOOST_REQUIRE(res.exit_code == 0);
  std::map<uint64_t, json::object> out;
  std::istringstream lines{res.out};
  for (std::string line; std::getline(lines, line);) {
    auto o = json::parse(line).as_object();
    if (o.contains("type") && o.at("type").as_string() == "entry")
      out[static_cast<uint64_t>(o.at("seq").as_int64())] = o;
  }
  return out;
}

/// Each event is its log entry: the same seq, pid, event and status, in
/// the documented shape.
void same_as_log(const received& r, web_fixture& f) {
  auto log = exported(f);
  auto doc = json::parse(http::openapi_json()).as_object();
  json::value schema
    = json::object{{"$ref", "#/components/schemas/Transition"}};
  BOOST_REQUIRE(r.ids.size() == r.data.size());
  for (size_t i = 0; i < r.data.size(); ++i) {
    auto& d = r.data[i];
    BOOST_TEST(r.events[i].at("event").as_string() == "transition");
    BOOST_TEST(schema_mismatch(doc, schema, d) == "", json::serialize(d));
    auto seq = static_cast<uint64_t>(d.at("seq").as_int64());
    BOOST_TEST(seq == r.ids[i]);
    BOOST_TEST_REQUIRE(log.count(seq) == 1u, "no log entry " << seq);
    auto& e = log.at(seq);
    BOOST_TEST(d.at("pid") == e.at("pid"));
    BOOST_TEST(d.at("event") == e.at("event"));
    BOOST_TEST(d.at("status") == e.at("status_after"));
  }
}

/// ids from..to, in order.
std::vector<uint64_t> range(uint64_t from, uint64_t to) {
  std::vector<uint64_t> out;
  for (auto i = from; i <= to; ++i)
    out.push_back(i);
  return out;
}

std::string post(web_fixture& f, const std::string& spec) {
  auto r = f.send(bhttp::verb::post, at("/processes"), f.operate_token, spec);
  BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
  return std::string{r.doc().at("pid").as_string()};
}

const std::string quick_spec
  = R"({"steps": {"a": {"class": "procman.set", "args": {"x": 1}}}})";

/// Starts `n` processes (no runner: one entry each), then reads the first
/// three entries and goes away.
void read_three_of(web_fixture& f, int n) {
  for (int i = 0; i < n; ++i)
    post(f, quick_spec);
  auto first = subscriber{f, at("/events?since=0"), 3, 60}.result();
  BOOST_TEST_REQUIRE(first.ids == range(1, 3));
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_events)

BOOST_AUTO_TEST_CASE(a_subscriber_sees_a_process_from_enqueue_to_finished) {
  web_fixture f;
  // From now on (no Last-Event-ID): connected before the process starts.
  subscriber sub{f, at("/events"), 0, 120, R"("event":"finish")"};
  auto pid = post(f, shell_spec("echo hello"));
  auto runner = f.background_runner({});
  auto got = sub.result();
  BOOST_TEST(got.all.at("status").as_int64() == 200);
  BOOST_TEST(got.header("Content-Type") == "text/event-stream");
  BOOST_TEST(got.all.at("retry").as_int64() == 2000);
  std::vector<std::string> kinds;
  for (auto& d : got.data) {
    BOOST_TEST(d.at("pid").as_string() == pid);
    kinds.emplace_back(d.at("event").as_string());
  }
  BOOST_TEST_REQUIRE(kinds.size() >= 4u);
  BOOST_TEST(kinds.front() == "enqueue");
  BOOST_TEST(kinds[1] == "claim");
  BOOST_TEST(kinds.back() == "finish");
  BOOST_TEST(got.data.back().at("status").as_string() == "finished");
  BOOST_TEST(got.data.front().at("status").as_string() == "queued");
  // Every entry of the log, in order, none twice: ids 1..N.
  BOOST_TEST(got.ids == range(1, got.ids.size()));
  same_as_log(got, f);
}

BOOST_AUTO_TEST_CASE(reconnecting_with_last_event_id_gets_exactly_the_missed) {
  web_fixture f;
  read_three_of(f, 5);
  // Meanwhile more happen.
  for (int i = 0; i < 4; ++i)
    post(f, quick_spec);
  auto runner = f.background_runner({});
  BOOST_REQUIRE(eventually(
    [&] {
      auto q = f.get(at("/queue"), f.read_token).doc();
      return q.at("queued").as_int64() == 0 && q.at("running").as_int64() == 0;
    },
    60));
  auto total = exported(f).rbegin()->first;
  BOOST_TEST_REQUIRE(total > 9u);
  // Reconnecting as an EventSource does: exactly the rest, once each.
  // (Last-Event-ID wins over the since= of the URL it was opened with.)
  subscriber again{f,  at("/events?since=0"), static_cast<int>(total - 3), 60,
                   {}, {"Last-Event-ID: 3"}};
  auto rest = again.result();
  BOOST_TEST(rest.ids == range(4, total));
  same_as_log(rest, f);
  // since= alone does the same.
  auto by_query = subscriber{f, at("/events?since=7"),
                             static_cast<int>(total - 7), 60}
                    .result();
  BOOST_TEST(by_query.ids == range(8, total));
  // Nothing more comes: the stream stays open with heartbeats only (not
  // waited for here), so a count past the end times out with what there
  // was.
  auto past = subscriber{f, at("/events?since=" + std::to_string(total)), 1, 2}
                .result();
  BOOST_TEST(past.ids.empty());
  BOOST_TEST(!past.all.at("ended").as_bool());
}

BOOST_AUTO_TEST_CASE(resuming_across_a_restart_of_the_server) {
  web_fixture f;
  read_three_of(f, 3);
  // The server goes; processes start without it; a new one comes up.
  f.web.reset();
  for (int i = 0; i < 3; ++i)
    f.start(quick_spec);
  f.start_web();
  post(f, quick_spec);
  subscriber after{f, at("/events"), 4, 60, {}, {"Last-Event-ID: 3"}};
  auto got = after.result();
  BOOST_TEST(got.ids == range(4, 7), json::serialize(got.all));
  same_as_log(got, f);
}

/// 200 subscribers from `base` on (client.py many), each until the
/// schedule `marker` is added; checks that each got every entry after
/// `base` up to that, in order. `during` makes the entries.
void two_hundred(web_fixture& f, bool connect_first,
                 const std::function<void()>& during) {
  auto base = exported(f).rbegin()->first;
  const std::string marker = "marker-" + std::to_string(base);
  std::vector<std::string> args{"python3",
                                source_path("tests/http/client.py"),
                                "many",
                                std::to_string(f.port),
                                at("/events?since=" + std::to_string(base)),
                                f.read_token,
                                "200",
                                "\"schedule\":\"" + marker + "\"",
                                "200"};
  auto add_marker = [&] {
    auto r = f.send(bhttp::verb::post, at("/schedules"), f.operate_token,
                    R"({"name": ")" + marker + R"(", "cron": "@yearly",
                        "spec": {"steps": {"a": {"class": "procman.set"}}}})");
    BOOST_REQUIRE_MESSAGE(r.status == 200u, r.body);
  };
  std::unique_ptr<background> many;
  if (connect_first) {
    // Connected before the entries come: the shared feed serves them all
    // as they are committed.
    many = std::make_unique<background>(args, f.tmp.str() + "/many.log");
    BOOST_REQUIRE_MESSAGE(
      eventually(
        [&] { return many->log().find("connected") != std::string::npos; },
        120),
      many->log());
    during();
    add_marker();
  } else {
    // Connected after: each catches up from the log.
    during();
    add_marker();
    many = std::make_unique<background>(args, f.tmp.str() + "/many.log");
  }
  BOOST_REQUIRE_MESSAGE(many->wait(240), many->report());
  auto last = exported(f).rbegin()->first;
  auto text = many->log();
  auto streams = json::parse(text.substr(text.find('['))).as_array();
  BOOST_TEST_REQUIRE(streams.size() == 200u);
  auto want = range(base + 1, last);
  for (size_t i = 0; i < streams.size(); ++i) {
    BOOST_TEST(streams[i].at("status").as_int64() == 200);
    std::vector<uint64_t> ids;
    for (auto& x : streams[i].at("ids").as_array())
      ids.push_back(static_cast<uint64_t>(x.as_int64()));
    BOOST_TEST(ids == want, "stream " << i << " got " << ids.size() << " of "
                                      << want.size());
  }
  BOOST_TEST(f.web->running());
}

BOOST_AUTO_TEST_CASE(two_hundred_live_subscribers_each_get_every_event) {
  web_fixture f;
  post(f, quick_spec);
  auto runner = f.background_runner({"--wait", "--parallel", "4"});
  two_hundred(f, true, [&] {
    std::set<std::string> pids;
    for (int i = 0; i < 40; ++i)
      pids.insert(post(f, quick_spec));
    BOOST_REQUIRE(eventually(
      [&] {
        for (auto& pid : pids)
          if (f.status_of(pid) != "finished")
            return false;
        return true;
      },
      120));
  });
}

BOOST_AUTO_TEST_CASE(two_hundred_late_subscribers_each_catch_up) {
  web_fixture f;
  post(f, quick_spec);
  // More entries than the server keeps for its subscribers would not fit
  // a test's time; these catch up from the log one batch at a time.
  two_hundred(f, false, [&] {
    for (int i = 0; i < 30; ++i)
      post(f, quick_spec);
  });
}

BOOST_AUTO_TEST_CASE(bad_stream_requests_are_a_400_naming_the_field) {
  web_fixture f;
  auto expect = [&](const reply& r, const std::string& says) {
    BOOST_TEST(r.status == 400u, r.body);
    BOOST_TEST(r.header("Content-Type") == "application/problem+json");
    BOOST_TEST(r.body.find(says) != std::string::npos, r.body);
  };
  expect(f.get(at("/events?since=x"), f.read_token), "since");
  expect(f.get(at("/events?since=-1"), f.read_token), "since");
  expect(f.get(at("/events"), f.read_token, {"Last-Event-ID: abc"}),
         "Last-Event-ID");
  expect(f.get(at("/events?from=3"), f.read_token), "from");
  BOOST_TEST(f.get(at("/events"), {}).status == 401u);
  auto pid = post(f, quick_spec);
  expect(f.get(at("/processes/" + pid + "/logs?stream=both"), f.read_token),
         "stream");
  expect(f.get(at("/processes/" + pid + "/logs?follow=yes"), f.read_token),
         "follow");
  auto unknown
    = f.get(at("/processes/0123456789abcdef0123456789abcdef/logs?follow=1"),
            f.read_token);
  BOOST_TEST(unknown.status == 404u);
  BOOST_TEST(unknown.kind() == "unknown_process");
  BOOST_TEST(against_document(unknown, "get", "/processes/{pid}/logs") == "");
}

BOOST_AUTO_TEST_CASE(logs_follow_gets_the_lines_as_printed_until_settled) {
  web_fixture f;
  auto pid = post(f, shell_spec("for i in 1 2 3 4 5; do echo line$i; "
                                "sleep 0.3; done; echo oops >&2",
                                60));
  subscriber all{f, at("/processes/" + pid + "/logs?follow=1"), 0, 120};
  subscriber out{f,    at("/processes/" + pid + "/logs?follow=1&stream=stdout"),
                 0,    120,
                 {},   {},
                 "out"};
  auto runner = f.background_runner({});
  auto got = all.result();
  BOOST_TEST(got.all.at("ended").as_bool()); // the server ended it
  std::string text;
  int chunks = 0;
  for (size_t i = 0; i < got.events.size(); ++i) {
    auto name = got.events[i].at("event").as_string();
    if (name == "output") {
      ++chunks;
      text += got.data[i].at("data").as_string();
    }
  }
  BOOST_TEST(text == "line1\nline2\nline3\nline4\nline5\noops\n");
  BOOST_TEST(chunks >= 2); // as it was written, not at the end at once
  BOOST_TEST(got.events.back().at("event").as_string() == "end");
  BOOST_TEST(got.data.back().at("status").as_string() == "finished");
  auto only = out.result();
  std::string stdout_text;
  for (size_t i = 0; i < only.events.size(); ++i)
    if (only.events[i].at("event").as_string() == "output")
      stdout_text += only.data[i].at("data").as_string();
  BOOST_TEST(stdout_text == "line1\nline2\nline3\nline4\nline5\n");
  // Without follow: the text, as procman logs gives it.
  auto plain = f.get(at("/processes/" + pid + "/logs"), f.read_token);
  BOOST_TEST(plain.status == 200u);
  BOOST_TEST(plain.body == f.procman({"logs", pid}).out);
  BOOST_TEST(plain.header("Procman-Status") == "finished");
  BOOST_TEST(against_document(plain, "get", "/processes/{pid}/logs") == "");
  auto err = f.get(at("/processes/" + pid + "/logs?stream=stderr"),
                   f.read_token);
  BOOST_TEST(err.body == "oops\n");
  // Resumed after the first chunk: the rest only.
  BOOST_TEST_REQUIRE(!got.ids.empty());
  auto second = got.ids[0];
  auto resumed
    = subscriber{f,  at("/processes/" + pid + "/logs?follow=1"),   0,        60,
                 {}, {"Last-Event-ID: " + std::to_string(second)}, "resumed"}
        .result();
  BOOST_TEST_REQUIRE(!resumed.ids.empty());
  BOOST_TEST(resumed.ids.front() == second + 1);
  BOOST_TEST(resumed.events.back().at("event").as_string() == "end");
}

BOOST_AUTO_TEST_CASE(streams_through_a_stopped_store_node_hold_up_no_client) {
  // procman web --connect: the streams' reads (the feed's at each tick, a
  // follower's, a new stream's first) wait for a store node that stopped
  // answering (SIGSTOP) on threads of their own. The server answers other
  // clients meanwhile, and the streams go on once the node answers again.
  web_fixture f{{}, true};
  auto pid = post(f, shell_spec("echo before; sleep 2; echo after", 60));
  subscriber events{f, at("/events"), 0, 120, R"("event":"finish")"};
  subscriber follow{f, at("/processes/" + pid + "/logs?follow=1"), 0, 120};
  f.node->signal(SIGSTOP);
  // A stream opened now: its first read waits for the node too.
  asio::io_context io;
  tcp::socket opening{io};
  opening.connect(f.where());
  asio::write(opening, asio::buffer("GET " + at("/events")
                                    + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      "Authorization: Bearer "
                                    + f.read_token + "\r\n\r\n"));
  // Ticks pass: the feed and the follower have asked the node, and wait.
  std::this_thread::sleep_for(
    std::chrono::milliseconds(10 * defaults::http_stream_poll_ms));
  std::atomic<bool> answered{false};
  std::atomic<bool> continued_unanswered{false};
  std::thread resume{[&] {
    // The node goes on when the others were answered, or after 10 s.
    for (int i = 0; i < 1000 && !answered; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    continued_unanswered = !answered;
    f.node->signal(SIGCONT);
  }};
  unsigned health = 0;
  unsigned page = 0;
  try {
    health = f.send(bhttp::verb::get, at("/healthz")).status;
    page = f.send(bhttp::verb::get, "/").status;
  } catch (const std::exception& e) {
    BOOST_TEST_MESSAGE("no answer: " << e.what());
  }
  answered = true;
  resume.join();
  BOOST_TEST(health == 200u);
  BOOST_TEST(page == 200u);
  // Answered while the node was stopped.
  BOOST_TEST(!continued_unanswered.load());
  // The node answers again: each stream ends as it would have.
  auto got = events.result();
  BOOST_TEST_REQUIRE(!got.data.empty());
  BOOST_TEST(got.data.back().at("pid").as_string() == pid);
  BOOST_TEST(got.data.back().at("event").as_string() == "finish");
  auto out = follow.result();
  std::string text;
  for (size_t i = 0; i < out.events.size(); ++i)
    if (out.events[i].at("event").as_string() == "output")
      text += out.data[i].at("data").as_string();
  BOOST_TEST(text == "before\nafter\n");
  BOOST_TEST_REQUIRE(!out.events.empty());
  BOOST_TEST(out.events.back().at("event").as_string() == "end");
  // The stream opened while the node was stopped was answered.
  timeval within{30, 0}; // a bound on the read below
  ::setsockopt(opening.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &within,
               sizeof within);
  beast::flat_buffer buf;
  bhttp::response_parser<bhttp::empty_body> head;
  bhttp::read_header(opening, buf, head);
  BOOST_TEST(head.get().result_int() == 200u);
}

BOOST_AUTO_TEST_SUITE_END()
