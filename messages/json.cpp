#include "procman/messages/json.hpp"

#include "procman/messages/calendar.hpp"

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <set>
#include <stdexcept>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

namespace procman {

namespace json = boost::json;

namespace {

// -- reading fields with messages that name the field --------------------------

/// Reads the fields of one JSON object. The first problem is kept (and
/// named: `field "runs" must be a number`); reads after it return their
/// fallbacks, so a reader reads on and reports the first problem at the
/// end.
class fields {
public:
  fields(const json::value& v, const char* what) : o_(v.if_object()) {
    if (o_ == nullptr)
      fail(std::string(what) + " must be an object");
  }

  /// The field `key`, null when it is absent or null.
  const json::value* find(const char* key) const {
    if (o_ == nullptr)
      return nullptr;
    auto i = o_->find(key);
    return i == o_->end() || i->value().is_null() ? nullptr : &i->value();
  }

  std::string str(const char* key, std::string fallback = {}) {
    auto v = find(key);
    if (v == nullptr)
      return fallback;
    if (!v->is_string()) {
      fail(field(key) + " must be a string");
      return fallback;
    }
    return std::string(v->get_string());
  }

  template <class T>
  T number(const char* key, T fallback = T{}) {
    auto v = find(key);
    if (v == nullptr)
      return fallback;
    if (!v->is_number()) {
      fail(field(key) + " must be a number");
      return fallback;
    }
    if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(v->to_number<double>());
    } else {
      json::error_code ec;
      auto x = v->to_number<T>(ec);
      if (ec) {
        fail(field(key) + " is out of range");
        return fallback;
      }
      return x;
    }
  }

  bool boolean(const char* key, bool fallback = false) {
    auto v = find(key);
    if (v == nullptr)
      return fallback;
    if (!v->is_bool()) {
      fail(field(key) + " must be true or false");
      return fallback;
    }
    return v->get_bool();
  }

  template <class E>
  E enumeration(const char* key, E fallback) {
    auto text = str(key);
    if (text.empty())
      return fallback;
    auto x = from_string<E>(text);
    if (!x) {
      fail(field(key) + " has unknown value \"" + text + "\"");
      return fallback;
    }
    return *x;
  }

  /// A JSON document kept as text; `fallback` when the field is absent.
  std::string payload(const char* key, const char* fallback) const {
    if (o_ == nullptr)
      return fallback;
    auto i = o_->find(key);
    return i == o_->end() ? std::string{fallback}
                          : json::serialize(i->value());
  }

  /// The array `key`, null when it is absent; a record with its steps
  /// dropped would be silently wrong, so anything else is a problem.
  const json::array* array(const char* key) {
    auto v = find(key);
    if (v == nullptr)
      return nullptr;
    if (!v->is_array()) {
      fail(field(key) + " must be an array");
      return nullptr;
    }
    return &v->get_array();
  }

  /// Reads a nested value with `read` unless a problem came first.
  template <class T, class F>
  T nested(const char* key, F read) {
    auto v = find(key);
    if (v == nullptr || problem_)
      return T{};
    auto x = read(*v);
    if (!x) {
      fail(x.error().context);
      return T{};
    }
    return std::move(*x);
  }

  void fail(std::string message) {
    if (!problem_)
      problem_ = failure{errc::invalid_json, std::move(message)};
  }

  /// `x`, or the first problem.
  template <class T>
  outcome<T> result(T x) const {
    if (problem_)
      return problem_;
    return x;
  }

private:
  static std::string field(const char* key) {
    return std::string("field \"") + key + "\"";
  }

  const json::object* o_;
  failure problem_;
};

// A JSON payload kept as text: stored parsed in the JSON form.
json::value payload(const std::string& text) {
  if (text.empty())
    return nullptr;
  auto v = parse_json(text, defaults::max_wrapped_json_depth);
  if (!v)
    return json::string(text);
  return std::move(*v);
}

json::array strings(const std::vector<std::string>& xs) {
  json::array result;
  for (auto& x : xs)
    result.emplace_back(x);
  return result;
}

} // namespace

// -- JSON forms ---------------------------------------------------------------------

void tag_invoke(json::value_from_tag, json::value& v, const step_spec& x) {
  v = json::object{{"name", x.name},
                   {"class", x.cls},
                   {"args", payload(x.args)},
                   {"services", strings(x.services)}};
}

void tag_invoke(json::value_from_tag, json::value& v, const process_spec& x) {
  json::array steps;
  for (auto& s : x.steps)
    steps.emplace_back(json::value_from(s));
  json::object o{{"steps", std::move(steps)},
                 {"timeout", x.timeout},
                 {"data", payload(x.data)}};
  // The job options only where set: specs without them look as before.
  if (x.priority != 0)
    o["priority"] = x.priority;
  if (x.not_before != 0)
    o["not_before"] = iso_time(x.not_before);
  if (!x.key.empty())
    o["key"] = x.key;
  if (x.retry.max != 0)
    o["retry"] = json::value_from(x.retry);
  v = std::move(o);
}

void tag_invoke(json::value_from_tag, json::value& v, const retry_policy& x) {
  json::array on;
  for (auto k : {error_kind::exception, error_kind::timeout, error_kind::crash,
                 error_kind::runner_lost, error_kind::node_lost})
    if (x.on & retry_bit(k))
      on.emplace_back(to_string(k));
  // Whole seconds as integers (Boost.JSON writes doubles with exponents).
  auto seconds = [](uint64_t ms) -> json::value {
    if (ms % 1000 == 0)
      return ms / 1000;
    return static_cast<double>(ms) / 1000;
  };
  v = json::object{{"max", x.max},
                   {"backoff", to_string(x.backoff)},
                   {"initial", seconds(x.initial_ms)},
                   {"max_delay", seconds(x.max_delay_ms)},
                   {"on", std::move(on)}};
}

void tag_invoke(json::value_from_tag, json::value& v, const attempt_error& x) {
  v = json::object{{"attempt", x.attempt},
                   {"at", x.at},
                   {"error", json::value_from(x.error)}};
}

void tag_invoke(json::value_from_tag, json::value& v, const progress_info& x) {
  v = json::object{
    {"step", x.step}, {"percent", x.percent}, {"message", x.message}};
}

void tag_invoke(json::value_from_tag, json::value& v, const error_info& x) {
  json::object o{{"kind", to_string(x.kind)},
                 {"step", x.step},
                 {"message", x.message},
                 {"stack", x.stack}};
  if (x.exit_code >= 0)
    o["exit_code"] = x.exit_code;
  if (x.signal != 0)
    o["signal"] = x.signal;
  if (!x.stderr_tail.empty())
    o["stderr"] = x.stderr_tail;
  v = std::move(o);
}

void tag_invoke(json::value_from_tag, json::value& v, const process_record& x) {
  json::array steps;
  for (auto& s : x.steps)
    steps.emplace_back(json::value_from(s));
  json::array states;
  for (auto s : x.step_states)
    states.emplace_back(to_string(s));
  v = json::object{{"pid", x.pid},
                   {"status", to_string(x.status)},
                   {"created_at", x.created_at},
                   {"started_at", x.started_at},
                   {"updated_at", x.updated_at},
                   {"finished_at", x.finished_at},
                   {"timeout", x.timeout},
                   {"steps", std::move(steps)},
                   {"step_states", std::move(states)},
                   {"last_completed", x.last_completed},
                   {"next_step", x.next_step},
                   {"data", payload(x.data)},
                   {"output", payload(x.output)},
                   {"progress", json::value_from(x.progress)},
                   {"error", json::value_from(x.error)},
                   {"runner", x.runner},
                   {"exec_pid", x.exec_pid},
                   {"queue_seq", x.queue_seq},
                   {"runs", x.runs},
                   {"cancel_requested", x.cancel_requested}};
  auto& o = v.get_object();
  // The job fields only where set: records without them look as before.
  if (x.priority != 0)
    o["priority"] = x.priority;
  if (x.not_before != 0)
    o["not_before"] = x.not_before;
  if (!x.key.empty())
    o["key"] = x.key;
  if (x.retry.max != 0)
    o["retry"] = json::value_from(x.retry);
  if (x.attempts != 0)
    o["attempts"] = x.attempts;
  if (!x.attempt_errors.empty()) {
    json::array errs;
    for (auto& e : x.attempt_errors)
      errs.emplace_back(json::value_from(e));
    o["attempt_errors"] = std::move(errs);
  }
  if (!x.schedule.empty())
    o["schedule"] = x.schedule;
}

// -- readers ------------------------------------------------------------------------

outcome<step_spec> read_step_spec(const json::value& v) {
  fields f{v, "step"};
  step_spec x;
  x.name = f.str("name");
  x.cls = f.str("class");
  x.args = f.payload("args", "null");
  if (auto s = f.array("services"))
    for (auto& e : *s) {
      if (!e.is_string()) {
        f.fail("field \"services\" must list service names (strings)");
        break;
      }
      x.services.emplace_back(e.get_string());
    }
  return f.result(std::move(x));
}

outcome<progress_info> read_progress_info(const json::value& v) {
  fields f{v, "progress"};
  progress_info x;
  x.step = f.str("step");
  x.percent = f.number<double>("percent");
  x.message = f.str("message");
  return f.result(std::move(x));
}

outcome<error_info> read_error_info(const json::value& v) {
  fields f{v, "error"};
  error_info x;
  x.kind = f.enumeration("kind", error_kind::none);
  x.step = f.str("step");
  x.message = f.str("message");
  x.stack = f.str("stack");
  x.exit_code = f.number<int32_t>("exit_code", -1);
  x.signal = f.number<int32_t>("signal", 0);
  x.stderr_tail = f.str("stderr");
  return f.result(std::move(x));
}

outcome<process_record> read_process_record(const json::value& v) {
  fields f{v, "process record"};
  process_record x;
  x.pid = f.str("pid");
  x.status = f.enumeration("status", process_status::queued);
  x.created_at = f.number<uint64_t>("created_at");
  x.started_at = f.number<uint64_t>("started_at");
  x.updated_at = f.number<uint64_t>("updated_at");
  x.finished_at = f.number<uint64_t>("finished_at");
  x.timeout = f.number<uint32_t>("timeout");
  if (auto s = f.array("steps"))
    for (auto& e : *s) {
      auto step = read_step_spec(e);
      if (!step) {
        f.fail(step.error().context);
        break;
      }
      x.steps.push_back(std::move(*step));
    }
  if (auto s = f.array("step_states"))
    for (auto& e : *s) {
      auto st = e.is_string()
                  ? from_string<step_status>(std::string(e.get_string()))
                  : std::nullopt;
      if (!st) {
        f.fail("field \"step_states\" has an unknown state");
        break;
      }
      x.step_states.push_back(*st);
    }
  x.last_completed = f.number<int32_t>("last_completed", -1);
  x.next_step = f.number<uint32_t>("next_step");
  x.data = f.payload("data", "{}");
  x.output = f.payload("output", "null");
  x.progress = f.nested<progress_info>("progress", read_progress_info);
  x.error = f.nested<error_info>("error", read_error_info);
  x.runner = f.str("runner");
  x.exec_pid = f.number<int32_t>("exec_pid");
  x.queue_seq = f.number<uint64_t>("queue_seq");
  x.runs = f.number<uint32_t>("runs");
  x.cancel_requested = f.boolean("cancel_requested");
  x.priority = f.number<int32_t>("priority");
  x.not_before = f.number<uint64_t>("not_before");
  x.key = f.str("key");
  if (auto r = f.find("retry")) {
    auto p = parse_retry(*r);
    if (!p)
      f.fail(p.error().context);
    else
      x.retry = *p;
  }
  x.attempts = f.number<uint32_t>("attempts");
  if (auto a = f.array("attempt_errors"))
    for (auto& e : *a) {
      fields g{e, "attempt error"};
      attempt_error ae;
      ae.attempt = g.number<uint32_t>("attempt");
      ae.at = g.number<uint64_t>("at");
      ae.error = g.nested<error_info>("error", read_error_info);
      if (auto r = g.result(ae); !r) {
        f.fail(r.error().context);
        break;
      }
      x.attempt_errors.push_back(std::move(ae));
    }
  x.schedule = f.str("schedule");
  return f.result(std::move(x));
}

// -- helpers ------------------------------------------------------------------------

std::string digest_to_hex(uint64_t x) {
  static const char* digits = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, x >>= 4)
    out[static_cast<size_t>(i)] = digits[x & 0xF];
  return out;
}

std::optional<uint64_t> digest_from_hex(const std::string& str) {
  if (str.size() != 16)
    return std::nullopt;
  uint64_t x = 0;
  for (auto c : str) {
    x <<= 4;
    if (c >= '0' && c <= '9')
      x |= static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      x |= static_cast<uint64_t>(c - 'a' + 10);
    else
      return std::nullopt;
  }
  return x;
}

outcome<json::value> parse_json(std::string_view text, size_t max_depth) {
  auto malformed = [](std::string what) {
    return failure{errc::invalid_json, std::move(what)};
  };
  json::error_code ec;
  json::parse_options opts;
  opts.max_depth = max_depth;
  json::stream_parser p({}, opts);
  auto n = p.write_some(text.data(), text.size(), ec);
  if (!ec && n < text.size()) {
    // Only white space may follow the document.
    for (auto i = n; i < text.size(); ++i)
      if (!std::isspace(static_cast<unsigned char>(text[i])))
        return malformed("malformed JSON at offset " + std::to_string(i)
                         + ": extra characters after the document");
  }
  if (!ec)
    p.finish(ec);
  if (ec == json::error::too_deep)
    return malformed("nested deeper than " + std::to_string(max_depth)
                     + " levels");
  if (ec)
    return malformed("malformed JSON at offset " + std::to_string(n) + ": "
                     + ec.message());
  return p.release();
}

std::string dump(const json::value& v) {
  return json::serialize(v);
}

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
  std::string name;  // a "name" being read in an array-form step
  std::string message; // set when a problem was found
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
// document named `what`), "" if there is none. Malformed JSON is left to
// parse_json to report.
std::string check_json(std::string_view text, bool spec,
                       const std::string& what = {}) {
  json::parse_options opts;
  opts.max_depth = std::numeric_limits<std::size_t>::max(); // we stop it
  json::basic_parser<json_checker> p(opts);
  p.handler().spec = spec;
  p.handler().what = what;
  json::error_code ec;
  auto n = p.write_some(false, text.data(), text.size(), ec);
  auto& h = p.handler();
  if (h.with_offset)
    h.message += " at offset " + std::to_string(n);
  return h.message;
}

/// Depth of `v`, counted up to `stop` + 1 (without recursion: a step's
/// output can be of any depth).
size_t depth_up_to(const json::value& v, size_t stop) {
  std::vector<std::pair<const json::value*, size_t>> todo{{&v, 0}};
  size_t deepest = 0;
  while (!todo.empty()) {
    auto [x, d] = todo.back();
    todo.pop_back();
    if (auto o = x->if_object()) {
      deepest = std::max(deepest, d + 1);
      if (deepest > stop)
        break;
      for (auto& kv : *o)
        todo.emplace_back(&kv.value(), d + 1);
    } else if (auto a = x->if_array()) {
      deepest = std::max(deepest, d + 1);
      if (deepest > stop)
        break;
      for (auto& e : *a)
        todo.emplace_back(&e, d + 1);
    }
  }
  return deepest;
}

} // namespace

outcome<process_spec> parse_spec(std::string_view text) {
  // First the checks that need the text, so that a tree is built only of
  // a document within the depth limit.
  if (auto problem = check_json(text, true); !problem.empty())
    return failure{errc::invalid_spec, std::move(problem)};
  auto v = parse_json(text, defaults::max_wrapped_json_depth);
  if (!v)
    return failure{errc::invalid_spec, "spec: " + v.error().context};
  return parse_spec(*v);
}

outcome<json::value> parse_user_json(std::string_view text,
                                     const std::string& what) {
  if (auto problem = check_json(text, false, what); !problem.empty())
    return failure{errc::invalid_json, std::move(problem)};
  auto v = parse_json(text);
  if (!v)
    return failure{errc::invalid_json, json_error(what, v.error().context)};
  return v;
}

bool deeper_than_limit(const json::value& v) {
  return depth_up_to(v, defaults::max_json_depth) > defaults::max_json_depth;
}

std::string json_error(const std::string& what, const std::string& err) {
  if (err.rfind("nested deeper", 0) == 0)
    return what + " is " + err;
  return what + ": " + err;
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
  if ((spec.retry.on & (retry_bit(error_kind::spec)
                        | retry_bit(error_kind::output)))
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

json::object merge_objects(const json::value& base, const json::object& over) {
  json::object result;
  if (base.is_object())
    result = base.get_object();
  for (auto& kv : over)
    result[kv.key()] = kv.value();
  return result;
}

std::string timestamp(uint64_t unix_ms) {
  if (unix_ms == 0)
    return {};
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d%H%M%S", &tm);
  return buf;
}

std::string iso_time(uint64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = buf;
  if (auto ms = unix_ms % 1000; ms != 0) {
    char frac[8];
    std::snprintf(frac, sizeof(frac), ".%03u", static_cast<unsigned>(ms));
    out += frac;
  }
  return out + "Z";
}

/// Why a date and second that are in range field by field are still no
/// time (empty: they are one). timegm would carry them into the next
/// month or minute.
static std::string calendar_problem(int year, int month, int day,
                                    int second) {
  if (day > days_in_month(year, month))
    return std::string(month_name(month)) + " " + std::to_string(year)
           + " has " + std::to_string(days_in_month(year, month))
           + " days, not " + std::to_string(day)
           + (month == 2 && day == 29 ? " (" + std::to_string(year)
                                          + " is not a leap year)"
                                      : "");
  if (second == 60)
    return "second 60 (a leap second) is not a time procman can keep; the "
           "seconds go from 00 to 59";
  return {};
}

outcome<uint64_t> parse_time(const std::string& text) {
  auto fail = [&] {
    return failure{errc::invalid_spec,
                   "\"" + text
                     + "\" is not a time: expected UTC YYYYMMDDHHMMSS "
                       "(20261201100000) or ISO 8601 (2026-12-01T10:00:00Z, "
                       "2026-12-01T11:00:00+01:00)"};
  };
  auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > text.size())
      return false;
    out = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i])))
        return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  std::tm tm{};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0, ms = 0;
  long offset = 0;
  if (text.size() == 14) {
    if (!digits(0, 4, y) || !digits(4, 2, mo) || !digits(6, 2, d)
        || !digits(8, 2, h) || !digits(10, 2, mi) || !digits(12, 2, se))
      return fail();
  } else {
    // YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)
    if (!digits(0, 4, y) || text.size() < 20 || text[4] != '-'
        || !digits(5, 2, mo) || text[7] != '-' || !digits(8, 2, d)
        || (text[10] != 'T' && text[10] != 't' && text[10] != ' ')
        || !digits(11, 2, h) || text[13] != ':' || !digits(14, 2, mi)
        || text[16] != ':' || !digits(17, 2, se))
      return fail();
    size_t pos = 19;
    if (pos < text.size() && text[pos] == '.') {
      size_t start = ++pos;
      while (pos < text.size()
             && std::isdigit(static_cast<unsigned char>(text[pos])))
        ++pos;
      if (pos == start)
        return fail();
      auto frac = text.substr(start, std::min<size_t>(3, pos - start));
      while (frac.size() < 3)
        frac += '0';
      ms = std::stoi(frac);
    }
    if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
      ++pos;
    } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      int oh = 0, om = 0;
      if (!digits(pos + 1, 2, oh) || pos + 3 >= text.size()
          || text[pos + 3] != ':' || !digits(pos + 4, 2, om) || oh > 23
          || om > 59)
        return fail();
      offset = (text[pos] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
      pos += 6;
    } else {
      return fail();
    }
    if (pos != text.size())
      return fail();
  }
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59
      || se > 60)
    return fail();
  if (auto why = calendar_problem(y, mo, d, se); !why.empty())
    return failure{errc::invalid_spec, "\"" + text + "\" is not a time: " + why};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  auto secs = static_cast<long long>(timegm(&tm)) - offset;
  if (secs < 0)
    return fail();
  return static_cast<uint64_t>(secs) * 1000 + static_cast<uint64_t>(ms);
}

uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(
    duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count());
}

json::object render_info(const process_record& x) {
  json::object steps;
  for (size_t i = 0; i < x.steps.size(); ++i)
    steps[x.steps[i].name] = to_string(
      i < x.step_states.size() ? x.step_states[i] : step_status::pending);
  json::object info{{"pid", x.pid},
                    {"status", to_string(x.status)},
                    {"created_at", timestamp(x.created_at)},
                    {"started_at", timestamp(x.started_at)},
                    {"finished_at", timestamp(x.finished_at)},
                    {"timeout", x.timeout},
                    {"steps", std::move(steps)},
                    {"last_completed_step", last_completed_step(x)}};
  if (x.last_completed < 0)
    info["last_completed_step"] = nullptr;
  if (x.timeout == 0)
    info["timeout"] = nullptr;  // the runner's default applies
  if (x.started_at == 0)
    info["started_at"] = nullptr;
  if (x.finished_at == 0)
    info["finished_at"] = nullptr;
  if (x.status == process_status::running && !x.progress.step.empty())
    info["progress"] = json::value_from(x.progress);
  else
    info["progress"] = nullptr;
  info["output"] = payload(x.output);
  if (x.status == process_status::error)
    info["error"] = json::value_from(x.error);
  else
    info["error"] = nullptr;
  if (x.cancel_requested && x.status == process_status::running)
    info["cancel_requested"] = true;
  // The job options and attempts only where they are used.
  if (x.priority != 0)
    info["priority"] = x.priority;
  if (!x.key.empty())
    info["key"] = x.key;
  if (!x.schedule.empty())
    info["schedule"] = x.schedule;
  if (x.status == process_status::queued && x.not_before != 0)
    info["not_before"] = timestamp(x.not_before);
  if (x.retry.max != 0)
    info["retry"] = json::value_from(x.retry);
  if (x.retry.max != 0 || x.attempts != 0) {
    info["attempts"] = x.attempts;
    json::array errs;
    for (auto& e : x.attempt_errors) {
      auto err = json::value_from(e.error).as_object();
      err.erase("stack"); // the final error has it; ten stacks drown the rest
      err["attempt"] = e.attempt;
      err["at"] = timestamp(e.at);
      errs.emplace_back(std::move(err));
    }
    info["attempt_errors"] = std::move(errs);
  }
  return info;
}

namespace {

/// A percent as users read it: a plain number with two decimals (60.20,
/// 100.00), where Boost.JSON would write 6.02E1.
std::string fixed_percent(const json::value& v) {
  double x = v.is_number() ? v.to_number<double>() : 0.0;
  if (!std::isfinite(x))
    x = 0;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f", std::round(x * 100) / 100);
  return buf;
}

/// `o` serialized compactly, with the members named in `fixed` written by
/// `write_member` instead.
template <class F>
std::string serialize_members(const json::object& o, F&& write_member) {
  std::string out = "{";
  bool first = true;
  for (auto& kv : o) {
    if (!first)
      out += ',';
    first = false;
    out += json::serialize(json::value(json::string(kv.key())));
    out += ':';
    out += write_member(kv.key(), kv.value());
  }
  out += '}';
  return out;
}

} // namespace

std::string dump_info(const json::object& info) {
  return serialize_members(info, [](json::string_view key,
                                    const json::value& v) {
    if (key != "progress" || !v.is_object())
      return json::serialize(v);
    return serialize_members(v.get_object(), [](json::string_view k,
                                                const json::value& x) {
      return k == "percent" ? fixed_percent(x) : json::serialize(x);
    });
  });
}

} // namespace procman
