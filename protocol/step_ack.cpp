#include "procman/protocol/step_ack.hpp"

#include "procman/protocol/executor_lease.hpp"

namespace procman {

std::string encode_ack(uint32_t step) {
  return "{\"ack\":" + std::to_string(step) + "}\n";
}

step_ack decode_ack(std::string_view line) {
  auto x = decode_runner_line(line);
  return {x.step, x.what != runner_line::kind::ack};
}

} // namespace procman
