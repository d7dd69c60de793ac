// The store actor batches: every `apply` request is parked and a `flush`
// is sent to itself; the flush commits everything that arrived before it
// in one LMDB transaction, then answers each request. An idle store thus
// commits at once, a busy one commits many transitions per fsync. A claim
// commits together with whatever is parked (one fsync instead of two).
//
//   apply --> pending --(flush)--> store::apply(batch) --> replies, events
//   claim --> store::apply(pending + claims) --> replies, claimed records

#include "actors/store_service.hpp"

#include <caf/send.hpp>

#include "actors/logger.hpp"
#include "actors/runner_lock.hpp"
#include "messages/json.hpp"

namespace procman {

std::vector<caf::expected<process_record>>
store_state::flush(std::vector<transition> extra) {
  flush_scheduled = false;
  std::vector<caf::expected<process_record>> tail;
  if (pending.empty() && extra.empty())
    return tail;
  auto batch = std::move(pending);
  auto proms = std::move(promises);
  pending.clear();
  promises.clear();
  auto parked = batch.size();
  batch.insert(batch.end(), std::make_move_iterator(extra.begin()),
               std::make_move_iterator(extra.end()));
  auto results = db->apply(batch);
  for (size_t i = 0; i < results.size(); ++i) {
    auto& res = results[i];
    if (res && !listeners.empty()) {
      process_event ev;
      ev.kind = batch[i].kind;
      ev.record = *res;
      for (auto& l : listeners)
        caf::anon_send(l, atom::event_v, ev);
    }
    if (i >= parked)
      tail.push_back(std::move(res));
    else if (res)
      proms[i].deliver(std::move(*res));
    else
      proms[i].deliver(res.error());
  }
  return tail;
}

uint32_t recover_lost_processes(procman::store& db,
                                const std::string& own_runner) {
  remove_stale_runner_locks(db.dir());
  auto running = db.with_status(process_status::running);
  if (!running) {
    log_error("", "cannot list running processes: " + render(running.error()));
    return 0;
  }
  std::vector<transition> ts;
  for (auto& rec : *running) {
    if (rec.runner == own_runner || runner_alive(db.dir(), rec.runner))
      continue;
    transition t;
    t.kind = transition_kind::fail;
    t.pid = rec.pid;
    t.source = "runner";
    t.runner = own_runner;
    t.error.kind = error_kind::runner_lost;
    auto running_step = static_cast<size_t>(rec.last_completed + 1);
    if (running_step < rec.steps.size())
      t.error.step = rec.steps[running_step].name;
    auto last = last_completed_step(rec);
    t.error.message = "runner " + rec.runner
                      + " died while the process was running; last completed "
                        "step: "
                      + (last.empty() ? std::string{"none"} : last);
    ts.push_back(std::move(t));
  }
  if (ts.empty())
    return 0;
  uint32_t n = 0;
  auto results = db.apply(ts);
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i]) {
      ++n;
      log_warn(ts[i].pid, ts[i].error.message);
    }
  }
  return n;
}

store_actor::behavior_type
store_service(store_actor::stateful_pointer<store_state> self,
              std::shared_ptr<procman::store> db, std::string runner_id) {
  self->state.db = std::move(db);
  self->state.runner_id = std::move(runner_id);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& ls = self->state.listeners;
    ls.erase(std::remove_if(ls.begin(), ls.end(),
                            [&](const caf::actor& a) {
                              return a.address() == dm.source;
                            }),
             ls.end());
  });
  return {
    [self](atom::apply, transition& t) -> caf::result<process_record> {
      auto& st = self->state;
      st.pending.push_back(std::move(t));
      auto rp = self->make_response_promise<process_record>();
      st.promises.push_back(rp);
      if (!st.flush_scheduled) {
        st.flush_scheduled = true;
        self->send(self, atom::flush_v);
      }
      return rp;
    },
    [self](atom::claim, const std::string& runner,
           uint32_t n) -> caf::result<std::vector<process_record>> {
      // Claims of the queue head (a claim without pid), committed with the
      // parked transitions, which they follow in the log.
      std::vector<transition> claims(n);
      for (auto& t : claims) {
        t.kind = transition_kind::claim;
        t.source = "runner";
        t.runner = runner;
      }
      auto results = self->state.flush(std::move(claims));
      std::vector<process_record> out;
      for (auto& res : results) {
        if (res) {
          out.push_back(std::move(*res));
          continue;
        }
        // The queue ran empty: the remaining claims were refused alike.
        if (is(res.error(), errc::unknown_process)
            && render(res.error()).find("no queued process") != std::string::npos)
          break;
        if (!out.empty()) {
          log_error("", "claim stopped: " + render(res.error()));
          break;
        }
        return res.error();
      }
      return out;
    },
    [self](caf::get_atom, const std::string& pid) -> caf::result<process_record> {
      auto res = self->state.db->get(pid);
      if (!res)
        return res.error();
      return std::move(*res);
    },
    [self](atom::list,
           const list_query& q) -> caf::result<std::vector<process_record>> {
      auto res = self->state.db->list(q);
      if (!res)
        return res.error();
      return std::move(*res);
    },
    [self](atom::flush) { self->state.flush(); },
    [self](atom::subscribe, const caf::actor& listener) {
      self->monitor(listener);
      self->state.listeners.push_back(listener);
    },
    [self](atom::recover) -> uint32_t {
      self->state.flush();
      auto n = recover_lost_processes(*self->state.db, self->state.runner_id);
      if (auto purged = self->state.db->purge(); purged && *purged > 0)
        log_info("", "purged " + std::to_string(*purged)
                       + " records past retention");
      return n;
    },
  };
}

} // namespace procman
