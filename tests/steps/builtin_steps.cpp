#include <chrono>
#include <cmath>
#include <fstream>
#include <stdexcept>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <signal.h>

#include "procman/steps/text.hpp"

#include "fixtures/temp_dir.hpp"
#include "helpers.hpp"

using namespace procman;
using namespace procman::test;
namespace json = boost::json;

namespace {

struct builtin_fixture {
  step_registry reg;
  service_registry services;
  recording_context ctx;

  builtin_fixture() { register_builtin_steps(reg); }

  std::unique_ptr<step> make(const std::string& cls, const std::string& args) {
    auto s = reg.make(spec("s", cls, args), services);
    if (!s)
      BOOST_FAIL("make failed: " << s.error().context);
    return std::move(*s);
  }

  // The message of a step that cannot be built.
  std::string make_error(const std::string& cls, const std::string& args) {
    auto s = reg.make(spec("s", cls, args), services);
    if (s)
      BOOST_FAIL("built a step of " << cls);
    return s.error().context;
  }

  json::object run(const std::string& cls, const std::string& args,
                   const json::object& data = {}) {
    return make(cls, args)->execute(data, ctx);
  }

  // The message a step throws when run.
  std::string run_error(const std::string& cls, const std::string& args) {
    auto s = make(cls, args);
    try {
      s->execute({{"in", 1}}, ctx);
    } catch (const std::exception& e) {
      return e.what();
    }
    BOOST_FAIL("step " << cls << " did not throw");
    return {};
  }
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
    .count();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(builtin_steps, builtin_fixture)

BOOST_AUTO_TEST_CASE(all_builtins_are_registered) {
  std::vector<std::string> expected{"procman.exec", "procman.fail",
                                    "procman.pause", "procman.set",
                                    "procman.sleep"};
  BOOST_TEST(reg.classes() == expected, boost::test_tools::per_element());
}

// -- procman.set --------------------------------------------------------------

BOOST_AUTO_TEST_CASE(set_merges_args_over_data) {
  auto out = run("procman.set", R"({"b": 20, "c": {"d": true}})",
                 {{"a", 1}, {"b", 2}});
  BOOST_TEST(json::serialize(out) == R"({"a":1,"b":20,"c":{"d":true}})");
}

BOOST_AUTO_TEST_CASE(set_accepts_a_positional_object_and_null) {
  BOOST_TEST(json::serialize(run("procman.set", R"([{"x": "y"}])", {{"a", 1}}))
             == R"({"a":1,"x":"y"})");
  BOOST_TEST(json::serialize(run("procman.set", "null", {{"a", 1}}))
             == R"({"a":1})");
}

BOOST_AUTO_TEST_CASE(set_rejects_args_that_are_not_an_object) {
  auto err = make_error("procman.set", R"([1, 2])");
  BOOST_TEST(
    err == R"(step "s": bad args: args must be an object (the keys to set))");
}

// -- procman.fail -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fail_throws_its_message) {
  BOOST_TEST(run_error("procman.fail", R"({"message": "no luck"})")
             == "no luck");
  BOOST_TEST(run_error("procman.fail", R"(["positional"])") == "positional");
  BOOST_TEST(contains(run_error("procman.fail", "null"), "procman.fail"));
}

BOOST_AUTO_TEST_CASE(fail_rejects_a_message_that_is_not_a_string) {
  BOOST_TEST(make_error("procman.fail", R"({"message": 42})")
             == R"(step "s": bad args: field "message" must be a string)");
  BOOST_TEST(contains(make_error("procman.fail", R"({"mesage": "typo"})"),
                      R"(unknown field "mesage" (known: message))"));
}

// -- procman.pause ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(pause_interrupts_and_passes_data_through) {
  auto s = make("procman.pause", "null");
  BOOST_TEST(s->interrupts());
  json::object data{{"a", 1}, {"b", json::array{1, 2}}};
  BOOST_TEST(s->execute(data, ctx) == data);
  auto with_args = make("procman.pause", R"({"awaiting": "approval"})");
  BOOST_TEST(json::serialize(with_args->execute({{"a", 1}}, ctx))
             == R"({"a":1,"awaiting":"approval"})");
  BOOST_TEST(!make("procman.set", "{}")->interrupts());
}

// -- procman.sleep ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(sleep_waits_reports_progress_and_passes_data) {
  // How much longer than asked it sleeps is procman-bench's (section waits).
  auto t0 = std::chrono::steady_clock::now();
  json::object data{{"keep", "me"}};
  auto out = run("procman.sleep", R"({"seconds": 0.35})", data);
  auto elapsed = seconds_since(t0);
  BOOST_TEST_MESSAGE("slept " << elapsed << " s");
  BOOST_TEST(out == data);
  BOOST_TEST(elapsed >= 0.35);
  // 0 at the start, at most one every 0.1 s, 100 at the end: not a flood.
  BOOST_TEST_REQUIRE(ctx.reports.size() >= 2u);
  BOOST_TEST(ctx.reports.size() <= 8u);
  BOOST_TEST(ctx.reports.front().first == 0.0);
  BOOST_TEST(ctx.reports.back().first == 100.0);
  for (size_t i = 1; i < ctx.reports.size(); ++i)
    BOOST_TEST(ctx.reports[i].first >= ctx.reports[i - 1].first);
  BOOST_TEST(contains(ctx.reports.front().second, "left"));
}

BOOST_AUTO_TEST_CASE(
  sleep_zero_reports_the_start_and_the_end_and_nothing_between) {
  run("procman.sleep", "[0]");
  BOOST_REQUIRE_EQUAL(ctx.reports.size(), 2u);
  BOOST_TEST(ctx.reports.front().first == 0.0);
  BOOST_TEST(ctx.reports.back().first == 100.0);
}

BOOST_AUTO_TEST_CASE(sleep_rejects_bad_seconds) {
  BOOST_TEST(make_error("procman.sleep", R"({"seconds": "x"})")
             == R"(step "s": bad args: field "seconds" must be a number >= 0)");
  BOOST_TEST(contains(make_error("procman.sleep", R"({"seconds": -1})"),
                      R"(field "seconds" must be a number between 0)"));
  BOOST_TEST(make_error("procman.sleep", "{}")
             == R"(step "s": bad args: field "seconds" is missing)");
  BOOST_TEST(contains(make_error("procman.sleep", "[1, 2]"),
                      "takes at most 1 positional args"));
  BOOST_TEST(contains(make_error("procman.sleep", "\"3\""),
                      "args must be an object or an array"));
}

// -- procman.exec -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(exec_captures_stdout_stderr_and_exit_code) {
  auto out = run("procman.exec",
                 R"({"command": ["sh", "-c", "echo hello; echo oops >&2"]})",
                 {{"before", true}});
  BOOST_TEST(out.at("before").as_bool());
  BOOST_TEST(out.at("exit_code").as_int64() == 0);
  BOOST_TEST(out.at("stdout").as_string() == "hello\n");
  BOOST_TEST(out.at("stderr").as_string() == "oops\n");
}

BOOST_AUTO_TEST_CASE(exec_feeds_stdin) {
  auto out = run("procman.exec",
                 R"({"command": ["cat"], "stdin": "abc\ndef"})");
  BOOST_TEST(out.at("stdout").as_string() == "abc\ndef");
  // Without "stdin" the command reads /dev/null, not the caller's stdin.
  auto none = run("procman.exec", R"({"command": ["cat"]})");
  BOOST_TEST(none.at("stdout").as_string() == "");
}

BOOST_AUTO_TEST_CASE(exec_large_input_and_output_do_not_deadlock) {
  // 2 MiB through cat, 1 MiB on each of stdout and stderr from another
  // command: far above the pipe buffers.
  std::string input(2u << 20, 'i');
  json::object args{{"command", json::array{"cat"}}, {"stdin", input}};
  auto out = run("procman.exec", json::serialize(args));
  BOOST_TEST(out.at("stdout").as_string().size() == input.size());
  auto both = run(
    "procman.exec",
    R"({"command": ["sh", "-c", "head -c 1048576 /dev/zero | tr '\\0' o; head -c 1048576 /dev/zero | tr '\\0' e >&2"]})");
  BOOST_TEST(both.at("stdout").as_string().size() == 1048576u);
  BOOST_TEST(both.at("stderr").as_string().size() == 1048576u);
  BOOST_TEST(both.at("stderr").as_string().front() == 'e');
}

BOOST_AUTO_TEST_CASE(exec_command_that_stops_reading_stdin_is_fine) {
  std::string input(1u << 20, 'i');
  json::object args{{"command", json::array{"true"}}, {"stdin", input}};
  auto out = run("procman.exec", json::serialize(args));
  BOOST_TEST(out.at("exit_code").as_int64() == 0);
}

BOOST_AUTO_TEST_CASE(exec_sets_env_and_cwd) {
  temp_dir dir;
  json::object args{
    {"command",
     json::array{"sh", "-c", "echo $PROCMAN_T1; echo ${HOME-unset}; pwd"}},
    {"env", json::object{{"PROCMAN_T1", "from env"}, {"HOME", nullptr}}},
    {"cwd", dir.str()}};
  auto out = run("procman.exec", json::serialize(args));
  auto real = std::filesystem::canonical(dir.path).string();
  BOOST_TEST(out.at("stdout").as_string() == "from env\nunset\n" + real + "\n");
}

BOOST_AUTO_TEST_CASE(exec_nonzero_exit_fails_with_code_and_stderr_tail) {
  auto msg
    = run_error("procman.exec",
                R"({"command": ["sh", "-c", "echo it broke >&2; exit 3"]})");
  BOOST_TEST(msg == R"(command "sh" exited with code 3; stderr: it broke)");
}

BOOST_AUTO_TEST_CASE(exec_ok_codes_accept_other_exit_codes) {
  auto out = run("procman.exec",
                 R"({"command": ["sh", "-c", "exit 3"], "ok_codes": [0, 3]})");
  BOOST_TEST(out.at("exit_code").as_int64() == 3);
  auto msg = run_error("procman.exec",
                       R"({"command": ["true"], "ok_codes": [1]})");
  BOOST_TEST(msg == R"(command "true" exited with code 0)");
}

BOOST_AUTO_TEST_CASE(exec_killed_by_a_signal_names_the_signal) {
  auto msg = run_error("procman.exec",
                       R"({"command": ["sh", "-c", "kill -TERM $$"]})");
  BOOST_TEST(msg == R"(command "sh" was killed by signal 15 (SIGTERM))");
}

BOOST_AUTO_TEST_CASE(exec_missing_binary_fails_clearly) {
  auto msg = run_error("procman.exec",
                       R"({"command": ["procman-no-such-binary", "x"]})");
  BOOST_TEST(
    msg
    == R"(command "procman-no-such-binary": cannot run: No such file or directory (not found in PATH))");
  auto abs = run_error("procman.exec", R"({"command": ["/nonexistent/bin"]})");
  BOOST_TEST(
    abs
    == R"(command "/nonexistent/bin": cannot run: No such file or directory)");
  auto dir = run_error("procman.exec",
                       R"({"command": ["true"], "cwd": "/nonexistent-dir"})");
  BOOST_TEST(
    dir
    == R"(command "true": cannot run in directory "/nonexistent-dir": No such file or directory)");
}

BOOST_AUTO_TEST_CASE(exec_makes_output_valid_utf8) {
  auto out = run("procman.exec",
                 R"({"command": ["printf", "ok \\377\\376 end \\303\\274"]})");
  auto& text = out.at("stdout").as_string();
  BOOST_TEST(valid_utf8(std::string(text)));
  BOOST_TEST(text == "ok \xEF\xBF\xBD\xEF\xBF\xBD end \xC3\xBC");
}

BOOST_AUTO_TEST_CASE(exec_does_not_wait_for_background_children) {
  // The background child keeps stdout open until the test lets it go (it
  // gives up after a minute): the step returns while it still runs, when
  // the command itself has exited.
  temp_dir dir;
  auto gate = dir.str() + "/gate";
  auto out = run(
    "procman.exec",
    json::serialize(json::object{
      {"command", json::array{"sh", "-c",
                              "(i=0; while [ ! -e \"$0\" ] && [ $i -lt 6000 ]; "
                              "do sleep 0.01; i=$((i+1)); done) & echo $!",
                              gate}}}));
  auto child = std::stoi(std::string(out.at("stdout").as_string()));
  BOOST_TEST(::kill(child, 0) == 0, "the background child had ended");
  std::ofstream{gate} << "go\n";
  BOOST_TEST(out.at("exit_code") == 0);
}

BOOST_AUTO_TEST_CASE(
  exec_does_not_wait_for_a_background_child_that_keeps_writing) {
  // A child that writes until it is killed (or for a minute at most).
  auto out = run(
    "procman.exec",
    R"({"command": ["sh", "-c", "(timeout 60 sh -c 'while :; do echo spam; done') & echo $! >&2"]})");
  auto pid = std::stoi(std::string(out.at("stderr").as_string()));
  BOOST_TEST(pid > 0);
  BOOST_TEST(::kill(pid, 0) == 0, "the writing child had ended");
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
}

BOOST_AUTO_TEST_CASE(exec_rejects_bad_args_naming_the_field) {
  BOOST_TEST(
    make_error("procman.exec", "{}")
    == R"(step "s": bad args: field "command" is missing (an array: program and arguments))");
  BOOST_TEST(
    make_error("procman.exec", "null")
    == R"(step "s": bad args: field "command" is missing (an array: program and arguments))");
  BOOST_TEST(
    make_error("procman.exec", R"({"command": "ls -l"})")
    == R"(step "s": bad args: field "command" must be a non-empty array of strings)");
  BOOST_TEST(
    make_error("procman.exec", R"({"command": []})")
    == R"(step "s": bad args: field "command" must be a non-empty array of strings)");
  BOOST_TEST(
    make_error("procman.exec", R"({"command": ["ls", 1]})")
    == R"(step "s": bad args: field "command" must be a non-empty array of strings)");
  BOOST_TEST(
    contains(make_error("procman.exec", R"({"command": ["ls"], "cwd": 5})"),
             R"(field "cwd" must be a non-empty string)"));
  BOOST_TEST(contains(
    make_error("procman.exec", R"({"command": ["ls"], "env": {"A": 1}})"),
    R"(field "env" must map names to strings ("A" does not))"));
  BOOST_TEST(contains(make_error("procman.exec",
                                 R"({"command": ["ls"], "env": {"A=B": "x"}})"),
                      R"(field "env" has a bad variable name "A=B")"));
  BOOST_TEST(
    contains(make_error("procman.exec", R"({"command": ["ls"], "stdin": 1})"),
             R"(field "stdin" must be a string)"));
  BOOST_TEST(contains(
    make_error("procman.exec", R"({"command": ["ls"], "ok_codes": [300]})"),
    R"(field "ok_codes" must be a non-empty array of exit codes)"));
  BOOST_TEST(contains(make_error("procman.exec",
                                 R"({"command": ["ls"], "ok_codes": "0"})"),
                      R"(field "ok_codes")"));
  BOOST_TEST(
    contains(make_error("procman.exec", R"({"command": ["ls"], "cmd": 1})"),
             R"(unknown field "cmd")"));
}

BOOST_AUTO_TEST_CASE(exec_accepts_positional_args) {
  auto out = run("procman.exec", R"([["sh", "-c", "pwd"], "/"])");
  BOOST_TEST(out.at("stdout").as_string() == "/\n");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(builtin_steps_env, builtin_fixture)

BOOST_AUTO_TEST_CASE(exec_commands_see_the_process_id_step_and_script_args) {
  ctx.name_ = "report";
  auto out = run(
    "procman.exec",
    R"({"command": ["sh", "-c", "echo $PROCMAN_PID $PROCMAN_STEP $PROCMAN_SCRIPT_ARGS"]})");
  BOOST_TEST(out.at("stdout").as_string()
             == "0123456789abcdef0123456789abcdef report --farm=site1\n");
  // The step's own env wins.
  auto mine = run(
    "procman.exec",
    R"({"command": ["sh", "-c", "echo $PROCMAN_STEP"], "env": {"PROCMAN_STEP": "mine"}})");
  BOOST_TEST(mine.at("stdout").as_string() == "mine\n");
}

BOOST_AUTO_TEST_SUITE_END()
