#include "procman/persistence/queue.hpp"

#include <algorithm>

#include <lmdb++.h>

#include "procman/persistence/codec.hpp"
#include "procman/persistence/records.hpp"

namespace procman::tables::queue {

bool waits(const process_record& rec) {
  return rec.status == process_status::queued && rec.queue_seq != 0;
}

bool same_place(const process_record& a, const process_record& b) {
  return a.queue_seq == b.queue_seq && a.priority == b.priority
         && a.not_before == b.not_before;
}

void place(const tx& t, const process_record& rec, uint64_t now) {
  if (rec.not_before > now)
    put_raw(t.txn, t.db.delayed,
            codec::delayed_key(rec.not_before, rec.priority, rec.queue_seq),
            rec.pid);
  else
    put_raw(t.txn, t.db.queue, codec::queue_key(rec.priority, rec.queue_seq),
            rec.pid);
}

void unqueue(const tx& t, const process_record& rec) {
  del_raw(t.txn, t.db.queue, codec::queue_key(rec.priority, rec.queue_seq));
  if (rec.not_before != 0)
    del_raw(t.txn, t.db.delayed,
            codec::delayed_key(rec.not_before, rec.priority, rec.queue_seq));
}

void promote_due(const tx& t, uint64_t now) {
  bool more = false;
  auto due = prefix_while(
    t, t.db.delayed,
    [now](std::string_view key, std::string_view) {
      return key.size() == 20 && codec::get_u64_be(key.data()) <= now;
    },
    SIZE_MAX, more);
  for (auto& [key, pid] : due) {
    del_raw(t.txn, t.db.delayed, key);
    put_raw(t.txn, t.db.queue, std::string_view{key}.substr(8), pid);
  }
}

uint64_t first_delayed(const tx& t) {
  auto cur = lmdb::cursor::open(t.txn, t.db.delayed);
  lmdb::val k;
  lmdb::val v;
  if (cur.get(k, v, MDB_FIRST) && k.size() >= 8)
    return codec::get_u64_be(k.data());
  return 0;
}

std::optional<std::string> head(const tx& t) {
  auto cur = lmdb::cursor::open(t.txn, t.db.queue);
  lmdb::val k;
  lmdb::val v;
  if (cur.get(k, v, MDB_FIRST))
    return std::string{v.data(), v.size()};
  return std::nullopt;
}

std::optional<std::string> head_of(const tx& t, int32_t priority) {
  auto prefix = codec::queue_key(priority, 0);
  auto cur = lmdb::cursor::open(t.txn, t.db.queue);
  lmdb::val k{prefix.data(), prefix.size()};
  lmdb::val v;
  if (cur.get(k, v, MDB_SET_RANGE) && k.size() >= 4
      && std::string_view{k.data(), 4} == std::string_view{prefix}.substr(0, 4))
    return std::string{v.data(), v.size()};
  return std::nullopt;
}

std::optional<std::pair<uint64_t, int32_t>> first_delayed_entry(const tx& t) {
  auto cur = lmdb::cursor::open(t.txn, t.db.delayed);
  lmdb::val k;
  lmdb::val v;
  if (!cur.get(k, v, MDB_FIRST) || k.size() != 20)
    return std::nullopt;
  auto inverted = codec::get_u32_be(k.data() + 8);
  auto priority = static_cast<int32_t>(~inverted ^ 0x80000000u);
  return std::pair{codec::get_u64_be(k.data()), priority};
}

uint64_t delayed_size(const tx& t) {
  MDB_stat st;
  lmdb::dbi_stat(t.txn, t.db.delayed, &st);
  return st.ms_entries;
}

uint64_t next_position(const tx& t) {
  return next_counter(t, key_qseq);
}

uint64_t size(const tx& t) {
  MDB_stat st;
  lmdb::dbi_stat(t.txn, t.db.queue, &st);
  return st.ms_entries;
}

namespace {

int32_t priority_of(const char* queue_key) {
  return static_cast<int32_t>(~codec::get_u32_be(queue_key) ^ 0x80000000u);
}

} // namespace

queue_stats stats(const tx& t, uint64_t now) {
  queue_stats res;
  res.time = now;
  auto& out = res.priorities; // highest priority first
  auto at = [&](int32_t priority) -> queue_depth& {
    auto i = std::find_if(out.begin(), out.end(),
                          [&](auto& x) { return x.priority <= priority; });
    if (i == out.end() || i->priority != priority) {
      queue_depth d;
      d.priority = priority;
      i = out.insert(i, d);
    }
    return *i;
  };
  lmdb::val k;
  lmdb::val v;
  {
    // Each priority's keys are together, its head first.
    auto cur = lmdb::cursor::open(t.txn, t.db.queue);
    queue_depth* d = nullptr;
    for (bool ok = cur.get(k, v, MDB_FIRST); ok; ok = cur.get(k, v, MDB_NEXT)) {
      if (k.size() != 12)
        continue;
      auto p = priority_of(k.data());
      if (d == nullptr || d->priority != p) {
        d = &at(p);
        if (d->head_pid.empty())
          d->head_pid.assign(v.data(), v.size());
      }
      ++d->queued;
    }
  }
  // Delayed ones that are due count as queued (the next claim moves
  // them); the queue's own head still goes first at its priority.
  auto cur = lmdb::cursor::open(t.txn, t.db.delayed);
  for (bool ok = cur.get(k, v, MDB_FIRST); ok; ok = cur.get(k, v, MDB_NEXT)) {
    if (k.size() != 20)
      continue;
    auto& d = at(priority_of(k.data() + 8));
    if (codec::get_u64_be(k.data()) > now) {
      ++d.delayed;
      continue;
    }
    ++d.queued;
    if (d.head_pid.empty())
      d.head_pid.assign(v.data(), v.size());
  }
  for (auto& d : out)
    if (auto head = records::load(t, d.head_pid))
      d.head_since = std::max(head->updated_at, head->not_before);
  for (auto& rec : records::with_status(t, process_status::held))
    ++at(rec.priority).held;
  res.running = records::count_with_status(t, process_status::running);
  res.interrupted = records::count_with_status(t, process_status::interrupted);
  res.next_due = first_delayed(t);
  return res;
}

void upgrade_keys(const tx& t) {
  bool more = false;
  auto old = prefix_while(
    t, t.db.queue, [](std::string_view, std::string_view) { return true; },
    SIZE_MAX, more);
  for (auto& [key, pid] : old) {
    if (key.size() != 8)
      continue;
    del_raw(t.txn, t.db.queue, key);
    put_raw(t.txn, t.db.queue,
            codec::queue_key(0, codec::get_u64_be(key.data())), pid);
  }
}

} // namespace procman::tables::queue
