// The front door's handlers: one function per request
// (messages/requests.hpp) that carries it out against a store. Every store
// call of a user's operation is here, so that the same request gets the
// same answer whichever way it comes: the CLI and hosts without a runner
// call them directly on a store directory (door/door.hpp), a runner's store
// actor calls them for its manager (actors/store_service.cpp). The checks
// of a request before the store sees it are lifecycle/front_door.hpp's; the
// life cycle (lifecycle/machine.hpp) checks again what depends on the
// process's state.

#pragma once

#include <string>

#include "procman/messages/failure.hpp"
#include "procman/messages/requests.hpp"
#include "procman/messages/types.hpp"

namespace procman {

class store;

/// Where a handler runs: the store, and how a transition is applied there.
class door_site {
public:
  virtual ~door_site() = default;

  /// The store, for reads (and settings, purges: not transitions).
  virtual procman::store& db() = 0;

  /// Applies one transition durably; replies with the record after it.
  virtual outcome<process_record> apply(const transition& t) = 0;

  /// Whether `runner` (a record's runner) is gone, so that nothing will
  /// kill its process's child and confirm a cancel: then a cancel is
  /// recorded at once. A store node never says so: its own runner is
  /// alive, and its workers' leases end their processes when lost.
  virtual bool runner_gone(const std::string& runner) = 0;

  /// How many runners serve the store.
  virtual uint32_t runners() = 0;

  /// Adds what the runner answering knows to `m` (its slots); nothing
  /// where no runner answers.
  virtual void runtime(store_metrics&) {
    // nop
  }
};

/// A site on a store opened in this OS process with no runner of its own
/// (the CLI, a host that only enqueues): transitions are committed at once.
class local_site : public door_site {
public:
  explicit local_site(procman::store& db) : db_(db) {
    // nop
  }
  procman::store& db() override;
  outcome<process_record> apply(const transition& t) override;
  bool runner_gone(const std::string& runner) override;
  uint32_t runners() override;

private:
  procman::store& db_;
};

/// The transition a start enqueues (a store actor parks it, so that the
/// starts of a moment share a commit); the handler applies it.
outcome<transition> start_transition(const start_request& r);

/// The handler of each request (what it does and answers:
/// messages/requests.hpp): `outcome<R::reply> handle(door_site&,
/// const R&)`, declared here for every request of the list and defined in
/// handlers.cpp.
#define PROCMAN_DOOR_HANDLE(R)                                                 \
  outcome<R::reply> handle(door_site& s, const R& r);
PROCMAN_DOOR_REQUESTS(PROCMAN_DOOR_HANDLE)
#undef PROCMAN_DOOR_HANDLE

} // namespace procman
