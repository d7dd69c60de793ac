// The store actor: the one writer of a store in this OS process.

#pragma once

#include <memory>
#include <string>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/actors.hpp"
#include "persistence/store.hpp"

namespace procman {

struct store_state {
  static inline const char* name = "store";
  std::shared_ptr<procman::store> db;
  /// Transitions waiting for the next commit, with their promises.
  std::vector<transition> pending;
  std::vector<caf::typed_response_promise<process_record>> promises;
  bool flush_scheduled = false;
  std::vector<caf::actor> listeners;
  /// This runner's id: recovery never touches its own processes.
  std::string runner_id;

  /// Commits the parked transitions and then `extra` in one transaction,
  /// answers the parked requests and returns the results of `extra`.
  std::vector<caf::expected<process_record>>
  flush(std::vector<transition> extra = {});
};

/// Ends processes left running by dead runners and removes the lock files
/// of runners that are gone; shared by the store actor and start-up.
/// Returns how many processes it ended.
uint32_t recover_lost_processes(procman::store& db, const std::string& own_runner);

/// Spawn with `caf::detached`: LMDB commits block.
store_actor::behavior_type
store_service(store_actor::stateful_pointer<store_state> self,
              std::shared_ptr<procman::store> db, std::string runner_id);

} // namespace procman
