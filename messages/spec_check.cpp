#include "procman/messages/spec_check.hpp"

#include <cctype>
#include <limits>
#include <set>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include "procman/messages/json.hpp"
#include "procman/messages/time.hpp"

namespace procman {

namespace json = boost::json;

namespace {

const json::value* find(const json::object& o, const char* key) {
  auto i = o.find(key);
  return i == o.end() ? nullptr : &i->value();
}

outcome<step_spec> parse_step(const std::string& name, const json::value& v) {
  auto fail = [&](const std::string& what) {
    return failure{errc::invalid_spec, "step \"" + name + "\": " + what};
  };
  if (!v.is_object())
    return fail("must be an object with a \"class\"");
  auto& o = v.get_object();
  step_spec out;
  out.name = name;
  auto cls = find(o, "class");
  if (!cls)
    return fail("field \"class\" is missing");
  if (!cls->is_string() || cls->get_string().empty())
    return fail("field \"class\" must be a non-empty string");
  out.cls = std::string(cls->get_string());
  out.args = "null";
  if (auto a = find(o, "args")) {
    if (!a->is_null() && !a->is_array() && !a->is_object())
      return fail("field \"args\" must be an array or an object");
    out.args = json::serialize(*a);
  }
  out.services.clear();
  if (auto s = find(o, "services"); s && !s->is_null()) {
    if (s->is_array()) {
      for (auto& e : s->get_array()) {
        if (!e.is_string())
          return fail("field \"services\" must list service names (strings)");
        out.services.emplace_back(e.get_string());
      }
    } else if (s->is_object()) {
      // {"param": "service-name"} as in ObjectFactory specs: keep the names.
      for (auto& kv : s->get_object()) {
        if (!kv.value().is_string())
          return fail("field \"services\" must map to service names (strings)");
        out.services.emplace_back(kv.value().get_string());
      }
    } else {
      return fail("field \"services\" must be an array of service names");
    }
  }
  for (auto& kv : o) {
    auto k = kv.key();
    if (k != "class" && k != "args" && k != "services" && k != "name")
      return fail("unknown field \"" + std::string(k) + "\"");
  }
  return out;
}

} // namespace

outcome<process_spec> parse_spec(const json::value& v) {
  auto fail = [](std::string what) {
    return failure{errc::invalid_spec, std::move(what)};
  };
  if (!v.is_object())
    return fail("spec must be a JSON object with \"steps\"");
  auto& o = v.get_object();
  auto steps = find(o, "steps");
  if (!steps)
    return fail("spec: field \"steps\" is missing");
  process_spec result;
  if (steps->is_object()) {
    for (auto& kv : steps->get_object()) {
      auto s = parse_step(std::string(kv.key()), kv.value());
      if (!s)
        return s.error();
      result.steps.push_back(std::move(*s));
    }
  } else if (steps->is_array()) {
    size_t i = 0;
    for (auto& e : steps->get_array()) {
      auto idx = "#" + std::to_string(i++);
      if (!e.is_object())
        return fail("step " + idx
                    + ": must be an object with \"name\" and \"class\"");
      auto n = find(e.get_object(), "name");
      if (!n || !n->is_string() || n->get_string().empty())
        return fail("step " + idx
                    + ": field \"name\" must be a non-empty string");
      auto s = parse_step(std::string(n->get_string()), e);
      if (!s)
        return s.error();
      result.steps.push_back(std::move(*s));
    }
  } else {
    return fail("spec: field \"steps\" must be an object (name -> step) or "
                "an array");
  }
  if (result.steps.empty())
    return fail("spec: field \"steps\" has no steps");
  for (size_t i = 0; i < result.steps.size(); ++i)
    for (size_t j = i + 1; j < result.steps.size(); ++j)
      if (result.steps[i].name == result.steps[j].name)
        return fail("step \"" + result.steps[i].name + "\": name used twice");
  if (auto t = find(o, "timeout"); t && !t->is_null()) {
    if (!t->is_number())
      return fail("spec: field \"timeout\" must be a number of seconds");
    auto secs = t->to_number<double>();
    if (secs < 0 || secs > 31536000)
      return fail("spec: field \"timeout\" must be between 0 and 31536000 "
                  "seconds");
    result.timeout = static_cast<uint32_t>(secs);
  }
  if (auto d = find(o, "data"); d && !d->is_null()) {
    if (!d->is_object())
      return fail("spec: field \"data\" must be an object");
    result.data = json::serialize(*d);
  }
  if (auto p = find(o, "priority"); p && !p->is_null()) {
    json::error_code ec;
    auto x = p->is_number() ? p->to_number<int32_t>(ec) : 0;
    if (!p->is_number() || ec)
      return fail("spec: field \"priority\" must be an integer between "
                  "-2147483648 and 2147483647");
    result.priority = x;
  }
  if (auto t = find(o, "not_before"); t && !t->is_null()) {
    if (!t->is_string())
      return fail("spec: field \"not_before\" must be a time as a string: "
                  "UTC YYYYMMDDHHMMSS or ISO 8601 (2026-12-01T10:00:00Z)");
    auto ms = parse_time(std::string(t->get_string()));
    if (!ms)
      return fail("spec: field \"not_before\": " + ms.error().context);
    result.not_before = *ms;
  }
  if (auto k = find(o, "key"); k && !k->is_null()) {
    if (!k->is_string())
      return fail("spec: field \"key\" must be a string");
    result.key = std::string(k->get_string());
  }
  if (auto r = find(o, "retry"); r && !r->is_null()) {
    auto p = parse_retry(*r);
    if (!p)
      return fail("spec: field \"retry\": " + p.error().context);
    result.retry = *p;
  }
  for (auto& kv : o) {
    auto k = kv.key();
    if (k != "steps" && k != "timeout" && k != "data" && k != "priority"
        && k != "not_before" && k != "key" && k != "retry")
      return fail("spec: unknown field \"" + std::string(k) + "\"");
  }
  if (auto f = check_job_options(result))
    return f;
  return result;
}

outcome<retry_policy> parse_retry(const json::value& v) {
  auto fail = [](std::string what) {
    return failure{errc::invalid_spec, std::move(what)};
  };
  if (!v.is_object())
    return fail("must be an object {\"max\", \"backoff\", \"initial\", "
                "\"max_delay\", \"on\"}");
  auto& o = v.get_object();
  retry_policy p;
  auto seconds = [&](const char* key, uint64_t& out) -> failure {
    auto x = find(o, key);
    if (!x || x->is_null())
      return {};
    if (!x->is_number() || x->to_number<double>() < 0
        || x->to_number<double>() > 31536000)
      return fail(std::string("field \"") + key
                  + "\" must be a number of seconds between 0 and 31536000");
    out = static_cast<uint64_t>(x->to_number<double>() * 1000 + 0.5);
    return {};
  };
  if (auto m = find(o, "max"); m && !m->is_null()) {
    json::error_code ec;
    auto x = m->is_number() ? m->to_number<uint32_t>(ec) : 0;
    if (!m->is_number() || ec || x > 1000)
      return fail("field \"max\" must be an integer between 0 and 1000");
    p.max = x;
  }
  if (auto b = find(o, "backoff"); b && !b->is_null()) {
    auto k = b->is_string()
               ? from_string<backoff_kind>(std::string(b->get_string()))
               : std::nullopt;
    if (!k)
      return fail("field \"backoff\" must be \"exponential\" or "
                  "\"fixed\"");
    p.backoff = *k;
  }
  if (auto f = seconds("initial", p.initial_ms))
    return f;
  if (auto f = seconds("max_delay", p.max_delay_ms))
    return f;
  if (auto on = find(o, "on"); on && !on->is_null()) {
    if (!on->is_array())
      return fail("field \"on\" must be an array of error kinds");
    p.on = 0;
    for (auto& e : on->get_array()) {
      auto k = e.is_string()
                 ? from_string<error_kind>(std::string(e.get_string()))
                 : std::nullopt;
      if (k == error_kind::spec || k == error_kind::output)
        return fail("field \"on\": \"" + to_string(*k)
                    + "\" errors are never retried (they would fail again)");
      if (!k || *k == error_kind::none)
        return fail("field \"on\" lists error kinds: \"exception\", "
                    "\"timeout\", \"crash\", \"runner_lost\", "
                    "\"node_lost\"");
      p.on |= retry_bit(*k);
    }
  }
  for (auto& kv : o) {
    auto k = kv.key();
    if (k != "max" && k != "backoff" && k != "initial" && k != "max_delay"
        && k != "on")
      return fail("unknown field \"" + std::string(k) + "\"");
  }
  return p;
}

namespace {

// A parse handler that checks what a tree built by Boost.JSON would hide or
// what must not be built at all, and stops at the first problem:
//
// - a key repeated within one object: Boost.JSON keeps only one of two
//   equal keys, so a spec with two steps of the same name in the object
//   form would silently lose a step, and `--data` would lose a value;
// - nesting deeper than `defaults::max_json_depth` in a user's document:
//   for a spec, in each field of the spec or of a step (its "data", a
//   step's "args"); otherwise in the whole document.
//
// It never holds more than max_json_depth + 3 levels: it stops deeper input
// before anything builds a tree of it.
struct json_checker {
  static constexpr std::size_t max_array_size = -1;
  static constexpr std::size_t max_object_size = -1;
  static constexpr std::size_t max_string_size = -1;
  static constexpr std::size_t max_key_size = -1;

  struct frame {
    bool object;
    std::set<std::string, std::less<>> keys;
    std::string key;  // the key of the value being parsed
    std::string step; // a spec's step: its name, or "#<index>"
    size_t count = 0; // elements seen, for the steps array
  };

  bool spec = false; // check as a process spec, else as `what`
  std::string what;  // names a non-spec document in messages
  std::vector<frame> stack;
  std::string key;
  std::string name;         // a "name" being read in an array-form step
  std::string message;      // set when a problem was found
  bool with_offset = false; // append the offset to `message`

  static std::string levels() {
    return " is nested deeper than " + std::to_string(defaults::max_json_depth)
           + " levels";
  }

  // Inside the "steps" of a spec, at the level of one step's fields.
  bool in_steps() const {
    return spec && stack.size() >= 2 && stack[0].object
           && stack[0].key == "steps";
  }

  bool reading_step_name() const {
    return in_steps() && stack.size() == 3 && !stack[1].object
           && stack[2].object && stack[2].key == "name";
  }

  bool fail(std::string msg, json::error_code& ec) {
    message = std::move(msg);
    ec = json::error::syntax;
    return false;
  }

  bool push(bool object, json::error_code& ec) {
    if (in_steps() && stack.size() == 2) {
      auto& steps = stack[1];
      frame f{object, {}, {}, {}, 0};
      f.step = steps.object ? steps.key : "#" + std::to_string(steps.count++);
      stack.push_back(std::move(f));
      return true;
    }
    auto depth = stack.size() + 1; // of the new level, from the top
    if (!spec) {
      if (depth > defaults::max_json_depth)
        return fail(what + levels(), ec);
    } else if (in_steps() && stack.size() >= 3) {
      // A field of a step starts at the fourth level.
      if (depth - 3 > defaults::max_json_depth) {
        auto& step = stack[2];
        auto field = step.object ? "field \"" + step.key + "\"" : "its value";
        return fail("step \"" + step.step + "\": " + field + levels(), ec);
      }
    } else if (stack.empty() || !stack[0].object) {
      if (depth > defaults::max_json_depth)
        return fail("spec" + levels(), ec);
    } else if (depth - 1 > defaults::max_json_depth) {
      return fail("spec: field \"" + stack[0].key + "\"" + levels(), ec);
    }
    stack.push_back(frame{object, {}, {}, {}, 0});
    return true;
  }

  bool pop() {
    stack.pop_back();
    return true;
  }

  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    key.append(s.data(), s.size());
    auto& top = stack.back();
    if (!top.keys.insert(key).second) {
      if (!spec) {
        with_offset = true;
        return fail(what + ": field \"" + key + "\" used twice", ec);
      }
      auto steps = in_steps() && stack[1].object;
      if (steps && stack.size() == 2)
        return fail("step \"" + key + "\": name used twice", ec);
      if (in_steps() && stack.size() == 3)
        return fail("step \"" + stack[2].step + "\": field \"" + key
                      + "\" used twice",
                    ec);
      with_offset = true;
      return fail("spec: field \"" + key + "\" used twice", ec);
    }
    top.key = std::move(key);
    key.clear();
    return true;
  }

  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key.append(s.data(), s.size());
    return true;
  }

  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    if (reading_step_name())
      name.append(s.data(), s.size());
    return true;
  }

  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    if (reading_step_name()) {
      name.append(s.data(), s.size());
      if (!name.empty())
        stack[2].step = std::move(name);
      name.clear();
    }
    return true;
  }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code& ec) { return push(false, ec); }
  bool on_array_end(std::size_t, json::error_code&) { return pop(); }
  bool on_object_begin(json::error_code& ec) { return push(true, ec); }
  bool on_object_end(std::size_t, json::error_code&) { return pop(); }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(uint64_t, json::string_view, json::error_code&) {
    return true;
  }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

// The first repeated key or too deep nesting in `text` (a spec, or else the
// document named `what`) as a failure of `code`, none if there is none.
// Malformed JSON is left to parse_json to report.
failure check_json(std::string_view text, errc code, bool spec,
                   const std::string& what = {}) {
  json::parse_options opts;
  opts.max_depth = std::numeric_limits<std::size_t>::max(); // we stop it
  json::basic_parser<json_checker> p(opts);
  p.handler().spec = spec;
  p.handler().what = what;
  json::error_code ec;
  auto n = p.write_some(false, text.data(), text.size(), ec);
  auto& h = p.handler();
  if (h.message.empty())
    return {};
  if (h.with_offset)
    h.message += " at offset " + std::to_string(n);
  return failure{code, std::move(h.message)};
}

} // namespace

outcome<process_spec> parse_spec(std::string_view text) {
  // First the checks that need the text, so that a tree is built only of
  // a document within the depth limit.
  if (auto problem = check_json(text, errc::invalid_spec, true))
    return problem;
  auto v = parse_json(text, defaults::max_wrapped_json_depth);
  if (!v)
    return failure{errc::invalid_spec, "spec: " + v.error().context};
  return parse_spec(*v);
}

outcome<json::value> parse_user_json(std::string_view text,
                                     const std::string& what) {
  if (auto problem = check_json(text, errc::invalid_json, false, what))
    return problem;
  auto v = parse_json(text);
  if (!v)
    return failure{errc::invalid_json, json_error(what, v.error().context)};
  return v;
}

failure check_job_options(const process_spec& spec) {
  auto fail = [](std::string msg) {
    return failure{errc::invalid_spec, std::move(msg)};
  };
  if (spec.key.size() > 1024)
    return fail("spec: field \"key\" is longer than 1024 bytes");
  if (spec.retry.max > 1000)
    return fail("spec: field \"retry\": field \"max\" must be an integer "
                "between 0 and 1000");
  if ((spec.retry.on
       & (retry_bit(error_kind::spec) | retry_bit(error_kind::output)))
      != 0)
    return fail("spec: field \"retry\": field \"on\": spec and output "
                "errors are never retried (they would fail again)");
  return {};
}

failure check_spec(process_spec& spec) {
  auto fail = [](std::string msg) {
    return failure{errc::invalid_spec, std::move(msg)};
  };
  if (auto f = check_job_options(spec))
    return f;
  if (spec.steps.empty())
    return fail("spec: field \"steps\" has no steps");
  for (size_t i = 0; i < spec.steps.size(); ++i) {
    auto& s = spec.steps[i];
    if (s.name.empty())
      return fail("step #" + std::to_string(i)
                  + ": field \"name\" must be a non-empty string");
    for (size_t j = 0; j < i; ++j)
      if (spec.steps[j].name == s.name)
        return fail("step \"" + s.name + "\": name used twice");
    auto what = "step \"" + s.name + "\"";
    if (s.cls.empty())
      return fail(what + ": field \"class\" must be a non-empty string");
    if (s.args.empty()) {
      s.args = "null";
      continue;
    }
    auto v = parse_user_json(s.args, what + ": field \"args\"");
    if (!v)
      return fail(v.error().context);
    if (!v->is_null() && !v->is_array() && !v->is_object())
      return fail(what + ": field \"args\" must be an array or an object");
    s.args = json::serialize(*v);
  }
  if (spec.timeout > 31536000)
    return fail("spec: field \"timeout\" must be between 0 and 31536000 "
                "seconds");
  if (spec.data.empty()) {
    spec.data = "{}";
  } else {
    auto v = parse_user_json(spec.data, "spec: field \"data\"");
    if (!v)
      return fail(v.error().context);
    if (v->is_null())
      *v = json::object{};
    if (!v->is_object())
      return fail("spec: field \"data\" must be an object");
    spec.data = json::serialize(*v);
  }
  return {};
}

} // namespace procman
