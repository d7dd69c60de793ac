#include <filesystem>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/platform/system.hpp"

#include "exec_helpers.hpp"

using namespace procman::test;
namespace json = boost::json;

namespace {

// Runs the executor on bad input: exit code 2 and exactly one line, an
// error of kind "spec" with no step. Returns its message.
std::string rejected(const std::string& input,
                     const std::vector<std::string>& args = {},
                     const std::vector<std::string>& env = {}) {
  auto r = run_exec(input, args, env);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.all_lines_parse);
  BOOST_TEST_REQUIRE(r.lines.size() == 1u);
  auto& line = r.lines[0];
  BOOST_TEST(line.at("event").as_string() == "error");
  BOOST_TEST(!line.contains("step"));
  auto& e = line.at("error").as_object();
  BOOST_TEST(e.at("kind").as_string() == "spec");
  BOOST_TEST(e.at("step").as_string() == "");
  return std::string(e.at("message").as_string());
}

const std::string one_step = R"([{"name": "a", "class": "procman.set"}])";

} // namespace

BOOST_AUTO_TEST_SUITE(executor_bad_input)

BOOST_AUTO_TEST_CASE(garbage_on_stdin) {
  BOOST_TEST(rejected("hello there")
             == "executor input: malformed JSON at offset 0: syntax error");
  auto binary = rejected(std::string("\xff\xfe\x00\x01garbage", 11));
  BOOST_TEST(contains(binary, "executor input: malformed JSON at offset 0"));
  BOOST_TEST(contains(rejected(R"({"steps": [)"),
                      "executor input: malformed JSON at offset"));
  BOOST_TEST(contains(rejected(R"({"steps": []} trailing)"),
                      "extra characters after the document"));
}

BOOST_AUTO_TEST_CASE(empty_stdin) {
  BOOST_TEST(rejected("")
             == "executor input: stdin is empty (expected one JSON object)");
  BOOST_TEST(rejected("  \n")
             == "executor input: stdin is empty (expected one JSON object)");
}

BOOST_AUTO_TEST_CASE(not_an_object) {
  BOOST_TEST(rejected("[1, 2]")
             == R"(executor input: must be a JSON object with "steps")");
}

BOOST_AUTO_TEST_CASE(steps_missing_or_malformed) {
  BOOST_TEST(rejected("{}") == R"(executor input: field "steps" is missing)");
  BOOST_TEST(rejected(R"({"data": {}})")
             == R"(executor input: field "steps" is missing)");
  BOOST_TEST(
    rejected(R"({"steps": 5})")
    == R"(executor input: field "steps" must be an object (name -> step) or an array)");
  BOOST_TEST(rejected(R"({"steps": []})")
             == R"(executor input: field "steps" has no steps)");
  BOOST_TEST(rejected(R"({"steps": [{"name": "a"}]})")
             == R"(executor input: step "a": field "class" is missing)");
  BOOST_TEST(
    rejected(R"({"steps": [{"class": "procman.set"}]})")
    == R"(executor input: step #0: field "name" must be a non-empty string)");
  BOOST_TEST(
    rejected(R"({"steps": {"a": {"class": "procman.set", "args": 5}}})")
    == R"(executor input: step "a": field "args" must be an array or an object)");
}

BOOST_AUTO_TEST_CASE(other_fields_of_the_wrong_type) {
  auto with = [](const char* key, json::value v) {
    return work(one_step, {{key, std::move(v)}});
  };
  BOOST_TEST(
    rejected(with("first_step", -1))
    == R"(executor input: field "first_step" must be a non-negative integer)");
  BOOST_TEST(
    rejected(with("first_step", "1"))
    == R"(executor input: field "first_step" must be a non-negative integer)");
  BOOST_TEST(
    rejected(with("first_step", 5))
    == R"(executor input: field "first_step" is past the last step (5 > 1))");
  BOOST_TEST(rejected(with("data", json::array{1}))
             == R"(executor input: field "data" must be an object)");
  BOOST_TEST(rejected(with("pid", 5))
             == R"(executor input: field "pid" must be a string)");
  BOOST_TEST(rejected(with("script_args", json::array{}))
             == R"(executor input: field "script_args" must be a string)");
  BOOST_TEST(
    rejected(with("max_output_bytes", 0))
    == R"(executor input: field "max_output_bytes" must be a positive integer)");
  BOOST_TEST(
    rejected(with("step_libs", 3))
    == R"(executor input: field "step_libs" must be a ':'-separated string or an array of paths)");
  BOOST_TEST(
    rejected(with("timeout", "soon"))
    == R"(executor input: field "timeout" must be a number of seconds)");
  BOOST_TEST(rejected(with("first-step", 1))
             == R"(executor input: unknown field "first-step")");
}

BOOST_AUTO_TEST_CASE(unknown_options) {
  BOOST_TEST(rejected(work(one_step), {"--nope"})
             == R"(executor: unknown option "--nope")");
  BOOST_TEST(rejected(work(one_step), {"--step-lib"})
             == R"(executor: unknown option "--step-lib" (needs a PATH))");
}

BOOST_AUTO_TEST_CASE(a_bad_step_library_path) {
  auto msg = rejected(work(one_step), {"--step-lib", "/nonexistent/steps.so"});
  BOOST_TEST(
    contains(msg, R"(step library "/nonexistent/steps.so": cannot load: )"));
  BOOST_TEST(contains(msg, "No such file or directory"));
  auto env_msg = rejected(work(one_step), {},
                          {"PROCMAN_STEP_LIBS=/nonexistent/env.so"});
  BOOST_TEST(
    contains(env_msg, R"(step library "/nonexistent/env.so": cannot load: )"));
  auto input_msg
    = rejected(work(one_step, {{"step_libs", "/nonexistent/in.so"}}));
  BOOST_TEST(contains(input_msg, R"(step library "/nonexistent/in.so")"));
}

BOOST_AUTO_TEST_CASE(a_shared_object_that_is_no_step_library) {
  auto path = plugin_path("exec_no_register");
  auto msg = rejected(work(one_step), {"--step-lib", path});
  BOOST_TEST(contains(msg, "step library \"" + path
                             + "\": no function procman_register_steps"));
}

BOOST_AUTO_TEST_CASE(a_malformed_parent_pid) {
  BOOST_TEST(rejected(work(one_step), {}, {"PROCMAN_PARENT_PID=abc"})
             == R"(executor: PROCMAN_PARENT_PID is not a process id: "abc")");
}

BOOST_AUTO_TEST_CASE(a_parent_that_is_already_gone) {
  // The executor's parent is this test, not pid 1: as if the supervisor
  // had died between spawning it and prctl. Nothing may run.
  temp_dir dir;
  auto marker = (dir.path / "ran").string();
  json::array steps{
    json::object{{"name", "touch"},
                 {"class", "procman.exec"},
                 {"args", {{"command", touch_command(marker)}}}}};
  auto r = run_exec(work(json::serialize(steps)), {}, {"PROCMAN_PARENT_PID=1"});
  BOOST_TEST(r.exit_code == 4);
  BOOST_TEST(r.lines.empty());
  BOOST_TEST(contains(r.err, "parent 1 is gone"));
  BOOST_TEST(!std::filesystem::exists(marker));
  // With the right parent, it runs.
  auto ok = run_exec(work(json::serialize(steps)), {},
                     {"PROCMAN_PARENT_PID="
                      + std::to_string(procman::platform::this_process_id())});
  BOOST_TEST(ok.exit_code == 0);
  BOOST_TEST(std::filesystem::exists(marker));
}

BOOST_AUTO_TEST_SUITE_END()
