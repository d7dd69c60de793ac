// A step library for the checks of `procman start` (suite door_checks):
// it registers door.echo, so that `start` knows the "door" namespace when
// PROCMAN_STEP_LIBS names this library.

#include <boost/json.hpp>

#include "procman/steps/step_registry.hpp"

namespace {

class echo_step : public procman::step {
public:
  boost::json::object execute(const boost::json::object& input,
                              procman::step_context&) override {
    return input;
  }
};

} // namespace

extern "C" void procman_register_steps(procman::step_registry& reg,
                                       procman::service_registry&) {
  reg.add("door.echo",
          [](const boost::json::value&, const procman::service_map&) {
            return std::make_unique<echo_step>();
          });
}
