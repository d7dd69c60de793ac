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
extern "C" __attribute__((noinline)) void exec_test_plugin_thrower(
  const std::string& what) {
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
  explicit throwing_step(std::string what) : what_(std::move(what)) {
  }

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

// Many progress reports in a short time: the executor must thin them out
// and still deliver the last.
class chatty_step : public procman::step {
public:
  explicit chatty_step(int64_t reports) : reports_(reports) {
  }

  json::object execute(const json::object& data,
                       procman::step_context& ctx) override {
    for (int64_t i = 0; i < reports_; ++i) {
      ctx.progress(100.0 * static_cast<double>(i) / reports_,
                   "report " + std::to_string(i));
      std::this_thread::sleep_for(std::chrono::microseconds(250));
    }
    ctx.progress(100, "done");
    // A quiet spell after the last report: it must not wait for the end.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return data;
  }

private:
  int64_t reports_;
};

// Reports progress, then goes quiet for a while: the report that was held
// back must still arrive while the step runs.
class quiet_after_burst : public procman::step {
public:
  json::object execute(const json::object& data,
                       procman::step_context& ctx) override {
    ctx.progress(10, "first");
    ctx.progress(20, "second, right after");
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return data;
  }
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
            return std::make_unique<chatty_step>(n);
          });
  reg.add("test.quiet", [](const json::value&, const procman::service_map&) {
    return std::make_unique<quiet_after_burst>();
  });
  reg.add("test.big", [](const json::value&, const procman::service_map&) {
    return std::make_unique<big_step>();
  });
}
