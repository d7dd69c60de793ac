// The front door's backends that send each request to a manager actor
// (door/remote_backend.cpp over the network, door/manager_backend.cpp in
// this process): what they share.

#pragma once

#include <utility>

#include "procman/door/door.hpp"
#include "procman/messages/error.hpp"

namespace procman {

/// A backend that sends each request to a manager: `Derived::ask`.
template <class Derived>
class asking_backend : public door_backend {
public:
#define PROCMAN_DOOR_CALL(R)                                                   \
  outcome<R::reply> call(R r) override {                                       \
    return to_outcome(static_cast<Derived*>(this)->ask(std::move(r)));         \
  }
  PROCMAN_DOOR_REQUESTS(PROCMAN_DOOR_CALL)
#undef PROCMAN_DOOR_CALL
};

} // namespace procman
