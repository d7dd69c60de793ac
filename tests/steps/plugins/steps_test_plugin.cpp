// A step library for the in-process plug-in tests (suite step_plugins).

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string>

#include <boost/json.hpp>

#include "procman/steps/step_registry.hpp"

namespace {

namespace json = boost::json;

// Upper-cases data[key] and adds nested values: JSON in and out.
class upper_step : public procman::step {
public:
  explicit upper_step(std::string key) : key_(std::move(key)) {}

  json::object execute(const json::object& data,
                       procman::step_context& ctx) override {
    json::object out = data;
    auto text = std::string(data.at(key_).as_string());
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return std::toupper(c); });
    out[key_] = text;
    out["from_plugin"] = json::parse(R"({"list": [1, 2.5, "three", null],
                                         "nested": {"ok": true}})");
    ctx.progress(50, "half way in the plug-in");
    return out;
  }

private:
  std::string key_;
};

class throwing_step : public procman::step {
public:
  json::object execute(const json::object&, procman::step_context&) override {
    throw std::runtime_error("plugin exploded");
  }
};

// Throws spec_error from execute: the host must recognise the type.
class lazy_spec_step : public procman::step {
public:
  json::object execute(const json::object&, procman::step_context&) override {
    throw procman::spec_error("field \"late\" checked at run time");
  }
};

class service_step : public procman::step {
public:
  explicit service_step(std::string greeting)
    : greeting_(std::move(greeting)) {}

  json::object execute(const json::object& data,
                       procman::step_context&) override {
    auto out = data;
    out["greeting"] = greeting_;
    return out;
  }

private:
  std::string greeting_;
};

} // namespace

extern "C" void procman_register_steps(procman::step_registry& reg,
                                       procman::service_registry& services) {
  services.add("plugin.greeting",
               std::make_shared<std::string>("hello from the plug-in"));
  reg.add("test.upper",
          [](const json::value& args, const procman::service_map&) {
            if (!args.is_object() || !args.as_object().contains("key")
                || !args.as_object().at("key").is_string())
              throw procman::spec_error("field \"key\" must be a string");
            return std::make_unique<upper_step>(
              std::string(args.as_object().at("key").as_string()));
          });
  reg.add("test.throw", [](const json::value&, const procman::service_map&) {
    return std::make_unique<throwing_step>();
  });
  reg.add("test.lazy_spec",
          [](const json::value&, const procman::service_map&) {
            return std::make_unique<lazy_spec_step>();
          });
  reg.add("test.service",
          [](const json::value&, const procman::service_map& svcs) {
            auto i = svcs.find("plugin.greeting");
            if (i == svcs.end())
              throw procman::spec_error("needs service plugin.greeting");
            auto p = std::any_cast<std::shared_ptr<std::string>>(&i->second);
            if (!p)
              throw procman::spec_error("plugin.greeting is not a string");
            return std::make_unique<service_step>(**p);
          });
}
