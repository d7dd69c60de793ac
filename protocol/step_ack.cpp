#include "procman/protocol/step_ack.hpp"

#include <boost/json.hpp>

namespace procman {

std::string encode_ack(uint32_t step) {
  return "{\"ack\":" + std::to_string(step) + "}\n";
}

step_ack decode_ack(std::string_view line) {
  step_ack x;
  boost::json::error_code ec;
  auto v = boost::json::parse(line, ec);
  auto* o = !ec ? v.if_object() : nullptr;
  auto* ack = o ? o->if_contains("ack") : nullptr;
  if (ack != nullptr && ack->is_int64() && ack->get_int64() >= 0
      && ack->get_int64() <= int64_t{UINT32_MAX})
    x.step = static_cast<uint32_t>(ack->get_int64());
  else
    x.garbage = true;
  return x;
}

} // namespace procman
