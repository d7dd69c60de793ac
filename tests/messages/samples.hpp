// Sample values with a non-default value in every field, field-wise
// equality for every message type, and round-trip helpers shared by the
// tests of messages/.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/error.hpp>

#include "procman/messages/json.hpp"
#include "procman/messages/types.hpp"

namespace procman::test {

// -- equality -----------------------------------------------------------------
// Deliberately not operator==: the headers may grow their own one day.

inline bool same(const step_spec& x, const step_spec& y) {
  return x.name == y.name && x.cls == y.cls && x.args == y.args
         && x.services == y.services;
}

// Defined below the element overloads, which its body must see.
template <class T>
bool same(const std::vector<T>& xs, const std::vector<T>& ys);

inline bool same(process_status x, process_status y) {
  return x == y;
}
inline bool same(step_status x, step_status y) {
  return x == y;
}
inline bool same(error_kind x, error_kind y) {
  return x == y;
}
inline bool same(transition_kind x, transition_kind y) {
  return x == y;
}

inline bool same(const process_spec& x, const process_spec& y) {
  return same(x.steps, y.steps) && x.timeout == y.timeout && x.data == y.data;
}

inline bool same(const progress_info& x, const progress_info& y) {
  return x.step == y.step && x.percent == y.percent && x.message == y.message;
}

inline bool same(const error_info& x, const error_info& y) {
  return x.kind == y.kind && x.step == y.step && x.message == y.message
         && x.stack == y.stack && x.exit_code == y.exit_code
         && x.signal == y.signal && x.stderr_tail == y.stderr_tail;
}

inline bool same(const process_record& x, const process_record& y) {
  return x.pid == y.pid && x.status == y.status && x.created_at == y.created_at
         && x.started_at == y.started_at && x.updated_at == y.updated_at
         && x.finished_at == y.finished_at && x.timeout == y.timeout
         && same(x.steps, y.steps) && x.step_states == y.step_states
         && x.last_completed == y.last_completed && x.next_step == y.next_step
         && x.data == y.data && x.output == y.output
         && same(x.progress, y.progress) && same(x.error, y.error)
         && x.runner == y.runner && x.exec_pid == y.exec_pid
         && x.queue_seq == y.queue_seq && x.runs == y.runs
         && x.cancel_requested == y.cancel_requested
         && x.step_times == y.step_times;
}

inline bool same(const transition& x, const transition& y) {
  return x.kind == y.kind && x.pid == y.pid && x.source == y.source
         && x.runner == y.runner && x.step == y.step && x.exec_pid == y.exec_pid
         && x.timeout == y.timeout && same(x.spec, y.spec) && x.data == y.data
         && x.output == y.output && same(x.progress, y.progress)
         && same(x.error, y.error) && x.exec_path == y.exec_path
         && x.spawn_errno == y.spawn_errno && x.garbage == y.garbage;
}

inline bool same(const log_entry& x, const log_entry& y) {
  return x.seq == y.seq && x.time == y.time && same(x.what, y.what)
         && x.status_after == y.status_after;
}

inline bool same(const process_event& x, const process_event& y) {
  return x.seq == y.seq && x.kind == y.kind && same(x.record, y.record);
}

inline bool same(const list_query& x, const list_query& y) {
  return x.any_status == y.any_status && x.status == y.status
         && x.limit == y.limit && x.before_created == y.before_created
         && x.before_pid == y.before_pid && x.key == y.key;
}

template <class T>
bool same(const std::vector<T>& xs, const std::vector<T>& ys) {
  if (xs.size() != ys.size())
    return false;
  for (size_t i = 0; i < xs.size(); ++i)
    if (!same(xs[i], ys[i]))
      return false;
  return true;
}

// -- samples ------------------------------------------------------------------
// JSON payloads are compact (as boost::json::serialize writes them) so that
// they survive a JSON round trip byte for byte.

inline step_spec sample_step(const std::string& name = "fetch") {
  step_spec x;
  x.name = name;
  x.cls = "http_get";
  x.args = R"({"url":"http://example.org/a","retries":3})";
  x.services = {"http", "cache"};
  return x;
}

inline process_spec sample_spec() {
  process_spec x;
  x.steps = {sample_step("fetch"), sample_step("load")};
  x.steps[1].cls = "db_load";
  x.steps[1].args = R"([1,"two",null])";
  x.steps[1].services = {"db"};
  x.timeout = 600;
  x.data = R"({"user":"ann","n":[1,2]})";
  return x;
}

inline progress_info sample_progress() {
  progress_info x;
  x.step = "load";
  x.percent = 42.5;
  x.message = "halfway there";
  return x;
}

inline error_info sample_error() {
  error_info x;
  x.kind = error_kind::timeout;
  x.step = "load";
  x.message = "took too long";
  x.stack = "at load()\nat main()";
  x.exit_code = 3;
  x.signal = 9;
  x.stderr_tail = "Killed\n";
  return x;
}

inline process_record
sample_record(const std::string& pid = "0123456789abcdef0123456789abcdef") {
  process_record x;
  x.pid = pid;
  x.status = process_status::interrupted;
  x.created_at = 1700000000123;
  x.started_at = 1700000001123;
  x.updated_at = 1700000002123;
  x.finished_at = 1700000003123;
  x.timeout = 600;
  x.steps = sample_spec().steps;
  x.step_states = {step_status::completed, step_status::failed};
  x.last_completed = 0;
  x.next_step = 1;
  x.data = R"({"k":"v"})";
  x.output = R"({"result":[1,2,3]})";
  x.progress = sample_progress();
  x.error = sample_error();
  x.runner = "runner-7";
  x.exec_pid = 4242;
  x.queue_seq = 99;
  x.runs = 2;
  x.cancel_requested = true;
  x.step_times = {{1700000001200, 1700000001900}, {1700000002000, 0}};
  return x;
}

inline transition sample_transition() {
  transition x;
  x.kind = transition_kind::step_completed;
  x.pid = "0123456789abcdef0123456789abcdef";
  x.source = "runner";
  x.runner = "runner-7";
  x.step = 1;
  x.exec_pid = 4242;
  x.timeout = 30;
  x.spec = sample_spec();
  x.data = R"({"in":1})";
  x.output = R"({"out":true})";
  x.progress = sample_progress();
  x.error = sample_error();
  x.exec_path = "/usr/bin/procman-exec";
  x.spawn_errno = 2;
  x.garbage = "not a report";
  return x;
}

inline log_entry sample_log_entry() {
  log_entry x;
  x.seq = 17;
  x.time = 1700000004000;
  x.what = sample_transition();
  x.status_after = process_status::running;
  return x;
}

inline process_event sample_event() {
  process_event x;
  x.seq = 18;
  x.kind = transition_kind::fail;
  x.record = sample_record();
  return x;
}

inline list_query sample_query() {
  list_query x;
  x.any_status = false;
  x.status = process_status::finished;
  x.limit = 7;
  x.before_created = 1700000000123;
  x.before_pid = "0123456789abcdef0123456789abcdef";
  x.key = "order-17";
  return x;
}

inline std::vector<process_record> sample_records() {
  auto second = sample_record("fedcba9876543210fedcba9876543210");
  second.status = process_status::finished;
  second.step_states = {step_status::completed, step_status::completed};
  second.last_completed = 1;
  return {sample_record(), second};
}

inline std::vector<transition> sample_transitions() {
  auto second = sample_transition();
  second.kind = transition_kind::cancel;
  second.source = "client";
  return {sample_transition(), second};
}

// -- enum values --------------------------------------------------------------

inline std::vector<process_status> all_process_statuses() {
  using e = process_status;
  return {e::queued,   e::running, e::interrupted,
          e::finished, e::error,   e::cancelled};
}

inline std::vector<step_status> all_step_statuses() {
  using e = step_status;
  return {e::pending, e::running, e::completed, e::failed, e::cancelled};
}

inline std::vector<error_kind> all_error_kinds() {
  using e = error_kind;
  return {e::none,    e::exception, e::spec,        e::output,
          e::timeout, e::crash,     e::runner_lost, e::node_lost};
}

inline std::vector<transition_kind> all_transition_kinds() {
  using e = transition_kind;
  return {e::enqueue,        e::claim,    e::start,     e::step_started,
          e::step_completed, e::progress, e::interrupt, e::proceed,
          e::finish,         e::fail,     e::cancel,    e::purge};
}

// -- round trips --------------------------------------------------------------

/// Serializes `x` with caf::binary_serializer and reads it back; fails the
/// test if either direction reports an error or leaves bytes unread.
template <class T>
T binary_roundtrip(const T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  T in = x;
  auto err = sink(in);
  BOOST_TEST_REQUIRE(!err, "serializing failed: " << caf::to_string(err));
  BOOST_TEST_REQUIRE(!buf.empty());
  caf::binary_deserializer src{nullptr, buf};
  T out{};
  err = src(out);
  BOOST_TEST_REQUIRE(!err, "deserializing failed: " << caf::to_string(err));
  BOOST_TEST(src.remaining() == 0u);
  return out;
}

/// The compact JSON text of `x`, for readable failure messages.
template <class T>
std::string json_text(const T& x) {
  return boost::json::serialize(boost::json::value_from(x));
}

} // namespace procman::test
