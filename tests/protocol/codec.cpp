// The executor protocol's codec: the input document, the report lines and
// the acknowledgements encode to the wire format of docs/protocol.md and
// decode back; what is not a report or an ack decodes as garbage.

#include <ctime>
#include <string>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/protocol/executor_input.hpp"
#include "procman/protocol/executor_lease.hpp"
#include "procman/protocol/executor_report.hpp"
#include "procman/protocol/step_ack.hpp"

#include "fixtures/json_depth.hpp"

namespace json = boost::json;
using namespace procman;
using namespace procman::test;

namespace {

executor_input sample_input() {
  executor_input x;
  x.pid = "0123456789abcdef0123456789abcdef";
  x.steps.push_back(
    {"fetch", "procman.exec", R"({"command":["true"]})", {"http"}});
  x.steps.push_back({"approve", "procman.pause", "null", {}});
  x.first_step = 1;
  x.data = json::object{{"page", "Main_Page"}};
  x.script_args = "--farm=site1";
  x.step_libs = "/opt/a.so:/opt/b.so";
  x.step_acks = true;
  return x;
}

executor_report report_of(report_event event) {
  executor_report x;
  x.event = event;
  return x;
}

} // namespace

BOOST_AUTO_TEST_SUITE(executor_input_codec)

BOOST_AUTO_TEST_CASE(an_input_survives_encoding_and_decoding) {
  auto x = sample_input();
  x.max_output_bytes = 1000;
  auto back = decode_input(encode_input(x));
  BOOST_TEST_REQUIRE(static_cast<bool>(back));
  BOOST_TEST(back->pid == x.pid);
  BOOST_REQUIRE_EQUAL(back->steps.size(), 2u);
  BOOST_TEST(back->steps[0].name == "fetch");
  BOOST_TEST(back->steps[0].cls == "procman.exec");
  BOOST_TEST(back->steps[0].args == x.steps[0].args);
  BOOST_TEST(back->steps[0].services == x.steps[0].services);
  BOOST_TEST(back->steps[1].args == "null");
  BOOST_TEST(back->first_step == 1u);
  BOOST_TEST(json::serialize(back->data) == R"({"page":"Main_Page"})");
  BOOST_TEST(back->script_args == "--farm=site1");
  BOOST_TEST(back->step_libs == "/opt/a.so:/opt/b.so");
  BOOST_TEST(back->max_output_bytes == 1000u);
  BOOST_TEST(back->step_acks);
}

BOOST_AUTO_TEST_CASE(the_input_is_one_line_without_fields_at_their_defaults) {
  executor_input x;
  x.pid = "p";
  x.steps.push_back({"a", "procman.set", R"({"k":1})", {}});
  BOOST_TEST(encode_input(x)
             == R"({"pid":"p","steps":[{"name":"a","class":"procman.set",)"
                R"("args":{"k":1},"services":[]}],"first_step":0,"data":{},)"
                R"("script_args":""})"
                "\n");
  x.step_acks = true;
  BOOST_TEST(encode_input(x).find(R"(,"step_acks":true})")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(args_that_are_not_json_are_sent_as_null) {
  executor_input x;
  x.steps.push_back({"a", "procman.set", "{broken", {}});
  auto line = json::parse(encode_input(x));
  BOOST_TEST(line.at("steps").at(0).at("args").is_null());
}

BOOST_AUTO_TEST_CASE(a_process_spec_is_valid_input) {
  auto back = decode_input(
    R"({"steps": {"a": {"class": "procman.set"}}, "timeout": 5, "data": {"x": 1}})");
  BOOST_TEST_REQUIRE(static_cast<bool>(back));
  BOOST_TEST(back->steps.size() == 1u);
  BOOST_TEST(back->first_step == 0u);
  BOOST_TEST(!back->step_acks);
  BOOST_TEST(back->max_output_bytes == defaults::max_output_bytes);
}

BOOST_AUTO_TEST_CASE(bad_input_is_refused_naming_the_field) {
  auto refused = [](const std::string& text) {
    auto x = decode_input(text);
    BOOST_TEST_REQUIRE(!x, "accepted: " << text);
    return x.error();
  };
  auto steps = std::string{R"("steps": [{"name": "a", "class": "c"}])"};
  BOOST_TEST(refused("").context
             == "executor input: stdin is empty (expected one JSON object)");
  BOOST_TEST((refused("nope").code == errc::invalid_json));
  BOOST_TEST(refused("[1]").context
             == R"(executor input: must be a JSON object with "steps")");
  auto unknown = refused("{" + steps + R"(, "first-step": 1})");
  BOOST_TEST((unknown.code == errc::invalid_spec));
  BOOST_TEST(unknown.context
             == R"(executor input: unknown field "first-step")");
  BOOST_TEST(
    refused("{" + steps + R"(, "first_step": 2})").context
    == R"(executor input: field "first_step" is past the last step (2 > 1))");
  BOOST_TEST(refused("{" + steps + R"(, "step_acks": 1})").context
             == R"(executor input: field "step_acks" must be true or false)");
  BOOST_TEST(
    refused("{" + steps + R"(, "max_output_bytes": 0})").context
    == R"(executor input: field "max_output_bytes" must be a positive integer)");
  BOOST_TEST(refused(R"({"steps": []})").context
             == R"(executor input: field "steps" has no steps)");
}

BOOST_AUTO_TEST_CASE(a_user_document_at_the_depth_limit_fits_into_the_input) {
  executor_input x;
  x.steps.push_back(
    {"a", "procman.set", nested_object(defaults::max_json_depth), {}});
  x.data = parse_deep(nested_object(defaults::max_json_depth)).as_object();
  auto back = decode_input(encode_input(x));
  BOOST_TEST_REQUIRE(static_cast<bool>(back));
  BOOST_TEST(depth_of(parse_deep(back->steps[0].args))
             == defaults::max_json_depth);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(executor_report_codec)

BOOST_AUTO_TEST_CASE(each_event_encodes_to_the_documented_line) {
  auto started = report_of(report_event::step_started);
  started.step = 0;
  started.name = "nap";
  BOOST_TEST(encode_report(started)
             == R"({"event":"step_started","step":0,"name":"nap"})");
  auto progress = report_of(report_event::progress);
  progress.step = 0;
  progress.name = "nap";
  progress.percent = 40.0666;
  progress.message = "sleeping";
  // Boost.JSON writes doubles with an exponent.
  BOOST_TEST(
    encode_report(progress)
    == R"({"event":"progress","step":0,"name":"nap","percent":4.007E1,"message":"sleeping"})");
  progress.percent = 100;
  BOOST_TEST(encode_report(progress).find(R"("percent":100,)")
             != std::string::npos);
  auto completed = report_of(report_event::step_completed);
  completed.step = 3;
  completed.name = "x";
  BOOST_TEST(encode_report(completed)
             == R"({"event":"step_completed","step":3,"name":"x"})");
  auto finished = report_of(report_event::finished);
  finished.output = json::object{{"page", "Main_Page"}};
  BOOST_TEST(encode_report(finished)
             == R"({"event":"finished","output":{"page":"Main_Page"}})");
  auto interrupted = report_of(report_event::interrupted);
  interrupted.step = 1;
  interrupted.name = "approve";
  interrupted.output = json::object{};
  BOOST_TEST(
    encode_report(interrupted)
    == R"({"event":"interrupted","step":1,"name":"approve","output":{}})");
  auto error = report_of(report_event::error);
  error.error.kind = error_kind::spec;
  error.error.message = "bad";
  BOOST_TEST(
    encode_report(error)
    == R"({"event":"error","error":{"kind":"spec","step":"","message":"bad","stack":""}})");
}

BOOST_AUTO_TEST_CASE(every_event_survives_encoding_and_decoding) {
  for (auto event : {report_event::step_started, report_event::progress,
                     report_event::step_completed, report_event::finished,
                     report_event::interrupted, report_event::error}) {
    auto x = report_of(event);
    if (event != report_event::finished) {
      x.step = 2;
      x.name = "s";
    }
    x.percent = event == report_event::progress ? 12.5 : 0;
    x.message = event == report_event::progress ? "half" : "";
    if (event == report_event::finished || event == report_event::interrupted)
      x.output = json::object{{"n", 1}};
    if (event == report_event::error) {
      x.error.kind = error_kind::output;
      x.error.step = "s";
      x.error.message = "too big";
      x.error.stack = "0# main";
    }
    auto back = decode_report(encode_report(x));
    BOOST_TEST_CONTEXT("event " << encode_report(x)) {
      BOOST_TEST((back.event == event));
      BOOST_TEST((back.step == x.step));
      BOOST_TEST(back.name == x.name);
      BOOST_TEST(back.percent == x.percent);
      BOOST_TEST(back.message == x.message);
      if (event == report_event::finished || event == report_event::interrupted)
        BOOST_TEST(json::serialize(back.output) == R"({"n":1})");
      BOOST_TEST((back.error.kind == x.error.kind));
      BOOST_TEST(back.error.message == x.error.message);
      BOOST_TEST(back.error.stack == x.error.stack);
      BOOST_TEST(back.final()
                 == (event == report_event::finished
                     || event == report_event::interrupted
                     || event == report_event::error));
    }
  }
}

BOOST_AUTO_TEST_CASE(what_is_not_a_report_decodes_as_garbage_with_the_line) {
  for (std::string line :
       {"", "hello", "[1, 2]", "42", R"({"no": "event"})", R"({"event": 5})",
        R"({"event": "finished")", R"({"event": "finished"} tail)"}) {
    auto x = decode_report(line);
    BOOST_TEST_CONTEXT("line " << line) {
      BOOST_TEST((x.event == report_event::garbage));
      BOOST_TEST(x.text == line);
      BOOST_TEST(!x.final());
      // Encoding garbage gives the line back: the replay plays it.
      BOOST_TEST(encode_report(x) == line);
    }
  }
}

BOOST_AUTO_TEST_CASE(live_output_lines_encode_and_decode) {
  auto x = report_of(report_event::output);
  x.step = 2;
  x.name = "build";
  x.stream = output_stream::err;
  x.data = "warning: \"x\"\n";
  auto line = encode_report(x);
  BOOST_TEST(
    line
    == R"({"event":"output","step":2,"name":"build","stream":"stderr","data":"warning: \"x\"\n"})");
  auto back = decode_report(line);
  BOOST_TEST((back.event == report_event::output));
  BOOST_TEST((back.stream == output_stream::err));
  BOOST_TEST(back.data == x.data);
  BOOST_TEST((back.step == x.step));
  BOOST_TEST(!back.final());
  // Without a known stream or its text it is an event to ignore.
  for (auto bad : {R"({"event":"output","step":0,"data":"x"})",
                   R"({"event":"output","step":0,"stream":"stdin","data":"x"})",
                   R"({"event":"output","step":0,"stream":"stdout","data":5})"})
    BOOST_TEST((decode_report(bad).event == report_event::other), bad);
}

BOOST_AUTO_TEST_CASE(output_events_are_asked_for_in_the_input) {
  executor_input in;
  in.pid = "0123456789abcdef0123456789abcdef";
  in.steps.push_back({"s", "procman.set", "null", {}});
  BOOST_TEST(encode_input(in).find("output_events") == std::string::npos);
  in.output_events = true;
  auto back = decode_input(encode_input(in));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->output_events);
}

BOOST_AUTO_TEST_CASE(an_unknown_event_is_read_as_one_to_ignore) {
  auto x = decode_report(R"({"event": "heartbeat", "step": 1})");
  BOOST_TEST((x.event == report_event::other));
  BOOST_TEST(x.text == "heartbeat");
  BOOST_TEST(!x.final());
}

BOOST_AUTO_TEST_CASE(what_a_line_leaves_out_takes_the_protocol_defaults) {
  auto finished = decode_report(R"({"event": "finished"})");
  BOOST_TEST(json::serialize(finished.output) == "{}");
  auto started = decode_report(R"({"event": "step_started"})");
  BOOST_TEST(!started.step.has_value());
  auto negative = decode_report(R"({"event": "step_started", "step": -1})");
  BOOST_TEST(!negative.step.has_value());
  auto error = decode_report(R"({"event": "error"})");
  BOOST_TEST((error.error.kind == error_kind::exception));
  auto unnamed
    = decode_report(R"({"event": "error", "error": {"message": "boom"}})");
  BOOST_TEST((unnamed.error.kind == error_kind::exception));
  BOOST_TEST(unnamed.error.message == "boom");
  auto unreadable
    = decode_report(R"({"event": "error", "error": {"kind": "meltdown"}})");
  BOOST_TEST((unreadable.event == report_event::error));
  BOOST_TEST((unreadable.error.kind == error_kind::exception));
  BOOST_TEST(
    unreadable.error.message
    == R"(unreadable error report: field "kind" has unknown value "meltdown")");
}

BOOST_AUTO_TEST_CASE(an_output_at_the_depth_limit_fits_into_a_report) {
  auto x = report_of(report_event::finished);
  x.output = parse_deep(nested_object(defaults::max_json_depth));
  auto back = decode_report(encode_report(x));
  BOOST_TEST_REQUIRE((back.event == report_event::finished));
  BOOST_TEST(depth_of(back.output) == defaults::max_json_depth);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(step_ack_codec)

BOOST_AUTO_TEST_CASE(an_ack_is_one_line_and_decodes_back) {
  BOOST_TEST(encode_ack(7) == "{\"ack\":7}\n");
  auto x = decode_ack(R"({"ack": 7})");
  BOOST_TEST(!x.garbage);
  BOOST_TEST(x.step == 7u);
  BOOST_TEST(decode_ack(encode_ack(4294967295u)).step == 4294967295u);
}

BOOST_AUTO_TEST_CASE(what_is_not_an_ack_decodes_as_garbage) {
  for (std::string line : {"", "ack", "{}", R"({"ack": -1})", R"({"ack": "1"})",
                           R"({"ack": 1.5})", "[0]", R"({"ack": 4294967296})"})
    BOOST_TEST(decode_ack(line).garbage, "line " << line);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(executor_lease_codec)

BOOST_AUTO_TEST_CASE(a_lease_rides_in_the_input_and_renewals_are_one_line) {
  auto in = sample_input();
  BOOST_TEST(encode_input(in).find("lease") == std::string::npos);
  in.lease_until_ms = 1234567;
  auto back = decode_input(encode_input(in));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->lease_until_ms == 1234567);
  BOOST_TEST(encode_lease(1234567) == "{\"lease\":1234567}\n");
  auto x = decode_runner_line(R"({"lease": 1234567})");
  BOOST_TEST((x.what == runner_line::kind::lease));
  BOOST_TEST(x.until_ms == 1234567);
  auto ack = decode_runner_line(encode_ack(3));
  BOOST_TEST((ack.what == runner_line::kind::ack));
  BOOST_TEST(ack.step == 3u);
}

BOOST_AUTO_TEST_CASE(a_bad_lease_is_refused_and_a_bad_line_is_garbage) {
  for (std::string bad : {"0", "-5", "1.5", "\"10\"", "true"}) {
    auto res = decode_input(
      R"({"steps": [{"name": "a", "class": "c"}], "lease": )" + bad + "}");
    BOOST_REQUIRE(!res);
    BOOST_TEST(res.error().context.find("field \"lease\" must be a positive "
                                        "integer")
                 != std::string::npos,
               res.error().context);
  }
  for (std::string line :
       {"", "lease", "{}", R"({"lease": -1})", R"({"lease": "1"})",
        R"({"lease": 1.5})", R"({"ack": -1})", "[1]"})
    BOOST_TEST((decode_runner_line(line).what == runner_line::kind::garbage),
               "line " << line);
}

BOOST_AUTO_TEST_CASE(the_lease_clock_is_the_machines_boot_time_in_ms) {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  auto before = int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
  auto now = lease_clock_ms();
  clock_gettime(CLOCK_BOOTTIME, &ts);
  auto after = int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
  BOOST_TEST(before <= now);
  BOOST_TEST(now <= after);
}

BOOST_AUTO_TEST_SUITE_END()
