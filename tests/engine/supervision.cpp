// The supervisor watches its process actors: one that dies holding a slot
// has its process recorded and its slot freed.

#include <csignal>
#include <fstream>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "engine_helpers.hpp"
#include "fixtures/background.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct supervision_fixture {
  temp_dir tmp;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  supervision_fixture() {
    cfg.add_message_types<caf::id_block::procman>();
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  std::string read(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream buf;
    buf << in.rdbuf();
    return buf.str();
  }
};

process_record info(caf::scoped_actor& self, engine& eng,
                    const std::string& pid) {
  process_record rec;
  self->request(eng.manager(), reply_timeout(), status_request{pid})
    .receive([&](process_record& r) { rec = std::move(r); },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  return rec;
}

uint32_t active(caf::scoped_actor& self, engine& eng) {
  uint32_t n = 0;
  self->request(eng.supervisor(), reply_timeout(), atom::stats_v)
    .receive([&](uint32_t a, uint64_t) { n = a; },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  return n;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(process_supervision, supervision_fixture)

BOOST_AUTO_TEST_CASE(
  a_dead_process_actor_ends_its_process_as_runner_lost_and_frees_its_slot) {
  auto eng = start_test_engine(*sys, tmp.str());
  caf::scoped_actor self{*sys};
  auto pidfile = tmp.str() + "/sleep.pid";
  std::string pid;
  self
    ->request(
      eng->manager(), reply_timeout(),
      start_request{
        test_spec(
          R"({"steps": {"first": {"class": "procman.set", "args": {"a": 1}},
                  "long": {"class": "procman.exec", "args": {"command": ["sh", "-c",
                    "echo $$ > )"
          + pidfile + R"(; exec sleep 300"]}}}, "timeout": 600})"),
        {},
        {}})
    .receive([&](const std::string& x) { pid = x; },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_REQUIRE(eventually([&] { return !read(pidfile).empty(); }, 60));
  auto sleeper = std::stoi(read(pidfile));
  caf::actor actor;
  self->request(eng->supervisor(), reply_timeout(), caf::get_atom_v, pid)
    .receive([&](caf::actor& a) { actor = std::move(a); },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_REQUIRE(actor);
  BOOST_TEST(active(self, *eng) == 1u);
  BOOST_TEST_MESSAGE("the process actor dies");
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  BOOST_REQUIRE(eventually(
    [&] { return info(self, *eng, pid).status == process_status::error; }, 60));
  auto rec = info(self, *eng, pid);
  BOOST_TEST((rec.error.kind == error_kind::runner_lost));
  BOOST_TEST(rec.error.step == "long");
  BOOST_TEST(rec.error.message.find("the actor running the process died")
               != std::string::npos,
             rec.error.message);
  BOOST_TEST(rec.error.message.find(eng->runner_id()) != std::string::npos);
  BOOST_TEST(last_completed_step(rec) == "first");
  BOOST_TEST(eventually([&] { return !os_process_alive(sleeper); }, 30));
  BOOST_TEST(eventually([&] { return active(self, *eng) == 0; }, 30));
  BOOST_TEST_MESSAGE("the freed slot runs the next process");
  std::string next;
  self
    ->request(
      eng->manager(), reply_timeout(),
      start_request{
        test_spec(
          R"({"steps": {"s": {"class": "procman.set", "args": {"b": 2}}}})"),
        {},
        {}})
    .receive([&](const std::string& x) { next = x; },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_TEST(eventually(
    [&] { return info(self, *eng, next).status == process_status::finished; },
    60));
}

BOOST_AUTO_TEST_SUITE_END()
