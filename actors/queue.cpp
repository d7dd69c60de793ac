#include "procman/actors/queue.hpp"

namespace procman {

queue_actor::behavior_type
queue(queue_actor::stateful_pointer<queue_state> self, store_actor store,
      std::string runner_id) {
  self->state.store = std::move(store);
  self->state.runner_id = std::move(runner_id);
  return {
    [self](atom::claim, uint32_t n) {
      return self->delegate(self->state.store, atom::claim_v,
                            self->state.runner_id, n);
    },
  };
}

} // namespace procman
