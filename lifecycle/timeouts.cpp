#include "procman/lifecycle/timeouts.hpp"

namespace procman {

uint32_t recorded_timeout(uint32_t spec_timeout, uint32_t store_default) {
  return spec_timeout != 0 ? spec_timeout : store_default;
}

void apply_default_timeout(transition& t, uint32_t store_default) {
  if (t.kind == transition_kind::enqueue)
    t.spec.timeout = recorded_timeout(t.spec.timeout, store_default);
}

uint32_t run_timeout(uint32_t record_timeout, uint32_t runner_default) {
  return record_timeout != 0 ? record_timeout : runner_default;
}

} // namespace procman
