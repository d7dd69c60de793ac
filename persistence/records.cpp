#include "procman/persistence/records.hpp"

#include <algorithm>
#include <unordered_set>

#include <lmdb++.h>

#include "procman/lifecycle/machine.hpp"
#include "procman/messages/failure.hpp"
#include "procman/persistence/codec.hpp"
#include "procman/persistence/counters.hpp"
#include "procman/persistence/keys.hpp"
#include "procman/persistence/output.hpp"
#include "procman/persistence/queue.hpp"

namespace procman::tables::records {

namespace {

/// Whether the status index holds records of status `s` (running,
/// interrupted, held: no other index has them). Queued records
/// are in the queue or delayed table, terminal ones in the expiry index:
/// an entry in the status index would say again what those say, and cost
/// a page more per claim and per finish.
bool indexed(process_status s) {
  return s == process_status::running || s == process_status::interrupted
         || s == process_status::held;
}

std::string status_key(const process_record& rec) {
  return codec::u8_pid_key(static_cast<uint8_t>(rec.status), rec.pid);
}

std::string expiry_key(const process_record& rec) {
  return codec::u64_pid_key(rec.finished_at, rec.pid);
}

/// The pids of the records with status `s`: in the status index, or (not
/// indexed there) in the queue and delayed tables or the expiry index.
std::vector<std::string> pids_with(const tx& t, process_status s) {
  std::vector<std::string> out;
  auto collect = [&](MDB_dbi dbi, std::string_view prefix, size_t skip) {
    auto cur = lmdb::cursor::open(t.txn, dbi);
    lmdb::val k{prefix.data(), prefix.size()};
    lmdb::val v;
    for (bool ok = cur.get(k, v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
         ok
         && std::string_view{k.data(), k.size()}.substr(0, prefix.size())
              == prefix;
         ok = cur.get(k, v, MDB_NEXT)) {
      if (dbi == t.db.queue || dbi == t.db.delayed)
        out.emplace_back(v.data(), v.size());
      else if (k.size() > skip)
        out.emplace_back(k.data() + skip, k.size() - skip);
    }
  };
  if (indexed(s)) {
    auto prefix = static_cast<char>(static_cast<uint8_t>(s));
    collect(t.db.status, {&prefix, 1}, 1);
  } else if (s == process_status::queued) {
    collect(t.db.queue, {}, 0);
    collect(t.db.delayed, {}, 0);
  } else {
    std::vector<std::string> terminal;
    std::swap(out, terminal);
    collect(t.db.expiry, {}, 8);
    std::swap(out, terminal);
    for (auto& pid : terminal)
      if (auto rec = load(t, pid); rec && rec->status == s)
        out.push_back(std::move(pid));
  }
  return out;
}

} // namespace

std::optional<process_record> load(const tx& t, const std::string& pid) {
  if (auto i = t.saved_records.find(pid); i != t.saved_records.end())
    return i->second;
  auto raw = pid.empty() ? std::nullopt : get_raw(t.txn, t.db.processes, pid);
  if (!raw)
    return std::nullopt;
  auto rec = codec::decode<process_record>(raw->data(), raw->size());
  if (!rec)
    t.damaged("record " + pid + " is unreadable");
  return rec;
}

bool exists(const tx& t, std::string_view pid) {
  if (t.saved_records.count(pid) > 0)
    return true;
  return get_raw(t.txn, t.db.processes, pid).has_value();
}

void save(const tx& t, const process_record* old, const process_record& rec,
          uint64_t now) {
  t.saved_records.insert_or_assign(rec.pid, rec);
  counters::saved(t, old, rec);
  if (old == nullptr || old->status != rec.status) {
    if (old != nullptr && indexed(old->status))
      del_raw(t.txn, t.db.status, status_key(*old));
    if (indexed(rec.status))
      put_raw(t.txn, t.db.status, status_key(rec), {});
  }
  bool was_queued = old != nullptr && queue::waits(*old);
  bool is_queued = queue::waits(rec);
  bool same_place = was_queued && is_queued && queue::same_place(*old, rec);
  if (was_queued && !same_place)
    queue::unqueue(t, *old);
  if (is_queued && !same_place)
    queue::place(t, rec, now);
  if (is_terminal(rec.status) && (old == nullptr || !is_terminal(old->status)))
    put_raw(t.txn, t.db.expiry, expiry_key(rec), {});
  if (old != nullptr && is_terminal(old->status) && !is_terminal(rec.status))
    del_raw(t.txn, t.db.expiry, expiry_key(*old));
  if (old == nullptr)
    put_raw(t.txn, t.db.created, codec::u64_pid_key(rec.created_at, rec.pid),
            {});
  keys::update(t, old, rec);
}

void write_saved(const tx& t) {
  for (auto& [pid, rec] : t.saved_records)
    put_value(t, t.db.processes, pid, rec);
  t.saved_records.clear();
}

void mark_run_start(const tx& t, const process_record& rec, uint64_t at) {
  if (rec.status == process_status::running)
    put_raw(t.txn, t.db.status, status_key(rec), codec::u64_key(at));
}

std::optional<uint64_t> run_start(const tx& t, const process_record& rec) {
  if (rec.status != process_status::running)
    return std::nullopt;
  auto raw = get_raw(t.txn, t.db.status, status_key(rec));
  if (!raw || raw->size() != 8)
    return std::nullopt;
  return codec::get_u64_be(raw->data());
}

void remove(const tx& t, const process_record& rec) {
  t.saved_records.erase(rec.pid);
  del_raw(t.txn, t.db.processes, rec.pid);
  counters::removed(t, rec);
  if (indexed(rec.status))
    del_raw(t.txn, t.db.status, status_key(rec));
  if (queue::waits(rec))
    queue::unqueue(t, rec);
  keys::release(t, rec);
  if (is_terminal(rec.status))
    del_raw(t.txn, t.db.expiry, expiry_key(rec));
  del_raw(t.txn, t.db.created, codec::u64_pid_key(rec.created_at, rec.pid));
  output::remove(t, rec.pid);
}

std::vector<process_record> list(const tx& t, const list_query& q) {
  size_t limit = q.limit == 0 ? SIZE_MAX : q.limit;
  bool paged = !q.before_pid.empty();
  auto start = codec::u64_pid_key(q.before_created, q.before_pid);
  // Whether `rec` sorts below the page's start (newest first: created_at,
  // then pid, as the created index).
  auto below = [&](const process_record& rec) {
    return !paged || codec::u64_pid_key(rec.created_at, rec.pid) < start;
  };
  auto wanted_status = [&](const process_record& rec) {
    return q.any_status || rec.status == q.status;
  };
  std::vector<process_record> out;
  if (!q.key.empty()) {
    // One holder at most: the keys index.
    if (auto rec = keys::holder(t, q.key);
        rec && wanted_status(*rec) && below(*rec))
      out.push_back(std::move(*rec));
    return out;
  }
  std::unordered_set<std::string> wanted;
  if (!q.any_status) {
    auto pids = pids_with(t, q.status);
    wanted.insert(pids.begin(), pids.end());
    if (wanted.size() <= limit) {
      // Few enough: read them all and sort.
      for (auto& pid : wanted)
        if (auto rec = load(t, pid); rec && below(*rec))
          out.push_back(std::move(*rec));
      std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
        return a.created_at != b.created_at ? a.created_at > b.created_at
                                            : a.pid > b.pid;
      });
      return out;
    }
  }
  // Newest first: walk the created index backwards, from the page's start.
  auto cur = lmdb::cursor::open(t.txn, t.db.created);
  lmdb::val k{start.data(), start.size()};
  lmdb::val v;
  bool ok = false;
  if (!paged) {
    ok = cur.get(k, v, MDB_LAST);
  } else if (cur.get(k, v, MDB_SET_RANGE)) {
    // The first key at or above the start: the one before it is below.
    ok = cur.get(k, v, MDB_PREV);
  } else {
    ok = cur.get(k, v, MDB_LAST); // every key is below the start
  }
  for (; ok && out.size() < limit; ok = cur.get(k, v, MDB_PREV)) {
    if (k.size() <= 8)
      continue;
    std::string pid{k.data() + 8, k.size() - 8};
    if (!q.any_status && wanted.count(pid) == 0)
      continue;
    if (auto rec = load(t, pid))
      out.push_back(std::move(*rec));
  }
  return out;
}

std::vector<process_record> with_status(const tx& t, process_status s) {
  std::vector<process_record> out;
  auto pids = pids_with(t, s);
  out.reserve(pids.size());
  for (auto& pid : pids) {
    auto rec = load(t, pid);
    if (!rec)
      t.damaged("an index names missing process " + pid);
    out.push_back(std::move(*rec));
  }
  return out;
}

uint64_t count_with_status(const tx& t, process_status s) {
  if (!indexed(s))
    return 0;
  auto prefix = static_cast<char>(static_cast<uint8_t>(s));
  auto cur = lmdb::cursor::open(t.txn, t.db.status);
  lmdb::val k{&prefix, 1};
  lmdb::val v;
  uint64_t n = 0;
  for (bool ok = cur.get(k, v, MDB_SET_RANGE);
       ok && k.size() > 0 && k.data()[0] == prefix;
       ok = cur.get(k, v, MDB_NEXT))
    ++n;
  return n;
}

std::vector<process_record> finished_before(const tx& t, uint64_t cutoff,
                                            size_t max, bool& more) {
  auto keys = prefix_while(
    t, t.db.expiry,
    [cutoff](std::string_view key, std::string_view) {
      return key.size() >= 8 && codec::get_u64_be(key.data()) < cutoff;
    },
    max, more);
  std::vector<process_record> out;
  for (auto& kv : keys) {
    auto rec = load(t, kv.first.substr(8));
    if (!rec || !is_terminal(rec->status)) {
      del_raw(t.txn, t.db.expiry, kv.first); // stale index entry
      continue;
    }
    out.push_back(std::move(*rec));
  }
  return out;
}

void upgrade_status_index(const tx& t) {
  bool more = false;
  auto all = prefix_while(
    t, t.db.status, [](std::string_view, std::string_view) { return true; },
    SIZE_MAX, more);
  for (auto& kv : all)
    if (kv.first.empty()
        || !indexed(
          static_cast<process_status>(static_cast<uint8_t>(kv.first[0]))))
      del_raw(t.txn, t.db.status, kv.first);
}

uint64_t count(const tx& t) {
  write_saved(t); // new records count
  MDB_stat st;
  lmdb::dbi_stat(t.txn, t.db.processes, &st);
  return st.ms_entries;
}

} // namespace procman::tables::records
