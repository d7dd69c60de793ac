// Files procman writes in a store directory beside LMDB's: opened for
// their owner alone, never inherited by child processes, never through a
// symbolic link where it matters (os_lock.hpp). The started marks
// (persistence/started_marks.hpp) are such files.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "procman/messages/failure.hpp"

namespace procman::platform {

/// A file written by appending, each write handed to the system at once
/// (it holds across a kill of this process). Move-only; closed on
/// destruction.
class append_file {
public:
  append_file() = default;
  ~append_file();
  append_file(append_file&& other) noexcept;
  append_file& operator=(append_file&& other) noexcept;
  append_file(const append_file&) = delete;
  append_file& operator=(const append_file&) = delete;

  /// Creates `path` (UTF-8), or empties it, for its owner alone. Errors:
  /// store_access naming the file.
  static outcome<append_file> create(const std::string& path);

  /// Appends `text`; false when the system refused part of it.
  bool append(std::string_view text);

  /// Empties the file.
  void truncate();

  void close();

  bool is_open() const { return handle_ != -1; }

private:
  // An fd on POSIX, a HANDLE on Windows; -1 when closed.
  intptr_t handle_ = -1;
};

/// Renames `from` over `to`, replacing it in one step (readers see the
/// old file or the new one). False when it failed.
bool replace_file(const std::string& from, const std::string& to);

/// Removes the file `path`; false when there was none or it stays.
bool remove_file(const std::string& path);

/// The names of the entries of the directory `dir` (UTF-8); none when it
/// cannot be read.
std::vector<std::string> directory_names(const std::string& dir);

/// Creates a new directory, for its owner alone, in the system's
/// temporary directory, named `prefix` and random characters; its path
/// (UTF-8), or empty when it cannot.
std::string make_temp_dir(const std::string& prefix);

/// A private copy of `contents` that nothing else can change, as a path
/// (UTF-8) this process can open for as long as it runs: for a file that
/// a library reads again and again (CAF reads its TLS files at every
/// connection), so that a later change to the original (removed,
/// replaced, half-written) cannot reach it. Linux: a sealed memfd
/// (/proc/self/fd/N); Windows: a file in a directory of this user's
/// alone, removed when the program exits. Equal contents share one copy.
/// Empty when none can be made.
std::string private_copy(const std::string& contents);

} // namespace procman::platform
