// A full disk for the store, on demand: preloaded into a runner
// (LD_PRELOAD), it makes writes and syncs of any LMDB data file
// (`.../data.mdb`) fail with ENOSPC while the file named by
// $PROCMAN_TEST_DISK_FULL exists ($PROCMAN_TEST_DISK_ERRNO=5 makes it EIO).
// Everything else passes through (tests/fixtures/disk_fault_hooks.hpp).

#include <cerrno>
#include <cstdlib>

#include <sys/stat.h>

namespace {

bool disk_full() {
  static const char* trigger = std::getenv("PROCMAN_TEST_DISK_FULL");
  struct stat sb;
  return trigger != nullptr && *trigger != '\0' && ::stat(trigger, &sb) == 0;
}

int fault_errno() {
  static const char* code = std::getenv("PROCMAN_TEST_DISK_ERRNO");
  return code != nullptr && *code != '\0' ? std::atoi(code) : ENOSPC;
}

} // namespace

// The plug-in links no test support: include by path.
#include "../../fixtures/disk_fault_hooks.hpp"
