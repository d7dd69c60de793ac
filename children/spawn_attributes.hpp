// The posix_spawn attributes of every child the runner starts (an
// executor, the fork server): leader of a new process group, an empty
// signal mask and default dispositions for the signals the runner handles
// or ignores. No CAF.

#pragma once

#include <csignal>

#include <spawn.h>

namespace procman {

/// The signals a child gets back at their default disposition.
inline sigset_t child_default_signals() {
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGCHLD, SIGQUIT})
    sigaddset(&defaults, s);
  return defaults;
}

/// Initialises `attr` (the caller destroys it).
inline void init_child_spawnattr(posix_spawnattr_t& attr) {
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  auto defaults = child_default_signals();
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                    | POSIX_SPAWN_SETSIGDEF);
}

} // namespace procman
