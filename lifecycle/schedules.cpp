#include "procman/lifecycle/schedules.hpp"

#include <algorithm>

#include "procman/messages/json.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/messages/time.hpp"

namespace procman {

outcome<cron_expr> check_schedule(const std::string& name,
                                  const std::string& cron, process_spec& spec) {
  if (name.empty() || name.size() > 200)
    return failure{errc::invalid_argument,
                   "a schedule's name must have 1 to 200 characters"};
  auto expr = parse_cron(cron);
  if (!expr)
    return expr.error();
  if (auto f = check_spec(spec))
    return f;
  if (spec.not_before != 0)
    return failure{errc::invalid_spec,
                   "schedule \"" + name
                     + "\": spec: field \"not_before\" has no meaning in a "
                       "schedule (its cron expression says when)"};
  return expr;
}

schedule_record added_schedule(const transition& t, const cron_expr& expr,
                               const std::optional<schedule_record>& old,
                               uint64_t now) {
  schedule_record x;
  if (old) {
    x.last_fired = old->last_fired;
    x.last_pid = old->last_pid;
  }
  x.name = t.schedule;
  x.cron = t.cron;
  x.spec = t.spec;
  x.created_at = now;
  x.next_due = next_cron_time(expr, now);
  return x;
}

bool schedule_due(const schedule_record& x, uint64_t now) {
  return x.next_due != 0 && x.next_due <= now;
}

transition schedule_run(const schedule_record& x, std::string pid) {
  transition t;
  t.kind = transition_kind::enqueue;
  t.pid = std::move(pid);
  t.source = "schedule";
  t.spec = x.spec;
  t.schedule = x.name;
  t.due = x.next_due;
  return t;
}

outcome<schedule_record> advance_schedule(schedule_record x,
                                          const transition& t, uint64_t now) {
  if (t.due < x.next_due)
    return failure{errc::illegal_transition, "schedule \"" + t.schedule
                                               + "\" already ran for "
                                               + iso_time(t.due)};
  auto expr = parse_cron(x.cron);
  x.next_due = expr ? next_cron_time(*expr, std::max(now, t.due)) : 0;
  x.last_fired = now;
  x.last_pid = t.pid;
  return x;
}

uint64_t earliest_due(uint64_t at, const std::vector<schedule_record>& xs) {
  for (auto& x : xs)
    if (x.next_due != 0 && (at == 0 || x.next_due < at))
      at = x.next_due;
  return at;
}

} // namespace procman
