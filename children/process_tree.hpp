// Keeping what a process's commands start inside the process: the tree of
// OS processes below an executor (or below `procman run`), found through
// /proc and killed as a whole, even the parts that left its process group
// (setsid, setpgid, a double fork).
//
// The owner of a tree makes itself a child subreaper first, so that an
// orphan in it is re-parented to the owner rather than to init and stays
// in the tree. Killing stops every process top-down before it kills any
// (a stopped process cannot fork), then SIGKILLs them all.
//
// Everything here is async-signal-safe: raw system calls, no allocation, no
// locks; fixed buffers on the stack and one static table of pids. Used by
// the executor's signal handlers, its normal end, `procman run`, and the
// runner's kills.

#pragma once

#include <cstddef>
#include <string>

#include <sys/types.h>

namespace procman {

/// Makes this OS process a child subreaper (PR_SET_CHILD_SUBREAPER):
/// descendants orphaned by their parent's death are re-parented to it.
/// Returns false when the kernel refused.
bool become_subreaper();

/// Calls `fn(child, arg)` for every child of `pid` (of each of its threads),
/// read from /proc/<pid>/task/*/children, or, on kernels without those
/// files, from the parent field of every /proc/<n>/stat. Returns false when
/// `pid` has no /proc entry. Async-signal-safe.
bool for_each_child(pid_t pid, void (*fn)(pid_t child, void* arg), void* arg);

/// SIGSTOPs every descendant of `root` top-down (each one before its
/// children are read), then SIGKILLs them all; with `with_root`, `root` is
/// stopped first and killed last. Returns how many descendants were
/// signalled (0: none). Large trees are taken in batches, so a
/// caller that must be sure loops until it returns 0. Not reentrant
/// (one static table); async-signal-safe.
size_t kill_tree(pid_t root, bool with_root);

/// For the owner of a tree (a subreaper) that is about to end: kills every
/// descendant and reaps its children until none is left, or until
/// `limit_ms` passed (a process in uninterruptible sleep cannot die at
/// once). Reaps with waitpid(-1): only for a program whose children are all
/// its own steps' (procman-exec, `procman run`). Async-signal-safe.
void end_descendants(int limit_ms = 2000);

/// Writes "1" to `path` (a cgroup's `cgroup.kill`): the kernel SIGKILLs
/// every process in that cgroup and below. Returns false on error (errno).
/// Async-signal-safe.
bool write_cgroup_kill(const char* path);

} // namespace procman
