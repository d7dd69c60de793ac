// Opening a store directory's environment: checks of the directory, one
// environment per directory and OS process, the databases and the schema.

#include "procman/persistence/environment.hpp"

#include <cerrno>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "procman/messages/defaults.hpp"
#include "procman/messages/failure.hpp"
#include "procman/persistence/codec.hpp"
#include "procman/persistence/counters.hpp"
#include "procman/persistence/queue.hpp"
#include "procman/persistence/records.hpp"
#include "procman/platform/paths.hpp"
#include "procman/platform/store_dir.hpp"
#include "procman/platform/system.hpp"

namespace procman::tables {

namespace {

constexpr char key_schema[] = "schema";

/// Writes this procman's schema version into `meta` (u32 big-endian).
void put_schema(MDB_txn* txn, MDB_dbi meta) {
  char buf[4];
  codec::put_u32_be(buf, defaults::schema_version);
  put_raw(txn, meta, key_schema, std::string_view{buf, 4});
}

/// Open environments by directory (device and inode), this process only.
struct registry {
  std::mutex mtx;
  std::map<platform::file_identity, std::weak_ptr<environment>> envs;

  static registry& instance() {
    static registry* r = new registry; // never destroyed: used at exit
    return *r;
  }
};

/// Creates the databases and checks (or writes) the schema.
void open_databases(const tx& t, handles& db) {
  auto open_db = [&](const char* name) {
    return lmdb::dbi::open(t.txn, name, MDB_CREATE).handle();
  };
  db.meta = open_db("meta");
  db.processes = open_db("processes");
  db.queue = open_db("queue");
  db.status = open_db("status");
  db.expiry = open_db("expiry");
  db.created = open_db("created");
  db.log = open_db("log");
  db.output = open_db("output");
  db.delayed = open_db("delayed");
  db.keys = open_db("keys");
  db.schedules = open_db("schedules");
  db.requests = open_db("requests");
  db.request_times = open_db("request_times");
  // Created on first open by this procman, in any store: an older procman
  // opens a store that has it (it names its own databases only), so the
  // schema version stays.
  db.tokens = open_db("tokens");
  db.counters = open_db("counters");
  // No longer written (counters.hpp); what an older procman left there
  // goes.
  db.run_times = open_db("run_times");
  {
    MDB_stat st;
    lmdb::dbi_stat(t.txn, db.run_times, &st);
    if (st.ms_entries != 0)
      lmdb::dbi_drop(t.txn, db.run_times, false);
  }
  auto raw = get_raw(t.txn, db.meta, key_schema);
  if (!raw) {
    MDB_stat st;
    lmdb::dbi_stat(t.txn, db.processes, &st);
    if (st.ms_entries != 0)
      t.damaged("meta \"schema\" is missing");
    put_schema(t.txn, db.meta);
    counters::build(t);
    return;
  }
  if (raw->size() != 4)
    t.damaged("meta \"schema\" is unreadable");
  uint32_t version = 0;
  for (auto c : *raw)
    version = (version << 8) | static_cast<uint8_t>(c);
  if (version > defaults::schema_version)
    throw store_failure{
      make_failure(errc::store_version,
                   "store " + t.dir + " has schema version "
                     + std::to_string(version) + "; this procman reads up to "
                     + std::to_string(defaults::schema_version))};
  if (version == 0)
    t.damaged("meta \"schema\" is 0");
  if (version < 2)
    queue::upgrade_keys(t);
  if (version < 4)
    records::upgrade_status_index(t);
  if (version < 5 || !counters::built(t))
    counters::build(t);
  if (version < defaults::schema_version)
    put_schema(t.txn, db.meta);
}

/// Opens the LMDB environment in `opts.dir` (which exists and is
/// writable), sizes the map, creates the databases and checks the schema.
outcome<std::shared_ptr<environment>>
open_environment(const store_options& opts) {
  auto& dir = opts.dir;
  auto env = std::make_shared<environment>();
  env->owner = platform::this_process_id();
  env->no_sync = opts.no_sync;
  try {
    for (uint32_t attempt = 1;; ++attempt) {
      env->env = lmdb::env::create();
      // 16 named databases now (open_databases), room for four more.
      env->env.set_max_dbs(20);
      // 0 = adopt the size recorded in an existing store (which may have
      // grown), or LMDB's default for a new one; raised below.
      lmdb::env_set_mapsize(env->env, 0);
      unsigned flags = MDB_NOTLS;
      if (opts.no_sync)
        flags |= MDB_NOSYNC;
      try {
        env->env.open(dir.c_str(), flags, 0600);
        break;
      } catch (const lmdb::error& e) {
        // Another process opening or closing the store at the same
        // moment (platform::store_open_is_transient says how): opened
        // again, this process finds the lock file free or the map's size
        // recorded.
        if (!platform::store_open_is_transient(e.code())
            || attempt >= defaults::store_open_attempts)
          throw;
        env->env.close();
        std::this_thread::sleep_for(
          std::chrono::milliseconds(defaults::store_open_pause_ms * attempt));
      }
    }
  } catch (const lmdb::error& e) {
    if (is_damage_code(e.code()))
      return damaged_store(dir, e.what());
    if (e.code() == EACCES || e.code() == EROFS || e.code() == EPERM)
      return make_failure(errc::store_access, "cannot open store " + dir + ": "
                                                + errno_text(e.code()));
    return make_failure(errc::storage_failure,
                        "cannot open store " + dir + ": " + e.what());
  }
  {
    mdb_filehandle_t fd;
    intptr_t handle = -1;
    if (mdb_env_get_fd(env->env, &fd) == 0)
      handle = (intptr_t) fd; // an int on POSIX, a HANDLE on Windows
    platform::keep_from_children(dir, handle);
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
    return make_failure(errc::storage_failure,
                        "cannot size store " + dir + ": " + e.what());
  }
  auto err = env->guarded(true, false, dir,
                          [&](const tx& t) { open_databases(t, env->db); });
  if (err)
    return err;
  return env;
}

} // namespace

outcome<database> database::open(const store_options& opts) {
  auto& dir = opts.dir;
  if (dir.empty())
    return make_failure(errc::store_access, "no store directory given");
  auto identity = platform::open_private_dir(dir);
  if (!identity)
    return identity.error();
  auto& reg = registry::instance();
  std::lock_guard<std::mutex> guard{reg.mtx};
  auto& slot = reg.envs[*identity];
  auto env = slot.lock();
  if (env && env->owner != platform::this_process_id())
    env.reset(); // inherited through fork(): never touch it
  if (!env) {
    for (auto name : {"/data.mdb", "/lock.mdb"})
      if (auto err = platform::prepare_private_file(dir + name))
        return err;
    auto fresh = open_environment(opts);
    if (!fresh)
      return fresh.error();
    env = std::move(*fresh);
    slot = env;
  }
  database db;
  db.env_ = env;
  db.dir_ = dir;
  db.sync_after_commit_ = env->no_sync && !opts.no_sync;
  return db;
}

} // namespace procman::tables
