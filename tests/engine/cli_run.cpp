// `procman run`: synchronous execution and its bad input, through the CLI.

#include <filesystem>

#include "cli_fixture.hpp"

using namespace procman::test;
namespace json = boost::json;

BOOST_FIXTURE_TEST_SUITE(cli_run, cli_fixture)

BOOST_AUTO_TEST_CASE(run_prints_the_last_output_and_needs_no_store) {
  auto r = run_command({bin("procman"), "--store", tmp.str() + "/unused", "run",
                        source_path("examples/hello.json")});
  BOOST_TEST(r.exit_code == 0);
  auto out = json::parse(r.out).as_object();
  BOOST_TEST(out.at("stdout").as_string() == "hello, world\n");
  BOOST_TEST(out.at("done").as_bool());
  BOOST_TEST(!std::filesystem::exists(tmp.str() + "/unused"));
}

BOOST_AUTO_TEST_CASE(run_reads_the_spec_from_stdin_and_merges_data) {
  auto r = run_command(
    {bin("procman"), "run", "-", "--data", R"({"who": "you"})"},
    R"({"steps": {"s": {"class": "procman.set", "args": {"x": 1}}},
                           "data": {"who": "world", "keep": true}})");
  BOOST_TEST(r.exit_code == 0);
  auto out = json::parse(r.out).as_object();
  BOOST_TEST(out.at("who").as_string() == "you");
  BOOST_TEST(out.at("keep").as_bool());
  BOOST_TEST(out.at("x").as_int64() == 1);
}

BOOST_AUTO_TEST_CASE(run_stops_at_an_interrupting_step_with_exit_3) {
  auto r = procman(
    {"run", R"({"steps": {"a": {"class": "procman.set", "args": {"a": 1}},
    "gate": {"class": "procman.pause"}, "b": {"class": "procman.set", "args": {"b": 2}}}})"});
  BOOST_TEST(r.exit_code == 3);
  auto out = json::parse(r.out).as_object();
  BOOST_TEST(out.at("a").as_int64() == 1);
  BOOST_TEST(!out.contains("b"));
  BOOST_TEST(r.err.find("\"gate\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_input_names_the_problem_and_exits_non_zero) {
  struct bad_case {
    std::string spec;
    std::string expect; // must appear in stderr
  };
  std::vector<bad_case> cases = {
    {R"({"steps": {"a": )", "malformed JSON"},
    {R"({"timeout": 5})", "\"steps\" is missing"},
    {R"({"steps": "procman.set"})", "\"steps\" must be"},
    {R"({"steps": {"a": {"class": "no.such"}}})", "no.such"},
    {R"({"steps": {"a": {"class": "procman.set", "services": ["db"]}}})",
     "unknown service \"db\""},
    {R"({"steps": {"nap": {"class": "procman.sleep", "args": {"seconds": "x"}}}})",
     "seconds"},
    {R"({"steps": {"a": {"class": "procman.set", "args": "text"}}})",
     "\"args\""},
  };
  for (auto& c : cases) {
    BOOST_TEST_INFO("spec " << c.spec);
    auto r = procman({"run", c.spec});
    BOOST_TEST(r.exit_code == 1);
    BOOST_TEST_INFO("stderr: " << r.err);
    BOOST_TEST(r.err.find(c.expect) != std::string::npos);
  }
  auto missing = procman({"run", tmp.str() + "/no-such-spec.json"});
  BOOST_TEST(missing.exit_code == 1);
  BOOST_TEST(missing.err.find("no-such-spec.json") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_output_of_50_mb_is_refused_with_kind_output) {
  auto spec = shell_spec("head -c 52428800 /dev/zero | tr '\\0' x");
  auto r = procman({"run", spec}, {}, 120);
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.out.size() < 4096u);
  auto out = json::parse(r.out).as_object();
  BOOST_TEST(out.at("error").at("kind").as_string() == "output");
  BOOST_TEST(out.at("error").at("step").as_string() == "sh");
  BOOST_TEST(r.err.find("limit") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_50_mb_output_in_the_runner_ends_the_process_in_error) {
  auto pid = start(shell_spec("head -c 52428800 /dev/zero | tr '\\0' x"));
  BOOST_TEST(runner().exit_code == 0);
  auto info = status(pid);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "output");
}

BOOST_AUTO_TEST_SUITE_END()
