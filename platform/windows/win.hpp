// What the Windows implementation of the platform layer shares: the
// Windows headers without their macros' worst, UTF-8 <-> UTF-16, error
// text, and handles closed once.

#pragma once

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <string>
#include <string_view>
#include <vector>

#include <windows.h>

#include "procman/messages/failure.hpp"

namespace procman::platform::win {

/// UTF-8 to UTF-16 (invalid sequences become U+FFFD).
std::wstring widen(std::string_view utf8);

/// UTF-16 to UTF-8 (unpaired surrogates become U+FFFD).
std::string narrow(std::wstring_view wide);

/// The text of GetLastError() now.
std::string last_error_text();

/// A HANDLE, closed once. Move-only. Holds neither nullptr nor
/// INVALID_HANDLE_VALUE as "open".
class handle {
public:
  handle() = default;
  explicit handle(HANDLE h) : h_(h) {
    // nop
  }
  ~handle() { reset(); }
  handle(handle&& other) noexcept : h_(other.release()) {
    // nop
  }
  handle& operator=(handle&& other) noexcept {
    if (this != &other) {
      reset();
      h_ = other.release();
    }
    return *this;
  }
  handle(const handle&) = delete;
  handle& operator=(const handle&) = delete;

  HANDLE get() const { return h_; }
  explicit operator bool() const {
    return h_ != nullptr && h_ != INVALID_HANDLE_VALUE;
  }
  HANDLE release() {
    auto h = h_;
    h_ = nullptr;
    return h;
  }
  void reset(HANDLE h = nullptr) {
    if (*this)
      CloseHandle(h_);
    h_ = h;
  }

private:
  HANDLE h_ = nullptr;
};

/// The SID of the user this process runs as (its token's user), in a
/// buffer of its own; nullptr if the token cannot be read.
class current_user {
public:
  current_user();
  PSID sid() const { return sid_; }

private:
  std::string buf_;
  PSID sid_ = nullptr;
};

/// "DOMAIN\name" of an account (or its S-1-... form when it has no name).
std::string account_name(PSID sid);

/// A security descriptor that grants full control to the current user
/// alone (inherited by what is created below it) and takes nothing from
/// the parent, and SECURITY_ATTRIBUTES pointing at it (not inheritable).
class owner_only_security {
public:
  owner_only_security();
  /// nullptr when it could not be built (then GetLastError() says why).
  SECURITY_ATTRIBUTES* attributes() { return ok_ ? &sa_ : nullptr; }

private:
  current_user user_;
  std::string acl_;
  SECURITY_DESCRIPTOR sd_;
  SECURITY_ATTRIBUTES sa_;
  bool ok_ = false;
};

// -- starting processes
// --------------------------------------------------------------

/// `argv` (UTF-8) as one command line that the C runtime's parser (and
/// CommandLineToArgvW) splits back into the same arguments.
std::wstring command_line(const std::vector<std::string>& argv);

/// The environment `entries` (NAME=VALUE, UTF-8) as the sorted block of
/// "NAME=VALUE\0" ... "\0" that CreateProcessW takes; a later entry for a
/// name (compared without case, as Windows does) wins.
std::wstring environment_block(const std::vector<std::string>& entries);

/// A pipe whose child end is inheritable and whose parent end is not.
struct pipe_ends {
  handle child;
  handle parent;
};

/// Makes such a pipe; the child reads from it when `child_reads`. Errors:
/// spawn_failure, "cannot create a pipe: <reason>".
outcome<pipe_ends> make_pipe(bool child_reads);

/// An inheritable handle on the null device, for reading.
handle null_input();

/// A new Job Object that ends every process in it when its last handle
/// closes, and lets an unhandled exception end a process without the
/// error-reporting dialog that would keep it (and the tree) alive; empty
/// when it cannot be made.
handle kill_on_close_job();

/// An inheritable duplicate of one of this process's standard handles;
/// empty when it has none.
handle inheritable_std(DWORD which);

/// What CreateProcessW gets from `create_process`.
struct process_start {
  std::wstring command_line;
  std::wstring environment; ///< an environment_block
  std::wstring cwd;         ///< empty: this process's
  HANDLE in = nullptr;      ///< the child's standard handles, inheritable
  HANDLE out = nullptr;
  HANDLE err = nullptr;
  DWORD flags = 0; ///< creation flags besides the environment's
};

/// CreateProcessW with the child's three standard handles inherited and no
/// other handle of this process (another thread's child's pipes stay
/// out). A child started suspended (CREATE_SUSPENDED) whose start-up
/// failed with ERROR_INTERNAL_ERROR, before it ran anything, is started
/// again, up to defaults::child_start_attempts times: Wine fails one now
/// and then while many processes start at once. Errors: spawn_failure
/// with the system's text, GetLastError() as its os_errno.
outcome<PROCESS_INFORMATION> create_process(const process_start& start);

} // namespace procman::platform::win
