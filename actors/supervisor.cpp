// Claim loop:
//
//   wakeup / exec done --> try_claim: free = parallel - active
//        (capped by --max-processes) --claim(free)--> queue
//   claimed records --> one process actor each
//   got fewer than asked --> queue_empty; without --wait and with nothing
//   active, the supervisor quits (the runner exits).
//
// Drain (SIGTERM/SIGINT): stop claiming, wait `grace_seconds` for active
// children, then tell each process actor to kill its child and record it.

#include "actors/supervisor.hpp"

#include "actors/logger.hpp"
#include "messages/error.hpp"

namespace procman {

void supervisor_state::try_claim(
  supervisor_actor::stateful_pointer<supervisor_state> self) {
  if (draining)
    return maybe_quit(self);
  if (claim_pending) {
    claim_again = true;
    return;
  }
  uint64_t free = opts.parallel > active.size() ? opts.parallel - active.size()
                                                : 0;
  if (opts.max_processes > 0)
    free = std::min<uint64_t>(free, opts.max_processes - claimed);
  if (free == 0)
    return maybe_quit(self);
  claim_pending = true;
  claim_again = false;
  auto asked = static_cast<uint32_t>(free);
  self->request(queue, caf::infinite, atom::claim_v, asked)
    .then(
      [self, asked](std::vector<process_record>& recs) {
        auto& st = self->state;
        st.claim_pending = false;
        st.queue_empty = recs.size() < asked;
        for (auto& rec : recs) {
          ++st.claimed;
          auto pid = rec.pid;
          log_info(pid, "claimed (run " + std::to_string(rec.runs) + ")");
          auto hdl = self->spawn(process, std::move(rec), st.store,
                                 caf::actor_cast<supervisor_actor>(self),
                                 st.cfg);
          st.active.emplace(std::move(pid), hdl);
        }
        if (!st.queue_empty || st.claim_again)
          st.try_claim(self);
        else
          st.maybe_quit(self);
      },
      [self](const caf::error& err) {
        auto& st = self->state;
        st.claim_pending = false;
        log_error("", "claim failed: " + render(err));
        st.queue_empty = true;
        st.maybe_quit(self);
      });
}

void supervisor_state::maybe_quit(
  supervisor_actor::stateful_pointer<supervisor_state> self) {
  if (!active.empty() || claim_pending)
    return;
  bool limit_reached = opts.max_processes > 0 && claimed >= opts.max_processes;
  if (draining || limit_reached || (!opts.wait && queue_empty)) {
    log_info("", "runner done: " + std::to_string(claimed) + " processes run");
    self->quit();
  }
}

supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           supervisor_options opts, queue_actor queue, store_actor store,
           std::shared_ptr<const exec_config> cfg) {
  auto& st = self->state;
  st.opts = opts;
  if (st.opts.parallel == 0)
    st.opts.parallel = 1;
  st.queue = std::move(queue);
  st.store = std::move(store);
  st.cfg = std::move(cfg);
  // Start with whatever is already queued.
  self->send(self, atom::wakeup_v);
  return {
    [self](atom::wakeup) { self->state.try_claim(self); },
    [self](atom::cancel, const std::string& pid) {
      auto i = self->state.active.find(pid);
      if (i != self->state.active.end())
        self->send(i->second, atom::cancel_v);
    },
    [self](atom::check) {
      for (auto& kv : self->state.active)
        self->send(kv.second, atom::check_v);
    },
    [self](atom::drain) {
      auto& st = self->state;
      if (st.draining) {
        // Second signal or grace elapsed: kill what is left.
        for (auto& kv : st.active)
          self->send(kv.second, atom::kill_v);
        return;
      }
      st.draining = true;
      log_info("", "stopping: " + std::to_string(st.active.size())
                     + " processes still running, grace period "
                     + std::to_string(st.opts.grace_seconds) + " s");
      if (st.active.empty())
        return st.maybe_quit(self);
      self->delayed_send(self, std::chrono::seconds(st.opts.grace_seconds),
                         atom::drain_v);
    },
    [self](atom::exec, const std::string& pid, process_status status) {
      auto& st = self->state;
      st.active.erase(pid);
      log_debug(pid, "done with status " + to_string(status));
      // Claim through the mailbox: other processes that ended meanwhile
      // free their slots first, and one claim (one commit) fills them all.
      // The claim (or finding nothing to claim) decides whether to quit.
      self->send(self, atom::wakeup_v);
    },
    [self](atom::stats) -> caf::result<uint32_t, uint64_t> {
      auto& st = self->state;
      return caf::result<uint32_t, uint64_t>(
        static_cast<uint32_t>(st.active.size()), st.claimed);
    },
  };
}

} // namespace procman
