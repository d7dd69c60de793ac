// The LMDB store. See store.hpp for the layout. The rules of transitions
// are not here: lifecycle/machine.hpp says what a transition does, the
// store persists what it returns. The tables are units of their own
// (records.hpp, queue.hpp, keys.hpp, schedules.hpp, output.hpp, log.hpp,
// settings.hpp, requests.hpp) over one transaction layer
// (transaction.hpp); this file composes them.
//
// A transition: load the record, `next(record, transition, now)`, then
// write the record, the indexes whose keys change and the log entry. A
// refused one writes nothing, so the others in the batch commit.
//
// Reads and the API tokens are in store_reads.cpp.

#include "procman/persistence/store.hpp"

#include <algorithm>

#include "procman/lifecycle/schedules.hpp"
#include "procman/messages/json.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/messages/time.hpp"
#include "procman/persistence/counters.hpp"
#include "procman/persistence/log.hpp"
#include "procman/persistence/output.hpp"
#include "procman/persistence/pids.hpp"
#include "procman/persistence/queue.hpp"
#include "procman/persistence/records.hpp"
#include "procman/persistence/schedules.hpp"
#include "procman/persistence/settings.hpp"
#include "procman/persistence/store_impl.hpp"
#include "procman/platform/wake_event.hpp"

namespace procman {

using tables::tx;

// -- store: construction ------------------------------------------------------

store::store(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

store::~store() {
  // nop: the last store of a directory closes its environment
}

outcome<std::unique_ptr<store>> store::open(store_options opts) {
  auto db = tables::database::open(opts);
  if (!db)
    return db.error();
  auto ptr = std::make_unique<impl>();
  ptr->opts = std::move(opts);
  ptr->db = std::move(*db);
  return std::unique_ptr<store>{new store(std::move(ptr))};
}

// -- store: transitions -------------------------------------------------------

outcome<process_record> store::apply(const transition& t) {
  return impl_->group.apply(t, [this](const std::vector<transition>& ts) {
    return commit(ts, {}).results;
  });
}

std::vector<outcome<process_record>>
store::apply(const std::vector<transition>& ts) {
  return commit(ts, {}).results;
}

store::batch_result store::commit(const std::vector<transition>& ts,
                                  const std::vector<output_chunk>& output) {
  // The pids of new processes, made once: a retried body reuses them.
  std::vector<std::string> new_pids(ts.size());
  for (size_t i = 0; i < ts.size(); ++i)
    if (ts[i].kind == transition_kind::enqueue && ts[i].pid.empty())
      new_pids[i] = make_pid();
  batch_result out;
  auto& results = out.results;
  if (ts.empty() && output.empty())
    return out;
  auto now = impl_->now();
  bool ring = false;
  auto err = impl_->db.write([&](const tx& x) {
    results.clear();
    ring = false;
    if (!output.empty()) {
      auto limit = tables::settings::output_limit(x, impl_->opts);
      for (auto& c : output)
        tables::output::append(x, c, limit, now);
    }
    out.repeated.assign(ts.size(), false);
    results.reserve(ts.size());
    // A claim of the queue head found it empty: the claims right after it
    // would too (nothing between them queues anything, and what is delayed
    // was promoted at this `now`). A runner asks for what its slots start
    // within the claim horizon, so while processes trickle in most of a
    // claim finds nothing.
    const outcome<process_record>* drained = nullptr;
    for (size_t i = 0; i < ts.size(); ++i) {
      bool head_claim = ts[i].kind == transition_kind::claim
                        && ts[i].pid.empty() && ts[i].request.empty();
      if (head_claim && drained != nullptr) {
        results.emplace_back(drained->error());
        continue;
      }
      auto t = ts[i]; // a retry starts again from the request
      if (!new_pids[i].empty())
        t.pid = new_pids[i];
      bool repeated = false;
      results.emplace_back(impl_->apply(x, t, now, ring, repeated));
      out.repeated[i] = repeated;
      auto& res = results.back();
      drained = head_claim && !res && is(res.error(), errc::queue_empty)
                  ? &res
                  : nullptr;
    }
  });
  if (err) {
    results.clear();
    for (size_t i = 0; i < ts.size(); ++i)
      results.emplace_back(err);
    out.error = std::move(err);
    return out;
  }
  if (ring && impl_->opts.ring_doorbell)
    platform::ring(impl_->opts.dir);
  return out;
}

std::vector<transition> store::claims(const std::string& runner, size_t n) {
  std::vector<transition> out(n);
  for (auto& t : out) {
    t.kind = transition_kind::claim;
    t.source = "runner";
    t.runner = runner;
  }
  return out;
}

outcome<std::vector<process_record>>
store::claimed(std::vector<outcome<process_record>> results, failure* stopped) {
  std::vector<process_record> out;
  out.reserve(results.size());
  for (auto& res : results) {
    if (res) {
      out.push_back(std::move(*res));
      continue;
    }
    // The queue ran empty: the remaining claims were refused alike.
    if (is(res.error(), errc::queue_empty))
      break;
    if (out.empty())
      return res.error();
    if (stopped != nullptr)
      *stopped = res.error();
    break;
  }
  return out;
}

outcome<std::vector<process_record>> store::claim(const std::string& runner,
                                                  size_t n) {
  auto committed = commit(claims(runner, n), {});
  if (committed.error)
    return committed.error;
  return claimed(std::move(committed.results));
}

outcome<uint32_t> store::fire_schedules() {
  auto now = impl_->now();
  // Most calls find nothing due: a read transaction says so without
  // taking the writer's lock.
  auto due = [now](const schedule_record& x) { return schedule_due(x, now); };
  auto any_due = impl_->read([&](const tx& x) {
    auto all = tables::schedules::all(x);
    return std::any_of(all.begin(), all.end(), due);
  });
  if (!any_due || !*any_due)
    return any_due ? outcome<uint32_t>{0u} : any_due.error();
  uint32_t fired = 0;
  auto err = impl_->db.write([&](const tx& x) {
    fired = 0;
    for (auto& s : tables::schedules::all(x)) {
      if (!due(s))
        continue;
      auto t = schedule_run(s, make_pid());
      bool ring = false;
      bool repeated = false;
      auto rec = impl_->apply(x, t, now, ring, repeated);
      if (rec && rec->pid == t.pid)
        ++fired;
    }
  });
  if (err)
    return err;
  if (fired > 0 && impl_->opts.ring_doorbell)
    platform::ring(impl_->opts.dir);
  return fired;
}

outcome<uint64_t> store::next_wake() {
  return impl_->read([](const tx& x) {
    return earliest_due(tables::queue::first_delayed(x),
                        tables::schedules::all(x));
  });
}

outcome<std::vector<schedule_record>> store::schedules() {
  return impl_->read([](const tx& x) { return tables::schedules::all(x); });
}

outcome<schedule_record> store::schedule(const std::string& name) {
  return impl_->find(
    [&](const tx& x) { return tables::schedules::load(x, name); },
    [&] {
      return make_failure(errc::unknown_schedule,
                          "no schedule \"" + name + "\"");
    });
}

outcome<size_t> store::purge() {
  auto retention = retention_ms();
  if (!retention)
    return retention.error();
  return purge(*retention, "retention");
}

outcome<size_t> store::purge(uint64_t older_than_ms,
                             const std::string& source) {
  size_t total = 0;
  auto now = impl_->now();
  uint64_t cutoff = now > older_than_ms ? now - older_than_ms : 0;
  for (bool more = true; more;) {
    size_t removed = 0;
    auto err = impl_->db.write([&](const tx& x) {
      removed = tables::settings::purge(x, impl_->opts, cutoff, source, now,
                                        more);
    });
    if (err)
      return err;
    total += removed;
  }
  return total;
}

outcome<std::optional<uint64_t>> store::setting(store_setting s) {
  return impl_->read([s](const tx& x) { return tables::settings::read(x, s); });
}

failure store::set_setting(store_setting s, std::optional<uint64_t> value) {
  return impl_->db.write(
    [&](const tx& x) { tables::settings::write(x, s, value); });
}

outcome<uint64_t> store::retention_ms() {
  return impl_->read([this](const tx& x) {
    return tables::settings::retention(x, impl_->opts);
  });
}

outcome<uint64_t> store::output_limit() {
  return impl_->read([this](const tx& x) {
    return tables::settings::output_limit(x, impl_->opts);
  });
}

outcome<store_stats> store::stats() {
  return impl_->read([this](const tx& x) {
    store_stats out;
    out.records = tables::records::count(x);
    out.queued = tables::queue::size(x);
    out.last_seq = tables::log::last_seq(x);
    out.first_seq = tables::log::first_seq(x);
    impl_->db.sizes(out.map_size, out.used_bytes);
    return out;
  });
}

outcome<store_metrics> store::metrics() {
  auto now = impl_->now();
  return impl_->read([this, now](const tx& x) {
    store_metrics out;
    out.time = now;
    std::vector<int32_t> queued;
    for (auto& [name, value] : tables::counters::all(x)) {
      if (value > 0 && name.rfind("queued:", 0) == 0)
        queued.push_back(std::stoi(name.substr(7)));
      out.names.push_back(name);
      out.values.push_back(value);
    }
    // The longest waiting of a priority is its queue head, or the first
    // delayed process when that is due and not yet moved into the queue.
    auto delayed = tables::queue::first_delayed_entry(x);
    for (auto p : queued) {
      uint64_t due = now;
      if (auto pid = tables::queue::head_of(x, p))
        if (auto rec = tables::records::load(x, *pid))
          due = std::max(rec->updated_at, rec->not_before);
      if (delayed && delayed->second == p && delayed->first <= now)
        due = std::min(due, delayed->first);
      out.priorities.push_back(p);
      out.oldest_due.push_back(due);
    }
    out.records = tables::records::count(x);
    out.delayed = tables::queue::delayed_size(x);
    out.last_seq = tables::log::last_seq(x);
    auto first = tables::log::first_seq(x);
    out.log_entries = first == 0 ? 0 : out.last_seq - first + 1;
    impl_->db.sizes(out.map_size, out.used_bytes);
    return out;
  });
}

const std::string& store::dir() const {
  return impl_->opts.dir;
}

uint64_t store::now() const {
  return impl_->now();
}

std::string store::make_pid() {
  return procman::make_pid();
}

} // namespace procman
