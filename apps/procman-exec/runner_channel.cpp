#include "runner_channel.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <thread>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "procman/protocol/executor_lease.hpp"

namespace procman::exec {

runner_channel::runner_channel(int fd, std::string buffered,
                               int64_t lease_until_ms, end_fn end)
  : fd_(fd), buf_(std::move(buffered)), end_(end) {
  if (lease_until_ms <= 0)
    return;
  threaded_ = true;
  // Without a timerfd (none left?), poll's timeout does, on the monotonic
  // clock: late only after a suspend.
  timer_fd_ = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC | TFD_NONBLOCK);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  renew(lease_until_ms);
  take_lines(); // what came with the work; the thread is not there yet
  // Ended before any step could start (the runner was stopped after it
  // wrote the work): none does.
  if (auto now = lease_clock_ms(); now >= lease_until_ms_)
    lease_ran_out(now);
  reader_ = std::thread([this] { read_loop(); });
}

runner_channel::~runner_channel() {
  stop();
}

void runner_channel::stop() {
  if (!reader_.joinable())
    return;
  stopping_ = true;
  uint64_t one = 1;
  if (wake_fd_ < 0 || ::write(wake_fd_, &one, sizeof(one)) < 0) {
    reader_.detach(); // cannot wake it: it ends with the process
    return;
  }
  reader_.join();
}

void runner_channel::renew(int64_t until_ms) {
  lease_until_ms_ = until_ms;
  if (timer_fd_ < 0)
    return;
  itimerspec its{};
  auto t = std::max<int64_t>(until_ms, 1); // all zero would disarm it
  its.it_value.tv_sec = static_cast<time_t>(t / 1000);
  its.it_value.tv_nsec = static_cast<long>(t % 1000) * 1000000;
  timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &its, nullptr);
}

void runner_channel::take_lines() {
  for (;;) {
    auto nl = buf_.find('\n');
    if (nl == std::string::npos)
      return;
    auto line = buf_.substr(0, nl);
    buf_.erase(0, nl + 1);
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    auto x = decode_runner_line(line);
    switch (x.what) {
      case runner_line::kind::ack:
        if (static_cast<int64_t>(x.step) > acked_) {
          acked_ = x.step;
          cv_.notify_all();
        }
        break;
      case runner_line::kind::lease:
        if (threaded_)
          renew(x.until_ms);
        break; // an executor without a lease has none to renew
      case runner_line::kind::garbage:
        end_("procman-exec: expected {\"ack\": k} or {\"lease\": T} on "
             "stdin, got: "
               + line.substr(0, 200),
             false);
    }
  }
}

void runner_channel::read_loop() {
  char chunk[4096];
  for (;;) {
    bool eof = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      eof = eof_;
    }
    // The end of stdin is not polled after it came (index 2 drops out).
    pollfd fds[3]
      = {{timer_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}, {fd_, POLLIN, 0}};
    int timeout = -1;
    if (timer_fd_ < 0) {
      auto left = lease_until_ms_ - lease_clock_ms();
      timeout = static_cast<int>(std::clamp<int64_t>(left, 0, INT_MAX));
    }
    if (poll(fds, eof ? 2 : 3, timeout) < 0 && errno != EINTR)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (stopping_)
      return;
    if (timer_fd_ >= 0 && (fds[0].revents & POLLIN) != 0) {
      uint64_t ticks = 0;
      if (::read(timer_fd_, &ticks, sizeof(ticks)) < 0) {
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

void runner_channel::lease_ran_out(int64_t now) {
  end_("procman-exec: its lease ran out "
         + std::to_string(now - lease_until_ms_)
         + " ms ago: the runner renewed it no more (stopped, hung, or cut off "
           "from its store node); killing its process tree",
       true);
  __builtin_unreachable();
}

void runner_channel::await_ack(uint32_t step) {
  if (threaded_) {
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait(lock, [&] { return acked_ >= step || eof_; });
    if (acked_ >= step)
      return;
    runner_gone(read_errno_);
  }
  char chunk[4096];
  for (;;) {
    take_lines();
    if (acked_ >= step)
      return;
    auto n = ::read(fd_, chunk, sizeof(chunk));
    if (n > 0)
      buf_.append(chunk, static_cast<size_t>(n));
    else if (n == 0 || errno != EINTR)
      runner_gone(n == 0 ? 0 : errno);
  }
}

void runner_channel::runner_gone(int err) {
  end_(std::string("procman-exec: runner gone while waiting for the "
                   "acknowledgement of a step (")
         + (err == 0 ? "end of stdin" : std::strerror(err)) + ")",
       false);
  __builtin_unreachable();
}

} // namespace procman::exec
