// The HTTP API with a real server: `procman web` on a real store and an
// OS-chosen loopback port, a real runner where a process must run, and a
// Boost.Beast client or raw sockets.

#include "procman/http/api.hpp"

#include <atomic>
#include <csignal>
#include <set>
#include <sstream>
#include <thread>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/http/token.hpp"
#include "procman/messages/defaults.hpp"

#include "http/posts.hpp"
#include "http/web_fixture.hpp"

using namespace procman;
using namespace procman::test;

BOOST_AUTO_TEST_SUITE(http_api)

BOOST_AUTO_TEST_CASE(every_route_is_in_the_document_and_the_reverse) {
  auto doc = json::parse(http::openapi_json()).as_object();
  std::set<std::string> documented;
  for (auto& [path, item] : doc.at("paths").as_object())
    for (auto& [method, op] : item.as_object())
      if (method != "parameters")
        documented.insert(std::string{method} + " " + std::string{path});
  std::set<std::string> served;
  for (auto& r : http::routes()) {
    auto m = std::string{bhttp::to_string(r.method)};
    for (auto& c : m)
      c = static_cast<char>(std::tolower(c));
    served.insert(m + " " + std::string{r.path});
    // The document says which routes need no token.
    auto op = doc.at("paths").at(r.path).at(m).as_object();
    bool open = op.contains("security") && op.at("security").as_array().empty();
    BOOST_TEST(open == (r.needs == http::scope::none), m << " " << r.path);
  }
  BOOST_TEST(served == documented, "served and documented routes differ");
}

BOOST_AUTO_TEST_CASE(real_responses_match_the_documents_schemas) {
  web_fixture f{{"--http-max-body", "4K"}};
  auto& tok = f.operate_token;
  auto check = [&](const reply& r, const std::string& method,
                   const std::string& path) {
    BOOST_TEST(against_document(r, method, path) == "", r.body);
  };
  auto started = f.send(bhttp::verb::post, at("/processes"), tok, pause_spec,
                        {{"Idempotency-Key", "k1"}});
  check(started, "post", "/processes");
  auto pid = std::string{started.doc().at("pid").as_string()};
  auto held = f.send(bhttp::verb::post, at("/processes"), tok, pause_spec,
                     {{"Idempotency-Key", "k1"}});
  BOOST_TEST(held.status == 200u);
  check(held, "post", "/processes");
  for (auto& bad : {std::string{"{"}, std::string{R"({"steps": {}})"},
                    std::string(5000, ' ')})
    check(f.send(bhttp::verb::post, at("/processes"), tok, bad), "post",
          "/processes");
  check(f.send(bhttp::verb::post, at("/processes"), tok, pause_spec,
               {{"Content-Type", "text/plain"}}),
        "post", "/processes");
  check(f.send(bhttp::verb::post, at("/processes"), {}, pause_spec), "post",
        "/processes");
  check(f.send(bhttp::verb::post, at("/processes"), f.read_token, pause_spec),
        "post", "/processes");
  check(f.send(bhttp::verb::get, at("/processes/" + pid), tok), "get",
        "/processes/{pid}");
  check(f.send(bhttp::verb::get, at("/processes/" + pid + "0"), tok), "get",
        "/processes/{pid}");
  check(f.send(bhttp::verb::get,
               at("/processes/0123456789abcdef0123456789abcdef"), tok),
        "get", "/processes/{pid}");
  check(f.send(bhttp::verb::get, at("/processes?status=queued"), tok), "get",
        "/processes");
  check(f.send(bhttp::verb::get, at("/processes?limit=x"), tok), "get",
        "/processes");
  auto proceed = f.send(bhttp::verb::post, at("/processes/" + pid + "/proceed"),
                        tok);
  BOOST_TEST(proceed.status == 409u);
  check(proceed, "post", "/processes/{pid}/proceed");
  check(f.send(bhttp::verb::post, at("/processes/" + pid + "/cancel"), tok),
        "post", "/processes/{pid}/cancel");
  check(f.send(bhttp::verb::post, at("/processes/" + pid + "/cancel"), tok),
        "post", "/processes/{pid}/cancel");
  check(f.send(bhttp::verb::post, at("/processes/" + pid + "/retry"), tok),
        "post", "/processes/{pid}/retry");
  check(f.send(bhttp::verb::get, at("/healthz")), "get", "/healthz");
  check(f.send(bhttp::verb::get, at("/readyz")), "get", "/readyz");
  check(f.send(bhttp::verb::get, at("/openapi.json"), tok), "get",
        "/openapi.json");
  check(f.send(bhttp::verb::get, at("/openapi.json")), "get", "/openapi.json");
  // The check itself bites.
  auto doc = json::parse(http::openapi_json()).as_object();
  json::value info_ref
    = json::object{{"$ref", "#/components/schemas/ProcessInfo"}};
  auto info = f.send(bhttp::verb::get, at("/processes/" + pid), tok).doc();
  BOOST_TEST(schema_mismatch(doc, info_ref, info) == "");
  info.as_object()["status"] = "done";
  BOOST_TEST(schema_mismatch(doc, info_ref, info) != "");
  info.as_object().erase("status");
  BOOST_TEST(schema_mismatch(doc, info_ref, info).find("lacks \"status\"")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(start_status_proceed_and_cancel) {
  web_fixture f;
  auto started = f.send(bhttp::verb::post, at("/processes"), f.operate_token,
                        pause_spec);
  BOOST_TEST_REQUIRE(started.status == 201u, started.body);
  auto pid = std::string{started.doc().at("pid").as_string()};
  BOOST_TEST(pid.size() == 32u);
  BOOST_TEST(started.headers["Location"] == at("/processes/" + pid));
  // The same JSON as procman status.
  auto got = f.send(bhttp::verb::get, at("/processes/" + pid), f.read_token);
  BOOST_TEST(got.status == 200u);
  BOOST_TEST(got.body == f.cli_status(pid));
  auto runner = f.background_runner({"--wait"});
  BOOST_REQUIRE(f.await_status(pid, "interrupted"));
  auto proceeded = f.send(bhttp::verb::post,
                          at("/processes/" + pid + "/proceed"), f.operate_token,
                          R"({"answer": 42})");
  BOOST_TEST_REQUIRE(proceeded.status == 200u, proceeded.body);
  BOOST_REQUIRE(f.await_status(pid, "finished"));
  auto done = f.send(bhttp::verb::get, at("/processes/" + pid), f.read_token);
  BOOST_TEST(done.doc().at("output").at("answer").as_int64() == 42);
  BOOST_TEST(done.doc().at("output").at("done").as_bool());
  // Proceeding a finished process: 409 with its kind.
  auto again = f.send(bhttp::verb::post, at("/processes/" + pid + "/proceed"),
                      f.operate_token);
  BOOST_TEST(again.status == 409u);
  BOOST_TEST(again.kind() == "not_interrupted");
  // Cancel an interrupted one.
  auto second = f.send(bhttp::verb::post, at("/processes"), f.operate_token,
                       pause_spec);
  auto pid2 = std::string{second.doc().at("pid").as_string()};
  BOOST_REQUIRE(f.await_status(pid2, "interrupted"));
  auto cancelled = f.send(
    bhttp::verb::post, at("/processes/" + pid2 + "/cancel"), f.operate_token);
  BOOST_TEST_REQUIRE(cancelled.status == 200u, cancelled.body);
  BOOST_TEST(cancelled.doc().at("status").as_string() == "cancelled");
  BOOST_TEST(f.status_of(pid2) == "cancelled");
  auto twice = f.send(bhttp::verb::post, at("/processes/" + pid2 + "/cancel"),
                      f.operate_token);
  BOOST_TEST(twice.status == 409u);
  BOOST_TEST(twice.kind() == "already_terminal");
  // The list, newest first, by status.
  auto listed = f.send(bhttp::verb::get, at("/processes?status=cancelled"),
                       f.read_token);
  BOOST_TEST_REQUIRE(listed.status == 200u, listed.body);
  auto items = listed.doc().at("items").as_array();
  BOOST_REQUIRE(items.size() == 1u);
  BOOST_TEST(items[0].at("pid").as_string() == pid2);
  auto all = f.send(bhttp::verb::get, at("/processes?limit=1"), f.admin_token);
  BOOST_TEST(all.doc().at("items").as_array().size() == 1u);
  BOOST_TEST(all.doc().at("items").at(0).at("pid").as_string() == pid2);
}

BOOST_AUTO_TEST_CASE(schedules_are_added_listed_and_removed) {
  web_fixture f;
  auto& tok = f.operate_token;
  auto check = [&](const reply& r, const std::string& method,
                   const std::string& path) {
    BOOST_TEST(against_document(r, method, path) == "", r.body);
  };
  const std::string body = R"({"name": "nightly", "cron": "0 3 * * *",
    "spec": {"steps": {"b": {"class": "procman.set", "args": {"x": 1}}}}})";
  auto added = f.send(bhttp::verb::post, at("/schedules"), tok, body);
  BOOST_TEST_REQUIRE(added.status == 200u, added.body);
  check(added, "post", "/schedules");
  BOOST_TEST(added.doc().at("name").as_string() == "nightly");
  // The same as procman schedule list.
  auto listed = f.send(bhttp::verb::get, at("/schedules"), f.read_token);
  BOOST_TEST_REQUIRE(listed.status == 200u, listed.body);
  check(listed, "get", "/schedules");
  auto cli = f.procman({"schedule", "list"});
  BOOST_TEST(json::serialize(listed.doc().at(0)) + "\n" == cli.out);
  check(f.send(bhttp::verb::post, at("/schedules"), f.read_token, body), "post",
        "/schedules");
  auto bad_cron = f.send(bhttp::verb::post, at("/schedules"), tok,
                         R"({"name": "x", "cron": "61 * * * *",
                             "spec": {"steps": {"b": {"class": "procman.set"}}}})");
  BOOST_TEST(bad_cron.status == 400u);
  check(bad_cron, "post", "/schedules");
  auto extra
    = f.send(bhttp::verb::post, at("/schedules"), tok,
             R"({"name": "x", "cron": "@daily", "spec": {}, "at": 1})");
  BOOST_TEST(extra.status == 400u);
  BOOST_TEST(extra.body.find("unknown field") != std::string::npos);
  auto bad_spec = f.send(bhttp::verb::post, at("/schedules"), tok,
                         R"({"name": "x", "cron": "@daily", "spec": {}})");
  BOOST_TEST(bad_spec.status == 422u);
  check(bad_spec, "post", "/schedules");
  BOOST_TEST(
    f.send(bhttp::verb::get, at("/schedules"), tok).doc().as_array().size()
    == 1u);
  auto gone = f.send(bhttp::verb::delete_, at("/schedules/nightly"), tok);
  BOOST_TEST_REQUIRE(gone.status == 200u, gone.body);
  check(gone, "delete", "/schedules/{name}");
  auto again = f.send(bhttp::verb::delete_, at("/schedules/nightly"), tok);
  BOOST_TEST(again.status == 404u);
  BOOST_TEST(again.kind() == "unknown_schedule");
  check(again, "delete", "/schedules/{name}");
  BOOST_TEST(
    f.send(bhttp::verb::get, at("/schedules"), tok).doc().as_array().empty());
}

BOOST_AUTO_TEST_CASE(an_idempotency_key_starts_once) {
  web_fixture f;
  std::vector<std::pair<std::string, std::string>> key{
    {"Idempotency-Key", "order-17"}};
  auto first = f.send(bhttp::verb::post, at("/processes"), f.operate_token,
                      pause_spec, key);
  BOOST_TEST_REQUIRE(first.status == 201u, first.body);
  auto second = f.send(bhttp::verb::post, at("/processes"), f.operate_token,
                       pause_spec, key);
  BOOST_TEST_REQUIRE(second.status == 200u, second.body);
  BOOST_TEST(second.doc().at("pid") == first.doc().at("pid"));
  BOOST_TEST(second.headers.count("Location") == 0u);
  auto listed = f.procman({"list"});
  BOOST_TEST(std::count(listed.out.begin(), listed.out.end(), '\n') == 1);
}

BOOST_AUTO_TEST_CASE(concurrent_starts_are_each_answered_once) {
  // 24 POSTs at once, each with a key of its own, and 12 with one key
  // between them: the server carries them out together (they share
  // commits); each gets its own process, and the shared key one process.
  web_fixture f;
  auto answers = post_all(f.port, f.operate_token, pause_spec,
                          keys_of("own-", 24, "shared", 12));
  std::set<std::string> own;
  std::set<std::string> shared;
  int created = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    auto [status, pid] = answers[i];
    BOOST_TEST_REQUIRE((status == 201 || status == 200), "answer " << i);
    if (i < 24) {
      BOOST_TEST(status == 201);
      own.insert(pid);
    } else {
      shared.insert(pid);
      created += status == 201 ? 1 : 0;
    }
  }
  BOOST_TEST(own.size() == 24u);
  BOOST_TEST(shared.size() == 1u);
  BOOST_TEST(created == 1);
  BOOST_TEST(own.count(*shared.begin()) == 0u);
  auto listed = f.procman({"list"});
  BOOST_TEST(std::count(listed.out.begin(), listed.out.end(), '\n') == 25);
  for (auto& pid : own)
    BOOST_TEST(listed.out.find(pid) != std::string::npos, pid);
}

BOOST_AUTO_TEST_CASE(hold_and_release) {
  web_fixture f; // no runner: the process stays queued
  auto started = f.send(bhttp::verb::post, at("/processes"), f.operate_token,
                        pause_spec);
  auto pid = std::string{started.doc().at("pid").as_string()};
  auto on = [&](const std::string& what, const std::string& tok) {
    return f.send(bhttp::verb::post, at("/processes/" + pid + "/" + what), tok);
  };
  BOOST_TEST(on("hold", f.read_token).status == 403u);
  BOOST_TEST(f.status_of(pid) == "queued");
  auto held = on("hold", f.operate_token);
  BOOST_TEST_REQUIRE(held.status == 200u, held.body);
  BOOST_TEST(held.doc().at("status").as_string() == "held");
  BOOST_TEST(against_document(held, "post", "/processes/{pid}/hold") == "");
  BOOST_TEST(f.status_of(pid) == "held");
  auto again = on("hold", f.operate_token);
  BOOST_TEST(again.status == 409u);
  BOOST_TEST(against_document(again, "post", "/processes/{pid}/hold") == "");
  auto released = on("release", f.operate_token);
  BOOST_TEST_REQUIRE(released.status == 200u, released.body);
  BOOST_TEST(released.doc().at("status").as_string() == "queued");
  BOOST_TEST(against_document(released, "post", "/processes/{pid}/release")
             == "");
  BOOST_TEST(f.status_of(pid) == "queued");
}

BOOST_AUTO_TEST_CASE(an_ended_process_is_removed_by_delete) {
  web_fixture f; // no runner: the process stays queued until cancelled
  auto started = f.send(bhttp::verb::post, at("/processes"), f.operate_token,
                        pause_spec);
  auto pid = std::string{started.doc().at("pid").as_string()};
  using headers_t = std::vector<std::pair<std::string, std::string>>;
  auto remove = [&](const std::string& tok, headers_t headers = {}) {
    return f.send(bhttp::verb::delete_, at("/processes/" + pid), tok, {},
                  std::move(headers));
  };
  BOOST_TEST(remove(f.read_token).status == 403u);
  // Queued: refused, and still there.
  auto early = remove(f.operate_token);
  BOOST_TEST(early.status == 409u);
  BOOST_TEST(early.kind() == "illegal_transition");
  BOOST_TEST(against_document(early, "delete", "/processes/{pid}") == "");
  BOOST_TEST(f.status_of(pid) == "queued");
  BOOST_TEST_REQUIRE(f.send(bhttp::verb::post,
                            at("/processes/" + pid + "/cancel"),
                            f.operate_token)
                       .status
                     == 200u);
  // Cancelled: removed; the same Idempotency-Key is answered alike, a
  // request without it finds nothing.
  const headers_t key{{"Idempotency-Key", "rm-1"}};
  auto gone = remove(f.operate_token, key);
  BOOST_TEST_REQUIRE(gone.status == 200u, gone.body);
  BOOST_TEST(gone.doc().at("pid").as_string() == pid);
  BOOST_TEST(against_document(gone, "delete", "/processes/{pid}") == "");
  auto again = remove(f.operate_token, key);
  BOOST_TEST(again.status == 200u, again.body);
  auto missing = remove(f.operate_token);
  BOOST_TEST(missing.status == 404u);
  BOOST_TEST(missing.kind() == "unknown_process");
  BOOST_TEST(
    f.send(bhttp::verb::get, at("/processes/" + pid), f.read_token).status
    == 404u);
}

BOOST_AUTO_TEST_CASE(tokens_and_scopes) {
  web_fixture f;
  auto before = f.store_state();
  // No token, an unknown one, a malformed header: 401, nothing started.
  for (auto& tok : {std::string{}, std::string{"pm_nope"}}) {
    auto r = f.send(bhttp::verb::post, at("/processes"), tok, pause_spec);
    BOOST_TEST(r.status == 401u);
    BOOST_TEST(r.kind() == "unauthorized");
    BOOST_TEST(r.headers["WWW-Authenticate"] == "Bearer");
    BOOST_TEST(r.headers["Content-Type"] == "application/problem+json");
  }
  auto basic = f.send(bhttp::verb::get, at("/processes"), {}, {},
                      {{"Authorization", "Basic dXNlcjpwdw=="}});
  BOOST_TEST(basic.status == 401u);
  // read may read, not change.
  BOOST_TEST(f.send(bhttp::verb::get, at("/processes"), f.read_token).status
             == 200u);
  auto refused = f.send(bhttp::verb::post, at("/processes"), f.read_token,
                        pause_spec);
  BOOST_TEST(refused.status == 403u);
  BOOST_TEST(refused.kind() == "forbidden");
  auto cancel = f.send(bhttp::verb::post,
                       at("/processes/0123456789abcdef0123456789abcdef/cancel"),
                       f.read_token);
  BOOST_TEST(cancel.status == 403u);
  BOOST_TEST(f.store_state() == before);
  // whoami tells each token its scope, as the document describes it.
  for (auto& [tok, scope] :
       {std::pair{f.read_token, "read"}, std::pair{f.operate_token, "operate"},
        std::pair{f.admin_token, "admin"}}) {
    auto me = f.send(bhttp::verb::get, at("/whoami"), tok);
    BOOST_TEST_REQUIRE(me.status == 200u, me.body);
    BOOST_TEST(me.doc().at("scope").as_string() == scope);
    BOOST_TEST(me.body.find("\"hash\"") == std::string::npos);
    BOOST_TEST(against_document(me, "get", "/whoami") == "", me.body);
  }
  BOOST_TEST(f.send(bhttp::verb::get, at("/whoami"), "pm_nope").status == 401u);
  // A revoked token stops working at once.
  auto list = f.procman({"token", "list"});
  std::string id;
  std::istringstream rows{list.out};
  for (std::string row; std::getline(rows, row);)
    if (auto x = json::parse(row); x.at("scope").as_string() == "read")
      id = std::string{x.at("id").as_string()};
  BOOST_REQUIRE(!id.empty());
  BOOST_REQUIRE(f.procman({"token", "revoke", id}).exit_code == 0);
  BOOST_TEST(f.send(bhttp::verb::get, at("/processes"), f.read_token).status
             == 401u);
  // healthz and readyz need none.
  auto health = f.send(bhttp::verb::get, at("/healthz"));
  BOOST_TEST(health.status == 200u);
  BOOST_TEST(health.doc().at("status").as_string() == "ok");
  BOOST_TEST(f.send(bhttp::verb::get, at("/readyz")).status == 200u);
  BOOST_TEST(f.send(bhttp::verb::get, at("/openapi.json")).status == 401u);
  auto doc = f.send(bhttp::verb::get, at("/openapi.json"), f.admin_token);
  BOOST_TEST(doc.status == 200u);
  BOOST_TEST(doc.body == std::string{http::openapi_json()} + "\n");
}

BOOST_AUTO_TEST_CASE(bad_input_is_a_4xx_and_changes_nothing) {
  web_fixture f{{"--http-max-body", "4K"}};
  auto before = f.store_state();
  auto& tok = f.operate_token;
  auto expect = [&](const reply& r, unsigned status, const std::string& kind,
                    const std::string& says) {
    BOOST_TEST(r.status == status, r.body);
    BOOST_TEST(r.header("Content-Type") == "application/problem+json");
    BOOST_TEST(r.kind() == kind, r.body);
    BOOST_TEST(r.body.find(says) != std::string::npos, r.body);
  };
  expect(f.send(bhttp::verb::post, at("/processes"), tok, "{\"steps\": "), 400,
         "invalid_json", "malformed");
  expect(f.send(bhttp::verb::post, at("/processes"), tok,
                std::string(300, '[') + std::string(300, ']')),
         400, "invalid_json", "nested deeper");
  expect(f.send(bhttp::verb::post, at("/processes"), tok,
                R"({"steps": {"a": {"class": "procman.set"}}, "colour": 1})"),
         422, "invalid_spec", "unknown field");
  expect(f.send(bhttp::verb::post, at("/processes"), tok, R"({"steps": {}})"),
         422, "invalid_spec", "step");
  expect(f.send(bhttp::verb::post, at("/processes"), tok,
                R"({"steps": {"a": {"class": "procman.nope"}}})"),
         422, "unknown_class", "procman.nope");
  expect(f.send(bhttp::verb::post, at("/processes"), tok,
                "{\"data\": \"" + std::string(5000, 'x') + "\"}"),
         413, "invalid_argument", "over the limit");
  expect(f.send(bhttp::verb::post, at("/processes"), tok, pause_spec,
                {{"Content-Type", "text/plain"}}),
         415, "invalid_argument", "application/json");
  expect(f.send(bhttp::verb::post, at("/processes"), tok), 400, "invalid_spec",
         "body");
  expect(f.send(bhttp::verb::get, at("/processes/xyz"), tok), 400,
         "invalid_argument", "not a pid");
  expect(f.send(bhttp::verb::get,
                at("/processes/0123456789abcdef0123456789abcdef"), tok),
         404, "unknown_process", "0123456789abcdef0123456789abcdef");
  expect(f.send(bhttp::verb::delete_, at("/processes"), tok), 405,
         "invalid_argument", "allowed");
  expect(f.send(bhttp::verb::get, at("/nowhere"), tok), 404, "invalid_argument",
         "no route");
  expect(f.send(bhttp::verb::get, "/elsewhere", tok), 404, "invalid_argument",
         "no route");
  expect(f.send(bhttp::verb::get, at("/processes?status=done"), tok), 400,
         "invalid_argument", "status");
  expect(f.send(bhttp::verb::get, at("/processes?limit=0"), tok), 400,
         "invalid_argument", "limit");
  expect(f.send(bhttp::verb::get, at("/processes?colour=red"), tok), 400,
         "invalid_argument", "colour");
  expect(f.send(bhttp::verb::get, at("/processes?status=%zz"), tok), 400,
         "invalid_argument", "malformed");
  expect(f.send(bhttp::verb::post,
                at("/processes/0123456789abcdef0123456789abcdef/proceed"), tok,
                "[1]"),
         400, "invalid_json", "object");
  expect(f.send(bhttp::verb::post,
                at("/processes/0123456789abcdef0123456789abcdef/cancel"), tok,
                "{}"),
         400, "invalid_argument", "takes no body");
  BOOST_TEST(
    f.send(bhttp::verb::get, at("/processes"), tok).headers.count("Allow")
    == 0u);
  // Garbage and oversized headers: an answer, then the server closes.
  auto garbage = f.raw("NOT HTTP AT ALL\r\n\r\n");
  BOOST_TEST(garbage.find("HTTP/1.1 400") == 0u, garbage);
  auto huge = f.raw("GET /api/v1/healthz HTTP/1.1\r\nX-A: "
                    + std::string(20000, 'a') + "\r\n\r\n");
  BOOST_TEST(huge.find("HTTP/1.1 431") == 0u, huge.substr(0, 100));
  auto too_big = f.raw("POST /api/v1/processes HTTP/1.1\r\nHost: x\r\n"
                       "Authorization: Bearer "
                       + tok
                       + "\r\n"
                         "Content-Type: application/json\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n"
                         "2000\r\n"
                       + std::string(8192, ' ') + "\r\n0\r\n\r\n");
  BOOST_TEST(too_big.find("HTTP/1.1 413") == 0u, too_big.substr(0, 100));
  BOOST_TEST(f.store_state() == before);
  BOOST_TEST(f.web->running());
}

BOOST_AUTO_TEST_CASE(slow_and_idle_clients_are_closed_without_blocking_others) {
  web_fixture f{{"--http-header-timeout", "1s", "--http-idle-timeout", "2s"}};
  asio::io_context io;
  // A slow sender: half a request line, then nothing.
  beast::tcp_stream slow{io};
  slow.connect(f.where());
  asio::write(slow.socket(), asio::buffer(std::string{"GET /api/v1/hea"}));
  // An idle connection that sends nothing at all.
  beast::tcp_stream idle{io};
  idle.connect(f.where());
  // Meanwhile others are answered.
  BOOST_TEST(f.send(bhttp::verb::get, at("/healthz")).status == 200u);
  // Each is closed by the server (not by this side's 30 s bound).
  auto closed = [&](beast::tcp_stream& s) {
    char c;
    beast::error_code ec;
    s.expires_after(std::chrono::seconds(30));
    s.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  };
  BOOST_TEST(closed(slow));
  BOOST_TEST(closed(idle));
  BOOST_TEST(f.send(bhttp::verb::get, at("/healthz")).status == 200u);
}

BOOST_AUTO_TEST_CASE(past_max_connections_new_ones_are_closed) {
  web_fixture f{
    {"--http-max-connections", "2", "--http-header-timeout", "30s"}};
  asio::io_context io;
  tcp::socket a{io}, b{io}, c{io};
  a.connect(f.where());
  b.connect(f.where());
  // Both held open: a third is closed at once.
  c.connect(f.where());
  char ch;
  beast::error_code ec;
  c.read_some(asio::buffer(&ch, 1), ec);
  BOOST_TEST((ec == asio::error::eof || ec == asio::error::connection_reset));
  a.close();
  b.close();
  BOOST_TEST(eventually([&] {
    try {
      return f.send(bhttp::verb::get, at("/healthz")).status == 200u;
    } catch (const std::exception&) {
      return false;
    }
  }));
}

BOOST_AUTO_TEST_CASE(a_store_node_is_served_through_connect) {
  web_fixture f{{}, true};
  auto started = f.send(bhttp::verb::post, at("/processes"), f.operate_token,
                        pause_spec);
  BOOST_TEST_REQUIRE(started.status == 201u, started.body);
  auto pid = std::string{started.doc().at("pid").as_string()};
  // The store node runs it (a runner of its own).
  BOOST_REQUIRE(eventually(
    [&] {
      auto r = f.send(bhttp::verb::get, at("/processes/" + pid), f.read_token);
      return r.status == 200u
             && r.doc().at("status").as_string() == "interrupted";
    },
    60));
  BOOST_TEST(f.send(bhttp::verb::post, at("/processes/" + pid + "/proceed"),
                    f.read_token)
               .status
             == 403u);
  auto proceeded = f.send(bhttp::verb::post,
                          at("/processes/" + pid + "/proceed"), f.operate_token,
                          R"({"answer": 7})");
  BOOST_TEST_REQUIRE(proceeded.status == 200u, proceeded.body);
  BOOST_REQUIRE(eventually(
    [&] {
      auto r = f.send(bhttp::verb::get, at("/processes/" + pid), f.read_token);
      return r.doc().at("status").as_string() == "finished";
    },
    60));
  BOOST_TEST(f.send(bhttp::verb::get, at("/processes"), "pm_wrong").status
             == 401u);
  BOOST_TEST(f.send(bhttp::verb::get, at("/readyz")).status == 200u);
}

BOOST_AUTO_TEST_CASE(
  concurrent_starts_through_a_stopped_node_are_answered_once) {
  // procman web --connect: starts at once, while the store node stops
  // answering for longer than an attempt waits (SIGSTOP), so that their
  // attempts go unanswered and the door asks again on new connections.
  // Each start is answered once, with a process of its own, and the
  // server lives on.
  web_fixture f{{}, true};
  auto keys = keys_of("stopped-", 8);
  auto command = posts_command(f.port, f.operate_token, pause_spec, keys);
  f.node->signal(SIGSTOP);
  command_result res;
  std::thread posting{[&] { res = run_command(command, {}, 120); }};
  std::this_thread::sleep_for(
    std::chrono::milliseconds(defaults::remote_attempt_ms + 1500));
  f.node->signal(SIGCONT);
  posting.join();
  std::set<std::string> pids;
  for (auto& [status, pid] : posts_answers(res, keys.size())) {
    BOOST_TEST(status == 201, pid);
    pids.insert(pid);
  }
  BOOST_TEST(pids.size() == 8u);
  BOOST_TEST(f.send(bhttp::verb::get, at("/readyz")).status == 200u);
  auto listed = f.procman({"list"});
  BOOST_TEST(std::count(listed.out.begin(), listed.out.end(), '\n') == 8);
}

BOOST_AUTO_TEST_CASE(a_stopped_store_node_holds_up_no_other_client) {
  // procman web --connect: a request that waits for a store node that
  // stopped answering (SIGSTOP) waits on a thread of its own; the server
  // answers others meanwhile.
  web_fixture f{{}, true};
  auto started = f.send(bhttp::verb::post, at("/processes"), f.operate_token,
                        pause_spec);
  BOOST_TEST_REQUIRE(started.status == 201u, started.body);
  auto pid = std::string{started.doc().at("pid").as_string()};
  f.node->signal(SIGSTOP);
  std::atomic<bool> answered{false};
  std::atomic<unsigned> status{0};
  std::thread waiting{[&] {
    auto r = f.send(bhttp::verb::get, at("/processes/" + pid), f.read_token);
    status = r.status;
    answered = true;
  }};
  // Let the server read it: it now waits for the node.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Others that need no answer from the node: the health check, the
  // dashboard's page, a refusal.
  BOOST_TEST(f.send(bhttp::verb::get, at("/healthz")).status == 200u);
  BOOST_TEST(f.send(bhttp::verb::get, "/").status == 200u);
  BOOST_TEST(f.send(bhttp::verb::get, at("/processes")).status == 401u);
  BOOST_TEST(!answered.load()); // they did not wait behind it
  f.node->signal(SIGCONT);
  waiting.join();
  BOOST_TEST(status.load() == 200u);
}

BOOST_AUTO_TEST_CASE(beyond_loopback_without_tls_is_refused) {
  cli_fixture f;
  auto res = f.procman({"web", "--http", "0.0.0.0:0"});
  BOOST_TEST(res.exit_code == 2);
  BOOST_TEST(res.err.find("loopback") != std::string::npos);
  auto bad = f.procman({"web", "--http", "nowhere"});
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(f.procman({"web"}).exit_code == 2);
}

BOOST_AUTO_TEST_SUITE_END()
