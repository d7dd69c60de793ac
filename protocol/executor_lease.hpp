// An executor's lease (docs/protocol.md, "Leases"): a deadline the runner
// hands the executor with its work and pushes forward with `{"lease": T}`
// lines on its stdin. When it passes, the executor kills its process tree
// and itself, whether or not the runner is scheduled, so that no step
// outlives a runner that is stopped, hung or cut off from its store node.
// No CAF in here.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace procman {

/// Now on the clock of leases, in milliseconds: CLOCK_BOOTTIME, which every
/// process of a machine shares and which goes on while the machine is
/// suspended (a store node elsewhere counts that time too).
int64_t lease_clock_ms();

/// The end of a lease given now by a runner whose leases last `bound_ms`
/// and may not pass `cap_ms` (lease_clock_ms()); 0 when `bound_ms` is 0
/// (no leases), at least 1 otherwise.
int64_t lease_end(int64_t bound_ms, int64_t cap_ms);

/// `{"lease":T}` with its newline: the executor's lease now ends at `T`
/// (lease_clock_ms()).
std::string encode_lease(int64_t until_ms);

/// A line a runner writes on an executor's stdin after the work.
struct runner_line {
  enum class kind : uint8_t {
    ack,     ///< `{"ack": k}`: step k's completion is durable (`step`)
    lease,   ///< `{"lease": T}`: the lease ends at `until_ms`
    garbage, ///< anything else
  };
  kind what = kind::garbage;
  uint32_t step = 0;
  int64_t until_ms = 0;
};

/// Decodes one line (an acknowledgement, protocol/step_ack.hpp, or a
/// renewal); anything else is garbage.
runner_line decode_runner_line(std::string_view line);

} // namespace procman
