// Leases of worker nodes, as the store node sees them:
//
//   join --> live --heartbeat (renews)--> live
//              |  no heartbeat for the lease, connection closed, joined
//              |  again, left
//              v
//            lost: every request of the holder is refused (lease_expired);
//              | once the store has answered its claims and transitions in
//              | flight, each process still `running` under the holder
//              v ends as error, kind node_lost, naming the node and the step
//            gone: the lock file runners/<holder>.lock is removed
//
// Fencing: a worker's claims record the holder ("<node>@<8 hex>", new for
// every lease) as the process's runner, and its transitions are applied
// only while its lease is live and holds the process. The record's last
// completed step is durable before the executor starts the next
// (docs/protocol.md), so the step after it is the one that was running.
//
// One copy at a time: a worker's executors end themselves at the latest
// `exec_lease_ms` + defaults::exec_kill_ms after the send of the last
// heartbeat the store node confirmed (their own leases, capped there by the
// worker), which is before the store node heard it plus `lease_ms`. So a
// lease is declared lost no sooner than that: after `lease_ms` of silence,
// or, when its connection closed (which does not prove the worker dead),
// once `exec_lease_ms` + exec_kill_ms have passed since it was last heard.

#include "procman/distribution/work_endpoint.hpp"

#include <cstdlib>
#include <tuple>
#include <type_traits>

#include <caf/send.hpp>

#include "procman/lifecycle/front_door.hpp"
#include "procman/lifecycle/lost.hpp"
#include "procman/lifecycle/machine.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/persistence/store.hpp"

namespace procman {

namespace {

using clock = std::chrono::steady_clock;
using self_ptr = work_endpoint_gate::stateful_pointer<work_endpoint_state>;

constexpr auto tick_interval
  = std::chrono::milliseconds(defaults::endpoint_tick_ms);

/// A node id becomes part of a file name (runners/<holder>.lock).
bool valid_node_id(const std::string& id) {
  if (id.empty() || id.size() > 200 || id[0] == '.')
    return false;
  for (auto c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_'
        && c != '.')
      return false;
  return true;
}

std::string seconds(clock::duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100)
         + " s";
}

/// "3 s", "1.5 s".
std::string seconds(uint32_t ms) {
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + " s";
  return seconds(std::chrono::milliseconds(ms));
}

/// The gate's handler of a front-door request: the manager's. With the
/// test fault, a request under a key not seen before is carried out but
/// not answered, as if the answer were lost.
template <class R>
auto forward(self_ptr self) {
  return [self](R& r) -> caf::result<typename R::reply> {
    auto& mgr = self->state.manager;
    if constexpr (has_request_key<R>::value) {
      if (!r.key.empty() && self->state.drop_answer(r.key)) {
        self->request(mgr, caf::infinite, std::move(r))
          .then([](typename R::reply&) {}, [](caf::error&) {});
        return self->make_response_promise<typename R::reply>();
      }
    }
    return self->delegate(mgr, std::move(r));
  };
}

template <class... Rs>
auto forward_all(self_ptr self, request_list<Rs...>) {
  return std::make_tuple(forward<Rs>(self)...);
}

} // namespace

caf::expected<uint32_t> node_exec_lease(uint32_t lease_ms,
                                        uint32_t exec_lease_ms) {
  auto heartbeat = std::max(100u, lease_ms / defaults::renewals_per_lease);
  auto kill = defaults::exec_kill_ms;
  if (exec_lease_ms == 0) {
    auto half = std::min(lease_ms / 2, defaults::exec_lease_seconds * 1000);
    if (half + kill >= lease_ms)
      return make_error(errc::invalid_argument,
                        "--lease " + seconds(lease_ms)
                          + " is too short: a worker node's executors get "
                            "half of it ("
                          + seconds(half) + ") and up to " + seconds(kill)
                          + " to be killed, which must end before the lease "
                            "does; give --lease 3 or more");
    return half;
  }
  if (exec_lease_ms + kill >= lease_ms)
    return make_error(errc::invalid_argument,
                      "--exec-lease " + seconds(exec_lease_ms)
                        + " does not fit --lease " + seconds(lease_ms)
                        + ": a worker node's executors may live "
                        + seconds(exec_lease_ms)
                        + " after the last renewal its store node confirmed, "
                          "and up to "
                        + seconds(kill)
                        + " more to be killed, which must end before the "
                          "store node declares the node lost and may run its "
                          "processes again ("
                        + seconds(lease_ms)
                        + " after that renewal); give a shorter --exec-lease "
                          "or a longer --lease");
  if (exec_lease_ms < 2 * heartbeat)
    return make_error(errc::invalid_argument,
                      "--exec-lease " + seconds(exec_lease_ms)
                        + " does not fit --lease " + seconds(lease_ms)
                        + ": a worker node renews its lease every "
                        + seconds(heartbeat)
                        + ", and its executors must live through two "
                          "renewals; give --exec-lease "
                        + seconds(2 * heartbeat) + " or more");
  return exec_lease_ms;
}

bool work_endpoint_state::drop_answer(const std::string& key) {
  return opts.drop_first_answers && keys_seen.insert(key).second;
}

caf::error lease_not_current(const std::string& holder,
                             const std::string& why) {
  return make_error(errc::lease_expired,
                    "the lease " + holder + " is not current: " + why);
}

node_lease* work_endpoint_state::live(const std::string& holder) {
  auto i = leases.find(holder);
  if (i == leases.end() || i->second.lost || i->second.closed)
    return nullptr;
  return &i->second;
}

void work_endpoint_state::lose(self_ptr self, const std::string& holder,
                               const std::string& why) {
  auto i = leases.find(holder);
  if (i == leases.end() || i->second.lost)
    return;
  auto l = &i->second;
  l->lost = true;
  l->why = why;
  log_error("", "node " + node_of(holder) + " lost (" + why + "): ending the "
                  + std::to_string(l->held.size()) + " processes its lease "
                  + holder + " held");
  settle(self, holder);
}

void work_endpoint_state::settle(self_ptr self, const std::string& holder) {
  auto i = leases.find(holder);
  if (i == leases.end() || !i->second.lost || i->second.ending
      || i->second.in_flight > 0)
    return;
  i->second.ending = true;
  auto release = [self, holder] {
    auto& ls = self->state.leases;
    auto j = ls.find(holder);
    if (j == ls.end())
      return;
    j->second.lock->release_and_remove();
    ls.erase(j);
  };
  // Every record still `running` under the holder: the lease's own
  // bookkeeping could miss one (a claim whose answer never came), the
  // store cannot.
  list_query q;
  q.any_status = false;
  q.status = process_status::running;
  q.limit = 0;
  self->request(store, caf::infinite, atom::list_v, q)
    .then(
      [self, holder, release](std::vector<process_record>& running) {
        auto& l = self->state.leases.at(holder);
        auto left = std::make_shared<size_t>(0);
        for (auto& rec : running) {
          if (rec.runner != holder)
            continue;
          ++*left;
          auto t = node_lost(rec, holder, l.why);
          log_error(rec.pid, t.error.message);
          self->request(self->state.store, caf::infinite, atom::apply_v, t)
            .then(
              [left, release](const process_record&) {
                if (--*left == 0)
                  release();
              },
              [left, release, pid = rec.pid](const caf::error& err) {
                // Ended meanwhile (it finished, or was cancelled).
                log_debug(pid, "not ended as node_lost: " + render(err));
                if (--*left == 0)
                  release();
              });
        }
        if (*left == 0)
          release();
      },
      [self, holder](const caf::error& err) {
        // Tried again at the next tick.
        log_error("", "cannot list the processes of the lost lease " + holder
                        + ": " + render(err));
        if (auto i = self->state.leases.find(holder);
            i != self->state.leases.end())
          i->second.ending = false;
      });
}

void work_endpoint_state::wake(self_ptr self) {
  if (local)
    self->send(local, atom::wakeup_v);
  if (wake_scheduled)
    return;
  // Through the mailbox: a burst of enqueues wakes each worker once.
  wake_scheduled = true;
  self->send(self, atom::wakeup_v);
}

work_endpoint_gate::behavior_type
work_endpoint(self_ptr self, endpoint_options opts, manager_actor manager,
              store_actor store, supervisor_actor local) {
  auto& st = self->state;
  st.opts = std::move(opts);
  if (auto fault = std::getenv("PROCMAN_FAULT_DROP_FIRST_ANSWER");
      fault && *fault && std::string{fault} != "0") {
    st.opts.drop_first_answers = true;
    log_warn("", "PROCMAN_FAULT_DROP_FIRST_ANSWER is set: the first answer "
                 "to each request under a key is dropped (a fault for "
                 "tests)");
  }
  st.manager = std::move(manager);
  st.store = std::move(store);
  st.local = std::move(local);
  // Every commit: queued work wakes the workers, cancels reach them.
  self->send(st.manager, atom::subscribe_v, std::string{},
             caf::actor_cast<caf::actor>(self));
  if (auto b = node_exec_lease(st.opts.lease_ms, st.opts.exec_lease_ms)) {
    st.opts.exec_lease_ms = *b;
  } else {
    log_error("", render(b.error()));
    st.opts.exec_lease_ms = st.opts.lease_ms / 2;
  }
  // A closed connection does not prove the worker dead (a reset from the
  // network, a worker whose side still runs): its executors may live until
  // their own leases end, so the lease is lost only then (the tick).
  self->set_down_handler([self](const caf::down_msg& dm) {
    for (auto& kv : self->state.leases)
      if (!kv.second.lost && !kv.second.closed
          && kv.second.link.address() == dm.source) {
        kv.second.closed = true;
        kv.second.why = "its connection closed: "
                        + self->system().render(dm.reason);
        return;
      }
  });
  self->delayed_send(self, tick_interval, caf::tick_atom_v);
  // Leases of an earlier run of this store node end once they ran out (the
  // store's recovery reads their lock files).
  self->delayed_send(
    self, std::chrono::milliseconds(st.opts.lease_ms) + std::chrono::seconds(1),
    atom::recover_v);
  auto lease_ms = st.opts.lease_ms;
  auto exec_lease_ms = st.opts.exec_lease_ms;
  return std::apply(
    [self, lease_ms,
     exec_lease_ms](auto... requests) -> work_endpoint_gate::behavior_type {
      return {
        // -- the manager's interface ------------------------------------------
        std::move(requests)...,
        [self](atom::subscribe, const std::string& pid, const caf::actor& who) {
          self->send(self->state.manager, atom::subscribe_v, pid, who);
        },
        [self](atom::unsub, const std::string& pid, const caf::actor& who) {
          self->send(self->state.manager, atom::unsub_v, pid, who);
        },
        [self](atom::event, const process_event& ev) {
          auto& st = self->state;
          auto& rec = ev.record;
          if (rec.status == process_status::queued)
            st.wake(self);
          if (ev.kind == transition_kind::cancel
              && rec.status == process_status::running && rec.cancel_requested)
            if (auto l = st.live(rec.runner))
              self->send(l->link, atom::cancel_v, rec.pid);
        },
        // -- worker nodes -----------------------------------------------------
        [self, lease_ms,
         exec_lease_ms](atom::join, const node_hello& hello,
                        const caf::actor& link) -> caf::result<lease_grant> {
          auto& st = self->state;
          if (!valid_node_id(hello.node_id))
            return make_error(
              errc::invalid_argument,
              "a worker node's id must be letters, digits, '-', "
              "'_' and '.', not \""
                + hello.node_id + "\"");
          if (!link)
            return make_error(errc::invalid_argument,
                              "node " + hello.node_id
                                + " joined without a link");
          // A node that joins again ended its children when it lost its last
          // lease: what that lease held ends now.
          std::vector<std::string> older;
          for (auto& kv : st.leases)
            if (!kv.second.lost && kv.second.hello.node_id == hello.node_id)
              older.push_back(kv.first);
          for (auto& h : older)
            st.lose(self, h, "it joined again");
          node_lease l;
          l.holder = hello.node_id + "@" + store::make_pid().substr(24);
          l.hello = hello;
          l.link = caf::actor_cast<node_link_actor>(link);
          l.last_heard = clock::now();
          l.lock = std::make_shared<file_lock>();
          if (auto err
              = l.lock->try_lock(runner_lock_path(st.opts.store_dir, l.holder)))
            return to_error(err);
          l.lock->renew(lease_ms);
          self->monitor(link);
          lease_grant g;
          g.holder = l.holder;
          g.lease_ms = lease_ms;
          g.heartbeat_ms = std::max(100u,
                                    lease_ms / defaults::renewals_per_lease);
          g.default_timeout = st.opts.default_timeout;
          g.output_events = st.opts.output_events;
          g.exec_lease_ms = exec_lease_ms;
          log_info("", "node " + hello.node_id + " (" + hello.host + ", "
                         + std::to_string(hello.parallel)
                         + " slots) joined; lease " + l.holder);
          st.leases.emplace(l.holder, std::move(l));
          // Work may be waiting already.
          self->send(caf::actor_cast<node_link_actor>(link), atom::wakeup_v);
          return g;
        },
        [self, lease_ms](atom::heartbeat, const std::string& holder)
          -> caf::result<caf::ok_atom> {
          auto l = self->state.live(holder);
          if (!l)
            return lease_not_current(holder, "it ran out, or the store node "
                                             "restarted");
          l->last_heard = clock::now();
          l->lock->renew(lease_ms);
          return caf::ok_atom_v;
        },
        [self](atom::claim, const std::string& holder,
               uint32_t n) -> caf::result<std::vector<process_record>> {
          auto& st = self->state;
          auto l = st.live(holder);
          if (!l)
            return lease_not_current(holder, "it ran out, or the store node "
                                             "restarted");
          ++l->in_flight;
          auto rp = self->make_response_promise<std::vector<process_record>>();
          self->request(st.store, caf::infinite, atom::claim_v, holder, n)
            .then(
              [self, holder, rp](std::vector<process_record>& recs) mutable {
                auto& l = self->state.leases.at(holder);
                --l.in_flight;
                for (auto& rec : recs)
                  l.held.insert(rec.pid);
                if (l.lost)
                  rp.deliver(lease_not_current(holder, l.why));
                else
                  rp.deliver(std::move(recs));
                self->state.settle(self, holder);
              },
              [self, holder, rp](caf::error& err) mutable {
                --self->state.leases.at(holder).in_flight;
                rp.deliver(std::move(err));
                self->state.settle(self, holder);
              });
          return rp;
        },
        [self](atom::apply, const std::string& holder,
               transition& t) -> caf::result<process_record> {
          auto& st = self->state;
          auto l = st.live(holder);
          if (!l)
            return lease_not_current(holder, "it ran out, or the store node "
                                             "restarted");
          if (l->held.count(t.pid) == 0)
            return lease_not_current(holder,
                                     "it does not hold process " + t.pid);
          t.runner = holder;
          ++l->in_flight;
          auto rp = self->make_response_promise<process_record>();
          self->request(st.store, caf::infinite, atom::apply_v, std::move(t))
            .then(
              [self, holder, rp](process_record& rec) mutable {
                auto& l = self->state.leases.at(holder);
                --l.in_flight;
                if (rec.status != process_status::running)
                  l.held.erase(rec.pid);
                rp.deliver(std::move(rec));
                self->state.settle(self, holder);
              },
              [self, holder, rp](caf::error& err) mutable {
                --self->state.leases.at(holder).in_flight;
                rp.deliver(std::move(err));
                self->state.settle(self, holder);
              });
          return rp;
        },
        [self](caf::get_atom, const std::string& holder,
               const std::string& pid) -> caf::result<process_record> {
          if (!self->state.live(holder))
            return lease_not_current(holder, "it ran out, or the store node "
                                             "restarted");
          return self->delegate(self->state.store, caf::get_atom_v, pid);
        },
        [self](atom::fire,
               const std::string& holder) -> caf::result<uint32_t, uint64_t> {
          if (!self->state.live(holder))
            return lease_not_current(holder, "it ran out, or the store node "
                                             "restarted");
          return self->delegate(self->state.store, atom::fire_v);
        },
        [self](atom::output, const std::string& holder, output_chunk& c) {
          auto l = self->state.live(holder);
          if (l && l->held.count(c.pid) > 0)
            self->send(self->state.store, atom::output_v, std::move(c));
        },
        [self](atom::leave, const std::string& holder) -> caf::ok_atom {
          if (auto l = self->state.live(holder)) {
            log_info("", "node " + node_of(holder) + " left; lease " + holder);
            self->demonitor(l->link.address());
            self->state.lose(self, holder, "it left");
          }
          return caf::ok_atom_v;
        },
        // -- timers -----------------------------------------------------------
        [self, lease_ms, exec_lease_ms](caf::tick_atom) {
          auto& st = self->state;
          auto now = clock::now();
          auto lease = std::chrono::milliseconds(lease_ms);
          auto executors_ended
            = std::chrono::milliseconds(exec_lease_ms)
              + std::chrono::milliseconds(defaults::exec_kill_ms);
          std::vector<std::pair<std::string, std::string>> expired;
          for (auto& kv : st.leases) {
            auto& l = kv.second;
            if (!l.lost && now - l.last_heard > lease)
              expired.emplace_back(kv.first, "no heartbeat for "
                                               + seconds(now - l.last_heard));
            else if (!l.lost && l.closed
                     && now - l.last_heard > executors_ended)
              expired.emplace_back(kv.first, l.why);
            else if (l.lost)
              st.settle(self, kv.first); // a list that failed is tried again
          }
          for (auto& [holder, why] : expired)
            st.lose(self, holder, why);
          self->delayed_send(self, tick_interval, caf::tick_atom_v);
        },
        [self](atom::wakeup) {
          auto& st = self->state;
          st.wake_scheduled = false;
          for (auto& kv : st.leases)
            if (!kv.second.lost)
              self->send(kv.second.link, atom::wakeup_v);
        },
        [self](atom::recover) {
          self->request(self->state.store, caf::infinite, atom::recover_v)
            .then([](uint32_t) {}, [](const caf::error&) {});
        },
      };
    },
    forward_all(self, door_requests{}));
}

} // namespace procman
