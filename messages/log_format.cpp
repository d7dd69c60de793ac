#include "procman/messages/log_format.hpp"

#include <cstring>

#include <boost/json.hpp>

#include "procman/messages/json.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/messages/time.hpp"

namespace procman {

namespace json = boost::json;

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
    case transition_kind::enqueue:
      o["payload"] = json::value_from(t.spec);
      break;
    case transition_kind::start:
      o["exec_pid"] = t.exec_pid;
      o["payload"] = json::object{{"timeout", t.timeout}};
      break;
    case transition_kind::step_started:
      o["step"] = t.step;
      break;
    case transition_kind::step_completed:
      o["step"] = t.step;
      if (!t.output.empty())
        o["payload"] = json_payload(t.output);
      break;
    case transition_kind::schedule_add:
      o["cron"] = t.cron;
      o["payload"] = json::value_from(t.spec);
      break;
    case transition_kind::progress:
      o["step"] = t.step;
      o["progress"] = json::value_from(t.progress);
      break;
    case transition_kind::interrupt:
      o["step"] = t.step;
      if (!t.output.empty())
        o["payload"] = json_payload(t.output);
      break;
    case transition_kind::finish:
      if (!t.output.empty())
        o["payload"] = json_payload(t.output);
      break;
    case transition_kind::proceed:
      o["payload"] = json_payload(t.data.empty() ? "{}" : t.data);
      break;
    default:
      break;
  }
  if (t.error.kind != error_kind::none || !t.error.message.empty()
      || t.error.exit_code >= 0 || t.error.signal != 0
      || !t.error.stderr_tail.empty() || !t.error.step.empty())
    o["error"] = json::value_from(t.error);
  if (!t.exec_path.empty())
    o["exec_path"] = t.exec_path;
  if (t.spawn_errno != 0)
    o["spawn_errno"] = t.spawn_errno;
  if (!t.garbage.empty())
    o["garbage"] = t.garbage;
  if (!t.schedule.empty())
    o["schedule"] = t.schedule;
  if (t.due != 0)
    o["due"] = t.due;
  return o;
}

failure read_payload(transition& t, const json::value& payload) {
  auto what = "the " + to_string(t.kind) + " payload";
  switch (t.kind) {
    case transition_kind::enqueue:
    case transition_kind::schedule_add: {
      auto spec = parse_spec(payload);
      if (!spec)
        return failure{errc::invalid_spec, what + ": " + spec.error().context};
      t.spec = std::move(*spec);
      return {};
    }
    case transition_kind::start: {
      auto o = payload.if_object();
      auto timeout = o ? o->if_contains("timeout") : nullptr;
      if (timeout == nullptr || !timeout->is_number())
        return failure{errc::invalid_json,
                       what + " must be {\"timeout\": seconds}"};
      t.timeout = timeout->to_number<uint32_t>();
      return {};
    }
    case transition_kind::proceed:
      t.data = json::serialize(payload);
      return {};
    case transition_kind::interrupt:
    case transition_kind::finish:
    case transition_kind::step_completed:
      t.output = json::serialize(payload);
      return {};
    default:
      return {};
  }
}

namespace {

const std::string cannot_start = "cannot start executor ";
const std::string garbage_prefix
  = "executor wrote garbage on its report channel: ";

} // namespace

void upgrade_failure(transition& t) {
  if (t.kind != transition_kind::fail || t.error.kind != error_kind::crash
      || t.spawn_errno != 0 || !t.garbage.empty())
    return;
  auto& msg = t.error.message;
  if (msg.compare(0, cannot_start.size(), cannot_start) == 0) {
    // "cannot start executor <path>: <strerror(errno)>"
    auto colon = msg.rfind(": ");
    if (colon == std::string::npos || colon < cannot_start.size())
      return;
    auto text = msg.substr(colon + 2);
    for (int e = 1; e < 134; ++e)
      if (text == std::strerror(e)) {
        t.spawn_errno = e;
        t.exec_path = msg.substr(cannot_start.size(),
                                 colon - cannot_start.size());
        return;
      }
  } else if (msg.compare(0, garbage_prefix.size(), garbage_prefix) == 0) {
    t.garbage = msg.substr(garbage_prefix.size());
  }
}

json::object record_line(const process_record& r) {
  return json::object{{"type", "record"}, {"record", json::value_from(r)}};
}

outcome<log_entry> parse_log_line(const json::object& o) {
  failure problem;
  auto fail = [&](std::string what) {
    if (!problem)
      problem = failure{errc::invalid_json, std::move(what)};
  };
  auto field = [](const char* key) {
    return std::string("field \"") + key + "\"";
  };
  auto str = [&](const char* key, bool required) -> std::string {
    auto v = o.if_contains(key);
    if (!v || v->is_null()) {
      if (required)
        fail(field(key) + " is missing");
      return {};
    }
    if (!v->is_string()) {
      fail(field(key) + " must be a string");
      return {};
    }
    return std::string(v->get_string());
  };
  auto num = [&](const char* key, bool required) -> uint64_t {
    auto v = o.if_contains(key);
    if (!v || v->is_null()) {
      if (required)
        fail(field(key) + " is missing");
      return 0;
    }
    json::error_code ec;
    auto x = v->is_number() ? v->to_number<uint64_t>(ec) : 0;
    if (!v->is_number() || ec)
      fail(field(key) + " must be a non-negative integer");
    return x;
  };
  log_entry e;
  e.seq = num("seq", true);
  e.time = num("time", true);
  auto& t = e.what;
  t.source = str("source", false);
  auto event = str("event", true);
  if (auto kind = from_string<transition_kind>(event))
    t.kind = *kind;
  else if (!event.empty())
    fail("field \"event\" has unknown value \"" + event + "\"");
  t.pid = str("pid", t.kind != transition_kind::schedule_add
                       && t.kind != transition_kind::schedule_remove);
  auto after = str("status_after", true);
  if (auto status = from_string<process_status>(after))
    e.status_after = *status;
  else if (!after.empty())
    fail("field \"status_after\" has unknown value \"" + after + "\"");
  if (auto digest = digest_from_hex(str("digest", true)))
    e.digest = *digest;
  else
    fail("field \"digest\" must be 16 hex digits");
  t.runner = str("runner", false);
  t.step = static_cast<uint32_t>(num("step", false));
  if (auto v = o.if_contains("exec_pid"); v && v->is_number())
    t.exec_pid = v->to_number<int32_t>();
  if (problem)
    return problem;
  if (auto v = o.if_contains("payload"))
    if (auto f = read_payload(t, *v))
      return f;
  if (auto v = o.if_contains("progress"); v && !v->is_null()) {
    auto progress = read_progress_info(*v);
    if (!progress)
      return progress.error();
    t.progress = std::move(*progress);
  }
  if (auto v = o.if_contains("error"); v && !v->is_null()) {
    auto error = read_error_info(*v);
    if (!error)
      return error.error();
    t.error = std::move(*error);
  }
  t.exec_path = str("exec_path", false);
  if (auto v = o.if_contains("spawn_errno"); v && v->is_number())
    t.spawn_errno = v->to_number<int32_t>();
  t.garbage = str("garbage", false);
  t.schedule = str("schedule", false);
  t.cron = str("cron", false);
  t.due = num("due", false);
  if (problem)
    return problem;
  upgrade_failure(t);
  return e;
}

outcome<log_file> read_log(std::istream& in) {
  log_file out;
  std::string line;
  size_t n = 0;
  bool header = false;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    auto where = "line " + std::to_string(n) + ": ";
    auto refuse = [&](const std::string& what) {
      return failure{errc::invalid_json, where + what};
    };
    auto v = parse_json(line, defaults::max_wrapped_json_depth);
    if (!v)
      return refuse(v.error().context);
    if (!v->is_object())
      return refuse("must be a JSON object");
    auto& o = v->get_object();
    if (!header) {
      auto f = o.if_contains("format");
      if (!f || !f->is_string() || f->get_string() != log_format_name)
        return refuse("not a procman log (the first line must have "
                      "\"format\": \"procman-log\")");
      auto ver = o.if_contains("version");
      if (!ver || !ver->is_int64() || ver->get_int64() < 1
          || ver->get_int64() > log_format_version)
        return refuse("unsupported log format version (this procman reads "
                      "version "
                      + std::to_string(log_format_version) + ")");
      out.version = static_cast<int>(ver->get_int64());
      if (auto s = o.if_contains("store"); s && s->is_string())
        out.store = std::string(s->get_string());
      if (auto s = o.if_contains("since"); s && s->is_uint64())
        out.since = s->get_uint64();
      else if (s && s->is_int64() && s->get_int64() >= 0)
        out.since = static_cast<uint64_t>(s->get_int64());
      if (auto s = o.if_contains("pid"); s && s->is_string())
        out.pid = std::string(s->get_string());
      header = true;
      continue;
    }
    auto type = o.if_contains("type");
    if (!type || !type->is_string())
      return refuse("field \"type\" must be \"entry\" or \"record\"");
    if (type->get_string() == "entry") {
      auto e = parse_log_line(o);
      if (!e)
        return refuse(e.error().context);
      if (!out.entries.empty() && e->seq <= out.entries.back().seq)
        return refuse("sequence numbers must increase (seq "
                      + std::to_string(e->seq) + " after "
                      + std::to_string(out.entries.back().seq) + ")");
      out.entries.push_back(std::move(*e));
    } else if (type->get_string() == "record") {
      auto r = o.if_contains("record");
      if (!r)
        return refuse("field \"record\" is missing");
      auto rec = read_process_record(*r);
      if (!rec)
        return refuse(rec.error().context);
      out.records.push_back(std::move(*rec));
    } else {
      return refuse("field \"type\" must be \"entry\" or \"record\"");
    }
  }
  if (!header)
    return failure{errc::invalid_json, "empty log: no header line"};
  return out;
}

} // namespace procman
