#include "procman/persistence/queue.hpp"

#include <lmdb++.h>

#include "procman/persistence/codec.hpp"

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
