// A host that embeds the engine in its own actor system, and the example
// host program.

#include <csignal>
#include <fstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <sys/stat.h>

#include "procman/door/door.hpp"
#include "procman/engine/engine.hpp"
#include "procman/messages/error.hpp"
#include "procman/persistence/store.hpp"

#include "cli_fixture.hpp"
#include "engine_helpers.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct engine_fixture : actor_system_fixture {
  std::unique_ptr<engine> start_engine(bool wait = true) {
    return start_test_engine(*sys, tmp.str(), wait);
  }

  static process_spec spec(const std::string& text) { return test_spec(text); }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(embedding, engine_fixture)

BOOST_AUTO_TEST_CASE(host_starts_subscribes_proceeds_and_sees_every_state) {
  auto eng = start_engine();
  caf::scoped_actor self{*sys};
  auto mgr = eng->manager();
  std::string pid;
  // Subscribed before the start (to every process: the pid is not known
  // yet), so that no change goes by unseen: a subscription sent after the
  // start's reply may arrive when the process has paused already.
  self->send(mgr, atom::subscribe_v, std::string{}, caf::actor{self});
  self
    ->request(
      mgr, reply_timeout(),
      start_request{
        spec(R"({"steps": {"a": {"class": "procman.set", "args": {"x": 1}},
                  "gate": {"class": "procman.pause"},
                  "b": {"class": "procman.set", "args": {"y": 2}}}})"),
        {},
        {}})
    .receive([&](const std::string& x) { pid = x; },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_REQUIRE_EQUAL(pid.size(), 32u);
  std::vector<process_status> seen;
  bool done = false;
  while (!done) {
    self->receive(
      [&](atom::event, const process_event& ev) {
        BOOST_TEST(ev.record.pid == pid);
        seen.push_back(ev.record.status);
        if (ev.record.status == process_status::interrupted) {
          self
            ->request(mgr, reply_timeout(),
                      proceed_request{pid, std::string{R"({"ok": true})"}, {}})
            .receive([&](const std::string& x) { BOOST_TEST(x == pid); },
                     [&](const caf::error& e) { BOOST_FAIL(render(e)); });
        }
        done = is_terminal(ev.record.status);
      },
      caf::after(std::chrono::seconds(30)) >>
        [&] { BOOST_FAIL("no event in 30 s"); });
  }
  BOOST_TEST((seen.back() == process_status::finished));
  BOOST_TEST((std::find(seen.begin(), seen.end(), process_status::interrupted)
              != seen.end()));
  BOOST_TEST(
    (std::count(seen.begin(), seen.end(), process_status::queued) >= 1));
  self->request(mgr, reply_timeout(), status_request{pid})
    .receive(
      [&](const process_record& rec) {
        auto out = boost::json::parse(rec.output).as_object();
        BOOST_TEST(out.at("x").as_int64() == 1);
        BOOST_TEST(out.at("y").as_int64() == 2);
        BOOST_TEST(out.at("ok").as_bool());
      },
      [&](const caf::error& e) { BOOST_FAIL(render(e)); });
}

BOOST_AUTO_TEST_CASE(manager_reports_errors_by_kind) {
  auto eng = start_engine();
  caf::scoped_actor self{*sys};
  auto mgr = eng->manager();
  std::string unknown(32, 'b');
  self->request(mgr, reply_timeout(), status_request{unknown})
    .receive([&](const process_record&) { BOOST_FAIL("expected an error"); },
             [&](const caf::error& e) {
               BOOST_TEST(is(e, errc::unknown_process));
               BOOST_TEST(render(e) == "no process " + unknown);
             });
  self
    ->request(mgr, reply_timeout(),
              proceed_request{unknown, std::string{"{}"}, {}})
    .receive([&](const std::string&) { BOOST_FAIL("expected an error"); },
             [&](const caf::error& e) {
               BOOST_TEST(is(e, errc::unknown_process));
             });
}

BOOST_AUTO_TEST_CASE(a_host_reads_live_output_and_its_start_is_checked) {
  auto eng = start_engine();
  caf::scoped_actor self{*sys};
  auto mgr = eng->manager();
  // An unknown built-in class is refused before anything is queued.
  self
    ->request(mgr, reply_timeout(),
              start_request{
                spec(R"({"steps": {"x": {"class": "procman.sett"}}})"), {}, {}})
    .receive([&](const std::string&) { BOOST_FAIL("expected an error"); },
             [&](const caf::error& e) {
               BOOST_TEST(is(e, errc::unknown_class));
               BOOST_TEST(
                 render(e).find(R"(step "x": unknown class "procman.sett")")
                 == 0u);
             });
  std::string pid;
  self
    ->request(mgr, reply_timeout(),
              start_request{spec(R"({"steps": {"sh": {"class": "procman.exec",
                  "args": {"command": ["sh", "-c", "echo out; echo err >&2"]}}}})"),
                            {},
                            {}})
    .receive([&](const std::string& x) { pid = x; },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_REQUIRE_EQUAL(pid.size(), 32u);
  output_log log;
  BOOST_REQUIRE(eventually(
    [&] {
      self->request(mgr, reply_timeout(), output_request{pid, uint64_t{0}})
        .receive([&](const output_log& x) { log = x; },
                 [&](const caf::error& e) { BOOST_FAIL(render(e)); });
      return log.status == process_status::finished;
    },
    60));
  std::string out, err;
  for (auto& c : log.chunks)
    (c.stream == output_stream::err ? err : out) += c.data;
  BOOST_TEST(out == "out\n");
  BOOST_TEST(err == "err\n");
  BOOST_TEST(log.last_seq >= 2u);
}

BOOST_AUTO_TEST_CASE(client_enqueues_for_an_engine_in_another_os_process) {
  // The runner is a separate OS process; this host only uses the client.
  auto store = tmp.str() + "/store";
  background run({bin("procman-runner"), "--store", store, "--wait"},
                 tmp.str() + "/runner.log");
  auto c = door::open(store);
  BOOST_REQUIRE(c);
  auto pid = c->start(
    spec(R"({"steps": {"a": {"class": "procman.set", "args": {"z": 26}}}})"));
  BOOST_REQUIRE(pid);
  auto rec = c->wait(*pid, std::chrono::seconds(30));
  BOOST_REQUIRE(rec);
  BOOST_TEST((rec->status == process_status::finished));
  run.signal(SIGTERM);
  BOOST_TEST(run.wait(20));
}

BOOST_AUTO_TEST_CASE(example_host_program_runs_its_process_to_the_end) {
  auto r = run_command({bin("procman-example-host"), tmp.str() + "/store"}, {},
                       60);
  BOOST_TEST_MESSAGE(r.err);
  BOOST_TEST(r.exit_code == 0);
  auto info = boost::json::parse(r.out).as_object();
  BOOST_TEST(info.at("status").as_string() == "finished");
  BOOST_TEST(info.at("output").at("approved_by").as_string() == "example-host");
  BOOST_TEST(std::string(info.at("output").at("stdout").as_string())
             == "published\n");
}

BOOST_AUTO_TEST_CASE(
  an_executor_that_exits_without_reading_its_input_does_not_end_the_host) {
  // The host keeps SIGPIPE's default action (which ends the process); the
  // engine writes the work to an executor that is already gone.
  auto old = signal(SIGPIPE, SIG_DFL);
  auto exec = tmp.str() + "/closes-stdin";
  {
    std::ofstream out(exec);
    out << "#!/bin/sh\n[ \"$1\" = --check ] && { echo ok; exit 0; }\n"
        << "exec 0<&-\nexit 7\n";
  }
  chmod(exec.c_str(), 0755);
  engine_options opts;
  opts.store_dir = tmp.str() + "/store";
  opts.exec_path = exec;
  opts.parallel = 2;
  auto eng = engine::start(*sys, opts);
  BOOST_REQUIRE_MESSAGE(eng, (eng ? "" : render(eng.error())));
  // More than a pipe holds, so that the write meets the closed end.
  std::string big(256 * 1024, 'x');
  auto text = R"({"steps": {"s": {"class": "procman.set"}}, "data": {"big": ")"
              + big + R"("}})";
  caf::scoped_actor self{*sys};
  std::vector<std::string> pids;
  for (int i = 0; i < 4; ++i)
    self
      ->request((*eng)->manager(), reply_timeout(),
                start_request{spec(text), {}, {}})
      .receive([&](const std::string& pid) { pids.push_back(pid); },
               [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  auto c = door::open(opts.store_dir);
  BOOST_REQUIRE(c);
  for (auto& pid : pids) {
    auto rec = c->wait(pid, std::chrono::seconds(30));
    BOOST_REQUIRE_MESSAGE(rec, (rec ? "" : render(rec.error())));
    BOOST_TEST(to_string(rec->status) == "error");
    BOOST_TEST(to_string(rec->error.kind) == "crash");
  }
  eng->reset();
  signal(SIGPIPE, old);
}

BOOST_AUTO_TEST_CASE(a_stopped_engine_leaves_none_of_its_actors_running) {
  // An actor of the engine still alive when the host's actor system stops
  // keeps the store actor alive through its timers, and the system's
  // destructor then waits for the store's thread forever. So the engine's
  // destructor returns only once every actor it spawned is gone.
  for (int round = 0; round < 20; ++round) {
    auto before = sys->registry().running();
    auto eng = start_engine();
    auto c = door::open(tmp.str() + "/store");
    BOOST_REQUIRE(c);
    auto pid = c->start(spec(R"({"steps": {"s": {"class": "procman.set"}}})"));
    BOOST_REQUIRE(pid);
    BOOST_REQUIRE(c->wait(*pid, std::chrono::seconds(30)));
    eng.reset();
    BOOST_REQUIRE_EQUAL(sys->registry().running(), before);
  }
}

BOOST_AUTO_TEST_SUITE_END()
