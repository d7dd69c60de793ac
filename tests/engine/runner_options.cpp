// procman-runner's options that bound a run: --give-up-after.

#include "cli_fixture.hpp"

using namespace procman::test;

namespace {

const std::string trivial = R"({"steps": {"s": {"class": "procman.set", "args": {"ok": 1}}}})";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(runner_limits, cli_fixture)

BOOST_AUTO_TEST_CASE(give_up_after_takes_a_duration) {
  auto pid = start(trivial);
  auto r = runner({"--give-up-after", "soon"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "option --give-up-after must be a duration such as "
                             "30, 30s, 15m, 12h or 7d, not \"soon\""),
             r.err);
  BOOST_TEST(status_of(pid) == "queued");
  // A worker node has no store to give up on.
  r = run_command({bin("procman-runner"), "--join", "127.0.0.1:1",
                   "--give-up-after", "10s"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "option --give-up-after does not go with --join"), r.err);
  BOOST_TEST_MESSAGE("0 never gives up; commits that succeed never trigger it");
  r = runner({"--give-up-after", "0"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(status_of(pid) == "finished");
}

BOOST_AUTO_TEST_SUITE_END()
