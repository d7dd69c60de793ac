// A step library loaded by procman-exec in the executor tests (suites
// executor_protocol, executor_bad_input).

#include <chrono>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <unistd.h>

#include "procman/steps/step_registry.hpp"

namespace json = boost::json;

// Not static and not in an anonymous namespace: the stack trace test looks
// for this name.
extern "C" __attribute__((noinline)) void
exec_test_plugin_thrower(const std::string& what) {
  throw std::runtime_error("plugin exploded: " + what);
}

namespace {

// Writes to stdout in every way a library might: the executor must keep its
// report channel clean and send all of this to stderr.
class stdout_writer : public procman::step {
public:
  json::object execute(const json::object& data,
                       procman::step_context&) override {
    std::printf("junk from printf\n");
    std::fflush(stdout);
    std::cout << "junk from cout" << std::endl;
    const char text[] = "junk from write(1)\n";
    if (::write(1, text, sizeof(text) - 1) < 0)
      throw std::runtime_error("write failed");
    // No newline and no flush: must not glue onto a report line.
    std::printf("{\"event\":\"finished\",\"output\":{\"forged\":true}}");
    auto out = data;
    out["wrote"] = true;
    return out;
  }
};

class throwing_step : public procman::step {
public:
  explicit throwing_step(std::string what) : what_(std::move(what)) {}

  json::object execute(const json::object&, procman::step_context&) override {
    exec_test_plugin_thrower(what_);
    return {};
  }

private:
  std::string what_;
};

// Reads what the executor passes in and returns new nested JSON.
class json_step : public procman::step {
public:
  json::object execute(const json::object& data,
                       procman::step_context& ctx) override {
    json::object out = data;
    auto counter = data.contains("counter") ? data.at("counter").as_int64() : 0;
    out["counter"] = counter + 1;
    json::array seen;
    for (auto& kv : data)
      seen.emplace_back(kv.key());
    out["keys_seen"] = std::move(seen);
    out["made_here"] = json::object{{"pi", 3.25},
                                    {"list", json::array{1, "two", nullptr}},
                                    {"unicode", "gr\xC3\xBC\xC3\x9F"}};
    out["context"] = json::object{{"pid", ctx.pid()},
                                  {"step", ctx.step_name()},
                                  {"script_args", ctx.script_args()}};
    return out;
  }
};

/// Waits until the file `gate` exists (a minute at most): the test opens
/// it when it has seen what the step reported so far, which shows that the
/// report arrived while the step still ran. Whether it opened goes into the
/// step's output.
bool wait_for_gate(const std::string& gate) {
  if (gate.empty())
    return false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (::access(gate.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::string gate_of(const json::value& args) {
  return args.is_object() && args.as_object().contains("gate")
           ? std::string(args.as_object().at("gate").as_string())
           : std::string{};
}

// Many progress reports in a short time: the executor must thin them out
// and still deliver the last, without waiting for the end of the step.
class chatty_step : public procman::step {
public:
  chatty_step(int64_t reports, std::string gate)
    : reports_(reports), gate_(std::move(gate)) {}

  json::object execute(const json::object& data,
                       procman::step_context& ctx) override {
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < reports_; ++i) {
      ctx.progress(100.0 * static_cast<double>(i) / reports_,
                   "report " + std::to_string(i));
      std::this_thread::sleep_for(std::chrono::microseconds(250));
    }
    auto reporting
      = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
    ctx.progress(100, "done");
    auto out = data;
    out["reporting_seconds"] = reporting;
    out["gate_opened"] = wait_for_gate(gate_);
    return out;
  }

private:
  int64_t reports_;
  std::string gate_;
};

// Reports progress, then goes quiet until the gate opens: the report that
// was held back must still arrive while the step runs.
class quiet_after_burst : public procman::step {
public:
  explicit quiet_after_burst(std::string gate) : gate_(std::move(gate)) {}

  json::object execute(const json::object& data,
                       procman::step_context& ctx) override {
    ctx.progress(10, "first");
    ctx.progress(20, "second, right after");
    auto out = data;
    out["gate_opened"] = wait_for_gate(gate_);
    return out;
  }

private:
  std::string gate_;
};

class big_step : public procman::step {
public:
  json::object execute(const json::object&, procman::step_context&) override {
    return {{"blob", std::string(50u << 20, 'x')}};
  }
};

} // namespace

extern "C" void procman_register_steps(procman::step_registry& reg,
                                       procman::service_registry&) {
  reg.add("test.stdout", [](const json::value&, const procman::service_map&) {
    return std::make_unique<stdout_writer>();
  });
  reg.add("test.throw",
          [](const json::value& args, const procman::service_map&) {
            std::string what = "no reason";
            if (args.is_object() && args.as_object().contains("what"))
              what = std::string(args.as_object().at("what").as_string());
            return std::make_unique<throwing_step>(what);
          });
  reg.add("test.json", [](const json::value&, const procman::service_map&) {
    return std::make_unique<json_step>();
  });
  reg.add("test.chatty",
          [](const json::value& args, const procman::service_map&) {
            int64_t n = 1000;
            if (args.is_object() && args.as_object().contains("reports"))
              n = args.as_object().at("reports").as_int64();
            return std::make_unique<chatty_step>(n, gate_of(args));
          });
  reg.add("test.quiet",
          [](const json::value& args, const procman::service_map&) {
            return std::make_unique<quiet_after_burst>(gate_of(args));
          });
  reg.add("test.big", [](const json::value&, const procman::service_map&) {
    return std::make_unique<big_step>();
  });
}
