#include "procman/persistence/settings.hpp"

#include "procman/messages/defaults.hpp"
#include "procman/persistence/codec.hpp"
#include "procman/persistence/log.hpp"
#include "procman/persistence/records.hpp"

namespace procman {

std::string to_string(store_setting x) {
  return x == store_setting::output_limit ? "output-limit" : "retention";
}

std::optional<store_setting> store_setting_from(const std::string& name) {
  if (name == "retention")
    return store_setting::retention;
  if (name == "output-limit")
    return store_setting::output_limit;
  return std::nullopt;
}

} // namespace procman

namespace procman::tables::settings {

namespace {

/// Limits the work of one purge transaction so that it never grows into
/// MDB_TXN_FULL.
constexpr size_t purge_chunk = 2000;

/// The meta key of a setting.
std::string setting_key(store_setting s) {
  return "setting." + to_string(s);
}

} // namespace

std::optional<uint64_t> read(const tx& t, store_setting s) {
  auto raw = get_raw(t.txn, t.db.meta, setting_key(s));
  if (!raw)
    return std::nullopt;
  if (raw->size() != 8)
    t.damaged("meta \"" + setting_key(s) + "\" is unreadable");
  return codec::get_u64_be(raw->data());
}

void write(const tx& t, store_setting s, std::optional<uint64_t> value) {
  if (value)
    put_raw(t.txn, t.db.meta, setting_key(s), codec::u64_key(*value));
  else
    del_raw(t.txn, t.db.meta, setting_key(s));
}

uint64_t retention(const tx& t, const store_options& opts) {
  if (opts.retention_ms > 0)
    return opts.retention_ms;
  return read(t, store_setting::retention).value_or(defaults::retention_ms);
}

uint64_t output_limit(const tx& t, const store_options& opts) {
  if (opts.output_limit)
    return *opts.output_limit;
  return read(t, store_setting::output_limit).value_or(defaults::output_limit);
}

size_t purge(const tx& t, const store_options& opts, uint64_t cutoff,
             const std::string& source, uint64_t now, bool& more) {
  size_t removed = 0;
  for (auto& rec : records::finished_before(t, cutoff, purge_chunk, more)) {
    records::remove(t, rec);
    transition what;
    what.kind = transition_kind::purge;
    what.pid = rec.pid;
    what.source = source;
    log::append(t, what, rec, now);
    ++removed;
  }
  if (more)
    return removed;
  // The log is kept for the retention period whatever the records'
  // cutoff: a process still in the store keeps its history.
  auto keep = retention(t, opts);
  log::trim(t, now > keep ? now - keep : 0, purge_chunk, more);
  return removed;
}

} // namespace procman::tables::settings
