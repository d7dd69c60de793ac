// The store directory as the operating system sees it: where it is by
// default, and who may write it. Anyone who can write a store can plant
// records whose steps the runner then runs as the store's user, so a
// store others can write is refused.
//
//              default                        created             refused when
//   POSIX      $XDG_STATE_HOME/procman, else  mode 0700           owned by
//   another user (not
//              ~/.local/state/procman                             root), or
//              group/world-writable
//   Windows    %LOCALAPPDATA%\procman         a protected DACL:   owned by
//   another user (not
//                                             full control for Administrators),
//                                             or an entry its owner alone lets
//                                             anyone else write

#pragma once

#include <string>

#include "procman/messages/failure.hpp"

namespace procman::platform {

/// The default store directory (UTF-8); empty when the environment names
/// no home for it.
std::string default_store_dir();

/// Creates `dir` (UTF-8) if it is missing: its parents as usual, the
/// directory itself for its owner alone whatever the umask or inherited
/// permissions. An existing directory is left as it is. Errors:
/// store_access.
failure create_private_dir(const std::string& dir);

/// Refuses a directory that is not this user's alone to write (see the
/// table above). Errors: store_access, naming the path and the owner, the
/// mode or the account that may write it.
failure check_private_dir(const std::string& dir);

} // namespace procman::platform
