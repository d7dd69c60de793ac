#include "procman/persistence/requests.hpp"

#include "procman/messages/defaults.hpp"
#include "procman/persistence/codec.hpp"

namespace procman::tables::requests {

std::optional<std::string> remembered(const tx& t, const std::string& key) {
  auto raw = get_raw(t.txn, t.db.requests, key);
  if (!raw || raw->size() < 8)
    return std::nullopt;
  return std::string{raw->substr(8)};
}

void remember(const tx& t, const std::string& key, const std::string& pid,
              uint64_t now) {
  if (now > defaults::request_memory_ms) {
    auto cutoff = now - defaults::request_memory_ms;
    bool more = false;
    auto old = prefix_while(
      t, t.db.request_times,
      [cutoff](std::string_view k, std::string_view) {
        return k.size() >= 8 && codec::get_u64_be(k.data()) < cutoff;
      },
      defaults::request_forget_batch, more);
    for (auto& kv : old) {
      del_raw(t.txn, t.db.request_times, kv.first);
      del_raw(t.txn, t.db.requests, std::string_view{kv.first}.substr(8));
    }
  }
  auto time = codec::u64_key(now);
  put_raw(t.txn, t.db.requests, key, time + pid);
  put_raw(t.txn, t.db.request_times, time + key, std::string_view{"", 0});
}

} // namespace procman::tables::requests
