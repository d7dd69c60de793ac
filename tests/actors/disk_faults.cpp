// A full disk for the actor tests: while a test says so
// (actor_fixture::disk_full), writes of LMDB's data file fail with ENOSPC in
// this process, through the hooks the engine tests preload into a runner.

#include <atomic>
#include <cerrno>

namespace procman::test {

std::atomic<bool> disk_is_full{false};

void set_disk_full(bool on) {
  disk_is_full = on;
}

} // namespace procman::test

namespace {

bool disk_full() {
  return procman::test::disk_is_full.load(std::memory_order_relaxed);
}

int fault_errno() {
  return ENOSPC;
}

} // namespace

#include "fixtures/disk_fault_hooks.hpp"
