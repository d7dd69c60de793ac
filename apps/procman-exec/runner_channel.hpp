// What the runner writes on the executor's stdin after the work
// (docs/protocol.md): acknowledgements of completed steps and, while the
// executor holds a lease, renewals of it.
//
// Without a lease the lines are read when an acknowledgement is awaited.
// With one a thread of their own reads them as they come and ends the
// executor when the lease runs out, on time whatever the runner and the
// steps do: on POSIX a timerfd on CLOCK_BOOTTIME (the lease clock) armed
// at the deadline, which also fires at once after a suspend
// (runner_channel_posix.cpp); on Windows a second thread that waits for
// the deadline (runner_channel_windows.cpp).

#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace procman::exec {

class runner_channel {
public:
  /// Ends the executor with everything it started; `why` is a line for
  /// stderr; `lease_ran_out`: the runner could not stop it itself (its
  /// cgroup is killed too). Never returns.
  using end_fn = void (*)(const std::string& why, bool lease_ran_out);
  // (An end_fn returns never; the type cannot say so.)

  /// `fd`: stdin after the work (close-on-exec), `buffered`: what was read
  /// past the work. `lease_until_ms` > 0 (lease_clock_ms()) starts the
  /// reading thread with the lease armed.
  runner_channel(int fd, std::string buffered, int64_t lease_until_ms,
                 end_fn end);

  /// Stops the reading thread (stop()).
  ~runner_channel();

  runner_channel(const runner_channel&) = delete;
  runner_channel& operator=(const runner_channel&) = delete;

  /// Ends the reading thread, and with it the lease, before the executor
  /// ends its tree and itself (the steps are done by then): a thread that
  /// lives until the process exits makes its reaper's wait4 walk the
  /// dcache of /proc entries its tree kill looked up, milliseconds on a
  /// busy machine.
  void stop();

  /// Returns once step `step` (or a later one) is acknowledged. End of
  /// file meanwhile (the runner is gone) or a line that is neither an
  /// acknowledgement nor a renewal ends the executor.
  void await_ack(uint32_t step);

private:
  /// Splits what `buf_` holds into lines and acts on each. Requires mtx_
  /// when the thread runs.
  void take_lines();
  /// Moves the lease's end (and the timer) to `until_ms`.
  void renew(int64_t until_ms);
  /// Sets up what ends the executor when the lease runs out (`os_`).
  void make_timer();
  /// Starts the reading thread (and what ends the lease).
  void start_thread();
  void read_loop();
  [[noreturn]] void runner_gone(int err);
  [[noreturn]] void lease_ran_out(int64_t now);

  int fd_;
  std::string buf_;
  end_fn end_;
  bool threaded_ = false;
  /// What the system's implementation keeps (timers, a second thread).
  struct os_state;
  struct os_state_deleter {
    void operator()(os_state* p) const;
  };
  std::unique_ptr<os_state, os_state_deleter> os_;
  std::atomic<bool> stopping_{false};
  std::thread reader_;
  int64_t lease_until_ms_ = 0;
  std::mutex mtx_;
  std::condition_variable cv_;
  int64_t acked_ = -1; ///< the latest step acknowledged
  bool eof_ = false;
  int read_errno_ = 0;
};

} // namespace procman::exec
