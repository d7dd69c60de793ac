#include "procman/lifecycle/lost.hpp"

#include "procman/lifecycle/machine.hpp"

namespace procman {

std::string step_or_none(const std::string& step) {
  return step.empty() ? std::string{"none"} : step;
}

std::string node_of(const std::string& holder) {
  return holder.substr(0, holder.find('@'));
}

transition shut_down_before_start(const process_record& rec,
                                  const std::string& runner) {
  transition t;
  t.kind = transition_kind::fail;
  t.pid = rec.pid;
  t.source = "supervisor";
  t.runner = runner;
  t.error.kind = error_kind::runner_lost;
  if (rec.next_step < rec.steps.size())
    t.error.step = rec.steps[rec.next_step].name;
  t.error.message = "runner " + runner
                    + " shut down before the process started; no step "
                      "ran, queued again";
  return t;
}

transition actor_died(const process_record& rec, const std::string& runner,
                      const std::string& why) {
  auto t = lost_process(rec, error_kind::runner_lost, "supervisor", runner);
  t.error.message
    = "runner " + runner + ": the actor running the process died (" + why
      + ") at step " + step_or_none(t.error.step) + "; its executor was killed";
  return t;
}

transition runner_died(const process_record& rec,
                       const std::string& own_runner) {
  auto t = lost_process(rec, error_kind::runner_lost, "runner", own_runner);
  t.error.message = "runner " + rec.runner
                    + " died while the process was running; last completed "
                      "step: "
                    + step_or_none(last_completed_step(rec));
  return t;
}

transition runner_died_before_start(const process_record& rec,
                                    const std::string& own_runner) {
  auto t = lost_process(rec, error_kind::runner_lost, "runner", own_runner);
  t.error.message = "runner " + rec.runner
                    + " died before the process started (it was claimed "
                      "ahead); no step ran, queued again";
  return t;
}

transition lease_ended_with_store(const process_record& rec,
                                  const std::string& own_runner) {
  auto t = lost_process(rec, error_kind::node_lost, "runner", own_runner);
  t.error.message = "node " + node_of(rec.runner) + " lost: its lease "
                    + rec.runner
                    + " ended with its store node while the process was at "
                      "step "
                    + step_or_none(t.error.step);
  return t;
}

transition node_lost(const process_record& rec, const std::string& holder,
                     const std::string& why) {
  auto t = lost_process(rec, error_kind::node_lost, "endpoint", holder);
  t.error.message = "node " + node_of(holder) + " lost (" + why
                    + ") while the process was at step "
                    + step_or_none(t.error.step) + "; its lease " + holder
                    + " ended";
  return t;
}

std::string shut_down_while_running(const std::string& runner) {
  return "runner " + runner
         + " shut down before the process finished; its executor was killed "
           "after the grace period";
}

std::string executor_lease_ran_out(const std::string& runner) {
  return "the executor's lease ran out: runner " + runner
         + " did not renew it in time (it was stopped or hung, or lost its "
           "store node), so the executor killed itself and all it started";
}

} // namespace procman
