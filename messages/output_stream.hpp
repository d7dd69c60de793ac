// Which stream of a command a piece of live output comes from. Standalone
// (no CAF, no Boost) because the step API (steps/step.hpp), which step
// libraries build against, uses it too.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace procman {

/// A command's stdout or stderr (`procman logs --stream`). Stored on disk:
/// new values go at the end.
enum class output_stream : uint8_t {
  out = 1, ///< "stdout"
  err = 2, ///< "stderr"
};

inline std::string to_string(output_stream x) {
  return x == output_stream::err ? "stderr" : "stdout";
}

/// The stream named "stdout" or "stderr"; none for anything else.
inline std::optional<output_stream> output_stream_from(std::string_view name) {
  if (name == "stdout")
    return output_stream::out;
  if (name == "stderr")
    return output_stream::err;
  return std::nullopt;
}

} // namespace procman
