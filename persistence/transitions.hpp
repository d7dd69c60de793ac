// Transitions applied in a transaction: what the store adds to the life
// cycle (lifecycle/machine.hpp). Loads the record, asks `next` for the
// record after the transition, and writes that record with its indexes
// (records.hpp) and the log entry (log.hpp); a refused transition writes
// nothing. Fills in what only the store knows: the pid of the queue head
// for a claim without one (errc::queue_empty when there is none), the
// queue position of a record entering the queue, the default timeout.
// Schedule transitions write the schedules table instead; a transition
// under a remembered request key (requests.hpp) is answered, not applied.

#pragma once

#include <cstdint>

#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables::transitions {

/// Applies `t` (completed in place as it is logged) at `now`. Sets `ring`
/// when a runner has new work and `repeated` when the request key was
/// remembered (the answer is then the record of the process the first
/// application touched).
outcome<process_record> apply(const tx& x, transition& t, uint64_t now,
                              uint32_t default_timeout, bool& ring,
                              bool& repeated);

} // namespace procman::tables::transitions
