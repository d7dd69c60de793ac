// Wakes a waiting runner without polling: a Unix datagram socket at
// `<store>/doorbell.sock`, bound by the runner that holds the --wait lock.
// Anyone who gives it work (enqueue, proceed, cancel of a running process)
// sends one byte; sending when nobody listens is silently a no-op.

#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "procman/messages/failure.hpp"

namespace procman {

/// Sends one wake-up to the runner of `store_dir`, if any. Never blocks.
void ring_doorbell(const std::string& store_dir);

/// The listening side. Move-only; unlinks the socket when destroyed.
class doorbell {
public:
  doorbell() = default;
  ~doorbell();
  doorbell(doorbell&& other) noexcept;
  doorbell& operator=(doorbell&& other) noexcept;
  doorbell(const doorbell&) = delete;
  doorbell& operator=(const doorbell&) = delete;

  /// Binds `<store_dir>/doorbell.sock` (replacing a stale one), mode 0600.
  /// Errors: store_access with the reason.
  failure bind(const std::string& store_dir);

  /// The socket's file descriptor (non-blocking, close-on-exec), -1 if unbound.
  int fd() const { return fd_; }

  /// Reads every pending wake-up; returns how many there were.
  size_t drain();

private:
  int fd_ = -1;
  std::string path_;
  /// Identity of the socket file we bound, so that the destructor never
  /// unlinks a socket that a later runner bound at the same path.
  uint64_t ino_ = 0;
  uint64_t dev_ = 0;
};

} // namespace procman
