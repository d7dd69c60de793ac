#include "procman/door/handlers.hpp"

#include <algorithm>

#include "procman/lifecycle/front_door.hpp"
#include "procman/messages/failure.hpp"
#include "procman/persistence/file_lock.hpp"
#include "procman/persistence/store.hpp"
#include "procman/platform/system.hpp"

namespace procman {

// -- local_site ---------------------------------------------------------------

procman::store& local_site::db() {
  return db_;
}

outcome<process_record> local_site::apply(const transition& t) {
  return db_.apply(t);
}

bool local_site::runner_gone(const std::string& runner) {
  return !runner_alive(db_.dir(), runner);
}

uint32_t local_site::runners() {
  return static_cast<uint32_t>(live_runners(db_.dir()));
}

// -- handlers -----------------------------------------------------------------

namespace {

/// `t` under the request's key, if it has one.
outcome<transition> under_key(outcome<transition> t, const std::string& key) {
  if (key.empty())
    return t;
  return front_door::keyed(std::move(t), key);
}

/// Applies `t` or passes its refusal on.
outcome<process_record> apply(door_site& s, const outcome<transition>& t) {
  if (!t)
    return t.error();
  return s.apply(*t);
}

} // namespace

outcome<transition> start_transition(const start_request& r) {
  // The pid is chosen before the store sees the request, so that a key's
  // holder (another pid) shows in the reply.
  auto t = front_door::start(r.spec, r.pid.empty() ? store::make_pid() : r.pid,
                             "client", &front_door::builtin_steps());
  return under_key(std::move(t), r.key);
}

outcome<std::string> handle(door_site& s, const start_request& r) {
  auto rec = apply(s, start_transition(r));
  if (!rec)
    return rec.error();
  return std::move(rec->pid);
}

outcome<process_record> handle(door_site& s, const status_request& r) {
  return s.db().get(r.pid);
}

outcome<std::vector<process_record>> handle(door_site& s,
                                            const list_request& r) {
  return s.db().list(r.query);
}

outcome<std::string> handle(door_site& s, const proceed_request& r) {
  auto rec = apply(s, under_key(front_door::proceed(r.pid, r.data), r.key));
  if (!rec)
    return rec.error();
  return std::move(rec->pid);
}

outcome<process_record> handle(door_site& s, const cancel_request& r) {
  // Asked again while its runner kills the child: nothing to record yet,
  // unless that runner is gone (then nothing kills the child or confirms
  // the cancel, so it is recorded here).
  if (auto cur = s.db().get(r.pid);
      cur && cur->status == process_status::running && cur->cancel_requested) {
    if (cur->runner.empty() || !s.runner_gone(cur->runner))
      return cur;
    return s.apply(front_door::cancel(r.pid));
  }
  auto rec = apply(s, under_key(front_door::cancel(r.pid), r.key));
  if (!rec || rec->status != process_status::running || rec->runner.empty()
      || !s.runner_gone(rec->runner))
    return rec;
  return s.apply(front_door::cancel(r.pid));
}

outcome<process_record> handle(door_site& s, const retry_request& r) {
  return apply(s, under_key(front_door::retry(r.pid), r.key));
}

outcome<output_log> handle(door_site& s, const output_request& r) {
  return s.db().read_output(r.pid, r.after);
}

outcome<purge_result> handle(door_site& s, const purge_request& r) {
  purge_result out;
  out.older_than_ms = r.older_than_ms;
  if (r.by_retention) {
    auto ms = s.db().retention_ms();
    if (!ms)
      return ms.error();
    out.older_than_ms = *ms;
  }
  auto n = s.db().purge(out.older_than_ms, "client");
  if (!n)
    return n.error();
  out.purged = *n;
  return out;
}

outcome<std::vector<setting_value>> handle(door_site& s,
                                           const config_request& r) {
  std::vector<store_setting> which;
  if (r.name.empty()) {
    if (r.action != "get")
      return make_failure(errc::invalid_argument,
                          "config " + r.action + " needs a setting's name");
    which = {store_setting::retention, store_setting::output_limit};
  } else if (auto x = store_setting_from(r.name)) {
    which = {*x};
  } else {
    return make_failure(errc::invalid_argument,
                        "unknown setting \"" + r.name
                          + "\" (known: retention, output-limit)");
  }
  if (r.action == "set" || r.action == "unset") {
    std::optional<uint64_t> value;
    if (r.action == "set") {
      if (which[0] == store_setting::retention && r.value < 1000)
        return make_failure(errc::invalid_argument,
                            "retention must be at least 1s (procman purge "
                            "--older-than 0s purges at once)");
      value = r.value;
    }
    if (auto err = s.db().set_setting(which[0], value))
      return err;
  } else if (r.action != "get") {
    return make_failure(errc::invalid_argument,
                        "config action must be get, set or unset, not \""
                          + r.action + "\"");
  }
  std::vector<setting_value> out;
  for (auto x : which) {
    auto v = x == store_setting::retention ? s.db().retention_ms()
                                           : s.db().output_limit();
    if (!v)
      return v.error();
    out.push_back(setting_value{to_string(x), *v});
  }
  return out;
}

outcome<log_export> handle(door_site& s, const log_export_request& r) {
  auto snap = s.db().snapshot(r.since, r.pid,
                              r.limit == 0 ? SIZE_MAX : r.limit);
  if (!snap)
    return snap.error();
  return log_export{s.db().dir(), std::move(snap->entries),
                    std::move(snap->records), snap->last_seq};
}

outcome<uint32_t> handle(door_site& s, const runners_request&) {
  return s.runners();
}

outcome<schedule_record> handle(door_site& s, const schedule_add_request& r) {
  if (auto rec = apply(s, front_door::schedule_add(r.name, r.cron, r.spec));
      !rec)
    return rec.error();
  return s.db().schedule(r.name);
}

outcome<schedule_record> handle(door_site& s,
                                const schedule_remove_request& r) {
  auto old = s.db().schedule(r.name);
  if (!old)
    return old.error();
  if (auto rec = s.apply(front_door::schedule_remove(r.name)); !rec)
    return rec.error();
  return old;
}

outcome<std::vector<schedule_record>> handle(door_site& s,
                                             const schedules_request&) {
  return s.db().schedules();
}

outcome<queue_stats> handle(door_site& s, const queue_request&) {
  return s.db().queue_depths();
}

namespace {

/// The host of a runner id "<hostname>-<os pid>-<8 hex>" (a lease holder:
/// "<node id>@<8 hex>").
std::string host_of(const std::string& id) {
  auto x = id.substr(0, id.find('@'));
  for (int i = 0; i < 2; ++i) {
    auto dash = x.rfind('-');
    if (dash == std::string::npos)
      return x;
    x.resize(dash);
  }
  return x;
}

} // namespace

outcome<nodes_info> handle(door_site& s, const nodes_request&) {
  nodes_info out;
  out.time = s.db().now();
  out.host = platform::host_name();
  out.store = s.db().dir();
  auto running = s.db().with_status(process_status::running);
  if (!running)
    return running.error();
  for (auto& lock : live_runner_locks(out.store)) {
    node_info n;
    n.id = lock.id;
    n.kind = lock.id.find('@') == std::string::npos ? "runner" : "worker";
    n.host = host_of(lock.id);
    n.lock_held = lock.lock_held;
    n.lease_ms = lock.lease_ms;
    // A runner's lock is held: it is alive now. A lease is heard of at
    // each renewal.
    n.last_heard = lock.lease_ms == 0 ? out.time : lock.renewed_at;
    n.running = static_cast<uint32_t>(
      std::count_if(running->begin(), running->end(),
                    [&](auto& rec) { return rec.runner == lock.id; }));
    out.nodes.push_back(std::move(n));
  }
  return out;
}

namespace {

transition by_hand(transition_kind kind, const std::string& pid) {
  transition t;
  t.kind = kind;
  t.pid = pid;
  t.source = "client";
  return t;
}

} // namespace

outcome<process_record> handle(door_site& s, const hold_request& r) {
  return apply(s, under_key(by_hand(transition_kind::hold, r.pid), r.key));
}

outcome<process_record> handle(door_site& s, const release_request& r) {
  return apply(s, under_key(by_hand(transition_kind::release, r.pid), r.key));
}

outcome<std::string> handle(door_site& s, const remove_request& r) {
  auto rec = apply(s, under_key(by_hand(transition_kind::purge, r.pid), r.key));
  if (!rec)
    return rec.error();
  return std::move(rec->pid);
}

} // namespace procman

// -- API tokens ---------------------------------------------------------------

namespace procman {

namespace {

bool lower_hex(const std::string& x, size_t size) {
  return x.size() == size && std::all_of(x.begin(), x.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

/// `x` without its hash: what a listing shows.
token_record shown(token_record x) {
  x.hash.clear();
  return x;
}

} // namespace

outcome<token_record> handle(door_site& s, const token_add_request& r) {
  if (r.scope != "read" && r.scope != "operate" && r.scope != "admin")
    return make_failure(errc::invalid_argument,
                        "token scope must be read, operate or admin, not \""
                          + r.scope + "\"");
  if (!lower_hex(r.hash, 64))
    return make_failure(errc::invalid_argument,
                        "a token's hash is 64 lowercase hex (SHA-256)");
  if (r.name.size() > 64
      || std::any_of(r.name.begin(), r.name.end(), [](char c) {
           return static_cast<unsigned char>(c) <= ' ' || c == 0x7f;
         }))
    return make_failure(errc::invalid_argument,
                        "token name \"" + r.name
                          + "\" must be at most 64 characters, without "
                            "spaces or control characters");
  if (lower_hex(r.name, 16))
    return make_failure(errc::invalid_argument,
                        "token name \"" + r.name
                          + "\" looks like a token id (16 hex)");
  token_record x;
  x.name = r.name;
  x.scope = r.scope;
  x.hash = r.hash;
  auto out = s.db().add_token(std::move(x));
  if (!out)
    return out.error();
  return shown(std::move(*out));
}

outcome<std::vector<token_record>> handle(door_site& s, const tokens_request&) {
  auto all = s.db().tokens();
  if (!all)
    return all.error();
  for (auto& x : *all)
    x = shown(std::move(x));
  return all;
}

outcome<token_record> handle(door_site& s, const token_revoke_request& r) {
  auto gone = s.db().revoke_token(r.which);
  if (!gone)
    return gone.error();
  return shown(std::move(*gone));
}

outcome<token_record> handle(door_site& s, const token_check_request& r) {
  if (!lower_hex(r.hash, 64))
    return make_failure(errc::unauthorized, "unknown or revoked token");
  auto x = s.db().token(r.hash);
  if (!x)
    return x.error();
  return shown(std::move(*x));
}

outcome<store_metrics> handle(door_site& s, const metrics_request&) {
  auto m = s.db().metrics();
  if (!m)
    return m.error();
  m->runners = s.runners();
  s.runtime(*m);
  return m;
}

} // namespace procman
