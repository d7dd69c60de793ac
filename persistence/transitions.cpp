#include "procman/persistence/transitions.hpp"

#include "procman/lifecycle/keys.hpp"
#include "procman/lifecycle/machine.hpp"
#include "procman/lifecycle/schedules.hpp"
#include "procman/lifecycle/timeouts.hpp"
#include "procman/messages/failure.hpp"
#include "procman/persistence/counters.hpp"
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
outcome<process_record> schedule_step(const tx& x, transition& t, uint64_t now,
                                      bool& ring) {
  auto old = schedules::load(x, t.schedule);
  schedule_record s;
  if (t.kind == transition_kind::schedule_remove) {
    if (!old)
      return make_failure(errc::unknown_schedule,
                          "no schedule \"" + t.schedule + "\"");
    schedules::remove(x, t.schedule);
    s = std::move(*old);
  } else {
    auto expr = check_schedule(t.schedule, t.cron, t.spec);
    if (!expr)
      return expr.error();
    s = added_schedule(t, *expr, old, now);
    schedules::save(x, s);
    ring = true; // a waiting runner arms its timer for it
  }
  log::append(x, t, s, now);
  return process_record{};
}

/// An enqueue by a schedule moves the schedule on: its next due time is
/// the first after now (runs missed while no runner was up are one run).
failure move_schedule_on(const tx& x, const transition& t, uint64_t now) {
  auto s = schedules::load(x, t.schedule);
  if (!s)
    return {}; // removed since, or not in a replayed log
  auto next = advance_schedule(std::move(*s), t, now);
  if (!next)
    return next.error();
  schedules::save(x, *next);
  return {};
}

/// Fills in what only the store knows (the queue head of a claim without
/// pid, the default timeout), asks the life cycle for the record after
/// `t`, and writes that record, its indexes and the log entry. A refusal
/// writes nothing.
outcome<process_record> apply_step(const tx& x, transition& t, uint64_t now,
                                   uint32_t default_timeout, bool& ring) {
  if (t.kind == transition_kind::schedule_add
      || t.kind == transition_kind::schedule_remove)
    return schedule_step(x, t, now, ring);
  if (t.kind == transition_kind::claim && t.pid.empty()) {
    queue::promote_due(x, now);
    auto head = queue::head(x);
    if (!head)
      return make_failure(errc::queue_empty, "no queued process to claim");
    t.pid = std::move(*head);
  }
  // Logged as it takes effect, so that the record follows from the log
  // alone (replay).
  apply_default_timeout(t, default_timeout);
  if (t.kind == transition_kind::enqueue) {
    if (!t.schedule.empty())
      if (auto err = move_schedule_on(x, t, now))
        return err;
    if (auto holder = keys::holder(x, t.spec.key);
        holder && answered_by_holder(t, *holder))
      return std::move(*holder);
  }
  auto old = records::load(x, t.pid);
  auto before = old ? &*old : nullptr;
  if (t.kind == transition_kind::retry && old)
    if (auto holder = keys::holder(x, old->key))
      if (auto f = check_retry_key(*old, holder->pid))
        return f;
  auto rec = procman::next(before, t, now);
  if (!rec)
    return rec;
  counters::applied(x, t, before, *rec, now);
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
outcome<process_record> apply(const tx& x, transition& t, uint64_t now,
                              uint32_t default_timeout, bool& ring,
                              bool& repeated) {
  repeated = false;
  if (t.request.empty())
    return apply_step(x, t, now, default_timeout, ring);
  if (auto pid = requests::remembered(x, t.request)) {
    repeated = true;
    auto rec = records::load(x, *pid);
    if (rec)
      return std::move(*rec);
    if (t.kind != transition_kind::purge)
      return make_failure(errc::unknown_process, "no process " + *pid);
    // A removal asked again: the first took the record away. The answer
    // names the process only (the store keeps no copy).
    process_record gone;
    gone.pid = *pid;
    return gone;
  }
  auto rec = apply_step(x, t, now, default_timeout, ring);
  if (rec && !rec->pid.empty())
    requests::remember(x, t.request, rec->pid, now);
  return rec;
}

} // namespace procman::tables::transitions
