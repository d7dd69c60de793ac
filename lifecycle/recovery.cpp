#include "procman/lifecycle/recovery.hpp"

#include <algorithm>

#include "procman/lifecycle/lost.hpp"
#include "procman/messages/defaults.hpp"

namespace procman {

std::vector<transition>
recover(const process_record& rec, const std::string& own_runner,
        const std::optional<std::unordered_set<std::string>>& started) {
  std::vector<transition> ts;
  // Claimed ahead and never started: no `start` committed, and not marked
  // as started before the runner died. None of its steps ran in this run.
  bool unstarted = rec.exec_pid == 0 && started && started->count(rec.pid) == 0;
  if (is_node_holder(rec.runner))
    // A worker node's lease that no store node renews any more (the store
    // node died); the worker ended its children when it lost it.
    ts.push_back(lease_ended_with_store(rec, own_runner));
  else if (unstarted)
    ts.push_back(runner_died_before_start(rec, own_runner));
  else
    ts.push_back(runner_died(rec, own_runner));
  if (unstarted)
    ts.push_back(requeue_unstarted(rec.pid, "runner", own_runner));
  return ts;
}

transition requeue_unstarted(const std::string& pid, std::string source,
                             std::string runner) {
  transition t;
  t.kind = transition_kind::retry;
  t.pid = pid;
  t.source = std::move(source);
  t.runner = std::move(runner);
  return t;
}

std::chrono::milliseconds
storage_retry_delay(std::chrono::milliseconds previous) {
  using std::chrono::milliseconds;
  if (previous.count() == 0)
    return milliseconds{defaults::storage_retry_first_ms};
  return std::min(previous * 2, milliseconds{defaults::storage_retry_max_ms});
}

} // namespace procman
