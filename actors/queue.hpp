// The queue: hands out queued processes in FIFO order to one runner. The
// order lives in the store's queue index (O(log n) per claim); this actor
// holds no records.

#pragma once

#include <string>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "procman/messages/actors.hpp"

namespace procman {

struct queue_state {
  static inline const char* name = "queue";
  store_actor store;
  std::string runner_id;
};

queue_actor::behavior_type
queue(queue_actor::stateful_pointer<queue_state> self, store_actor store,
      std::string runner_id);

} // namespace procman
