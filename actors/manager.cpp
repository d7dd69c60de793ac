#include "procman/actors/manager.hpp"

#include <caf/send.hpp>

#include "procman/lifecycle/front_door.hpp"
#include "procman/messages/error.hpp"

namespace procman {

caf::result<std::string>
manager_state::queue_work(manager_actor::stateful_pointer<manager_state> self,
                          caf::expected<transition> t) {
  if (!t)
    return t.error();
  // Persist first; the supervisor hears of new work only once it is queued.
  auto rp = self->make_response_promise<std::string>();
  self->request(store, caf::infinite, atom::apply_v, std::move(*t))
    .then(
      [self, rp](const process_record& rec) mutable {
        self->state.wake(self);
        rp.deliver(rec.pid);
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

caf::result<process_record>
manager_state::cancel(manager_actor::stateful_pointer<manager_state> self,
                      caf::expected<transition> t) {
  if (!t)
    return t.error();
  auto rp = self->make_response_promise<process_record>();
  self->request(store, caf::infinite, atom::apply_v, std::move(*t))
    .then(
      [self, rp](const process_record& rec) mutable {
        if (rec.status == process_status::running && self->state.supervisor)
          self->send(self->state.supervisor, atom::cancel_v, rec.pid);
        rp.deliver(rec);
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

void manager_state::wake(manager_actor::stateful_pointer<manager_state> self) {
  if (supervisor)
    self->send(supervisor, atom::wakeup_v);
}

manager_actor::behavior_type
manager(manager_actor::stateful_pointer<manager_state> self, store_actor store,
        supervisor_actor supervisor) {
  self->state.store = std::move(store);
  self->state.supervisor = std::move(supervisor);
  self->send(self->state.store, atom::subscribe_v,
             caf::actor_cast<caf::actor>(self));
  self->set_down_handler([self](const caf::down_msg& dm) {
    for (auto& kv : self->state.subscribers) {
      auto& xs = kv.second;
      xs.erase(std::remove_if(xs.begin(), xs.end(),
                              [&](const caf::actor& a) {
                                return a.address() == dm.source;
                              }),
               xs.end());
    }
  });
  return {
    [self](atom::start, process_spec& spec) -> caf::result<std::string> {
      return self->state.queue_work(
        self, front_door::start(std::move(spec), {}, "client",
                                &front_door::builtin_steps()));
    },
    [self](atom::start, process_spec& spec,
           std::string& pid) -> caf::result<std::string> {
      return self->state.queue_work(self, front_door::start(std::move(spec),
                                                            std::move(pid)));
    },
    [self](atom::info, const std::string& pid) {
      return self->delegate(self->state.store, caf::get_atom_v, pid);
    },
    [self](atom::proceed, const std::string& pid,
           const std::string& data) -> caf::result<std::string> {
      return self->state.queue_work(self, front_door::proceed(pid, data));
    },
    [self](atom::cancel, const std::string& pid) -> caf::result<process_record> {
      return self->state.cancel(self, front_door::cancel(pid));
    },
    // -- the same, under a client's request key --------------------------------
    [self](atom::start, process_spec& spec, std::string& pid,
           std::string& key) -> caf::result<std::string> {
      return self->state.queue_work(
        self, front_door::keyed(front_door::start(std::move(spec),
                                                  std::move(pid), "client",
                                                  &front_door::builtin_steps()),
                                std::move(key)));
    },
    [self](atom::proceed, const std::string& pid, const std::string& data,
           std::string& key) -> caf::result<std::string> {
      return self->state.queue_work(
        self, front_door::keyed(front_door::proceed(pid, data), std::move(key)));
    },
    [self](atom::cancel, const std::string& pid,
           std::string& key) -> caf::result<process_record> {
      return self->state.cancel(
        self, front_door::keyed(front_door::cancel(pid), std::move(key)));
    },
    [self](atom::list, const list_query& q) {
      return self->delegate(self->state.store, atom::list_v, q);
    },
    [self](atom::output, const std::string& pid, uint64_t after) {
      return self->delegate(self->state.store, atom::output_v, pid, after);
    },
    [self](atom::subscribe, const std::string& pid, const caf::actor& who) {
      self->monitor(who);
      self->state.subscribers[pid].push_back(who);
    },
    [self](atom::unsub, const std::string& pid, const caf::actor& who) {
      auto i = self->state.subscribers.find(pid);
      if (i == self->state.subscribers.end())
        return;
      auto& xs = i->second;
      xs.erase(std::remove(xs.begin(), xs.end(), who), xs.end());
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
}

} // namespace procman
