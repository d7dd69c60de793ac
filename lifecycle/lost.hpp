// Every failure that ends a process because its runner or its node is gone
// (error kinds runner_lost and node_lost), worded once. The runner's
// supervisor and process actors, the recovery of a dead runner's processes
// and the store node's work endpoint build them here, so that a user reads
// the same sentence for the same loss wherever it was noticed.
//
// Each sentence names who was lost (the runner, or the node and its
// lease), why where it is known, and the step the process was at ("none"
// when no step was running). Pure: no actors, no store.

#pragma once

#include <string>

#include "procman/messages/types.hpp"

namespace procman {

/// `step`, or "none" for no step.
std::string step_or_none(const std::string& step);

/// `rec`, claimed ahead by `runner`, abandoned as the runner shut down
/// before it started: none of its steps ran. Names the step it would have
/// started at (`next_step`). Recovery queues it again (lifecycle/recovery).
transition shut_down_before_start(const process_record& rec,
                                  const std::string& runner);

/// `rec` was running under `runner` when the actor running it died (`why`);
/// its executor was killed with the actor.
transition actor_died(const process_record& rec, const std::string& runner,
                      const std::string& why);

/// `rec` was left running by `rec.runner`, which died; `own_runner`, which
/// found it, records the failure.
transition runner_died(const process_record& rec,
                       const std::string& own_runner);

/// As `runner_died`, for a process that was claimed ahead and never
/// started: none of its steps ran.
transition runner_died_before_start(const process_record& rec,
                                    const std::string& own_runner);

/// `rec` was held by a worker node's lease that ended with its store node
/// (no store node renews it any more); `own_runner` records the failure.
transition lease_ended_with_store(const process_record& rec,
                                  const std::string& own_runner);

/// `rec` was held by `holder`, a worker node's lease that the store node
/// declared lost (`why`).
transition node_lost(const process_record& rec, const std::string& holder,
                     const std::string& why);

/// The node of a worker node's lease (`<node>@<lease>`).
std::string node_of(const std::string& holder);

/// What the process actor records when `runner` killed the executor as it
/// shut down (after the grace period) before the process finished.
std::string shut_down_while_running(const std::string& runner);

/// What the process actor records when the executor ended itself because
/// `runner` did not renew its lease in time.
std::string executor_lease_ran_out(const std::string& runner);

} // namespace procman
