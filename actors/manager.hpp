// The manager: the public face of an engine. Hosts start, inspect, proceed,
// cancel, list and subscribe through it, in-process or from another node.

#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "procman/messages/actors.hpp"

namespace procman {

struct manager_state {
  static inline const char* name = "manager";
  store_actor store;
  supervisor_actor supervisor;  ///< may be null: then nothing runs here
  /// pid ("" = every process) -> subscribers.
  std::unordered_map<std::string, std::vector<caf::actor>> subscribers;

  void wake(manager_actor::stateful_pointer<manager_state> self);

  /// Applies an enqueue or proceed from the front door (or answers its
  /// refusal), wakes the supervisor, replies the pid.
  caf::result<std::string>
  queue_work(manager_actor::stateful_pointer<manager_state> self,
             caf::expected<transition> t);

  /// Applies a cancel (or answers its refusal), has the supervisor kill a
  /// running process's child, replies with the record.
  caf::result<process_record>
  cancel(manager_actor::stateful_pointer<manager_state> self,
         caf::expected<transition> t);
};

manager_actor::behavior_type
manager(manager_actor::stateful_pointer<manager_state> self, store_actor store,
        supervisor_actor supervisor);

} // namespace procman
