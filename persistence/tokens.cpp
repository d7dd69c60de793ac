#include "procman/persistence/tokens.hpp"

#include <algorithm>

#include <lmdb++.h>

#include "procman/messages/failure.hpp"
#include "procman/persistence/codec.hpp"

namespace procman::tables::tokens {

namespace {

token_record decode(const tx& t, std::string_view hash, std::string_view raw) {
  auto x = codec::decode<token_record>(raw.data(), raw.size());
  if (!x || x->hash != hash)
    t.damaged("token " + std::string{hash.substr(0, 8)} + "... is unreadable");
  return std::move(*x);
}

} // namespace

std::optional<token_record> load(const tx& t, const std::string& hash) {
  auto raw = hash.empty() ? std::nullopt : get_raw(t.txn, t.db.tokens, hash);
  if (!raw)
    return std::nullopt;
  return decode(t, hash, *raw);
}

void save(const tx& t, const token_record& x) {
  put_value(t, t.db.tokens, x.hash, x);
}

void remove(const tx& t, const std::string& hash) {
  del_raw(t.txn, t.db.tokens, hash);
}

std::vector<token_record> all(const tx& t) {
  std::vector<token_record> out;
  auto cur = lmdb::cursor::open(t.txn, t.db.tokens);
  lmdb::val k;
  lmdb::val v;
  for (bool ok = cur.get(k, v, MDB_FIRST); ok; ok = cur.get(k, v, MDB_NEXT))
    out.push_back(decode(t, {k.data(), k.size()}, {v.data(), v.size()}));
  std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return a.created_at != b.created_at ? a.created_at < b.created_at
                                        : a.id < b.id;
  });
  return out;
}

outcome<token_record> add(const tx& t, const token_record& x) {
  if (auto old = load(t, x.hash)) {
    if (old->name == x.name && old->scope == x.scope)
      return std::move(*old);
    return make_failure(errc::invalid_argument,
                        "this token is stored already as token " + old->id);
  }
  if (!x.name.empty())
    for (auto& other : all(t))
      if (other.name == x.name)
        return make_failure(errc::invalid_argument, "a token named \"" + x.name
                                                      + "\" exists (" + other.id
                                                      + ")");
  save(t, x);
  return x;
}

std::optional<token_record> revoke(const tx& t, const std::string& which) {
  if (which.empty())
    return std::nullopt;
  for (auto& x : all(t))
    if (x.id == which || x.name == which) {
      remove(t, x.hash);
      return x;
    }
  return std::nullopt;
}

} // namespace procman::tables::tokens
