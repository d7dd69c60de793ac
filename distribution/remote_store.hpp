// A worker node's store and queue: one actor with the typed interfaces of
// the store and the queue, so that the supervisor and the process actors
// run on a worker node as they run beside a store, while every claim, read
// and transition goes to the store node's work endpoint under the worker's
// lease (docs/distribution.md).

#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "procman/messages/actors.hpp"

namespace procman {

// clang-format off
using remote_store_actor = store_actor::extend_with<queue_actor>::extend<
  /// The lease ended (the store node was lost, or it refused a renewal):
  /// every request waiting for the endpoint, and every later one, fails
  /// with lease_expired and this reason.
  caf::reacts_to<atom::kill, std::string>>;
// clang-format on

struct remote_store_state {
  static inline const char* name = "remote-store";
  work_endpoint_actor endpoint;
  std::string holder;
  /// Requests forwarded and not yet answered, by a number of our own: a
  /// connection that is lost never answers them.
  std::unordered_map<uint64_t, caf::typed_response_promise<process_record>>
    records;
  std::unordered_map<uint64_t,
                     caf::typed_response_promise<std::vector<process_record>>>
    claims;
  std::unordered_map<uint64_t, caf::typed_response_promise<uint32_t, uint64_t>>
    fires;
  /// The transitions of batches sent on, each with what takes its answer.
  std::unordered_map<uint64_t,
                     std::function<void(caf::expected<process_record>)>>
    parts;
  uint64_t next_id = 0;
  bool dead = false;
  std::string why; ///< why the lease ended

  caf::error ended() const;
};

remote_store_actor::behavior_type
remote_store(remote_store_actor::stateful_pointer<remote_store_state> self,
             work_endpoint_actor endpoint, std::string holder);

} // namespace procman
