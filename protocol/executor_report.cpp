#include "procman/protocol/executor_report.hpp"

#include <cmath>

#include <boost/json.hpp>

#include "procman/messages/json.hpp"

namespace procman {

namespace json = boost::json;

namespace {

const char* event_name(report_event x) {
  switch (x) {
    case report_event::step_started:
      return "step_started";
    case report_event::progress:
      return "progress";
    case report_event::step_completed:
      return "step_completed";
    case report_event::finished:
      return "finished";
    case report_event::interrupted:
      return "interrupted";
    case report_event::error:
      return "error";
    case report_event::output:
      return "output";
    default:
      return nullptr;
  }
}

/// Two decimals are plenty, and whole numbers print as integers
/// (Boost.JSON writes every double with an exponent: 3.3E1).
json::value percent_value(double percent) {
  auto rounded = std::round(percent * 100) / 100;
  if (rounded == std::floor(rounded))
    return static_cast<int64_t>(rounded);
  return rounded;
}

} // namespace

std::string encode_report(const executor_report& x) {
  auto event = event_name(x.event);
  if (event == nullptr)
    return x.text; // garbage or an unknown event: as it was read
  json::object line{{"event", event}};
  auto with_step = [&] {
    if (!x.step)
      return;
    line["step"] = *x.step;
    if (!x.name.empty())
      line["name"] = x.name;
  };
  switch (x.event) {
    case report_event::progress:
      with_step();
      line["percent"] = percent_value(x.percent);
      line["message"] = x.message;
      break;
    case report_event::finished:
      line["output"] = x.output;
      break;
    case report_event::interrupted:
      with_step();
      line["output"] = x.output;
      break;
    case report_event::error:
      with_step();
      line["error"] = json::value_from(x.error);
      break;
    case report_event::output:
      with_step();
      line["stream"] = to_string(x.stream);
      line["data"] = x.data;
      break;
    case report_event::step_completed:
      with_step();
      if (!x.output.is_null())
        line["output"] = x.output;
      break;
    default:
      with_step();
      break;
  }
  return json::serialize(line);
}

executor_report decode_report(std::string_view line) {
  executor_report x;
  auto v = parse_json(line, defaults::max_wrapped_json_depth);
  const json::object* o = v ? v->if_object() : nullptr;
  const json::value* ev = o ? o->if_contains("event") : nullptr;
  if (ev == nullptr || !ev->is_string()) {
    x.text = std::string(line);
    return x;
  }
  auto event = ev->get_string();
  if (event == "step_started")
    x.event = report_event::step_started;
  else if (event == "progress")
    x.event = report_event::progress;
  else if (event == "step_completed")
    x.event = report_event::step_completed;
  else if (event == "finished")
    x.event = report_event::finished;
  else if (event == "interrupted")
    x.event = report_event::interrupted;
  else if (event == "error")
    x.event = report_event::error;
  else if (event == "output")
    x.event = report_event::output;
  else
    x.event = report_event::other;
  if (auto s = o->if_contains("step"); s && s->is_int64() && s->get_int64() >= 0
                                       && s->get_int64() <= int64_t{UINT32_MAX})
    x.step = static_cast<uint32_t>(s->get_int64());
  if (auto n = o->if_contains("name"); n && n->is_string())
    x.name = std::string(n->get_string());
  switch (x.event) {
    case report_event::progress:
      if (auto p = o->if_contains("percent"); p && p->is_number())
        x.percent = p->to_number<double>();
      if (auto m = o->if_contains("message"); m && m->is_string())
        x.message = std::string(m->get_string());
      break;
    case report_event::finished:
    case report_event::interrupted:
      if (auto out = o->if_contains("output"))
        x.output = *out;
      else
        x.output = json::object{};
      break;
    case report_event::step_completed:
      // The next step's input, when the executor sends it.
      if (auto out = o->if_contains("output"))
        x.output = *out;
      break;
    case report_event::error:
      if (auto e = o->if_contains("error")) {
        if (auto error = read_error_info(*e))
          x.error = std::move(*error);
        else
          x.error.message = "unreadable error report: " + error.error().context;
      }
      if (x.error.kind == error_kind::none)
        x.error.kind = error_kind::exception;
      break;
    case report_event::output: {
      // A line without a known stream or its text is not output this
      // procman understands: ignored like an unknown event.
      auto st = o->if_contains("stream");
      auto stream = st && st->is_string() ? output_stream_from(st->get_string())
                                          : std::nullopt;
      auto d = o->if_contains("data");
      if (!stream || !d || !d->is_string()) {
        x.event = report_event::other;
        x.text = std::string(event);
        break;
      }
      x.stream = *stream;
      x.data = std::string(d->get_string());
      break;
    }
    case report_event::other:
      x.text = std::string(event);
      break;
    default:
      break;
  }
  return x;
}

} // namespace procman
