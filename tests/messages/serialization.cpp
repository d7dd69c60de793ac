// Round trips of every type in the procman type-ID block through CAF's
// binary serializer and through JSON (value_from / value_to and text).

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "procman/messages/json.hpp"
#include "procman/messages/types.hpp"
#include "samples.hpp"

namespace json = boost::json;
using namespace procman;
using namespace procman::test;

namespace {

template <class T>
void check_binary(const T& x) {
  // A sample equal to the default would hide fields the inspector skips.
  BOOST_TEST_REQUIRE(!same(x, T{}));
  auto y = binary_roundtrip(x);
  BOOST_TEST((same(x, y)));
  BOOST_TEST(json_text(x) == json_text(y));
}

template <class E>
void check_binary_enum(const std::vector<E>& values) {
  for (auto x : values) {
    auto y = binary_roundtrip(x);
    BOOST_TEST((x == y), "value " << to_string(x));
  }
}

template <class T>
void check_json(const T& x) {
  BOOST_TEST_REQUIRE(!same(x, T{}));
  BOOST_TEST_MESSAGE("value_from / value_to");
  auto v = json::value_from(x);
  auto y = json::value_to<T>(v);
  BOOST_TEST((same(x, y)), json_text(x) << "\n!=\n" << json_text(y));
  BOOST_TEST_MESSAGE("serialize / parse_json / value_to");
  auto text = json::serialize(v);
  json::value parsed;
  std::string err;
  BOOST_TEST_REQUIRE(parse_json(text, parsed, err), err);
  BOOST_TEST(parsed == v);
  auto z = json::value_to<T>(parsed);
  BOOST_TEST((same(x, z)), json_text(x) << "\n!=\n" << json_text(z));
}

// Enums have no JSON mapping of their own; they travel as their names.
template <class E>
void check_json_enum(const std::vector<E>& values) {
  for (auto x : values) {
    auto text = json::serialize(json::value(to_string(x)));
    json::value parsed;
    std::string err;
    BOOST_TEST_REQUIRE(parse_json(text, parsed, err), err);
    BOOST_TEST_REQUIRE(parsed.is_string());
    E y{};
    BOOST_TEST(from_string(std::string(parsed.get_string()), y), text);
    BOOST_TEST((x == y), text);
  }
}

json::value parse(const std::string& text) {
  json::value v;
  std::string err;
  BOOST_TEST_REQUIRE(parse_json(text, v, err), err);
  return v;
}

// Runs value_to<T> on `text` and returns the exception message, or "" when
// it did not throw std::invalid_argument.
template <class T>
std::string value_to_error(const std::string& text) {
  auto v = parse(text);
  try {
    json::value_to<T>(v);
  } catch (const std::invalid_argument& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return {};
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

} // namespace

// -- binary -------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(binary_roundtrip_tests)

BOOST_AUTO_TEST_CASE(enums_keep_every_value) {
  check_binary_enum(all_process_statuses());
  check_binary_enum(all_step_statuses());
  check_binary_enum(all_error_kinds());
  check_binary_enum(all_transition_kinds());
}

BOOST_AUTO_TEST_CASE(step_spec_keeps_every_field) {
  check_binary(sample_step());
}

BOOST_AUTO_TEST_CASE(process_spec_keeps_every_field) {
  check_binary(sample_spec());
}

BOOST_AUTO_TEST_CASE(progress_info_keeps_every_field) {
  check_binary(sample_progress());
}

BOOST_AUTO_TEST_CASE(error_info_keeps_every_field) {
  check_binary(sample_error());
}

BOOST_AUTO_TEST_CASE(process_record_keeps_every_field) {
  check_binary(sample_record());
}

BOOST_AUTO_TEST_CASE(transition_keeps_every_field) {
  check_binary(sample_transition());
}

BOOST_AUTO_TEST_CASE(log_entry_keeps_every_field) {
  check_binary(sample_log_entry());
}

BOOST_AUTO_TEST_CASE(process_event_keeps_every_field) {
  check_binary(sample_event());
}

BOOST_AUTO_TEST_CASE(list_query_keeps_every_field) {
  check_binary(sample_query());
}

BOOST_AUTO_TEST_CASE(record_vector_keeps_every_element) {
  check_binary(sample_records());
}

BOOST_AUTO_TEST_CASE(transition_vector_keeps_every_element) {
  check_binary(sample_transitions());
}

BOOST_AUTO_TEST_CASE(defaults_survive_too) {
  BOOST_TEST((same(binary_roundtrip(process_record{}), process_record{})));
  BOOST_TEST((same(binary_roundtrip(error_info{}), error_info{})));
  BOOST_TEST((same(binary_roundtrip(list_query{}), list_query{})));
}

BOOST_AUTO_TEST_CASE(truncated_bytes_are_an_error) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto x = sample_record();
  BOOST_TEST_REQUIRE(!sink(x));
  buf.resize(buf.size() - 1);
  caf::binary_deserializer src{nullptr, buf};
  process_record y;
  BOOST_TEST(static_cast<bool>(src(y)));
}

BOOST_AUTO_TEST_SUITE_END()

// -- JSON -----------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(json_roundtrip_tests)

BOOST_AUTO_TEST_CASE(enums_travel_as_their_names) {
  check_json_enum(all_process_statuses());
  check_json_enum(all_step_statuses());
  check_json_enum(all_error_kinds());
  check_json_enum(all_transition_kinds());
}

BOOST_AUTO_TEST_CASE(step_spec_keeps_every_field) {
  check_json(sample_step());
}

BOOST_AUTO_TEST_CASE(process_spec_keeps_every_field) {
  check_json(sample_spec());
}

BOOST_AUTO_TEST_CASE(progress_info_keeps_every_field) {
  check_json(sample_progress());
}

BOOST_AUTO_TEST_CASE(error_info_keeps_every_field) {
  check_json(sample_error());
}

BOOST_AUTO_TEST_CASE(process_record_keeps_every_field) {
  check_json(sample_record());
}

BOOST_AUTO_TEST_CASE(transition_keeps_every_field) {
  check_json(sample_transition());
}

BOOST_AUTO_TEST_CASE(log_entry_keeps_every_field) {
  check_json(sample_log_entry());
}

BOOST_AUTO_TEST_CASE(process_event_keeps_every_field) {
  check_json(sample_event());
}

BOOST_AUTO_TEST_CASE(list_query_keeps_every_field) {
  check_json(sample_query());
}

BOOST_AUTO_TEST_CASE(record_vector_keeps_every_element) {
  check_json(sample_records());
}

BOOST_AUTO_TEST_CASE(transition_vector_keeps_every_element) {
  check_json(sample_transitions());
}

BOOST_AUTO_TEST_CASE(defaults_survive_too) {
  // error_info leaves out exit_code -1, signal 0 and an empty stderr.
  auto e = json::value_to<error_info>(json::value_from(error_info{}));
  BOOST_TEST((same(e, error_info{})));
  auto r = json::value_to<process_record>(json::value_from(process_record{}));
  BOOST_TEST((same(r, process_record{})));
  auto t = json::value_to<transition>(json::value_from(transition{}));
  BOOST_TEST((same(t, transition{})));
  auto q = json::value_to<list_query>(json::value_from(list_query{}));
  BOOST_TEST((same(q, list_query{})));
}

BOOST_AUTO_TEST_CASE(extreme_numbers_survive) {
  auto x = sample_record();
  x.created_at = std::numeric_limits<uint64_t>::max();
  x.queue_seq = (uint64_t{1} << 53) + 1; // not exact as a double
  x.timeout = std::numeric_limits<uint32_t>::max();
  x.runs = std::numeric_limits<uint32_t>::max();
  x.exec_pid = std::numeric_limits<int32_t>::min();
  x.last_completed = std::numeric_limits<int32_t>::max();
  x.progress.percent = 100.0 / 3;
  x.error.exit_code = 255;
  x.error.signal = -1;
  check_json(x);
  BOOST_TEST((same(binary_roundtrip(x), x)));
}

BOOST_AUTO_TEST_CASE(missing_fields_take_the_documented_defaults) {
  auto r = json::value_to<process_record>(parse(R"({"pid":"p"})"));
  BOOST_TEST(r.pid == "p");
  BOOST_TEST((r.status == process_status::queued));
  BOOST_TEST(r.last_completed == -1);
  BOOST_TEST(r.data == "{}");
  BOOST_TEST(r.output == "null");
  BOOST_TEST(r.error.exit_code == -1);
  auto q = json::value_to<list_query>(parse("{}"));
  BOOST_TEST(q.any_status);
  BOOST_TEST(q.limit == 100u);
}

BOOST_AUTO_TEST_CASE(json_uses_names_not_numbers) {
  auto step = json::value_from(sample_step()).as_object();
  BOOST_TEST(step.at("class").as_string() == "http_get");
  BOOST_TEST(step.at("args").is_object()); // a payload, not a string
  auto rec = json::value_from(sample_record()).as_object();
  BOOST_TEST(rec.at("status").as_string() == "interrupted");
  BOOST_TEST(rec.at("step_states").as_array().at(1).as_string() == "failed");
  BOOST_TEST(rec.at("output").is_object());
  auto err = json::value_from(sample_error()).as_object();
  BOOST_TEST(err.at("kind").as_string() == "timeout");
  BOOST_TEST(err.at("stderr").as_string() == "Killed\n");
  auto entry = json::value_from(sample_log_entry()).as_object();
  BOOST_TEST(entry.at("what").as_object().at("kind").as_string()
             == "step_completed");
  BOOST_TEST(entry.at("status_after").as_string() == "running");
}

BOOST_AUTO_TEST_CASE(wrong_types_throw_naming_the_field) {
  auto e = value_to_error<progress_info>(R"({"percent":"half"})");
  BOOST_TEST(contains(e, "\"percent\""), e);
  e = value_to_error<process_record>(R"({"status":"sleeping"})");
  BOOST_TEST(contains(e, "\"status\""), e);
  BOOST_TEST(contains(e, "sleeping"), e);
  e = value_to_error<process_record>(R"({"runs":-1})");
  BOOST_TEST(contains(e, "\"runs\""), e);
  e = value_to_error<process_record>(R"({"cancel_requested":1})");
  BOOST_TEST(contains(e, "\"cancel_requested\""), e);
  e = value_to_error<process_record>(R"({"step_states":["done"]})");
  BOOST_TEST(contains(e, "\"step_states\""), e);
  e = value_to_error<process_record>(R"({"steps":"fetch"})");
  BOOST_TEST(contains(e, "\"steps\""), e);
  e = value_to_error<process_record>(R"({"step_states":"completed"})");
  BOOST_TEST(contains(e, "\"step_states\""), e);
  e = value_to_error<step_spec>(R"({"name":"a","services":["db",1]})");
  BOOST_TEST(contains(e, "\"services\""), e);
  e = value_to_error<step_spec>(R"({"name":"a","services":"db"})");
  BOOST_TEST(contains(e, "\"services\""), e);
  e = value_to_error<transition>(R"({"kind":"teleport"})");
  BOOST_TEST(contains(e, "\"kind\""), e);
  e = value_to_error<list_query>(R"({"limit":"ten"})");
  BOOST_TEST(contains(e, "\"limit\""), e);
  e = value_to_error<process_spec>(R"({"steps":{}})");
  BOOST_TEST(contains(e, "\"steps\""), e);
  e = value_to_error<error_info>("[]");
  BOOST_TEST(!e.empty());
}

BOOST_AUTO_TEST_SUITE_END()
