#include "procman/persistence/keys.hpp"

#include "procman/lifecycle/keys.hpp"
#include "procman/persistence/records.hpp"

namespace procman::tables::keys {

void update(const tx& t, const process_record* old, const process_record& rec) {
  bool held = old != nullptr && holds_key(*old);
  if (holds_key(rec) && !held)
    put_raw(t.txn, t.db.keys, rec.key, rec.pid);
  else if (held && !holds_key(rec))
    release(t, *old);
}

void release(const tx& t, const process_record& rec) {
  if (!holds_key(rec))
    return;
  if (auto owner = get_raw(t.txn, t.db.keys, rec.key);
      owner && *owner == rec.pid)
    del_raw(t.txn, t.db.keys, rec.key);
}

std::optional<process_record> holder(const tx& t, const std::string& key) {
  auto owner = key.empty() ? std::nullopt : get_raw(t.txn, t.db.keys, key);
  if (!owner)
    return std::nullopt;
  auto rec = records::load(t, std::string{*owner});
  if (!rec || !holds_key(*rec) || rec->key != key)
    return std::nullopt;
  return rec;
}

} // namespace procman::tables::keys
