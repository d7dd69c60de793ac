#include "procman/messages/json.hpp"

#include <cctype>
#include <chrono>
#include <ctime>
#include <limits>
#include <set>
#include <stdexcept>

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

namespace procman {

namespace json = boost::json;

namespace {

// -- field access with messages that name the field ----------------------------

const json::object& as_object(const json::value& v, const char* what) {
  if (!v.is_object())
    throw std::invalid_argument(std::string(what) + " must be an object");
  return v.get_object();
}

const json::value* find(const json::object& o, const char* key) {
  auto i = o.find(key);
  return i == o.end() ? nullptr : &i->value();
}

std::string get_string(const json::object& o, const char* key,
                       std::string fallback = {}) {
  auto v = find(o, key);
  if (!v || v->is_null())
    return fallback;
  if (!v->is_string())
    throw std::invalid_argument(std::string("field \"") + key
                                + "\" must be a string");
  return std::string(v->get_string());
}

template <class T>
T get_number(const json::object& o, const char* key, T fallback = T{}) {
  auto v = find(o, key);
  if (!v || v->is_null())
    return fallback;
  if (!v->is_number())
    throw std::invalid_argument(std::string("field \"") + key
                                + "\" must be a number");
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v->to_number<double>());
  } else {
    try {
      return v->to_number<T>();
    } catch (const std::exception&) {
      throw std::invalid_argument(std::string("field \"") + key
                                  + "\" is out of range");
    }
  }
}

bool get_bool(const json::object& o, const char* key, bool fallback = false) {
  auto v = find(o, key);
  if (!v || v->is_null())
    return fallback;
  if (!v->is_bool())
    throw std::invalid_argument(std::string("field \"") + key
                                + "\" must be true or false");
  return v->get_bool();
}

// A JSON payload kept as text: stored parsed in the JSON form.
json::value payload(const std::string& text) {
  if (text.empty())
    return nullptr;
  json::value v;
  std::string err;
  if (!parse_json(text, v, err, defaults::max_wrapped_json_depth))
    return json::string(text);
  return v;
}

std::string get_payload(const json::object& o, const char* key,
                        const char* fallback) {
  auto v = find(o, key);
  if (!v)
    return fallback;
  return json::serialize(*v);
}

template <class E>
E get_enum(const json::object& o, const char* key, E fallback) {
  auto str = get_string(o, key);
  if (str.empty())
    return fallback;
  E result;
  if (!from_string(str, result))
    throw std::invalid_argument(std::string("field \"") + key
                                + "\" has unknown value \"" + str + "\"");
  return result;
}

json::array strings(const std::vector<std::string>& xs) {
  json::array result;
  for (auto& x : xs)
    result.emplace_back(x);
  return result;
}

} // namespace

// -- step_spec ------------------------------------------------------------------

void tag_invoke(json::value_from_tag, json::value& v, const step_spec& x) {
  v = json::object{{"name", x.name},
                   {"class", x.cls},
                   {"args", payload(x.args)},
                   {"services", strings(x.services)}};
}

step_spec tag_invoke(json::value_to_tag<step_spec>, const json::value& v) {
  auto& o = as_object(v, "step");
  step_spec x;
  x.name = get_string(o, "name");
  x.cls = get_string(o, "class");
  x.args = get_payload(o, "args", "null");
  if (auto s = find(o, "services"); s && !s->is_null()) {
    if (!s->is_array())
      throw std::invalid_argument("field \"services\" must be an array");
    for (auto& e : s->get_array()) {
      if (!e.is_string())
        throw std::invalid_argument(
          "field \"services\" must list service names (strings)");
      x.services.emplace_back(e.get_string());
    }
  }
  return x;
}

// -- process_spec -----------------------------------------------------------------

void tag_invoke(json::value_from_tag, json::value& v, const process_spec& x) {
  json::array steps;
  for (auto& s : x.steps)
    steps.emplace_back(json::value_from(s));
  v = json::object{{"steps", std::move(steps)},
                   {"timeout", x.timeout},
                   {"data", payload(x.data)}};
}

process_spec tag_invoke(json::value_to_tag<process_spec>,
                        const json::value& v) {
  process_spec x;
  std::string err;
  if (!parse_spec(v, x, err))
    throw std::invalid_argument(err);
  return x;
}

// -- progress_info --------------------------------------------------------------

void tag_invoke(json::value_from_tag, json::value& v, const progress_info& x) {
  v = json::object{
    {"step", x.step}, {"percent", x.percent}, {"message", x.message}};
}

progress_info tag_invoke(json::value_to_tag<progress_info>,
                         const json::value& v) {
  auto& o = as_object(v, "progress");
  progress_info x;
  x.step = get_string(o, "step");
  x.percent = get_number<double>(o, "percent");
  x.message = get_string(o, "message");
  return x;
}

// -- error_info -------------------------------------------------------------------

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

error_info tag_invoke(json::value_to_tag<error_info>, const json::value& v) {
  auto& o = as_object(v, "error");
  error_info x;
  x.kind = get_enum(o, "kind", error_kind::none);
  x.step = get_string(o, "step");
  x.message = get_string(o, "message");
  x.stack = get_string(o, "stack");
  x.exit_code = get_number<int32_t>(o, "exit_code", -1);
  x.signal = get_number<int32_t>(o, "signal", 0);
  x.stderr_tail = get_string(o, "stderr");
  return x;
}

// -- process_record ---------------------------------------------------------------

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
}

process_record tag_invoke(json::value_to_tag<process_record>,
                          const json::value& v) {
  auto& o = as_object(v, "process record");
  process_record x;
  x.pid = get_string(o, "pid");
  x.status = get_enum(o, "status", process_status::queued);
  x.created_at = get_number<uint64_t>(o, "created_at");
  x.started_at = get_number<uint64_t>(o, "started_at");
  x.updated_at = get_number<uint64_t>(o, "updated_at");
  x.finished_at = get_number<uint64_t>(o, "finished_at");
  x.timeout = get_number<uint32_t>(o, "timeout");
  // A record with its steps dropped would be silently wrong: reject it.
  auto array_field = [&](const char* key) -> const json::array* {
    auto s = find(o, key);
    if (!s || s->is_null())
      return nullptr;
    if (!s->is_array())
      throw std::invalid_argument(std::string("field \"") + key
                                  + "\" must be an array");
    return &s->get_array();
  };
  if (auto s = array_field("steps"))
    for (auto& e : *s)
      x.steps.push_back(json::value_to<step_spec>(e));
  if (auto s = array_field("step_states"))
    for (auto& e : *s) {
      step_status st;
      if (!e.is_string() || !from_string(std::string(e.get_string()), st))
        throw std::invalid_argument("field \"step_states\" has an unknown state");
      x.step_states.push_back(st);
    }
  x.last_completed = get_number<int32_t>(o, "last_completed", -1);
  x.next_step = get_number<uint32_t>(o, "next_step");
  x.data = get_payload(o, "data", "{}");
  x.output = get_payload(o, "output", "null");
  if (auto p = find(o, "progress"); p && !p->is_null())
    x.progress = json::value_to<progress_info>(*p);
  if (auto e = find(o, "error"); e && !e->is_null())
    x.error = json::value_to<error_info>(*e);
  x.runner = get_string(o, "runner");
  x.exec_pid = get_number<int32_t>(o, "exec_pid");
  x.queue_seq = get_number<uint64_t>(o, "queue_seq");
  x.runs = get_number<uint32_t>(o, "runs");
  x.cancel_requested = get_bool(o, "cancel_requested");
  return x;
}

// -- transition -------------------------------------------------------------------

void tag_invoke(json::value_from_tag, json::value& v, const transition& x) {
  v = json::object{{"kind", to_string(x.kind)},
                   {"pid", x.pid},
                   {"source", x.source},
                   {"runner", x.runner},
                   {"step", x.step},
                   {"exec_pid", x.exec_pid},
                   {"timeout", x.timeout},
                   {"data", payload(x.data)},
                   {"output", payload(x.output)},
                   {"progress", json::value_from(x.progress)},
                   {"error", json::value_from(x.error)},
                   {"exec_path", x.exec_path},
                   {"spawn_errno", x.spawn_errno},
                   {"garbage", x.garbage}};
  if (!x.spec.steps.empty())
    v.as_object()["spec"] = json::value_from(x.spec);
}

transition tag_invoke(json::value_to_tag<transition>, const json::value& v) {
  auto& o = as_object(v, "transition");
  transition x;
  x.kind = get_enum(o, "kind", transition_kind::enqueue);
  x.pid = get_string(o, "pid");
  x.source = get_string(o, "source");
  x.runner = get_string(o, "runner");
  x.step = get_number<uint32_t>(o, "step");
  x.exec_pid = get_number<int32_t>(o, "exec_pid");
  x.timeout = get_number<uint32_t>(o, "timeout");
  if (auto s = find(o, "spec"); s && !s->is_null())
    x.spec = json::value_to<process_spec>(*s);
  auto text = [&](const char* key) {
    auto j = find(o, key);
    return (!j || j->is_null()) ? std::string{} : json::serialize(*j);
  };
  x.data = text("data");
  x.output = text("output");
  if (auto p = find(o, "progress"); p && !p->is_null())
    x.progress = json::value_to<progress_info>(*p);
  if (auto e = find(o, "error"); e && !e->is_null())
    x.error = json::value_to<error_info>(*e);
  x.exec_path = get_string(o, "exec_path");
  x.spawn_errno = get_number<int32_t>(o, "spawn_errno");
  x.garbage = get_string(o, "garbage");
  return x;
}

// -- log_entry, process_event, list_query ----------------------------------------

void tag_invoke(json::value_from_tag, json::value& v, const log_entry& x) {
  v = json::object{{"seq", x.seq},
                   {"time", x.time},
                   {"what", json::value_from(x.what)},
                   {"status_after", to_string(x.status_after)},
                   {"digest", digest_to_hex(x.digest)}};
}

log_entry tag_invoke(json::value_to_tag<log_entry>, const json::value& v) {
  auto& o = as_object(v, "log entry");
  log_entry x;
  x.seq = get_number<uint64_t>(o, "seq");
  x.time = get_number<uint64_t>(o, "time");
  if (auto w = find(o, "what"))
    x.what = json::value_to<transition>(*w);
  x.status_after = get_enum(o, "status_after", process_status::queued);
  auto d = get_string(o, "digest");
  if (!d.empty() && !digest_from_hex(d, x.digest))
    throw std::invalid_argument("field \"digest\" must be 16 hex digits");
  return x;
}

void tag_invoke(json::value_from_tag, json::value& v, const process_event& x) {
  v = json::object{{"seq", x.seq},
                   {"kind", to_string(x.kind)},
                   {"record", json::value_from(x.record)}};
}

process_event tag_invoke(json::value_to_tag<process_event>,
                         const json::value& v) {
  auto& o = as_object(v, "process event");
  process_event x;
  x.seq = get_number<uint64_t>(o, "seq");
  x.kind = get_enum(o, "kind", transition_kind::enqueue);
  if (auto r = find(o, "record"))
    x.record = json::value_to<process_record>(*r);
  return x;
}

void tag_invoke(json::value_from_tag, json::value& v, const list_query& x) {
  json::object o{{"limit", x.limit}};
  if (!x.any_status)
    o["status"] = to_string(x.status);
  v = std::move(o);
}

list_query tag_invoke(json::value_to_tag<list_query>, const json::value& v) {
  auto& o = as_object(v, "list query");
  list_query x;
  auto st = get_string(o, "status");
  x.any_status = st.empty();
  if (!x.any_status)
    x.status = get_enum(o, "status", process_status::queued);
  x.limit = get_number<uint32_t>(o, "limit", 100);
  return x;
}

// -- helpers ------------------------------------------------------------------------

std::string digest_to_hex(uint64_t x) {
  static const char* digits = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, x >>= 4)
    out[static_cast<size_t>(i)] = digits[x & 0xF];
  return out;
}

bool digest_from_hex(const std::string& str, uint64_t& out) {
  if (str.size() != 16)
    return false;
  uint64_t x = 0;
  for (auto c : str) {
    x <<= 4;
    if (c >= '0' && c <= '9')
      x |= static_cast<uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f')
      x |= static_cast<uint64_t>(c - 'a' + 10);
    else
      return false;
  }
  out = x;
  return true;
}

bool parse_json(std::string_view text, json::value& out, std::string& err,
                size_t max_depth) {
  json::error_code ec;
  json::parse_options opts;
  opts.max_depth = max_depth;
  json::stream_parser p({}, opts);
  auto n = p.write_some(text.data(), text.size(), ec);
  if (!ec && n < text.size()) {
    // Only white space may follow the document.
    for (auto i = n; i < text.size(); ++i)
      if (!std::isspace(static_cast<unsigned char>(text[i]))) {
        err = "malformed JSON at offset " + std::to_string(i)
              + ": extra characters after the document";
        return false;
      }
  }
  if (!ec)
    p.finish(ec);
  if (ec == json::error::too_deep) {
    err = "nested deeper than " + std::to_string(max_depth) + " levels";
    return false;
  }
  if (ec) {
    err = "malformed JSON at offset " + std::to_string(n) + ": " + ec.message();
    return false;
  }
  out = p.release();
  return true;
}

std::string dump(const json::value& v) {
  return json::serialize(v);
}

namespace {

bool parse_step(const std::string& name, const json::value& v, step_spec& out,
                std::string& err) {
  auto fail = [&](const std::string& what) {
    err = "step \"" + name + "\": " + what;
    return false;
  };
  if (!v.is_object())
    return fail("must be an object with a \"class\"");
  auto& o = v.get_object();
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
  return true;
}

} // namespace

bool parse_spec(const json::value& v, process_spec& out, std::string& err) {
  if (!v.is_object()) {
    err = "spec must be a JSON object with \"steps\"";
    return false;
  }
  auto& o = v.get_object();
  auto steps = find(o, "steps");
  if (!steps) {
    err = "spec: field \"steps\" is missing";
    return false;
  }
  process_spec result;
  if (steps->is_object()) {
    for (auto& kv : steps->get_object()) {
      step_spec s;
      if (!parse_step(std::string(kv.key()), kv.value(), s, err))
        return false;
      result.steps.push_back(std::move(s));
    }
  } else if (steps->is_array()) {
    size_t i = 0;
    for (auto& e : steps->get_array()) {
      auto idx = "#" + std::to_string(i++);
      if (!e.is_object()) {
        err = "step " + idx + ": must be an object with \"name\" and \"class\"";
        return false;
      }
      auto n = find(e.get_object(), "name");
      if (!n || !n->is_string() || n->get_string().empty()) {
        err = "step " + idx + ": field \"name\" must be a non-empty string";
        return false;
      }
      step_spec s;
      if (!parse_step(std::string(n->get_string()), e, s, err))
        return false;
      result.steps.push_back(std::move(s));
    }
  } else {
    err = "spec: field \"steps\" must be an object (name -> step) or an array";
    return false;
  }
  if (result.steps.empty()) {
    err = "spec: field \"steps\" has no steps";
    return false;
  }
  for (size_t i = 0; i < result.steps.size(); ++i)
    for (size_t j = i + 1; j < result.steps.size(); ++j)
      if (result.steps[i].name == result.steps[j].name) {
        err = "step \"" + result.steps[i].name + "\": name used twice";
        return false;
      }
  if (auto t = find(o, "timeout"); t && !t->is_null()) {
    if (!t->is_number()) {
      err = "spec: field \"timeout\" must be a number of seconds";
      return false;
    }
    auto secs = t->to_number<double>();
    if (secs < 0 || secs > 31536000) {
      err = "spec: field \"timeout\" must be between 0 and 31536000 seconds";
      return false;
    }
    result.timeout = static_cast<uint32_t>(secs);
  }
  if (auto d = find(o, "data"); d && !d->is_null()) {
    if (!d->is_object()) {
      err = "spec: field \"data\" must be an object";
      return false;
    }
    result.data = json::serialize(*d);
  }
  for (auto& kv : o) {
    auto k = kv.key();
    if (k != "steps" && k != "timeout" && k != "data") {
      err = "spec: unknown field \"" + std::string(k) + "\"";
      return false;
    }
  }
  out = std::move(result);
  return true;
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

bool parse_spec(std::string_view text, process_spec& out, std::string& err) {
  // First the checks that need the text, so that a tree is built only of
  // a document within the depth limit.
  if (auto problem = check_json(text, true); !problem.empty()) {
    err = std::move(problem);
    return false;
  }
  json::value v;
  if (!parse_json(text, v, err, defaults::max_wrapped_json_depth)) {
    err = "spec: " + err;
    return false;
  }
  return parse_spec(v, out, err);
}

bool parse_user_json(std::string_view text, json::value& out, std::string& err,
                     const std::string& what) {
  if (auto problem = check_json(text, false, what); !problem.empty()) {
    err = std::move(problem);
    return false;
  }
  if (!parse_json(text, out, err)) {
    err = json_error(what, err);
    return false;
  }
  return true;
}

bool deeper_than_limit(const json::value& v) {
  return depth_up_to(v, defaults::max_json_depth) > defaults::max_json_depth;
}

std::string json_error(const std::string& what, const std::string& err) {
  if (err.rfind("nested deeper", 0) == 0)
    return what + " is " + err;
  return what + ": " + err;
}

failure check_spec(process_spec& spec) {
  auto fail = [](std::string msg) {
    return failure{errc::invalid_spec, std::move(msg)};
  };
  if (spec.steps.empty())
    return fail("spec: field \"steps\" has no steps");
  std::string err;
  json::value v;
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
    if (!parse_user_json(s.args, v, err, what + ": field \"args\""))
      return fail(std::move(err));
    if (!v.is_null() && !v.is_array() && !v.is_object())
      return fail(what + ": field \"args\" must be an array or an object");
    s.args = json::serialize(v);
  }
  if (spec.timeout > 31536000)
    return fail("spec: field \"timeout\" must be between 0 and 31536000 "
                "seconds");
  if (spec.data.empty()) {
    spec.data = "{}";
  } else {
    if (!parse_user_json(spec.data, v, err, "spec: field \"data\""))
      return fail(std::move(err));
    if (v.is_null())
      v = json::object{};
    if (!v.is_object())
      return fail("spec: field \"data\" must be an object");
    spec.data = json::serialize(v);
  }
  return {};
}

bool spec_to_json(const process_spec& spec, std::string& out,
                  std::string& err) {
  // A spec built in code has not been through parse_spec: check what the
  // JSON mapping would otherwise turn into a string or cut.
  json::value v;
  if (!spec.data.empty()
      && !parse_user_json(spec.data, v, err, "spec: field \"data\""))
    return false;
  for (auto& s : spec.steps)
    if (!s.args.empty()
        && !parse_user_json(s.args, v, err,
                            "step \"" + s.name + "\": field \"args\""))
      return false;
  out = dump(json::value_from(spec));
  return true;
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
  return info;
}

} // namespace procman
