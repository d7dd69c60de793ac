#include "procman/lifecycle/reports.hpp"

#include <cstring>

#include <boost/json/serialize.hpp>

#include "procman/lifecycle/lost.hpp"
#include "procman/platform/paths.hpp"

namespace procman {

namespace {

std::string step_name(const std::vector<step_spec>& steps, uint32_t idx) {
  return idx < steps.size() ? steps[idx].name : std::string{};
}

} // namespace

std::optional<transition>
report_transition(executor_report r, uint32_t current_step,
                  const std::vector<step_spec>& steps) {
  using tk = transition_kind;
  auto step = r.step.value_or(current_step);
  transition t;
  switch (r.event) {
    case report_event::step_started:
      t.kind = tk::step_started;
      t.step = step;
      return t;
    case report_event::step_completed:
      t.kind = tk::step_completed;
      t.step = step;
      // The next step's input: a retry resumes there.
      if (!r.output.is_null())
        t.output = boost::json::serialize(r.output);
      return t;
    case report_event::progress:
      t.kind = tk::progress;
      t.step = step;
      t.progress.step = step_name(steps, step);
      t.progress.percent = r.percent;
      t.progress.message = std::move(r.message);
      return t;
    case report_event::finished:
      t.kind = tk::finish;
      t.output = boost::json::serialize(r.output);
      return t;
    case report_event::interrupted:
      t.kind = tk::interrupt;
      t.step = step;
      t.output = boost::json::serialize(r.output);
      return t;
    case report_event::error:
      t.kind = tk::fail;
      t.error = std::move(r.error);
      return t;
    default:
      return std::nullopt;
  }
}

bool may_hold(const transition& t, bool acks, size_t steps) {
  if (t.kind == transition_kind::step_started)
    return true;
  // The executor waits for the acknowledgement of every step but the last:
  // that completion must be durable now.
  if (t.kind == transition_kind::step_completed)
    return !acks || t.step + 1 >= steps;
  return false;
}

bool ends_run(transition_kind k) {
  return k == transition_kind::finish || k == transition_kind::interrupt
         || k == transition_kind::fail;
}

std::optional<transition> exit_transition(executor_exit x) {
  if (x.final_seen && x.killed != kill_reason::garbage)
    return std::nullopt;
  transition t;
  t.error.step = std::move(x.step);
  t.error.exit_code = x.code;
  t.error.signal = x.signal;
  t.error.stderr_tail = std::move(x.stderr_tail);
  switch (x.killed) {
    case kill_reason::timeout:
      t.kind = transition_kind::fail;
      t.error.kind = error_kind::timeout;
      t.error.message = "process timed out after " + std::to_string(x.timeout)
                        + " s; its executor and commands were killed";
      break;
    case kill_reason::cancel:
      t.kind = transition_kind::cancel;
      break;
    case kill_reason::shutdown:
      t.kind = transition_kind::fail;
      t.error.kind = error_kind::runner_lost;
      t.error.message = shut_down_while_running(x.runner);
      break;
    case kill_reason::garbage:
      t.kind = transition_kind::fail;
      t.error.kind = error_kind::crash;
      t.error.message = "executor wrote garbage on its report channel: "
                        + x.garbage;
      t.garbage = std::move(x.garbage);
      break;
    case kill_reason::none:
      t.kind = transition_kind::fail;
      t.error.kind = error_kind::crash;
      if (x.lease_lapsed) {
        // The runner was not scheduled (stopped, hung) or, on a worker
        // node, its store node went silent: nobody watched the step.
        t.error.kind = error_kind::runner_lost;
        t.error.message = executor_lease_ran_out(x.runner);
      } else if (x.signal != 0) {
        t.error.message = "executor was killed by "
                          + platform::signal_name(x.signal)
                          + " without a result";
      } else {
        t.error.message = "executor exited with code " + std::to_string(x.code)
                          + " without a result";
      }
      break;
  }
  return t;
}

transition spawn_failure(std::string step, std::string exec_path,
                         int spawn_errno, const std::string& error) {
  transition t;
  t.kind = transition_kind::fail;
  t.error.kind = error_kind::crash;
  t.error.step = std::move(step);
  t.exec_path = std::move(exec_path);
  t.spawn_errno = spawn_errno;
  t.error.message = "cannot start executor " + t.exec_path + ": "
                    + (spawn_errno != 0 ? strerror(spawn_errno) : error);
  return t;
}

} // namespace procman
