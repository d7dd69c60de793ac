#include "procman/actors/manager.hpp"

#include <tuple>
#include <type_traits>

#include <caf/send.hpp>

#include "procman/messages/error.hpp"

namespace procman {

namespace {

using self_ptr = manager_actor::stateful_pointer<manager_state>;

/// What the supervisor must hear of after the store answered `R`.
template <class R>
void after(self_ptr self, const typename R::reply& x) {
  auto& sup = self->state.supervisor;
  if (!sup)
    return;
  if constexpr (std::is_same_v<R, cancel_request>) {
    if (x.status == process_status::running)
      self->send(sup, atom::cancel_v, x.pid);
  } else if constexpr (R::queues_work) {
    // Persisted first: the supervisor hears of new work once it is queued.
    self->send(sup, atom::wakeup_v);
  }
}

/// The manager's handler of `R`: the store actor's handler carries it out.
template <class R>
auto serve(self_ptr self) {
  return [self](R& r) -> caf::result<typename R::reply> {
    using reply = typename R::reply;
    if constexpr (!R::queues_work && !std::is_same_v<R, cancel_request>) {
      return self->delegate(self->state.store, std::move(r));
    } else {
      auto rp = self->make_response_promise<reply>();
      self->request(self->state.store, caf::infinite, std::move(r))
        .then(
          [self, rp](reply& x) mutable {
            after<R>(self, x);
            rp.deliver(std::move(x));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    }
  };
}

template <class... Rs>
auto serve_all(self_ptr self, request_list<Rs...>) {
  return std::make_tuple(serve<Rs>(self)...);
}

} // namespace

void manager_state::listen(
  manager_actor::stateful_pointer<manager_state> self) {
  for (auto i = subscribers.begin(); i != subscribers.end();)
    i = i->second.empty() ? subscribers.erase(i) : std::next(i);
  bool want = !subscribers.empty();
  if (want == listening)
    return;
  listening = want;
  auto me = caf::actor_cast<caf::actor>(self);
  if (want)
    self->send(store, atom::subscribe_v, me);
  else
    self->send(store, atom::unsub_v, me);
}

manager_actor::behavior_type
manager(manager_actor::stateful_pointer<manager_state> self, store_actor store,
        supervisor_actor supervisor) {
  self->state.store = std::move(store);
  self->state.supervisor = std::move(supervisor);
  self->set_down_handler([self](const caf::down_msg& dm) {
    for (auto& kv : self->state.subscribers) {
      auto& xs = kv.second;
      xs.erase(std::remove_if(xs.begin(), xs.end(),
                              [&](const caf::actor& a) {
                                return a.address() == dm.source;
                              }),
               xs.end());
    }
    self->state.listen(self);
  });
  return std::apply(
    [self](auto... requests) -> manager_actor::behavior_type {
      return {
        std::move(requests)...,
        [self](atom::subscribe, const std::string& pid, const caf::actor& who) {
          self->monitor(who);
          self->state.subscribers[pid].push_back(who);
          self->state.listen(self);
        },
        [self](atom::unsub, const std::string& pid, const caf::actor& who) {
          auto i = self->state.subscribers.find(pid);
          if (i == self->state.subscribers.end())
            return;
          auto& xs = i->second;
          xs.erase(std::remove(xs.begin(), xs.end(), who), xs.end());
          self->state.listen(self);
        },
        [self](atom::event, const process_event& ev) {
          auto& subs = self->state.subscribers;
          for (auto key : {ev.record.pid, std::string{}}) {
            auto i = subs.find(key);
            if (i == subs.end())
              continue;
            for (auto& who : i->second)
              caf::anon_send(who, atom::event_v, ev);
          }
        },
      };
    },
    serve_all(self, door_requests{}));
}

} // namespace procman
