#include "procman/persistence/keys.hpp"

#include "procman/persistence/records.hpp"

namespace procman::tables::keys {

bool holds(const process_record& rec) {
  return !rec.key.empty()
         && (rec.status == process_status::queued
             || rec.status == process_status::running
             || rec.status == process_status::interrupted);
}

void update(const tx& t, const process_record* old, const process_record& rec) {
  bool held = old != nullptr && holds(*old);
  if (holds(rec) && !held)
    put_raw(t.txn, t.db.keys, rec.key, rec.pid);
  else if (held && !holds(rec))
    release(t, *old);
}

void release(const tx& t, const process_record& rec) {
  std::string_view owner;
  if (holds(rec) && get_raw(t.txn, t.db.keys, rec.key, owner)
      && owner == rec.pid)
    del_raw(t.txn, t.db.keys, rec.key);
}

std::optional<process_record> holder(const tx& t, const std::string& key) {
  std::string_view owner;
  if (key.empty() || !get_raw(t.txn, t.db.keys, key, owner))
    return std::nullopt;
  auto rec = records::load(t, std::string{owner});
  if (!rec || !holds(*rec) || rec->key != key)
    return std::nullopt;
  return rec;
}

} // namespace procman::tables::keys
