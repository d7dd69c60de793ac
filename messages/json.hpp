// JSON forms of the types procman writes as JSON (Boost.JSON value_from)
// and their readers, the spec parser with errors that name the step and
// field, and the user-facing process-info rendering. Transitions and log
// entries are written by the log format (messages/log_format.hpp). No CAF
// in here: procman-exec links it.

#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>
#include <boost/json/value.hpp>

#include "procman/messages/defaults.hpp"
#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {

// -- JSON forms (value_from) ------------------------------------------------------

void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const step_spec& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const process_spec& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const progress_info& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const error_info& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const process_record& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const retry_policy& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v, const attempt_error& x);

// -- readers of those forms ----------------------------------------------------------
// Each refuses malformed input with errc::invalid_json naming the field
// (`field "runs" must be a number`); absent and null fields take their
// defaults.

outcome<step_spec> read_step_spec(const boost::json::value& v);
outcome<progress_info> read_progress_info(const boost::json::value& v);
outcome<error_info> read_error_info(const boost::json::value& v);
outcome<process_record> read_process_record(const boost::json::value& v);

// -- helpers --------------------------------------------------------------------

/// Parses `text` as JSON. Fails (errc::invalid_json) with the position
/// ("malformed JSON at offset 12: ...") or, past `max_depth` levels of
/// arrays and objects, "nested deeper than 256 levels". Procman's own
/// envelopes pass `defaults::max_wrapped_json_depth`.
outcome<boost::json::value>
parse_json(std::string_view text, size_t max_depth = defaults::max_json_depth);

/// Parses a JSON document that a user hands procman (`--data`, proceed
/// data), named `what` in errors (errc::invalid_json). Besides malformed
/// JSON it refuses a key used twice in one object (`--data: field "a" used
/// twice at offset 9`) and nesting deeper than `defaults::max_json_depth`
/// (`--data is nested deeper than 256 levels`), the same checks as
/// parse_spec makes.
outcome<boost::json::value> parse_user_json(std::string_view text,
                                            const std::string& what);

/// `what` and an error of parse_json as one message:
/// `what: malformed JSON at ...` or `what is nested deeper than ...`.
std::string json_error(const std::string& what, const std::string& err);

/// Whether `v` is nested deeper than `defaults::max_json_depth`.
bool deeper_than_limit(const boost::json::value& v);

/// A log entry's record digest as 16 lowercase hex digits, and back (none
/// for anything else).
std::string digest_to_hex(uint64_t x);
std::optional<uint64_t> digest_from_hex(const std::string& str);

/// Serializes a JSON value compactly.
std::string dump(const boost::json::value& v);

/// Parses a process spec from JSON text: `{"steps": {name: {class, args,
/// services}} | [{name, class, args, services}], "timeout": N, "data": {}}`.
/// Fails (errc::invalid_spec) with a message naming the step and field,
/// e.g. `step "bar": field "class" must be a string`. Refuses a key used
/// twice in one object and a field (its "data", a step's "args") nested
/// deeper than `defaults::max_json_depth`; the overload taking a parsed
/// value cannot see repeated keys and trusts the parser's depth.
outcome<process_spec> parse_spec(std::string_view text);
outcome<process_spec> parse_spec(const boost::json::value& v);
inline outcome<process_spec> parse_spec(const char* text) {
  return parse_spec(std::string_view{text});
}
inline outcome<process_spec> parse_spec(const std::string& text) {
  return parse_spec(std::string_view{text});
}

/// Reads a spec's `"retry"` object: `{"max": N, "backoff": "exponential" |
/// "fixed", "initial": S, "max_delay": S, "on": [kinds]}` (seconds may
/// have fractions). Fails (errc::invalid_spec) naming the field.
outcome<retry_policy> parse_retry(const boost::json::value& v);

/// Checks the job options of a spec (key length, retry bounds, no spec or
/// output kinds in "on"). errc::invalid_spec naming the field.
failure check_job_options(const process_spec& spec);

/// Checks a process spec built in code (not parsed from text) as parse_spec
/// checks the text of one, with the same messages: at least one step;
/// names non-empty and unique; classes non-empty; a step's "args" JSON
/// text of an array, an object or null, and "data" of an object, each
/// within the limits of parse_user_json; the timeout within a year. Writes
/// "args" and "data" compactly, as parse_spec would ("" counts as null and
/// {}). Returns errc::invalid_spec with the message.
failure check_spec(process_spec& spec);

/// `base` with the top-level keys of `over` written over it. Both must be
/// JSON objects (a non-object `base` counts as `{}`).
boost::json::object merge_objects(const boost::json::value& base,
                                  const boost::json::object& over);

/// UTC `YYYYMMDDHHMMSS` of unix milliseconds, "" for 0.
std::string timestamp(uint64_t unix_ms);

/// ISO 8601 UTC of unix milliseconds: `2026-12-01T10:00:00Z`, with
/// `.mmm` when the milliseconds are not 0.
std::string iso_time(uint64_t unix_ms);

/// Unix milliseconds of a time given as UTC `YYYYMMDDHHMMSS` or ISO 8601
/// (`2026-12-01T10:00:00Z`, fractions of a second, `+01:00` offsets).
/// errc::invalid_spec saying which forms are accepted.
outcome<uint64_t> parse_time(const std::string& text);

/// Unix milliseconds now.
uint64_t now_ms();

/// The process info a user sees (`procman status`): pid, status,
/// created_at, started_at, finished_at, timeout, steps (name -> state),
/// last_completed_step, progress, output, error.
boost::json::object render_info(const process_record& x);

/// The text of a process info as the CLI prints it: compact JSON, with
/// `progress.percent` a plain number with two decimals (`"percent":60.20`,
/// `100.00`) where Boost.JSON would write `6.02E1`.
std::string dump_info(const boost::json::object& info);

} // namespace procman
