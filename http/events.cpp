#include "procman/http/events.hpp"

#include <algorithm>
#include <mutex>

#include <boost/json.hpp>

#include "procman/messages/defaults.hpp"
#include "procman/messages/time.hpp"

namespace procman::http {

namespace json = boost::json;

namespace {

/// What a stream writes per call at most: one batch of the log.
constexpr size_t max_out = 256 * 1024;

bool settled(process_status s) {
  return is_terminal(s) || s == process_status::interrupted;
}

bool schedule_event(transition_kind k) {
  return k == transition_kind::schedule_add
         || k == transition_kind::schedule_remove;
}

} // namespace

std::string sse_event(const std::string& id, const std::string& name,
                      const std::string& data) {
  std::string out;
  out.reserve(data.size() + 64);
  if (!id.empty())
    out += "id: " + id + "\n";
  out += "event: " + name + "\n";
  out += "data: " + data + "\n\n"; // JSON: one line
  return out;
}

// -- /events ------------------------------------------------------------------

/// One /events subscriber: writes from the feed's entries, or reads the
/// log itself while it is behind them.
class log_stream : public event_stream {
public:
  log_stream(event_feed& feed, uint64_t since) : feed_(feed), sent_(since) {
    ++feed_.streams_;
  }

  ~log_stream() override { --feed_.streams_; }

  bool next(std::string& out) override {
    auto& f = feed_;
    {
      std::lock_guard<std::mutex> kept{f.kept_mutex_};
      if (f.started_ && sent_ >= f.kept_from_) {
        // The feed has what comes next (or nothing new yet).
        if (sent_ >= f.last_)
          return true;
        auto i = f.kept_.begin() + static_cast<ptrdiff_t>(sent_ - f.kept_from_);
        for (; i != f.kept_.end() && out.size() < max_out; ++i) {
          out += i->second;
          sent_ = i->first;
        }
        return true;
      }
    }
    // Behind the feed (or it has not read yet): a batch of the log.
    log_export_request r;
    r.since = sent_;
    r.limit = defaults::http_events_batch;
    auto got = f.door_.call(r);
    if (!got)
      return true; // tried again at the next tick; the heartbeat goes on
    for (auto& e : got->entries) {
      out += event_feed::render(e);
      sent_ = e.seq;
    }
    if (got->entries.empty() && got->last_seq > sent_)
      sent_ = got->last_seq; // the rest was trimmed (retention)
    return true;
  }

private:
  event_feed& feed_;
  uint64_t sent_; ///< the last seq written (or skipped)
};

event_feed::event_feed(door& d) : door_(d) {
  // nop
}

std::string event_feed::render(const log_entry& e) {
  auto& t = e.what;
  json::object o{{"seq", e.seq},
                 {"time", iso_time(e.time)},
                 {"pid", t.pid},
                 {"event", to_string(t.kind)}};
  // A schedule's entry is of no process: it has no status.
  if (schedule_event(t.kind))
    o["status"] = nullptr;
  else
    o["status"] = to_string(e.status_after);
  o["source"] = t.source;
  if (!t.runner.empty())
    o["runner"] = t.runner;
  if (!t.schedule.empty())
    o["schedule"] = t.schedule;
  return sse_event(std::to_string(e.seq), "transition", json::serialize(o));
}

outcome<uint64_t> event_feed::last_seq() {
  log_export_request r;
  r.since = UINT64_MAX; // no entries: only the last number
  auto got = door_.call(r);
  if (!got)
    return got.error();
  return got->last_seq;
}

std::unique_ptr<event_stream> event_feed::subscribe(uint64_t since) {
  return std::make_unique<log_stream>(*this, since);
}

void event_feed::forget_if_unfollowed() {
  std::lock_guard<std::mutex> kept{kept_mutex_};
  if (streams_ == 0) {
    kept_.clear();
    started_ = false;
  }
}

void event_feed::refresh() {
  if (streams_ == 0)
    return forget_if_unfollowed();
  // The door is asked without the lock, so that streams write meanwhile;
  // only refreshes (one at a time) add entries.
  bool started;
  {
    std::lock_guard<std::mutex> kept{kept_mutex_};
    started = started_;
  }
  if (!started) {
    auto last = last_seq();
    if (!last)
      return;
    std::lock_guard<std::mutex> kept{kept_mutex_};
    kept_from_ = last_ = *last;
    started_ = true;
    return;
  }
  // Up to a few batches per tick: on the server's I/O thread (a store
  // here) it serves the other clients in between.
  for (int i = 0; i < 4; ++i) {
    log_export_request r;
    {
      std::lock_guard<std::mutex> kept{kept_mutex_};
      r.since = last_;
    }
    r.limit = defaults::http_events_batch;
    auto got = door_.call(r);
    if (!got)
      return;
    std::lock_guard<std::mutex> kept{kept_mutex_};
    for (auto& e : got->entries) {
      if (e.seq != last_ + 1) {
        // Entries trimmed meanwhile (retention): keep them contiguous.
        kept_.clear();
        kept_from_ = e.seq - 1;
      }
      kept_.emplace_back(e.seq, render(e));
      last_ = e.seq;
    }
    if (got->entries.empty() && got->last_seq > last_) {
      // The entries after last_ were trimmed (retention).
      kept_.clear();
      kept_from_ = last_ = got->last_seq;
    }
    while (kept_.size() > defaults::http_events_kept) {
      kept_from_ = kept_.front().first;
      kept_.pop_front();
    }
    if (got->entries.size() < defaults::http_events_batch)
      return;
  }
}

// -- /processes/{pid}/logs?follow=1 -------------------------------------------

namespace {

class output_follower : public event_stream {
public:
  output_follower(door& d, std::string pid, uint64_t after,
                  std::optional<output_stream> only)
    : door_(d), pid_(std::move(pid)), after_(after), only_(only) {
    // nop
  }

  bool next(std::string& out) override {
    if (ended_)
      return false;
    auto log = door_.call(output_request{pid_, after_});
    if (!log) {
      if (is(log.error(), errc::unknown_process)) {
        // Purged meanwhile: nothing more to come.
        out += sse_event({}, "end",
                         json::serialize(json::object{{"status", nullptr}}));
        ended_ = true;
        return false;
      }
      return true; // tried again at the next tick
    }
    // As door::follow_output: what was written and not read here was
    // dropped before it could be.
    uint64_t got = 0;
    for (auto& c : log->chunks)
      got += c.data.size();
    auto written = log->dropped_bytes + log->kept_bytes;
    seen_ += got;
    if (first_ && after_ > 0) {
      // Resumed: what came before chunk `after_` the client had (or was
      // told of).
      missed_ = written - seen_;
    }
    first_ = false;
    if (written > seen_ + missed_) {
      auto bytes = written - seen_ - missed_;
      missed_ += bytes;
      out += sse_event({}, "dropped",
                       json::serialize(json::object{{"bytes", bytes}}));
    }
    for (auto& c : log->chunks) {
      after_ = std::max(after_, c.seq);
      if (only_ && c.stream != *only_)
        continue;
      json::object o{{"seq", c.seq},
                     {"time", iso_time(c.time)},
                     {"stream", to_string(c.stream)},
                     {"step", c.step},
                     {"data", c.data}};
      out += sse_event(std::to_string(c.seq), "output", json::serialize(o));
    }
    after_ = std::max(after_, log->last_seq);
    if (!settled(log->status))
      return true;
    out += sse_event(
      {}, "end",
      json::serialize(json::object{{"status", to_string(log->status)}}));
    ended_ = true;
    return false;
  }

private:
  door& door_;
  std::string pid_;
  uint64_t after_;
  std::optional<output_stream> only_;
  uint64_t seen_ = 0;
  uint64_t missed_ = 0;
  bool first_ = true;
  bool ended_ = false;
};

} // namespace

std::unique_ptr<event_stream> follow_output(door& d, std::string pid,
                                            uint64_t after,
                                            std::optional<output_stream> only) {
  return std::make_unique<output_follower>(d, std::move(pid), after, only);
}

} // namespace procman::http
