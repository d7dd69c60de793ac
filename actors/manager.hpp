// The manager: the public face of an engine. Every request of the front
// door (messages/requests.hpp) comes here, from hosts in-process and from
// other nodes, and goes on to the store actor, whose handler carries it out
// (door/handlers.hpp); the manager then wakes the supervisor for queued
// work and has it kill the child of a process being cancelled. It also
// keeps the subscriptions to state changes.

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
  supervisor_actor supervisor; ///< may be null: then nothing runs here
  /// pid ("" = every process) -> subscribers.
  std::unordered_map<std::string, std::vector<caf::actor>> subscribers;
  /// Whether the store sends its events here: only while someone
  /// subscribed, so that a runner nobody watches sends none.
  bool listening = false;

  /// Drops emptied subscriber lists, and subscribes to the store's events
  /// or unsubscribes as the first subscriber comes or the last goes.
  void listen(manager_actor::stateful_pointer<manager_state> self);
};

manager_actor::behavior_type
manager(manager_actor::stateful_pointer<manager_state> self, store_actor store,
        supervisor_actor supervisor);

} // namespace procman
