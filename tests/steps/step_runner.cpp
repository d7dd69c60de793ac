#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/messages/json.hpp"

#include "fixtures/json_depth.hpp"
#include "helpers.hpp"

using namespace procman;
using namespace procman::test;
namespace json = boost::json;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Appends its name to data["trail"] and counts how often it ran.
class trail_step : public step {
public:
  trail_step(std::string tag, int& runs) : tag_(std::move(tag)), runs_(runs) {}

  json::object execute(const json::object& data, step_context&) override {
    ++runs_;
    auto out = data;
    auto trail = data.contains("trail")
                   ? std::string(data.at("trail").as_string())
                   : std::string{};
    out["trail"] = trail + tag_;
    return out;
  }

private:
  std::string tag_;
  int& runs_;
};

__attribute__((noinline)) void runner_test_thrower() {
  throw std::logic_error("kaput");
}

class throwing_step : public step {
public:
  json::object execute(const json::object&, step_context&) override {
    runner_test_thrower();
    return {};
  }
};

class int_throwing_step : public step {
public:
  json::object execute(const json::object&, step_context&) override {
    throw 42;
  }
};

// Returns its input one level down: {"w": data}.
class wrap_step : public step {
public:
  json::object execute(const json::object& data, step_context&) override {
    return {{"w", data}};
  }
};

class big_step : public step {
public:
  json::object execute(const json::object&, step_context&) override {
    return {{"blob", std::string(50u << 20, 'x')}};
  }
};

// Reports odd progress values and returns what the context told it.
class context_step : public step {
public:
  json::object execute(const json::object&, step_context& ctx) override {
    ctx.progress(150, "too much");
    ctx.progress(-3, "too little");
    ctx.progress(std::numeric_limits<double>::quiet_NaN(), "not a number");
    ctx.progress(42.5, "bad \xFF utf-8");
    return {{"pid", ctx.pid()},
            {"step", ctx.step_name()},
            {"script_args", ctx.script_args()}};
  }
};

class lazy_spec_step : public step {
public:
  json::object execute(const json::object&, step_context&) override {
    throw spec_error("field \"when\" is in the past");
  }
};

struct runner_fixture {
  procman::step_registry reg;
  service_registry services;
  observer_log log;
  int runs = 0;

  runner_fixture() {
    register_builtin_steps(reg);
    reg.add("test.trail", [this](const json::value& args, const service_map&) {
      return std::make_unique<trail_step>(std::string(args.as_string()), runs);
    });
    reg.add("test.throw", [](const json::value&, const service_map&) {
      return std::make_unique<throwing_step>();
    });
    reg.add("test.throw_int", [](const json::value&, const service_map&) {
      return std::make_unique<int_throwing_step>();
    });
    reg.add("test.wrap", [](const json::value&, const service_map&) {
      return std::make_unique<wrap_step>();
    });
    reg.add("test.big", [](const json::value&, const service_map&) {
      return std::make_unique<big_step>();
    });
    reg.add("test.context", [](const json::value&, const service_map&) {
      return std::make_unique<context_step>();
    });
    reg.add("test.lazy_spec", [](const json::value&, const service_map&) {
      return std::make_unique<lazy_spec_step>();
    });
  }

  step_run_result run(const std::vector<step_spec>& steps, uint32_t first = 0,
                      json::object data = {}, step_run_options opts = {}) {
    return run_steps(steps, first, std::move(data), reg, services,
                     log.observer(), opts);
  }

  static std::vector<step_spec> abc() {
    return {spec("a", "test.trail", R"("A")"),
            spec("b", "test.trail", R"("B")"),
            spec("c", "test.trail", R"("C")")};
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(step_runner, runner_fixture)

BOOST_AUTO_TEST_CASE(runs_steps_in_order_chaining_outputs) {
  auto r = run(abc(), 0, {{"trail", ">"}});
  BOOST_TEST(r.outcome == step_run_result::finished);
  BOOST_TEST(json::serialize(r.output) == R"({"trail":">ABC"})");
  BOOST_TEST(r.step == 2u);
  std::vector<std::string> expected{"started 0", "completed 0",
                                    "started 1", "completed 1",
                                    "started 2", "completed 2"};
  BOOST_TEST(log.events == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(first_step_skips_earlier_steps) {
  auto r = run(abc(), 1, {{"trail", "resumed:"}});
  BOOST_TEST(json::serialize(r.output) == R"({"trail":"resumed:BC"})");
  BOOST_TEST(runs == 2);
  BOOST_TEST(log.events.front() == "started 1");
}

BOOST_AUTO_TEST_CASE(first_step_at_the_end_finishes_with_the_data) {
  auto r = run(abc(), 3, {{"approved", true}});
  BOOST_TEST(r.outcome == step_run_result::finished);
  BOOST_TEST(json::serialize(r.output) == R"({"approved":true})");
  BOOST_TEST(runs == 0);
  BOOST_TEST(log.events.empty());
}

BOOST_AUTO_TEST_CASE(first_step_past_the_end_is_a_spec_error) {
  auto r = run(abc(), 4);
  BOOST_TEST(r.outcome == step_run_result::failed);
  BOOST_TEST((r.error.kind == error_kind::spec));
  BOOST_TEST(contains(r.error.message, "first step 4 is past the last step"));
}

BOOST_AUTO_TEST_CASE(unknown_class_fails_before_any_step_runs) {
  auto steps = abc();
  steps[2].cls = "test.typo";
  auto r = run(steps);
  BOOST_TEST(r.outcome == step_run_result::failed);
  BOOST_TEST((r.error.kind == error_kind::spec));
  BOOST_TEST(r.step == 2u);
  BOOST_TEST(r.error.step == "c");
  BOOST_TEST(
    contains(r.error.message, R"(step "c": unknown class "test.typo")"));
  BOOST_TEST(runs == 0);
  BOOST_TEST(log.events.empty());
}

BOOST_AUTO_TEST_CASE(unknown_service_fails_before_any_step_runs) {
  auto steps = abc();
  steps[1].services = {"nosuch"};
  auto r = run(steps);
  BOOST_TEST((r.error.kind == error_kind::spec));
  BOOST_TEST(r.error.message == R"(step "b": unknown service "nosuch")");
  BOOST_TEST(r.step == 1u);
  BOOST_TEST(runs == 0);
}

BOOST_AUTO_TEST_CASE(bad_args_fail_when_the_step_is_built) {
  auto steps = abc();
  steps[1] = spec("nap", "procman.sleep", R"({"seconds": "x"})");
  auto r = run(steps);
  BOOST_TEST(r.outcome == step_run_result::failed);
  BOOST_TEST((r.error.kind == error_kind::spec));
  BOOST_TEST(r.error.step == "nap");
  BOOST_TEST(
    r.error.message
    == R"(step "nap": bad args: field "seconds" must be a number >= 0)");
  BOOST_TEST(runs == 1); // step a ran, c did not
  std::vector<std::string> expected{"started 0", "completed 0", "started 1"};
  BOOST_TEST(log.events == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_throwing_step_fails_with_message_and_stack) {
  auto steps = abc();
  steps[1] = spec("boom", "test.throw");
  auto r = run(steps);
  BOOST_TEST(r.outcome == step_run_result::failed);
  BOOST_TEST((r.error.kind == error_kind::exception));
  BOOST_TEST(r.step == 1u);
  BOOST_TEST(r.error.step == "boom");
  BOOST_TEST(r.error.message == R"(Step "boom" failed: kaput)");
  BOOST_TEST(!r.error.stack.empty());
  BOOST_TEST(contains(r.error.stack, "0# "));
  BOOST_TEST(r.output.empty());
  BOOST_TEST(runs == 1);
}

BOOST_AUTO_TEST_CASE(a_non_standard_exception_names_its_type) {
  auto r = run({spec("odd", "test.throw_int")});
  BOOST_TEST((r.error.kind == error_kind::exception));
  BOOST_TEST(r.error.message == R"(Step "odd" failed: exception of type int)");
  BOOST_TEST(!r.error.stack.empty());
}

BOOST_AUTO_TEST_CASE(spec_error_from_execute_is_kind_spec) {
  auto r = run({spec("late", "test.lazy_spec")});
  BOOST_TEST((r.error.kind == error_kind::spec));
  BOOST_TEST(r.error.message
             == R"(step "late": bad args: field "when" is in the past)");
}

BOOST_AUTO_TEST_CASE(procman_fail_is_an_exception) {
  auto r = run({spec("f", "procman.fail", R"({"message": "nope"})")});
  BOOST_TEST((r.error.kind == error_kind::exception));
  BOOST_TEST(r.error.message == R"(Step "f" failed: nope)");
}

BOOST_AUTO_TEST_CASE(an_oversized_output_fails_with_kind_output) {
  auto r = run({spec("a", "test.trail", R"("A")"), spec("big", "test.big"),
                spec("c", "test.trail", R"("C")")});
  BOOST_TEST(r.outcome == step_run_result::failed);
  BOOST_TEST((r.error.kind == error_kind::output));
  BOOST_TEST(r.error.step == "big");
  BOOST_TEST(r.step == 1u);
  // {"blob":"xxx..."}: 52428800 characters plus 11.
  BOOST_TEST(
    r.error.message
    == R"(step "big": output is 52428811 bytes, above the limit of 16777216 bytes)");
  BOOST_TEST(runs == 1);
  std::vector<std::string> expected{"started 0", "completed 0", "started 1"};
  BOOST_TEST(log.events == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_output_limit_is_an_option) {
  step_run_options opts;
  opts.max_output_bytes = 12;
  auto r = run({spec("a", "test.trail", R"("AB")")}, 0, {}, opts);
  // {"trail":"AB"} is 14 bytes.
  BOOST_TEST(r.error.message
             == R"(step "a": output is 14 bytes, above the limit of 12 bytes)");
  opts.max_output_bytes = 14;
  BOOST_TEST(run({spec("a", "test.trail", R"("AB")")}, 0, {}, opts).outcome
             == step_run_result::finished);
}

BOOST_AUTO_TEST_CASE(
  an_output_deeper_than_the_json_limit_fails_with_kind_output) {
  auto limit = defaults::max_json_depth;
  auto data = [](size_t depth) {
    return parse_deep(nested_object(depth)).as_object();
  };
  auto ok = run({spec("w", "test.wrap")}, 0, data(limit - 1));
  BOOST_TEST(ok.outcome == step_run_result::finished, ok.error.message);
  BOOST_TEST(depth_of(ok.output) == limit);
  auto r = run({spec("w", "test.wrap"), spec("c", "test.trail", R"("C")")}, 0,
               data(limit));
  BOOST_TEST(r.outcome == step_run_result::failed);
  BOOST_TEST((r.error.kind == error_kind::output));
  BOOST_TEST(r.error.step == "w");
  BOOST_TEST(r.error.message
             == "step \"w\": output is nested deeper than "
                  + std::to_string(limit) + " levels");
  BOOST_TEST(runs == 0);
}

BOOST_AUTO_TEST_CASE(an_interrupting_step_pauses_with_its_output) {
  auto steps = abc();
  steps.insert(steps.begin() + 1,
               spec("approve", "procman.pause", R"({"awaiting": "approval"})"));
  auto r = run(steps);
  BOOST_TEST(r.outcome == step_run_result::interrupted);
  BOOST_TEST(r.step == 1u);
  BOOST_TEST(json::serialize(r.output)
             == R"({"trail":"A","awaiting":"approval"})");
  BOOST_TEST(runs == 1);
  std::vector<std::string> expected{"started 0", "completed 0", "started 1",
                                    "completed 1"};
  BOOST_TEST(log.events == expected, boost::test_tools::per_element());
  // Proceeding: the next run starts after the pause with merged data.
  auto merged = merge_objects(r.output, {{"approved_by", "ops"}});
  log.events.clear();
  auto r2 = run(steps, r.step + 1, merged);
  BOOST_TEST(r2.outcome == step_run_result::finished);
  BOOST_TEST(json::serialize(r2.output)
             == R"({"trail":"ABC","awaiting":"approval","approved_by":"ops"})");
}

BOOST_AUTO_TEST_CASE(the_context_forwards_clean_progress_and_knows_its_run) {
  step_run_options opts;
  opts.pid = "00112233445566778899aabbccddeeff";
  opts.script_args = "--farm=wiki2";
  auto r = run({spec("a", "test.trail", R"("A")"), spec("ctx", "test.context")},
               0, {}, opts);
  BOOST_TEST_REQUIRE(r.outcome == step_run_result::finished);
  BOOST_TEST(
    json::serialize(r.output)
    == R"({"pid":"00112233445566778899aabbccddeeff","step":"ctx","script_args":"--farm=wiki2"})");
  BOOST_TEST_REQUIRE(log.progress.size() == 4u);
  BOOST_TEST(log.progress[0].first == 100.0);
  BOOST_TEST(log.progress[1].first == 0.0);
  BOOST_TEST(log.progress[2].first == 0.0);
  BOOST_TEST(log.progress[3].first == 42.5);
  BOOST_TEST(log.progress[3].second == "bad \xEF\xBF\xBD utf-8");
  BOOST_TEST(log.events[3] == "progress 1");
}

BOOST_AUTO_TEST_CASE(observer_callbacks_are_optional) {
  auto r = run_steps(abc(), 0, {}, reg, services, step_observer{}, {});
  BOOST_TEST(r.outcome == step_run_result::finished);
  BOOST_TEST(runs == 3);
}

BOOST_AUTO_TEST_SUITE_END()
