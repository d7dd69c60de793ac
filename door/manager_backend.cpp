#include "procman/door/manager_backend.hpp"

#include <caf/scoped_actor.hpp>

#include "procman/door/asking_backend.hpp"
#include "procman/messages/fwd.hpp"

namespace procman {

namespace {

/// The manager of an engine in this process.
class manager_backend : public asking_backend<manager_backend> {
public:
  manager_backend(caf::actor_system& sys, manager_actor mgr)
    : sys_(sys), mgr_(std::move(mgr)) {
    // nop
  }

  template <class R>
  caf::expected<typename R::reply> ask(R r) {
    using reply = typename R::reply;
    caf::expected<reply> result{caf::sec::none};
    caf::scoped_actor self{sys_};
    self->request(mgr_, caf::infinite, std::move(r))
      .receive([&](reply& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  std::chrono::milliseconds poll() const override {
    return std::chrono::milliseconds(20);
  }

private:
  caf::actor_system& sys_;
  manager_actor mgr_;
};

} // namespace

door door_of_manager(caf::actor_system& sys, manager_actor mgr) {
  return door{std::make_unique<manager_backend>(sys, std::move(mgr))};
}

} // namespace procman
