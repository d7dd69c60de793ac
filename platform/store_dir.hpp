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

#include <cstdint>
#include <string>
#include <utility>

#include "procman/messages/failure.hpp"

namespace procman::platform {

/// The default store directory (UTF-8); empty when the environment names
/// no home for it.
std::string default_store_dir();

/// Where the store goes when default_store_dir() is empty: /tmp/procman-<uid>
/// on POSIX, procman-<user> in the user's temporary directory on Windows.
std::string last_resort_store_dir();

/// Creates `dir` (UTF-8) if it is missing: its parents as usual, the
/// directory itself for its owner alone whatever the umask or inherited
/// permissions. An existing directory is left as it is. Errors:
/// store_access.
failure create_private_dir(const std::string& dir);

/// Refuses a directory that is not this user's alone to write (see the
/// table above). Tightens a directory of this user that others can read
/// (0755 from an older procman) to 0700 on POSIX. Errors: store_access,
/// naming the path and the owner, the mode or the account that may write
/// it.
failure check_private_dir(const std::string& dir);

/// What tells directories apart while they exist: device and inode on
/// POSIX, volume serial number and file index on Windows.
using file_identity = std::pair<uint64_t, uint64_t>;

/// Makes `dir` ready to hold a store: creates it when missing
/// (create_private_dir), checks that it is a directory, this user's alone
/// (check_private_dir) and writable. Returns its identity. Errors:
/// store_access naming the path and the reason.
outcome<file_identity> open_private_dir(const std::string& dir);

/// Creates or checks a file of the store before LMDB opens it (LMDB
/// follows symbolic links and creates its files with the default
/// permissions): a regular file, not a link, this user's (or root's) and
/// for its owner alone (0600). Errors: store_access.
failure prepare_private_file(const std::string& path);

/// Creates the directory `dir` below a store for its owner alone (0700),
/// or checks that it is a directory and not a link and tightens it.
/// Errors: store_access.
failure prepare_private_subdir(const std::string& dir);

/// Keeps child processes from inheriting `handle` (LMDB's data file: an fd
/// or a HANDLE; -1 for none) or any other handle of this process on a
/// file in `dir`, so that executors never hold a read-write handle on the
/// database. LMDB opens its files inheritable on POSIX (without
/// O_CLOEXEC), not on Windows.
void keep_from_children(const std::string& dir, intptr_t handle);

} // namespace procman::platform
