// clone3(2) as glibc 2.36 does not wrap it: the kernel's argument block up
// to `cgroup` and the flags procman uses. No CAF, no allocation: used by the
// runner's spawn into a cgroup (cgroup_spawn.cpp) and by the executor's
// fork server (apps/procman-exec/serve.cpp).

#pragma once

#include <cstdint>

namespace procman::clone3 {

/// The kernel's struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2).
struct args_v2 {
  uint64_t flags;
  uint64_t pidfd;
  uint64_t child_tid;
  uint64_t parent_tid;
  uint64_t exit_signal;
  uint64_t stack;
  uint64_t stack_size;
  uint64_t tls;
  uint64_t set_tid;
  uint64_t set_tid_size;
  uint64_t cgroup;
};

constexpr uint64_t clone_vm = 0x00000100;
constexpr uint64_t clone_vfork = 0x00004000;
constexpr uint64_t clone_parent = 0x00008000;
constexpr uint64_t clone_child_settid = 0x01000000;
constexpr uint64_t clone_clear_sighand = 0x100000000ULL;
constexpr uint64_t clone_into_cgroup = 0x200000000ULL;

} // namespace procman::clone3
