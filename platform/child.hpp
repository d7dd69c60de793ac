// Starting a child with everything it starts contained, and killing that
// tree as a whole: what the runner needs of an executor, and what a test
// needs of a helper program.
//
//              contained by                       ended with its owner
//   POSIX      its own process group              no: the runner's children/
//   layer adds
//                                                 that today (cgroup, fork
//                                                 server)
//   Windows    a Job Object with kill-on-close:   yes: the job dies with its
//   last handle,
//              every process the child starts     held by this object and so by
//              this is in it, however started          process, however it ends
//
// On Windows the child starts suspended, joins the job, and only then
// runs, so not even its first instruction runs outside the job. It is the
// leader of a new console process group: a Ctrl+C at the runner's console
// reaches the runner, which drains, not the executors directly.

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "procman/messages/failure.hpp"

namespace procman::platform {

/// How to start a child.
struct child_options {
  /// The program's path and its arguments (UTF-8). On Windows they are
  /// quoted into one command line as the C runtime splits it back.
  std::vector<std::string> argv;
  /// NAME=VALUE set over this process's environment.
  std::vector<std::string> env;
  /// The working directory (UTF-8); empty: this process's.
  std::string cwd;
  /// Pipes to the child's stdin, stdout and stderr; without one, stdin
  /// reads the null device and stdout and stderr are this process's.
  bool stdin_pipe = false;
  bool stdout_pipe = false;
  bool stderr_pipe = false;
};

/// How a child ended.
struct child_exit {
  int code = -1; ///< its exit code; -1 when a POSIX signal ended it
  /// The POSIX signal that ended it; on Windows SIGKILL's 9 when
  /// `kill_tree` ended it (its exit code is then 1), else 0.
  int signal = 0;
};

/// One end of a pipe to a child. Blocking. Move-only.
class pipe_end {
public:
  pipe_end() = default;
  explicit pipe_end(intptr_t handle) : handle_(handle) {
    // nop
  }
  ~pipe_end();
  pipe_end(pipe_end&& other) noexcept;
  pipe_end& operator=(pipe_end&& other) noexcept;
  pipe_end(const pipe_end&) = delete;
  pipe_end& operator=(const pipe_end&) = delete;

  /// Reads up to `size` bytes; 0 at the end (the child closed its end),
  /// -1 on error.
  std::ptrdiff_t read(void* buf, size_t size);

  /// Writes all of `size` bytes; false when the reader is gone.
  bool write(const void* buf, size_t size);

  void close();

  bool is_open() const { return handle_ != -1; }

  /// An fd on POSIX, a HANDLE on Windows; -1 when closed.
  intptr_t native_handle() const { return handle_; }

private:
  intptr_t handle_ = -1;
};

/// A running child and its tree. Move-only; destroying it kills the tree
/// if it still runs and reaps the child.
class contained_child {
public:
  /// Starts `opts.argv`. Errors: spawn_failure naming the program and the
  /// reason; containment_failure when the tree cannot be contained.
  static outcome<contained_child> start(const child_options& opts);

  contained_child(contained_child&& other) noexcept;
  contained_child& operator=(contained_child&& other) noexcept;
  contained_child(const contained_child&) = delete;
  contained_child& operator=(const contained_child&) = delete;
  ~contained_child();

  /// The child's process id.
  int pid() const;

  pipe_end& in();
  pipe_end& out();
  pipe_end& err();

  /// Kills every process of the tree at once, grandchildren included.
  void kill_tree();

  /// Asks the child to stop: platform::request_stop (termination.hpp).
  void request_stop();

  /// How the child ended, once it has; waits up to `timeout`.
  std::optional<child_exit> wait_for(std::chrono::milliseconds timeout);

  /// Whether any process of the tree is still alive (the child itself
  /// before it was reaped, or anything it started).
  bool tree_alive() const;

private:
  struct impl;
  explicit contained_child(impl* p) : impl_(p) {
    // nop
  }
  impl* impl_ = nullptr;
};

/// Whether a contained tree ends when its owner (the process holding the
/// `contained_child`) dies, however it dies: the table above.
bool tree_ends_with_owner();

/// Whether the process `pid` is alive (a zombie counts as ended).
bool process_alive(int pid);

/// Ends the process `pid` at once (SIGKILL; TerminateProcess), not its
/// children: what a crash or `kill -9` does to it. False when it could not.
bool kill_process(int pid);

} // namespace procman::platform
