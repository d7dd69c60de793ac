#include "procman/persistence/pids.hpp"

#include "procman/messages/time.hpp"
#include "procman/platform/system.hpp"

namespace procman {

std::string make_pid() {
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
  platform::random_bytes(buf + 6, sizeof(buf) - 6);
  static constexpr char hex[] = "0123456789abcdef";
  std::string pid(32, '0');
  for (size_t i = 0; i < sizeof(buf); ++i) {
    pid[2 * i] = hex[buf[i] >> 4];
    pid[2 * i + 1] = hex[buf[i] & 0x0F];
  }
  return pid;
}

} // namespace procman
