#include "runner_channel.hpp"

// What both systems share; runner_channel_posix.cpp and
// runner_channel_windows.cpp wait for the lines and the lease's end.

#include <cerrno>
#include <cstring>

#include <unistd.h>

#include "procman/protocol/executor_lease.hpp"

namespace procman::exec {

runner_channel::runner_channel(int fd, std::string buffered,
                               int64_t lease_until_ms, end_fn end)
  : fd_(fd), buf_(std::move(buffered)), end_(end) {
  if (lease_until_ms <= 0)
    return;
  threaded_ = true;
  make_timer();
  renew(lease_until_ms);
  take_lines(); // what came with the work; the thread is not there yet
  // Ended before any step could start (the runner was stopped after it
  // wrote the work): none does.
  if (auto now = lease_clock_ms(); now >= lease_until_ms_)
    lease_ran_out(now);
  start_thread();
}

runner_channel::~runner_channel() {
  stop();
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
