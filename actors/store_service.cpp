// The store actor batches: every `apply` request is parked and a `flush`
// is sent to itself; the flush commits everything that arrived before it
// in one LMDB transaction, then answers each request. An idle store thus
// commits at once, a busy one commits many transitions per fsync. A claim
// commits together with whatever is parked (one fsync instead of two).
//
// A commit that fails for storage reasons (disk full, I/O error) changes
// nothing, so its transitions stay parked, in order, and the batch is
// retried with exponential backoff (10 ms doubling to 5 s) until it
// commits: process actors and the supervisor never see a transient storage
// failure, they just wait for their answers. Claims and reads are not
// parked (a claim gets the error; the supervisor retries it). After
// `drain` (the runner stops) a failing commit answers with its error; so
// does every commit once commits have failed in a row for the policy's
// `give_up_after` (a runner without --wait: the store tells the engine,
// which ends the runner).
//
//   apply --> pending --(flush)--> store::commit(batch) --> replies, events
//   claim --> store::commit(pending + store::claims) --> replies,
//             store::claimed
//   output --> pending_output --(next flush, or the output timer)--^
//
// Live output is not a transition: it waits for the next commit of
// transitions, or for the output timer (100 ms) when none comes, so that
// a chatty command never costs a commit of its own per chunk.

#include "procman/actors/store_service.hpp"

#include <algorithm>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include <caf/send.hpp>

#include "procman/door/handlers.hpp"
#include "procman/lifecycle/machine.hpp"
#include "procman/lifecycle/recovery.hpp"
#include "procman/lifecycle/reports.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/persistence/file_lock.hpp"
#include "procman/persistence/started_marks.hpp"

namespace procman {

namespace {

/// While commits keep failing, one log line per this period at most.
constexpr auto failure_log_interval
  = std::chrono::seconds(defaults::failure_log_interval_s);

/// Whether a batch failed as a whole for storage reasons (full disk, I/O
/// error, a map that could not grow): retrying may help. Refusals differ
/// per transition and are final.
bool storage_failed(const store::batch_result& r) {
  return r.error && is(r.error, errc::storage_failure);
}

std::string seconds_since(std::chrono::steady_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - t)
              .count();
  return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100)
         + " s";
}

/// Arms the retry timer after a failed commit, unless a flush is due anyway.
void arm_retry(store_actor::stateful_pointer<store_state> self) {
  auto& st = self->state;
  if (st.retry_delay.count() == 0
      || (st.pending.empty() && st.pending_output.empty()
          && st.parked_requests.empty())
      || st.flush_scheduled)
    return;
  st.flush_scheduled = true;
  self->delayed_send(self, st.retry_delay, atom::flush_v);
}

using self_ptr = store_actor::stateful_pointer<store_state>;

/// The front door's handlers in the store actor: a transition commits
/// with whatever is parked, at once.
class service_site : public door_site {
public:
  explicit service_site(self_ptr self) : self_(self) {
    // nop
  }

  procman::store& db() override { return *self_->state.db; }

  outcome<process_record> apply(const transition& t) override {
    auto res = self_->state.flush({t});
    arm_retry(self_);
    return std::move(res.front());
  }

  bool runner_gone(const std::string&) override {
    // This runner is alive; a lost worker's lease ends its processes.
    return false;
  }

  uint32_t runners() override {
    return std::max<uint32_t>(
      1, static_cast<uint32_t>(live_runners(self_->state.db->dir())));
  }

  void runtime(store_metrics& m) override {
    if (self_->state.runtime)
      self_->state.runtime(m);
  }

private:
  self_ptr self_;
};

/// Whether a request that failed with `err` waits for the next commit that
/// succeeds instead of being answered now.
bool waits(self_ptr self, const failure& err) {
  return is(err, errc::storage_failure) && !self->state.give_up;
}

/// The store actor's handler of `R`.
template <class R>
auto serve(self_ptr self) {
  return [self](R& r) -> caf::result<typename R::reply> {
    using reply = typename R::reply;
    service_site site{self};
    auto res = handle(site, r);
    if (res)
      return std::move(*res);
    if (!waits(self, res.error()))
      return to_error(res.error());
    auto rp = self->make_response_promise<reply>();
    self->state.parked_requests.push_back([self, r, rp]() mutable {
      service_site site{self};
      auto res = handle(site, r);
      if (!res && waits(self, res.error()))
        return false;
      if (res)
        rp.deliver(std::move(*res));
      else
        rp.deliver(to_error(res.error()));
      return true;
    });
    arm_retry(self);
    return rp;
  };
}

/// Arms the commit timer to fire after `d`, unless it fires sooner. A
/// timer that a sooner one overtook still fires; its commit then comes
/// early, which costs nothing.
void arm_commit_timer(self_ptr self, std::chrono::milliseconds d) {
  auto& st = self->state;
  auto due = self->clock().now() + d;
  if (st.timer_due && *st.timer_due <= due)
    return;
  st.timer_due = due;
  self->delayed_send(self, d, atom::output_v);
}

/// Whether parked transitions wait for the next commit instead of
/// committing at once.
enum class commit_when { now, with_next };

/// Parks `t` for the next commit, which `answer` then reports. `with_next`:
/// a commit that something else brings takes it along (a claim, another
/// process's transitions, a request), and the commit timer bounds its wait
/// to the hold limit.
void park(self_ptr self, transition t,
          std::function<void(outcome<process_record>)> answer,
          commit_when when = commit_when::now) {
  auto& st = self->state;
  st.pending.push_back(std::move(t));
  st.answers.push_back(std::move(answer));
  if (st.flush_scheduled)
    return;
  if (when == commit_when::with_next)
    return arm_commit_timer(self,
                            std::chrono::milliseconds(defaults::hold_limit_ms));
  st.flush_scheduled = true;
  self->send(self, atom::flush_v);
}

/// A start parks its transition instead: the starts that arrive before the
/// next flush (a front door's concurrent calls) share its commit, and each
/// is answered once that commit is durable.
template <>
auto serve<start_request>(self_ptr self) {
  return [self](start_request& r) -> caf::result<std::string> {
    auto t = start_transition(r);
    if (!t)
      return to_error(t.error());
    auto rp = self->make_response_promise<std::string>();
    park(self, std::move(*t), [rp](outcome<process_record> res) mutable {
      if (res)
        rp.deliver(std::move(res->pid));
      else
        rp.deliver(to_error(res.error()));
    });
    return rp;
  };
}

template <class... Rs>
auto serve_all(self_ptr self, request_list<Rs...>) {
  return std::make_tuple(serve<Rs>(self)...);
}

/// Carries out the parked requests again after a flush.
void answer_parked(self_ptr self) {
  auto& st = self->state;
  if (st.parked_requests.empty() || (st.retry_delay.count() > 0 && !st.give_up))
    return;
  auto todo = std::move(st.parked_requests);
  st.parked_requests.clear();
  for (auto& f : todo)
    if (!f())
      st.parked_requests.push_back(std::move(f));
  arm_retry(self);
}

} // namespace

void store_state::commit_failed(const failure& err, size_t n) {
  auto now = clock::now();
  if (failed_commits++ == 0) {
    failing_since = now;
    last_failure_log = now;
    log_error("", "cannot commit " + std::to_string(n)
                    + " transitions: " + render(err)
                    + (give_up ? "" : "; keeping them and retrying"));
  } else if (now - last_failure_log >= failure_log_interval) {
    last_failure_log = now;
    log_error("", "still cannot commit (" + std::to_string(failed_commits)
                    + " attempts in " + seconds_since(failing_since) + ", "
                    + std::to_string(n)
                    + " transitions waiting): " + render(err));
  }
  auto failing = std::chrono::duration_cast<std::chrono::milliseconds>(
    now - failing_since);
  if (!give_up && policy.give_up_after.count() > 0
      && failing >= policy.give_up_after) {
    // This batch and everything after it are answered with the error.
    give_up = true;
    if (policy.gave_up)
      policy.gave_up(err, failing);
  }
  retry_delay = storage_retry_delay(retry_delay);
}

void store_state::commit_succeeded() {
  if (failed_commits > 0)
    log_info("", "commits succeed again after " + std::to_string(failed_commits)
                   + " failed attempts in " + seconds_since(failing_since));
  failed_commits = 0;
  retry_delay = std::chrono::milliseconds{0};
}

std::vector<outcome<process_record>>
store_state::flush(std::vector<transition> extra) {
  std::vector<outcome<process_record>> tail;
  if (pending.empty() && extra.empty() && pending_output.empty())
    return tail;
  auto parked = pending.size();
  auto batch = std::move(pending);
  pending.clear();
  batch.insert(batch.end(), std::make_move_iterator(extra.begin()),
               std::make_move_iterator(extra.end()));
  auto output = std::move(pending_output);
  pending_output.clear();
  auto committed = db->commit(batch, output);
  auto& results = committed.results;
  if (storage_failed(committed)) {
    commit_failed(committed.error, batch.size() + output.size());
    if (!give_up) {
      // Nothing was written: park the same transitions and output again.
      tail.assign(results.begin() + static_cast<ptrdiff_t>(parked),
                  results.end());
      batch.resize(parked);
      pending = std::move(batch);
      pending_output = std::move(output);
      return tail;
    }
  } else {
    commit_succeeded();
  }
  pending_output_bytes = 0;
  auto answer = std::move(answers);
  answers.clear();
  for (size_t i = 0; i < results.size(); ++i) {
    auto& res = results[i];
    // Schedule events change no process, a repeated request changed
    // nothing: nothing to tell.
    bool repeated = i < committed.repeated.size() && committed.repeated[i];
    if (res && !res->pid.empty() && !repeated && !listeners.empty()) {
      process_event ev;
      ev.kind = batch[i].kind;
      ev.record = *res;
      for (auto& l : listeners)
        caf::anon_send(l, atom::event_v, ev);
    }
    if (i >= parked)
      tail.push_back(std::move(res));
    else
      answer[i](std::move(res));
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
  // Per dead runner, the processes it marked as started (nullopt: none
  // can be taken as unstarted).
  std::unordered_map<std::string,
                     std::optional<std::unordered_set<std::string>>>
    marks;
  for (auto& rec : *running) {
    if (rec.runner == own_runner || runner_alive(db.dir(), rec.runner))
      continue;
    auto m = marks.find(rec.runner);
    if (m == marks.end())
      m = marks.emplace(rec.runner, read_started_marks(db.dir(), rec.runner))
            .first;
    for (auto& t : recover(rec, own_runner, m->second))
      ts.push_back(std::move(t));
  }
  if (ts.empty()) {
    remove_dead_started_marks(db.dir());
    return 0;
  }
  uint32_t n = 0;
  auto results = db.apply(ts);
  for (size_t i = 0; i < results.size(); ++i) {
    if (ts[i].kind == transition_kind::retry) {
      if (!results[i] && !is(results[i].error(), errc::illegal_transition))
        log_error(ts[i].pid, "cannot queue an unstarted process again: "
                               + render(results[i].error()));
      continue;
    }
    if (results[i]) {
      ++n;
      log_warn(ts[i].pid, ts[i].error.message);
    }
  }
  // Only once their processes are recorded: a recovery cut short reads the
  // same marks next time.
  remove_dead_started_marks(db.dir());
  return n;
}

store_actor::behavior_type
store_service(store_actor::stateful_pointer<store_state> self,
              std::shared_ptr<procman::store> db, std::string runner_id,
              commit_failure_policy policy, store_runtime runtime) {
  self->state.db = std::move(db);
  self->state.runtime = std::move(runtime);
  self->state.runner_id = std::move(runner_id);
  self->state.policy = std::move(policy);
  self->set_down_handler([self](const caf::down_msg& dm) {
    auto& ls = self->state.listeners;
    ls.erase(std::remove_if(ls.begin(), ls.end(),
                            [&](const caf::actor& a) {
                              return a.address() == dm.source;
                            }),
             ls.end());
  });
  return std::apply(
    [self](auto... requests) -> store_actor::behavior_type {
      return {
        std::move(requests)...,
        [self](atom::apply, transition& t) -> caf::result<process_record> {
          auto rp = self->make_response_promise<process_record>();
          park(self, std::move(t), [rp](outcome<process_record> res) mutable {
            if (res)
              rp.deliver(std::move(*res));
            else
              rp.deliver(to_error(res.error()));
          });
          return rp;
        },
        [self](atom::apply, atom::flush, std::vector<transition>& ts)
          -> caf::result<std::vector<process_record>> {
          // Each parked as if applied alone; one answer when all are.
          struct batch {
            caf::typed_response_promise<std::vector<process_record>> rp;
            std::vector<process_record> done;
            size_t left = 0;
            failure storage;
          };
          auto b = std::make_shared<batch>();
          b->rp = self->make_response_promise<std::vector<process_record>>();
          b->left = ts.size();
          b->done.reserve(ts.size());
          if (ts.empty())
            b->rp.deliver(std::vector<process_record>{});
          // The end of a run waits for the next commit: no executor waits
          // for it, and the exit that follows makes the supervisor claim,
          // which commits it with the claim in one transaction.
          auto when = !ts.empty() && ends_run(ts.back().kind)
                        ? commit_when::with_next
                        : commit_when::now;
          for (auto& t : ts) {
            auto kind = t.kind;
            auto pid = t.pid;
            park(
              self, std::move(t),
              [b, kind, pid](outcome<process_record> res) {
                if (res)
                  b->done.push_back(std::move(*res));
                else if (is(res.error(), errc::storage_failure))
                  b->storage = res.error();
                else
                  log_error(pid, "store refused " + to_string(kind) + ": "
                                   + render(res.error()));
                if (--b->left > 0)
                  return;
                if (b->storage)
                  b->rp.deliver(to_error(b->storage));
                else
                  b->rp.deliver(std::move(b->done));
              },
              when);
          }
          return b->rp;
        },
        [self](atom::apply, std::vector<transition>& ts)
          -> caf::result<std::vector<process_record>> {
          // Committed with the parked transitions, in one transaction.
          // None (the supervisor's "commit what waits"): a flush already
          // due, or the retry timer after a failed commit, does it.
          if (ts.empty() && self->state.flush_scheduled)
            return std::vector<process_record>{};
          auto results = self->state.flush(std::move(ts));
          arm_retry(self);
          std::vector<process_record> out;
          for (auto& res : results) {
            if (res) {
              out.push_back(std::move(*res));
              continue;
            }
            if (is(res.error(), errc::storage_failure))
              return to_error(res.error());
          }
          return out;
        },
        [self](atom::claim, const std::string& runner,
               uint32_t n) -> caf::result<std::vector<process_record>> {
          // Claims of the queue head (store::claims), committed with the
          // parked transitions, which they follow in the log.
          auto results = self->state.flush(store::claims(runner, n));
          arm_retry(self);
          failure stopped;
          auto out = store::claimed(std::move(results), &stopped);
          if (stopped)
            log_error("", "claim stopped: " + render(stopped));
          if (!out)
            return to_error(out.error());
          return std::move(*out);
        },
        [self](atom::fire) -> caf::result<uint32_t, uint64_t> {
          auto& db = *self->state.db;
          auto fired = db.fire_schedules();
          if (!fired)
            return to_error(fired.error());
          auto at = db.next_wake();
          if (!at)
            return to_error(at.error());
          return caf::result<uint32_t, uint64_t>(*fired, *at);
        },
        [self](atom::schedule,
               const std::string& name) -> caf::result<schedule_record> {
          auto res = self->state.db->schedule(name);
          if (!res)
            return to_error(res.error());
          return std::move(*res);
        },
        [self](atom::schedule) -> caf::result<std::vector<schedule_record>> {
          auto res = self->state.db->schedules();
          if (!res)
            return to_error(res.error());
          return std::move(*res);
        },
        [self](caf::get_atom,
               const std::string& pid) -> caf::result<process_record> {
          auto res = self->state.db->get(pid);
          if (!res)
            return to_error(res.error());
          return std::move(*res);
        },
        [self](atom::list, const list_query& q)
          -> caf::result<std::vector<process_record>> {
          auto res = self->state.db->list(q);
          if (!res)
            return to_error(res.error());
          return std::move(*res);
        },
        [self](atom::output, output_chunk& c) {
          auto& st = self->state;
          st.pending_output_bytes += c.data.size();
          st.pending_output.push_back(std::move(c));
          if (st.flush_scheduled)
            return; // commits with what is already due
          if (st.pending_output_bytes >= defaults::output_commit_bytes) {
            st.flush_scheduled = true;
            self->send(self, atom::flush_v);
            return;
          }
          arm_commit_timer(self, std::chrono::milliseconds(
                                   defaults::output_commit_interval_ms));
        },
        [self](atom::output) {
          // The commit timer.
          auto& st = self->state;
          if (st.timer_due && self->clock().now() >= *st.timer_due)
            st.timer_due.reset();
          // A flush that is due (or a retry timer) takes them along.
          if ((st.pending_output.empty() && st.pending.empty())
              || st.flush_scheduled)
            return;
          st.flush();
          arm_retry(self);
        },
        [self](atom::output, const std::string& pid,
               uint64_t after) -> caf::result<output_log> {
          auto res = self->state.db->read_output(pid, after);
          if (!res)
            return to_error(res.error());
          return std::move(*res);
        },
        [self](atom::flush) {
          self->state.flush_scheduled = false;
          self->state.flush();
          arm_retry(self);
          answer_parked(self);
        },
        [self](atom::drain) {
          // The runner stops: whatever cannot be committed now is answered
          // with the error, so that the runner can end (its records stay
          // `running` and the next runner ends them as runner_lost).
          auto& st = self->state;
          st.give_up = true;
          if (st.failed_commits > 0)
            st.flush();
          answer_parked(self);
        },
        [self](atom::subscribe, const caf::actor& listener) {
          self->monitor(listener);
          self->state.listeners.push_back(listener);
        },
        [self](atom::unsub, const caf::actor& listener) {
          auto& ls = self->state.listeners;
          ls.erase(std::remove(ls.begin(), ls.end(), listener), ls.end());
        },
        [self](atom::recover) -> uint32_t {
          self->state.flush();
          arm_retry(self);
          auto n = recover_lost_processes(*self->state.db,
                                          self->state.runner_id);
          if (auto purged = self->state.db->purge(); purged && *purged > 0)
            log_info("", "purged " + std::to_string(*purged)
                           + " records past retention");
          return n;
        },
      };
    },
    serve_all(self, door_requests{}));
}

} // namespace procman
