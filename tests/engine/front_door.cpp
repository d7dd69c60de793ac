// Hosts reach procman through the manager, the CLI through the door's local
// backend; both run the same handler, so the same bad request is refused
// alike.

#include <caf/scoped_actor.hpp>

#include "procman/door/door.hpp"
#include "procman/persistence/store.hpp"

#include "engine_helpers.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct front_door_fixture : actor_system_fixture {
  std::unique_ptr<engine> eng = start_test_engine(*sys, tmp.str());
  caf::scoped_actor self{*sys};

  /// What the manager answers a start of `spec`: the pid or the error text.
  std::string manager_start(const process_spec& spec) {
    std::string out;
    self->request(eng->manager(), reply_timeout(), start_request{spec, {}, {}})
      .receive([&](const std::string& pid) { out = "pid " + pid; },
               [&](const caf::error& e) { out = render(e); });
    return out;
  }

  std::string manager_proceed(const std::string& pid, const std::string& data) {
    std::string out;
    self
      ->request(eng->manager(), reply_timeout(), proceed_request{pid, data, {}})
      .receive([&](const std::string& x) { out = "pid " + x; },
               [&](const caf::error& e) { out = render(e); });
    return out;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(front_door_alike, front_door_fixture)

BOOST_AUTO_TEST_CASE(the_manager_and_the_client_refuse_a_bad_request_alike) {
  auto c = door::open(tmp.str() + "/store");
  BOOST_REQUIRE(c);
  auto good = test_spec(R"({"steps": {"a": {"class": "procman.pause"}}})");
  std::vector<process_spec> bad(4, good);
  bad[0].steps.clear();
  bad[1].steps[0].args = "[1,";
  bad[2].data = R"({"k": 1, "k": 2})";
  bad[3].steps[0].cls.clear();
  for (auto& spec : bad) {
    auto by_client = c->start(spec);
    BOOST_REQUIRE(!by_client);
    auto by_manager = manager_start(spec);
    BOOST_TEST(by_manager == render(by_client.error()));
    BOOST_TEST(by_manager.rfind("pid ", 0) != 0u);
  }
  auto pid = c->start(good);
  BOOST_REQUIRE(pid);
  BOOST_REQUIRE(c->wait(*pid, std::chrono::seconds(30)));
  for (std::string data : {"[1]", R"({"k": 1, "k": 2})", "{"}) {
    auto by_client = c->call(proceed_request{*pid, data, {}});
    BOOST_REQUIRE(!by_client);
    BOOST_TEST(manager_proceed(*pid, data) == render(by_client.error()));
  }
  BOOST_TEST(manager_proceed(*pid, R"({"ok": true})") == "pid " + *pid);
}

BOOST_AUTO_TEST_SUITE_END()
