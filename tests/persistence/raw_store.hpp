// Raw access to a closed store's databases, bypassing procman: to write
// what an older procman left, and to read what the store wrote.

#pragma once

#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <lmdb.h>

namespace procman::test {

class raw_store {
public:
  explicit raw_store(const std::string& dir) {
    BOOST_REQUIRE(mdb_env_create(&env_) == 0);
    mdb_env_set_maxdbs(env_, 20);
    BOOST_REQUIRE(mdb_env_open(env_, dir.c_str(), 0, 0600) == 0);
    BOOST_REQUIRE(mdb_txn_begin(env_, nullptr, 0, &txn_) == 0);
  }

  ~raw_store() {
    if (txn_ != nullptr)
      mdb_txn_abort(txn_);
    mdb_env_close(env_);
  }

  raw_store(const raw_store&) = delete;
  raw_store& operator=(const raw_store&) = delete;

  void put(const char* db, const std::string& key, const std::string& value) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    BOOST_REQUIRE(mdb_put(txn_, dbi(db), &k, &v, 0) == 0);
  }

  std::string get(const char* db, const std::string& key) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v;
    BOOST_REQUIRE(mdb_get(txn_, dbi(db), &k, &v) == 0);
    return std::string(static_cast<char*>(v.mv_data), v.mv_size);
  }

  /// Every key of `db`, in order.
  std::vector<std::string> keys(const char* db) {
    std::vector<std::string> out;
    MDB_cursor* cur = nullptr;
    BOOST_REQUIRE(mdb_cursor_open(txn_, dbi(db), &cur) == 0);
    MDB_val k;
    MDB_val v;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
      out.emplace_back(static_cast<char*>(k.mv_data), k.mv_size);
    mdb_cursor_close(cur);
    return out;
  }

  /// Removes every key of `db`.
  void clear(const char* db) { BOOST_REQUIRE(mdb_drop(txn_, dbi(db), 0) == 0); }

  void commit() {
    BOOST_REQUIRE(mdb_txn_commit(txn_) == 0);
    txn_ = nullptr;
  }

private:
  MDB_dbi dbi(const char* name) {
    MDB_dbi x;
    BOOST_REQUIRE(mdb_dbi_open(txn_, name, 0, &x) == 0);
    return x;
  }

  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
};

} // namespace procman::test
