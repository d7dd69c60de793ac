// A step acknowledgement: the line `{"ack": k}` a runner writes to an
// executor's stdin once step k's completion is durable (docs/protocol.md,
// "Step acknowledgements"). No CAF in here.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace procman {

struct step_ack {
  uint32_t step = 0;
  /// The line was not an acknowledgement: not a JSON object whose "ack" is
  /// a step index.
  bool garbage = false;
};

/// `{"ack":k}` with its newline.
std::string encode_ack(uint32_t step);

/// Decodes one line; what is not an acknowledgement decodes as garbage.
step_ack decode_ack(std::string_view line);

} // namespace procman
