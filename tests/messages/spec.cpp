// parse_spec: both spec forms, and errors that name the step and field.

#include <string>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/messages/json.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/messages/types.hpp"

#include "fixtures/json_depth.hpp"
#include "samples.hpp"

namespace json = boost::json;
using namespace procman;
using namespace procman::test;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

process_spec parse_ok(const std::string& text) {
  auto spec = parse_spec(text);
  if (!spec)
    BOOST_FAIL(spec.error().context);
  return std::move(*spec);
}

// Parses `text`, which must be rejected, and returns the error.
std::string parse_error(const std::string& text) {
  auto spec = parse_spec(text);
  if (spec)
    BOOST_FAIL("accepted: " << text);
  auto& err = spec.error();
  BOOST_TEST((err.code == errc::invalid_spec));
  BOOST_TEST(!err.context.empty());
  BOOST_TEST_MESSAGE(text << " -> " << err.context);
  return err.context;
}

} // namespace

BOOST_AUTO_TEST_SUITE(spec_parsing)

// -- accepted specs -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(object_form_keeps_order_and_fields) {
  auto spec = parse_ok(R"({
    "steps": {
      "zeta": {"class": "Fetch", "args": {"url": "http://x", "n": [1, 2]},
               "services": ["http", "cache"]},
      "alpha": {"class": "Load"}
    },
    "timeout": 30,
    "data": {"user": "ann"}
  })");
  BOOST_TEST_REQUIRE(spec.steps.size() == 2u);
  BOOST_TEST(spec.steps[0].name == "zeta"); // spec order, not sorted
  BOOST_TEST(spec.steps[0].cls == "Fetch");
  BOOST_TEST(spec.steps[0].args == R"({"url":"http://x","n":[1,2]})");
  BOOST_TEST(
    (spec.steps[0].services == std::vector<std::string>{"http", "cache"}));
  BOOST_TEST(spec.steps[1].name == "alpha");
  BOOST_TEST(spec.steps[1].cls == "Load");
  BOOST_TEST(spec.steps[1].args == "null");
  BOOST_TEST(spec.steps[1].services.empty());
  BOOST_TEST(spec.timeout == 30u);
  BOOST_TEST(spec.data == R"({"user":"ann"})");
}

BOOST_AUTO_TEST_CASE(array_form_keeps_order_and_fields) {
  auto spec = parse_ok(R"({"steps": [
    {"name": "one", "class": "C1", "args": [1, "a"]},
    {"name": "two", "class": "C2", "args": null,
     "services": {"db": "main-db", "log": "syslog"}}
  ]})");
  BOOST_TEST_REQUIRE(spec.steps.size() == 2u);
  BOOST_TEST(spec.steps[0].name == "one");
  BOOST_TEST(spec.steps[0].cls == "C1");
  BOOST_TEST(spec.steps[0].args == R"([1,"a"])");
  BOOST_TEST(spec.steps[1].name == "two");
  BOOST_TEST(spec.steps[1].args == "null");
  // The object form of services keeps the service names, in order.
  BOOST_TEST(
    (spec.steps[1].services == std::vector<std::string>{"main-db", "syslog"}));
  BOOST_TEST(spec.timeout == 0u);
  BOOST_TEST(spec.data == "{}");
}

BOOST_AUTO_TEST_CASE(null_timeout_and_data_mean_defaults) {
  auto spec = parse_ok(
    R"({"steps": {"a": {"class": "A"}}, "timeout": null, "data": null})");
  BOOST_TEST(spec.timeout == 0u);
  BOOST_TEST(spec.data == "{}");
}

BOOST_AUTO_TEST_CASE(value_overload_agrees_with_text_overload) {
  auto text
    = std::string(R"({"steps": [{"name": "a", "class": "A"}], "timeout": 5})");
  auto v = parse_json(text);
  BOOST_REQUIRE(v);
  auto from_value = parse_spec(*v);
  BOOST_REQUIRE(from_value);
  BOOST_TEST((same(*from_value, parse_ok(text))));
}

BOOST_AUTO_TEST_CASE(rendered_spec_parses_back) {
  auto spec = sample_spec();
  auto text = json::serialize(json::value_from(spec));
  BOOST_TEST((same(parse_ok(text), spec)), text);
}

// -- rejected specs -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(malformed_json_names_the_offset) {
  //                            0123456789
  auto err = parse_error(R"({"steps": x})");
  BOOST_TEST(contains(err, "malformed JSON at offset 10"), err);
  err = parse_error(R"({"steps": {"a": {"class": "A"}}} trailing)");
  BOOST_TEST(contains(err, "malformed JSON at offset 33"), err);
  err = parse_error(R"({"steps": {)");
  BOOST_TEST(contains(err, "malformed JSON at offset 11"), err);
  err = parse_error("");
  BOOST_TEST(contains(err, "malformed JSON at offset 0"), err);
}

BOOST_AUTO_TEST_CASE(spec_must_be_an_object) {
  auto err = parse_error(R"([{"name": "a", "class": "A"}])");
  BOOST_TEST(contains(err, "spec must be a JSON object"), err);
}

BOOST_AUTO_TEST_CASE(missing_steps) {
  auto err = parse_error(R"({"timeout": 5})");
  BOOST_TEST(contains(err, "field \"steps\" is missing"), err);
}

BOOST_AUTO_TEST_CASE(steps_of_the_wrong_type) {
  for (auto steps : {R"("fetch")", "42", "true", "null"}) {
    auto err = parse_error(std::string(R"({"steps": )") + steps + "}");
    BOOST_TEST(contains(err, "field \"steps\" must be an object"), err);
  }
}

BOOST_AUTO_TEST_CASE(empty_steps) {
  for (auto steps : {"{}", "[]"}) {
    auto err = parse_error(std::string(R"({"steps": )") + steps + "}");
    BOOST_TEST(contains(err, "field \"steps\" has no steps"), err);
  }
}

BOOST_AUTO_TEST_CASE(step_without_class) {
  auto err = parse_error(R"({"steps": {"fetch": {"args": []}}})");
  BOOST_TEST(err == "step \"fetch\": field \"class\" is missing");
  err = parse_error(R"({"steps": [{"name": "fetch"}]})");
  BOOST_TEST(err == "step \"fetch\": field \"class\" is missing");
}

BOOST_AUTO_TEST_CASE(class_not_a_string) {
  for (auto cls : {"5", "null", "[\"A\"]", "\"\""}) {
    auto err = parse_error(std::string(R"({"steps": {"fetch": {"class": )")
                           + cls + "}}}");
    BOOST_TEST(contains(err, "step \"fetch\": field \"class\" must be a"), err);
  }
}

BOOST_AUTO_TEST_CASE(step_not_an_object) {
  auto err = parse_error(R"({"steps": {"fetch": "Fetch"}})");
  BOOST_TEST(contains(err, "step \"fetch\": must be an object"), err);
  err = parse_error(R"({"steps": [{"name": "a", "class": "A"}, "B"]})");
  BOOST_TEST(contains(err, "step #1: must be an object"), err);
}

BOOST_AUTO_TEST_CASE(args_a_string) {
  auto err = parse_error(
    R"({"steps": {"fetch": {"class": "F", "args": "http://x"}}})");
  BOOST_TEST(err
             == "step \"fetch\": field \"args\" must be an array or an object");
  err = parse_error(R"({"steps": {"fetch": {"class": "F", "args": 3}}})");
  BOOST_TEST(contains(err, "step \"fetch\": field \"args\""), err);
}

BOOST_AUTO_TEST_CASE(services_not_strings) {
  auto err = parse_error(
    R"({"steps": {"fetch": {"class": "F", "services": ["http", 1]}}})");
  BOOST_TEST(contains(err, "step \"fetch\": field \"services\""), err);
  err = parse_error(
    R"({"steps": {"fetch": {"class": "F", "services": {"db": 1}}}})");
  BOOST_TEST(contains(err, "step \"fetch\": field \"services\""), err);
  err = parse_error(
    R"({"steps": {"fetch": {"class": "F", "services": "http"}}})");
  BOOST_TEST(contains(err, "step \"fetch\": field \"services\""), err);
}

BOOST_AUTO_TEST_CASE(unknown_step_field) {
  auto err = parse_error(R"({"steps": {"fetch": {"class": "F", "arg": []}}})");
  BOOST_TEST(err == "step \"fetch\": unknown field \"arg\"");
}

BOOST_AUTO_TEST_CASE(array_form_step_needs_a_name) {
  auto err = parse_error(R"({"steps": [{"class": "A"}]})");
  BOOST_TEST(contains(err, "step #0: field \"name\""), err);
  err = parse_error(
    R"({"steps": [{"name": "a", "class": "A"}, {"name": "", "class": "B"}]})");
  BOOST_TEST(contains(err, "step #1: field \"name\""), err);
  err = parse_error(R"({"steps": [{"name": 7, "class": "A"}]})");
  BOOST_TEST(contains(err, "step #0: field \"name\""), err);
}

BOOST_AUTO_TEST_CASE(duplicate_names_in_array_form) {
  auto err = parse_error(R"({"steps": [
    {"name": "a", "class": "A"},
    {"name": "b", "class": "B"},
    {"name": "a", "class": "C"}]})");
  BOOST_TEST(err == "step \"a\": name used twice");
}

BOOST_AUTO_TEST_CASE(duplicate_names_in_object_form) {
  // A JSON object with a repeated key must not silently lose a step.
  auto text = std::string(
    R"({"steps": {"a": {"class": "A"}, "b": {"class": "B"}, "a": {"class": "C"}}})");
  BOOST_TEST(parse_error(text) == "step \"a\": name used twice");
}

BOOST_AUTO_TEST_CASE(repeated_fields_are_rejected) {
  auto err = parse_error(
    R"({"steps": {"a": {"class": "A", "args": [], "class": "B"}}})");
  BOOST_TEST(err == "step \"a\": field \"class\" used twice");
  // The offset is that of the repeated key's closing quote.
  err = parse_error(
    R"({"timeout": 1, "steps": {"a": {"class": "A"}}, "timeout": 2})");
  BOOST_TEST(err == "spec: field \"timeout\" used twice at offset 55");
  // Different objects may use the same keys.
  auto spec = parse_ok(R"({"steps": {"a": {"class": "A", "args": {"a": 1}},
                                   "b": {"class": "A", "args": {"a": 1}}},
                         "data": {"a": {"a": 1}}})");
  BOOST_TEST(spec.steps.size() == 2u);
}

BOOST_AUTO_TEST_CASE(unknown_top_level_field) {
  auto err = parse_error(R"({"steps": {"a": {"class": "A"}}, "retries": 3})");
  BOOST_TEST(err == "spec: unknown field \"retries\"");
}

BOOST_AUTO_TEST_CASE(timeout_negative_or_not_a_number) {
  auto err = parse_error(R"({"steps": {"a": {"class": "A"}}, "timeout": -5})");
  BOOST_TEST(contains(err, "field \"timeout\" must be between 0 and"), err);
  for (auto t : {R"("10")", "true", "[10]", "{}"}) {
    err = parse_error(
      std::string(R"({"steps": {"a": {"class": "A"}}, "timeout": )") + t + "}");
    BOOST_TEST(contains(err, "field \"timeout\" must be a number"), err);
  }
  err = parse_error(R"({"steps": {"a": {"class": "A"}}, "timeout": 1e12})");
  BOOST_TEST(contains(err, "field \"timeout\""), err);
}

BOOST_AUTO_TEST_CASE(data_not_an_object) {
  for (auto d : {"[1]", R"("x")", "3", "false"}) {
    auto err = parse_error(
      std::string(R"({"steps": {"a": {"class": "A"}}, "data": )") + d + "}");
    BOOST_TEST(err == "spec: field \"data\" must be an object");
  }
}

BOOST_AUTO_TEST_CASE(data_and_args_at_the_depth_limit_are_kept_whole) {
  auto deep = nested_object(defaults::max_json_depth);
  auto spec = parse_ok(R"({"steps": {"a": {"class": "A", "args": )" + deep
                       + R"(}}, "data": )" + deep + "}");
  BOOST_TEST(spec.data == deep);
  BOOST_TEST(spec.steps[0].args == deep);
  // And through the JSON mapping that the store's transitions use.
  auto back = parse_ok(dump(json::value_from(spec)));
  BOOST_TEST(back.data == deep);
  BOOST_TEST(back.steps[0].args == deep);
}

BOOST_AUTO_TEST_CASE(data_or_args_one_level_deeper_are_refused_by_name) {
  auto limit = std::to_string(defaults::max_json_depth);
  auto deeper = nested_object(defaults::max_json_depth + 1);
  BOOST_TEST(
    parse_error(R"({"steps": {"a": {"class": "A"}}, "data": )" + deeper + "}")
    == "spec: field \"data\" is nested deeper than " + limit + " levels");
  BOOST_TEST(
    parse_error(R"({"steps": {"a": {"class": "A", "args": )" + deeper + "}}}")
    == "step \"a\": field \"args\" is nested deeper than " + limit + " levels");
  BOOST_TEST(parse_error(R"({"steps": [{"name": "b", "class": "A", "args": [)"
                         + deeper + "]}]}")
             == "step \"b\": field \"args\" is nested deeper than " + limit
                  + " levels");
  // Far deeper than any envelope: still named, not "must be an object".
  auto far = nested_object(100000);
  BOOST_TEST(
    parse_error(R"({"steps": {"a": {"class": "A"}}, "data": )" + far + "}")
    == "spec: field \"data\" is nested deeper than " + limit + " levels");
}

BOOST_AUTO_TEST_CASE(user_json_refuses_repeated_keys_and_deep_nesting_by_name) {
  auto error_of = [](const std::string& text) {
    auto v = parse_user_json(text, "--data");
    if (v)
      BOOST_FAIL("accepted: " << text);
    BOOST_TEST((v.error().code == errc::invalid_json));
    return v.error().context;
  };
  BOOST_TEST(static_cast<bool>(parse_user_json(
    R"({"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]})", "--data")));
  BOOST_TEST(error_of(R"({"a": 1, "b": 2, "a": 3})")
             == "--data: field \"a\" used twice at offset 19");
  BOOST_TEST(error_of(R"({"x": [{"k": 1, "k": 1}]})")
             == "--data: field \"k\" used twice at offset 18");
  auto limit = defaults::max_json_depth;
  BOOST_TEST(
    static_cast<bool>(parse_user_json(nested_object(limit), "--data")));
  BOOST_TEST(error_of(nested_object(limit + 1))
             == "--data is nested deeper than " + std::to_string(limit)
                  + " levels");
  auto err = error_of("{\"a\": ");
  BOOST_TEST(contains(err, "--data: malformed JSON at offset"), err);
}

BOOST_AUTO_TEST_SUITE_END()
