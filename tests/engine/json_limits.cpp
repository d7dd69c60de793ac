// JSON nesting depth and repeated keys in what users hand procman: one
// depth limit (defaults::max_json_depth) from the door to the output, and
// a clear refusal of anything deeper or ambiguous, with nothing stored.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "procman/messages/error.hpp"

#include "cli_fixture.hpp"
#include "engine_helpers.hpp"
#include "fixtures/json_depth.hpp"

using namespace procman;
using namespace procman::test;
namespace json = boost::json;

namespace {

constexpr size_t limit = defaults::max_json_depth;

const std::string with_pause = R"({"steps": {
  "prepare": {"class": "procman.set", "args": {"stage": "prepared"}},
  "approve": {"class": "procman.pause"},
  "publish": {"class": "procman.set", "args": {"stage": "published"}}},
  "data": {"title": "T"}})";

const std::string one_step
  = R"({"steps": {"s": {"class": "procman.set", "args": {"a": 1}}},
  "data": {"input": "x"}})";

std::string too_deep(const std::string& what) {
  return what + " is nested deeper than " + std::to_string(limit) + " levels";
}

struct json_limits_fixture : cli_fixture {
  /// `procman status` of `pid`, read back at any depth.
  json::object deep_status(const std::string& pid) {
    auto res = procman({"status", pid});
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0,
                          "procman status failed: " + res.err);
    return parse_deep(res.out).as_object();
  }

  std::string list_all() {
    auto res = procman({"list"});
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0,
                          "procman list failed: " + res.err);
    return res.out;
  }

  /// A process of `with_pause`, run up to its pause.
  std::string interrupted_process() {
    auto pid = start(with_pause);
    BOOST_REQUIRE(runner().exit_code == 0);
    BOOST_REQUIRE_EQUAL(status_of(pid), "interrupted");
    return pid;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(json_limits, json_limits_fixture)

BOOST_AUTO_TEST_CASE(
  data_at_the_depth_limit_goes_through_start_runner_and_finish) {
  auto deep = nested_object(limit, "deep");
  BOOST_REQUIRE_EQUAL(depth_of(parse_deep(deep)), limit);
  auto pid = start(one_step, {"--data", deep});
  BOOST_TEST(runner().exit_code == 0);
  auto info = deep_status(pid);
  BOOST_TEST_INFO("status: " << json::serialize(info).substr(0, 400));
  BOOST_REQUIRE_EQUAL(std::string(info.at("status").as_string()), "finished");
  auto& out = info.at("output").as_object();
  BOOST_TEST(out.at("input").as_string() == "x");
  BOOST_TEST(out.at("a").as_int64() == 1);
  BOOST_TEST(json::serialize(out.at("deep"))
             == json::serialize(parse_deep(deep).at("deep")));
  BOOST_TEST(depth_of(info.at("output")) == limit);
  // The message log carries it too: a replay of the log matches.
  auto log = procman({"log", "export"});
  BOOST_REQUIRE_MESSAGE(log.exit_code == 0, log.err);
  auto replay = procman({"replay", "-"}, log.out);
  BOOST_TEST(replay.exit_code == 0, replay.out + replay.err);
}

BOOST_AUTO_TEST_CASE(
  proceed_with_data_at_the_depth_limit_keeps_old_and_new_data) {
  auto pid = interrupted_process();
  auto deep = nested_object(limit, "deep");
  auto p = procman({"proceed", pid, "--data", deep});
  BOOST_TEST_REQUIRE(p.exit_code == 0, "proceed: " << p.err);
  BOOST_TEST(runner().exit_code == 0);
  auto info = deep_status(pid);
  BOOST_REQUIRE_EQUAL(std::string(info.at("status").as_string()), "finished");
  auto& out = info.at("output").as_object();
  BOOST_TEST(out.at("title").as_string() == "T");
  BOOST_TEST(out.at("stage").as_string() == "published");
  BOOST_TEST(json::serialize(out.at("deep"))
             == json::serialize(parse_deep(deep).at("deep")));
}

BOOST_AUTO_TEST_CASE(
  one_level_deeper_is_refused_at_start_and_run_and_stores_nothing) {
  auto deeper = nested_object(limit + 1);
  auto s = procman({"start", one_step, "--data", deeper});
  BOOST_TEST(s.exit_code == 1);
  BOOST_TEST(s.err.find(too_deep("--data")) != std::string::npos, s.err);
  auto r = procman({"run", one_step, "--data", deeper});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find(too_deep("--data")) != std::string::npos, r.err);
  // The same inside a spec: its "data" and a step's "args".
  auto in_data
    = procman({"start", R"({"steps": {"s": {"class": "procman.set"}}, "data": )"
                          + deeper + "}"});
  BOOST_TEST(in_data.exit_code == 1);
  BOOST_TEST(in_data.err.find(too_deep("spec: field \"data\""))
               != std::string::npos,
             in_data.err);
  BOOST_TEST(in_data.err.find("must be an object") == std::string::npos,
             in_data.err);
  auto in_args
    = procman({"start", R"({"steps": {"s": {"class": "procman.set", "args": )"
                          + deeper + "}}}"});
  BOOST_TEST(in_args.exit_code == 1);
  BOOST_TEST(in_args.err.find(too_deep("step \"s\": field \"args\""))
               != std::string::npos,
             in_args.err);
  BOOST_TEST(list_all() == "");
}

BOOST_AUTO_TEST_CASE(
  one_level_deeper_is_refused_at_proceed_and_changes_nothing) {
  auto pid = interrupted_process();
  auto before = procman({"status", pid}).out;
  auto p = procman({"proceed", pid, "--data", nested_object(limit + 1)});
  BOOST_TEST(p.exit_code == 1);
  BOOST_TEST(p.err.find(too_deep("--data")) != std::string::npos, p.err);
  BOOST_TEST(procman({"status", pid}).out == before);
}

BOOST_AUTO_TEST_CASE(
  duplicate_keys_in_data_are_refused_for_start_run_and_proceed) {
  for (auto data :
       {R"({"a": 1, "a": 2})", R"({"x": {"a": 1, "b": [{"a": 1, "a": 1}]}})"}) {
    BOOST_TEST_INFO("--data " << data);
    auto s = procman({"start", one_step, "--data", data});
    BOOST_TEST(s.exit_code == 1);
    BOOST_TEST(
      s.err.find("--data: field \"a\" used twice") != std::string::npos, s.err);
    auto r = procman({"run", one_step, "--data", data});
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST(
      r.err.find("--data: field \"a\" used twice") != std::string::npos, r.err);
  }
  BOOST_TEST(list_all() == "");
  auto pid = interrupted_process();
  auto before = procman({"status", pid}).out;
  auto p
    = procman({"proceed", pid, "--data", R"({"stage": "a", "stage": "b"})"});
  BOOST_TEST(p.exit_code == 1);
  BOOST_TEST(p.err.find("--data: field \"stage\" used twice")
               != std::string::npos,
             p.err);
  BOOST_TEST(procman({"status", pid}).out == before);
}

BOOST_AUTO_TEST_SUITE_END()

// -- the manager's doors ------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(json_limits_manager, actor_system_fixture)

BOOST_AUTO_TEST_CASE(the_manager_refuses_deep_data_and_repeated_keys) {
  auto eng = start_test_engine(*sys, tmp.str());
  caf::scoped_actor self{*sys};
  auto mgr = eng->manager();
  auto deep_spec
    = test_spec(R"({"steps": {"gate": {"class": "procman.pause"}}})");
  deep_spec.data = nested_object(limit + 1);
  self->request(mgr, reply_timeout(), start_request{deep_spec, {}, {}})
    .receive(
      [&](const std::string&) {
        BOOST_FAIL("a start with deep data was taken");
      },
      [&](const caf::error& e) {
        BOOST_TEST_INFO(render(e));
        BOOST_TEST(is(e, errc::invalid_spec));
        BOOST_TEST(render(e) == too_deep("spec: field \"data\""));
      });
  std::string pid;
  self
    ->request(mgr, reply_timeout(),
              start_request{
                test_spec(R"({"steps": {"gate": {"class": "procman.pause"}}})"),
                {},
                {}})
    .receive([&](const std::string& x) { pid = x; },
             [&](const caf::error& e) { BOOST_FAIL(render(e)); });
  process_record rec;
  BOOST_REQUIRE(eventually(
    [&] {
      self->request(mgr, reply_timeout(), status_request{pid})
        .receive([&](const process_record& x) { rec = x; },
                 [&](const caf::error& e) { BOOST_FAIL(render(e)); });
      return rec.status == process_status::interrupted;
    },
    30));
  for (auto data :
       {nested_object(limit + 1), std::string{R"({"k": 1, "k": 1})"}}) {
    self->request(mgr, reply_timeout(), proceed_request{pid, data, {}})
      .receive(
        [&](const std::string&) { BOOST_FAIL("proceed was taken: " << data); },
        [&](const caf::error& e) {
          BOOST_TEST_INFO(render(e));
          BOOST_TEST(is(e, errc::invalid_json));
          BOOST_TEST(render(e).find(pid + ": proceed data") == 0u);
        });
  }
  self->request(mgr, reply_timeout(), status_request{pid})
    .receive(
      [&](const process_record& x) {
        BOOST_TEST((x.status == process_status::interrupted));
        BOOST_TEST(x.output == rec.output);
      },
      [&](const caf::error& e) { BOOST_FAIL(render(e)); });
}

BOOST_AUTO_TEST_SUITE_END()
