#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/messages/json.hpp"

#include "exec_helpers.hpp"

using namespace procman::test;
namespace json = boost::json;

namespace {

std::string ev(const json::object& line) {
  return std::string(line.at("event").as_string());
}

// "event step" for each line, e.g. "step_started 0".
std::vector<std::string> sequence(const exec_result& r,
                                  bool with_progress = false) {
  std::vector<std::string> seq;
  for (auto& l : r.lines) {
    auto e = ev(l);
    if (e == "progress" && !with_progress)
      continue;
    if (l.contains("step"))
      e += " " + std::to_string(l.at("step").as_int64());
    seq.push_back(e);
  }
  return seq;
}

const std::string three_steps = R"([
  {"name": "greet", "class": "procman.set", "args": {"greeting": "hello"}},
  {"name": "shout", "class": "procman.exec",
   "args": {"command": ["sh", "-c", "echo $0 | tr a-z A-Z", "loud"]}},
  {"name": "tidy", "class": "procman.set", "args": {"done": true}}
])";

} // namespace

BOOST_AUTO_TEST_SUITE(executor_protocol)

BOOST_AUTO_TEST_CASE(finished_reports_every_step_and_the_output) {
  auto r = run_exec(work(three_steps, {{"data", {{"who", "world"}}}}));
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.all_lines_parse);
  std::vector<std::string> expected{"step_started 0", "step_completed 0",
                                    "step_started 1", "step_completed 1",
                                    "step_started 2", "step_completed 2",
                                    "finished"};
  BOOST_TEST(sequence(r) == expected, boost::test_tools::per_element());
  BOOST_TEST(r.lines[0].at("name").as_string() == "greet");
  BOOST_TEST(
    json::serialize(r.last())
    == R"({"event":"finished","output":{"who":"world","greeting":"hello","exit_code":0,"stdout":"LOUD\n","stderr":"","done":true}})");
}

BOOST_AUTO_TEST_CASE(
  output_events_carry_a_commands_output_before_its_step_ends) {
  const std::string steps = R"([
    {"name": "greet", "class": "procman.set", "args": {"greeting": "hello"}},
    {"name": "talk", "class": "procman.exec",
     "args": {"command": ["sh", "-c", "echo one; echo two >&2; printf 'caf\\303'; printf '\\251\\n'"]}}
  ])";
  // Not asked for: none (the input of older runners).
  auto quiet = run_exec(work(steps));
  BOOST_TEST(quiet.exit_code == 0);
  for (auto& l : quiet.lines)
    BOOST_TEST(ev(l) != "output");
  auto r = run_exec(work(steps, {{"output_events", true}}));
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.all_lines_parse);
  std::string out, err;
  size_t completed_at = 0, last_output_at = 0;
  for (size_t i = 0; i < r.lines.size(); ++i) {
    auto& l = r.lines[i];
    if (ev(l) == "step_completed" && l.at("step").as_int64() == 1)
      completed_at = i;
    if (ev(l) != "output")
      continue;
    last_output_at = i;
    BOOST_TEST(l.at("step").as_int64() == 1);
    BOOST_TEST(l.at("name").as_string() == "talk");
    auto& dst = l.at("stream").as_string() == "stderr" ? err : out;
    dst += std::string(l.at("data").as_string());
  }
  BOOST_TEST(out == "one\ncaf\xc3\xa9\n");
  BOOST_TEST(err == "two\n");
  BOOST_TEST(last_output_at < completed_at);
}

BOOST_AUTO_TEST_CASE(the_object_form_of_steps_is_accepted) {
  auto r
    = run_exec(R"({"steps": {"a": {"class": "procman.set", "args": {"x": 1}},
                                  "b": {"class": "procman.set", "args": {"y": 2}}},
                        "data": {"z": 0}, "timeout": 30})");
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(json::serialize(r.last().at("output"))
             == R"({"z":0,"x":1,"y":2})");
  BOOST_TEST(r.lines[2].at("name").as_string() == "b");
}

BOOST_AUTO_TEST_CASE(an_interrupting_step_ends_with_interrupted_and_exit_3) {
  auto steps = R"([
    {"name": "prepare", "class": "procman.set", "args": {"draft": "v1"}},
    {"name": "approve", "class": "procman.pause", "args": {"awaiting": "approval"}},
    {"name": "publish", "class": "procman.set", "args": {"published": true}}
  ])";
  auto r = run_exec(work(steps));
  BOOST_TEST(r.exit_code == 3);
  std::vector<std::string> expected{"step_started 0", "step_completed 0",
                                    "step_started 1", "step_completed 1",
                                    "interrupted 1"};
  BOOST_TEST(sequence(r) == expected, boost::test_tools::per_element());
  BOOST_TEST(
    json::serialize(r.last())
    == R"({"event":"interrupted","step":1,"name":"approve","output":{"draft":"v1","awaiting":"approval"}})");
  // Proceed: the supervisor merges data over the output and starts at the
  // next step.
  auto data = procman::merge_objects(r.last().at("output"), {{"ok", "yes"}});
  auto r2 = run_exec(work(steps, {{"first_step", 2}, {"data", data}}));
  BOOST_TEST(r2.exit_code == 0);
  std::vector<std::string> expected2{"step_started 2", "step_completed 2",
                                     "finished"};
  BOOST_TEST(sequence(r2) == expected2, boost::test_tools::per_element());
  BOOST_TEST(
    json::serialize(r2.last().at("output"))
    == R"({"draft":"v1","awaiting":"approval","ok":"yes","published":true})");
}

BOOST_AUTO_TEST_CASE(a_failing_step_ends_with_an_error_line_and_exit_1) {
  auto r = run_exec(work(R"([
    {"name": "ok", "class": "procman.set", "args": {"a": 1}},
    {"name": "broken", "class": "procman.fail", "args": {"message": "disk full"}},
    {"name": "never", "class": "procman.set", "args": {"b": 2}}
  ])"));
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.all_lines_parse);
  std::vector<std::string> expected{"step_started 0", "step_completed 0",
                                    "step_started 1", "error 1"};
  BOOST_TEST(sequence(r) == expected, boost::test_tools::per_element());
  BOOST_TEST(r.last().at("name").as_string() == "broken");
  auto& e = r.error();
  BOOST_TEST(e.at("kind").as_string() == "exception");
  BOOST_TEST(e.at("step").as_string() == "broken");
  BOOST_TEST(e.at("message").as_string()
             == R"(Step "broken" failed: disk full)");
  auto stack = std::string(e.at("stack").as_string());
  BOOST_TEST(!stack.empty());
  // Taken at throw time: the throwing step is the first frame.
  BOOST_TEST(
    stack.rfind("0# procman::(anonymous namespace)::fail_step::execute", 0)
      == 0,
    stack);
  // The error object converts to procman::error_info.
  auto info = procman::read_error_info(json::value(e));
  BOOST_REQUIRE(info);
  BOOST_TEST((info->kind == procman::error_kind::exception));
}

BOOST_AUTO_TEST_CASE(an_unknown_class_fails_before_any_step_runs) {
  temp_dir dir;
  auto marker = (dir.path / "ran").string();
  json::array steps{
    json::object{{"name", "first"},
                 {"class", "procman.exec"},
                 {"args", {{"command", touch_command(marker)}}}},
    json::object{{"name", "second"}, {"class", "procman.set"}},
    json::object{{"name", "third"}, {"class", "acme.mailer"}}};
  auto r = run_exec(work(json::serialize(steps)));
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.lines.size() == 1u);
  BOOST_TEST(r.last().at("step").as_int64() == 2);
  BOOST_TEST(r.error().at("kind").as_string() == "spec");
  BOOST_TEST(r.error().at("step").as_string() == "third");
  BOOST_TEST(contains(
    std::string(r.error().at("message").as_string()),
    R"(step "third": unknown class "acme.mailer" (known: procman.exec,)"));
  BOOST_TEST(read_file(marker).empty());
  BOOST_TEST(!std::filesystem::exists(marker));
}

BOOST_AUTO_TEST_CASE(bad_args_fail_at_their_step_with_kind_spec) {
  auto r = run_exec(work(R"([
    {"name": "a", "class": "procman.set", "args": {"a": 1}},
    {"name": "nap", "class": "procman.sleep", "args": {"seconds": "x"}}
  ])"));
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.error().at("kind").as_string() == "spec");
  BOOST_TEST(
    r.error().at("message").as_string()
    == R"(step "nap": bad args: field "seconds" must be a number >= 0)");
  BOOST_TEST(sequence(r).size() == 4u); // started/completed 0, started 1, error
}

BOOST_AUTO_TEST_CASE(command_output_is_captured_not_reported) {
  auto r = run_exec(work(R"([
    {"name": "junk", "class": "procman.exec", "args": {"command": ["echo", "junk"]}}
  ])"));
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.all_lines_parse);
  BOOST_TEST(r.last().at("output").at("stdout").as_string() == "junk\n");
  BOOST_TEST(!contains(r.err, "junk"));
}

BOOST_AUTO_TEST_CASE(commands_inherit_no_descriptors_but_0_1_2) {
  auto r = run_exec(work(R"([
    {"name": "fds", "class": "procman.exec",
     "args": {"command": ["sh", "-c", "for fd in 3 4 5 6 7 8 9 10; do [ -e /proc/$$/fd/$fd ] && echo open $fd; done; true"]}}
  ])"));
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.last().at("output").at("stdout").as_string() == "");
}

BOOST_AUTO_TEST_CASE(a_library_writing_to_stdout_cannot_break_the_reports) {
  auto r = run_exec(work(R"([
    {"name": "noisy", "class": "test.stdout"},
    {"name": "after", "class": "procman.set", "args": {"after": 1}}
  ])"),
                    {"--step-lib", plugin_path("exec_test_plugin")});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.all_lines_parse);
  BOOST_TEST(r.events("finished").size() == 1u);
  BOOST_TEST(json::serialize(r.last())
             == R"({"event":"finished","output":{"wrote":true,"after":1}})");
  BOOST_TEST(contains(r.err, "junk from printf"));
  BOOST_TEST(contains(r.err, "junk from cout"));
  BOOST_TEST(contains(r.err, "junk from write(1)"));
  // The forged report went to stderr too.
  BOOST_TEST(
    contains(r.err, R"({"event":"finished","output":{"forged":true}})"));
  BOOST_TEST(!contains(r.out, "junk"));
  BOOST_TEST(!contains(r.out, "forged"));
}

BOOST_AUTO_TEST_CASE(progress_arrives_before_the_step_completes) {
  auto r = run_exec(work(R"([
    {"name": "nap", "class": "procman.sleep", "args": {"seconds": 0.4}},
    {"name": "done", "class": "procman.set", "args": {"slept": true}}
  ])"));
  BOOST_TEST(r.exit_code == 0);
  auto seq = sequence(r, true);
  auto first_progress = std::find(seq.begin(), seq.end(), "progress 0");
  auto completed = std::find(seq.begin(), seq.end(), "step_completed 0");
  BOOST_TEST_REQUIRE((first_progress != seq.end()));
  BOOST_TEST((first_progress < completed));
  BOOST_TEST(seq.front() == "step_started 0");
  BOOST_TEST(seq.back() == "finished");
  auto progress = r.events("progress");
  BOOST_TEST(progress.size() >= 3u);
  // Percentages rise to 100, which comes before step_completed.
  double last = -1;
  for (auto& p : progress) {
    BOOST_TEST(p.at("name").as_string() == "nap");
    auto pct = p.at("percent").to_number<double>();
    BOOST_TEST(pct >= last);
    last = pct;
  }
  BOOST_TEST(last == 100.0);
  BOOST_TEST(*(completed - 1) == "progress 0");
  // That they arrive while the step runs, not in one burst at its end, is
  // shown by the steps below that wait until the test has seen them.
}

BOOST_AUTO_TEST_CASE(progress_is_rate_limited_and_the_last_report_arrives) {
  // The step reports 1001 times, then waits until the test has seen its
  // last report ("done") before it ends.
  temp_dir gate_dir;
  auto gate = gate_dir.str() + "/gate";
  json::array steps{
    json::object{{"name", "chatty"},
                 {"class", "test.chatty"},
                 {"args", {{"reports", 1000}, {"gate", gate}}}}};
  auto r = run_exec(work(json::serialize(steps)),
                    {"--step-lib=" + plugin_path("exec_test_plugin")}, {}, 60,
                    [&](const json::object& line) {
                      if (line.at("event") == "progress"
                          && line.at("message") == "done")
                        write_file(gate, "open\n");
                    });
  BOOST_TEST(r.exit_code == 0);
  auto progress = r.events("progress");
  BOOST_REQUIRE(!r.lines.empty());
  auto& out = r.last().at("output").as_object();
  // The last report did not wait for the end of the step.
  BOOST_TEST(out.at("gate_opened") == true);
  auto reporting = out.at("reporting_seconds").to_number<double>();
  BOOST_TEST_MESSAGE(progress.size() << " progress lines of 1001 reports in "
                                     << reporting << " s");
  BOOST_TEST(progress.size() >= 2u);
  // At most one every 50 ms of the step's own clock, plus the first and
  // the last.
  BOOST_TEST(progress.size() <= static_cast<size_t>(reporting / 0.05) + 2);
  BOOST_TEST(progress.back().at("percent").to_number<double>() == 100.0);
  BOOST_TEST(progress.back().at("message").as_string() == "done");
}

BOOST_AUTO_TEST_CASE(a_held_back_report_goes_out_while_the_step_is_quiet) {
  // Two reports at once: the second is held back by the rate limit, and
  // the step waits, quiet, until the test has seen it.
  temp_dir gate_dir;
  auto gate = gate_dir.str() + "/gate";
  json::array steps{json::object{
    {"name", "q"}, {"class", "test.quiet"}, {"args", {{"gate", gate}}}}};
  auto r = run_exec(work(json::serialize(steps)),
                    {"--step-lib", plugin_path("exec_test_plugin")}, {}, 60,
                    [&](const json::object& line) {
                      if (line.at("event") == "progress"
                          && line.at("message") == "second, right after")
                        write_file(gate, "open\n");
                    });
  BOOST_TEST(r.exit_code == 0);
  auto progress = r.events("progress");
  BOOST_TEST_REQUIRE(progress.size() == 2u);
  BOOST_TEST(progress[1].at("message").as_string() == "second, right after");
  BOOST_TEST(r.last().at("output").at("gate_opened") == true);
}

BOOST_AUTO_TEST_CASE(library_steps_run_and_json_passes_both_ways) {
  auto r
    = run_exec(work(R"([{"name": "j", "class": "test.json"},
                             {"name": "k", "class": "test.json"}])",
                    {{"data", {{"counter", 40}, {"text", "gr\u00fc\u00df"}}},
                     {"script_args", "--farm=wiki7"}}),
               {"--step-lib", plugin_path("exec_test_plugin")});
  BOOST_TEST(r.exit_code == 0);
  auto& out = r.last().at("output").as_object();
  BOOST_TEST(out.at("counter").as_int64() == 42);
  BOOST_TEST(out.at("text").as_string() == "gr\xC3\xBC\xC3\x9F");
  BOOST_TEST(json::serialize(out.at("made_here"))
             == R"({"pi":3.25E0,"list":[1,"two",null],"unicode":"grüß"})");
  BOOST_TEST(
    json::serialize(out.at("context"))
    == R"({"pid":"00000000000000000000000000000001","step":"k","script_args":"--farm=wiki7"})");
  // The second step saw what the first built.
  BOOST_TEST(json::serialize(out.at("keys_seen"))
             == R"(["counter","text","keys_seen","made_here","context"])");
}

BOOST_AUTO_TEST_CASE(a_library_exception_is_reported_with_a_throw_time_stack) {
  auto r = run_exec(work(R"([{"name": "t", "class": "test.throw",
                              "args": {"what": "on purpose"}}])"),
                    {"--step-lib", plugin_path("exec_test_plugin")});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.error().at("kind").as_string() == "exception");
  BOOST_TEST(r.error().at("message").as_string()
             == R"(Step "t" failed: plugin exploded: on purpose)");
  auto stack = std::string(r.error().at("stack").as_string());
  BOOST_TEST_MESSAGE("stack:\n" << stack);
  // The frame that threw, inside the library, comes first.
  BOOST_TEST(stack.rfind("0# exec_test_plugin_thrower", 0) == 0, stack);
  BOOST_TEST(contains(stack, "procman::run_steps"));
}

BOOST_AUTO_TEST_CASE(step_libraries_come_from_options_env_and_input) {
  auto lib = plugin_path("exec_test_plugin");
  auto steps = R"([{"name": "j", "class": "test.json"}])";
  auto check = [](const exec_result& r, const char* how) {
    BOOST_TEST(r.exit_code == 0, how << ": " << r.out << r.err);
    if (!r.lines.empty())
      BOOST_TEST(r.last().at("output").at("counter").as_int64() == 1, how);
  };
  check(run_exec(work(steps), {"--step-lib", lib}), "--step-lib PATH");
  check(run_exec(work(steps), {"--step-lib=" + lib}), "--step-lib=PATH");
  const std::string sep(1, procman::platform::path_list_separator);
  check(run_exec(work(steps), {},
                 {"PROCMAN_STEP_LIBS=" + sep + sep + lib + sep}),
        "PROCMAN_STEP_LIBS");
  check(run_exec(work(steps, {{"step_libs", lib}})), "step_libs string");
  check(run_exec(work(steps, {{"step_libs", json::array{lib}}})),
        "step_libs array");
  // Without any, the class is unknown.
  auto none = run_exec(work(steps));
  BOOST_TEST(none.exit_code == 1);
  BOOST_TEST(contains(std::string(none.error().at("message").as_string()),
                      R"(unknown class "test.json")"));
}

BOOST_AUTO_TEST_CASE(an_output_above_the_limit_fails_with_kind_output) {
  auto lib = plugin_path("exec_test_plugin");
  auto big = run_exec(work(R"([{"name": "big", "class": "test.big"}])"),
                      {"--step-lib", lib});
  BOOST_TEST(big.exit_code == 1);
  BOOST_TEST(big.error().at("kind").as_string() == "output");
  BOOST_TEST(
    big.error().at("message").as_string()
    == R"(step "big": output is 52428811 bytes, above the limit of 16777216 bytes)");
  BOOST_TEST(big.out.size() < 4096u);
  auto small = run_exec(work(R"([{"name": "s", "class": "procman.set",
                                  "args": {"text": "0123456789"}}])",
                             {{"max_output_bytes", 10}}));
  BOOST_TEST(small.exit_code == 1);
  BOOST_TEST(small.error().at("message").as_string()
             == R"(step "s": output is 21 bytes, above the limit of 10 bytes)");
}

BOOST_AUTO_TEST_CASE(help_prints_usage) {
  auto r = run_exec("", {"--help"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(contains(r.out, "usage: procman-exec"));
}

BOOST_AUTO_TEST_SUITE_END()

// -- the examples in examples/, as documented in examples/README.md -----------

BOOST_AUTO_TEST_SUITE(executor_examples)

BOOST_AUTO_TEST_CASE(hello_prints_its_documented_output) {
  auto r = run_exec(read_file(source_path("examples/hello.json")));
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(
    json::serialize(r.last())
    == R"({"event":"finished","output":{"who":"world","greeting":"hello","exit_code":0,"stdout":"hello, world\n","stderr":"","done":true}})");
}

BOOST_AUTO_TEST_CASE(approval_pauses_then_proceeds) {
  auto spec = read_file(source_path("examples/approval.json"));
  auto r = run_exec(spec);
  BOOST_TEST(r.exit_code == 3);
  BOOST_TEST(
    json::serialize(r.last())
    == R"({"event":"interrupted","step":1,"name":"approve","output":{"document":"Q3 report","status":"awaiting approval"}})");
  auto doc = json::parse(spec).as_object();
  doc["first_step"] = 2;
  doc["data"] = procman::merge_objects(
    r.last().at("output"), {{"status", "approved"}, {"approved_by", "ops"}});
  auto r2 = run_exec(json::serialize(doc));
  BOOST_TEST(r2.exit_code == 0);
  BOOST_TEST(
    json::serialize(r2.last().at("output"))
    == R"({"document":"Q3 report","status":"approved","approved_by":"ops","exit_code":0,"stdout":"publishing Q3 report\n","stderr":""})");
}

BOOST_AUTO_TEST_CASE(failing_reports_the_failed_step) {
  auto r = run_exec(read_file(source_path("examples/failing.json")));
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.error().at("step").as_string() == "check");
  BOOST_TEST(
    r.error().at("message").as_string()
    == R"(Step "check" failed: command "sh" exited with code 2; stderr: disk /data is 97% full)");
}

BOOST_AUTO_TEST_CASE(progress_example_reports_progress) {
  auto r = run_exec(read_file(source_path("examples/progress.json")));
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.events("progress").size() >= 5u);
  BOOST_TEST(json::serialize(r.last().at("output"))
             == R"({"items":3,"waited":true})");
}

BOOST_AUTO_TEST_SUITE_END()
