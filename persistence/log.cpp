#include "procman/persistence/log.hpp"

#include <algorithm>

#include <lmdb++.h>

#include "procman/messages/failure.hpp"
#include "procman/persistence/codec.hpp"
#include "procman/persistence/legacy_log_entry.hpp"

namespace procman::tables::log {

namespace {

void write(const tx& t, const codec::entry_parts& e) {
  put_value(t, t.db.log, codec::u64_key(e.seq), e);
}

/// The log's first (MDB_FIRST) or last (MDB_LAST) key, 0 if it is empty.
uint64_t edge_key(const tx& t, MDB_cursor_op which) {
  auto cur = lmdb::cursor::open(t.txn, t.db.log);
  lmdb::val k;
  lmdb::val v;
  if (cur.get(k, v, which) && k.size() == 8)
    return codec::get_u64_be(k.data());
  return 0;
}

/// The next entry's sequence number. The log's last key is the last one:
/// a commit writes no counter (`meta` "seq" keeps it only across a trim
/// that empties the log). Looked up once per transaction.
uint64_t next_seq(const tx& t) {
  if (t.log_seq == 0)
    t.log_seq = last_seq(t);
  return ++t.log_seq;
}

/// An entry of `what` (not copied: the writer only reads it).
codec::entry_parts entry(const tx& t, const transition& what, uint64_t time) {
  return {next_seq(t), time, const_cast<transition&>(what),
          process_status::queued, 0};
}

/// Reads a log entry of any version (persistence/codec.hpp).
outcome<log_entry> read_entry(const tx& t, std::string_view v) {
  if (codec::version_of(v.data(), v.size()) == 1) {
    if (auto old = codec::decode_body<legacy_log_entry>(v.data() + 1,
                                                        v.size() - 1))
      return upgrade(std::move(*old));
  } else if (auto e = codec::decode<log_entry>(v.data(), v.size())) {
    return std::move(*e);
  }
  return damaged_store(t.dir, "log entry is unreadable");
}

} // namespace

void append(const tx& t, const transition& what, const process_record& rec,
            uint64_t time) {
  auto e = entry(t, what, time);
  e.status_after = rec.status;
  e.digest = codec::record_digest(rec);
  write(t, e);
}

void append(const tx& t, const transition& what, const schedule_record& x,
            uint64_t time) {
  auto e = entry(t, what, time);
  e.digest = codec::schedule_digest(x);
  write(t, e);
}

std::vector<log_entry> after(const tx& t, uint64_t since, size_t limit,
                             const std::string& pid) {
  std::vector<log_entry> out;
  if (since == UINT64_MAX || limit == 0)
    return out;
  auto start = codec::u64_key(since + 1);
  auto cur = lmdb::cursor::open(t.txn, t.db.log);
  lmdb::val k{start.data(), start.size()};
  lmdb::val v;
  for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok && out.size() < limit;
       ok = cur.get(k, v, MDB_NEXT)) {
    auto e = read_entry(t, {v.data(), v.size()});
    if (!e)
      throw store_failure{e.error()};
    if (!pid.empty() && e->what.pid != pid)
      continue;
    out.push_back(std::move(*e));
  }
  return out;
}

void trim(const tx& t, uint64_t cutoff, size_t max, bool& more) {
  auto old = prefix_while(
    t, t.db.log,
    [&t, cutoff](std::string_view, std::string_view value) {
      auto e = read_entry(t, value);
      return e && e->time < cutoff;
    },
    max, more);
  if (!old.empty())
    put_raw(t.txn, t.db.meta, key_seq, codec::u64_key(last_seq(t)));
  for (auto& kv : old)
    del_raw(t.txn, t.db.log, kv.first);
}

uint64_t last_seq(const tx& t) {
  return std::max(read_counter(t, key_seq), edge_key(t, MDB_LAST));
}

uint64_t first_seq(const tx& t) {
  return edge_key(t, MDB_FIRST);
}

} // namespace procman::tables::log
