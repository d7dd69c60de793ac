#include "procman/messages/log_format.hpp"

#include <stdexcept>

#include <boost/json.hpp>

#include "procman/messages/json.hpp"

namespace procman {

namespace json = boost::json;

namespace {

json::value payload_value(const std::string& text) {
  if (text.empty())
    return nullptr;
  json::value v;
  std::string err;
  if (!parse_json(text, v, err, defaults::max_wrapped_json_depth))
    return json::string(text);
  return v;
}

} // namespace

json::object log_header(const std::string& store, uint64_t since,
                        const std::string& pid, uint64_t now) {
  json::object o{{"format", log_format_name},
                 {"version", log_format_version},
                 {"store", store},
                 {"exported_at", timestamp(now)},
                 {"since", since}};
  o["pid"] = pid.empty() ? json::value(nullptr) : json::value(pid);
  return o;
}

json::object log_line(const log_entry& e) {
  auto& t = e.what;
  json::object o{{"type", "entry"},
                 {"seq", e.seq},
                 {"time", e.time},
                 {"source", t.source},
                 {"event", to_string(t.kind)},
                 {"pid", t.pid},
                 {"status_after", to_string(e.status_after)},
                 {"digest", digest_to_hex(e.digest)}};
  if (!t.runner.empty())
    o["runner"] = t.runner;
  switch (t.kind) {
    case transition_kind::step_started:
    case transition_kind::step_completed:
    case transition_kind::interrupt:
      o["step"] = t.step;
      break;
    case transition_kind::progress:
      o["step"] = t.step;
      o["progress"] = json::value_from(t.progress);
      break;
    case transition_kind::start:
      o["exec_pid"] = t.exec_pid;
      break;
    default:
      break;
  }
  if (!t.json.empty())
    o["payload"] = payload_value(t.json);
  if (t.error.kind != error_kind::none || !t.error.message.empty()
      || t.error.exit_code >= 0 || t.error.signal != 0
      || !t.error.stderr_tail.empty() || !t.error.step.empty())
    o["error"] = json::value_from(t.error);
  return o;
}

json::object record_line(const process_record& r) {
  return json::object{{"type", "record"}, {"record", json::value_from(r)}};
}

log_entry parse_log_line(const json::object& o) {
  auto str = [&](const char* key, bool required) -> std::string {
    auto v = o.if_contains(key);
    if (!v || v->is_null()) {
      if (required)
        throw std::invalid_argument(std::string("field \"") + key
                                    + "\" is missing");
      return {};
    }
    if (!v->is_string())
      throw std::invalid_argument(std::string("field \"") + key
                                  + "\" must be a string");
    return std::string(v->get_string());
  };
  auto num = [&](const char* key, bool required) -> uint64_t {
    auto v = o.if_contains(key);
    if (!v || v->is_null()) {
      if (required)
        throw std::invalid_argument(std::string("field \"") + key
                                    + "\" is missing");
      return 0;
    }
    if (!v->is_number())
      throw std::invalid_argument(std::string("field \"") + key
                                  + "\" must be a number");
    return v->to_number<uint64_t>();
  };
  log_entry e;
  e.seq = num("seq", true);
  e.time = num("time", true);
  auto& t = e.what;
  t.source = str("source", false);
  auto event = str("event", true);
  if (!from_string(event, t.kind))
    throw std::invalid_argument("field \"event\" has unknown value \"" + event
                                + "\"");
  t.pid = str("pid", true);
  auto after = str("status_after", true);
  if (!from_string(after, e.status_after))
    throw std::invalid_argument("field \"status_after\" has unknown value \""
                                + after + "\"");
  auto digest = str("digest", true);
  if (!digest_from_hex(digest, e.digest))
    throw std::invalid_argument("field \"digest\" must be 16 hex digits");
  t.runner = str("runner", false);
  t.step = static_cast<uint32_t>(num("step", false));
  if (auto v = o.if_contains("exec_pid"); v && v->is_number())
    t.exec_pid = v->to_number<int32_t>();
  if (auto v = o.if_contains("payload"))
    t.json = json::serialize(*v);
  if (auto v = o.if_contains("progress"); v && !v->is_null())
    t.progress = json::value_to<progress_info>(*v);
  if (auto v = o.if_contains("error"); v && !v->is_null())
    t.error = json::value_to<error_info>(*v);
  return e;
}

bool read_log(std::istream& in, log_file& out, std::string& err) {
  out = log_file{};
  std::string line;
  size_t n = 0;
  bool header = false;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    auto where = "line " + std::to_string(n) + ": ";
    json::value v;
    if (!parse_json(line, v, err, defaults::max_wrapped_json_depth)) {
      err = where + err;
      return false;
    }
    if (!v.is_object()) {
      err = where + "must be a JSON object";
      return false;
    }
    auto& o = v.get_object();
    try {
      if (!header) {
        auto f = o.if_contains("format");
        if (!f || !f->is_string() || f->get_string() != log_format_name) {
          err = where + "not a procman log (the first line must have "
                        "\"format\": \"procman-log\")";
          return false;
        }
        auto ver = o.if_contains("version");
        if (!ver || !ver->is_int64() || ver->get_int64() < 1
            || ver->get_int64() > log_format_version) {
          err = where + "unsupported log format version (this procman reads "
                        "version "
                + std::to_string(log_format_version) + ")";
          return false;
        }
        out.version = static_cast<int>(ver->get_int64());
        if (auto s = o.if_contains("store"); s && s->is_string())
          out.store = std::string(s->get_string());
        if (auto s = o.if_contains("since"); s && s->is_number())
          out.since = s->to_number<uint64_t>();
        if (auto s = o.if_contains("pid"); s && s->is_string())
          out.pid = std::string(s->get_string());
        header = true;
        continue;
      }
      auto type = o.if_contains("type");
      if (!type || !type->is_string()) {
        err = where + "field \"type\" must be \"entry\" or \"record\"";
        return false;
      }
      if (type->get_string() == "entry") {
        auto e = parse_log_line(o);
        if (!out.entries.empty() && e.seq <= out.entries.back().seq) {
          err = where + "sequence numbers must increase (seq "
                + std::to_string(e.seq) + " after "
                + std::to_string(out.entries.back().seq) + ")";
          return false;
        }
        out.entries.push_back(std::move(e));
      } else if (type->get_string() == "record") {
        auto r = o.if_contains("record");
        if (!r) {
          err = where + "field \"record\" is missing";
          return false;
        }
        out.records.push_back(json::value_to<process_record>(*r));
      } else {
        err = where + "field \"type\" must be \"entry\" or \"record\"";
        return false;
      }
    } catch (const std::exception& ex) {
      err = where + ex.what();
      return false;
    }
  }
  if (!header) {
    err = "empty log: no header line";
    return false;
  }
  return true;
}

} // namespace procman
