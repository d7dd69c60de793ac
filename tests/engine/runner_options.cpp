// procman-runner's options that bound a run: --max-jobs (the original's
// name for --max-processes) and --give-up-after.

#include "cli_fixture.hpp"

using namespace procman::test;

namespace {

const std::string trivial
  = R"({"steps": {"s": {"class": "procman.set", "args": {"ok": 1}}}})";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(runner_limits, cli_fixture)

BOOST_AUTO_TEST_CASE(max_jobs_is_the_originals_name_for_max_processes) {
  std::vector<std::string> pids;
  for (int i = 0; i < 5; ++i)
    pids.push_back(start(trivial));
  auto r = runner({"--max-jobs", "2", "--parallel", "1"});
  BOOST_TEST(r.exit_code == 0, r.err);
  int finished = 0, queued = 0;
  for (auto& p : pids) {
    auto s = status_of(p);
    finished += s == "finished";
    queued += s == "queued";
  }
  BOOST_TEST(finished == 2);
  BOOST_TEST(queued == 3);
  BOOST_TEST_MESSAGE("with --wait too, and as --max-jobs=N");
  auto run = background_runner({"--wait", "--max-jobs=3"});
  BOOST_REQUIRE(run->wait(60));
  BOOST_TEST(run->exit_code() == 0);
  for (auto& p : pids)
    BOOST_TEST(status_of(p) == "finished");
}

BOOST_AUTO_TEST_CASE(max_jobs_and_max_processes_together_must_agree) {
  std::vector<std::string> pids;
  for (int i = 0; i < 3; ++i)
    pids.push_back(start(trivial));
  auto r = runner({"--max-jobs", "2", "--max-processes", "3"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "options --max-processes and --max-jobs are one "
                             "limit; they disagree (3 and 2): give one"),
             r.err);
  for (auto& p : pids)
    BOOST_TEST(status_of(p) == "queued");
  BOOST_TEST_MESSAGE("the same number twice is one limit");
  r = runner({"--max-jobs", "2", "--max-processes", "2", "--parallel", "1"});
  BOOST_TEST(r.exit_code == 0, r.err);
  int finished = 0;
  for (auto& p : pids)
    finished += status_of(p) == "finished";
  BOOST_TEST(finished == 2);
  BOOST_TEST_MESSAGE("a bad number is named");
  r = runner({"--max-jobs", "0"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "option --max-jobs must be a whole number from 1"),
             r.err);
}

BOOST_AUTO_TEST_CASE(give_up_after_takes_a_duration) {
  auto pid = start(trivial);
  auto r = runner({"--give-up-after", "soon"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err,
                      "option --give-up-after must be a duration such as "
                      "30, 30s, 15m, 12h or 7d, not \"soon\""),
             r.err);
  BOOST_TEST(status_of(pid) == "queued");
  // A worker node has no store to give up on.
  r = run_command(
    {bin("procman-runner"), "--join", "127.0.0.1:1", "--give-up-after", "10s"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "option --give-up-after does not go with --join"),
             r.err);
  BOOST_TEST_MESSAGE("0 never gives up; commits that succeed never trigger it");
  r = runner({"--give-up-after", "0"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(status_of(pid) == "finished");
}

BOOST_AUTO_TEST_SUITE_END()
