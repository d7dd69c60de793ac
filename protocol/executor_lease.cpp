#include "procman/protocol/executor_lease.hpp"

#include <algorithm>
#include <ctime>

#include <boost/json.hpp>

namespace procman {

int64_t lease_clock_ms() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

int64_t lease_end(int64_t bound_ms, int64_t cap_ms) {
  if (bound_ms <= 0)
    return 0;
  return std::max<int64_t>(1, std::min(lease_clock_ms() + bound_ms, cap_ms));
}

std::string encode_lease(int64_t until_ms) {
  return "{\"lease\":" + std::to_string(until_ms) + "}\n";
}

runner_line decode_runner_line(std::string_view line) {
  runner_line x;
  boost::json::error_code ec;
  auto v = boost::json::parse(line, ec);
  auto* o = !ec ? v.if_object() : nullptr;
  if (o == nullptr)
    return x;
  if (auto* t = o->if_contains("lease")) {
    if (t->is_int64() && t->get_int64() >= 0) {
      x.what = runner_line::kind::lease;
      x.until_ms = t->get_int64();
    }
  } else if (auto* ack = o->if_contains("ack")) {
    // A step index (protocol/step_ack.hpp).
    if (ack->is_int64() && ack->get_int64() >= 0
        && ack->get_int64() <= int64_t{UINT32_MAX}) {
      x.what = runner_line::kind::ack;
      x.step = static_cast<uint32_t>(ack->get_int64());
    }
  }
  return x;
}

} // namespace procman
