// Every typed actor interface of procman. Hosts talk only to the manager.
//
// Message flow inside a runner:
//
//   host/CLI --start/proceed/cancel--> manager --apply--> store
//   doorbell --wakeup--> supervisor --claim--> queue --claim--> store
//   supervisor --spawn--> process (one per active process)
//   process: posix_spawn procman-exec; child reports --apply--> store
//   store --event--> manager --event--> subscribers

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "procman/messages/fwd.hpp"
#include "procman/messages/requests.hpp"
#include "procman/messages/types.hpp"

namespace procman {

/// An actor interface that answers every request of `List` with the
/// request's reply type.
template <class List>
struct answers;

template <class... Rs>
struct answers<request_list<Rs...>> {
  using type = caf::typed_actor<
    typename caf::replies_to<Rs>::template with<typename Rs::reply>...>;
};

/// What the front door asks (messages/requests.hpp): every user operation.
using door_actor = answers<door_requests>::type;

// clang-format off

/// The single writer of one LMDB store; batches concurrent transitions
/// into one commit.
using store_actor = caf::typed_actor<
  /// Applies one transition durably; replies with the record after it.
  /// Errors: unknown_process, illegal_transition, not_interrupted,
  /// invalid_spec, invalid_json; storage_failure only after `drain` or
  /// once the store's commit_failure_policy gave up: before, a commit
  /// that fails for storage reasons (disk full) is kept and retried with
  /// backoff until it succeeds, and the reply waits.
  caf::replies_to<atom::apply, transition>::with<process_record>,
  /// As one `apply` each, in order, answered once all are committed: with
  /// the record after each that applied. A refused one is left out (the
  /// store logs it); the error only when they could not be committed.
  caf::replies_to<atom::apply, atom::flush, std::vector<transition>>
    ::with<std::vector<process_record>>,
  /// Applies the transitions in one commit: all that apply are written
  /// together or none is. Replies with the record after each that applied
  /// (a refused one is left out). Errors: a storage failure (nothing was
  /// written; not kept for a retry).
  caf::replies_to<atom::apply, std::vector<transition>>
    ::with<std::vector<process_record>>,
  /// Claims up to N queued processes for a runner, FIFO.
  caf::replies_to<atom::claim, std::string, uint32_t>
    ::with<std::vector<process_record>>,
  /// Reads one record. Errors: unknown_process.
  caf::replies_to<caf::get_atom, std::string>::with<process_record>,
  /// Lists records, newest first.
  caf::replies_to<atom::list, list_query>::with<std::vector<process_record>>,
  /// Live output of a running step's command: parked and committed with
  /// the next batch of transitions, or within
  /// `defaults::output_commit_interval_ms` when none comes; never a commit
  /// of its own per chunk. No reply; dropped when the process is gone.
  caf::reacts_to<atom::output, output_chunk>,
  /// The live output of a process kept after chunk N (0: all), with its
  /// status. Errors: unknown_process.
  caf::replies_to<atom::output, std::string, uint64_t>::with<output_log>,
  /// Internal: the output timer.
  caf::reacts_to<atom::output>,
  /// Sends (event, process_event) for every committed transition to the
  /// given actor until it terminates or unsubscribes.
  caf::reacts_to<atom::subscribe, caf::actor>,
  caf::reacts_to<atom::unsub, caf::actor>,
  /// Ends every process left `running` by a runner that is no longer alive
  /// (kind runner_lost) and purges records past retention; replies with
  /// how many processes it ended.
  caf::replies_to<atom::recover>::with<uint32_t>,
  /// Enqueues the runs of the schedules that are due (store::fire_schedules)
  /// and replies with how many, and when something next becomes due (the
  /// earliest delayed process or schedule, unix ms; 0: nothing waits).
  caf::replies_to<atom::fire>::with<uint32_t, uint64_t>,
  /// The recurring schedule of that name. Errors: unknown_schedule.
  caf::replies_to<atom::schedule, std::string>::with<schedule_record>,
  /// Every recurring schedule, by name.
  caf::replies_to<atom::schedule>::with<std::vector<schedule_record>>,
  /// Internal: commits the parked transitions.
  caf::reacts_to<atom::flush>,
  /// The runner stops: stop retrying failed commits and answer them (and
  /// any later failure) with the storage error.
  caf::reacts_to<atom::drain>>
  /// And the front door's requests, each carried out by its handler
  /// (door/handlers.hpp) on this store; the manager hands them on.
  ::extend_with<door_actor>;

/// The order in which queued processes run. Holds no records: the queue
/// lives in the store's queue index.
using queue_actor = caf::typed_actor<
  /// Takes up to N processes from the queue head for this runner.
  caf::replies_to<atom::claim, uint32_t>::with<std::vector<process_record>>>;

/// Spawns and watches procman-exec children; one per runner.
using supervisor_actor = caf::typed_actor<
  /// New work may be queued (doorbell, local start or proceed).
  caf::reacts_to<atom::wakeup>,
  /// Kill the child of a running process that is being cancelled.
  caf::reacts_to<atom::cancel, std::string>,
  /// Stop claiming; let children finish for the grace period, then kill.
  caf::reacts_to<atom::drain>,
  /// Re-read the records of active processes (a cancel may be pending).
  caf::reacts_to<atom::check>,
  /// A process actor is done (its final transition is committed).
  caf::reacts_to<atom::exec, std::string, process_status>,
  /// Counts: (active, claimed so far).
  caf::replies_to<atom::stats>::with<uint32_t, uint64_t>,
  /// The actor running a process here (diagnostics and tests).
  /// Errors: unknown_process when this runner does not run it.
  caf::replies_to<caf::get_atom, std::string>::with<caf::actor>,
  /// Internal: retry a claim that failed.
  caf::reacts_to<atom::claim>,
  /// A process actor's executor has exited: its slot is free, while its
  /// last transitions may still be on their way to the store (`exec`
  /// follows once they are committed).
  caf::reacts_to<atom::exited, std::string>,
  /// The transitions that end a process actor's run, for the store: the
  /// supervisor holds them until its next claim, which the store commits
  /// with them, or until defaults::hold_limit_ms. The store answers.
  caf::replies_to<atom::apply, atom::flush, std::vector<transition>>::with<
    std::vector<process_record>>,
  /// Internal: send the held ends of runs to the store now.
  caf::reacts_to<atom::flush>>;

/// The public face: what hosts, the CLI (door/door.hpp) and remote clients
/// use. Every request of the front door (messages/requests.hpp; the same
/// answer whichever way it comes), and subscriptions.
using manager_actor = door_actor::extend<
  /// Sends (event, process_event) to the actor for every state change of
  /// the process (all processes if the pid is empty) until it terminates
  /// or unsubscribes.
  caf::reacts_to<atom::subscribe, std::string, caf::actor>,
  caf::reacts_to<atom::unsub, std::string, caf::actor>,
  /// From the store: a committed transition.
  caf::reacts_to<atom::event, process_event>>;

/// A store node's work endpoint (docs/distribution.md): worker nodes join,
/// renew their lease, claim and report through it. Every request but the
/// join names the lease (its holder); one that is not current is refused
/// with lease_expired, so a worker that was declared lost cannot commit
/// late results.
using work_endpoint_actor = caf::typed_actor<
  /// A worker joins with its link actor (a node_link_actor, which hears
  /// wakeup and cancel); replies with its lease.
  caf::replies_to<atom::join, node_hello, caf::actor>::with<lease_grant>,
  /// Renews the lease. Errors: lease_expired.
  caf::replies_to<atom::heartbeat, std::string>::with<caf::ok_atom>,
  /// Claims up to N queued processes for the holder, FIFO.
  /// Errors: lease_expired, and the store's.
  caf::replies_to<atom::claim, std::string, uint32_t>
    ::with<std::vector<process_record>>,
  /// Applies a transition of a process the holder runs (`runner` is set to
  /// the holder). Errors: lease_expired (the lease is not current or does
  /// not hold the process), and the store's.
  caf::replies_to<atom::apply, std::string, transition>::with<process_record>,
  /// Reads a record (holder, pid). Errors: lease_expired, unknown_process.
  caf::replies_to<caf::get_atom, std::string, std::string>
    ::with<process_record>,
  /// The holder leaves; what it still holds ends as node_lost.
  caf::replies_to<atom::leave, std::string>::with<caf::ok_atom>,
  /// The store's fire (due schedules, and when something next becomes
  /// due), for a worker's supervisor. Errors: lease_expired, the store's.
  caf::replies_to<atom::fire, std::string>::with<uint32_t, uint64_t>,
  /// Live output of a process the holder runs; dropped unless the lease is
  /// current and holds the process.
  caf::reacts_to<atom::output, std::string, output_chunk>>;

/// What a store node publishes (`procman-runner --listen`): the manager's
/// interface, so that hosts and `procman --connect` reach it as they reach
/// a published manager, and the work endpoint's.
using node_gate_actor = manager_actor::extend_with<work_endpoint_actor>;

/// A worker node's side of its link to a store node: what the endpoint
/// pushes to it.
using node_link_actor = caf::typed_actor<
  /// New work may be queued.
  caf::reacts_to<atom::wakeup>,
  /// A cancel of a running process this node holds was requested.
  caf::reacts_to<atom::cancel, std::string>>;

// clang-format on

} // namespace procman
