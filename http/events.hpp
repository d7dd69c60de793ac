// The HTTP API's server-sent event streams (docs/http.md, "Events"):
// GET /events, one event per message log entry, and GET
// /processes/{pid}/logs?follow=1, a process's live output as it is
// written. The server (http/server.cpp) asks a stream for what is new
// whenever it has written what it had and at each of its ticks
// (defaults::http_stream_poll_ms); a stream reads through the front door
// only.
//
// Every /events subscriber is fed from one `event_feed`: at each tick the
// feed reads the log's new entries once (log_export_request) and keeps
// the last defaults::http_events_kept of them, rendered; a subscriber
// writes from there what it has not written. One that is further behind
// (it reconnected with an old Last-Event-ID, or its client reads slowly)
// reads the log itself, a batch per write, until it is within the feed's
// entries again. So 200 subscribers cost one log read per tick, and a
// slow one holds up nobody.
//
// Through a door that waits for an answer (a store node), the server reads
// on its writers' threads: the feed's refresh on one at a time, each
// stream's `next` on one at a time, streams and the refresh at once. The
// feed guards what it keeps for that; a stream is used by one thread at a
// time.

#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "procman/door/door.hpp"
#include "procman/messages/output_stream.hpp"

namespace procman::http {

/// A stream of server-sent events: the text the server writes next.
class event_stream {
public:
  virtual ~event_stream() = default;

  /// Appends what is new (whole events, SSE text) to `out`, at most some
  /// hundred kB; false once the stream has ended (`out` then holds its
  /// last events).
  virtual bool next(std::string& out) = 0;
};

/// The message log's recent entries, read once for every /events stream.
class event_feed {
public:
  explicit event_feed(door& d);

  /// Reads the entries committed since the last call, if any stream
  /// follows the feed (none: forgets what it kept). One call at a time.
  void refresh();

  /// Forgets what it kept if no stream follows it; reads nothing.
  void forget_if_unfollowed();

  /// The log's last sequence number now (a read). Errors: the door's.
  outcome<uint64_t> last_seq();

  /// A stream of the entries after `since` (docs/http.md, "Events").
  std::unique_ptr<event_stream> subscribe(uint64_t since);

  /// The SSE text of one log entry: `id`, `event: transition`, `data`.
  static std::string render(const log_entry& e);

private:
  friend class log_stream;

  door& door_;
  /// Guards the four below: `refresh` changes them, streams read them.
  std::mutex kept_mutex_;
  /// Entries (seq, SSE text) after `kept_from_`, up to `last_`, in order.
  std::deque<std::pair<uint64_t, std::string>> kept_;
  uint64_t kept_from_ = 0;
  uint64_t last_ = 0;
  bool started_ = false;
  std::atomic<size_t> streams_{0};
};

/// A stream of `pid`'s live output after chunk `after` (only `only`'s if
/// given), one `output` event per chunk, until the process settles
/// (finished, error, cancelled, interrupted): then an `end` event with its
/// status. The output that the store dropped before it was read is told
/// in a `dropped` event.
std::unique_ptr<event_stream> follow_output(door& d, std::string pid,
                                            uint64_t after,
                                            std::optional<output_stream> only);

/// The SSE text of one event.
std::string sse_event(const std::string& id, const std::string& name,
                      const std::string& data);

} // namespace procman::http
