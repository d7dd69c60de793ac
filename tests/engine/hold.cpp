// `procman hold` and `procman release` with real runners, real executors and
// a real store: a held process is not claimed, keeps its place and its key,
// can be cancelled, and runs once released.

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "engine/cli_fixture.hpp"

using namespace procman;
using namespace procman::test;

BOOST_FIXTURE_TEST_SUITE(hold_release, cli_fixture)

BOOST_AUTO_TEST_CASE(a_held_process_is_not_claimed_until_released) {
  auto held = start(true_spec());
  auto other = start(true_spec());
  auto res = procman({"hold", held});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(boost::json::parse(res.out).at("status") == "held");
  BOOST_TEST(status_of(held) == "held");
  // A runner without --wait runs until its claim comes back short: the
  // queue holds nothing it may claim when it exits.
  auto run = runner();
  BOOST_REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  BOOST_TEST(status_of(other) == "finished");
  BOOST_TEST(status_of(held) == "held");
  auto listed = procman({"list", "--status", "held"});
  BOOST_REQUIRE_EQUAL(listed.exit_code, 0);
  BOOST_TEST(listed.out.find(held) != std::string::npos);
  BOOST_TEST(listed.out.find(other) == std::string::npos);
  res = procman({"release", held});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(boost::json::parse(res.out).at("status") == "queued");
  run = runner();
  BOOST_REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  BOOST_TEST(status_of(held) == "finished");
}

BOOST_AUTO_TEST_CASE(a_waiting_runner_runs_a_process_once_it_is_released) {
  auto pid = start(true_spec());
  BOOST_REQUIRE_EQUAL(procman({"hold", pid}).exit_code, 0);
  auto run = background_runner({"--wait", "--parallel", "1"});
  // The runner is up and serving once it ran other work; the held one
  // stays held meanwhile.
  auto other = start(true_spec());
  BOOST_REQUIRE_MESSAGE(await_status(other, "finished", 30), run->log());
  BOOST_TEST(status_of(pid) == "held");
  BOOST_REQUIRE_EQUAL(procman({"release", pid}).exit_code, 0);
  BOOST_REQUIRE_MESSAGE(await_status(pid, "finished", 30), run->log());
}

BOOST_AUTO_TEST_CASE(a_delayed_process_can_be_held_and_keeps_its_time) {
  auto pid = start(true_spec(), {"--delay", "1h"});
  auto before = status(pid);
  auto res = procman({"hold", pid});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(status_of(pid) == "held");
  res = procman({"release", pid});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  auto after = status(pid);
  BOOST_TEST(after.at("status") == "queued");
  BOOST_TEST(after.at("not_before") == before.at("not_before"));
  // Still not due: a runner leaves it alone.
  BOOST_REQUIRE_EQUAL(runner().exit_code, 0);
  BOOST_TEST(status_of(pid) == "queued");
}

BOOST_AUTO_TEST_CASE(a_held_process_can_be_cancelled_and_keeps_its_key) {
  auto pid = start(true_spec(), {"--key", "nightly"});
  BOOST_REQUIRE_EQUAL(procman({"hold", pid}).exit_code, 0);
  // The key's holder is the held process: a start under it enqueues nothing.
  auto again = procman({"start", true_spec(), "--key", "nightly"});
  BOOST_REQUIRE_EQUAL(again.exit_code, 0);
  BOOST_TEST(again.out == pid + "\n");
  auto res = procman({"cancel", pid});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(boost::json::parse(res.out).at("status") == "cancelled");
  BOOST_TEST(status_of(pid) == "cancelled");
  // Cancelled, it holds the key no more.
  BOOST_TEST(start(true_spec(), {"--key", "nightly"}) != pid);
}

BOOST_AUTO_TEST_CASE(hold_and_release_refuse_what_they_cannot_do) {
  std::string unknown(32, 'a');
  auto res = procman({"hold", unknown});
  BOOST_TEST(res.exit_code == 1);
  BOOST_TEST(res.err == "procman: no process " + unknown + "\n");
  res = procman({"release", unknown});
  BOOST_TEST(res.exit_code == 1);
  BOOST_TEST(res.err == "procman: no process " + unknown + "\n");
  auto queued = start(true_spec());
  res = procman({"release", queued});
  BOOST_TEST(res.exit_code == 1);
  BOOST_TEST(res.err.find(queued
                          + ": cannot release a queued process; only a "
                            "held one can be released")
               != std::string::npos,
             res.err);
  BOOST_REQUIRE_EQUAL(runner().exit_code, 0);
  res = procman({"hold", queued});
  BOOST_TEST(res.exit_code == 1);
  BOOST_TEST(res.err.find(queued
                          + ": cannot hold a finished process; only a "
                            "queued or delayed one can be held")
               != std::string::npos,
             res.err);
  BOOST_TEST(procman({"hold"}).exit_code == 2);
  BOOST_TEST(status_of(queued) == "finished");
}

BOOST_AUTO_TEST_SUITE_END()
