#include "procman/distribution/remote_store.hpp"

#include <tuple>

#include "procman/messages/error.hpp"

namespace procman {

namespace {

using self_ptr = remote_store_actor::stateful_pointer<remote_store_state>;

/// Sends a request to the endpoint and answers it through a promise kept
/// in `pending` (records or claims), so that `kill` can answer it too.
template <class T, class Pending, class... Ts>
caf::result<T>
forward(self_ptr self, Pending remote_store_state::*pending, Ts&&... xs) {
  auto& st = self->state;
  if (st.dead)
    return st.ended();
  auto id = st.next_id++;
  auto rp = self->make_response_promise<T>();
  (st.*pending).emplace(id, rp);
  self->request(st.endpoint, caf::infinite, std::forward<Ts>(xs)...)
    .then(
      [self, pending, id](T& x) {
        auto& map = self->state.*pending;
        auto i = map.find(id);
        if (i == map.end())
          return;
        i->second.deliver(std::move(x));
        map.erase(i);
      },
      [self, pending, id](caf::error& err) {
        auto& map = self->state.*pending;
        auto i = map.find(id);
        if (i == map.end())
          return;
        i->second.deliver(std::move(err));
        map.erase(i);
      });
  return rp;
}

/// A front-door request reaches a worker node only by mistake: the store
/// node answers them.
template <class R>
auto refuse() {
  return [](R&) -> caf::result<typename R::reply> {
    return make_error(errc::invalid_argument,
                      "a worker node answers no requests: ask the store node");
  };
}

template <class... Rs>
auto refuse_all(request_list<Rs...>) {
  return std::make_tuple(refuse<Rs>()...);
}

} // namespace

caf::error remote_store_state::ended() const {
  return make_error(errc::lease_expired,
                    "the lease " + holder + " ended: " + why);
}

remote_store_actor::behavior_type
remote_store(self_ptr self, work_endpoint_actor endpoint, std::string holder) {
  self->state.endpoint = std::move(endpoint);
  self->state.holder = std::move(holder);
  using records
    = std::unordered_map<uint64_t, caf::typed_response_promise<process_record>>;
  using claims = std::unordered_map<
    uint64_t, caf::typed_response_promise<std::vector<process_record>>>;
  return std::apply(
    [self](auto... requests) -> remote_store_actor::behavior_type {
      return {
        std::move(requests)...,
        [self](atom::apply, transition& t) {
          return forward<process_record, records>(
            self, &remote_store_state::records, atom::apply_v,
            self->state.holder, std::move(t));
        },
        [self](atom::apply, atom::flush, std::vector<transition>& ts)
          -> caf::result<std::vector<process_record>> {
          // Sent on as one apply each (the node protocol has no batch), in
          // order and at once: a transition the process actor sends after
          // this batch must reach the endpoint after them. (A batch that
          // ends a run comes by way of the supervisor; nothing follows it.)
          auto& st = self->state;
          if (st.dead)
            return st.ended();
          struct batch {
            caf::typed_response_promise<std::vector<process_record>> rp;
            std::vector<process_record> done;
            size_t left = 0;
            caf::error failed;
          };
          auto b = std::make_shared<batch>();
          b->rp = self->make_response_promise<std::vector<process_record>>();
          b->left = ts.size();
          if (ts.empty())
            b->rp.deliver(std::vector<process_record>{});
          for (auto& t : ts) {
            auto id = st.next_id++;
            st.parts.emplace(id, [b](caf::expected<process_record> res) {
              if (res)
                b->done.push_back(std::move(*res));
              else if (is(res.error(), errc::storage_failure)
                       || is(res.error(), errc::lease_expired))
                b->failed = std::move(res.error());
              if (--b->left > 0)
                return;
              if (b->failed)
                b->rp.deliver(std::move(b->failed));
              else
                b->rp.deliver(std::move(b->done));
            });
            auto answer = [self, id](caf::expected<process_record> res) {
              auto& parts = self->state.parts;
              auto i = parts.find(id);
              if (i == parts.end())
                return;
              auto fn = std::move(i->second);
              parts.erase(i);
              fn(std::move(res));
            };
            self
              ->request(st.endpoint, caf::infinite, atom::apply_v, st.holder,
                        std::move(t))
              .then(
                [answer](process_record& r) mutable { answer(std::move(r)); },
                [answer](caf::error& e) mutable { answer(std::move(e)); });
          }
          return b->rp;
        },
        [](atom::apply, std::vector<transition>&)
          -> caf::result<std::vector<process_record>> {
          // One commit of several transitions is the store node's to make; a
          // worker claims nothing ahead, so its supervisor never abandons a
          // claim it did not start and never asks.
          return make_error(errc::invalid_argument,
                            "a worker node cannot commit transitions together");
        },
        [self](atom::claim, const std::string&, uint32_t n) {
          return forward<std::vector<process_record>, claims>(
            self, &remote_store_state::claims, atom::claim_v,
            self->state.holder, n);
        },
        [self](atom::claim, uint32_t n) {
          return forward<std::vector<process_record>, claims>(
            self, &remote_store_state::claims, atom::claim_v,
            self->state.holder, n);
        },
        [self](caf::get_atom, const std::string& pid) {
          return forward<process_record, records>(self,
                                                  &remote_store_state::records,
                                                  caf::get_atom_v,
                                                  self->state.holder, pid);
        },
        [self](atom::fire) -> caf::result<uint32_t, uint64_t> {
          auto& st = self->state;
          if (st.dead)
            return st.ended();
          auto id = st.next_id++;
          auto rp = self->make_response_promise<uint32_t, uint64_t>();
          st.fires.emplace(id, rp);
          auto done = [self, id](auto&&... xs) {
            auto& fires = self->state.fires;
            auto i = fires.find(id);
            if (i == fires.end())
              return;
            i->second.deliver(std::forward<decltype(xs)>(xs)...);
            fires.erase(i);
          };
          self->request(st.endpoint, caf::infinite, atom::fire_v, st.holder)
            .then([done](uint32_t n, uint64_t at) mutable { done(n, at); },
                  [done](caf::error& err) mutable { done(std::move(err)); });
          return rp;
        },
        [](atom::schedule, const std::string&) -> caf::result<schedule_record> {
          return make_error(
            errc::invalid_argument,
            "a worker node reads no schedules: ask the store node");
        },
        [](atom::schedule) -> caf::result<std::vector<schedule_record>> {
          return make_error(
            errc::invalid_argument,
            "a worker node reads no schedules: ask the store node");
        },
        [self](atom::output, output_chunk& c) {
          auto& st = self->state;
          if (!st.dead)
            self->send(st.endpoint, atom::output_v, st.holder, std::move(c));
        },
        [](atom::output) {
          // nop: the store node commits output on its own timer
        },
        [](atom::output, const std::string&,
           uint64_t) -> caf::result<output_log> {
          return make_error(
            errc::invalid_argument,
            "a worker node reads no output: ask the store node");
        },
        [](atom::list,
           const list_query&) -> caf::result<std::vector<process_record>> {
          return make_error(errc::invalid_argument,
                            "a worker node lists nothing: ask the store node");
        },
        [](atom::subscribe, const caf::actor&) {
          // nop: a worker's actors do not follow commits
        },
        [](atom::unsub, const caf::actor&) {
          // nop
        },
        [](atom::recover) -> uint32_t {
          return 0; // the store node recovers
        },
        [](atom::flush) {
          // nop
        },
        [](atom::drain) {
          // nop: the store node keeps retrying what it could not commit
        },
        [self](atom::kill, const std::string& why) {
          auto& st = self->state;
          if (st.dead)
            return;
          st.dead = true;
          st.why = why;
          for (auto& kv : st.records)
            kv.second.deliver(st.ended());
          for (auto& kv : st.claims)
            kv.second.deliver(st.ended());
          for (auto& kv : st.fires)
            kv.second.deliver(st.ended());
          auto parts = std::move(st.parts);
          for (auto& kv : parts)
            kv.second(st.ended());
          st.records.clear();
          st.claims.clear();
          st.fires.clear();
          st.parts.clear();
        },
      };
    },
    refuse_all(door_requests{}));
}

} // namespace procman
