#include "procman/messages/json.hpp"

#include <cctype>

#include <boost/json.hpp>

#include "procman/messages/spec_check.hpp"
#include "procman/messages/time.hpp"

namespace procman {

namespace json = boost::json;

namespace {

// -- reading fields with messages that name the field -------------------------

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
    return i == o_->end() ? std::string{fallback} : json::serialize(i->value());
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

json::array strings(const std::vector<std::string>& xs) {
  json::array result;
  for (auto& x : xs)
    result.emplace_back(x);
  return result;
}

} // namespace

// -- JSON forms ---------------------------------------------------------------

void tag_invoke(json::value_from_tag, json::value& v, const step_spec& x) {
  v = json::object{{"name", x.name},
                   {"class", x.cls},
                   {"args", json_payload(x.args)},
                   {"services", strings(x.services)}};
}

void tag_invoke(json::value_from_tag, json::value& v, const process_spec& x) {
  json::array steps;
  for (auto& s : x.steps)
    steps.emplace_back(json::value_from(s));
  json::object o{{"steps", std::move(steps)},
                 {"timeout", x.timeout},
                 {"data", json_payload(x.data)}};
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
  v = json::object{
    {"attempt", x.attempt}, {"at", x.at}, {"error", json::value_from(x.error)}};
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
                   {"data", json_payload(x.data)},
                   {"output", json_payload(x.output)},
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
  if (!x.step_times.empty()) {
    json::array times;
    for (auto& t : x.step_times)
      times.emplace_back(json::array{t.started_at, t.ended_at});
    o["step_times"] = std::move(times);
  }
}

// -- readers ------------------------------------------------------------------

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
  if (auto a = f.array("step_times"))
    for (auto& e : *a) {
      auto* pair = e.if_array();
      json::error_code ec;
      step_time t;
      if (pair != nullptr && pair->size() == 2) {
        t.started_at = (*pair)[0].to_number<uint64_t>(ec);
        if (!ec)
          t.ended_at = (*pair)[1].to_number<uint64_t>(ec);
      }
      if (pair == nullptr || pair->size() != 2 || ec) {
        f.fail("field \"step_times\" must list [started_at, ended_at] pairs "
               "of unix milliseconds");
        break;
      }
      x.step_times.push_back(t);
    }
  return f.result(std::move(x));
}

// -- helpers ------------------------------------------------------------------

json::value json_payload(const std::string& text) {
  if (text.empty())
    return nullptr;
  auto v = parse_json(text, defaults::max_wrapped_json_depth);
  if (!v)
    return json::string(text);
  return std::move(*v);
}

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

bool deeper_than_limit(const json::value& v) {
  return depth_up_to(v, defaults::max_json_depth) > defaults::max_json_depth;
}

std::string json_error(const std::string& what, const std::string& err) {
  if (err.rfind("nested deeper", 0) == 0)
    return what + " is " + err;
  return what + ": " + err;
}

json::object merge_objects(const json::value& base, const json::object& over) {
  json::object result;
  if (base.is_object())
    result = base.get_object();
  for (auto& kv : over)
    result[kv.key()] = kv.value();
  return result;
}

} // namespace procman
