// --ready-fd N: the one line a runner writes once it serves, so that a
// script that starts it in the background knows when to go on (as
// systemd's sd_notify READY=1 or a daemon's pipe to its parent).

#pragma once

#include <atomic>
#include <string>

#include <caf/expected.hpp>

namespace procman {

class ready_signal {
public:
  ready_signal() = default;
  ready_signal(ready_signal&& other) noexcept;
  ready_signal& operator=(ready_signal&& other) noexcept;
  ready_signal(const ready_signal&) = delete;
  ready_signal& operator=(const ready_signal&) = delete;

  /// Closes the descriptor without a line if none was written: the reader
  /// sees end of file, the runner did not come to serve.
  ~ready_signal();

  /// The descriptor named by `n` (option --ready-fd), made close-on-exec so
  /// that no executor or step holds it open. Fails when `n` is not a
  /// number or not an open descriptor.
  static caf::expected<ready_signal> open(const std::string& n);

  /// Writes `line` and a newline, then closes the descriptor. Only the
  /// first call writes; thread-safe.
  void send(const std::string& line);

private:
  explicit ready_signal(int fd) : fd_(fd) {}

  std::atomic<int> fd_{-1};
};

} // namespace procman
