// The store directory as the operating system sees it: who may use it,
// with which modes, and which descriptors into it children must not
// inherit. persistence/store.cpp calls these before and after LMDB opens
// the environment.

#pragma once

#include <string>

#include <sys/stat.h>

#include "procman/messages/failure.hpp"

namespace procman {

/// Creates the store directory `dir` if it is missing: its parents as
/// usual, the directory itself 0700 whatever the umask. Errors:
/// store_access.
failure create_store_dir(const std::string& dir);

/// Refuses a store directory that is not this user's to use: owned by
/// someone other than the effective user or root, or writable by group or
/// others (anyone who can write it can plant records, whose steps the
/// runner then runs as the store's user). Tightens a directory of this
/// user that others can read (0755 from an older procman) to 0700.
/// Errors: store_access, naming the path, the owner or the mode.
failure check_store_dir(const std::string& dir, const struct stat& sb);

/// Creates or checks one of LMDB's files in the store before LMDB opens it
/// (LMDB follows symbolic links and creates with the umask's mode): a
/// regular file, not a link, mode 0600, this user's or root's. Errors:
/// store_access.
failure prepare_store_file(const std::string& path);

/// LMDB opens its data and lock files without O_CLOEXEC. Gives `env_fd`
/// and every descriptor of this process that points into `dir`
/// FD_CLOEXEC, so executor children never inherit a read-write handle on
/// the database.
void set_cloexec_under(const std::string& dir, int env_fd);

} // namespace procman
