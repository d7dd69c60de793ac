// The counters table: what /metrics reports (docs/http.md, "Metrics"),
// kept up to date in the write transaction of each change, so that a
// scrape reads one small table and never the records, and every program
// on the store (a runner, `procman web`, a store node) reports the same
// durable numbers. A transition that commits moves its counters with it;
// one refused or lost with a crash moves none.
//
//   counters  name -> u64 big-endian
//   run_times no longer written: a run's start is in its status index
//             entry (records.hpp), a step's start in its record; what an
//             older procman left there is dropped when the store opens
//
// Names (the rendering in http/metrics.cpp maps them to metric families):
//   state:<status>              gauge: records per status
//   queued:<priority>           gauge: queued records per priority
//   total:<event>               counter: enqueued, claimed, started,
//                               finished, cancelled, interrupted,
//                               retried, purged, commits
//   total:failed:<error kind>   counter: processes that ended in error
//   total:attempt_failed:<kind> counter: failed attempts (retried or not)
//   hist:<name>[:<label>]:le:<bound>, ...:sum, ...:count
//                               histograms (bucket counts not cumulative;
//                               bounds in the histogram's unit): wait
//                               (ms, due -> claim), run (ms, start ->
//                               end of run), step:<class> (ms),
//                               commit (us, one OS process's commits,
//                               written with its next commit)
//   built                       u64 1: the counters were built for the
//                               records present (`build`)

#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "procman/messages/defaults.hpp"
#include "procman/messages/types.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables::counters {

/// Adds `delta` to counter `name` (a gauge stays at 0 rather than wrap),
/// written with the transaction's other changes by `flush`.
void add(const tx& t, const std::string& name, int64_t delta);

/// Forgets the changes not yet written (a transaction body starts again).
void discard();

/// Writes the changes of this thread's transaction: once per counter.
void flush(const tx& t);

/// Counts one observation `x` into histogram `name` with `bounds`.
template <size_t N>
void observe(const tx& t, const std::string& name, const uint64_t (&bounds)[N],
             uint64_t x) {
  std::string le = "+Inf";
  for (auto b : bounds)
    if (x <= b) {
      le = std::to_string(b);
      break;
    }
  add(t, name + ":le:" + le, 1);
  add(t, name + ":sum", static_cast<int64_t>(x));
  add(t, name + ":count", 1);
}

/// The gauges of a record written over `old` (null: a new record).
void saved(const tx& t, const process_record* old, const process_record& rec);

/// The gauges and the purge count of a record removed.
void removed(const tx& t, const process_record& rec);

/// The counters and histograms of transition `tr`, which takes `before`
/// (null: none yet) to `after`, committed at `now`. Called before `after`
/// is saved: the end of a run reads the run's start from the status
/// index entry that saving `after` removes.
void applied(const tx& t, const transition& tr, const process_record* before,
             const process_record& after, uint64_t now);

/// Whether the counters were built for this store.
bool built(const tx& t);

/// Builds the gauges (and the terminal counts) from the records present,
/// in one pass over them: once, when a store without counters is opened.
void build(const tx& t);

/// Every counter, by name.
std::vector<std::pair<std::string, uint64_t>> all(const tx& t);

/// Commit latencies measured in this OS process, counted into the store
/// with its next commit (a commit cannot count its own).
void note_commit_latency(uint64_t us);

/// Counts the noted latencies and one commit, and flushes, when the
/// transaction applied a transition; the end of each write transaction's
/// body (transaction.cpp).
void commit_noted(const tx& t, const std::vector<uint64_t>& latencies);

/// Takes the latencies noted so far.
std::vector<uint64_t> take_commit_latencies();

} // namespace procman::tables::counters
