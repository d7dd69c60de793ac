#include "procman/steps/runner.hpp"

#include <algorithm>
#include <cmath>
#include <exception>

#include <boost/core/demangle.hpp>
#include <boost/json/value.hpp>
#include <cxxabi.h>

#include "procman/messages/json.hpp"
#include "procman/steps/text.hpp"
#include "procman/steps/throw_trace.hpp"

namespace procman {

namespace {

class context_impl : public step_context {
public:
  context_impl(const step_run_options& opts, const step_observer& observer,
               uint32_t index, const std::string& name)
    : opts_(opts), observer_(observer), index_(index), name_(name) {
    // nop
  }

  void progress(double percent, const std::string& message) override {
    if (!observer_.progress)
      return;
    if (!std::isfinite(percent))
      percent = 0;
    percent = std::clamp(percent, 0.0, 100.0);
    if (valid_utf8(message)) {
      observer_.progress(index_, percent, message);
    } else {
      auto copy = message;
      sanitize_utf8(copy);
      observer_.progress(index_, percent, copy);
    }
  }

  const std::string& pid() const override { return opts_.pid; }

  const std::string& step_name() const override { return name_; }

  const std::string& script_args() const override { return opts_.script_args; }

  void live_output(output_stream stream, std::string_view data) override {
    if (observer_.live_output && !data.empty())
      observer_.live_output(index_, stream, data);
  }

private:
  const step_run_options& opts_;
  const step_observer& observer_;
  uint32_t index_;
  const std::string& name_;
};

std::string clean(std::string text) {
  sanitize_utf8(text);
  return text;
}

// Name of the exception type being handled, for exceptions that are not
// std::exception.
std::string current_exception_type() {
  if (auto t = abi::__cxa_current_exception_type())
    return boost::core::demangle(t->name());
  return "unknown";
}

} // namespace

step_run_result run_steps(const std::vector<step_spec>& steps, uint32_t first,
                          boost::json::object data, const step_registry& reg,
                          const service_registry& services,
                          const step_observer& observer,
                          const step_run_options& opts) {
  step_run_result result;
  auto fail = [&](uint32_t i, error_kind kind, std::string message,
                  std::string stack = {}) {
    result.outcome = step_run_result::failed;
    result.step = i;
    result.output = {};
    result.error = error_info{};
    result.error.kind = kind;
    if (i < steps.size())
      result.error.step = steps[i].name;
    result.error.message = clean(std::move(message));
    result.error.stack = clean(std::move(stack));
    return result;
  };
  if (first > steps.size())
    return fail(first, error_kind::spec,
                "first step " + std::to_string(first) + " is past the last "
                  + "step (the process has " + std::to_string(steps.size())
                  + " steps)");
  // Classes and services are checked before anything runs: a typo in the
  // last step must not leave the side effects of the first ones behind.
  // Args are checked when each step is built, just before it runs.
  for (auto i = first; i < steps.size(); ++i)
    if (auto f = reg.check(steps[i], services))
      return fail(i, error_kind::spec, std::move(f.context));
  if (first == steps.size()) {
    // Proceeding after an interrupting last step: nothing left to run.
    result.outcome = step_run_result::finished;
    result.step = first == 0 ? 0 : first - 1;
    result.output = std::move(data);
    return result;
  }
  for (auto i = first; i < steps.size(); ++i) {
    auto& spec = steps[i];
    auto name = "\"" + spec.name + "\"";
    try {
      if (observer.started)
        observer.started(i);
      auto made = reg.make(spec, services);
      if (!made)
        return fail(i, error_kind::spec, made.error().context);
      auto& s = *made;
      boost::json::object output;
      context_impl ctx{opts, observer, i, spec.name};
      try {
        output = s->execute(data, ctx);
      } catch (const spec_error& e) {
        return fail(
          i, error_kind::spec, "step " + name + ": bad args: " + e.what(),
          detail::take_exception_stack(dynamic_cast<const void*>(&e)));
      } catch (const output_error& e) {
        return fail(
          i, error_kind::output, "step " + name + ": " + e.what(),
          detail::take_exception_stack(dynamic_cast<const void*>(&e)));
      } catch (const std::exception& e) {
        return fail(
          i, error_kind::exception, "Step " + name + " failed: " + e.what(),
          detail::take_exception_stack(dynamic_cast<const void*>(&e)));
      } catch (...) {
        return fail(i, error_kind::exception,
                    "Step " + name + " failed: exception of type "
                      + current_exception_type(),
                    detail::take_exception_stack(nullptr));
      }
      // execute() returns an object by type; what is left to check is its
      // size and depth (the next step, the report line and the store take
      // no more).
      boost::json::value as_value(std::move(output));
      auto size = serialized_size(as_value);
      if (size > opts.max_output_bytes)
        return fail(i, error_kind::output,
                    "step " + name + ": output is " + std::to_string(size)
                      + " bytes, above the limit of "
                      + std::to_string(opts.max_output_bytes) + " bytes");
      if (deeper_than_limit(as_value))
        return fail(i, error_kind::output,
                    "step " + name + ": output is nested deeper than "
                      + std::to_string(defaults::max_json_depth) + " levels");
      output = std::move(as_value.get_object());
      if (observer.completed)
        observer.completed(i);
      if (observer.output)
        observer.output(i, output);
      if (s->interrupts()) {
        result.outcome = step_run_result::interrupted;
        result.step = i;
        result.output = std::move(output);
        return result;
      }
      data = std::move(output);
    } catch (const std::exception& e) {
      // The observer or the bookkeeping failed (e.g. out of memory). These
      // catch lists are not shared through a rethrowing helper: a rethrow
      // starts a new unwind, and procman-exec's hook would then record the
      // stack of the rethrow instead of the throw.
      return fail(i, error_kind::exception,
                  "Step " + name + " failed: " + e.what(),
                  detail::take_exception_stack(dynamic_cast<const void*>(&e)));
    } catch (...) {
      return fail(i, error_kind::exception,
                  "Step " + name + " failed: exception of type "
                    + current_exception_type(),
                  detail::take_exception_stack(nullptr));
    }
  }
  result.outcome = step_run_result::finished;
  result.step = static_cast<uint32_t>(steps.size() - 1);
  result.output = std::move(data);
  return result;
}

} // namespace procman
