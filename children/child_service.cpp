#include "procman/children/child_service.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procman/children/executor_cgroups.hpp"
#include "procman/children/fork_server.hpp"
#include "procman/children/process_tree.hpp"
#include "procman/children/spawn_attributes.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/protocol/executor_lease.hpp"

extern char** environ;

namespace procman {

namespace asio = boost::asio;

namespace {

struct child : std::enable_shared_from_this<child> {
  int pid = 0;
  asio::posix::stream_descriptor in, out, err;
  /// Awaits the exit through a pidfd (readable once the child has ended,
  /// then one waitpid reaps it); absent where pidfd_open(2) is not
  /// available (kernels before 5.3, some sandboxes, valgrind), and then
  /// `reap_timer` polls waitpid instead.
  std::optional<asio::posix::stream_descriptor> pidfd;
  asio::steady_timer reap_timer;
  asio::steady_timer drain_timer;
  /// The pipe ends not yet in `in`, `out` and `err` (-1: none). Stdin goes
  /// to `in` only if something is written to it. The report channel and
  /// stderr of a child that `defer_reads` are read once at its exit if it
  /// ends within defaults::reports_unwatched_ms, else watched from then
  /// on: a fast executor wakes the I/O thread once (its exit), not once
  /// per report line as well.
  int in_fd = -1, out_fd = -1, err_fd = -1;
  bool defer_reads = false;
  asio::steady_timer watch_timer;
  std::string input;
  bool keep_open = false;
  bool writing = false;
  std::string queued; ///< written after `input`, for keep_open
  /// The lease: the latest end written to the child (or in its input; 0:
  /// it holds none), and the one to write next.
  int64_t lease_written = 0;
  int64_t lease_pending = 0;
  bool lease_lapsed = false; ///< it was killed after its lease ran out
  std::string line;
  std::string err_tail;
  char out_buf[65536];
  char err_buf[8192];
  bool out_eof = false;
  bool exited = false;
  bool done = false;
  int exit_code = -1;
  int signal = 0;
  child_handlers handlers;
  std::string cgroup; ///< its own cgroup, or ""
  std::function<void(int pid, const std::string& cgroup, bool normal_exit)>
    on_exited;
  std::function<void(int)> on_done;
  /// Armed by `arm`, cancelled by `finish`.
  std::vector<std::shared_ptr<asio::steady_timer>> timers;
  /// Set once start() has returned; until then only the handlers it
  /// started touch the child on the I/O thread.
  std::atomic<bool> started{false};

  child(asio::io_context& ctx, int pid, int in_fd, int out_fd, int err_fd)
    : pid(pid), in(ctx), out(ctx), err(ctx), reap_timer(ctx), drain_timer(ctx),
      in_fd(in_fd), out_fd(out_fd), err_fd(err_fd), watch_timer(ctx) {
    auto fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0)
      pidfd.emplace(ctx, fd);
  }

  ~child() {
    for (int fd : {in_fd, out_fd, err_fd})
      if (fd >= 0)
        ::close(fd);
  }

  /// Arms all of `ts` (see `arm`). Each is in `timers` before any is
  /// awaited: on another thread than the I/O thread (spawn), a timer that
  /// fires at once takes itself out of `timers` only after the others
  /// went in.
  void arm_all(std::vector<child_timer> ts) {
    if (done)
      return;
    std::vector<
      std::pair<std::shared_ptr<asio::steady_timer>, std::function<void()>>>
      made;
    for (auto& t : ts) {
      auto timer = std::make_shared<asio::steady_timer>(in.get_executor());
      timer->expires_after(t.after);
      timers.push_back(timer);
      made.emplace_back(std::move(timer), std::move(t.fn));
    }
    for (auto& [timer, fn] : made)
      await_timer(timer, std::move(fn));
  }

  /// Calls `fn` after `after` unless the child has finished by then.
  void arm(std::chrono::milliseconds after, std::function<void()> fn) {
    arm_all({{after, std::move(fn)}});
  }

  void await_timer(std::shared_ptr<asio::steady_timer> t,
                   std::function<void()> fn) {
    std::weak_ptr<child> weak = shared_from_this();
    t->async_wait([weak, t, fn = std::move(fn)](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->done)
        return;
      auto& ts = self->timers;
      ts.erase(std::remove(ts.begin(), ts.end(), t), ts.end());
      fn();
    });
  }

  /// Starts the child's I/O. May run on another thread than the I/O
  /// thread (spawn): it touches nothing that a handler started here
  /// touches once that handler may run, and the exit (after which the
  /// child is finished on the I/O thread) is awaited last. Input is
  /// written on the I/O thread only, where SIGPIPE is blocked.
  void start(bool on_io_thread) {
    if (input.empty() && !keep_open) {
      ::close(in_fd);
      in_fd = -1;
    } else if (!input.empty()) {
      if (on_io_thread)
        write_in();
      else
        asio::post(in.get_executor(),
                   [self = shared_from_this()] { self->write_in(); });
    }
    // Else stdin stays open, and goes to `in` with the first write (an
    // acknowledgement, a lease renewal).
    if (defer_reads) {
      std::weak_ptr<child> weak = shared_from_this();
      watch_timer.expires_after(
        std::chrono::milliseconds(defaults::reports_unwatched_ms));
      watch_timer.async_wait([weak](boost::system::error_code ec) {
        auto self = weak.lock();
        if (!ec && self && !self->exited)
          self->watch();
      });
    } else {
      watch();
    }
    if (pidfd)
      await_exit();
    else
      poll_exit();
  }

  /// Hands the raw pipe end `fd` (if any; the caller gives it up) to `d`,
  /// closing it if the reactor refuses it; returns whether `d` is open.
  static bool adopt(asio::posix::stream_descriptor& d, int fd) {
    if (fd >= 0) {
      boost::system::error_code ec;
      d.assign(fd, ec);
      if (ec)
        ::close(fd);
    }
    return d.is_open();
  }

  /// Reads the report channel and stderr as they come from now on.
  void watch() {
    if (out_fd >= 0) {
      if (adopt(out, std::exchange(out_fd, -1)))
        read_out();
      else
        out_eof = true;
    }
    if (err_fd >= 0 && adopt(err, std::exchange(err_fd, -1)))
      read_err();
  }

  /// At the exit of a child whose pipes are not watched yet: reads what
  /// they hold. A report channel that some other process still holds open
  /// (no EOF) is watched from then on, as for any child.
  void read_unwatched() {
    if (out_fd < 0 && err_fd < 0)
      return; // watched already
    watch_timer.cancel();
    if (out_fd >= 0
        && drain_fd(out_fd, out_buf, sizeof out_buf,
                    [this](size_t n) { on_out(n); })) {
      ::close(out_fd);
      out_fd = -1;
      out_eof = true;
    }
    if (err_fd >= 0
        && drain_fd(err_fd, err_buf, sizeof err_buf,
                    [this](size_t n) { on_err(n); })) {
      ::close(err_fd);
      err_fd = -1;
    }
    watch();
  }

  /// Reads `fd` without blocking until it is empty; true at EOF (or an
  /// error: nothing more will come).
  template <class F>
  static bool drain_fd(int fd, char* buf, size_t size, F on_data) {
    int on = 1;
    if (::ioctl(fd, FIONBIO, &on) != 0)
      return true;
    for (;;) {
      auto n = ::read(fd, buf, size);
      if (n > 0) {
        on_data(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR)
        continue;
      return !(n < 0 && errno == EAGAIN);
    }
  }

  /// Waits for the pidfd to become readable: the child has ended.
  void await_exit() {
    auto self = shared_from_this();
    pidfd->async_wait(asio::posix::stream_descriptor::wait_read,
                      [self](boost::system::error_code ec) {
                        if (ec == asio::error::operation_aborted)
                          return;
                        int status = 0;
                        auto rc = ::waitpid(self->pid, &status, WNOHANG);
                        if (rc == 0 && !ec)
                          return self->await_exit();
                        self->on_exit_status(rc == self->pid ? status : -1);
                      });
  }

  /// Writes `input`, then whatever `write_input` queued meanwhile, then
  /// the lease's latest end (one line, however often it moved meanwhile);
  /// closes stdin after `input` unless `keep_open`. A failed write (the
  /// child closed its stdin or ended) closes it too.
  void write_in() {
    if (writing || done || !adopt(in, std::exchange(in_fd, -1)))
      return;
    if (input.empty() && !queued.empty())
      input.swap(queued);
    int64_t renewing = 0;
    if (input.empty() && lease_pending > lease_written) {
      renewing = lease_pending;
      input = encode_lease(renewing);
    }
    if (input.empty())
      return;
    writing = true;
    auto self = shared_from_this();
    asio::async_write(in, asio::buffer(input),
                      [self, renewing](boost::system::error_code ec, size_t) {
                        self->writing = false;
                        std::string{}.swap(self->input);
                        if (!ec && renewing > 0)
                          self->lease_written = renewing;
                        boost::system::error_code ignored;
                        if (ec || !self->keep_open)
                          self->in.close(ignored);
                        else
                          self->write_in();
                      });
  }

  /// Pushes the lease to `until` (if it holds one and that is later). A
  /// lease that ran out is not renewed: its executor ends itself (a runner
  /// continued after a stop renews before it hears that exit), and the
  /// exit then counts as the lease's (`lease_lapsed`).
  void renew_lease(int64_t until) {
    if (lease_written == 0 || done || until <= lease_pending
        || lease_clock_ms() >= lease_written)
      return;
    lease_pending = until;
    write_in();
  }

  void poll_exit() {
    auto self = shared_from_this();
    reap_timer.expires_after(
      std::chrono::milliseconds(defaults::child_poll_ms));
    reap_timer.async_wait([self](boost::system::error_code ec) {
      if (ec)
        return;
      int status = 0;
      auto rc = ::waitpid(self->pid, &status, WNOHANG);
      if (rc == 0)
        return self->poll_exit();
      self->on_exit_status(rc == self->pid ? status : -1);
    });
  }

  /// `status` as from waitpid, or -1 when it was lost (reported as a crash).
  void on_exit_status(int status) {
    exited = true;
    // Killed after the last end of its lease that reached it: it ended
    // itself because the runner did not renew it in time.
    lease_lapsed = lease_written > 0 && status != -1 && WIFSIGNALED(status)
                   && lease_clock_ms() >= lease_written;
    if (status == -1) {
      exit_code = -1;
      signal = 0;
    } else if (WIFEXITED(status)) {
      exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      signal = WTERMSIG(status);
    }
    if (on_exited)
      on_exited(pid, cgroup, status != -1 && WIFEXITED(status));
    read_unwatched();
    // A grandchild could keep stdout open only if it inherited it, which
    // procman-exec prevents; still, give up on stdout after a second.
    auto self = shared_from_this();
    drain_timer.expires_after(
      std::chrono::milliseconds(defaults::stdout_drain_ms));
    drain_timer.async_wait([self](boost::system::error_code ec) {
      if (!ec)
        self->finish();
    });
    maybe_finish();
  }

  void read_out() {
    auto self = shared_from_this();
    out.async_read_some(asio::buffer(out_buf),
                        [self](boost::system::error_code ec, size_t n) {
                          if (n > 0)
                            self->on_out(n);
                          if (ec) {
                            self->out_eof = true;
                            self->maybe_finish();
                            return;
                          }
                          self->read_out();
                        });
  }

  void on_out(size_t n) {
    size_t pos = 0;
    for (size_t i = 0; i < n; ++i)
      if (out_buf[i] == '\n') {
        line.append(out_buf + pos, i - pos);
        if (!line.empty() && handlers.on_report)
          handlers.on_report(std::move(line));
        line.clear();
        pos = i + 1;
      }
    line.append(out_buf + pos, n - pos);
  }

  void read_err() {
    auto self = shared_from_this();
    err.async_read_some(asio::buffer(err_buf),
                        [self](boost::system::error_code ec, size_t n) {
                          if (n > 0)
                            self->on_err(n);
                          if (!ec)
                            self->read_err();
                        });
  }

  void on_err(size_t n) {
    err_tail.append(err_buf, n);
    auto limit = child_service::stderr_tail_bytes;
    if (err_tail.size() > 2 * limit)
      err_tail.erase(0, err_tail.size() - limit);
  }

  void maybe_finish() {
    if (exited && out_eof)
      finish();
  }

  void finish() {
    if (done)
      return;
    done = true;
    drain_timer.cancel();
    for (auto& t : timers)
      t->cancel();
    timers.clear();
    if (!line.empty() && handlers.on_report)
      handlers.on_report(std::move(line));
    // Read what is already buffered on stderr without waiting for EOF.
    // read_err made it non-blocking (asio does before its first read).
    if (err.is_open() && err.native_non_blocking())
      for (ssize_t n;
           (n = ::read(err.native_handle(), err_buf, sizeof err_buf)) > 0;)
        on_err(static_cast<size_t>(n));
    boost::system::error_code ec;
    err.close(ec);
    out.close(ec);
    in.close(ec);
    if (pidfd)
      pidfd->close(ec);
    for (int* fd : {&in_fd, &out_fd, &err_fd})
      if (*fd >= 0) {
        ::close(*fd);
        *fd = -1;
      }
    auto limit = child_service::stderr_tail_bytes;
    if (err_tail.size() > limit)
      err_tail.erase(0, err_tail.size() - limit);
    if (lease_lapsed && handlers.on_lease_lapsed)
      handlers.on_lease_lapsed();
    if (handlers.on_exit)
      handlers.on_exit(exit_code, signal, std::move(err_tail));
    handlers = {};
    if (on_done)
      on_done(pid);
  }
};

} // namespace

static void arm_watch(std::shared_ptr<asio::posix::stream_descriptor> sd,
                      std::function<void()> fn) {
  sd->async_wait(asio::posix::stream_descriptor::wait_read,
                 [sd, fn](boost::system::error_code ec) mutable {
                   if (ec)
                     return;
                   fn();
                   arm_watch(sd, std::move(fn));
                 });
}

struct child_service::impl {
  /// A live child: whether it has not been reaped yet (its pid is still
  /// its own), and its cgroup.
  struct entry {
    bool running = true;
    std::string cgroup;
  };

  asio::io_context ctx;
  asio::executor_work_guard<asio::io_context::executor_type> guard;
  std::thread thread;
  std::unique_ptr<executor_cgroups> cgroups;
  std::atomic<bool> cgroups_failed{false};
  std::atomic<bool> no_clone3{false}; ///< spawn_in_cgroup failed once
  bool reap_orphans = false;
  /// Held shared while a child is spawned and entered in `live`, exclusive
  /// while the orphans are told from the children.
  std::shared_mutex spawning;
  mutable std::mutex mtx;
  /// The children whose I/O runs, by pid: entered by spawn (on the
  /// spawning thread), read and erased on the I/O thread, under
  /// children_mtx.
  std::unordered_map<int, std::shared_ptr<child>> children;
  std::mutex children_mtx;
  std::unordered_map<int, entry> live; // under mtx
  /// Empty cgroups of executors that ended by themselves, for the next
  /// executors: creating and removing a cgroup costs the kernel far more
  /// than reading whether one is empty. Under mtx.
  std::vector<std::string> spare_cgroups;
  /// The `cgroup.events` of executor cgroups read once, kept open while
  /// the cgroup lives: a spare is read after every executor it held, and
  /// opening the file costs ten times reading it. Under mtx.
  std::unordered_map<std::string, int> events_fds;
  std::set<pid_t> orphans; // I/O thread only
  asio::steady_timer orphan_timer;
  bool orphan_timer_armed = false;
  /// After an executor was killed, sweeps go on until then.
  std::chrono::steady_clock::time_point sweep_until;
  static constexpr auto resweep_period
    = std::chrono::milliseconds(defaults::orphan_resweep_ms);
  asio::steady_timer periodic_timer;
  std::vector<std::shared_ptr<asio::posix::stream_descriptor>> watched;
  /// Forks executors when set (use_fork_server).
  std::unique_ptr<fork_server> server;
  std::atomic<pid_t> server_pid{0};
  /// After the server failed to start: no new attempt before this.
  std::atomic<int64_t> server_retry_at{0};
  /// Executor leases (use_leases, cap_leases): their length, 0 without;
  /// the cap, in lease_clock_ms().
  std::atomic<int64_t> lease_bound_ms{0};
  std::atomic<int64_t> lease_cap{INT64_MAX};
  asio::steady_timer lease_timer;
  bool lease_timer_armed = false;

  impl()
    : guard(ctx.get_executor()), orphan_timer(ctx), periodic_timer(ctx),
      lease_timer(ctx) {
    thread = std::thread([this] {
      // Writes to an executor that has just exited fail with EPIPE on this
      // thread instead of raising SIGPIPE, whose default action would end
      // a host that embeds the engine and does not ignore it. The signal
      // is thread-directed, so blocking it here is enough.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      ctx.run();
    });
  }

  /// Starts the fork server on the I/O thread (the parent-death signal of
  /// the children it forks follows the thread that started it) unless it
  /// runs; after a failure, tries again a second later at the earliest.
  /// Returns whether it runs.
  bool server_up() {
    if (server->running())
      return true;
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    if (now < server_retry_at)
      return false;
    auto start = [this] {
      auto err = server->ensure_running();
      server_pid = server->pid();
      return err;
    };
    caf::error err;
    if (std::this_thread::get_id() == thread.get_id()) {
      err = start();
    } else {
      std::packaged_task<caf::error()> task{start};
      auto done = task.get_future();
      asio::post(ctx, [&task] { task(); });
      err = done.get();
    }
    if (!err) {
      log_info("", "fork server started again (pid "
                     + std::to_string(server_pid) + ")");
      return true;
    }
    server_retry_at
      = (std::chrono::steady_clock::now()
         + std::chrono::milliseconds(defaults::fork_server_restart_ms))
          .time_since_epoch()
          .count();
    log_warn("", render(err) + "; spawning executors meanwhile");
    return false;
  }

  int64_t lease_until() const {
    return lease_end(lease_bound_ms.load(), lease_cap.load());
  }

  /// I/O thread: the child with this pid, if its I/O runs.
  std::shared_ptr<child> find_child(int pid) {
    std::lock_guard<std::mutex> lock{children_mtx};
    auto i = children.find(pid);
    return i == children.end() ? nullptr : i->second;
  }

  /// I/O thread: the children whose start() has returned (one that
  /// another thread is starting is left alone until then).
  std::vector<std::shared_ptr<child>> ready_children() {
    std::vector<std::shared_ptr<child>> out;
    std::lock_guard<std::mutex> lock{children_mtx};
    for (auto& kv : children)
      if (kv.second->started.load(std::memory_order_acquire))
        out.push_back(kv.second);
    return out;
  }

  /// Makes the child of a spawned executor and starts its I/O, on the
  /// calling thread: the I/O thread wakes for its output and exit only.
  void start_child(int pid, int in_fd, int out_fd, int err_fd,
                   std::string input, std::string cgroup, bool keep_open,
                   int64_t lease_until_ms, bool reports_may_wait,
                   child_handlers handlers) {
    auto c = std::make_shared<child>(ctx, pid, in_fd, out_fd, err_fd);
    c->input = std::move(input);
    c->keep_open = keep_open;
    c->defer_reads = reports_may_wait;
    c->lease_written = c->lease_pending = lease_until_ms;
    c->handlers = std::move(handlers);
    c->cgroup = std::move(cgroup);
    c->on_exited = [this](int pid, const std::string& cgroup,
                          bool normal_exit) {
      exited(pid, cgroup, normal_exit);
    };
    c->on_done = [this, done = c.get()](int pid) {
      {
        std::lock_guard<std::mutex> guard{children_mtx};
        // Not a new executor's entry under the same pid.
        if (auto i = children.find(pid);
            i != children.end() && i->second.get() == done)
          children.erase(i);
      }
      std::lock_guard<std::mutex> guard{mtx};
      live.erase(pid);
    };
    {
      std::lock_guard<std::mutex> guard{children_mtx};
      children[pid] = c;
    }
    // Armed before the exit is awaited: finish() cancels them all.
    c->arm_all(std::move(c->handlers.timers));
    c->start(std::this_thread::get_id() == thread.get_id());
    c->started.store(true, std::memory_order_release);
  }

  /// I/O thread: pushes every child's lease as far as it may go now.
  void renew_leases() {
    auto until = lease_until();
    if (until <= 0)
      return;
    for (auto& c : ready_children())
      c->renew_lease(until);
  }

  /// I/O thread: renews 4 times per lease, from now on.
  void renew_leases_regularly() {
    if (lease_timer_armed)
      return;
    lease_timer_armed = true;
    auto period = std::max<int64_t>(lease_bound_ms / 4, 20);
    lease_timer.expires_after(std::chrono::milliseconds(period));
    lease_timer.async_wait([this](boost::system::error_code ec) {
      lease_timer_armed = false;
      if (ec)
        return;
      renew_leases();
      renew_leases_regularly();
    });
  }

  /// Stops using cgroups after the first failure, and says so once.
  void cgroup_failed(const std::string& why) {
    if (!cgroups_failed.exchange(true))
      log_warn("", "containment: falling back to subreaper (" + why + ")");
  }

  /// Requires mtx. kill_tree's table is shared, hence the lock.
  void kill_locked(int pid, const entry& e) {
    if (!e.running)
      return; // reaped: the pid may be someone else's by now
    if (!e.cgroup.empty())
      executor_cgroups::kill(e.cgroup);
    kill_tree(pid, true);
    ::kill(-pid, SIGKILL);
  }

  /// On the I/O thread, once a child's exit was seen (and it was reaped).
  /// An executor that ended by itself has killed and reaped its tree; one
  /// that was killed (or crashed) leaves its dead or dying tree to us.
  void exited(int pid, const std::string& cgroup, bool normal_exit) {
    {
      std::lock_guard<std::mutex> lock{mtx};
      if (auto i = live.find(pid); i != live.end())
        i->second.running = false;
    }
    // From here on kill_group(pid) leaves the cgroup alone (kill_locked
    // checks `running` under mtx), so an empty one can take the next
    // executor: nothing aimed at this executor can reach that one.
    if (!cgroup.empty() && !(normal_exit && keep_spare(cgroup)))
      release_cgroup(cgroup, 0);
    if (normal_exit)
      return;
    // Its group outlives it while a member lives, and a group's id is not
    // given to a new process meanwhile.
    ::kill(-pid, SIGKILL);
    if (reap_orphans) {
      // What it left is dying in no particular order: a process is
      // re-parented to us only when its parent has died, which may be
      // after the executor. Look again for a while.
      sweep_until = std::chrono::steady_clock::now() + resweep_period;
      sweep_orphans();
    }
  }

  /// Keeps the cgroup of an executor that ended by itself for the next
  /// one, if nothing it started is left there and fewer than
  /// defaults::spare_cgroups_max are kept. I/O thread.
  bool keep_spare(const std::string& cg) {
    int fd = -1;
    {
      std::lock_guard<std::mutex> lock{mtx};
      if (auto i = events_fds.find(cg); i != events_fds.end())
        fd = i->second;
    }
    if (fd < 0 && (fd = executor_cgroups::open_events(cg)) >= 0) {
      std::lock_guard<std::mutex> lock{mtx};
      events_fds.emplace(cg, fd);
    }
    if (!executor_cgroups::empty_at(fd))
      return false;
    std::lock_guard<std::mutex> lock{mtx};
    if (spare_cgroups.size() >= defaults::spare_cgroups_max)
      return false;
    spare_cgroups.push_back(cg);
    return true;
  }

  /// An empty cgroup for a new executor: a spare one, else a new one.
  caf::expected<std::string> take_cgroup() {
    {
      std::lock_guard<std::mutex> lock{mtx};
      if (!spare_cgroups.empty()) {
        auto cg = std::move(spare_cgroups.back());
        spare_cgroups.pop_back();
        return cg;
      }
    }
    return cgroups->make_child();
  }

  /// Removes the executor's cgroup, killing what it left there first
  /// (retrying for up to ten seconds while they die; the cgroup goes with
  /// the parent at the latest).
  void release_cgroup(const std::string& cg, int attempt) {
    if (attempt == 0)
      forget_events(cg);
    if (executor_cgroups::remove(cg) || attempt >= 2000)
      return;
    if (attempt == 0)
      executor_cgroups::kill(cg);
    auto timer = std::make_shared<asio::steady_timer>(ctx);
    timer->expires_after(std::chrono::milliseconds(defaults::child_poll_ms));
    timer->async_wait([this, timer, cg, attempt](boost::system::error_code ec) {
      if (!ec)
        release_cgroup(cg, attempt + 1);
    });
  }

  /// Closes the `cgroup.events` kept open for `cg`, which goes.
  void forget_events(const std::string& cg) {
    std::lock_guard<std::mutex> lock{mtx};
    if (auto i = events_fds.find(cg); i != events_fds.end()) {
      ::close(i->second);
      events_fds.erase(i);
    }
  }

  /// Kills and reaps the children that are not executors. Returns whether
  /// some are left (still dying). I/O thread, or after it ended.
  bool sweep_orphans_once() {
    {
      std::unique_lock<std::shared_mutex> no_spawn{spawning};
      std::lock_guard<std::mutex> lock{mtx};
      for_each_child(
        ::getpid(),
        [](pid_t pid, void* arg) {
          auto self = static_cast<impl*>(arg);
          if (self->live.count(pid) == 0 && pid != self->server_pid)
            self->orphans.insert(pid);
        },
        this);
      for (auto pid : orphans)
        kill_tree(pid, true);
    }
    for (auto i = orphans.begin(); i != orphans.end();) {
      auto rc = ::waitpid(*i, nullptr, WNOHANG);
      if (rc == *i || (rc < 0 && errno == ECHILD))
        i = orphans.erase(i);
      else
        ++i;
    }
    return !orphans.empty();
  }

  /// Every few seconds, for orphans that came some other way (an executor
  /// that gave up waiting for a process in uninterruptible sleep).
  void sweep_orphans_regularly() {
    periodic_timer.expires_after(
      std::chrono::seconds(defaults::orphan_sweep_s));
    periodic_timer.async_wait([this](boost::system::error_code ec) {
      if (ec)
        return;
      sweep_orphans();
      sweep_orphans_regularly();
    });
  }

  /// Sweeps now and, while orphans are dying or an executor was killed
  /// lately, again every 5 ms (their own children are re-parented to us as
  /// they die).
  void sweep_orphans() {
    bool again = sweep_orphans_once()
                 || std::chrono::steady_clock::now() < sweep_until;
    if (!again || orphan_timer_armed)
      return;
    orphan_timer_armed = true;
    orphan_timer.expires_after(
      std::chrono::milliseconds(defaults::child_poll_ms));
    orphan_timer.async_wait([this](boost::system::error_code ec) {
      orphan_timer_armed = false;
      if (!ec)
        sweep_orphans();
    });
  }
};

child_service::child_service() : child_service(nullptr, false) {
  // nop
}

child_service::child_service(std::unique_ptr<executor_cgroups> cgroups,
                             bool reap_orphans)
  : impl_(std::make_unique<impl>()) {
  impl_->cgroups = std::move(cgroups);
  impl_->reap_orphans = reap_orphans;
  if (reap_orphans) {
    auto* self = impl_.get();
    asio::post(self->ctx, [self] { self->sweep_orphans_regularly(); });
  }
}

child_service::~child_service() {
  // No more forks; the server goes (its children are ours and die below).
  impl_->server.reset();
  impl_->server_pid = 0;
  signal_all(SIGKILL);
  impl_->guard.reset();
  // Give the handlers a moment to observe the exits, then stop.
  for (int i = 0; i < 100 && active() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  impl_->ctx.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
  for (auto& w : impl_->watched)
    w->release(); // the fd belongs to the caller
  {
    // Reap anything left so no zombie remains.
    std::lock_guard<std::mutex> guard{impl_->mtx};
    for (auto& kv : impl_->live)
      waitpid(kv.first, nullptr, WNOHANG);
  }
  if (impl_->reap_orphans)
    for (int i = 0; i < 500 && impl_->sweep_orphans_once(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  for (auto& [cg, fd] : impl_->events_fds)
    ::close(fd);
  impl_->events_fds.clear();
  impl_->cgroups.reset(); // kills what is left in them, removes them
}

caf::expected<int> child_service::spawn(const child_spec& spec,
                                        child_handlers handlers) {
  auto failed = [&](int e) {
    return make_error(
      errc::spawn_failure,
      "cannot start " + spec.argv.at(0) + ": " + std::strerror(e), e);
  };
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0)
    return failed(errno);
  if (pipe2(out, O_CLOEXEC) != 0) {
    auto e = errno;
    close(in[0]);
    close(in[1]);
    return failed(e);
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    auto e = errno;
    for (int fd : {in[0], in[1], out[0], out[1]})
      close(fd);
    return failed(e);
  }
  std::vector<char*> args;
  for (auto& a : spec.argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // A cgroup of its own, whose path the executor learns from its
  // environment (its parent-death handler kills it).
  std::string cgroup;
  if (impl_->cgroups && !impl_->cgroups_failed) {
    if (auto made = impl_->take_cgroup())
      cgroup = std::move(*made);
    else
      impl_->cgroup_failed(render(made.error()));
  }
  std::string cgroup_env = "PROCMAN_CGROUP=" + cgroup;
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e)
    envp.push_back(*e);
  for (auto& e : spec.env)
    envp.push_back(const_cast<char*>(e.c_str()));
  if (!cgroup.empty())
    envp.push_back(cgroup_env.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = -1;
  bool needs_move = !cgroup.empty();
  // Through the fork server: an executor as process actors start it (no
  // arguments, only the parent's pid and PROCMAN_PID in its environment).
  std::string procman_pid;
  bool forkable = impl_->server && spec.argv.size() == 1;
  for (auto& e : spec.env) {
    if (e.rfind("PROCMAN_PID=", 0) == 0)
      procman_pid = e.substr(12);
    else if (e.rfind("PROCMAN_PARENT_PID=", 0) != 0)
      forkable = false;
  }
  for (int attempt = 0; forkable && rc < 0 && attempt < 2; ++attempt) {
    if (!impl_->server_up())
      break;
    std::shared_lock<std::shared_mutex> spawning{impl_->spawning};
    int fds[3] = {in[0], out[1], err[1]};
    auto forked = impl_->server->fork_child(fds, procman_pid, cgroup);
    if (forked) {
      pid = *forked;
      rc = 0;
      needs_move = false;
      std::lock_guard<std::mutex> guard{impl_->mtx};
      impl_->live[pid] = impl::entry{true, cgroup};
    } else if (is(forked.error(), errc::spawn_failure)) {
      log_warn("", render(forked.error()) + "; spawning this executor");
      break;
    } else {
      log_warn("", render(forked.error()) + "; starting it again");
      // The server may have died after it forked a child that now holds
      // these pipes: new pipes under the same numbers (the spawn's file
      // actions name them), so that such a child reads no work (it ends
      // with bad input, and the orphan sweep reaps it) and never runs a
      // step beside the executor started next.
      for (auto* p : {in, out, err}) {
        int fresh[2];
        if (pipe2(fresh, O_CLOEXEC) != 0) {
          forkable = false; // spawned below, on the pipes as they are
          break;
        }
        dup3(fresh[0], p[0], O_CLOEXEC);
        dup3(fresh[1], p[1], O_CLOEXEC);
        close(fresh[0]);
        close(fresh[1]);
      }
    }
  }
  if (rc < 0) {
    std::shared_lock<std::shared_mutex> spawning{impl_->spawning};
    if (needs_move && !impl_->no_clone3) {
      int fds[3] = {in[0], out[1], err[1]};
      auto started = spawn_in_cgroup(cgroup, args[0], args.data(), envp.data(),
                                     fds, child_default_signals());
      if (started) {
        pid = *started;
        rc = 0;
        needs_move = false;
      } else if (is(started.error(), errc::spawn_failure)) {
        rc = os_errno(started.error());
        needs_move = false;
      } else if (!impl_->no_clone3.exchange(true)) {
        log_info("", "containment: executors cannot start in their cgroups ("
                       + render(started.error())
                       + "); they are moved in instead");
      }
    }
    if (rc < 0) {
      // Only here: each dup2 action costs a getrlimit call in glibc, and
      // an executor that the fork server starts needs none of them.
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_adddup2(&fa, in[0], 0);
      posix_spawn_file_actions_adddup2(&fa, out[1], 1);
      posix_spawn_file_actions_adddup2(&fa, err[1], 2);
      posix_spawnattr_t attr;
      init_child_spawnattr(attr);
      rc = posix_spawn(&pid, args[0], &fa, &attr, args.data(), envp.data());
      posix_spawn_file_actions_destroy(&fa);
      posix_spawnattr_destroy(&attr);
    }
    if (rc == 0) {
      std::lock_guard<std::mutex> guard{impl_->mtx};
      impl_->live[pid] = impl::entry{true, cgroup};
    }
  }
  // Its input, written here while this process still holds the read end
  // (no EPIPE, no SIGPIPE) if one write surely takes it: an empty pipe
  // takes PIPE_BUF bytes at once. Not before the executor runs in its
  // cgroup (needs_move), and never before the fork: a server that dies
  // after forking must leave a child that reads no work.
  bool input_sent = false;
  if (rc == 0 && !needs_move && !spec.input.empty()
      && spec.input.size() <= PIPE_BUF)
    input_sent = ::write(in[1], spec.input.data(), spec.input.size())
                 == static_cast<ssize_t>(spec.input.size());
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    if (!cgroup.empty()) {
      impl_->forget_events(cgroup);
      executor_cgroups::remove(cgroup);
    }
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return failed(rc);
  }
  auto lease_until_ms = spec.keep_stdin_open ? spec.lease_until_ms : int64_t{0};
  if (!needs_move) {
    impl_->start_child(pid, in[1], out[0], err[0],
                       input_sent ? std::string{} : spec.input,
                       std::move(cgroup), spec.keep_stdin_open, lease_until_ms,
                       spec.reports_may_wait, std::move(handlers));
    return pid;
  }
  auto* self = impl_.get();
  asio::post(self->ctx,
             [self, pid, in_fd = in[1], out_fd = out[0], err_fd = err[0],
              input = spec.input, cgroup, keep_open = spec.keep_stdin_open,
              lease_until_ms, may_wait = spec.reports_may_wait,
              handlers = std::move(handlers)]() mutable {
               // Into its cgroup before its input is written: until then it
               // starts no step, so nothing of it is left outside. On the I/O
               // thread rather than in spawn(): a move waits for an RCU grace
               // period when moves are rare (about 10 ms), which the spawning
               // actor need not wait for.
               if (auto err = executor_cgroups::move(cgroup, pid);
                   err && os_errno(err) != ESRCH)
                 self->cgroup_failed(render(err));
               self->start_child(pid, in_fd, out_fd, err_fd, std::move(input),
                                 std::move(cgroup), keep_open, lease_until_ms,
                                 may_wait, std::move(handlers));
             });
  return pid;
}

void child_service::kill_group(int pid) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (auto i = impl_->live.find(pid); pid > 0 && i != impl_->live.end())
    impl_->kill_locked(pid, i->second);
}

void child_service::write_input(int pid, std::string text) {
  auto* self = impl_.get();
  asio::post(self->ctx, [self, pid, text = std::move(text)]() mutable {
    auto c = self->find_child(pid);
    if (!c)
      return;
    c->queued += text;
    c->write_in();
  });
}

void child_service::use_leases(std::chrono::milliseconds bound) {
  auto* self = impl_.get();
  self->lease_bound_ms = bound.count();
  asio::post(self->ctx, [self] { self->renew_leases_regularly(); });
}

void child_service::cap_leases(int64_t until_ms) {
  auto* self = impl_.get();
  auto cap = self->lease_cap.load();
  // The first cap replaces "none" (INT64_MAX); later ones only move it on.
  while ((cap == INT64_MAX || until_ms > cap)
         && !self->lease_cap.compare_exchange_weak(cap, until_ms)) {
    // nop: `cap` was reloaded
  }
  asio::post(self->ctx, [self] { self->renew_leases(); });
}

int64_t child_service::lease_until() const {
  return impl_->lease_until();
}

bool child_service::has_timers() const {
  return true;
}

void child_service::call_after(int pid, std::chrono::milliseconds delay,
                               std::function<void()> fn) {
  auto* self = impl_.get();
  asio::post(self->ctx, [self, pid, delay, fn = std::move(fn)]() mutable {
    if (auto c = self->find_child(pid))
      c->arm(delay, std::move(fn));
  });
}

void child_service::signal_all(int sig) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  for (auto& kv : impl_->live) {
    if (sig == SIGKILL)
      impl_->kill_locked(kv.first, kv.second);
    else if (kv.second.running)
      ::kill(-kv.first, sig);
  }
}

size_t child_service::active() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->live.size();
}

caf::expected<int>
child_service::use_fork_server(std::vector<std::string> server_argv) {
  auto* self = impl_.get();
  self->server = std::make_unique<fork_server>(std::move(server_argv));
  self->server->on_library_restart = [] {
    log_info("", "fork server restarted: a step library changed on disk");
  };
  std::packaged_task<caf::error()> task{[self] {
    auto err = self->server->ensure_running();
    self->server_pid = self->server->pid();
    return err;
  }};
  auto done = task.get_future();
  asio::post(self->ctx, [&task] { task(); });
  if (auto err = done.get()) {
    self->server.reset();
    return err;
  }
  return static_cast<int>(self->server_pid);
}

const char* child_service::no_fork_server() {
  return nullptr;
}

int child_service::fork_server_pid() const {
  return impl_->server_pid;
}

uint64_t child_service::fork_server_restarts() const {
  // Set once, before the engine starts processes.
  return impl_->server ? impl_->server->restarts() : 0;
}

void child_service::watch_readable(int fd, std::function<void()> fn) {
  auto* self = impl_.get();
  asio::post(self->ctx, [self, fd, fn = std::move(fn)] {
    auto sd = std::make_shared<asio::posix::stream_descriptor>(self->ctx, fd);
    self->watched.push_back(sd);
    arm_watch(sd, std::move(fn));
  });
}

} // namespace procman
