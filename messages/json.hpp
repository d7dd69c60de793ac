// JSON mappings of the types in messages/types.hpp (Boost.JSON), the spec
// parser with errors that name the step and field, and the user-facing
// process-info rendering. No CAF in here: procman-exec links it.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>
#include <boost/json/value.hpp>

#include "procman/messages/defaults.hpp"
#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {


// -- value_from / value_to customisations --------------------------------------
// value_to throws std::invalid_argument naming the field on malformed input.

void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const step_spec& x);
step_spec tag_invoke(boost::json::value_to_tag<step_spec>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const process_spec& x);
process_spec tag_invoke(boost::json::value_to_tag<process_spec>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const progress_info& x);
progress_info tag_invoke(boost::json::value_to_tag<progress_info>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const error_info& x);
error_info tag_invoke(boost::json::value_to_tag<error_info>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const process_record& x);
process_record tag_invoke(boost::json::value_to_tag<process_record>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const transition& x);
transition tag_invoke(boost::json::value_to_tag<transition>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const log_entry& x);
log_entry tag_invoke(boost::json::value_to_tag<log_entry>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const process_event& x);
process_event tag_invoke(boost::json::value_to_tag<process_event>, const boost::json::value& v);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const list_query& x);
list_query tag_invoke(boost::json::value_to_tag<list_query>, const boost::json::value& v);

// -- helpers --------------------------------------------------------------------

/// Parses `text` as JSON; on failure returns false and sets `err` to a
/// message with the position ("malformed JSON at offset 12: ...") or, past
/// `max_depth` levels of arrays and objects, "nested deeper than 256
/// levels". Procman's own envelopes pass `defaults::max_wrapped_json_depth`.
bool parse_json(std::string_view text, boost::json::value& out, std::string& err,
                size_t max_depth = defaults::max_json_depth);

/// Parses a JSON document that a user hands procman (`--data`, proceed
/// data), named `what` in errors. Besides malformed JSON it refuses a key
/// used twice in one object (`--data: field "a" used twice at offset 9`)
/// and nesting deeper than `defaults::max_json_depth`
/// (`--data is nested deeper than 256 levels`), the same checks as
/// parse_spec makes.
bool parse_user_json(std::string_view text, boost::json::value& out,
                     std::string& err, const std::string& what);

/// `what` and an error of parse_json as one message:
/// `what: malformed JSON at ...` or `what is nested deeper than ...`.
std::string json_error(const std::string& what, const std::string& err);

/// Whether `v` is nested deeper than `defaults::max_json_depth`.
bool deeper_than_limit(const boost::json::value& v);

/// A log entry's record digest as 16 lowercase hex digits, and back.
std::string digest_to_hex(uint64_t x);
bool digest_from_hex(const std::string& str, uint64_t& out);

/// Serializes a JSON value compactly.
std::string dump(const boost::json::value& v);

/// Parses a process spec from JSON text: `{"steps": {name: {class, args,
/// services}} | [{name, class, args, services}], "timeout": N, "data": {}}`.
/// On failure returns false and sets `err` to a message naming the step and
/// field, e.g. `step "bar": field "class" must be a string`. Refuses a key
/// used twice in one object and a field (its "data", a step's "args")
/// nested deeper than `defaults::max_json_depth`; the overload taking a
/// parsed value cannot see repeated keys and trusts the parser's depth.
bool parse_spec(std::string_view text, process_spec& out, std::string& err);
bool parse_spec(const boost::json::value& v, process_spec& out, std::string& err);
inline bool parse_spec(const char* text, process_spec& out, std::string& err) {
  return parse_spec(std::string_view{text}, out, err);
}
inline bool parse_spec(const std::string& text, process_spec& out,
                       std::string& err) {
  return parse_spec(std::string_view{text}, out, err);
}

/// Checks a process spec built in code (not parsed from text) as parse_spec
/// checks the text of one, with the same messages: at least one step;
/// names non-empty and unique; classes non-empty; a step's "args" JSON
/// text of an array, an object or null, and "data" of an object, each
/// within the limits of parse_user_json; the timeout within a year. Writes
/// "args" and "data" compactly, as parse_spec would ("" counts as null and
/// {}). Returns errc::invalid_spec with the message.
failure check_spec(process_spec& spec);

/// A process spec built in code (not parsed from text) as the JSON text of
/// an enqueue transition. Fails, naming the field, where its "data" or a
/// step's "args" is not one JSON document within the limits of
/// parse_user_json; the JSON mapping would otherwise turn it into a string.
bool spec_to_json(const process_spec& spec, std::string& out, std::string& err);

/// `base` with the top-level keys of `over` written over it. Both must be
/// JSON objects (a non-object `base` counts as `{}`).
boost::json::object merge_objects(const boost::json::value& base,
                                  const boost::json::object& over);

/// UTC `YYYYMMDDHHMMSS` of unix milliseconds, "" for 0.
std::string timestamp(uint64_t unix_ms);

/// Unix milliseconds now.
uint64_t now_ms();

/// The process info a user sees (`procman status`): pid, status,
/// created_at, started_at, finished_at, timeout, steps (name -> state),
/// last_completed_step, progress, output, error.
boost::json::object render_info(const process_record& x);

} // namespace procman
