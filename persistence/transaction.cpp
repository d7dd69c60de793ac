#include "procman/persistence/transaction.hpp"

#include <cerrno>
#include <chrono>
#include <mutex>
#include <system_error>

#include "procman/messages/failure.hpp"
#include "procman/persistence/codec.hpp"
#include "procman/persistence/counters.hpp"
#include "procman/persistence/environment.hpp"
#include "procman/persistence/records.hpp"
#include "procman/platform/paths.hpp"

namespace procman::tables {

namespace {

/// How often one operation may grow or re-map before giving up.
constexpr int max_map_retries = 40;

/// lmdbxx's txn::commit() nulls its handle only after mdb_txn_commit, which
/// frees the transaction even when it fails: a failed commit would then be
/// aborted a second time by the destructor. Null the handle first.
class safe_txn : public lmdb::txn {
public:
  explicit safe_txn(lmdb::txn&& other) noexcept : lmdb::txn(std::move(other)) {
    // nop
  }

  void commit() {
    auto handle = _handle;
    _handle = nullptr;
    lmdb::txn_commit(handle);
  }
};

/// What a user reads for a failed LMDB call. A full disk (or quota) is
/// named as such, whichever call hit it; other errors say what LMDB
/// reports. Both name the store.
std::string io_failure(const std::string& dir, const lmdb::error& e) {
  auto where = " (store " + dir + ")";
  switch (platform::disk_error_of(e.code())) {
    case platform::disk_error::full:
      return "no space left on device" + where;
    case platform::disk_error::quota:
      return "no space left on device" + where + ": disk quota exceeded";
    case platform::disk_error::io:
      return errno_text(EIO) + where + " in " + e.origin()
             + ": the disk is full (no space left on device) or failing";
    default:
      return "store " + dir + ": " + e.what();
  }
}

} // namespace

// -- the environment ----------------------------------------------------------

bool is_damage_code(int code) {
  return code == MDB_INVALID || code == MDB_CORRUPTED
         || code == MDB_VERSION_MISMATCH || code == MDB_PANIC
         || code == MDB_INCOMPATIBLE || code == MDB_PAGE_NOTFOUND;
}

std::string errno_text(int code) {
  return std::generic_category().message(code);
}

void environment::transact(bool write, bool sync, const std::string& dir,
                           const std::function<void(const tx&)>& body) {
  for (int attempt = 0;; ++attempt) {
    int code = 0;
    uint64_t seen_size = 0;
    {
      std::shared_lock<std::shared_mutex> guard{mtx};
      seen_size = map_size;
      try {
        safe_txn txn{
          lmdb::txn::begin(env, nullptr, write ? 0u : unsigned{MDB_RDONLY})};
        tx t{txn.handle(), db, dir, 0, {}};
        body(t);
        if (write) {
          records::write_saved(t);
          auto begin = std::chrono::steady_clock::now();
          txn.commit();
          if (sync)
            lmdb::env_sync(env, true);
          auto took = std::chrono::steady_clock::now() - begin;
          counters::note_commit_latency(static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(took)
              .count()));
        }
        return;
      } catch (const lmdb::error& e) {
        if ((e.code() != MDB_MAP_FULL && e.code() != MDB_MAP_RESIZED)
            || attempt >= max_map_retries)
          throw;
        code = e.code();
      }
    }
    std::unique_lock<std::shared_mutex> guard{mtx};
    if (map_size != seen_size)
      continue; // another thread already resized
    // MDB_MAP_RESIZED: another process grew the map, adopt its size.
    lmdb::env_set_mapsize(env, code == MDB_MAP_RESIZED ? 0 : map_size * 2);
    MDB_envinfo info;
    lmdb::env_info(env, &info);
    map_size = info.me_mapsize;
  }
}

failure environment::guarded(bool write, bool sync, const std::string& dir,
                             const std::function<void(const tx&)>& body) {
  try {
    transact(write, sync, dir, body);
    return {};
  } catch (const store_failure& f) {
    return f.err;
  } catch (const lmdb::error& e) {
    if (is_damage_code(e.code()))
      return damaged_store(dir, e.what());
    return make_failure(errc::storage_failure, io_failure(dir, e));
  } catch (const std::exception& e) {
    return make_failure(errc::storage_failure,
                        "store " + dir + ": " + e.what());
  }
}

// -- transactions -------------------------------------------------------------

failure database::read(const std::function<void(const tx&)>& body) {
  return guarded(false, body);
}

failure database::write(const std::function<void(const tx&)>& body) {
  auto latencies = counters::take_commit_latencies();
  return guarded(true, [&](const tx& t) {
    counters::discard();
    body(t);
    counters::commit_noted(t, latencies);
  });
}

failure database::guarded(bool write,
                          const std::function<void(const tx&)>& body) {
  return env_->guarded(write, write && sync_after_commit_, dir_, body);
}

void database::sizes(uint64_t& map_size, uint64_t& used_bytes) const {
  MDB_envinfo info;
  lmdb::env_info(env_->env, &info);
  MDB_stat est;
  lmdb::env_stat(env_->env, &est);
  map_size = info.me_mapsize;
  used_bytes = (info.me_last_pgno + 1) * uint64_t{est.ms_psize};
}

// -- errors -------------------------------------------------------------------

failure damaged_store(const std::string& dir, const std::string& what) {
  return make_failure(errc::store_damaged,
                      "store " + dir + " is damaged: " + what);
}

void tx::damaged(const std::string& what) const {
  throw store_failure{damaged_store(dir, what)};
}

// -- raw access ---------------------------------------------------------------

std::optional<std::string_view> get_raw(MDB_txn* txn, MDB_dbi dbi,
                                        std::string_view key) {
  lmdb::val k{key.data(), key.size()};
  lmdb::val v;
  if (!lmdb::dbi_get(txn, dbi, k, v))
    return std::nullopt;
  return std::string_view{v.data(), v.size()};
}

void put_raw(MDB_txn* txn, MDB_dbi dbi, std::string_view key,
             std::string_view value) {
  lmdb::val k{key.data(), key.size()};
  lmdb::val v{value.data(), value.size()};
  lmdb::dbi_put(txn, dbi, k, v, 0);
}

void del_raw(MDB_txn* txn, MDB_dbi dbi, std::string_view key) {
  lmdb::val k{key.data(), key.size()};
  lmdb::dbi_del(txn, dbi, k, nullptr);
}

std::vector<std::pair<std::string, std::string>> prefix_while(
  const tx& t, MDB_dbi dbi,
  const std::function<bool(std::string_view, std::string_view)>& keep,
  size_t max, bool& more) {
  more = false;
  std::vector<std::pair<std::string, std::string>> out;
  auto cur = lmdb::cursor::open(t.txn, dbi);
  lmdb::val k;
  lmdb::val v;
  for (bool ok = cur.get(k, v, MDB_FIRST); ok; ok = cur.get(k, v, MDB_NEXT)) {
    std::string_view key{k.data(), k.size()};
    std::string_view value{v.data(), v.size()};
    if (!keep(key, value))
      break;
    if (out.size() == max) {
      more = true;
      break;
    }
    out.emplace_back(key, value);
  }
  return out;
}

// -- counters -----------------------------------------------------------------

uint64_t read_counter(const tx& t, const char* name) {
  auto raw = get_raw(t.txn, t.db.meta, name);
  if (!raw)
    return 0;
  if (raw->size() != 8)
    t.damaged(std::string{"meta \""} + name + "\" is unreadable");
  return codec::get_u64_be(raw->data());
}

uint64_t next_counter(const tx& t, const char* name) {
  auto x = read_counter(t, name) + 1;
  put_raw(t.txn, t.db.meta, name, codec::u64_key(x));
  return x;
}

} // namespace procman::tables
