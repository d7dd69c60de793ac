// Processes rendered for people: the process info `procman status` prints
// and its text. No CAF in here.

#pragma once

#include <string>

#include <boost/json/object.hpp>

#include "procman/messages/types.hpp"

namespace procman {

/// The process info a user sees (`procman status`): pid, status,
/// created_at, started_at, finished_at, timeout, steps (name -> state),
/// last_completed_step, progress, output, error.
boost::json::object render_info(const process_record& x);

/// The text of a process info as the CLI prints it: compact JSON, with
/// `progress.percent` a plain number with two decimals (`"percent":60.20`,
/// `100.00`) where Boost.JSON would write `6.02E1`.
std::string dump_info(const boost::json::object& info);

/// A schedule as a user sees it (`procman schedule list`, the HTTP API's
/// /schedules): name, cron, spec, next_due, last_fired, last_pid (the
/// times as timestamps; null until due or fired).
boost::json::object render_schedule(const schedule_record& x);

} // namespace procman
