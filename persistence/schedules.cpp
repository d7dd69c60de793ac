#include "procman/persistence/schedules.hpp"

#include <lmdb++.h>

#include "procman/messages/failure.hpp"
#include "procman/persistence/codec.hpp"

namespace procman::tables::schedules {

namespace {

schedule_record decode(const tx& t, std::string_view name,
                       std::string_view raw) {
  auto x = codec::decode<schedule_record>(raw.data(), raw.size());
  if (!x)
    t.damaged("schedule " + std::string{name} + " is unreadable");
  return std::move(*x);
}

} // namespace

std::optional<schedule_record> load(const tx& t, const std::string& name) {
  auto raw = name.empty() ? std::nullopt : get_raw(t.txn, t.db.schedules, name);
  if (!raw)
    return std::nullopt;
  return decode(t, name, *raw);
}

void save(const tx& t, const schedule_record& x) {
  put_value(t, t.db.schedules, x.name, x);
}

void remove(const tx& t, const std::string& name) {
  del_raw(t.txn, t.db.schedules, name);
}

std::vector<schedule_record> all(const tx& t) {
  std::vector<schedule_record> out;
  auto cur = lmdb::cursor::open(t.txn, t.db.schedules);
  lmdb::val k;
  lmdb::val v;
  for (bool ok = cur.get(k, v, MDB_FIRST); ok; ok = cur.get(k, v, MDB_NEXT))
    out.push_back(decode(t, {k.data(), k.size()}, {v.data(), v.size()}));
  return out;
}

} // namespace procman::tables::schedules
