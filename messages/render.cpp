#include "procman/messages/render.hpp"

#include <cmath>
#include <cstdio>

#include <boost/json.hpp>

#include "procman/messages/json.hpp"
#include "procman/messages/time.hpp"

namespace procman {

namespace json = boost::json;

namespace {

/// Per step: when it started and ended (unix ms) and how long it ran; null
/// where not yet (or not known: records of older procman have no times).
json::object render_step_times(const process_record& x) {
  auto ms = [](uint64_t t) -> json::value {
    if (t == 0)
      return nullptr;
    return t;
  };
  json::object out;
  for (size_t i = 0; i < x.steps.size(); ++i) {
    auto t = i < x.step_times.size() ? x.step_times[i] : step_time{};
    json::value took = nullptr;
    if (t.started_at != 0 && t.ended_at >= t.started_at)
      took = t.ended_at - t.started_at;
    out[x.steps[i].name] = json::object{{"started_ms", ms(t.started_at)},
                                        {"ended_ms", ms(t.ended_at)},
                                        {"duration_ms", std::move(took)}};
  }
  return out;
}

} // namespace

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
                    {"step_times", render_step_times(x)},
                    {"last_completed_step", last_completed_step(x)}};
  if (x.last_completed < 0)
    info["last_completed_step"] = nullptr;
  if (x.timeout == 0)
    info["timeout"] = nullptr; // the runner's default applies
  if (x.started_at == 0)
    info["started_at"] = nullptr;
  if (x.finished_at == 0)
    info["finished_at"] = nullptr;
  if (x.status == process_status::running && !x.progress.step.empty())
    info["progress"] = json::value_from(x.progress);
  else
    info["progress"] = nullptr;
  info["output"] = json_payload(x.output);
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

json::object render_schedule(const schedule_record& x) {
  auto when = [](uint64_t ms) -> json::value {
    if (ms == 0)
      return nullptr;
    return json::value(timestamp(ms));
  };
  return {{"name", x.name},
          {"cron", x.cron},
          {"spec", json::value_from(x.spec)},
          {"next_due", when(x.next_due)},
          {"last_fired", when(x.last_fired)},
          {"last_pid",
           x.last_fired == 0 ? json::value(nullptr) : json::value(x.last_pid)}};
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
