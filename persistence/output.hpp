// The output table: the live output of processes.
//
//   output  pid -> version byte (1) + u64 next seq + u64 first seq +
//           u64 kept bytes + u64 dropped bytes        (its bounds)
//           pid + u64 big-endian seq -> version byte (1) + u8 stream +
//           u32 step + u64 time + the bytes          (one chunk)
//
// Each process keeps at most the output limit's bytes, the newest; older
// chunks are dropped and counted.

#pragma once

#include <cstdint>
#include <string>

#include "procman/messages/types.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables::output {

/// Appends `c` to its process's output, then drops the oldest chunks
/// until at most `limit` bytes are kept. Nothing for a process without
/// a record, nor while the limit is 0.
void append(const tx& t, const output_chunk& c, uint64_t limit, uint64_t now);

/// Fills `out` (whose pid is set) with the bounds of the process's output
/// and the chunks after `after`.
void read(const tx& t, uint64_t after, output_log& out);

/// Removes every chunk of `pid` and its bounds.
void remove(const tx& t, const std::string& pid);

} // namespace procman::tables::output
