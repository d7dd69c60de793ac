#include "procman/persistence/output.hpp"

#include <algorithm>
#include <optional>

#include <lmdb++.h>

#include "procman/persistence/codec.hpp"
#include "procman/persistence/records.hpp"

namespace procman::tables::output {

namespace {

/// Value versions of the `output` database.
constexpr char output_version = 1;

/// The bounds of a process's live output (its key is the pid alone).
struct bounds {
  uint64_t next_seq = 1;
  uint64_t first_seq = 1; ///< == next_seq: no chunk kept
  uint64_t kept = 0;
  uint64_t dropped = 0;
};

constexpr size_t bounds_size = 1 + 4 * 8;
constexpr size_t chunk_head = 1 + 1 + 4 + 8;

std::string chunk_key(std::string_view pid, uint64_t seq) {
  std::string key{pid};
  key += codec::u64_key(seq);
  return key;
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

std::optional<bounds> load_bounds(const tx& t, std::string_view pid) {
  auto found = get_raw(t.txn, t.db.output, pid);
  if (!found)
    return std::nullopt;
  auto raw = *found;
  if (raw.size() != bounds_size || raw[0] != output_version)
    t.damaged("the output of " + std::string(pid) + " is unreadable");
  bounds b;
  b.next_seq = codec::get_u64_be(raw.data() + 1);
  b.first_seq = codec::get_u64_be(raw.data() + 9);
  b.kept = codec::get_u64_be(raw.data() + 17);
  b.dropped = codec::get_u64_be(raw.data() + 25);
  return b;
}

void save_bounds(const tx& t, std::string_view pid, const bounds& b) {
  char buf[bounds_size];
  buf[0] = output_version;
  codec::put_u64_be(buf + 1, b.next_seq);
  codec::put_u64_be(buf + 9, b.first_seq);
  codec::put_u64_be(buf + 17, b.kept);
  codec::put_u64_be(buf + 25, b.dropped);
  put_raw(t.txn, t.db.output, pid, std::string_view{buf, sizeof(buf)});
}

/// The chunk stored under `key` (pid + seq) with value `v`.
output_chunk read_chunk(const tx& t, std::string_view key, std::string_view v) {
  if (key.size() != 40 || v.size() < chunk_head || v[0] != output_version)
    t.damaged("an output chunk of " + std::string(key.substr(0, 32))
              + " is unreadable");
  output_chunk c;
  c.pid = std::string(key.substr(0, 32));
  c.seq = codec::get_u64_be(key.data() + 32);
  c.stream = static_cast<output_stream>(static_cast<uint8_t>(v[1]));
  c.step = codec::get_u32_be(v.data() + 2);
  c.time = codec::get_u64_be(v.data() + 6);
  c.data = std::string(v.substr(chunk_head));
  return c;
}

} // namespace

void append(const tx& t, const output_chunk& c, uint64_t limit, uint64_t now) {
  if (limit == 0 || c.data.empty() || !records::exists(t, c.pid))
    return;
  // Output never holds transitions back: with its bounds unreadable, the
  // chunk is dropped and the rest of the batch commits.
  bounds b;
  try {
    b = load_bounds(t, c.pid).value_or(bounds{});
  } catch (const store_failure&) {
    return;
  }
  // A chunk larger than the limit keeps its end.
  std::string_view data = c.data;
  auto cut = front_cut(data, limit);
  b.dropped += cut;
  data.remove_prefix(cut);
  std::string value(chunk_head, '\0');
  value[0] = output_version;
  value[1] = static_cast<char>(static_cast<uint8_t>(c.stream));
  codec::put_u32_be(value.data() + 2, c.step);
  codec::put_u64_be(value.data() + 6, now);
  value.append(data.data(), data.size());
  put_raw(t.txn, t.db.output, chunk_key(c.pid, b.next_seq), value);
  ++b.next_seq;
  b.kept += data.size();
  // Chunks are numbered without gaps from first_seq: drop from there, the
  // last one dropped only in part, so that exactly `limit` bytes stay
  // (give or take a character cut in two).
  while (b.kept > limit && b.first_seq < b.next_seq) {
    auto key = chunk_key(c.pid, b.first_seq);
    auto found = get_raw(t.txn, t.db.output, key);
    if (!found) {
      ++b.first_seq;
      continue;
    }
    auto old = *found;
    auto size = old.size() >= chunk_head ? old.size() - chunk_head : 0;
    auto excess = b.kept - limit;
    if (excess < size) {
      auto body = old.substr(chunk_head);
      auto cut = front_cut(body, size - excess);
      std::string trimmed{old.substr(0, chunk_head)};
      trimmed.append(body.substr(cut));
      b.kept -= cut;
      b.dropped += cut;
      put_raw(t.txn, t.db.output, key, trimmed);
      break;
    }
    b.kept -= std::min<uint64_t>(b.kept, size);
    b.dropped += size;
    del_raw(t.txn, t.db.output, key);
    ++b.first_seq;
  }
  save_bounds(t, c.pid, b);
}

void read(const tx& t, uint64_t after, output_log& out) {
  auto& pid = out.pid;
  auto b = load_bounds(t, pid);
  if (!b)
    return;
  out.first_seq = b->first_seq < b->next_seq ? b->first_seq : 0;
  out.last_seq = b->next_seq - 1;
  out.kept_bytes = b->kept;
  out.dropped_bytes = b->dropped;
  auto from = std::max(after + 1, b->first_seq);
  if (from >= b->next_seq)
    return;
  auto start = chunk_key(pid, from);
  auto cur = lmdb::cursor::open(t.txn, t.db.output);
  lmdb::val k{start.data(), start.size()};
  lmdb::val v;
  for (bool ok = cur.get(k, v, MDB_SET_RANGE);
       ok && k.size() == 40 && std::string_view{k.data(), 32} == pid;
       ok = cur.get(k, v, MDB_NEXT))
    out.chunks.push_back(
      read_chunk(t, {k.data(), k.size()}, {v.data(), v.size()}));
}

void remove(const tx& t, const std::string& pid) {
  auto b = load_bounds(t, pid);
  if (!b)
    return;
  for (auto seq = b->first_seq; seq < b->next_seq; ++seq)
    del_raw(t.txn, t.db.output, chunk_key(pid, seq));
  del_raw(t.txn, t.db.output, pid);
}

} // namespace procman::tables::output
