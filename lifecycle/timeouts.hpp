// The rule of default timeouts: a spec without a timeout (0) gets the
// store's default when it is enqueued (store_options::default_timeout,
// itself 0 unless a host sets it: the record does not depend on which
// program enqueued it), and a record without one runs under the runner's
// --default-timeout. Pure functions.

#pragma once

#include <cstdint>

#include "procman/messages/types.hpp"

namespace procman {

/// The timeout an enqueue records: the spec's, else `store_default`.
uint32_t recorded_timeout(uint32_t spec_timeout, uint32_t store_default);

/// Gives an enqueue whose spec has no timeout `store_default`, as it is
/// logged (so that replaying the log alone gives the same record).
void apply_default_timeout(transition& t, uint32_t store_default);

/// The timeout a run gets: the record's, else `runner_default`.
uint32_t run_timeout(uint32_t record_timeout, uint32_t runner_default);

} // namespace procman
