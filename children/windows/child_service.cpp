// child_service on Windows (children/child_service.hpp): executors started
// with CreateProcessW, each in a Job Object of its own with kill-on-close
// (platform::contained_child), watched by threads rather than an Asio
// loop.
//
//   per child   a thread that writes its input, reads its report lines and
//               awaits its exit, and one that keeps the tail of its stderr
//   leases      one thread that renews every lease 4 times per lease
//   killing     TerminateJobObject: the executor, its commands and all they
//               started, however they started (breaking away is not allowed)
//   the owner   dies however it dies: its job handles close and the jobs
//               end every tree (the POSIX runner needs PR_SET_PDEATHSIG,
//               its cgroups and its fork server's death signal for that)
//
// There is no fork server (no fork) and no cgroups; a child that holds a
// lease and ended with exit code 1 after its lease ran out ended itself
// for that reason (its job terminated by procman-exec).

#include "procman/children/child_service.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "procman/messages/error.hpp"
#include "procman/platform/child.hpp"
#include "procman/platform/windows/win.hpp"
#include "procman/protocol/executor_lease.hpp"

namespace procman {

namespace {

struct child {
  explicit child(platform::contained_child p) : proc(std::move(p)) {
    // nop
  }
  platform::contained_child proc;
  child_handlers handlers;
  std::mutex in_mtx; ///< one writer of stdin at a time, in order
  bool keep_open = false;
  /// The latest end of its lease written to it (or in its input); 0: none.
  std::atomic<int64_t> lease_written{0};
  /// Whether the work was written; until then lines wait in `held`: the
  /// child is leased (and renewed by the lease thread) from its start, but
  /// the executor reads its work first.
  bool input_sent = false;
  std::string held;

  /// Writes `text` to its stdin after the work, unless that is closed.
  void write_in(const std::string& text) {
    std::lock_guard<std::mutex> guard{in_mtx};
    if (!input_sent)
      held += text;
    else
      write_locked(text);
  }

  /// Writes the work, then what came for it meanwhile.
  void send_input(const std::string& input) {
    std::lock_guard<std::mutex> guard{in_mtx};
    write_locked(input + held);
    held.clear();
    input_sent = true;
  }

  void close_in() {
    std::lock_guard<std::mutex> guard{in_mtx};
    proc.in().close();
  }

private:
  void write_locked(const std::string& text) {
    if (!text.empty() && proc.in().is_open()
        && !proc.in().write(text.data(), text.size()))
      proc.in().close(); // it ended
  }
};

} // namespace

struct child_service::impl {
  std::mutex mtx;
  std::condition_variable changed; ///< a child ended; leases; stopping
  std::map<int, std::shared_ptr<child>> live;
  size_t threads = 0; ///< child threads still running
  bool stopping = false;
  std::atomic<int64_t> lease_bound_ms{0};
  std::atomic<int64_t> lease_cap{INT64_MAX};
  bool renew_now = false;
  std::thread lease_thread;
  platform::win::handle stop_watching{
    CreateEventW(nullptr, TRUE, FALSE, nullptr)};
  std::vector<std::thread> watchers;

  int64_t lease_until() const {
    return lease_end(lease_bound_ms.load(), lease_cap.load());
  }

  /// Pushes every child's lease as far as it may go now.
  void renew_leases() {
    auto until = lease_until();
    if (until <= 0)
      return;
    std::vector<std::shared_ptr<child>> leased;
    {
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& kv : live)
        if (kv.second->lease_written > 0)
          leased.push_back(kv.second);
    }
    auto line = encode_lease(until);
    auto now = lease_clock_ms();
    for (auto& c : leased) {
      // One that ran out is not renewed: its executor ends itself, and
      // that end counts as the lease's.
      if (now >= c->lease_written)
        continue;
      c->lease_written = until;
      c->write_in(line);
    }
  }

  /// The lease thread: renews 4 times per lease, and at once on a cap.
  void renew_regularly() {
    std::unique_lock<std::mutex> lock{mtx};
    while (!stopping) {
      auto period = std::max<int64_t>(lease_bound_ms / 4, 20);
      changed.wait_for(lock, std::chrono::milliseconds(period),
                       [this] { return stopping || renew_now; });
      if (stopping)
        return;
      renew_now = false;
      lock.unlock();
      renew_leases();
      lock.lock();
    }
  }

  /// The child's thread: its input, its report lines, its exit.
  void run(std::shared_ptr<child> c, int pid, std::string input) {
    std::string tail;
    std::thread err_reader([&] {
      char buf[8192];
      std::ptrdiff_t n;
      auto limit = child_service::stderr_tail_bytes;
      while ((n = c->proc.err().read(buf, sizeof(buf))) > 0) {
        tail.append(buf, static_cast<size_t>(n));
        if (tail.size() > 2 * limit)
          tail.erase(0, tail.size() - limit);
      }
    });
    c->send_input(input);
    if (!c->keep_open)
      c->close_in();
    // stdout ends when the executor does: its commands get pipes of their
    // own and inherit no other handle (win::create_process).
    char buf[65536];
    std::string line;
    std::ptrdiff_t n;
    while ((n = c->proc.out().read(buf, sizeof(buf))) > 0) {
      size_t pos = 0;
      for (size_t i = 0; i < static_cast<size_t>(n); ++i)
        if (buf[i] == '\n') {
          line.append(buf + pos, i - pos);
          if (!line.empty() && c->handlers.on_report)
            c->handlers.on_report(std::move(line));
          line.clear();
          pos = i + 1;
        }
      line.append(buf + pos, static_cast<size_t>(n) - pos);
    }
    if (!line.empty() && c->handlers.on_report)
      c->handlers.on_report(std::move(line));
    err_reader.join();
    std::optional<platform::child_exit> ended;
    while (!ended)
      ended = c->proc.wait_for(std::chrono::seconds(1));
    c->close_in();
    auto limit = child_service::stderr_tail_bytes;
    if (tail.size() > limit)
      tail.erase(0, tail.size() - limit);
    // Killed by the job (kill_group): as SIGKILL on POSIX.
    int code = ended->signal != 0 ? -1 : ended->code;
    int signal = ended->signal;
    auto written = c->lease_written.load();
    bool lapsed = written > 0 && signal == 0 && code == 1
                  && lease_clock_ms() >= written;
    {
      std::lock_guard<std::mutex> guard{mtx};
      live.erase(pid);
    }
    if (lapsed && c->handlers.on_lease_lapsed)
      c->handlers.on_lease_lapsed();
    if (c->handlers.on_exit)
      c->handlers.on_exit(code, signal, std::move(tail));
    c->handlers = {};
    std::lock_guard<std::mutex> guard{mtx};
    --threads;
    changed.notify_all();
  }
};

child_service::child_service() : impl_(std::make_unique<impl>()) {
  // nop: no cgroups on Windows (the Job Objects contain the trees), and no
  // orphans (a process cannot leave its job)
}

child_service::~child_service() {
  auto& st = *impl_;
  std::unique_lock<std::mutex> lock{st.mtx};
  st.stopping = true;
  st.changed.notify_all();
  for (auto& kv : st.live)
    kv.second->proc.kill_tree();
  st.changed.wait(lock, [&] { return st.threads == 0; });
  lock.unlock();
  if (st.lease_thread.joinable())
    st.lease_thread.join();
  SetEvent(st.stop_watching.get());
  for (auto& w : st.watchers)
    w.join();
}

caf::expected<int> child_service::spawn(const child_spec& spec,
                                        child_handlers handlers) {
  platform::child_options opts;
  opts.argv = spec.argv;
  opts.env = spec.env;
  opts.stdin_pipe = true;
  opts.stdout_pipe = true;
  opts.stderr_pipe = true;
  auto started = platform::contained_child::start(opts);
  if (!started)
    return make_error(errc::spawn_failure, started.error().context);
  auto c = std::make_shared<child>(std::move(*started));
  c->handlers = std::move(handlers);
  c->keep_open = spec.keep_stdin_open;
  c->lease_written = spec.lease_until_ms;
  int pid = c->proc.pid();
  auto& st = *impl_;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    st.live.emplace(pid, c);
    ++st.threads;
  }
  std::thread([&st, c, pid, input = spec.input]() mutable {
    st.run(std::move(c), pid, std::move(input));
  }).detach();
  return pid;
}

void child_service::kill_group(int pid) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (auto i = impl_->live.find(pid); i != impl_->live.end())
    i->second->proc.kill_tree();
}

void child_service::write_input(int pid, std::string text) {
  std::shared_ptr<child> c;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    if (auto i = impl_->live.find(pid); i != impl_->live.end())
      c = i->second;
  }
  if (c)
    c->write_in(text);
}

bool child_service::has_timers() const {
  return false; // process actors arm their own
}

void child_service::call_after(int, std::chrono::milliseconds,
                               std::function<void()>) {
  // nop: see has_timers
}

void child_service::use_leases(std::chrono::milliseconds bound) {
  auto& st = *impl_;
  st.lease_bound_ms = bound.count();
  std::lock_guard<std::mutex> guard{st.mtx};
  if (!st.lease_thread.joinable())
    st.lease_thread = std::thread([&st] { st.renew_regularly(); });
}

void child_service::cap_leases(int64_t until_ms) {
  auto& st = *impl_;
  auto cap = st.lease_cap.load();
  // The first cap replaces "none" (INT64_MAX); later ones only move it on.
  while ((cap == INT64_MAX || until_ms > cap)
         && !st.lease_cap.compare_exchange_weak(cap, until_ms)) {
    // nop: `cap` was reloaded
  }
  std::lock_guard<std::mutex> guard{st.mtx};
  st.renew_now = true;
  st.changed.notify_all();
}

int64_t child_service::lease_until() const {
  return impl_->lease_until();
}

void child_service::signal_all(int sig) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  for (auto& kv : impl_->live) {
    if (sig == 9) // SIGKILL's number: no signals on Windows
      kv.second->proc.kill_tree();
    else
      kv.second->proc.request_stop();
  }
}

size_t child_service::active() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->live.size();
}

caf::expected<int> child_service::use_fork_server(std::vector<std::string>) {
  return make_error(errc::spawn_failure,
                    std::string("--executor fork is not available: ")
                      + no_fork_server() + "; use --executor spawn");
}

const char* child_service::no_fork_server() {
  return "Windows has no fork";
}

int child_service::fork_server_pid() const {
  return 0;
}

uint64_t child_service::fork_server_restarts() const {
  return 0;
}

// `fd` is a wake-up event's HANDLE (platform::wake_listener::
// native_handle): waiting on it consumes the ring, so it is set again
// before `fn`, which consumes it with its own wait.
void child_service::watch_readable(int fd, std::function<void()> fn) {
  auto event = reinterpret_cast<HANDLE>(static_cast<intptr_t>(fd));
  auto stop = impl_->stop_watching.get();
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->watchers.emplace_back([event, stop, fn = std::move(fn)] {
    HANDLE both[] = {stop, event};
    while (WaitForMultipleObjects(2, both, FALSE, INFINITE)
           == WAIT_OBJECT_0 + 1) {
      SetEvent(event);
      fn();
    }
  });
}

} // namespace procman
