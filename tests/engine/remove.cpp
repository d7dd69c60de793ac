// `procman remove` with a real runner, real executors and a real store: an
// ended process goes with its output and leaves a purge entry in the log;
// anything not ended, or not there, is refused and kept as it was.

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "engine/cli_fixture.hpp"

using namespace procman;
using namespace procman::test;

BOOST_FIXTURE_TEST_SUITE(remove_process, cli_fixture)

BOOST_AUTO_TEST_CASE(an_ended_process_goes_with_its_output) {
  auto pid = start(shell_spec("echo kept-until-removed"));
  auto other = start(shell_spec("echo stays"));
  BOOST_REQUIRE_EQUAL(runner().exit_code, 0);
  BOOST_REQUIRE_EQUAL(status_of(pid), "finished");
  auto logs = procman({"logs", pid});
  BOOST_REQUIRE_EQUAL(logs.exit_code, 0);
  BOOST_TEST(logs.out.find("kept-until-removed") != std::string::npos);
  auto res = procman({"remove", pid});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(res.out == pid + "\n");
  auto gone = procman({"status", pid});
  BOOST_TEST(gone.exit_code == 1);
  BOOST_TEST(gone.err == "procman: no process " + pid + "\n");
  logs = procman({"logs", pid});
  BOOST_TEST(logs.out.find("kept-until-removed") == std::string::npos);
  auto listed = procman({"list"});
  BOOST_REQUIRE_EQUAL(listed.exit_code, 0);
  BOOST_TEST(listed.out.find(pid) == std::string::npos);
  BOOST_TEST(listed.out.find(other) != std::string::npos);
  BOOST_TEST(status_of(other) == "finished");
  // The log keeps one purge of it, from the client.
  auto exported = procman({"log", "export", "--pid", pid});
  BOOST_REQUIRE_EQUAL(exported.exit_code, 0);
  size_t purges = 0;
  for (size_t at = 0, end; at < exported.out.size(); at = end + 1) {
    end = exported.out.find('\n', at);
    auto line = boost::json::parse(exported.out.substr(at, end - at));
    auto& o = line.as_object();
    if (o.contains("event") && o.at("event") == "purge") {
      ++purges;
      BOOST_TEST(o.at("source") == "client");
    }
  }
  BOOST_TEST(purges == 1u, exported.out);
  // Asked again: there is nothing to remove.
  res = procman({"remove", pid});
  BOOST_TEST(res.exit_code == 1);
  BOOST_TEST(res.err == "procman: no process " + pid + "\n");
}

BOOST_AUTO_TEST_CASE(what_has_not_ended_is_refused_and_kept) {
  auto queued = start(true_spec());
  // Refused in `status`, and kept as it was.
  auto refused_in = [&](const std::string& status) {
    auto res = procman({"remove", queued});
    BOOST_TEST(res.exit_code == 1);
    BOOST_TEST(res.err
               == "procman: " + queued + ": cannot purge a " + status
                    + " process\n");
    BOOST_TEST(status_of(queued) == status);
  };
  refused_in("queued");
  BOOST_REQUIRE_EQUAL(procman({"hold", queued}).exit_code, 0);
  refused_in("held");
  // Cancelled, it has ended.
  BOOST_REQUIRE_EQUAL(procman({"cancel", queued}).exit_code, 0);
  auto res = procman({"remove", queued});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(procman({"status", queued}).exit_code == 1);
  // Usage errors change nothing.
  auto kept = start(true_spec());
  BOOST_TEST(procman({"remove"}).exit_code == 2);
  BOOST_TEST(procman({"remove", kept, kept}).exit_code == 2);
  BOOST_TEST(procman({"remove", "not-a-pid"}).exit_code != 0);
  BOOST_TEST(status_of(kept) == "queued");
}

BOOST_AUTO_TEST_SUITE_END()
