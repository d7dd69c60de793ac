// A host on another node talks to an engine's manager over CAF's middleman
// (two actor systems, loopback TCP).

#include <csignal>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/engine.hpp"
#include "cli_fixture.hpp"
#include "engine_helpers.hpp"
#include "messages/error.hpp"
#include "messages/json.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct node {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  node() {
    cfg.add_message_types<caf::id_block::procman>();
    cfg.load<caf::io::middleman>();
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

struct remote_fixture {
  temp_dir tmp;
  node server;
  node client;
  std::unique_ptr<engine> eng;
  uint16_t port = 0;

  remote_fixture() {
    eng = start_test_engine(*server.sys, tmp.str());
    auto p = server.sys->middleman().publish(eng->manager(), 0, "127.0.0.1");
    BOOST_REQUIRE_MESSAGE(p, "publish: " << (p ? "" : caf::to_string(p.error())));
    port = *p;
  }

  ~remote_fixture() {
    server.sys->middleman().unpublish(eng->manager(), port);
    eng.reset();
  }

  static process_spec spec(const std::string& text) {
    return test_spec(text);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(remote_node, remote_fixture)

BOOST_AUTO_TEST_CASE(a_host_on_another_node_starts_follows_and_proceeds) {
  auto mgr = client.sys->middleman().remote_actor<manager_actor>("127.0.0.1", port);
  BOOST_REQUIRE_MESSAGE(mgr, "remote_actor: " << (mgr ? "" : caf::to_string(mgr.error())));
  caf::scoped_actor self{*client.sys};
  std::string pid;
  self->request(*mgr, std::chrono::seconds(10), atom::start_v,
                spec(R"({"steps": {"a": {"class": "procman.set", "args": {"x": 1}},
                  "gate": {"class": "procman.pause"},
                  "b": {"class": "procman.exec", "args": {"command": ["echo", "remote"]}}}})"))
    .receive([&](const std::string& x) { pid = x; },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_REQUIRE_EQUAL(pid.size(), 32u);
  // Events cross the network to a subscriber on this node.
  self->send(*mgr, atom::subscribe_v, pid, caf::actor{self});
  bool done = false;
  process_record last;
  while (!done) {
    self->receive(
      [&](atom::event, const process_event& ev) {
        last = ev.record;
        if (ev.record.status == process_status::interrupted)
          self->request(*mgr, std::chrono::seconds(10), atom::proceed_v, pid,
                        std::string{R"({"from": "node b"})"})
            .receive([&](const std::string& x) { BOOST_TEST(x == pid); },
                     [&](const caf::error& e) { BOOST_FAIL(render(e)); });
        done = is_terminal(ev.record.status);
      },
      caf::after(std::chrono::seconds(30)) >> [&] { BOOST_FAIL("no event in 30 s"); });
  }
  BOOST_TEST((last.status == process_status::finished));
  self->request(*mgr, std::chrono::seconds(10), atom::info_v, pid)
    .receive(
      [&](const process_record& rec) {
        auto out = boost::json::parse(rec.output).as_object();
        BOOST_TEST(out.at("from").as_string() == "node b");
        BOOST_TEST(out.at("stdout").as_string() == "remote\n");
      },
      [&](const caf::error& e) { BOOST_FAIL(render(e)); });
}

BOOST_AUTO_TEST_CASE(errors_cross_the_network_with_their_kind) {
  auto mgr = client.sys->middleman().remote_actor<manager_actor>("127.0.0.1", port);
  BOOST_REQUIRE(mgr);
  caf::scoped_actor self{*client.sys};
  std::string unknown(32, 'c');
  self->request(*mgr, std::chrono::seconds(10), atom::cancel_v, unknown)
    .receive([&](const process_record&) { BOOST_FAIL("expected an error"); },
             [&](const caf::error& e) {
               BOOST_TEST(is(e, errc::unknown_process));
               BOOST_TEST(render(e) == "no process " + unknown);
             });
  list_query q;
  self->request(*mgr, std::chrono::seconds(10), atom::list_v, q)
    .receive([&](const std::vector<process_record>& xs) { BOOST_TEST(xs.empty()); },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(runner_published, cli_fixture)

BOOST_AUTO_TEST_CASE(a_runner_serves_its_manager_to_another_node) {
  auto run = background_runner({"--wait", "--publish", "0"});
  std::string marker = "manager published on 127.0.0.1:";
  BOOST_REQUIRE(eventually([&] { return run->log().find(marker) != std::string::npos; }));
  auto log = run->log();
  auto port = static_cast<uint16_t>(std::stoi(log.substr(log.find(marker) + marker.size())));
  node host;
  auto mgr = host.sys->middleman().remote_actor<manager_actor>("127.0.0.1", port);
  BOOST_REQUIRE_MESSAGE(mgr, "remote_actor: " << (mgr ? "" : caf::to_string(mgr.error())));
  caf::scoped_actor self{*host.sys};
  auto s = test_spec(R"({"steps": {"a": {"class": "procman.set", "args": {"n": 7}}}})");
  std::string pid;
  self->request(*mgr, std::chrono::seconds(10), atom::start_v, s)
    .receive([&](const std::string& x) { pid = x; },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_REQUIRE_EQUAL(pid.size(), 32u);
  // The CLI on this machine sees what the remote host started.
  BOOST_TEST(procman({"wait", pid, "--timeout", "30"}).exit_code == 0);
  BOOST_TEST(status(pid).at("output").at("n").as_int64() == 7);
  run->signal(SIGTERM);
  BOOST_TEST(run->wait(20));
  BOOST_TEST(run->exit_code() == 0);
}

BOOST_AUTO_TEST_CASE(bind_without_publish_is_a_usage_error) {
  BOOST_TEST(runner({"--bind", "127.0.0.1"}).exit_code == 2);
  BOOST_TEST(runner({"--publish", "70000"}).exit_code == 2);
}

BOOST_AUTO_TEST_SUITE_END()
