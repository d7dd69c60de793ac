// A small JSON Schema check for the HTTP API's tests: what
// docs/openapi.yaml's schemas use (type with null, required, properties,
// additionalProperties, items, enum, pattern, minimum, maximum,
// minProperties, oneOf, $ref into components/schemas). Returns the first
// mismatch as "path: what", empty when `v` matches.

#pragma once

#include <regex>
#include <string>

#include <boost/json.hpp>

namespace procman::test {

inline std::string schema_mismatch(const boost::json::object& doc,
                                   const boost::json::value& schema,
                                   const boost::json::value& v,
                                   const std::string& path = "$") {
  namespace json = boost::json;
  if (!schema.is_object())
    return {};
  auto& s = schema.as_object();
  if (auto ref = s.if_contains("$ref")) {
    std::string r{ref->as_string()};
    const std::string prefix = "#/components/schemas/";
    auto& target
      = doc.at("components").at("schemas").at(r.substr(prefix.size()));
    return schema_mismatch(doc, target, v, path);
  }
  if (auto one = s.if_contains("oneOf")) {
    int matched = 0;
    for (auto& alt : one->as_array())
      matched += schema_mismatch(doc, alt, v, path).empty();
    return matched == 1
             ? std::string{}
             : path + ": matches " + std::to_string(matched) + " of oneOf";
  }
  if (auto type = s.if_contains("type")) {
    auto is = [&](std::string_view t) {
      if (t == "null")
        return v.is_null();
      if (t == "string")
        return v.is_string();
      if (t == "integer")
        return v.is_int64() || v.is_uint64();
      if (t == "number")
        return v.is_number();
      if (t == "boolean")
        return v.is_bool();
      if (t == "array")
        return v.is_array();
      if (t == "object")
        return v.is_object();
      return false;
    };
    bool ok = false;
    if (type->is_string())
      ok = is(type->as_string());
    else
      for (auto& t : type->as_array())
        ok = ok || is(t.as_string());
    if (!ok)
      return path + ": is not of type " + json::serialize(*type);
  }
  if (auto e = s.if_contains("enum")) {
    bool ok = false;
    for (auto& x : e->as_array())
      ok = ok || x == v;
    if (!ok)
      return path + ": " + json::serialize(v) + " is not in the enum";
  }
  if (v.is_string())
    if (auto p = s.if_contains("pattern"))
      if (!std::regex_search(std::string{v.as_string()},
                             std::regex{std::string{p->as_string()}}))
        return path + ": does not match " + std::string{p->as_string()};
  if (v.is_number()) {
    auto x = v.to_number<double>();
    if (auto lo = s.if_contains("minimum"); lo && x < lo->to_number<double>())
      return path + ": below the minimum";
    if (auto hi = s.if_contains("maximum"); hi && x > hi->to_number<double>())
      return path + ": above the maximum";
  }
  if (v.is_object()) {
    auto& o = v.as_object();
    if (auto req = s.if_contains("required"))
      for (auto& k : req->as_array())
        if (!o.contains(k.as_string()))
          return path + ": lacks \"" + std::string{k.as_string()} + "\"";
    if (auto n = s.if_contains("minProperties");
        n && o.size() < n->to_number<size_t>())
      return path + ": has too few properties";
    auto props = s.if_contains("properties");
    auto extra = s.if_contains("additionalProperties");
    for (auto& [k, x] : o) {
      auto sub = path + "." + std::string{k};
      if (props && props->as_object().contains(k)) {
        if (auto m = schema_mismatch(doc, props->as_object().at(k), x, sub);
            !m.empty())
          return m;
      } else if (extra) {
        if (extra->is_bool() && !extra->as_bool())
          return sub + ": is not allowed";
        if (auto m = schema_mismatch(doc, *extra, x, sub); !m.empty())
          return m;
      }
    }
  }
  if (v.is_array())
    if (auto items = s.if_contains("items")) {
      size_t i = 0;
      for (auto& x : v.as_array())
        if (auto m = schema_mismatch(doc, *items, x,
                                     path + "[" + std::to_string(i++) + "]");
            !m.empty())
          return m;
    }
  return {};
}

} // namespace procman::test
