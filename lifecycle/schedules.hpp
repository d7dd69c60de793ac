// The rules of recurring schedules: what a schedule may be, when it runs,
// and how it moves on after a run. Pure functions: the store
// (persistence/transitions.cpp) and the front door apply them.

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "procman/lifecycle/cron.hpp"
#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {

/// Checks a schedule to add and returns its parsed expression: a name of
/// 1 to 200 characters, a cron expression (lifecycle/cron.hpp), a spec as
/// `check_spec` checks it (which writes its JSON compactly) without a
/// "not_before" (the expression says when). Errors: invalid_argument
/// (name, cron, naming the field), invalid_spec.
outcome<cron_expr> check_schedule(const std::string& name,
                                  const std::string& cron, process_spec& spec);

/// The schedule that a schedule_add `t` (checked) writes at `now`: due
/// next at the first match after `now`; a schedule it replaces (`old`)
/// passes on its last run.
schedule_record added_schedule(const transition& t, const cron_expr& expr,
                               const std::optional<schedule_record>& old,
                               uint64_t now);

/// Whether `x` has a run due at `now`.
bool schedule_due(const schedule_record& x, uint64_t now);

/// The enqueue of `x`'s run that is due, under `pid`.
transition schedule_run(const schedule_record& x, std::string pid);

/// The schedule after `t`, an enqueue of one of its runs at `now`: due
/// next at the first match after now (runs missed while no runner was up
/// are one run), `t` its last run. Errors: illegal_transition when `t` is
/// for a due time the schedule already ran for (two runners fired it).
outcome<schedule_record> advance_schedule(schedule_record x,
                                          const transition& t, uint64_t now);

/// The earliest of `at` (0: nothing) and the next due times of `xs`.
uint64_t earliest_due(uint64_t at, const std::vector<schedule_record>& xs);

} // namespace procman
