// The LMDB store. See store.hpp for the layout. The rules of transitions
// are not here: lifecycle/machine.hpp says what a transition does, the
// store persists what it returns.
//
// Shape of every operation:
//
//   store::apply / claim / purge / get / ...
//     -> impl::guarded(write, body)        lmdb::error -> errc::storage_failure
//        -> impl::transact(write, body)    MDB_MAP_FULL: abort, double, retry
//                                          MDB_MAP_RESIZED: adopt, retry
//           -> body(txn)                   reads and writes through the txn
//
// A transition: load the record, `next(record, transition, now)`, then
// write the record, the indexes whose keys change and the log entry. A
// refused one writes nothing, so the others in the batch commit.

#include "procman/persistence/store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <system_error>
#include <unordered_set>

#include <dirent.h>
#include <fcntl.h>
#include <lmdb++.h>
#include <pwd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procman/lifecycle/cron.hpp"
#include "procman/lifecycle/machine.hpp"
#include "procman/messages/json.hpp"
#include "procman/persistence/codec.hpp"
#include "procman/persistence/doorbell.hpp"
#include "procman/persistence/legacy_log_entry.hpp"
#include "procman/persistence/store_directory.hpp"

namespace procman {

namespace {

namespace fs = std::filesystem;

// -- helpers ------------------------------------------------------------------

/// Carries a procman error out of a transaction body; the transaction aborts.
struct store_failure {
  caf::error err;
};

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

/// Limits the work of one purge transaction so that it never grows into
/// MDB_TXN_FULL.
constexpr size_t purge_chunk = 2000;

/// How often one operation may grow or re-map before giving up.
constexpr int max_map_retries = 40;

constexpr char key_schema[] = "schema";
constexpr char key_seq[] = "seq";
constexpr char key_qseq[] = "qseq";

/// The meta key of a setting.
std::string setting_key(store_setting s) {
  return "setting." + to_string(s);
}

/// Value versions of the `output` database.
constexpr char output_version = 1;

/// The bounds of a process's live output (its key is the pid alone).
struct output_bounds {
  uint64_t next_seq = 1;
  uint64_t first_seq = 1; ///< == next_seq: no chunk kept
  uint64_t kept = 0;
  uint64_t dropped = 0;
};

constexpr size_t output_bounds_size = 1 + 4 * 8;
constexpr size_t output_chunk_head = 1 + 1 + 4 + 8;

std::string output_key(std::string_view pid, uint64_t seq) {
  std::string key{pid};
  key += codec::u64_key(seq);
  return key;
}

void put_u32_be(char* out, uint32_t x) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<char>(x & 0xFF);
    x >>= 8;
  }
}

uint32_t get_u32_be(const char* in) {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x = (x << 8) | static_cast<uint8_t>(in[i]);
  return x;
}

/// Where to cut `data` so that at most `keep` bytes from its end stay, at
/// a character boundary (what follows the cut is valid UTF-8 if `data` is).
size_t front_cut(std::string_view data, uint64_t keep) {
  if (data.size() <= keep)
    return 0;
  auto cut = data.size() - static_cast<size_t>(keep);
  while (cut < data.size()
         && (static_cast<unsigned char>(data[cut]) & 0xC0) == 0x80)
    ++cut;
  return cut;
}

std::string errno_text(int code) {
  return std::generic_category().message(code);
}

bool is_damage_code(int code) {
  return code == MDB_INVALID || code == MDB_CORRUPTED
         || code == MDB_VERSION_MISMATCH || code == MDB_PANIC
         || code == MDB_INCOMPATIBLE || code == MDB_PAGE_NOTFOUND;
}

// -- raw access ---------------------------------------------------------------

bool get_raw(MDB_txn* txn, MDB_dbi dbi, std::string_view key,
             std::string_view& out) {
  lmdb::val k{key.data(), key.size()};
  lmdb::val v;
  if (!lmdb::dbi_get(txn, dbi, k, v))
    return false;
  out = std::string_view{v.data(), v.size()};
  return true;
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

/// Writes this procman's schema version into `meta` (u32 big-endian).
void put_schema(MDB_txn* txn, MDB_dbi meta) {
  char buf[4];
  auto v = defaults::schema_version;
  for (int i = 3; i >= 0; --i) {
    buf[i] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  put_raw(txn, meta, key_schema, std::string_view{buf, 4});
}

} // namespace

// -- environment ----------------------------------------------------------------

namespace {

/// The LMDB environment of one store directory in this OS process, shared
/// by every `store` opened on that directory. LMDB must not open one
/// environment twice in a process (closing either copy drops the locks of
/// the other), so `store::open` hands out this one object instead.
struct environment {
  lmdb::env env{nullptr};
  MDB_dbi meta = 0;
  MDB_dbi processes = 0;
  MDB_dbi queue = 0;
  MDB_dbi status = 0;
  MDB_dbi expiry = 0;
  MDB_dbi created = 0;
  MDB_dbi log = 0;
  MDB_dbi output = 0;
  MDB_dbi delayed = 0;
  MDB_dbi keys = 0;
  MDB_dbi schedules = 0;
  MDB_dbi requests = 0;
  MDB_dbi request_times = 0;

  /// Shared by every transaction of this process; exclusive while the map
  /// is resized (LMDB requires that no transaction of the environment be
  /// active then).
  std::shared_mutex mtx;

  /// Map size of this process's mapping; guarded by `mtx`.
  uint64_t map_size = 0;

  /// Opened with MDB_NOSYNC: durable stores sync after each commit.
  bool no_sync = false;

  /// The process that opened it. A forked child inherits the object but
  /// must open its own environment.
  pid_t owner = 0;
};

using environment_ptr = std::shared_ptr<environment>;

/// Open environments by directory (device and inode), this process only.
struct registry {
  std::mutex mtx;
  std::map<std::pair<uint64_t, uint64_t>, std::weak_ptr<environment>> envs;

  static registry& instance() {
    static registry* r = new registry; // never destroyed: used at exit
    return *r;
  }
};

} // namespace

// -- impl ---------------------------------------------------------------------

struct store::impl {
  store_options opts;
  environment_ptr shared;
  MDB_dbi meta = 0;
  MDB_dbi processes = 0;
  MDB_dbi queue = 0;
  MDB_dbi status = 0;
  MDB_dbi expiry = 0;
  MDB_dbi created = 0;
  MDB_dbi log = 0;
  MDB_dbi output = 0;
  MDB_dbi delayed = 0;
  MDB_dbi keys = 0;
  MDB_dbi schedules = 0;
  /// Request keys of clients (transition::request) -> u64 time of the
  /// commit (big-endian) + the pid it touched.
  MDB_dbi requests = 0;
  /// u64 time (big-endian) + request key -> "": the keys by age.
  MDB_dbi request_times = 0;

  /// This store is durable but shares an environment opened with
  /// MDB_NOSYNC: it syncs after each of its commits.
  bool sync_after_commit = false;

  void attach(environment_ptr env) {
    shared = std::move(env);
    meta = shared->meta;
    processes = shared->processes;
    queue = shared->queue;
    status = shared->status;
    expiry = shared->expiry;
    created = shared->created;
    log = shared->log;
    output = shared->output;
    delayed = shared->delayed;
    keys = shared->keys;
    schedules = shared->schedules;
    requests = shared->requests;
    request_times = shared->request_times;
    sync_after_commit = shared->no_sync && !opts.no_sync;
  }

  uint64_t now() const {
    return opts.clock ? opts.clock() : now_ms();
  }

  /// What a user reads for a failed LMDB call. A full disk (or quota) is
  /// named as such, whichever call hit it; other errors say what LMDB
  /// reports. Both name the store.
  std::string io_failure(const lmdb::error& e) const {
    auto where = " (store " + opts.dir + ")";
    switch (e.code()) {
      case ENOSPC:
        return "no space left on device" + where;
      case EDQUOT:
        return "no space left on device" + where + ": disk quota exceeded";
      case EIO:
        return errno_text(EIO) + where + " in " + e.origin()
               + ": the disk is full (no space left on device) or failing";
      default:
        return "store " + opts.dir + ": " + e.what();
    }
  }

  caf::error damaged(const std::string& what) const {
    return make_error(errc::store_damaged,
                      "store " + opts.dir + " is damaged: " + what);
  }

  // -- transactions -----------------------------------------------------------

  /// Runs `body` in one transaction, committing it when `write`. Grows or
  /// re-maps the map and retries on MDB_MAP_FULL / MDB_MAP_RESIZED. Throws
  /// lmdb::error and store_failure.
  template <class F>
  void transact(bool write, F&& body) {
    auto& sh = *shared;
    for (int attempt = 0;; ++attempt) {
      int code = 0;
      uint64_t seen_size = 0;
      {
        std::shared_lock<std::shared_mutex> guard{sh.mtx};
        seen_size = sh.map_size;
        try {
          safe_txn txn{lmdb::txn::begin(sh.env, nullptr,
                                        write ? 0u : unsigned{MDB_RDONLY})};
          body(txn.handle());
          if (write) {
            txn.commit();
            if (sync_after_commit)
              lmdb::env_sync(sh.env, true);
          }
          return;
        } catch (const lmdb::error& e) {
          if ((e.code() != MDB_MAP_FULL && e.code() != MDB_MAP_RESIZED)
              || attempt >= max_map_retries)
            throw;
          code = e.code();
        }
      }
      std::unique_lock<std::shared_mutex> guard{sh.mtx};
      if (sh.map_size != seen_size)
        continue; // another thread already resized
      if (code == MDB_MAP_RESIZED) {
        // Another process grew the map: adopt its size.
        lmdb::env_set_mapsize(sh.env, 0);
      } else {
        lmdb::env_set_mapsize(sh.env, sh.map_size * 2);
      }
      MDB_envinfo info;
      lmdb::env_info(sh.env, &info);
      sh.map_size = info.me_mapsize;
    }
  }

  /// `transact` with every failure turned into a procman error.
  template <class F>
  caf::error guarded(bool write, F&& body) {
    try {
      transact(write, std::forward<F>(body));
      return {};
    } catch (const store_failure& f) {
      return f.err;
    } catch (const lmdb::error& e) {
      if (is_damage_code(e.code()))
        return damaged(e.what());
      return make_error(errc::storage_failure, io_failure(e));
    } catch (const std::exception& e) {
      return make_error(errc::storage_failure,
                        "store " + opts.dir + ": " + e.what());
    }
  }

  // -- records and indexes ----------------------------------------------------

  std::optional<process_record> load(MDB_txn* txn, const std::string& pid) {
    std::string_view raw;
    if (pid.empty() || !get_raw(txn, processes, pid, raw))
      return std::nullopt;
    process_record rec;
    if (!codec::decode(raw.data(), raw.size(), rec))
      throw store_failure{damaged("record " + pid + " is unreadable")};
    return rec;
  }

  /// Writes `rec` and brings every index from `old` (null: a new record)
  /// to `rec`.
  void save(MDB_txn* txn, const process_record* old,
            const process_record& rec, uint64_t now) {
    std::vector<char> buf;
    if (auto err = codec::encode(rec, buf))
      throw store_failure{
        make_error(errc::storage_failure, "cannot encode " + rec.pid)};
    put_raw(txn, processes, rec.pid, std::string_view{buf.data(), buf.size()});
    auto st = [](process_status s) { return static_cast<uint8_t>(s); };
    if (old == nullptr || old->status != rec.status) {
      if (old != nullptr)
        del_raw(txn, status, codec::u8_pid_key(st(old->status), old->pid));
      put_raw(txn, status, codec::u8_pid_key(st(rec.status), rec.pid), {});
    }
    bool was_queued = old != nullptr && old->status == process_status::queued
                      && old->queue_seq != 0;
    bool is_queued = rec.status == process_status::queued && rec.queue_seq != 0;
    bool same_place = was_queued && is_queued
                      && old->queue_seq == rec.queue_seq
                      && old->priority == rec.priority
                      && old->not_before == rec.not_before;
    if (was_queued && !same_place)
      unqueue(txn, *old);
    if (is_queued && !same_place) {
      // Not yet due: in the delayed index, out of the claims' way, until a
      // claim at or after its time moves it into the queue.
      if (rec.not_before > now)
        put_raw(txn, delayed,
                codec::delayed_key(rec.not_before, rec.priority,
                                   rec.queue_seq),
                rec.pid);
      else
        put_raw(txn, queue, codec::queue_key(rec.priority, rec.queue_seq),
                rec.pid);
    }
    if (is_terminal(rec.status)
        && (old == nullptr || !is_terminal(old->status)))
      put_raw(txn, expiry, codec::u64_pid_key(rec.finished_at, rec.pid), {});
    if (old != nullptr && is_terminal(old->status)
        && !is_terminal(rec.status))
      del_raw(txn, expiry, codec::u64_pid_key(old->finished_at, old->pid));
    if (old == nullptr)
      put_raw(txn, created, codec::u64_pid_key(rec.created_at, rec.pid), {});
    bool held = old != nullptr && holds_key(*old);
    if (holds_key(rec) && !held)
      put_raw(txn, keys, rec.key, rec.pid);
    else if (held && !holds_key(rec))
      release_key(txn, *old);
  }

  /// Whether a record holds its unique key: while it may still run.
  static bool holds_key(const process_record& rec) {
    return !rec.key.empty()
           && (rec.status == process_status::queued
               || rec.status == process_status::held
               || rec.status == process_status::running
               || rec.status == process_status::interrupted);
  }

  void release_key(MDB_txn* txn, const process_record& rec) {
    std::string_view owner;
    if (get_raw(txn, keys, rec.key, owner) && owner == rec.pid)
      del_raw(txn, keys, rec.key);
  }

  /// The live process holding `key`, if any.
  std::optional<process_record> key_holder(MDB_txn* txn,
                                           const std::string& key) {
    std::string_view owner;
    if (key.empty() || !get_raw(txn, keys, key, owner))
      return std::nullopt;
    auto rec = load(txn, std::string{owner});
    if (!rec || !holds_key(*rec) || rec->key != key)
      return std::nullopt;
    return rec;
  }

  /// Takes a queued record out of the queue or delayed index, wherever it is.
  void unqueue(MDB_txn* txn, const process_record& rec) {
    del_raw(txn, queue, codec::queue_key(rec.priority, rec.queue_seq));
    if (rec.not_before != 0)
      del_raw(txn, delayed,
              codec::delayed_key(rec.not_before, rec.priority, rec.queue_seq));
  }

  /// Moves the delayed processes that are due at `now` into the queue:
  /// O(log n) each; nothing to do costs one cursor read.
  void promote_due(MDB_txn* txn, uint64_t now) {
    std::vector<std::pair<std::string, std::string>> due;
    {
      auto cur = lmdb::cursor::open(txn, delayed);
      lmdb::val k;
      lmdb::val v;
      for (bool ok = cur.get(k, v, MDB_FIRST);
           ok && k.size() == 20 && codec::get_u64_be(k.data()) <= now;
           ok = cur.get(k, v, MDB_NEXT))
        due.emplace_back(std::string{k.data(), k.size()},
                         std::string{v.data(), v.size()});
    }
    for (auto& [key, pid] : due) {
      del_raw(txn, delayed, key);
      put_raw(txn, queue, std::string_view{key}.substr(8), pid);
    }
  }

  /// The earliest not_before in the delayed index, 0 if none.
  uint64_t first_delayed(MDB_txn* txn) {
    auto cur = lmdb::cursor::open(txn, delayed);
    lmdb::val k;
    lmdb::val v;
    if (cur.get(k, v, MDB_FIRST) && k.size() >= 8)
      return codec::get_u64_be(k.data());
    return 0;
  }

  // -- schedules ---------------------------------------------------------------

  std::optional<schedule_record> load_schedule(MDB_txn* txn,
                                               const std::string& name) {
    std::string_view raw;
    if (name.empty() || !get_raw(txn, schedules, name, raw))
      return std::nullopt;
    schedule_record x;
    if (!codec::decode(raw.data(), raw.size(), x))
      throw store_failure{damaged("schedule " + name + " is unreadable")};
    return x;
  }

  void save_schedule(MDB_txn* txn, const schedule_record& x) {
    std::vector<char> buf;
    if (auto err = codec::encode(x, buf))
      throw store_failure{
        make_error(errc::storage_failure, "cannot encode schedule " + x.name)};
    put_raw(txn, schedules, x.name, std::string_view{buf.data(), buf.size()});
  }

  std::vector<schedule_record> all_schedules(MDB_txn* txn) {
    std::vector<schedule_record> out;
    auto cur = lmdb::cursor::open(txn, schedules);
    lmdb::val k;
    lmdb::val v;
    for (bool ok = cur.get(k, v, MDB_FIRST); ok;
         ok = cur.get(k, v, MDB_NEXT)) {
      schedule_record x;
      if (!codec::decode(v.data(), v.size(), x))
        throw store_failure{damaged("schedule "
                                    + std::string{k.data(), k.size()}
                                    + " is unreadable")};
      out.push_back(std::move(x));
    }
    return out;
  }

  /// A schedule_add or schedule_remove: writes or removes the schedule and
  /// logs it. The record returned is empty (no process changed).
  caf::expected<process_record> schedule_step(MDB_txn* txn, transition& t,
                                              uint64_t now, bool& ring) {
    auto old = load_schedule(txn, t.schedule);
    schedule_record x;
    if (t.kind == transition_kind::schedule_remove) {
      if (!old)
        return make_error(errc::unknown_schedule,
                          "no schedule \"" + t.schedule + "\"");
      del_raw(txn, schedules, t.schedule);
      x = std::move(*old);
    } else {
      if (t.schedule.empty())
        return make_error(errc::invalid_argument, "a schedule needs a name");
      auto expr = parse_cron(t.cron);
      if (!expr)
        return to_error(expr.error());
      if (auto f = check_spec(t.spec))
        return to_error(f);
      if (t.spec.not_before != 0)
        return make_error(errc::invalid_spec,
                          "schedule \"" + t.schedule
                            + "\": spec: field \"not_before\" has no meaning "
                              "in a schedule (its cron expression says when)");
      if (old) {
        x.last_fired = old->last_fired;
        x.last_pid = old->last_pid;
      }
      x.name = t.schedule;
      x.cron = t.cron;
      x.spec = t.spec;
      x.created_at = now;
      x.next_due = next_cron_time(*expr, now);
      save_schedule(txn, x);
      ring = true; // a waiting runner arms its timer for it
    }
    log_entry e;
    e.seq = next_counter(txn, key_seq);
    e.time = now;
    e.what = t;
    e.digest = codec::schedule_digest(x);
    write_log(txn, e);
    return process_record{};
  }

  /// An enqueue by a schedule moves the schedule on: its next due time is
  /// the first after now (runs missed while no runner was up are one run).
  caf::error advance_schedule(MDB_txn* txn, const transition& t,
                              uint64_t now) {
    auto x = load_schedule(txn, t.schedule);
    if (!x)
      return {}; // removed since, or not in a replayed log
    if (t.due < x->next_due)
      return make_error(errc::illegal_transition,
                        "schedule \"" + t.schedule + "\" already ran for "
                          + iso_time(t.due));
    auto expr = parse_cron(x->cron);
    x->next_due = expr ? next_cron_time(*expr, std::max(now, t.due)) : 0;
    x->last_fired = now;
    x->last_pid = t.pid;
    save_schedule(txn, *x);
    return {};
  }

  void remove(MDB_txn* txn, const process_record& rec) {
    del_raw(txn, processes, rec.pid);
    del_raw(txn, status,
            codec::u8_pid_key(static_cast<uint8_t>(rec.status), rec.pid));
    if (rec.status == process_status::queued && rec.queue_seq != 0)
      unqueue(txn, rec);
    if (holds_key(rec))
      release_key(txn, rec);
    if (is_terminal(rec.status))
      del_raw(txn, expiry, codec::u64_pid_key(rec.finished_at, rec.pid));
    del_raw(txn, created, codec::u64_pid_key(rec.created_at, rec.pid));
    remove_output(txn, rec.pid);
  }

  // -- settings -----------------------------------------------------------------

  std::optional<uint64_t> read_setting(MDB_txn* txn, store_setting s) {
    std::string_view raw;
    if (!get_raw(txn, meta, setting_key(s), raw))
      return std::nullopt;
    if (raw.size() != 8)
      throw store_failure{damaged("meta \"" + setting_key(s)
                                  + "\" is unreadable")};
    return codec::get_u64_be(raw.data());
  }

  uint64_t retention(MDB_txn* txn) {
    if (opts.retention_ms > 0)
      return opts.retention_ms;
    return read_setting(txn, store_setting::retention)
      .value_or(defaults::retention_ms);
  }

  uint64_t output_limit(MDB_txn* txn) {
    if (opts.output_limit)
      return *opts.output_limit;
    return read_setting(txn, store_setting::output_limit)
      .value_or(defaults::output_limit);
  }

  // -- live output --------------------------------------------------------------

  std::optional<output_bounds> load_bounds(MDB_txn* txn,
                                           std::string_view pid) {
    std::string_view raw;
    if (!get_raw(txn, output, pid, raw))
      return std::nullopt;
    if (raw.size() != output_bounds_size || raw[0] != output_version)
      throw store_failure{damaged("the output of " + std::string(pid)
                                  + " is unreadable")};
    output_bounds b;
    b.next_seq = codec::get_u64_be(raw.data() + 1);
    b.first_seq = codec::get_u64_be(raw.data() + 9);
    b.kept = codec::get_u64_be(raw.data() + 17);
    b.dropped = codec::get_u64_be(raw.data() + 25);
    return b;
  }

  void save_bounds(MDB_txn* txn, std::string_view pid,
                   const output_bounds& b) {
    char buf[output_bounds_size];
    buf[0] = output_version;
    codec::put_u64_be(buf + 1, b.next_seq);
    codec::put_u64_be(buf + 9, b.first_seq);
    codec::put_u64_be(buf + 17, b.kept);
    codec::put_u64_be(buf + 25, b.dropped);
    put_raw(txn, output, pid, std::string_view{buf, sizeof(buf)});
  }

  /// Appends `c` to its process's output, then drops the oldest chunks
  /// until at most `limit` bytes are kept. Nothing for a process without
  /// a record.
  void append_output(MDB_txn* txn, const output_chunk& c, uint64_t limit,
                     uint64_t now) {
    std::string_view ignored;
    if (limit == 0 || c.data.empty() || !get_raw(txn, processes, c.pid, ignored))
      return;
    // Output never holds transitions back: with its bounds unreadable,
    // the chunk is dropped and the rest of the batch commits.
    output_bounds b;
    try {
      b = load_bounds(txn, c.pid).value_or(output_bounds{});
    } catch (const store_failure&) {
      return;
    }
    // A chunk larger than the limit keeps its end.
    std::string_view data = c.data;
    auto cut = front_cut(data, limit);
    b.dropped += cut;
    data.remove_prefix(cut);
    std::string value(output_chunk_head, '\0');
    value[0] = output_version;
    value[1] = static_cast<char>(static_cast<uint8_t>(c.stream));
    put_u32_be(value.data() + 2, c.step);
    codec::put_u64_be(value.data() + 6, now);
    value.append(data.data(), data.size());
    put_raw(txn, output, output_key(c.pid, b.next_seq), value);
    ++b.next_seq;
    b.kept += data.size();
    // Chunks are numbered without gaps from first_seq: drop from there,
    // the last one dropped only in part, so that exactly `limit` bytes
    // stay (give or take a character cut in two).
    while (b.kept > limit && b.first_seq < b.next_seq) {
      auto key = output_key(c.pid, b.first_seq);
      std::string_view old;
      if (!get_raw(txn, output, key, old)) {
        ++b.first_seq;
        continue;
      }
      auto size = old.size() >= output_chunk_head
                    ? old.size() - output_chunk_head
                    : 0;
      auto excess = b.kept - limit;
      if (excess < size) {
        auto body = old.substr(output_chunk_head);
        auto cut = front_cut(body, size - excess);
        std::string trimmed{old.substr(0, output_chunk_head)};
        trimmed.append(body.substr(cut));
        b.kept -= cut;
        b.dropped += cut;
        put_raw(txn, output, key, trimmed);
        break;
      }
      b.kept -= std::min<uint64_t>(b.kept, size);
      b.dropped += size;
      del_raw(txn, output, key);
      ++b.first_seq;
    }
    save_bounds(txn, c.pid, b);
  }

  /// The chunk stored under `key` (pid + seq) with value `v`.
  output_chunk read_chunk(std::string_view key, std::string_view v) {
    if (key.size() != 40 || v.size() < output_chunk_head
        || v[0] != output_version)
      throw store_failure{damaged("an output chunk of "
                                  + std::string(key.substr(0, 32))
                                  + " is unreadable")};
    output_chunk c;
    c.pid = std::string(key.substr(0, 32));
    c.seq = codec::get_u64_be(key.data() + 32);
    c.stream = static_cast<output_stream>(static_cast<uint8_t>(v[1]));
    c.step = get_u32_be(v.data() + 2);
    c.time = codec::get_u64_be(v.data() + 6);
    c.data = std::string(v.substr(output_chunk_head));
    return c;
  }

  /// Removes every chunk of `pid` and its bounds.
  void remove_output(MDB_txn* txn, const std::string& pid) {
    auto b = load_bounds(txn, pid);
    if (!b)
      return;
    for (auto seq = b->first_seq; seq < b->next_seq; ++seq)
      del_raw(txn, output, output_key(pid, seq));
    del_raw(txn, output, pid);
  }

  uint64_t read_counter(MDB_txn* txn, const char* name) {
    std::string_view raw;
    if (!get_raw(txn, meta, name, raw))
      return 0;
    if (raw.size() != 8)
      throw store_failure{damaged(std::string{"meta \""} + name
                                  + "\" is unreadable")};
    return codec::get_u64_be(raw.data());
  }

  uint64_t next_counter(MDB_txn* txn, const char* name) {
    auto x = read_counter(txn, name) + 1;
    put_raw(txn, meta, name, codec::u64_key(x));
    return x;
  }

  void append_log(MDB_txn* txn, const transition& t, const process_record& rec,
                  uint64_t time) {
    log_entry e;
    e.seq = next_counter(txn, key_seq);
    e.time = time;
    e.what = t;
    e.status_after = rec.status;
    e.digest = codec::record_digest(rec);
    write_log(txn, e);
  }

  void write_log(MDB_txn* txn, const log_entry& e) {
    std::vector<char> buf;
    if (auto err = codec::encode(e, buf))
      throw store_failure{
        make_error(errc::storage_failure, "cannot encode a log entry")};
    put_raw(txn, log, codec::u64_key(e.seq),
            std::string_view{buf.data(), buf.size()});
  }

  std::optional<std::string> queue_head(MDB_txn* txn) {
    auto cur = lmdb::cursor::open(txn, queue);
    lmdb::val k;
    lmdb::val v;
    std::optional<std::string> result;
    if (cur.get(k, v, MDB_FIRST))
      result = std::string{v.data(), v.size()};
    cur.close();
    return result;
  }

  /// Reads a log entry of either version (persistence/codec.hpp).
  caf::expected<log_entry> read_entry(const lmdb::val& v) {
    log_entry e;
    if (v.size() > 0 && static_cast<uint8_t>(v.data()[0]) == 1) {
      legacy_log_entry old;
      if (codec::decode_body(v.data() + 1, v.size() - 1, old))
        return upgrade(std::move(old));
    } else if (codec::decode(v.data(), v.size(), e)) {
      return e;
    }
    return damaged("log entry is unreadable");
  }

  /// `read_entry` inside a transaction body: an unreadable entry ends it.
  log_entry must_read_entry(const lmdb::val& v) {
    auto e = read_entry(v);
    if (!e)
      throw store_failure{e.error()};
    return std::move(*e);
  }

  // -- transitions ------------------------------------------------------------

  /// Applies `t` in `txn`: fills in what only the store knows (the queue
  /// head of a claim without pid, the default timeout), asks the life
  /// cycle for the record after it, and writes that record, its indexes
  /// and the log entry. A refusal writes nothing. Sets `ring` when the
  /// runner has new work.
  caf::expected<process_record> step(MDB_txn* txn, transition& t,
                                     uint64_t now, bool& ring) {
    bool repeated = false;
    return step(txn, t, now, ring, repeated);
  }

  /// As above; a transition whose request key is remembered is not applied
  /// again: the answer is the record of the process its first application
  /// touched, and `repeated` is set.
  caf::expected<process_record> step(MDB_txn* txn, transition& t,
                                     uint64_t now, bool& ring,
                                     bool& repeated) {
    repeated = false;
    if (t.request.empty())
      return apply_step(txn, t, now, ring);
    if (auto pid = remembered(txn, t.request)) {
      repeated = true;
      auto rec = load(txn, *pid);
      if (!rec)
        return make_error(errc::unknown_process, "no process " + *pid);
      return std::move(*rec);
    }
    auto rec = apply_step(txn, t, now, ring);
    if (rec && !rec->pid.empty())
      remember(txn, t.request, rec->pid, now);
    return rec;
  }

  /// The pid that the request `key` touched, if it is remembered.
  std::optional<std::string> remembered(MDB_txn* txn, const std::string& key) {
    std::string_view raw;
    if (!get_raw(txn, requests, key, raw) || raw.size() < 8)
      return std::nullopt;
    return std::string{raw.substr(8)};
  }

  /// Remembers that the request `key` touched `pid`, and forgets a few keys
  /// older than defaults::request_memory_ms.
  void remember(MDB_txn* txn, const std::string& key, const std::string& pid,
                uint64_t now) {
    if (now > defaults::request_memory_ms) {
      auto cutoff = now - defaults::request_memory_ms;
      std::vector<std::string> old;
      {
        auto cur = lmdb::cursor::open(txn, request_times);
        lmdb::val k;
        lmdb::val v;
        for (bool ok = cur.get(k, v, MDB_FIRST);
             ok && old.size() < defaults::request_forget_batch && k.size() >= 8
             && codec::get_u64_be(k.data()) < cutoff;
             ok = cur.get(k, v, MDB_NEXT))
          old.emplace_back(k.data(), k.size());
      }
      for (auto& k : old) {
        del_raw(txn, request_times, k);
        del_raw(txn, requests, std::string_view{k}.substr(8));
      }
    }
    auto time = codec::u64_key(now);
    put_raw(txn, requests, key, time + pid);
    put_raw(txn, request_times, time + key, std::string_view{"", 0});
  }

  caf::expected<process_record> apply_step(MDB_txn* txn, transition& t,
                                           uint64_t now, bool& ring) {
    if (t.kind == transition_kind::schedule_add
        || t.kind == transition_kind::schedule_remove)
      return schedule_step(txn, t, now, ring);
    if (t.kind == transition_kind::claim && t.pid.empty()) {
      promote_due(txn, now);
      auto head = queue_head(txn);
      if (!head)
        return make_error(errc::queue_empty, "no queued process to claim");
      t.pid = std::move(*head);
    }
    if (t.kind == transition_kind::enqueue && t.spec.timeout == 0)
      // Logged as it takes effect, so that the record follows from the log
      // alone (replay).
      t.spec.timeout = opts.default_timeout;
    if (t.kind == transition_kind::enqueue) {
      if (!t.schedule.empty())
        if (auto err = advance_schedule(txn, t, now))
          return err;
      // A unique key held by a live process: that one is the answer.
      if (auto holder = key_holder(txn, t.spec.key))
        return std::move(*holder);
    }
    auto old = load(txn, t.pid);
    auto before = old ? &*old : nullptr;
    if (t.kind == transition_kind::retry && old)
      if (auto holder = key_holder(txn, old->key); holder && holder->pid != t.pid)
        return make_error(errc::illegal_transition,
                          t.pid + ": cannot retry: its key \"" + old->key
                            + "\" is held by process " + holder->pid);
    auto rec = procman::next(before, t, now);
    if (!rec)
      return rec;
    if (t.kind == transition_kind::purge) {
      remove(txn, *rec);
    } else {
      if (rec->status == process_status::queued && rec->queue_seq == 0)
        rec->queue_seq = next_counter(txn, key_qseq);
      save(txn, before, *rec, now);
    }
    append_log(txn, t, *rec, now);
    ring = ring || wakes_runner(before, *rec);
    return rec;
  }

  // -- opening ------------------------------------------------------------------

  /// Schema 1 -> 2: queue keys were the queue number alone; now the
  /// priority comes first (every process queued then has priority 0).
  static void upgrade_queue_keys(MDB_txn* txn, MDB_dbi queue) {
    std::vector<std::pair<std::string, std::string>> old;
    {
      auto cur = lmdb::cursor::open(txn, queue);
      lmdb::val k;
      lmdb::val v;
      for (bool ok = cur.get(k, v, MDB_FIRST); ok;
           ok = cur.get(k, v, MDB_NEXT))
        if (k.size() == 8)
          old.emplace_back(std::string{k.data(), k.size()},
                           std::string{v.data(), v.size()});
    }
    for (auto& [key, pid] : old) {
      del_raw(txn, queue, key);
      put_raw(txn, queue, codec::queue_key(0, codec::get_u64_be(key.data())),
              pid);
    }
  }

  /// Opens the LMDB environment in `opts.dir` (which exists and is
  /// writable), sizes the map, creates the databases and checks the schema.
  caf::expected<environment_ptr> open_environment() {
    auto& dir = opts.dir;
    auto env = std::make_shared<environment>();
    env->owner = getpid();
    env->no_sync = opts.no_sync;
    try {
      env->env = lmdb::env::create();
      env->env.set_max_dbs(16);
      // 0 = adopt the size recorded in an existing store (which may have
      // grown), or LMDB's default for a new one; raised below.
      lmdb::env_set_mapsize(env->env, 0);
      unsigned flags = MDB_NOTLS;
      if (opts.no_sync)
        flags |= MDB_NOSYNC;
      env->env.open(dir.c_str(), flags, 0600);
    } catch (const lmdb::error& e) {
      if (is_damage_code(e.code()))
        return damaged(e.what());
      if (e.code() == EACCES || e.code() == EROFS || e.code() == EPERM)
        return make_error(errc::store_access, "cannot open store " + dir
                                                + ": " + errno_text(e.code()));
      return make_error(errc::storage_failure,
                        "cannot open store " + dir + ": " + e.what());
    }
    {
      mdb_filehandle_t fd = -1;
      if (mdb_env_get_fd(env->env, &fd) != 0)
        fd = -1;
      set_cloexec_under(dir, fd);
    }
    try {
      // Free the reader slots of processes that died holding them (kill -9
      // during a read), or they pin old pages and the file keeps growing.
      int dead = 0;
      mdb_reader_check(env->env, &dead);
      MDB_envinfo info;
      lmdb::env_info(env->env, &info);
      if (info.me_mapsize < opts.initial_map_size)
        lmdb::env_set_mapsize(env->env, opts.initial_map_size);
      lmdb::env_info(env->env, &info);
      env->map_size = info.me_mapsize;
    } catch (const lmdb::error& e) {
      return make_error(errc::storage_failure,
                        "cannot size store " + dir + ": " + e.what());
    }
    // Create the databases and check the schema in one write transaction.
    attach(env);
    auto err = guarded(true, [&](MDB_txn* txn) {
      auto open_db = [&](const char* name) {
        return lmdb::dbi::open(txn, name, MDB_CREATE).handle();
      };
      env->meta = open_db("meta");
      env->processes = open_db("processes");
      env->queue = open_db("queue");
      env->status = open_db("status");
      env->expiry = open_db("expiry");
      env->created = open_db("created");
      env->log = open_db("log");
      env->output = open_db("output");
      env->delayed = open_db("delayed");
      env->keys = open_db("keys");
      env->schedules = open_db("schedules");
      env->requests = open_db("requests");
      env->request_times = open_db("request_times");
      std::string_view raw;
      if (get_raw(txn, env->meta, key_schema, raw)) {
        if (raw.size() != 4)
          throw store_failure{damaged("meta \"schema\" is unreadable")};
        uint32_t version = 0;
        for (auto c : raw)
          version = (version << 8) | static_cast<uint8_t>(c);
        if (version > defaults::schema_version)
          throw store_failure{make_error(
            errc::store_version,
            "store " + dir + " has schema version " + std::to_string(version)
              + "; this procman reads up to "
              + std::to_string(defaults::schema_version))};
        if (version == 0)
          throw store_failure{damaged("meta \"schema\" is 0")};
        if (version < 2)
          upgrade_queue_keys(txn, env->queue);
        if (version < defaults::schema_version)
          put_schema(txn, env->meta);
      } else {
        MDB_stat st;
        lmdb::dbi_stat(txn, env->processes, &st);
        if (st.ms_entries != 0)
          throw store_failure{damaged("meta \"schema\" is missing")};
        put_schema(txn, env->meta);
      }
    });
    shared.reset();
    if (err)
      return err;
    return env;
  }
};

// -- store: construction -------------------------------------------------------

store::store(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

store::~store() {
  // nop: the last store of a directory closes its environment
}

caf::expected<std::unique_ptr<store>> store::open(store_options opts) {
  auto& dir = opts.dir;
  if (dir.empty())
    return make_error(errc::store_access, "no store directory given");
  if (auto err = create_store_dir(dir))
    return err;
  struct stat sb;
  if (::stat(dir.c_str(), &sb) != 0)
    return make_error(errc::store_access, "cannot open store directory " + dir
                                            + ": " + errno_text(errno));
  if (!S_ISDIR(sb.st_mode))
    return make_error(errc::store_access,
                      "store path " + dir + " is not a directory");
  if (auto err = check_store_dir(dir, sb))
    return err;
  if (access(dir.c_str(), R_OK | W_OK | X_OK) != 0)
    return make_error(errc::store_access, "store directory " + dir
                                            + " is not writable: "
                                            + errno_text(errno));
  auto ptr = std::make_unique<impl>();
  ptr->opts = opts;
  auto& reg = registry::instance();
  std::lock_guard<std::mutex> guard{reg.mtx};
  auto& slot = reg.envs[{static_cast<uint64_t>(sb.st_dev),
                         static_cast<uint64_t>(sb.st_ino)}];
  auto env = slot.lock();
  if (env && env->owner != getpid())
    env.reset(); // inherited through fork(): never touch it
  if (!env) {
    for (auto name : {"/data.mdb", "/lock.mdb"})
      if (auto err = prepare_store_file(dir + name))
        return err;
    auto fresh = ptr->open_environment();
    if (!fresh)
      return fresh.error();
    env = std::move(*fresh);
    slot = env;
  }
  ptr->attach(std::move(env));
  return std::unique_ptr<store>{new store(std::move(ptr))};
}

// -- store: transitions ----------------------------------------------------------

caf::expected<process_record> store::apply(const transition& t) {
  auto results = apply(std::vector<transition>{t});
  return std::move(results.front());
}

std::vector<caf::expected<process_record>>
store::apply(const std::vector<transition>& ts) {
  return commit(ts, {}).results;
}

store::batch_result store::commit(const std::vector<transition>& ts,
                                  const std::vector<output_chunk>& output) {
  auto prepared = ts;
  for (auto& t : prepared)
    if (t.kind == transition_kind::enqueue && t.pid.empty())
      t.pid = make_pid();
  batch_result out;
  auto& results = out.results;
  if (prepared.empty() && output.empty())
    return out;
  auto now = impl_->now();
  bool ring = false;
  auto err = impl_->guarded(true, [&](MDB_txn* txn) {
    results.clear();
    ring = false;
    if (!output.empty()) {
      auto limit = impl_->output_limit(txn);
      for (auto& c : output)
        impl_->append_output(txn, c, limit, now);
    }
    out.repeated.assign(prepared.size(), false);
    for (size_t i = 0; i < prepared.size(); ++i) {
      auto t = prepared[i]; // a retry starts again from the request
      bool repeated = false;
      results.emplace_back(impl_->step(txn, t, now, ring, repeated));
      out.repeated[i] = repeated;
    }
  });
  if (err) {
    results.clear();
    for (size_t i = 0; i < prepared.size(); ++i)
      results.emplace_back(err);
    out.error = std::move(err);
    return out;
  }
  if (ring && impl_->opts.ring_doorbell)
    ring_doorbell(impl_->opts.dir);
  return out;
}

caf::expected<output_log> store::read_output(const std::string& pid,
                                             uint64_t after) {
  output_log out;
  bool found = false;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    out = output_log{};
    out.pid = pid;
    auto rec = impl_->load(txn, pid);
    found = rec.has_value();
    if (!found)
      return;
    out.status = rec->status;
    auto b = impl_->load_bounds(txn, pid);
    if (!b)
      return;
    out.first_seq = b->first_seq < b->next_seq ? b->first_seq : 0;
    out.last_seq = b->next_seq - 1;
    out.kept_bytes = b->kept;
    out.dropped_bytes = b->dropped;
    auto from = std::max(after + 1, b->first_seq);
    if (from >= b->next_seq)
      return;
    auto start = output_key(pid, from);
    auto cur = lmdb::cursor::open(txn, impl_->output);
    lmdb::val k{start.data(), start.size()};
    lmdb::val v;
    for (bool ok = cur.get(k, v, MDB_SET_RANGE);
         ok && k.size() == 40 && std::string_view{k.data(), 32} == pid;
         ok = cur.get(k, v, MDB_NEXT))
      out.chunks.push_back(impl_->read_chunk({k.data(), k.size()},
                                             {v.data(), v.size()}));
    cur.close();
  });
  if (err)
    return err;
  if (!found)
    return make_error(errc::unknown_process, "no process " + pid);
  return out;
}

caf::expected<std::vector<process_record>>
store::claim(const std::string& runner, size_t n) {
  std::vector<process_record> out;
  if (n == 0)
    return out;
  auto now = impl_->now();
  auto err = impl_->guarded(true, [&](MDB_txn* txn) {
    out.clear();
    impl_->promote_due(txn, now);
    while (out.size() < n) {
      auto head = impl_->queue_head(txn);
      if (!head)
        break;
      transition t;
      t.kind = transition_kind::claim;
      t.pid = std::move(*head);
      t.source = "runner";
      t.runner = runner;
      bool ring = false;
      auto rec = impl_->step(txn, t, now, ring);
      if (!rec)
        throw store_failure{impl_->damaged("queue entry for " + t.pid
                                           + " is stale: "
                                           + render(rec.error()))};
      out.push_back(std::move(*rec));
    }
  });
  if (err)
    return err;
  return out;
}

caf::expected<uint32_t> store::fire_schedules() {
  uint32_t fired = 0;
  auto now = impl_->now();
  // Most calls find nothing due: a read transaction says so without
  // taking the writer's lock.
  bool any_due = false;
  if (auto err = impl_->guarded(false, [&](MDB_txn* txn) {
        any_due = false;
        for (auto& x : impl_->all_schedules(txn))
          any_due = any_due || (x.next_due != 0 && x.next_due <= now);
      }))
    return err;
  if (!any_due)
    return fired;
  auto err = impl_->guarded(true, [&](MDB_txn* txn) {
    fired = 0;
    for (auto& x : impl_->all_schedules(txn)) {
      if (x.next_due == 0 || x.next_due > now)
        continue;
      transition t;
      t.kind = transition_kind::enqueue;
      t.pid = make_pid();
      t.source = "schedule";
      t.spec = x.spec;
      t.schedule = x.name;
      t.due = x.next_due;
      bool ring = false;
      auto rec = impl_->step(txn, t, now, ring);
      if (rec && rec->pid == t.pid)
        ++fired;
    }
  });
  if (err)
    return err;
  if (fired > 0 && impl_->opts.ring_doorbell)
    ring_doorbell(impl_->opts.dir);
  return fired;
}

caf::expected<uint64_t> store::next_wake() {
  uint64_t at = 0;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    at = impl_->first_delayed(txn);
    for (auto& x : impl_->all_schedules(txn))
      if (x.next_due != 0 && (at == 0 || x.next_due < at))
        at = x.next_due;
  });
  if (err)
    return err;
  return at;
}

caf::expected<std::vector<schedule_record>> store::schedules() {
  std::vector<schedule_record> out;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    out = impl_->all_schedules(txn);
  });
  if (err)
    return err;
  return out;
}

caf::expected<schedule_record> store::schedule(const std::string& name) {
  std::optional<schedule_record> x;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    x = impl_->load_schedule(txn, name);
  });
  if (err)
    return err;
  if (!x)
    return make_error(errc::unknown_schedule, "no schedule \"" + name + "\"");
  return std::move(*x);
}

// -- store: reads ------------------------------------------------------------------

caf::expected<process_record> store::get(const std::string& pid) {
  std::optional<process_record> rec;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    rec = impl_->load(txn, pid);
  });
  if (err)
    return err;
  if (!rec)
    return make_error(errc::unknown_process, "no process " + pid);
  return std::move(*rec);
}

caf::expected<std::vector<process_record>>
store::list(const list_query& q) {
  size_t limit = q.limit == 0 ? SIZE_MAX : q.limit;
  std::vector<process_record> out;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    out.clear();
    // Newest first: walk the created index backwards.
    std::unordered_set<std::string> wanted;
    if (!q.any_status) {
      auto prefix = static_cast<char>(static_cast<uint8_t>(q.status));
      auto cur = lmdb::cursor::open(txn, impl_->status);
      lmdb::val k{&prefix, 1};
      lmdb::val v;
      for (bool ok = cur.get(k, v, MDB_SET_RANGE);
           ok && k.size() > 0 && k.data()[0] == prefix;
           ok = cur.get(k, v, MDB_NEXT))
        wanted.emplace(k.data() + 1, k.size() - 1);
      cur.close();
      if (wanted.size() <= limit) {
        // Few enough: read them all and sort.
        for (auto& pid : wanted)
          if (auto rec = impl_->load(txn, pid))
            out.push_back(std::move(*rec));
        std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
          return a.created_at != b.created_at ? a.created_at > b.created_at
                                              : a.pid > b.pid;
        });
        return;
      }
    }
    auto cur = lmdb::cursor::open(txn, impl_->created);
    lmdb::val k;
    lmdb::val v;
    for (bool ok = cur.get(k, v, MDB_LAST); ok && out.size() < limit;
         ok = cur.get(k, v, MDB_PREV)) {
      if (k.size() <= 8)
        continue;
      std::string pid{k.data() + 8, k.size() - 8};
      if (!q.any_status && wanted.count(pid) == 0)
        continue;
      if (auto rec = impl_->load(txn, pid))
        out.push_back(std::move(*rec));
    }
    cur.close();
  });
  if (err)
    return err;
  return out;
}

caf::expected<std::vector<process_record>>
store::with_status(process_status s) {
  std::vector<process_record> out;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    out.clear();
    std::vector<std::string> pids;
    auto prefix = static_cast<char>(static_cast<uint8_t>(s));
    {
      auto cur = lmdb::cursor::open(txn, impl_->status);
      lmdb::val k{&prefix, 1};
      lmdb::val v;
      for (bool ok = cur.get(k, v, MDB_SET_RANGE);
           ok && k.size() > 0 && k.data()[0] == prefix;
           ok = cur.get(k, v, MDB_NEXT))
        pids.emplace_back(k.data() + 1, k.size() - 1);
    }
    out.reserve(pids.size());
    for (auto& pid : pids) {
      auto rec = impl_->load(txn, pid);
      if (!rec)
        throw store_failure{
          impl_->damaged("status index names missing process " + pid)};
      out.push_back(std::move(*rec));
    }
  });
  if (err)
    return err;
  return out;
}

caf::expected<std::vector<log_entry>>
store::log(uint64_t since, size_t limit, const std::string& pid) {
  std::vector<log_entry> out;
  if (since == UINT64_MAX || limit == 0)
    return out;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    out.clear();
    auto start = codec::u64_key(since + 1);
    auto cur = lmdb::cursor::open(txn, impl_->log);
    lmdb::val k{start.data(), start.size()};
    lmdb::val v;
    for (bool ok = cur.get(k, v, MDB_SET_RANGE); ok && out.size() < limit;
         ok = cur.get(k, v, MDB_NEXT)) {
      auto e = impl_->must_read_entry(v);
      if (!pid.empty() && e.what.pid != pid)
        continue;
      out.push_back(std::move(e));
    }
    cur.close();
  });
  if (err)
    return err;
  return out;
}

caf::expected<store::log_snapshot>
store::snapshot(uint64_t since, const std::string& pid) {
  log_snapshot out;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    out = log_snapshot{};
    std::vector<std::string> pids;
    auto start = codec::u64_key(since + 1);
    auto cur = lmdb::cursor::open(txn, impl_->log);
    lmdb::val k{start.data(), start.size()};
    lmdb::val v;
    for (bool ok = since < UINT64_MAX && cur.get(k, v, MDB_SET_RANGE); ok;
         ok = cur.get(k, v, MDB_NEXT)) {
      auto e = impl_->must_read_entry(v);
      if (!pid.empty() && e.what.pid != pid)
        continue;
      if (std::find(pids.begin(), pids.end(), e.what.pid) == pids.end())
        pids.push_back(e.what.pid);
      out.entries.push_back(std::move(e));
    }
    cur.close();
    for (auto& p : pids)
      if (auto rec = impl_->load(txn, p))
        out.records.push_back(std::move(*rec));
  });
  if (err)
    return err;
  return out;
}

caf::expected<size_t> store::purge() {
  auto retention = retention_ms();
  if (!retention)
    return retention.error();
  return purge(*retention, "retention");
}

caf::expected<size_t> store::purge(uint64_t older_than_ms,
                                   const std::string& source) {
  size_t total = 0;
  auto now = impl_->now();
  uint64_t cutoff = now > older_than_ms ? now - older_than_ms : 0;
  for (;;) {
    size_t removed = 0;
    bool more = false;
    auto err = impl_->guarded(true, [&](MDB_txn* txn) {
      removed = 0;
      more = false;
      // The log is kept for the retention period whatever the records'
      // cutoff: a process still in the store keeps its history.
      auto retention = impl_->retention(txn);
      uint64_t log_cutoff = now > retention ? now - retention : 0;
      // Terminal records that finished before the cutoff: a prefix of the
      // expiry index.
      std::vector<std::string> keys;
      {
        auto cur = lmdb::cursor::open(txn, impl_->expiry);
        lmdb::val k;
        lmdb::val v;
        for (bool ok = cur.get(k, v, MDB_FIRST); ok;
             ok = cur.get(k, v, MDB_NEXT)) {
          if (k.size() < 8 || codec::get_u64_be(k.data()) >= cutoff)
            break;
          if (keys.size() == purge_chunk) {
            more = true;
            break;
          }
          keys.emplace_back(k.data(), k.size());
        }
      }
      for (auto& key : keys) {
        auto pid = key.substr(8);
        auto rec = impl_->load(txn, pid);
        if (!rec || !is_terminal(rec->status)) {
          del_raw(txn, impl_->expiry, key); // stale index entry
          continue;
        }
        impl_->remove(txn, *rec);
        transition t;
        t.kind = transition_kind::purge;
        t.pid = pid;
        t.source = source;
        impl_->append_log(txn, t, *rec, now);
        ++removed;
      }
      if (more)
        return;
      // Log entries older than the retention period, oldest first.
      std::vector<std::string> old_entries;
      {
        auto cur = lmdb::cursor::open(txn, impl_->log);
        lmdb::val k;
        lmdb::val v;
        for (bool ok = cur.get(k, v, MDB_FIRST); ok;
             ok = cur.get(k, v, MDB_NEXT)) {
          auto e = impl_->read_entry(v);
          if (!e || e->time >= log_cutoff)
            break;
          if (old_entries.size() == purge_chunk) {
            more = true;
            break;
          }
          old_entries.emplace_back(k.data(), k.size());
        }
      }
      for (auto& key : old_entries)
        del_raw(txn, impl_->log, key);
    });
    if (err)
      return err;
    total += removed;
    if (!more)
      return total;
  }
}

caf::expected<std::optional<uint64_t>> store::setting(store_setting s) {
  std::optional<uint64_t> out;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    out = impl_->read_setting(txn, s);
  });
  if (err)
    return err;
  return out;
}

caf::error store::set_setting(store_setting s, std::optional<uint64_t> value) {
  return impl_->guarded(true, [&](MDB_txn* txn) {
    if (value)
      put_raw(txn, impl_->meta, setting_key(s), codec::u64_key(*value));
    else
      del_raw(txn, impl_->meta, setting_key(s));
  });
}

caf::expected<uint64_t> store::retention_ms() {
  uint64_t out = 0;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    out = impl_->retention(txn);
  });
  if (err)
    return err;
  return out;
}

caf::expected<uint64_t> store::output_limit() {
  uint64_t out = 0;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    out = impl_->output_limit(txn);
  });
  if (err)
    return err;
  return out;
}

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

caf::expected<store_stats> store::stats() {
  store_stats out;
  auto err = impl_->guarded(false, [&](MDB_txn* txn) {
    out = store_stats{};
    MDB_stat st;
    lmdb::dbi_stat(txn, impl_->processes, &st);
    out.records = st.ms_entries;
    lmdb::dbi_stat(txn, impl_->queue, &st);
    out.queued = st.ms_entries;
    out.last_seq = impl_->read_counter(txn, key_seq);
    {
      auto cur = lmdb::cursor::open(txn, impl_->log);
      lmdb::val k;
      lmdb::val v;
      if (cur.get(k, v, MDB_FIRST) && k.size() == 8)
        out.first_seq = codec::get_u64_be(k.data());
    }
    MDB_envinfo info;
    lmdb::env_info(impl_->shared->env, &info);
    MDB_stat est;
    lmdb::env_stat(impl_->shared->env, &est);
    out.map_size = info.me_mapsize;
    out.used_bytes = (info.me_last_pgno + 1) * uint64_t{est.ms_psize};
  });
  if (err)
    return err;
  return out;
}

const std::string& store::dir() const {
  return impl_->opts.dir;
}

uint64_t store::now() const {
  return impl_->now();
}

std::string store::make_pid() {
  // 48 bits of unix milliseconds, then 80 random bits (the layout of a
  // UUIDv7). The random part keeps pids unguessable; the time prefix
  // makes records of processes enqueued together neighbours in every
  // pid-keyed index, so that enqueues, claims (FIFO) and finishes touch a
  // few pages at the end of the B-trees instead of one page each all over
  // them: in a store of 300,000 processes, batched enqueues ran 5x faster
  // and a runner mapped 15 MiB of the store instead of all of it
  // (docs/performance.md).
  unsigned char buf[16];
  auto ms = now_ms();
  for (int i = 5; i >= 0; --i) {
    buf[i] = static_cast<unsigned char>(ms & 0xFF);
    ms >>= 8;
  }
  size_t got = 6;
  while (got < sizeof(buf)) {
    auto n = getrandom(buf + got, sizeof(buf) - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    got += static_cast<size_t>(n);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string pid(32, '0');
  for (size_t i = 0; i < sizeof(buf); ++i) {
    pid[2 * i] = hex[buf[i] >> 4];
    pid[2 * i + 1] = hex[buf[i] & 0x0F];
  }
  return pid;
}

} // namespace procman
