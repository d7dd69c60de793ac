#include "procman/protocol/executor_input.hpp"

#include <boost/json.hpp>

#include "procman/messages/json.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/platform/paths.hpp"

namespace procman {

namespace json = boost::json;

namespace {

json::value parse_or_null(const std::string& text) {
  auto v = parse_json(text, defaults::max_wrapped_json_depth);
  if (!v)
    return nullptr;
  return std::move(*v);
}

failure field_error(const char* name, const std::string& what) {
  return failure{errc::invalid_spec,
                 std::string("executor input: field \"") + name + "\" " + what};
}

bool non_negative_integer(const json::value& v) {
  return (v.is_int64() && v.get_int64() >= 0) || v.is_uint64();
}

uint64_t as_u64(const json::value& v) {
  return v.is_int64() ? static_cast<uint64_t>(v.get_int64()) : v.get_uint64();
}

} // namespace

std::string encode_input(const executor_input& x) {
  json::array steps;
  for (auto& s : x.steps) {
    json::array services;
    for (auto& svc : s.services)
      services.emplace_back(svc);
    steps.emplace_back(json::object{{"name", s.name},
                                    {"class", s.cls},
                                    {"args", parse_or_null(s.args)},
                                    {"services", std::move(services)}});
  }
  json::object doc{{"pid", x.pid},
                   {"steps", std::move(steps)},
                   {"first_step", x.first_step},
                   {"data", x.data},
                   {"script_args", x.script_args}};
  if (!x.step_libs.empty())
    doc["step_libs"] = x.step_libs;
  if (x.max_output_bytes != defaults::max_output_bytes)
    doc["max_output_bytes"] = x.max_output_bytes;
  if (x.step_acks)
    doc["step_acks"] = true;
  if (x.output_events)
    doc["output_events"] = true;
  if (x.lease_until_ms > 0)
    doc["lease"] = x.lease_until_ms;
  return json::serialize(doc) + "\n";
}

outcome<executor_input> decode_input(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return failure{errc::invalid_json, "executor input: stdin is empty "
                                       "(expected one JSON object)"};
  auto doc = parse_json(text, defaults::max_wrapped_json_depth);
  if (!doc)
    return failure{errc::invalid_json,
                   json_error("executor input", doc.error().context)};
  if (!doc->is_object())
    return failure{errc::invalid_json,
                   "executor input: must be a JSON object with \"steps\""};
  auto& o = doc->get_object();
  auto find = [&](const char* key) -> const json::value* {
    auto i = o.find(key);
    return i == o.end() || i->value().is_null() ? nullptr : &i->value();
  };
  for (auto& kv : o) {
    auto k = kv.key();
    if (k != "pid" && k != "steps" && k != "first_step" && k != "data"
        && k != "script_args" && k != "step_libs" && k != "max_output_bytes"
        && k != "timeout" && k != "step_acks" && k != "output_events"
        && k != "lease")
      return failure{errc::invalid_spec, "executor input: unknown field \""
                                           + std::string(k) + "\""};
  }
  auto steps = find("steps");
  if (!steps)
    return field_error("steps", "is missing");
  executor_input in;
  // The array form is what the runner sends; the object form (a process
  // spec's name -> step) is accepted too. parse_spec checks both.
  auto spec = parse_spec(json::value(json::object{{"steps", *steps}}));
  if (!spec) {
    auto err = spec.error().context;
    if (err.rfind("spec: ", 0) == 0)
      err.erase(0, 6);
    return failure{errc::invalid_spec, "executor input: " + err};
  }
  in.steps = std::move(spec->steps);
  if (auto v = find("pid")) {
    if (!v->is_string())
      return field_error("pid", "must be a string");
    in.pid = std::string(v->get_string());
  }
  if (auto v = find("first_step")) {
    if (!non_negative_integer(*v))
      return field_error("first_step", "must be a non-negative integer");
    auto n = as_u64(*v);
    if (n > in.steps.size())
      return field_error("first_step",
                         "is past the last step (" + std::to_string(n) + " > "
                           + std::to_string(in.steps.size()) + ")");
    in.first_step = static_cast<uint32_t>(n);
  }
  if (auto v = find("data")) {
    if (!v->is_object())
      return field_error("data", "must be an object");
    in.data = v->get_object();
  }
  if (auto v = find("script_args")) {
    if (!v->is_string())
      return field_error("script_args", "must be a string");
    in.script_args = std::string(v->get_string());
  }
  if (auto v = find("step_libs")) {
    auto bad = [] {
      return field_error("step_libs", "must be a ':'-separated string or an "
                                      "array of paths");
    };
    if (v->is_string()) {
      in.step_libs = std::string(v->get_string());
    } else if (v->is_array()) {
      for (auto& e : v->get_array()) {
        if (!e.is_string())
          return bad();
        in.step_libs += platform::path_list_separator; // ';' on Windows
        in.step_libs += std::string(e.get_string());
      }
    } else {
      return bad();
    }
  }
  if (auto v = find("max_output_bytes")) {
    if (!non_negative_integer(*v) || as_u64(*v) == 0)
      return field_error("max_output_bytes", "must be a positive integer");
    in.max_output_bytes = static_cast<size_t>(as_u64(*v));
  }
  if (auto v = find("step_acks")) {
    if (!v->is_bool())
      return field_error("step_acks", "must be true or false");
    in.step_acks = v->get_bool();
  }
  if (auto v = find("output_events")) {
    if (!v->is_bool())
      return field_error("output_events", "must be true or false");
    in.output_events = v->get_bool();
  }
  if (auto v = find("lease")) {
    if (!v->is_int64() || v->get_int64() <= 0)
      return field_error("lease", "must be a positive integer (milliseconds "
                                  "on the machine's CLOCK_BOOTTIME)");
    in.lease_until_ms = v->get_int64();
  }
  // Accepted so that a process spec is valid input; the runner enforces
  // timeouts.
  if (auto v = find("timeout"); v && !v->is_number())
    return field_error("timeout", "must be a number of seconds");
  return in;
}

} // namespace procman
