// A step library for the fork server's tests (suite fork_server):
// crash.abort calls abort(), so that a forked executor dies by SIGABRT in
// the middle of a step.

#include <cstdlib>

#include <boost/json.hpp>

#include "procman/steps/step_registry.hpp"

namespace {

class abort_step : public procman::step {
public:
  boost::json::object execute(const boost::json::object&,
                              procman::step_context&) override {
    std::abort();
  }
};

} // namespace

extern "C" void procman_register_steps(procman::step_registry& reg,
                                       procman::service_registry&) {
  reg.add("crash.abort",
          [](const boost::json::value&, const procman::service_map&) {
            return std::make_unique<abort_step>();
          });
}
