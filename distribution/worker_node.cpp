// The link of a worker node to its store node:
//
//   connecting --connected, joined--> joined (a session: a remote store and
//      ^                                |      a supervisor under the lease;
//      |                                |      heartbeats renew the lease)
//      | backoff                        | connection closed, lease refused,
//      |                                | no renewal confirmed for the
//      |                                | executors' lease
//      |                                v
//      +--- supervisor ended <---- losing: every child killed at once, the
//                                  remote store fails what waits, the
//                                  supervisor drains without grace
//
//   drain: the supervisor drains with the grace period; when it has ended,
//   the node leaves (the endpoint ends the lease) and the link quits.
//
// The executors' leases (docs/distribution.md, "Guarantees"): each renewal
// of the node's lease that the store node confirms moves the cap of every
// executor's lease to when that renewal was sent plus the executors' lease
// the store node granted (lease_grant::exec_lease_ms). Executors end
// themselves at that cap, whatever this process does meanwhile (stopped,
// hung, cut off), and that is before the store node can declare this node
// lost: the store node heard the renewal after it was sent.

#include "procman/distribution/worker_node.hpp"

#include <csignal>
#include <thread>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <unistd.h>

#include "procman/actors/supervisor.hpp"
#include "procman/children/child_service.hpp"
#include "procman/distribution/remote_store.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/persistence/file_lock.hpp"
#include "procman/platform/system.hpp"
#include "procman/protocol/executor_lease.hpp"
#include "procman/remote/remote.hpp"

namespace procman {

namespace {

using clock = std::chrono::steady_clock;

/// How often the supervisor re-reads its processes' records (a cancel
/// requested on the store's machine) and looks for work.
constexpr auto tick_interval
  = std::chrono::milliseconds(defaults::record_check_interval_ms);
/// How long a leaving node waits for the store node's answer.
constexpr auto leave_timeout = std::chrono::seconds(defaults::leave_timeout_s);

// clang-format off
using worker_link_actor = node_link_actor::extend<
  /// Internal: connect and join.
  caf::reacts_to<atom::join>,
  /// Internal: renew the lease of session N.
  caf::reacts_to<atom::heartbeat, uint64_t>,
  /// Internal: every second.
  caf::reacts_to<caf::tick_atom>,
  /// Stop claiming, let children finish for the grace, leave; again: now.
  caf::reacts_to<atom::drain>>;
// clang-format on

struct worker_link_state {
  static inline const char* name = "worker-link";
  worker_options opts;
  std::shared_ptr<child_service> children;
  node_hello hello;
  std::string where; ///< HOST:PORT

  // -- the session (while joined) ---------------------------------------------
  work_endpoint_actor endpoint;
  lease_grant grant;
  remote_store_actor store;
  supervisor_actor supervisor;
  /// When the last renewal the store node confirmed was sent (the join's
  /// request counts as the first).
  clock::time_point last_renewed;
  /// How long the executors live after it (the grant's exec_lease_ms).
  std::chrono::milliseconds exec_lease{0};
  uint64_t session = 0;
  bool joined = false;

  bool connecting = false;
  bool draining = false;
  bool leaving = false;
  std::chrono::milliseconds backoff{0};
  uint64_t failed_attempts = 0;
  std::string last_failure;

  using pointer = worker_link_actor::stateful_pointer<worker_link_state>;

  void connect(pointer self);
  void failed(pointer self, const std::string& why);
  void start_session(pointer self, lease_grant g, clock::time_point sent,
                     int64_t sent_lease_clock);
  /// The store node confirmed a renewal sent at `sent` (lease_clock_ms():
  /// `sent_lease_clock`): the executors may live `exec_lease` after it.
  void renewed(clock::time_point sent, int64_t sent_lease_clock);
  /// Ends the session when no renewal was confirmed for the executors'
  /// lease: they have ended themselves by now, or are ending.
  void check_fence(pointer self);
  void lose(pointer self, const std::string& why);
  void supervisor_ended(pointer self);
  /// Ends the link once nothing runs and the lease is given back.
  void finish(pointer self);
};

void worker_link_state::connect(pointer self) {
  if (draining)
    return finish(self);
  if (connecting || joined || supervisor)
    return;
  connecting = true;
  auto& sys = self->system();
  self
    ->request(connector(sys), opts.connect_timeout, caf::connect_atom_v,
              opts.host, opts.port)
    .then(
      [self](caf::node_id&, caf::strong_actor_ptr& ptr,
             std::set<std::string>& ifs) {
        auto& st = self->state;
        if (st.draining) {
          st.connecting = false;
          return st.finish(self);
        }
        if (!ptr || !self->system().assignable<work_endpoint_actor>(ifs))
          return st.failed(self,
                           "no work endpoint is published there (a runner "
                           "with --publish serves only its manager: start "
                           "the store node with --listen), or the nodes run "
                           "different procman versions");
        auto ep = caf::actor_cast<work_endpoint_actor>(std::move(ptr));
        self->monitor(ep);
        st.endpoint = ep;
        // The store node's lease starts when it hears the join, after this.
        auto sent = clock::now();
        auto sent_lease_clock = lease_clock_ms();
        self
          ->request(ep, st.opts.connect_timeout, atom::join_v, st.hello,
                    caf::actor_cast<caf::actor>(self))
          .then(
            [self, sent, sent_lease_clock](lease_grant& g) {
              self->state.start_session(self, g, sent, sent_lease_clock);
            },
            [self](caf::error& err) {
              auto& st = self->state;
              self->demonitor(st.endpoint.address());
              st.endpoint = nullptr;
              st.failed(self, "the store node refused to let this node join: "
                                + connect_failure_reason(self->system(), err));
            });
      },
      [self](caf::error& err) {
        self->state.failed(self, connect_failure_reason(self->system(), err));
      });
}

void worker_link_state::failed(pointer self, const std::string& why) {
  connecting = false;
  if (draining)
    return finish(self);
  backoff = backoff.count() == 0
              ? std::chrono::milliseconds(defaults::reconnect_first_ms)
              : std::min(backoff * 2,
                         std::chrono::milliseconds(defaults::reconnect_max_ms));
  // One line per reason: a store node that stays away does not fill the log.
  if (++failed_attempts == 1 || why != last_failure)
    log_error("", "cannot join the store node at " + where + ": " + why
                    + "; trying again (backoff up to "
                    + std::to_string(defaults::reconnect_max_ms / 1000)
                    + " s)");
  last_failure = why;
  self->delayed_send(self, backoff, atom::join_v);
}

void worker_link_state::renewed(clock::time_point sent,
                                int64_t sent_lease_clock) {
  last_renewed = std::max(last_renewed, sent);
  children->cap_leases(sent_lease_clock + exec_lease.count());
}

void worker_link_state::check_fence(pointer self) {
  if (joined && clock::now() - last_renewed > exec_lease)
    lose(self, "no renewal of the lease was confirmed for "
                 + std::to_string(exec_lease.count())
                 + " ms; the executors' leases ran out");
}

void worker_link_state::start_session(pointer self, lease_grant g,
                                      clock::time_point sent,
                                      int64_t sent_lease_clock) {
  connecting = false;
  backoff = std::chrono::milliseconds{0};
  failed_attempts = 0;
  last_failure.clear();
  grant = std::move(g);
  joined = true;
  ++session;
  auto cfg = std::make_shared<exec_config>();
  cfg->exec_path = opts.exec.exec_path;
  cfg->script_args = opts.exec.script_args;
  cfg->step_libs = opts.exec.step_libs;
  cfg->runner_id = grant.holder;
  cfg->default_timeout = grant.default_timeout;
  cfg->output_events = grant.output_events;
  cfg->children = children;
  // Executors started under this lease hold leases capped by its renewals.
  exec_lease = std::chrono::milliseconds(
    grant.exec_lease_ms > 0 ? grant.exec_lease_ms : grant.lease_ms / 2);
  children->use_leases(exec_lease);
  last_renewed = sent;
  renewed(sent, sent_lease_clock);
  store = self->spawn(remote_store, endpoint, grant.holder);
  supervisor_options so;
  so.parallel = opts.exec.parallel;
  so.wait = true;
  so.grace_seconds = opts.exec.grace_seconds;
  // Claimed-ahead records of a lost node would end node_lost without
  // having run: a worker holds only what it runs.
  so.claim_ahead = 0;
  so.claim_ahead_max = 0;
  supervisor = self->spawn(procman::supervisor, so,
                           caf::actor_cast<queue_actor>(store),
                           caf::actor_cast<store_actor>(store),
                           std::shared_ptr<const exec_config>(cfg));
  self->monitor(supervisor);
  self->delayed_send(self, std::chrono::milliseconds(grant.heartbeat_ms),
                     atom::heartbeat_v, session);
  log_info("", "joined the store node at " + where + " with "
                 + std::to_string(opts.exec.parallel) + " slots; lease "
                 + grant.holder + " (" + std::to_string(grant.lease_ms / 1000.0)
                 + " s; executors' lease "
                 + std::to_string(exec_lease.count() / 1000.0) + " s)");
  if (opts.on_joined)
    opts.on_joined(where);
}

void worker_link_state::lose(pointer self, const std::string& why) {
  if (!joined)
    return;
  joined = false;
  auto running = children->active();
  log_error("", "lost the store node at " + where + " (" + why + "): killing "
                  + std::to_string(running)
                  + " children at once; the store "
                    "node ends their processes as node_lost");
  // Nothing runs unobserved: every executor, with its tree and cgroup.
  children->signal_all(SIGKILL);
  if (store)
    self->send(store, atom::kill_v, why);
  if (supervisor) {
    // Drain without grace: each process actor finds its child dead and ends.
    self->send(supervisor, atom::drain_v);
    self->send(supervisor, atom::drain_v);
  }
  if (endpoint) {
    self->demonitor(endpoint.address());
    endpoint = nullptr;
  }
}

void worker_link_state::supervisor_ended(pointer self) {
  supervisor = nullptr;
  if (joined && !draining)
    lose(self, "its supervisor ended");
  if (store) {
    self->send_exit(store, caf::exit_reason::user_shutdown);
    store = nullptr;
  }
  if (joined) {
    // Drained: every process this node held is recorded; give the lease
    // back.
    joined = false;
    leaving = true;
    self->request(endpoint, leave_timeout, atom::leave_v, grant.holder)
      .then([self](caf::ok_atom) { self->state.finish(self); },
            [self](const caf::error&) { self->state.finish(self); });
    return;
  }
  if (draining)
    return finish(self);
  auto delay = backoff.count() == 0
                 ? std::chrono::milliseconds(defaults::reconnect_first_ms)
                 : backoff;
  self->delayed_send(self, delay, atom::join_v);
}

void worker_link_state::finish(pointer self) {
  if (supervisor || connecting)
    return; // the supervisor's end, or the connect's answer, comes back here
  log_info("", "worker node " + hello.node_id + " done");
  self->quit();
}

worker_link_actor::behavior_type
worker_link(worker_link_state::pointer self, worker_options opts,
            std::shared_ptr<child_service> children, node_hello hello) {
  auto& st = self->state;
  st.where = opts.host + ":" + std::to_string(opts.port);
  st.opts = std::move(opts);
  st.children = std::move(children);
  st.hello = std::move(hello);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& st = self->state;
    if (st.supervisor && dm.source == st.supervisor.address())
      return st.supervisor_ended(self);
    if (st.endpoint && dm.source == st.endpoint.address())
      st.lose(self,
              "the connection closed: " + self->system().render(dm.reason));
  });
  self->send(self, atom::join_v);
  self->delayed_send(self, tick_interval, caf::tick_atom_v);
  return {
    [self](atom::wakeup) {
      if (self->state.joined)
        self->send(self->state.supervisor, atom::wakeup_v);
    },
    [self](atom::cancel, const std::string& pid) {
      if (self->state.joined)
        self->send(self->state.supervisor, atom::cancel_v, pid);
    },
    [self](atom::join) { self->state.connect(self); },
    [self](atom::heartbeat, uint64_t session) {
      auto& st = self->state;
      if (!st.joined || session != st.session)
        return;
      st.check_fence(self);
      if (!st.joined)
        return;
      auto sent = clock::now();
      auto sent_lease_clock = lease_clock_ms();
      self
        ->request(st.endpoint, std::chrono::milliseconds(st.grant.lease_ms),
                  atom::heartbeat_v, st.grant.holder)
        .then(
          [self, session, sent, sent_lease_clock](caf::ok_atom) {
            auto& st = self->state;
            if (st.joined && session == st.session)
              st.renewed(sent, sent_lease_clock);
          },
          [self, session](const caf::error& err) {
            auto& st = self->state;
            // A late answer says nothing: the fence above acts on time.
            if (st.joined && session == st.session
                && is(err, errc::lease_expired))
              st.lose(self, render(err));
          });
      self->delayed_send(self, std::chrono::milliseconds(st.grant.heartbeat_ms),
                         atom::heartbeat_v, session);
    },
    [self](caf::tick_atom) {
      auto& st = self->state;
      st.check_fence(self);
      if (st.joined) {
        self->send(st.supervisor, atom::check_v);
        // Work enqueued on the store's machine by a client that wrote the
        // store directly rang only the store node's doorbell.
        self->send(st.supervisor, atom::wakeup_v);
      }
      self->delayed_send(self, tick_interval, caf::tick_atom_v);
    },
    [self](atom::drain) {
      auto& st = self->state;
      if (st.draining) {
        if (st.supervisor)
          self->send(st.supervisor, atom::drain_v);
        return;
      }
      st.draining = true;
      if (st.supervisor)
        self->send(st.supervisor, atom::drain_v);
      else
        st.finish(self);
    },
  };
}

} // namespace

struct worker_node::impl {
  caf::actor_system* sys = nullptr;
  std::shared_ptr<child_service> children;
  worker_link_actor link;
  std::string node_id;
};

worker_node::worker_node(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

caf::expected<std::unique_ptr<worker_node>>
worker_node::start(caf::actor_system& sys, worker_options opts) {
  auto st = std::make_unique<impl>();
  st->sys = &sys;
  if (opts.exec.parallel == 0)
    opts.exec.parallel = std::max(1u, std::thread::hardware_concurrency());
  auto children = start_executors(opts.exec);
  if (!children)
    return children.error();
  // Its executors must end by themselves before the store node may run
  // their processes again.
  if ((*children)->lease_until() == 0)
    return make_error(errc::spawn_failure,
                      "executor " + opts.exec.exec_path
                        + " cannot hold a lease (its --check --serve did not "
                          "say \"lease\"): a worker node's executors must "
                          "end by themselves when it is cut off; use "
                          "procman-exec");
  st->children = std::move(*children);
  node_hello hello;
  hello.node_id = make_runner_id();
  hello.host = platform::host_name();
  hello.parallel = opts.exec.parallel;
  st->node_id = hello.node_id;
  log_info("", "worker node " + hello.node_id + " joining " + opts.host + ":"
                 + std::to_string(opts.port) + " with "
                 + std::to_string(opts.exec.parallel) + " slots");
  st->link = sys.spawn(worker_link, std::move(opts), st->children,
                       std::move(hello));
  return std::unique_ptr<worker_node>(new worker_node(std::move(st)));
}

worker_node::~worker_node() {
  auto& st = *impl_;
  caf::anon_send(st.link, atom::drain_v);
  caf::anon_send(st.link, atom::drain_v); // no grace: kill now
  await();
  st.children.reset();
}

void worker_node::drain() {
  caf::anon_send(impl_->link, atom::drain_v);
}

void worker_node::await() {
  caf::scoped_actor self{*impl_->sys};
  self->monitor(impl_->link);
  self->receive([](const caf::down_msg&) {});
}

const std::string& worker_node::node_id() const {
  return impl_->node_id;
}

} // namespace procman
