#include "scheduler.hpp"

#include <algorithm>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/scheduler/coordinator.hpp>

namespace procman {

namespace {

/// CAF's clock, but an actor that ends wakes the clock's thread only if
/// it ever set a timeout that the clock keeps for it (a receive, request
/// or multi timeout): CAF cancels an ending actor's timeouts through the
/// clock's queue in every case, and a process actor, which sets none,
/// ends per process. Everything else goes to CAF's clock as it is.
class runner_clock : public caf::detail::thread_safe_actor_clock {
public:
  explicit runner_clock(caf::detail::thread_safe_actor_clock& real)
    : real_(real) {
    // nop
  }

  time_point now() const noexcept override { return real_.now(); }

  duration_type difference(caf::atom_value measurement, long units,
                           time_point t0,
                           time_point t1) const noexcept override {
    return real_.difference(measurement, units, t0, t1);
  }

  void set_ordinary_timeout(time_point t, caf::abstract_actor* self,
                            caf::atom_value type, uint64_t id) override {
    keeps(self);
    real_.set_ordinary_timeout(t, self, type, id);
  }

  void set_request_timeout(time_point t, caf::abstract_actor* self,
                           caf::message_id id) override {
    keeps(self);
    real_.set_request_timeout(t, self, id);
  }

  void set_multi_timeout(time_point t, caf::abstract_actor* self,
                         caf::atom_value type, uint64_t id) override {
    keeps(self);
    real_.set_multi_timeout(t, self, type, id);
  }

  void cancel_ordinary_timeout(caf::abstract_actor* self,
                               caf::atom_value type) override {
    real_.cancel_ordinary_timeout(self, type);
  }

  void cancel_request_timeout(caf::abstract_actor* self,
                              caf::message_id id) override {
    real_.cancel_request_timeout(self, id);
  }

  void cancel_timeouts(caf::abstract_actor* self) override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (with_timeouts_.erase(self->id()) == 0)
        return;
    }
    real_.cancel_timeouts(self);
  }

  void schedule_message(time_point t, caf::strong_actor_ptr receiver,
                        caf::mailbox_element_ptr content) override {
    real_.schedule_message(t, std::move(receiver), std::move(content));
  }

  void schedule_message(time_point t, caf::group target,
                        caf::strong_actor_ptr sender,
                        caf::message content) override {
    real_.schedule_message(t, std::move(target), std::move(sender),
                           std::move(content));
  }

  void cancel_all() override { real_.cancel_all(); }

private:
  void keeps(caf::abstract_actor* self) {
    std::lock_guard<std::mutex> guard{mtx_};
    with_timeouts_.insert(self->id());
  }

  caf::detail::thread_safe_actor_clock& real_;
  std::mutex mtx_;
  /// Actors that set a timeout the clock keeps for them, until they end.
  std::unordered_set<caf::actor_id> with_timeouts_;
};

class runner_coordinator
  : public caf::scheduler::coordinator<caf::policy::work_stealing> {
public:
  using super = caf::scheduler::coordinator<caf::policy::work_stealing>;

  explicit runner_coordinator(caf::actor_system& sys)
    : super(sys), clock_(super::clock()) {
    // nop
  }

  caf::detail::thread_safe_actor_clock& clock() noexcept override {
    return clock_;
  }

private:
  runner_clock clock_;
};

} // namespace

void use_runner_scheduler(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads",
          std::max(1u, std::thread::hardware_concurrency() / 2));
  // Workers that wait on a condition variable soon instead of polling:
  // CAF's work-stealing workers by default poll every 50 µs for up to
  // 25 ms whenever they run out of work, and on a small machine that
  // polling competes with the executors and slows posix_spawn. Without
  // the moderate phase a worker spins briefly (100 attempts), then waits
  // to be notified (docs/performance.md).
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  cfg.module_factories.push_back(
    [](caf::actor_system& sys) -> caf::actor_system::module* {
      return new runner_coordinator(sys);
    });
}

} // namespace procman
