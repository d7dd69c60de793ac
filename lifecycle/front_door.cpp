#include "procman/lifecycle/front_door.hpp"

#include "procman/lifecycle/machine.hpp"
#include "procman/lifecycle/schedules.hpp"
#include "procman/messages/failure.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/steps/step_registry.hpp"

namespace procman {

namespace {

transition request(transition_kind kind, std::string pid, std::string source) {
  transition t;
  t.kind = kind;
  t.pid = std::move(pid);
  t.source = std::move(source);
  return t;
}

} // namespace

outcome<transition> front_door::start(process_spec spec, std::string pid,
                                      std::string source,
                                      const step_registry* steps) {
  if (auto f = check_spec(spec))
    return f;
  if (steps != nullptr)
    if (auto f = steps->precheck(spec.steps, service_registry{}))
      return f;
  if (!pid.empty() && !valid_pid(pid))
    return make_failure(errc::invalid_argument,
                        "invalid pid \"" + pid
                          + "\": expected 32 lowercase hex characters");
  auto t = request(transition_kind::enqueue, std::move(pid), std::move(source));
  t.spec = std::move(spec);
  return t;
}

outcome<transition> front_door::proceed(std::string pid, std::string data,
                                        std::string source) {
  if (data.empty())
    data = "{}";
  if (auto parsed = read_proceed_data(pid, data); !parsed)
    return parsed.error();
  auto t = request(transition_kind::proceed, std::move(pid), std::move(source));
  t.data = std::move(data);
  return t;
}

const step_registry& front_door::builtin_steps() {
  static const step_registry reg = [] {
    step_registry r;
    register_builtin_steps(r);
    return r;
  }();
  return reg;
}

transition front_door::cancel(std::string pid, std::string source) {
  return request(transition_kind::cancel, std::move(pid), std::move(source));
}

outcome<transition> front_door::retry(std::string pid, std::string source) {
  if (!valid_pid(pid))
    return make_failure(errc::invalid_argument,
                        "invalid pid \"" + pid
                          + "\": expected 32 lowercase hex characters");
  return request(transition_kind::retry, std::move(pid), std::move(source));
}

outcome<transition> front_door::schedule_add(std::string name, std::string cron,
                                             process_spec spec,
                                             std::string source) {
  if (auto expr = check_schedule(name, cron, spec); !expr)
    return expr.error();
  auto t = request(transition_kind::schedule_add, {}, std::move(source));
  t.schedule = std::move(name);
  t.cron = std::move(cron);
  t.spec = std::move(spec);
  return t;
}

transition front_door::schedule_remove(std::string name, std::string source) {
  auto t = request(transition_kind::schedule_remove, {}, std::move(source));
  t.schedule = std::move(name);
  return t;
}

outcome<transition> front_door::keyed(outcome<transition> t, std::string key) {
  if (!t)
    return t;
  if (!valid_pid(key))
    return make_failure(errc::invalid_argument,
                        "invalid request key \"" + key
                          + "\": expected 32 lowercase hex characters");
  t->request = std::move(key);
  return t;
}

} // namespace procman
