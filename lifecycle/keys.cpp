#include "procman/lifecycle/keys.hpp"

namespace procman {

bool holds_key(const process_record& rec) {
  return !rec.key.empty()
         && (rec.status == process_status::queued
             || rec.status == process_status::held
             || rec.status == process_status::running
             || rec.status == process_status::interrupted);
}

bool answered_by_holder(const transition& t, const process_record& holder) {
  return t.kind == transition_kind::enqueue && !t.spec.key.empty()
         && holds_key(holder) && holder.key == t.spec.key;
}

failure check_retry_key(const process_record& rec,
                        const std::string& holder_pid) {
  if (holder_pid.empty() || holder_pid == rec.pid)
    return {};
  return failure{errc::illegal_transition,
                 rec.pid + ": cannot retry: its key \"" + rec.key
                   + "\" is held by process " + holder_pid};
}

} // namespace procman
