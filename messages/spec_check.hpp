// Checking what users hand procman: process specs (parsed from text, or
// built in code), their job options and retry policies, and the JSON
// documents of users (`--data`, proceed data) with the checks Boost.JSON's
// tree would hide (a key used twice) or must not be built for (nesting
// deeper than `defaults::max_json_depth`). Every refusal names the step
// and field. No CAF in here: procman-exec links it.

#pragma once

#include <string>
#include <string_view>

#include <boost/json/fwd.hpp>
#include <boost/json/value.hpp>

#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {

/// Parses a JSON document that a user hands procman (`--data`, proceed
/// data), named `what` in errors (errc::invalid_json). Besides malformed
/// JSON it refuses a key used twice in one object (`--data: field "a" used
/// twice at offset 9`) and nesting deeper than `defaults::max_json_depth`
/// (`--data is nested deeper than 256 levels`), the same checks as
/// parse_spec makes.
outcome<boost::json::value> parse_user_json(std::string_view text,
                                            const std::string& what);

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

} // namespace procman
