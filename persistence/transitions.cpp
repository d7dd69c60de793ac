#include "procman/persistence/transitions.hpp"

#include <algorithm>

#include "procman/lifecycle/cron.hpp"
#include "procman/lifecycle/machine.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/json.hpp"
#include "procman/persistence/keys.hpp"
#include "procman/persistence/log.hpp"
#include "procman/persistence/queue.hpp"
#include "procman/persistence/records.hpp"
#include "procman/persistence/requests.hpp"
#include "procman/persistence/schedules.hpp"

namespace procman::tables::transitions {

namespace {

/// A schedule_add or schedule_remove: writes or removes the schedule and
/// logs it. The record returned is empty (no process changed).
caf::expected<process_record> schedule_step(const tx& x, transition& t,
                                            uint64_t now, bool& ring) {
  auto old = schedules::load(x, t.schedule);
  schedule_record s;
  if (t.kind == transition_kind::schedule_remove) {
    if (!old)
      return make_error(errc::unknown_schedule,
                        "no schedule \"" + t.schedule + "\"");
    schedules::remove(x, t.schedule);
    s = std::move(*old);
  } else {
    if (t.schedule.empty())
      return make_error(errc::invalid_argument, "a schedule needs a name");
    auto expr = parse_cron(t.cron);
    if (!expr)
      return to_error(expr.error());
    if (auto f = check_spec(t.spec))
      return to_error(f);
    if (t.spec.not_before != 0)
      return make_error(errc::invalid_spec,
                        "schedule \"" + t.schedule
                          + "\": spec: field \"not_before\" has no meaning "
                            "in a schedule (its cron expression says when)");
    if (old) {
      s.last_fired = old->last_fired;
      s.last_pid = old->last_pid;
    }
    s.name = t.schedule;
    s.cron = t.cron;
    s.spec = t.spec;
    s.created_at = now;
    s.next_due = next_cron_time(*expr, now);
    schedules::save(x, s);
    ring = true; // a waiting runner arms its timer for it
  }
  log::append(x, t, s, now);
  return process_record{};
}

/// An enqueue by a schedule moves the schedule on: its next due time is
/// the first after now (runs missed while no runner was up are one run).
caf::error advance_schedule(const tx& x, const transition& t, uint64_t now) {
  auto s = schedules::load(x, t.schedule);
  if (!s)
    return {}; // removed since, or not in a replayed log
  if (t.due < s->next_due)
    return make_error(errc::illegal_transition, "schedule \"" + t.schedule
                                                  + "\" already ran for "
                                                  + iso_time(t.due));
  auto expr = parse_cron(s->cron);
  s->next_due = expr ? next_cron_time(*expr, std::max(now, t.due)) : 0;
  s->last_fired = now;
  s->last_pid = t.pid;
  schedules::save(x, *s);
  return {};
}

/// Fills in what only the store knows (the queue head of a claim without
/// pid, the default timeout), asks the life cycle for the record after
/// `t`, and writes that record, its indexes and the log entry. A refusal
/// writes nothing.
caf::expected<process_record> apply_step(const tx& x, transition& t,
                                         uint64_t now, uint32_t default_timeout,
                                         bool& ring) {
  if (t.kind == transition_kind::schedule_add
      || t.kind == transition_kind::schedule_remove)
    return schedule_step(x, t, now, ring);
  if (t.kind == transition_kind::claim && t.pid.empty()) {
    queue::promote_due(x, now);
    auto head = queue::head(x);
    if (!head)
      return make_error(errc::queue_empty, "no queued process to claim");
    t.pid = std::move(*head);
  }
  if (t.kind == transition_kind::enqueue && t.spec.timeout == 0)
    // Logged as it takes effect, so that the record follows from the log
    // alone (replay).
    t.spec.timeout = default_timeout;
  if (t.kind == transition_kind::enqueue) {
    if (!t.schedule.empty())
      if (auto err = advance_schedule(x, t, now))
        return err;
    // A unique key held by a live process: that one is the answer.
    if (auto holder = keys::holder(x, t.spec.key))
      return std::move(*holder);
  }
  auto old = records::load(x, t.pid);
  auto before = old ? &*old : nullptr;
  if (t.kind == transition_kind::retry && old)
    if (auto holder = keys::holder(x, old->key); holder && holder->pid != t.pid)
      return make_error(errc::illegal_transition,
                        t.pid + ": cannot retry: its key \"" + old->key
                          + "\" is held by process " + holder->pid);
  auto rec = procman::next(before, t, now);
  if (!rec)
    return rec;
  if (t.kind == transition_kind::purge) {
    records::remove(x, *rec);
  } else {
    if (rec->status == process_status::queued && rec->queue_seq == 0)
      rec->queue_seq = queue::next_position(x);
    records::save(x, before, *rec, now);
  }
  log::append(x, t, *rec, now);
  ring = ring || wakes_runner(before, *rec);
  return rec;
}

} // namespace

/// Applies `t` in the transaction: a transition whose request key is
/// remembered is not applied again: the answer is the record of the
/// process its first application touched, and `repeated` is set. Sets
/// `ring` when the runner has new work.
caf::expected<process_record> apply(const tx& x, transition& t, uint64_t now,
                                    uint32_t default_timeout, bool& ring,
                                    bool& repeated) {
  repeated = false;
  if (t.request.empty())
    return apply_step(x, t, now, default_timeout, ring);
  if (auto pid = requests::remembered(x, t.request)) {
    repeated = true;
    auto rec = records::load(x, *pid);
    if (!rec)
      return make_error(errc::unknown_process, "no process " + *pid);
    return std::move(*rec);
  }
  auto rec = apply_step(x, t, now, default_timeout, ring);
  if (rec && !rec->pid.empty())
    requests::remember(x, t.request, rec->pid, now);
  return rec;
}

} // namespace procman::tables::transitions
