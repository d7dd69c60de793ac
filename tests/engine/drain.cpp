// An engine that does not wait drains the processes a store holds and
// stops: enqueued through the front door before it starts (as `procman
// start` does), each run by procman-exec to finished with its steps' data.
// The same suite runs on Linux and under Wine (docs/windows.md).

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "procman/door/door.hpp"
#include "procman/messages/error.hpp"

#include "engine_helpers.hpp"

using namespace procman;
using namespace procman::test;

BOOST_FIXTURE_TEST_SUITE(engine_drain, actor_system_fixture)

BOOST_AUTO_TEST_CASE(an_engine_without_wait_runs_what_is_queued_and_stops) {
  auto dir = tmp.str() + "/store";
  std::vector<std::string> pids;
  {
    auto d = door::open(dir);
    BOOST_REQUIRE_MESSAGE(d, (d ? "" : d.error().context));
    for (int i = 0; i < 5; ++i) {
      auto pid = d->start(test_spec(
        R"({"steps": {"a": {"class": "procman.set", "args": {"i": )"
        + std::to_string(i)
        + R"(}}, "b": {"class": "procman.set", "args": {"b": true}}}})"));
      BOOST_REQUIRE_MESSAGE(pid, (pid ? "" : pid.error().context));
      pids.push_back(*pid);
    }
  }
  auto eng = start_test_engine(*sys, tmp.str(), false);
  eng->await();
  BOOST_TEST(!eng->failure());
  eng.reset();
  auto d = door::open(dir);
  BOOST_REQUIRE(d);
  for (size_t i = 0; i < pids.size(); ++i) {
    auto rec = d->info(pids[i]);
    BOOST_REQUIRE_MESSAGE(rec, (rec ? "" : rec.error().context));
    BOOST_TEST((rec->status == process_status::finished),
               pids[i] << ": " << to_string(rec->status) << " "
                       << rec->error.message);
    auto out = boost::json::parse(rec->output).as_object();
    BOOST_TEST(out.at("i").as_int64() == static_cast<int64_t>(i));
    BOOST_TEST(out.at("b").as_bool());
  }
}

BOOST_AUTO_TEST_SUITE_END()
