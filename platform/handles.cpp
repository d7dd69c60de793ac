// The move operations of the platform layer's move-only handles, the same
// on every system: each system's file says how one is closed or released.

#include <utility>

#include "procman/platform/child.hpp"
#include "procman/platform/os_lock.hpp"
#include "procman/platform/wake_event.hpp"

namespace procman::platform {

pipe_end::pipe_end(pipe_end&& other) noexcept : handle_(other.handle_) {
  other.handle_ = -1;
}

pipe_end& pipe_end::operator=(pipe_end&& other) noexcept {
  if (this != &other) {
    close();
    handle_ = std::exchange(other.handle_, -1);
  }
  return *this;
}

pipe_end::~pipe_end() {
  close();
}

os_lock::os_lock(os_lock&& other) noexcept
  : handle_(std::exchange(other.handle_, -1)), path_(std::move(other.path_)) {
  // nop
}

os_lock& os_lock::operator=(os_lock&& other) noexcept {
  if (this != &other) {
    release();
    handle_ = std::exchange(other.handle_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

os_lock::~os_lock() {
  release();
}

bool os_lock::held() const {
  return handle_ != -1;
}

wake_listener::wake_listener() = default;

wake_listener::wake_listener(wake_listener&& other) noexcept
  : impl_(std::exchange(other.impl_, nullptr)) {
  // nop
}

wake_listener& wake_listener::operator=(wake_listener&& other) noexcept {
  // What this one held goes with `other`.
  std::swap(impl_, other.impl_);
  return *this;
}

contained_child::contained_child(contained_child&& other) noexcept
  : impl_(std::exchange(other.impl_, nullptr)) {
  // nop
}

contained_child& contained_child::operator=(contained_child&& other) noexcept {
  // What this one held goes with `other`.
  std::swap(impl_, other.impl_);
  return *this;
}

} // namespace procman::platform
