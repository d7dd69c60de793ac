// Small text helpers shared by the steps layer and the executor: valid UTF-8
// for everything that ends up in JSON, tails of long output, and JSON sizes
// measured without building the text.

#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace procman {

/// Whether `text` is well-formed UTF-8.
bool valid_utf8(std::string_view text);

/// Replaces every ill-formed UTF-8 sequence in `text` with U+FFFD, so that a
/// JSON parser that checks UTF-8 (Boost.JSON does) accepts it. Returns
/// whether anything changed.
bool sanitize_utf8(std::string& text);

/// At most the last `max_bytes` bytes of `text`, cut at a character
/// boundary, with "..." in front when something was cut.
std::string text_tail(std::string_view text, size_t max_bytes);

/// Length of `json::serialize(v)` computed in chunks, without holding the
/// whole text in memory.
size_t serialized_size(const boost::json::value& v);

} // namespace procman
