#include "actors/children.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
// Boost.Process 1.81's v2 headers miss two includes of their own.
#include <boost/optional.hpp>
#include <boost/process/v2/error.hpp>
#include <boost/process/v2/process_handle.hpp>

extern char** environ;

namespace procman {

namespace asio = boost::asio;
namespace bpv2 = boost::process::v2;

namespace {

struct child : std::enable_shared_from_this<child> {
  int pid = 0;
  asio::posix::stream_descriptor in, out, err;
  /// Awaits the exit through a pidfd; absent where pidfd_open(2) is not
  /// available (kernels before 5.3, some sandboxes, valgrind), and then
  /// `reap_timer` polls waitpid instead.
  std::optional<bpv2::basic_process_handle<asio::io_context::executor_type>>
    handle;
  asio::steady_timer reap_timer;
  asio::steady_timer drain_timer;
  std::string input;
  bool keep_open = false;
  bool writing = false;
  std::string queued;  ///< written after `input`, for keep_open
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
  std::function<void(int)> on_done;

  child(asio::io_context& ctx, int pid, int in_fd, int out_fd, int err_fd)
    : pid(pid),
      in(ctx, in_fd),
      out(ctx, out_fd),
      err(ctx, err_fd),
      reap_timer(ctx),
      drain_timer(ctx) {
    auto fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0)
      handle.emplace(ctx.get_executor(), pid, fd);
  }

  void start() {
    auto self = shared_from_this();
    if (input.empty() && !keep_open) {
      boost::system::error_code ec;
      in.close(ec);
    } else {
      write_in();
    }
    read_out();
    read_err();
    if (handle)
      handle->async_wait([self](boost::system::error_code ec, int status) {
        self->on_exit_status(ec ? -1 : status);
      });
    else
      poll_exit();
  }

  /// Writes `input`, then whatever `write_input` queued meanwhile; closes
  /// stdin after `input` unless `keep_open`. A failed write (the child
  /// closed its stdin or ended) closes it too.
  void write_in() {
    if (writing || done || !in.is_open())
      return;
    if (input.empty() && !queued.empty())
      input.swap(queued);
    if (input.empty())
      return;
    writing = true;
    auto self = shared_from_this();
    asio::async_write(in, asio::buffer(input),
                      [self](boost::system::error_code ec, size_t) {
                        self->writing = false;
                        std::string{}.swap(self->input);
                        boost::system::error_code ignored;
                        if (ec || !self->keep_open)
                          self->in.close(ignored);
                        else
                          self->write_in();
                      });
  }

  void poll_exit() {
    auto self = shared_from_this();
    reap_timer.expires_after(std::chrono::milliseconds(5));
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
    if (status == -1) {
      exit_code = -1;
      signal = 0;
    } else if (WIFEXITED(status)) {
      exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      signal = WTERMSIG(status);
    }
    // A grandchild could keep stdout open only if it inherited it, which
    // procman-exec prevents; still, give up on stdout after a second.
    auto self = shared_from_this();
    drain_timer.expires_after(std::chrono::seconds(1));
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
                          if (n > 0) {
                            self->err_tail.append(self->err_buf, n);
                            auto limit = child_service::stderr_tail_bytes;
                            if (self->err_tail.size() > 2 * limit)
                              self->err_tail.erase(
                                0, self->err_tail.size() - limit);
                          }
                          if (!ec)
                            self->read_err();
                        });
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
    if (!line.empty() && handlers.on_report)
      handlers.on_report(std::move(line));
    // Read what is already buffered on stderr without waiting for EOF.
    for (;;) {
      boost::system::error_code ec;
      err.non_blocking(true, ec);
      auto n = err.read_some(asio::buffer(err_buf), ec);
      if (ec || n == 0)
        break;
      err_tail.append(err_buf, n);
    }
    boost::system::error_code ec;
    err.close(ec);
    out.close(ec);
    in.close(ec);
    auto limit = child_service::stderr_tail_bytes;
    if (err_tail.size() > limit)
      err_tail.erase(0, err_tail.size() - limit);
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
  asio::io_context ctx;
  asio::executor_work_guard<asio::io_context::executor_type> guard;
  std::thread thread;
  mutable std::mutex mtx;
  std::unordered_map<int, std::shared_ptr<child>> children;  // I/O thread only
  std::unordered_map<int, bool> live;                        // under mtx
  std::vector<std::shared_ptr<asio::posix::stream_descriptor>> watched;

  impl() : guard(ctx.get_executor()) {
    thread = std::thread([this] { ctx.run(); });
  }
};

executor_launcher::~executor_launcher() = default;

child_service::child_service() : impl_(std::make_unique<impl>()) {
  // nop
}

child_service::~child_service() {
  signal_all(SIGKILL);
  impl_->guard.reset();
  // Give the handlers a moment to observe the exits, then stop.
  for (int i = 0; i < 100 && active() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  impl_->ctx.stop();
  if (impl_->thread.joinable())
    impl_->thread.join();
  for (auto& w : impl_->watched)
    w->release();  // the fd belongs to the caller
  // Reap anything left so no zombie remains.
  std::lock_guard<std::mutex> guard{impl_->mtx};
  for (auto& kv : impl_->live)
    waitpid(kv.first, nullptr, WNOHANG);
}

int child_service::spawn(const child_spec& spec, child_handlers handlers) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0)
    return -errno;
  if (pipe2(out, O_CLOEXEC) != 0) {
    auto e = errno;
    close(in[0]);
    close(in[1]);
    return -e;
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    auto e = errno;
    for (int fd : {in[0], in[1], out[0], out[1]})
      close(fd);
    return -e;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGTERM, SIGINT, SIGPIPE, SIGHUP, SIGCHLD, SIGQUIT})
    sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                    | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (auto& a : spec.argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e)
    envp.push_back(*e);
  for (auto& e : spec.env)
    envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return -rc;
  }
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->live[pid] = true;
  }
  auto* self = impl_.get();
  asio::post(self->ctx, [self, pid, in_fd = in[1], out_fd = out[0],
                         err_fd = err[0], input = spec.input,
                         keep_open = spec.keep_stdin_open,
                         handlers = std::move(handlers)]() mutable {
    auto c = std::make_shared<child>(self->ctx, pid, in_fd, out_fd, err_fd);
    c->input = std::move(input);
    c->keep_open = keep_open;
    c->handlers = std::move(handlers);
    c->on_done = [self](int pid) {
      self->children.erase(pid);
      std::lock_guard<std::mutex> guard{self->mtx};
      self->live.erase(pid);
    };
    self->children.emplace(pid, c);
    c->start();
  });
  return pid;
}

void child_service::kill_group(int pid) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (pid > 0 && impl_->live.count(pid) > 0)
    ::kill(-pid, SIGKILL);
}

void executor_launcher::write_input(int, std::string) {
  // nop: launchers without real children have no stdin to write
}

void child_service::write_input(int pid, std::string text) {
  auto* self = impl_.get();
  asio::post(self->ctx, [self, pid, text = std::move(text)]() mutable {
    auto i = self->children.find(pid);
    if (i == self->children.end())
      return;
    i->second->queued += text;
    i->second->write_in();
  });
}

void child_service::signal_all(int sig) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  for (auto& kv : impl_->live)
    ::kill(-kv.first, sig);
}

size_t child_service::active() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->live.size();
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
