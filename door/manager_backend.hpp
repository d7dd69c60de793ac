// The front door's backend for the manager of an engine in this process
// (the runner's HTTP API, hosts that embed the engine): it sends the same
// request structs the local backend hands to its handlers (door/door.hpp).

#pragma once

#include <caf/actor_system.hpp>

#include "procman/door/door.hpp"
#include "procman/messages/actors.hpp"

namespace procman {

/// The manager of an engine in this process (`sys` must outlive the door).
/// Its requests wait for their answers; none is lost in-process.
door door_of_manager(caf::actor_system& sys, manager_actor mgr);

} // namespace procman
