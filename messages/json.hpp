// JSON forms of the types procman writes as JSON (Boost.JSON value_from)
// and their readers, and the JSON helpers they share: parsing within a
// depth limit, payloads kept as text. Specs are checked by
// messages/spec_check.hpp, times written and read by messages/time.hpp,
// processes rendered for people by messages/render.hpp; transitions and log
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

// -- JSON forms (value_from) --------------------------------------------------

void tag_invoke(boost::json::value_from_tag, boost::json::value& v,
                const step_spec& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v,
                const process_spec& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v,
                const progress_info& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v,
                const error_info& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v,
                const process_record& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v,
                const retry_policy& x);
void tag_invoke(boost::json::value_from_tag, boost::json::value& v,
                const attempt_error& x);

// -- readers of those forms ---------------------------------------------------
// Each refuses malformed input with errc::invalid_json naming the field
// (`field "runs" must be a number`); absent and null fields take their
// defaults.

outcome<step_spec> read_step_spec(const boost::json::value& v);
outcome<progress_info> read_progress_info(const boost::json::value& v);
outcome<error_info> read_error_info(const boost::json::value& v);
outcome<process_record> read_process_record(const boost::json::value& v);

// -- helpers ------------------------------------------------------------------

/// Parses `text` as JSON. Fails (errc::invalid_json) with the position
/// ("malformed JSON at offset 12: ...") or, past `max_depth` levels of
/// arrays and objects, "nested deeper than 256 levels". Procman's own
/// envelopes pass `defaults::max_wrapped_json_depth`.
outcome<boost::json::value>
parse_json(std::string_view text, size_t max_depth = defaults::max_json_depth);

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

/// `base` with the top-level keys of `over` written over it. Both must be
/// JSON objects (a non-object `base` counts as `{}`).
boost::json::object merge_objects(const boost::json::value& base,
                                  const boost::json::object& over);

/// A JSON document kept as text (a step's output, proceed data) in a JSON
/// form: parsed, `null` for "", the text as a string when it is not JSON.
/// The record's JSON form and the message log's payloads both write it so.
boost::json::value json_payload(const std::string& text);

} // namespace procman
