// Waking a waiting runner without polling: whoever gives it work (enqueue,
// proceed, cancel) rings; the runner that holds the store's --wait lock
// listens. POSIX: a Unix datagram socket <store>/doorbell.sock
// (platform/posix/wake_event.cpp). Windows: a named auto-reset event in the
// session's namespace, "Local\procman-wake-<hash of the store's full
// path>". Ringing when nobody listens does nothing.

#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "procman/messages/failure.hpp"

namespace procman::platform {

/// Wakes the listener of `store_dir` (UTF-8), if any. Never blocks.
void ring(const std::string& store_dir);

/// The listening side. Move-only.
class wake_listener {
public:
  wake_listener();
  ~wake_listener();
  wake_listener(wake_listener&& other) noexcept;
  wake_listener& operator=(wake_listener&& other) noexcept;
  wake_listener(const wake_listener&) = delete;
  wake_listener& operator=(const wake_listener&) = delete;

  /// Starts listening for `store_dir`. Errors: store_access with the reason.
  failure bind(const std::string& store_dir);

  /// Waits until rung or `timeout` passed; true when rung. Every ring that
  /// came before counts once: rings do not queue up.
  bool wait(std::chrono::milliseconds timeout);

  /// What an event loop waits on: a pollable fd on POSIX (readable when
  /// rung; call `wait(0ms)` to consume), an event HANDLE on Windows
  /// (signalled when rung; waiting on it consumes the ring). -1 unbound.
  intptr_t native_handle() const;

private:
  struct impl;
  impl* impl_ = nullptr;
};

} // namespace procman::platform
