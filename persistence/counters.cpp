#include "procman/persistence/counters.hpp"

#include <map>
#include <mutex>

#include <lmdb++.h>

#include "procman/lifecycle/machine.hpp"
#include "procman/persistence/codec.hpp"
#include "procman/persistence/queue.hpp"
#include "procman/persistence/records.hpp"

namespace procman::tables::counters {

namespace {

std::string state_key(process_status s) {
  return "state:" + to_string(s);
}

std::string queued_key(int32_t priority) {
  return "queued:" + std::to_string(priority);
}

/// The time a queued record became due: its entry into the queue, or its
/// not_before when later.
uint64_t due_at(const process_record& rec) {
  return std::max(rec.updated_at, rec.not_before);
}

/// The terminal counter of a record that reached `s`.
void ended(const tx& t, const process_record& rec) {
  switch (rec.status) {
    case process_status::finished:
      add(t, "total:finished", 1);
      break;
    case process_status::cancelled:
      add(t, "total:cancelled", 1);
      break;
    case process_status::error:
      add(t, "total:failed:" + to_string(rec.error.kind), 1);
      break;
    default:
      break;
  }
}

/// The changes of this thread's write transaction, written by `flush`
/// once per name however many transitions moved it.
thread_local std::map<std::string, int64_t> pending;

struct latencies {
  std::mutex mtx;
  std::vector<uint64_t> pending;

  static latencies& instance() {
    static auto* x = new latencies; // never destroyed: used at exit
    return *x;
  }
};

} // namespace

void add(const tx&, const std::string& name, int64_t delta) {
  pending[name] += delta;
}

void discard() {
  pending.clear();
}

void flush(const tx& t) {
  for (auto& [name, delta] : pending) {
    if (delta == 0)
      continue;
    uint64_t x = 0;
    if (auto raw = get_raw(t.txn, t.db.counters, name)) {
      if (raw->size() != 8)
        t.damaged("counter \"" + name + "\" is unreadable");
      x = codec::get_u64_be(raw->data());
    }
    if (delta < 0 && x < static_cast<uint64_t>(-delta))
      x = 0;
    else
      x += static_cast<uint64_t>(delta);
    put_raw(t.txn, t.db.counters, name, codec::u64_key(x));
  }
  pending.clear();
}

void saved(const tx& t, const process_record* old, const process_record& rec) {
  if (old == nullptr || old->status != rec.status) {
    if (old != nullptr)
      add(t, state_key(old->status), -1);
    add(t, state_key(rec.status), 1);
  }
  bool was = old != nullptr && queue::waits(*old);
  bool is = queue::waits(rec);
  if (was && is && old->priority == rec.priority)
    return;
  if (was)
    add(t, queued_key(old->priority), -1);
  if (is)
    add(t, queued_key(rec.priority), 1);
}

void removed(const tx& t, const process_record& rec) {
  add(t, state_key(rec.status), -1);
  if (queue::waits(rec))
    add(t, queued_key(rec.priority), -1);
  add(t, "total:purged", 1);
}

void applied(const tx& t, const transition& tr, const process_record* before,
             const process_record& after, uint64_t now) {
  auto since = [now](uint64_t x) { return now > x ? now - x : 0; };
  switch (tr.kind) {
    case transition_kind::enqueue:
      add(t, "total:enqueued", 1);
      break;
    case transition_kind::claim:
      add(t, "total:claimed", 1);
      if (before != nullptr)
        observe(t, "hist:wait", defaults::metrics_ms_buckets,
                since(due_at(*before)));
      break;
    case transition_kind::start:
      add(t, "total:started", 1);
      records::mark_run_start(t, after, now);
      break;
    case transition_kind::step_completed:
      // Measured from the step's start in the record before (the life
      // cycle sets it with the step's state).
      if (before != nullptr && tr.step < after.steps.size()
          && tr.step < before->step_times.size()
          && before->step_times[tr.step].started_at != 0)
        observe(t, "hist:step:" + after.steps[tr.step].cls,
                defaults::metrics_ms_buckets,
                since(before->step_times[tr.step].started_at));
      break;
    case transition_kind::interrupt:
      add(t, "total:interrupted", 1);
      break;
    case transition_kind::retry:
      add(t, "total:retried", 1);
      break;
    case transition_kind::fail:
      add(t, "total:attempt_failed:" + to_string(tr.error.kind), 1);
      break;
    default:
      break;
  }
  if (before == nullptr)
    return;
  if (before->status == process_status::running
      && after.status != process_status::running)
    if (auto run = records::run_start(t, *before); run && *run != 0)
      observe(t, "hist:run", defaults::metrics_ms_buckets, since(*run));
  if (!is_terminal(before->status) && is_terminal(after.status))
    ended(t, after);
}

bool built(const tx& t) {
  return get_raw(t.txn, t.db.counters, "built").has_value();
}

void build(const tx& t) {
  {
    // Starts from nothing: a store written by a procman that kept no
    // counters, or kept them and was then written by one that did not.
    bool more = false;
    auto old = prefix_while(
      t, t.db.counters, [](std::string_view, std::string_view) { return true; },
      SIZE_MAX, more);
    for (auto& kv : old)
      del_raw(t.txn, t.db.counters, kv.first);
    discard();
  }
  records::write_saved(t); // read below from the table
  auto cur = lmdb::cursor::open(t.txn, t.db.processes);
  lmdb::val k;
  lmdb::val v;
  for (bool ok = cur.get(k, v, MDB_FIRST); ok; ok = cur.get(k, v, MDB_NEXT)) {
    auto rec = codec::decode<process_record>(v.data(), v.size());
    if (!rec)
      t.damaged("record " + std::string{k.data(), k.size()} + " is unreadable");
    saved(t, nullptr, *rec);
    if (is_terminal(rec->status))
      ended(t, *rec);
  }
  flush(t);
  put_raw(t.txn, t.db.counters, "built", codec::u64_key(1));
}

std::vector<std::pair<std::string, uint64_t>> all(const tx& t) {
  std::vector<std::pair<std::string, uint64_t>> out;
  auto cur = lmdb::cursor::open(t.txn, t.db.counters);
  lmdb::val k;
  lmdb::val v;
  for (bool ok = cur.get(k, v, MDB_FIRST); ok; ok = cur.get(k, v, MDB_NEXT)) {
    if (v.size() != 8)
      t.damaged("counter \"" + std::string{k.data(), k.size()}
                + "\" is unreadable");
    out.emplace_back(std::string{k.data(), k.size()},
                     codec::get_u64_be(v.data()));
  }
  return out;
}

void note_commit_latency(uint64_t us) {
  auto& x = latencies::instance();
  std::lock_guard<std::mutex> guard{x.mtx};
  if (x.pending.size() < defaults::metrics_pending_latencies)
    x.pending.push_back(us);
}

std::vector<uint64_t> take_commit_latencies() {
  auto& x = latencies::instance();
  std::lock_guard<std::mutex> guard{x.mtx};
  std::vector<uint64_t> out;
  out.swap(x.pending);
  return out;
}

void commit_noted(const tx& t, const std::vector<uint64_t>& latencies) {
  if (pending.empty()) {
    // Nothing applied (a refusal alone, a token, a setting): write
    // nothing more, so that such a transaction still commits when
    // nothing can be written, and keep the latencies for the next.
    for (auto us : latencies)
      note_commit_latency(us);
    return;
  }
  add(t, "total:commits", 1);
  for (auto us : latencies)
    observe(t, "hist:commit", defaults::metrics_us_buckets, us);
  flush(t);
}

} // namespace procman::tables::counters
