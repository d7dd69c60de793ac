// Round trips of every type in the procman type-ID block through CAF's
// binary serializer, and of the types procman reads back from JSON (the
// process spec, records and their parts) through their JSON forms.

#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "procman/messages/json.hpp"
#include "procman/messages/spec_check.hpp"
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
}

template <class E>
void check_binary_enum(const std::vector<E>& values) {
  for (auto x : values) {
    auto y = binary_roundtrip(x);
    BOOST_TEST((x == y), "value " << to_string(x));
  }
}

// The reader of each JSON form.
outcome<step_spec> read_back(const json::value& v, const step_spec*) {
  return read_step_spec(v);
}
outcome<process_spec> read_back(const json::value& v, const process_spec*) {
  return parse_spec(v);
}
outcome<progress_info> read_back(const json::value& v, const progress_info*) {
  return read_progress_info(v);
}
outcome<error_info> read_back(const json::value& v, const error_info*) {
  return read_error_info(v);
}
outcome<process_record> read_back(const json::value& v, const process_record*) {
  return read_process_record(v);
}

template <class T>
T must_read(const json::value& v) {
  auto x = read_back(v, static_cast<const T*>(nullptr));
  if (!x)
    BOOST_FAIL(x.error().context);
  return std::move(*x);
}

template <class T>
void check_json(const T& x) {
  BOOST_TEST_REQUIRE(!same(x, T{}));
  BOOST_TEST_MESSAGE("value_from / reader");
  auto v = json::value_from(x);
  auto y = must_read<T>(v);
  BOOST_TEST((same(x, y)), json_text(x) << "\n!=\n" << json_text(y));
  BOOST_TEST_MESSAGE("serialize / parse_json / reader");
  auto parsed = parse_json(json::serialize(v));
  BOOST_TEST_REQUIRE(static_cast<bool>(parsed));
  BOOST_TEST(*parsed == v);
  auto z = must_read<T>(*parsed);
  BOOST_TEST((same(x, z)), json_text(x) << "\n!=\n" << json_text(z));
}

// Enums have no JSON mapping of their own; they travel as their names.
template <class E>
void check_json_enum(const std::vector<E>& values) {
  for (auto x : values) {
    auto text = json::serialize(json::value(to_string(x)));
    auto parsed = parse_json(text);
    BOOST_TEST_REQUIRE(static_cast<bool>(parsed));
    BOOST_TEST_REQUIRE(parsed->is_string());
    auto y = from_string<E>(std::string(parsed->get_string()));
    BOOST_TEST((y == x), text);
  }
}

json::value parse(const std::string& text) {
  auto v = parse_json(text);
  if (!v)
    BOOST_FAIL(v.error().context);
  return std::move(*v);
}

// Reads `text` with T's reader and returns the message of its refusal, or
// "" when it accepted the text.
template <class T>
std::string read_error(const std::string& text) {
  auto x = read_back(parse(text), static_cast<const T*>(nullptr));
  if (x)
    return {};
  return x.error().context;
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

// -- JSON ---------------------------------------------------------------------

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

BOOST_AUTO_TEST_CASE(records_keep_every_element) {
  for (auto& x : sample_records())
    check_json(x);
}

BOOST_AUTO_TEST_CASE(defaults_survive_too) {
  // error_info leaves out exit_code -1, signal 0 and an empty stderr.
  auto e = must_read<error_info>(json::value_from(error_info{}));
  BOOST_TEST((same(e, error_info{})));
  auto r = must_read<process_record>(json::value_from(process_record{}));
  BOOST_TEST((same(r, process_record{})));
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
  auto r = must_read<process_record>(parse(R"({"pid":"p"})"));
  BOOST_TEST(r.pid == "p");
  BOOST_TEST((r.status == process_status::queued));
  BOOST_TEST(r.last_completed == -1);
  BOOST_TEST(r.data == "{}");
  BOOST_TEST(r.output == "null");
  BOOST_TEST(r.error.exit_code == -1);
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
}

BOOST_AUTO_TEST_CASE(wrong_types_are_refused_naming_the_field) {
  auto e = read_error<progress_info>(R"({"percent":"half"})");
  BOOST_TEST(e == R"(field "percent" must be a number)");
  e = read_error<process_record>(R"({"status":"sleeping"})");
  BOOST_TEST(e == R"(field "status" has unknown value "sleeping")");
  e = read_error<process_record>(R"({"runs":-1})");
  BOOST_TEST(e == R"(field "runs" is out of range)");
  e = read_error<process_record>(R"({"cancel_requested":1})");
  BOOST_TEST(e == R"(field "cancel_requested" must be true or false)");
  e = read_error<process_record>(R"({"step_states":["done"]})");
  BOOST_TEST(e == R"(field "step_states" has an unknown state)");
  e = read_error<process_record>(R"({"steps":"fetch"})");
  BOOST_TEST(e == R"(field "steps" must be an array)");
  e = read_error<process_record>(R"({"step_states":"completed"})");
  BOOST_TEST(e == R"(field "step_states" must be an array)");
  e = read_error<process_record>(R"({"error":{"kind":"teleport"}})");
  BOOST_TEST(e == R"(field "kind" has unknown value "teleport")");
  e = read_error<step_spec>(R"({"name":"a","services":["db",1]})");
  BOOST_TEST(e == R"(field "services" must list service names (strings))");
  e = read_error<step_spec>(R"({"name":"a","services":"db"})");
  BOOST_TEST(e == R"(field "services" must be an array)");
  e = read_error<process_spec>(R"({"steps":{}})");
  BOOST_TEST(contains(e, "\"steps\""), e);
  BOOST_TEST(read_error<error_info>("[]") == "error must be an object");
}

BOOST_AUTO_TEST_SUITE_END()
