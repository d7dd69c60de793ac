#include "procman/platform/termination.hpp"

#include <atomic>
#include <csignal>
#include <cstring>
#include <thread>

#include <pthread.h>

#include "procman/platform/paths.hpp"

namespace procman::platform {

namespace {

sigset_t termination_signals() {
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  return sigs;
}

} // namespace

bool request_stop(int pid) {
  return ::kill(pid, SIGTERM) == 0;
}

void hold_termination_requests() {
  auto sigs = termination_signals();
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
}

void ignore_broken_pipes() {
  signal(SIGPIPE, SIG_IGN);
}

struct termination_watch::impl {
  std::atomic<bool> stopping{false};
  std::thread waiter;
};

termination_watch::termination_watch(
  std::function<void(const std::string&)> on_request)
  : impl_(new impl) {
  // The signals go to the waiter alone: every thread has them blocked
  // (hold_termination_requests; this one and the waiter at least), and
  // sigwait takes them.
  hold_termination_requests();
  impl_->waiter = std::thread([p = impl_, fn = std::move(on_request)] {
    auto sigs = termination_signals();
    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && !p->stopping) {
      fn(signal_name(sig));
    }
  });
}

termination_watch::~termination_watch() {
  impl_->stopping = true;
  // Wakes the waiter's sigwait; it sees `stopping` and ends.
  pthread_kill(impl_->waiter.native_handle(), SIGHUP);
  impl_->waiter.join();
  delete impl_;
}

} // namespace procman::platform
