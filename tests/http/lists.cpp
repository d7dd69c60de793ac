// The HTTP API's listings through Python's http.client (tests/http/
// client.py): cursor paging of GET /processes while processes are added,
// its status and key filters.

#include <map>
#include <set>

#include <boost/test/unit_test.hpp>
#include <unistd.h>

#include "http/web_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

/// A spec that stays queued (no runner in these tests).
const std::string queued_spec
  = R"({"steps": {"a": {"class": "procman.set", "args": {"x": 1}}}})";

std::string started(web_fixture& f,
                    std::vector<std::pair<std::string, std::string>> h = {}) {
  auto r = f.send(bhttp::verb::post, at("/processes"), f.operate_token,
                  queued_spec, std::move(h));
  BOOST_REQUIRE_MESSAGE(r.status == 201u || r.status == 200u, r.body);
  return std::string{r.doc().at("pid").as_string()};
}

std::vector<std::string> pids_of(const reply& r) {
  std::vector<std::string> out;
  auto doc = r.doc();
  for (auto& x : doc.at("items").as_array())
    out.emplace_back(x.at("pid").as_string());
  return out;
}

/// The page's `next`, "" when null.
std::string next_of(const reply& r) {
  auto doc = r.doc();
  auto& n = doc.at("next");
  return n.is_null() ? std::string{} : std::string{n.as_string()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(http_lists)

BOOST_AUTO_TEST_CASE(paging_is_stable_while_processes_are_added) {
  web_fixture f;
  std::set<std::string> first;
  for (int i = 0; i < 25; ++i)
    first.insert(started(f));
  std::vector<std::string> seen;
  std::set<std::string> added;
  std::string target = at("/processes?limit=7");
  int pages = 0;
  for (;;) {
    auto page = f.get(target, f.read_token);
    BOOST_TEST_REQUIRE(page.status == 200u, page.body);
    BOOST_TEST(against_document(page, "get", "/processes") == "", page.body);
    auto pids = pids_of(page);
    BOOST_TEST(pids.size() <= 7u);
    seen.insert(seen.end(), pids.begin(), pids.end());
    ++pages;
    auto next = next_of(page);
    if (next.empty()) {
      BOOST_TEST(page.header("Link") == "");
      break;
    }
    // The Link header names the same query with the next cursor.
    BOOST_TEST(page.header("Link")
               == "<" + at("/processes?limit=7&cursor=" + next)
                    + ">; rel=\"next\"");
    BOOST_REQUIRE(pages < 20);
    // More processes between pages: they are newer than every page's
    // start, so they show on none of the pages to come.
    for (int i = 0; i < 3; ++i)
      added.insert(started(f));
    target = at("/processes?limit=7&cursor=" + next);
  }
  std::set<std::string> unique(seen.begin(), seen.end());
  BOOST_TEST(unique.size() == seen.size()); // none twice
  for (auto& pid : first)
    BOOST_TEST(unique.count(pid) == 1u, pid << " was skipped");
  for (auto& pid : added)
    BOOST_TEST(unique.count(pid) == 0u);
  BOOST_TEST(pages == 4); // 25 in pages of 7
  auto all = f.get(at("/processes?limit=1000"), f.read_token);
  auto every = pids_of(all);
  BOOST_TEST(every.size() == first.size() + added.size());
  BOOST_TEST(next_of(all) == "");
}

BOOST_AUTO_TEST_CASE(paging_with_a_status_and_a_key) {
  web_fixture f;
  std::vector<std::string> cancelled;
  for (int i = 0; i < 5; ++i) {
    auto pid = started(f);
    auto r = f.send(bhttp::verb::post, at("/processes/" + pid + "/cancel"),
                    f.operate_token);
    BOOST_REQUIRE(r.status == 200u);
    cancelled.push_back(pid);
  }
  for (int i = 0; i < 12; ++i)
    started(f);
  // Few of a status (read and sorted) and many (the created index): the
  // same paging.
  for (auto [status, limit, total] :
       {std::tuple{"cancelled", 4, 5}, std::tuple{"cancelled", 2, 5},
        std::tuple{"queued", 5, 12}}) {
    std::vector<std::string> seen;
    std::string cursor;
    for (int pages = 0;; ++pages) {
      BOOST_REQUIRE(pages < 10);
      auto page = f.get(at("/processes?status=" + std::string{status}
                           + "&limit=" + std::to_string(limit)
                           + (cursor.empty() ? "" : "&cursor=" + cursor)),
                        f.read_token);
      BOOST_TEST_REQUIRE(page.status == 200u, page.body);
      auto doc = page.doc();
      for (auto& x : doc.at("items").as_array())
        BOOST_TEST(x.at("status").as_string() == status);
      auto pids = pids_of(page);
      seen.insert(seen.end(), pids.begin(), pids.end());
      cursor = next_of(page);
      if (cursor.empty())
        break;
      BOOST_TEST(pids.size() == static_cast<size_t>(limit));
    }
    BOOST_TEST(seen.size() == static_cast<size_t>(total), status);
    BOOST_TEST(std::set<std::string>(seen.begin(), seen.end()).size()
               == seen.size());
  }
  // key=: the process holding the unique key.
  auto keyed = started(f, {{"Idempotency-Key", "order 17/a"}});
  auto found = f.get(at("/processes?key=order%2017%2Fa"), f.read_token);
  BOOST_TEST_REQUIRE(found.status == 200u, found.body);
  BOOST_TEST(against_document(found, "get", "/processes") == "", found.body);
  BOOST_TEST(pids_of(found) == std::vector<std::string>{keyed});
  BOOST_TEST(pids_of(f.get(at("/processes?key=order%2017%2Fa&status=queued"),
                           f.read_token))
             == std::vector<std::string>{keyed});
  BOOST_TEST(pids_of(f.get(at("/processes?key=order%2017%2Fa&status=running"),
                           f.read_token))
               .empty());
  BOOST_TEST(pids_of(f.get(at("/processes?key=other"), f.read_token)).empty());
}

BOOST_AUTO_TEST_CASE(a_bad_cursor_is_a_400_naming_it) {
  web_fixture f;
  started(f);
  for (auto bad :
       {"x", "0123", "zz0000000000000000000000000000000000000000000000",
        "00000000000000000000000000000000000000000000000G"}) {
    auto r = f.get(at("/processes?cursor=") + bad, f.read_token);
    BOOST_TEST(r.status == 400u, bad);
    BOOST_TEST(r.header("Content-Type") == "application/problem+json");
    BOOST_TEST(r.kind() == "invalid_argument");
    BOOST_TEST(r.doc().at("detail").as_string().find("cursor")
                 != std::string::npos,
               r.body);
    BOOST_TEST(against_document(r, "get", "/processes") == "", r.body);
  }
  auto empty_key = f.get(at("/processes?key="), f.read_token);
  BOOST_TEST(empty_key.status == 400u);
  BOOST_TEST(empty_key.body.find("key") != std::string::npos);
  auto unknown = f.get(at("/processes?offset=5"), f.read_token);
  BOOST_TEST(unknown.status == 400u);
  BOOST_TEST(unknown.body.find("offset") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(http_queue_and_nodes)

namespace {

/// GET `path` with a read token: 200, as the document says; its JSON.
json::object documented_get(web_fixture& f, const std::string& path) {
  auto r = f.get(at(path), f.read_token);
  BOOST_TEST_REQUIRE(r.status == 200u, r.body);
  BOOST_TEST(against_document(r, "get", path) == "", r.body);
  return r.doc().as_object();
}

} // namespace

BOOST_AUTO_TEST_CASE(the_queue_by_priority_and_state) {
  web_fixture f;
  auto empty = documented_get(f, "/queue");
  BOOST_TEST(empty.at("priorities").as_array().empty());
  BOOST_TEST(empty.at("queued").as_int64() == 0);
  BOOST_TEST(empty.at("next_due").is_null());
  auto start = [&](const std::string& extra) {
    auto spec = R"({"steps": {"a": {"class": "procman.set"}})" + extra + "}";
    auto r = f.send(bhttp::verb::post, at("/processes"), f.operate_token, spec);
    BOOST_REQUIRE_MESSAGE(r.status == 201u, r.body);
    return std::string{r.doc().at("pid").as_string()};
  };
  auto high = start(R"(, "priority": 5)");
  start(R"(, "priority": 5)");
  start(R"(, "priority": 5)");
  auto low = start("");
  start("");
  start(R"(, "not_before": "2099-01-01T00:00:00Z")");
  auto held = start("");
  BOOST_REQUIRE(f.procman({"hold", held}).exit_code == 0);
  auto q = documented_get(f, "/queue");
  BOOST_TEST(q.at("queued").as_int64() == 5);
  BOOST_TEST(q.at("delayed").as_int64() == 1);
  BOOST_TEST(q.at("held").as_int64() == 1);
  BOOST_TEST(q.at("running").as_int64() == 0);
  BOOST_TEST(q.at("next_due").as_string() == "2099-01-01T00:00:00Z");
  auto& ps = q.at("priorities").as_array();
  BOOST_TEST_REQUIRE(ps.size() == 2u);
  BOOST_TEST(ps[0].at("priority").as_int64() == 5); // highest first
  BOOST_TEST(ps[0].at("queued").as_int64() == 3);
  BOOST_TEST(ps[0].at("head").as_string() == high);
  BOOST_TEST(ps[0].at("head_wait_ms").as_int64() >= 0);
  BOOST_TEST(ps[1].at("priority").as_int64() == 0);
  BOOST_TEST(ps[1].at("queued").as_int64() == 2);
  BOOST_TEST(ps[1].at("delayed").as_int64() == 1);
  BOOST_TEST(ps[1].at("held").as_int64() == 1);
  BOOST_TEST(ps[1].at("head").as_string() == low);
  BOOST_TEST(q.at("oldest_wait_ms").as_int64()
             >= ps[1].at("head_wait_ms").as_int64());
  // A runner takes the due ones, highest priority first.
  auto runner = f.background_runner({});
  BOOST_REQUIRE(f.await_status(low, "finished", 60));
  BOOST_REQUIRE(eventually([&] {
    auto after = f.get(at("/queue"), f.read_token).doc();
    return after.at("queued").as_int64() == 0;
  }));
  auto after = f.get(at("/queue"), f.read_token).doc().as_object();
  BOOST_TEST(after.at("delayed").as_int64() == 1);
  BOOST_TEST(after.at("held").as_int64() == 1);
  BOOST_TEST(after.at("oldest_wait_ms").as_int64() == 0);
  BOOST_TEST(after.at("priorities").as_array().size() == 1u);
  BOOST_TEST(after.at("priorities").at(0).at("head").is_null());
  BOOST_TEST(f.get(at("/queue?x=1"), f.read_token).status == 400u);
  BOOST_TEST(f.get(at("/queue"), "pm_nope").status == 401u);
}

BOOST_AUTO_TEST_CASE(a_local_store_answers_with_its_runner) {
  web_fixture f;
  auto none = documented_get(f, "/nodes");
  BOOST_TEST(none.at("nodes").as_array().empty());
  BOOST_TEST(none.at("store").at("dir").as_string() == f.store);
  char host[256] = "";
  gethostname(host, sizeof(host) - 1);
  BOOST_TEST(none.at("store").at("host").as_string() == host);
  auto runner = f.background_runner({});
  auto pid = f.start(shell_spec("sleep 30", 60));
  BOOST_REQUIRE(f.await_status(pid, "running", 60));
  auto doc = documented_get(f, "/nodes");
  auto& nodes = doc.at("nodes").as_array();
  BOOST_TEST_REQUIRE(nodes.size() == 1u, json::serialize(doc));
  auto& n = nodes[0].as_object();
  BOOST_TEST(n.at("kind").as_string() == "runner");
  BOOST_TEST(n.at("host").as_string() == host);
  BOOST_TEST(n.at("lock_held").as_bool());
  BOOST_TEST(n.at("lease_ms").is_null());
  BOOST_TEST(n.at("running").as_int64() == 1);
  // "<hostname>-<os pid>-<8 hex>"
  BOOST_TEST(n.at("id").as_string().find(std::string{host} + "-") == 0u);
  BOOST_REQUIRE(f.procman({"cancel", pid}).exit_code == 0);
  runner.reset(); // stopped: gone from the list
  BOOST_REQUIRE(eventually([&] {
    return f.get(at("/nodes"), f.read_token)
      .doc()
      .at("nodes")
      .as_array()
      .empty();
  }));
}

BOOST_AUTO_TEST_CASE(a_store_node_answers_with_itself_and_its_workers) {
  web_fixture f{{}, true};
  auto port = published_port(*f.node);
  auto worker = std::make_unique<background>(
    std::vector<std::string>{bin("procman-runner"), "--join",
                             "127.0.0.1:" + std::to_string(port), "--parallel",
                             "1"},
    f.tmp.str() + "/worker.log");
  json::array nodes;
  BOOST_REQUIRE_MESSAGE(
    eventually(
      [&] {
        nodes = documented_get(f, "/nodes").at("nodes").as_array();
        return nodes.size() == 2u;
      },
      60),
    json::serialize(nodes));
  std::map<std::string, json::object> by_kind;
  for (auto& n : nodes)
    by_kind[std::string{n.at("kind").as_string()}] = n.as_object();
  BOOST_TEST_REQUIRE(by_kind.count("runner") == 1u);
  BOOST_TEST_REQUIRE(by_kind.count("worker") == 1u);
  auto& w = by_kind["worker"];
  BOOST_TEST(w.at("lease_ms").as_int64() > 0);
  BOOST_TEST(w.at("lock_held").as_bool());
  BOOST_TEST(w.at("id").as_string().find('@') != json::string::npos);
  worker.reset();
}

BOOST_AUTO_TEST_SUITE_END()
