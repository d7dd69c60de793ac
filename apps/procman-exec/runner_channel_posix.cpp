// The runner's channel on POSIX: one thread in poll on stdin, a timerfd on
// CLOCK_BOOTTIME at the lease's end, and an eventfd that stop() writes.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <thread>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "procman/protocol/executor_lease.hpp"

#include "runner_channel.hpp"

namespace procman::exec {

struct runner_channel::os_state {
  int timer_fd = -1;
  int wake_fd = -1; ///< an eventfd that stop() writes
};

void runner_channel::os_state_deleter::operator()(os_state* p) const {
  delete p;
}

void runner_channel::make_timer() {
  os_.reset(new os_state);
  // Without a timerfd (none left?), poll's timeout does, on the monotonic
  // clock: late only after a suspend.
  os_->timer_fd = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC | TFD_NONBLOCK);
  os_->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

void runner_channel::start_thread() {
  reader_ = std::thread([this] { read_loop(); });
}

void runner_channel::stop() {
  if (!reader_.joinable())
    return;
  stopping_ = true;
  uint64_t one = 1;
  if (os_->wake_fd < 0 || ::write(os_->wake_fd, &one, sizeof(one)) < 0) {
    reader_.detach(); // cannot wake it: it ends with the process
    return;
  }
  reader_.join();
}

void runner_channel::renew(int64_t until_ms) {
  lease_until_ms_ = until_ms;
  if (os_->timer_fd < 0)
    return;
  itimerspec its{};
  auto t = std::max<int64_t>(until_ms, 1); // all zero would disarm it
  its.it_value.tv_sec = static_cast<time_t>(t / 1000);
  its.it_value.tv_nsec = static_cast<long>(t % 1000) * 1000000;
  timerfd_settime(os_->timer_fd, TFD_TIMER_ABSTIME, &its, nullptr);
}

void runner_channel::read_loop() {
  char chunk[4096];
  int timer_fd = os_->timer_fd;
  for (;;) {
    bool eof = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      eof = eof_;
    }
    // The end of stdin is not polled after it came (index 2 drops out).
    pollfd fds[3]
      = {{timer_fd, POLLIN, 0}, {os_->wake_fd, POLLIN, 0}, {fd_, POLLIN, 0}};
    int timeout = -1;
    if (timer_fd < 0) {
      auto left = lease_until_ms_ - lease_clock_ms();
      timeout = static_cast<int>(std::clamp<int64_t>(left, 0, INT_MAX));
    }
    if (poll(fds, eof ? 2 : 3, timeout) < 0 && errno != EINTR)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (stopping_)
      return;
    if (timer_fd >= 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t ticks = 0;
      if (::read(timer_fd, &ticks, sizeof(ticks)) < 0) {
        // nop: nonblocking; the clock below decides
      }
    }
    if (!eof && fds[2].revents != 0) {
      auto n = ::read(fd_, chunk, sizeof(chunk));
      std::lock_guard<std::mutex> guard{mtx_};
      if (n > 0) {
        buf_.append(chunk, static_cast<size_t>(n));
        take_lines(); // a renewal that came in time counts
      } else if (n == 0 || errno != EINTR) {
        eof_ = true;
        read_errno_ = n == 0 ? 0 : errno;
        cv_.notify_all();
      }
    }
    // The clock decides, not the wake-up: a renewal read just now wins.
    if (auto now = lease_clock_ms(); now >= lease_until_ms_)
      lease_ran_out(now);
  }
}

} // namespace procman::exec
