// The rules of lifecycle/machine.hpp, one function per kind of transition.
// Each starts from a copy of the current record, refuses before it changes
// anything, and returns the record after.

#include "procman/lifecycle/machine.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "procman/messages/failure.hpp"
#include "procman/messages/json.hpp"
#include "procman/messages/spec_check.hpp"

namespace procman {

namespace {

using tk = transition_kind;
using ps = process_status;

failure refuse(const transition& t, const process_record& rec) {
  return make_failure(errc::illegal_transition,
                      t.pid + ": cannot " + to_string(t.kind) + " a "
                        + to_string(rec.status) + " process");
}

/// Refuses a step index past the last step; gives the record a state for
/// every step (records of older procman versions may lack some).
failure check_step(const transition& t, process_record& rec) {
  if (t.step >= rec.steps.size())
    return make_failure(errc::invalid_argument,
                        t.pid + ": no step " + std::to_string(t.step)
                          + " (the process has "
                          + std::to_string(rec.steps.size()) + " steps)");
  if (rec.step_states.size() < rec.steps.size())
    rec.step_states.resize(rec.steps.size(), step_status::pending);
  if (rec.step_times.size() < rec.steps.size())
    rec.step_times.resize(rec.steps.size());
  return {};
}

/// Ends the time of step `i` at `now` if it started and has not ended.
void end_step_time(process_record& rec, size_t i, uint64_t now) {
  if (rec.step_times.size() < rec.steps.size())
    rec.step_times.resize(rec.steps.size());
  auto& st = rec.step_times[i];
  if (st.started_at != 0 && st.ended_at == 0)
    st.ended_at = now;
}

/// Ends the times of the steps that were still running when the process
/// stopped running (it ended, failed or was cancelled).
void end_step_times(process_record& rec, uint64_t now) {
  for (size_t i = 0; i < rec.steps.size(); ++i)
    end_step_time(rec, i, now);
}

/// The output of an interrupt or finish: JSON within the depth limit.
outcome<std::string> output_of(const transition& t) {
  if (t.output.empty())
    return std::string{"null"};
  if (auto v = parse_json(t.output); !v)
    return make_failure(errc::invalid_json,
                        json_error(t.pid + ": " + to_string(t.kind) + " output",
                                   v.error().context));
  return t.output;
}

void leave_running(process_record& rec) {
  rec.exec_pid = 0;
}

void end_as(process_record& rec, ps status, uint64_t now) {
  end_step_times(rec, now);
  rec.status = status;
  rec.finished_at = now;
  rec.queue_seq = 0;
  leave_running(rec);
}

outcome<process_record> enqueue(const process_record* current,
                                const transition& t, uint64_t now) {
  auto spec = t.spec;
  if (auto f = check_spec(spec))
    return f;
  if (!valid_pid(t.pid))
    return make_failure(errc::invalid_argument,
                        "invalid pid \"" + t.pid
                          + "\": expected 32 lowercase hex characters");
  if (current != nullptr)
    return refuse(t, *current);
  process_record rec;
  rec.pid = t.pid;
  rec.status = ps::queued;
  rec.created_at = now;
  rec.timeout = spec.timeout;
  rec.steps = std::move(spec.steps);
  rec.step_states.assign(rec.steps.size(), step_status::pending);
  rec.step_times.assign(rec.steps.size(), step_time{});
  rec.data = std::move(spec.data);
  rec.priority = spec.priority;
  rec.not_before = spec.not_before;
  rec.key = std::move(spec.key);
  rec.retry = spec.retry;
  rec.schedule = t.schedule;
  return rec;
}

failure claim(const transition& t, process_record& rec, uint64_t now) {
  if (rec.status != ps::queued)
    return refuse(t, rec);
  rec.status = ps::running;
  rec.runner = t.runner;
  rec.runs += 1;
  if (rec.started_at == 0)
    rec.started_at = now;
  rec.step_states.resize(rec.steps.size(), step_status::pending);
  rec.step_times.resize(rec.steps.size());
  for (size_t i = rec.next_step; i < rec.step_states.size(); ++i) {
    rec.step_states[i] = step_status::pending;
    rec.step_times[i] = step_time{};
  }
  rec.error = error_info{};
  rec.progress = progress_info{};
  rec.exec_pid = 0;
  rec.queue_seq = 0;
  rec.not_before = 0;
  rec.cancel_requested = false;
  return {};
}

failure start(const transition& t, process_record& rec) {
  if (rec.status != ps::running)
    return refuse(t, rec);
  rec.exec_pid = t.exec_pid;
  if (!t.runner.empty())
    rec.runner = t.runner;
  return {};
}

failure step_event(const transition& t, process_record& rec, uint64_t now) {
  if (rec.status != ps::running)
    return refuse(t, rec);
  if (auto err = check_step(t, rec))
    return err;
  if (t.kind == tk::step_started) {
    rec.step_states[t.step] = step_status::running;
    rec.step_times[t.step] = step_time{now, 0};
    rec.progress = progress_info{};
  } else {
    rec.step_states[t.step] = step_status::completed;
    end_step_time(rec, t.step, now);
    rec.last_completed = static_cast<int32_t>(t.step);
    if (!t.output.empty()) {
      // The output is the next step's input: a later run (a retry)
      // starts there instead of at the first step.
      auto out = output_of(t);
      if (!out)
        return out.error();
      rec.data = std::move(*out);
      rec.next_step = t.step + 1;
    }
  }
  return {};
}

failure progress(const transition& t, process_record& rec) {
  if (rec.status != ps::running)
    return refuse(t, rec);
  rec.progress = t.progress;
  return {};
}

failure interrupt(const transition& t, process_record& rec, uint64_t now) {
  if (rec.status != ps::running)
    return refuse(t, rec);
  if (auto err = check_step(t, rec))
    return err;
  auto out = output_of(t);
  if (!out)
    return out.error();
  rec.status = ps::interrupted;
  rec.output = *out;
  rec.data = std::move(*out);
  rec.next_step = t.step + 1;
  rec.step_states[t.step] = step_status::completed;
  rec.last_completed = static_cast<int32_t>(t.step);
  end_step_times(rec, now);
  leave_running(rec);
  return {};
}

failure proceed(const transition& t, process_record& rec) {
  if (rec.status != ps::interrupted)
    return make_failure(errc::not_interrupted,
                        t.pid + ": cannot proceed a " + to_string(rec.status)
                          + " process; only an interrupted one can be "
                            "proceeded");
  auto extra = read_proceed_data(t.pid, t.data);
  if (!extra)
    return extra.error();
  auto base = parse_json(rec.output, defaults::max_wrapped_json_depth);
  // An output that is not an object counts as {}.
  rec.data = dump(merge_objects(base ? *base : boost::json::value{}, *extra));
  rec.status = ps::queued;
  rec.queue_seq = 0; // the store gives it a place in the queue
  rec.progress = progress_info{};
  return {};
}

failure finish(const transition& t, process_record& rec, uint64_t now) {
  if (rec.status != ps::running)
    return refuse(t, rec);
  auto out = output_of(t);
  if (!out)
    return out.error();
  rec.output = std::move(*out);
  end_as(rec, ps::finished, now);
  return {};
}

/// Keeps the error of a failed attempt (the latest ones only).
void add_attempt_error(process_record& rec, const error_info& err,
                       uint64_t now) {
  rec.attempts += 1;
  rec.attempt_errors.push_back(attempt_error{rec.attempts, now, err});
  if (rec.attempt_errors.size() > defaults::max_attempt_errors)
    rec.attempt_errors.erase(rec.attempt_errors.begin());
}

failure fail(const transition& t, process_record& rec, uint64_t now) {
  if (rec.status != ps::running && rec.status != ps::queued)
    return refuse(t, rec);
  rec.error = t.error;
  if (!t.error.step.empty()) {
    rec.step_states.resize(rec.steps.size(), step_status::pending);
    for (size_t i = 0; i < rec.steps.size(); ++i)
      if (rec.steps[i].name == t.error.step)
        rec.step_states[i] = step_status::failed;
  }
  if (rec.retry.max == 0) {
    end_as(rec, ps::error, now);
    return {};
  }
  add_attempt_error(rec, t.error, now);
  if (rec.attempts > rec.retry.max || !retried(rec.retry, t.error.kind)) {
    end_as(rec, ps::error, now);
    return {};
  }
  // Queued again after the backoff; the next run starts at `next_step`
  // with `data`, the input of the first step that did not complete.
  rec.status = ps::queued;
  rec.not_before = now + retry_delay(rec.retry, rec.attempts);
  end_step_times(rec, now);
  rec.queue_seq = 0; // the store gives it a place in the queue
  rec.progress = progress_info{};
  leave_running(rec);
  return {};
}

failure retry(const transition& t, process_record& rec) {
  if (rec.status != ps::error)
    return refuse(t, rec);
  if (rec.retry.max == 0)
    // Without a policy no attempt was counted yet.
    add_attempt_error(rec, rec.error, rec.finished_at);
  rec.status = ps::queued;
  rec.finished_at = 0;
  rec.not_before = 0;
  rec.queue_seq = 0;
  rec.error = error_info{};
  rec.progress = progress_info{};
  return {};
}

failure cancel(const transition& t, process_record& rec, uint64_t now) {
  if (is_terminal(rec.status))
    return make_failure(errc::already_terminal, t.pid + ": cannot cancel a "
                                                  + to_string(rec.status)
                                                  + " process");
  if (rec.status == ps::running && !rec.cancel_requested) {
    // The runner holding it stops the executor, then cancels again.
    rec.cancel_requested = true;
    return {};
  }
  // A step cut short by the cancel did not complete: it was cancelled.
  for (auto& st : rec.step_states)
    if (st == step_status::running)
      st = step_status::cancelled;
  end_as(rec, ps::cancelled, now);
  return {};
}

/// Hold keeps a queued (or delayed) process from being claimed; release
/// puts it back in its place (its queue number is kept).
failure hold(const transition& t, process_record& rec) {
  if (rec.status != ps::queued)
    return make_failure(errc::illegal_transition,
                        t.pid + ": cannot hold a " + to_string(rec.status)
                          + " process; only a queued or delayed one can be "
                            "held");
  rec.status = ps::held;
  return {};
}

failure release(const transition& t, process_record& rec) {
  if (rec.status != ps::held)
    return make_failure(errc::illegal_transition,
                        t.pid + ": cannot release a " + to_string(rec.status)
                          + " process; only a held one can be released");
  rec.status = ps::queued;
  return {};
}

} // namespace

outcome<boost::json::object> read_proceed_data(const std::string& pid,
                                               const std::string& data) {
  if (data.empty())
    return boost::json::object{};
  auto v = parse_user_json(data, pid + ": proceed data");
  if (!v)
    return v.error();
  if (!v->is_object())
    return make_failure(errc::invalid_json,
                        pid + ": proceed data must be a JSON object");
  return std::move(v->get_object());
}

bool retried(const retry_policy& p, error_kind k) {
  return k != error_kind::spec && k != error_kind::output
         && (p.on & retry_bit(k)) != 0;
}

uint64_t retry_delay(const retry_policy& p, uint32_t attempt) {
  if (p.backoff == backoff_kind::fixed || attempt <= 1)
    return std::min(p.initial_ms, std::max(p.initial_ms, p.max_delay_ms));
  uint64_t d = p.initial_ms;
  for (uint32_t i = 1; i < attempt && d < p.max_delay_ms; ++i)
    d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
  return std::min(d, std::max(p.initial_ms, p.max_delay_ms));
}

transition lost_process(const process_record& rec, error_kind kind,
                        std::string source, std::string runner) {
  transition t;
  t.kind = transition_kind::fail;
  t.pid = rec.pid;
  t.source = std::move(source);
  t.runner = std::move(runner);
  t.error.kind = kind;
  auto running_step = static_cast<size_t>(rec.last_completed + 1);
  if (running_step < rec.steps.size())
    t.error.step = rec.steps[running_step].name;
  return t;
}

bool valid_pid(const std::string& pid) {
  if (pid.size() != 32)
    return false;
  return std::all_of(pid.begin(), pid.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

outcome<process_record> next(const process_record* current, const transition& t,
                             uint64_t now) {
  if (t.kind == tk::enqueue) {
    auto rec = enqueue(current, t, now);
    if (rec)
      rec->updated_at = now;
    return rec;
  }
  if (current == nullptr)
    return make_failure(errc::unknown_process, "no process " + t.pid);
  auto rec = *current;
  failure err;
  switch (t.kind) {
    case tk::enqueue:
      break; // above
    case tk::claim:
      err = claim(t, rec, now);
      break;
    case tk::start:
      err = start(t, rec);
      break;
    case tk::step_started:
    case tk::step_completed:
      err = step_event(t, rec, now);
      break;
    case tk::progress:
      err = progress(t, rec);
      break;
    case tk::interrupt:
      err = interrupt(t, rec, now);
      break;
    case tk::proceed:
      err = proceed(t, rec);
      break;
    case tk::finish:
      err = finish(t, rec, now);
      break;
    case tk::fail:
      err = fail(t, rec, now);
      break;
    case tk::cancel:
      err = cancel(t, rec, now);
      break;
    case tk::retry:
      err = retry(t, rec);
      break;
    case tk::hold:
      err = hold(t, rec);
      break;
    case tk::release:
      err = release(t, rec);
      break;
    case tk::schedule_add:
    case tk::schedule_remove:
      return make_failure(errc::invalid_argument,
                          to_string(t.kind) + " is not a process's transition");
    case tk::purge:
      // The record goes as it is; the store removes it.
      if (!is_terminal(rec.status))
        return refuse(t, rec);
      return rec;
  }
  if (err)
    return err;
  rec.updated_at = now;
  return rec;
}

bool wakes_runner(const process_record* before, const process_record& after) {
  auto queued = [](const process_record* x) {
    return x != nullptr && x->status == process_status::queued;
  };
  if (queued(&after) && !queued(before))
    return true;
  return after.cancel_requested
         && (before == nullptr || !before->cancel_requested);
}

} // namespace procman
