// A host on another node talks to an engine's manager over CAF's middleman
// (two actor systems, loopback TCP, no TLS: tests/engine/remote_tls.cpp has
// the TLS cases).

#include "procman/remote/remote.hpp"

#include <csignal>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "procman/engine/engine.hpp"
#include "procman/messages/error.hpp"
#include "procman/remote/accept_guard.hpp"

#include "cli_fixture.hpp"
#include "engine_helpers.hpp"
#include "remote_helpers.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct remote_fixture {
  temp_dir tmp;
  node server;
  node client;
  std::unique_ptr<engine> eng;
  uint16_t port = 0;

  remote_fixture() {
    eng = start_test_engine(*server.sys, tmp.str());
    auto p = publish_manager(*server.sys, eng->manager(), 0, "127.0.0.1");
    BOOST_REQUIRE_MESSAGE(p, "publish: " << (p ? "" : render(p.error())));
    port = *p;
  }

  ~remote_fixture() {
    server.sys->middleman().unpublish(eng->manager(), port);
    eng.reset();
  }

  static process_spec spec(const std::string& text) { return test_spec(text); }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(remote_node, remote_fixture)

BOOST_AUTO_TEST_CASE(a_host_on_another_node_starts_follows_and_proceeds) {
  auto mgr = connect_manager(*client.sys, "127.0.0.1", port);
  BOOST_REQUIRE_MESSAGE(mgr, "connect: " << (mgr ? "" : render(mgr.error())));
  caf::scoped_actor self{*client.sys};
  std::string pid;
  self
    ->request(
      *mgr, std::chrono::seconds(10),
      start_request{
        spec(R"({"steps": {"a": {"class": "procman.set", "args": {"x": 1}},
                  "gate": {"class": "procman.pause"},
                  "b": {"class": "procman.exec", "args": {"command": ["echo", "remote"]}}}})"),
        {},
        {}})
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
          self
            ->request(
              *mgr, std::chrono::seconds(10),
              proceed_request{pid, std::string{R"({"from": "node b"})"}, {}})
            .receive([&](const std::string& x) { BOOST_TEST(x == pid); },
                     [&](const caf::error& e) { BOOST_FAIL(render(e)); });
        done = is_terminal(ev.record.status);
      },
      caf::after(std::chrono::seconds(30)) >>
        [&] { BOOST_FAIL("no event in 30 s"); });
  }
  BOOST_TEST((last.status == process_status::finished));
  self->request(*mgr, std::chrono::seconds(10), status_request{pid})
    .receive(
      [&](const process_record& rec) {
        auto out = boost::json::parse(rec.output).as_object();
        BOOST_TEST(out.at("from").as_string() == "node b");
        BOOST_TEST(out.at("stdout").as_string() == "remote\n");
      },
      [&](const caf::error& e) { BOOST_FAIL(render(e)); });
}

BOOST_AUTO_TEST_CASE(errors_cross_the_network_with_their_kind) {
  auto mgr = connect_manager(*client.sys, "127.0.0.1", port);
  BOOST_REQUIRE(mgr);
  caf::scoped_actor self{*client.sys};
  std::string unknown(32, 'c');
  self->request(*mgr, std::chrono::seconds(10), cancel_request{unknown, {}})
    .receive([&](const process_record&) { BOOST_FAIL("expected an error"); },
             [&](const caf::error& e) {
               BOOST_TEST(is(e, errc::unknown_process));
               BOOST_TEST(render(e) == "no process " + unknown);
             });
  list_query q;
  self->request(*mgr, std::chrono::seconds(10), list_request{q})
    .receive(
      [&](const std::vector<process_record>& xs) { BOOST_TEST(xs.empty()); },
      [&](const caf::error& e) { BOOST_FAIL(render(e)); });
}

BOOST_AUTO_TEST_CASE(without_tls_the_manager_is_published_on_loopback_only) {
  for (auto addr : {"0.0.0.0", "::", ""}) {
    auto p = publish_manager(*server.sys, eng->manager(), 0, addr);
    BOOST_REQUIRE_MESSAGE(!p, "published on \"" << addr << "\" without TLS");
    BOOST_TEST(is(p.error(), errc::invalid_argument));
    BOOST_TEST(render(p.error()).find("without TLS") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(a_port_without_a_manager_is_a_connect_failure) {
  auto p = server.sys->middleman().open(0, "127.0.0.1", true);
  BOOST_REQUIRE(p);
  auto mgr = connect_manager(*client.sys, "127.0.0.1", *p);
  BOOST_REQUIRE(!mgr);
  BOOST_TEST(is(mgr.error(), errc::connect_failure));
  BOOST_TEST(render(mgr.error())
             == "cannot connect to the manager at 127.0.0.1:"
                  + std::to_string(*p)
                  + ": no manager is published on that port");
}

BOOST_AUTO_TEST_CASE(without_tls_only_users_who_may_read_the_store_get_a_byte) {
  // The default: this process's user (and root), nobody else.
  BOOST_TEST(probe_port_as("root", port).bytes > 0);
  auto refused = probe_port_as("nobody", port);
  BOOST_TEST(refused.bytes == 0);
  BOOST_TEST(refused.closed);
  // Naming a directory: whoever may read it, by owner, group and mode.
  auto dir = tmp.str() + "/readers";
  std::filesystem::create_directory(dir);
  auto p = publish_manager(*server.sys, eng->manager(), 0, "127.0.0.1", dir);
  BOOST_REQUIRE_MESSAGE(p, "publish: " << (p ? "" : render(p.error())));
  auto* nobody = getpwnam("nobody");
  BOOST_REQUIRE(nobody);
  auto admitted = [&] { return probe_port_as("nobody", *p).bytes > 0; };
  BOOST_REQUIRE(chown(dir.c_str(), 0, 0) == 0);
  BOOST_REQUIRE(chmod(dir.c_str(), 0700) == 0);
  BOOST_TEST(!admitted());
  BOOST_TEST(!detail::may_read(dir, nobody->pw_uid));
  BOOST_REQUIRE(chmod(dir.c_str(), 0705) == 0);
  BOOST_TEST(admitted());
  BOOST_REQUIRE(chown(dir.c_str(), 0, nobody->pw_gid) == 0);
  BOOST_REQUIRE(chmod(dir.c_str(), 0750) == 0);
  BOOST_TEST(admitted());
  BOOST_TEST(detail::may_read(dir, nobody->pw_uid));
  BOOST_REQUIRE(chown(dir.c_str(), nobody->pw_uid, 0) == 0);
  BOOST_REQUIRE(chmod(dir.c_str(), 0077) == 0);
  BOOST_TEST(!admitted()); // the owner's own bits count for the owner
  BOOST_TEST(detail::may_read(dir, 0));
  server.sys->middleman().unpublish(eng->manager(), *p);
}

BOOST_AUTO_TEST_CASE(loopback_means_every_address_is_on_this_machine) {
  BOOST_TEST(is_loopback("127.0.0.1"));
  BOOST_TEST(is_loopback("127.1.2.3"));
  BOOST_TEST(is_loopback("::1"));
  BOOST_TEST(is_loopback("localhost"));
  BOOST_TEST(!is_loopback("0.0.0.0"));
  BOOST_TEST(!is_loopback("::"));
  BOOST_TEST(!is_loopback(""));
  BOOST_TEST(!is_loopback("10.0.0.1"));
  BOOST_TEST(!is_loopback("::ffff:10.0.0.1"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(runner_published, cli_fixture)

BOOST_AUTO_TEST_CASE(
  a_runner_without_tls_serves_its_manager_on_loopback_to_readers_of_its_store) {
  auto run = background_runner({"--wait", "--publish", "0"});
  auto port = published_port(*run);
  BOOST_TEST(run->log().find("without TLS (only users who may read " + store
                             + " are admitted)")
               != std::string::npos,
             run->log());
  node host;
  auto mgr = connect_manager(*host.sys, "127.0.0.1", port);
  BOOST_REQUIRE_MESSAGE(mgr, "connect: " << (mgr ? "" : render(mgr.error())));
  caf::scoped_actor self{*host.sys};
  auto s = test_spec(
    R"({"steps": {"a": {"class": "procman.set", "args": {"n": 7}}}})");
  std::string pid;
  self->request(*mgr, std::chrono::seconds(10), start_request{s, {}, {}})
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

BOOST_AUTO_TEST_CASE(
  a_user_who_may_not_read_the_store_gets_nothing_from_a_published_runner) {
  auto run = background_runner({"--wait", "--publish", "0"});
  auto where = "127.0.0.1:" + std::to_string(published_port(*run));
  auto spec = R"({"steps": {"a": {"class": "procman.set", "args": {}}}})";
  for (auto& args :
       std::vector<std::vector<std::string>>{{"list"}, {"start", spec}}) {
    auto argv = args;
    argv.insert(argv.begin(), {bin("procman"), "--connect", where});
    auto res = run_command(as_nobody(argv), {}, 60);
    BOOST_TEST(res.exit_code == 1, res.err);
    BOOST_TEST(res.err.find("admits only users who may read its store "
                            "directory")
                 != std::string::npos,
               res.err);
  }
  BOOST_TEST(procman({"list"}).out.empty());
  auto res = run_command({bin("procman"), "--connect", where, "start", spec},
                         {}, 60);
  BOOST_TEST(res.exit_code == 0, res.err);
  BOOST_TEST(run->log().find("refused a connection to the manager")
               != std::string::npos,
             run->log());
  run->signal(SIGTERM);
  BOOST_TEST(run->wait(20));
}

BOOST_AUTO_TEST_CASE(bind_without_publish_is_a_usage_error) {
  BOOST_TEST(runner({"--bind", "127.0.0.1"}).exit_code == 2);
  BOOST_TEST(runner({"--publish", "70000"}).exit_code == 2);
}

BOOST_AUTO_TEST_CASE(binding_beyond_loopback_without_tls_exits_2) {
  for (std::string addr : {"0.0.0.0", "::"}) {
    auto res = runner({"--wait", "--publish", "0", "--bind", addr});
    BOOST_TEST(res.exit_code == 2);
    BOOST_TEST(res.err.find("refusing --bind " + addr + " without TLS")
                 != std::string::npos,
               res.err);
  }
}

BOOST_AUTO_TEST_SUITE_END()
