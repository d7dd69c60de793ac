// What the POSIX implementation's two ways of starting a child share.

#pragma once

#include <string>
#include <vector>

#include <spawn.h>
#include <sys/types.h>

#include "procman/messages/failure.hpp"

namespace procman::platform::posix {

/// posix_spawnp of `argv` with the environment `env` (NAME=VALUE) and the
/// file actions `fa`, with default signal actions and an empty signal
/// mask (this process may ignore or block some; that survives exec),
/// and with `own_group` as the leader of a new process group. Returns the
/// child's pid. Errors: spawn_failure with posix_spawnp's error as the
/// errno (`os_errno`), which callers word for their program.
outcome<pid_t> spawn(const std::vector<std::string>& argv,
                     std::vector<std::string> env,
                     const posix_spawn_file_actions_t* fa, bool own_group);

} // namespace procman::platform::posix
