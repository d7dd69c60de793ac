// The runner's channel on Windows: one thread blocked in reading stdin,
// and one that waits on a condition variable for the lease's end, woken
// by every renewal. The lease clock (CLOCK_BOOTTIME in the Windows build,
// cmake/windows/posix_compat.hpp) is the machine's monotonic clock.

#include <cerrno>
#include <chrono>

#include <io.h>

#include "procman/protocol/executor_lease.hpp"

#include "runner_channel.hpp"

namespace procman::exec {

struct runner_channel::os_state {
  std::condition_variable lease_changed; ///< renewals and stop()
  std::thread watcher; ///< ends the executor at the lease's end
};

void runner_channel::os_state_deleter::operator()(os_state* p) const {
  delete p;
}

void runner_channel::make_timer() {
  os_.reset(new os_state);
}

void runner_channel::start_thread() {
  reader_ = std::thread([this] { read_loop(); });
  os_->watcher = std::thread([this] {
    std::unique_lock<std::mutex> lock{mtx_};
    while (!stopping_) {
      auto left = lease_until_ms_ - lease_clock_ms();
      if (left <= 0) {
        lock.unlock();
        lease_ran_out(lease_clock_ms());
      }
      os_->lease_changed.wait_for(lock, std::chrono::milliseconds(left));
    }
  });
}

void runner_channel::stop() {
  if (!reader_.joinable())
    return;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  os_->lease_changed.notify_all();
  os_->watcher.join();
  // The reader stays blocked in its read until the process ends; it acts
  // on nothing it reads from now on.
  reader_.detach();
}

void runner_channel::renew(int64_t until_ms) {
  lease_until_ms_ = until_ms;
  if (os_)
    os_->lease_changed.notify_all();
}

void runner_channel::read_loop() {
  char chunk[4096];
  for (;;) {
    auto n = ::_read(fd_, chunk, sizeof(chunk));
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return;
    if (n > 0) {
      buf_.append(chunk, static_cast<size_t>(n));
      take_lines(); // renewals move the watcher's deadline
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    eof_ = true;
    read_errno_ = n == 0 ? 0 : errno;
    cv_.notify_all();
    return;
  }
}

} // namespace procman::exec
