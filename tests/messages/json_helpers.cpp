// parse_json, merge_objects, timestamp, now_ms and render_info.

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/messages/json.hpp"
#include "procman/messages/render.hpp"
#include "procman/messages/time.hpp"
#include "procman/messages/types.hpp"

#include "samples.hpp"

namespace json = boost::json;
using namespace procman;
using namespace procman::test;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

json::value parse(const std::string& text) {
  auto v = parse_json(text);
  if (!v)
    BOOST_FAIL(v.error().context);
  return std::move(*v);
}

std::string parse_error(const std::string& text) {
  auto v = parse_json(text);
  if (v)
    BOOST_FAIL("accepted: " << text);
  BOOST_TEST((v.error().code == errc::invalid_json));
  return v.error().context;
}

// Sets TZ for the lifetime of the object, so that a local-time bug shows.
struct scoped_tz {
  std::optional<std::string> old;
  explicit scoped_tz(const char* tz) {
    if (auto p = std::getenv("TZ"))
      old = p;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~scoped_tz() {
    if (old)
      setenv("TZ", old->c_str(), 1);
    else
      unsetenv("TZ");
    tzset();
  }
};

std::vector<std::string> keys(const json::object& o) {
  std::vector<std::string> result;
  for (auto& kv : o)
    result.emplace_back(kv.key());
  return result;
}

std::set<std::string> key_set(const json::object& o) {
  auto ks = keys(o);
  return {ks.begin(), ks.end()};
}

// A record with three steps whose names are not in sorted order.
process_record three_step_record(process_status status) {
  process_record x;
  x.pid = "00112233445566778899aabbccddeeff";
  x.status = status;
  x.created_at = 1700000000123; // 2023-11-14 22:13:20 UTC
  x.timeout = 90;
  for (auto name : {"zeta", "alpha", "mid"}) {
    step_spec s;
    s.name = name;
    s.cls = "C";
    x.steps.push_back(s);
  }
  x.step_states = {step_status::pending, step_status::pending,
                   step_status::pending};
  x.progress = sample_progress();
  x.error = sample_error();
  x.runner = "runner-1";
  x.exec_pid = 77;
  x.queue_seq = 5;
  return x;
}

const std::set<std::string> info_keys
  = {"pid",     "status",    "created_at", "started_at",          "finished_at",
     "timeout", "steps",     "output",     "last_completed_step", "progress",
     "error",   "step_times"};

} // namespace

// -- parse_json, merge_objects, timestamp, now_ms -----------------------------

BOOST_AUTO_TEST_SUITE(json_helpers)

BOOST_AUTO_TEST_CASE(parse_json_accepts_documents_with_white_space) {
  auto v = parse(" \t\r\n{\"a\": [1, 2.5, \"x\", null, true]} \n");
  BOOST_TEST(v.as_object().at("a").as_array().size() == 5u);
  BOOST_TEST(parse("42").as_int64() == 42);
  BOOST_TEST(parse("\"s\"").as_string() == "s");
}

BOOST_AUTO_TEST_CASE(parse_json_reports_where_it_failed) {
  //                  0123456789
  auto err = parse_error(R"({"a": 1, x})");
  BOOST_TEST(contains(err, "malformed JSON at offset 9:"), err);
  err = parse_error(R"([1, 2,, 3])");
  BOOST_TEST(contains(err, "malformed JSON at offset 6:"), err);
  err = parse_error(R"({"a": tru})"); // the bad literal starts at 6
  BOOST_TEST(contains(err, "malformed JSON at offset 6:"), err);
  err = parse_error(R"({"a": 1)");
  BOOST_TEST(contains(err, "malformed JSON at offset 7:"), err);
  err = parse_error("");
  BOOST_TEST(contains(err, "malformed JSON at offset 0:"), err);
}

BOOST_AUTO_TEST_CASE(parse_json_rejects_trailing_text) {
  auto err = parse_error(R"({"a": 1} {"b": 2})");
  BOOST_TEST(contains(err, "malformed JSON at offset 9:"), err);
  err = parse_error("1 2");
  BOOST_TEST(contains(err, "malformed JSON at offset 2:"), err);
  // Only space, tab, CR and LF are white space in JSON.
  err = parse_error("{}\f");
  BOOST_TEST(contains(err, "malformed JSON at offset 2:"), err);
  err = parse_error("{}\v");
  BOOST_TEST(contains(err, "malformed JSON at offset 2:"), err);
}

BOOST_AUTO_TEST_CASE(dump_is_compact) {
  BOOST_TEST(dump(parse(R"({ "a" : [ 1 , 2 ] })")) == R"({"a":[1,2]})");
}

BOOST_AUTO_TEST_CASE(merge_objects_overlay_wins_at_top_level) {
  auto base = parse(R"({"a": 1, "b": {"x": 1, "y": 2}, "c": 3})");
  auto over = parse(R"({"b": {"z": 9}, "c": null, "d": [4]})").as_object();
  auto merged = merge_objects(base, over);
  BOOST_TEST(json::value(merged)
             == parse(R"({"a": 1, "b": {"z": 9}, "c": null, "d": [4]})"));
  // Nested objects are replaced, not merged.
  BOOST_TEST(!merged.at("b").as_object().contains("x"));
  // Neither input changes.
  BOOST_TEST(base == parse(R"({"a": 1, "b": {"x": 1, "y": 2}, "c": 3})"));
  BOOST_TEST(json::value(over)
             == parse(R"({"b": {"z": 9}, "c": null, "d": [4]})"));
}

BOOST_AUTO_TEST_CASE(merge_objects_treats_a_non_object_base_as_empty) {
  auto over = parse(R"({"k": "v"})").as_object();
  for (auto base : {"null", "[1, 2]", "\"text\"", "7"})
    BOOST_TEST(json::value(merge_objects(parse(base), over))
                 == parse(R"({"k": "v"})"),
               base);
  BOOST_TEST(merge_objects(parse(R"({"a": 1})"), json::object{}).size() == 1u);
}

BOOST_AUTO_TEST_CASE(timestamp_is_utc_yyyymmddhhmmss) {
  scoped_tz tz{"America/New_York"};
  BOOST_TEST(timestamp(1700000000123) == "20231114221320");
  BOOST_TEST(timestamp(1700000000999) == "20231114221320"); // truncates
  BOOST_TEST(timestamp(951782400000) == "20000229000000");  // leap day
  BOOST_TEST(timestamp(1) == "19700101000000");
  BOOST_TEST(timestamp(0) == "");
}

BOOST_AUTO_TEST_CASE(now_ms_is_unix_milliseconds) {
  using namespace std::chrono;
  auto ms = [] {
    return static_cast<uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch())
        .count());
  };
  auto before = ms();
  auto now = now_ms();
  auto after = ms();
  BOOST_TEST(before <= now);
  BOOST_TEST(now <= after);
}

BOOST_AUTO_TEST_SUITE_END()

// -- render_info --------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(render_info_tests)

BOOST_AUTO_TEST_CASE(queued_process_that_never_ran) {
  auto x = three_step_record(process_status::queued);
  auto info = render_info(x);
  BOOST_TEST(key_set(info) == info_keys);
  BOOST_TEST(info.at("pid").as_string() == "00112233445566778899aabbccddeeff");
  BOOST_TEST(info.at("status").as_string() == "queued");
  BOOST_TEST(info.at("created_at").as_string() == "20231114221320");
  BOOST_TEST(info.at("started_at").is_null());
  BOOST_TEST(info.at("finished_at").is_null());
  BOOST_TEST(info.at("timeout").to_number<int64_t>() == 90);
  BOOST_TEST(info.at("last_completed_step").is_null());
  // Progress only while running, error only in status error.
  BOOST_TEST(info.at("progress").is_null());
  BOOST_TEST(info.at("error").is_null());
  BOOST_TEST(info.at("output").is_null());
}

BOOST_AUTO_TEST_CASE(steps_map_names_to_states_in_spec_order) {
  auto x = three_step_record(process_status::running);
  x.step_states = {step_status::completed, step_status::running};
  auto steps = render_info(x).at("steps").as_object();
  BOOST_TEST((keys(steps) == std::vector<std::string>{"zeta", "alpha", "mid"}));
  BOOST_TEST(steps.at("zeta").as_string() == "completed");
  BOOST_TEST(steps.at("alpha").as_string() == "running");
  // A step without a recorded state is pending.
  BOOST_TEST(steps.at("mid").as_string() == "pending");
}

BOOST_AUTO_TEST_CASE(step_times_give_start_end_and_duration_per_step) {
  auto x = three_step_record(process_status::running);
  x.step_times = {{1700000001000, 1700000001250}, {1700000001300, 0}, {}};
  auto times = render_info(x).at("step_times").as_object();
  BOOST_TEST(
    json::serialize(times)
    == R"({"zeta":{"started_ms":1700000001000,"ended_ms":1700000001250,)"
       R"("duration_ms":250},)"
       R"("alpha":{"started_ms":1700000001300,"ended_ms":null,)"
       R"("duration_ms":null},)"
       R"("mid":{"started_ms":null,"ended_ms":null,"duration_ms":null}})");
  // A record without times (an older one): every step's are null.
  x.step_times.clear();
  auto none = render_info(x);
  for (auto& kv : none.at("step_times").as_object())
    BOOST_TEST(kv.value().at("duration_ms").is_null(), std::string(kv.key()));
}

BOOST_AUTO_TEST_CASE(running_process_shows_progress) {
  auto x = three_step_record(process_status::running);
  x.started_at = 1700000060000; // 22:14:20
  x.step_states = {step_status::completed, step_status::running,
                   step_status::pending};
  x.last_completed = 0;
  x.progress.step = "alpha";
  auto info = render_info(x);
  BOOST_TEST(info.at("status").as_string() == "running");
  BOOST_TEST(info.at("started_at").as_string() == "20231114221420");
  BOOST_TEST(info.at("finished_at").is_null());
  BOOST_TEST(info.at("last_completed_step").as_string() == "zeta");
  auto& p = info.at("progress").as_object();
  BOOST_TEST(p.at("step").as_string() == "alpha");
  BOOST_TEST(p.at("percent").to_number<double>() == 42.5);
  BOOST_TEST(p.at("message").as_string() == "halfway there");
  BOOST_TEST(info.at("error").is_null());
  // Internal bookkeeping stays out of the user's view.
  for (auto k : {"runner", "exec_pid", "queue_seq", "runs", "data",
                 "updated_at", "step_states", "next_step"})
    BOOST_TEST(!info.contains(k), k);
}

BOOST_AUTO_TEST_CASE(running_without_reported_progress_shows_none) {
  auto x = three_step_record(process_status::running);
  x.started_at = 1700000060000;
  x.progress = progress_info{};
  BOOST_TEST(render_info(x).at("progress").is_null());
}

BOOST_AUTO_TEST_CASE(finished_process_shows_output_not_progress) {
  auto x = three_step_record(process_status::finished);
  x.started_at = 1700000060000;
  x.finished_at = 1700000120000; // 22:15:20
  x.step_states = {step_status::completed, step_status::completed,
                   step_status::completed};
  x.last_completed = 2;
  x.output = R"({"rows":12,"ok":true})";
  auto info = render_info(x);
  BOOST_TEST(key_set(info) == info_keys);
  BOOST_TEST(info.at("status").as_string() == "finished");
  BOOST_TEST(info.at("finished_at").as_string() == "20231114221520");
  BOOST_TEST(info.at("last_completed_step").as_string() == "mid");
  BOOST_TEST(info.at("output") == parse(R"({"rows": 12, "ok": true})"));
  BOOST_TEST(info.at("progress").is_null());
  BOOST_TEST(info.at("error").is_null());
}

BOOST_AUTO_TEST_CASE(failed_process_shows_the_error) {
  auto x = three_step_record(process_status::error);
  x.started_at = 1700000060000;
  x.finished_at = 1700000120000;
  x.step_states = {step_status::completed, step_status::failed,
                   step_status::pending};
  x.last_completed = 0;
  auto info = render_info(x);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("finished_at").as_string() == "20231114221520");
  BOOST_TEST(info.at("progress").is_null());
  auto& e = info.at("error").as_object();
  BOOST_TEST(e.at("kind").as_string() == "timeout");
  BOOST_TEST(e.at("step").as_string() == "load");
  BOOST_TEST(e.at("message").as_string() == "took too long");
  BOOST_TEST(e.at("exit_code").to_number<int>() == 3);
  BOOST_TEST(e.at("signal").to_number<int>() == 9);
  BOOST_TEST(e.at("stderr").as_string() == "Killed\n");
}

BOOST_AUTO_TEST_CASE(interrupted_process_shows_output_and_last_step) {
  auto x = three_step_record(process_status::interrupted);
  x.started_at = 1700000060000;
  x.step_states = {step_status::completed, step_status::completed,
                   step_status::pending};
  x.last_completed = 1;
  x.output = R"({"need":"approval"})";
  auto info = render_info(x);
  BOOST_TEST(info.at("last_completed_step").as_string() == "alpha");
  BOOST_TEST(info.at("output").as_object().at("need").as_string()
             == "approval");
  BOOST_TEST(info.at("finished_at").is_null());
  BOOST_TEST(info.at("progress").is_null());
  BOOST_TEST(info.at("error").is_null());
}

BOOST_AUTO_TEST_CASE(pending_cancel_shows_only_while_running) {
  auto x = three_step_record(process_status::running);
  x.cancel_requested = true;
  BOOST_TEST(render_info(x).at("cancel_requested").as_bool());
  x.status = process_status::cancelled;
  BOOST_TEST(!render_info(x).contains("cancel_requested"));
}

BOOST_AUTO_TEST_CASE(cancelled_process_has_no_error) {
  auto x = three_step_record(process_status::cancelled);
  x.finished_at = 1700000120000;
  auto info = render_info(x);
  BOOST_TEST(info.at("status").as_string() == "cancelled");
  BOOST_TEST(info.at("finished_at").as_string() == "20231114221520");
  BOOST_TEST(info.at("error").is_null());
  BOOST_TEST(info.at("progress").is_null());
}

BOOST_AUTO_TEST_SUITE_END()
