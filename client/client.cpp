#include "procman/client/client.hpp"

#include <thread>

#include "procman/lifecycle/front_door.hpp"
#include "procman/persistence/file_lock.hpp"
#include "procman/persistence/store.hpp"

namespace procman {

namespace {

constexpr auto poll_interval = std::chrono::milliseconds(20);

bool settled(process_status s) {
  return is_terminal(s) || s == process_status::interrupted;
}

} // namespace

client::client(std::unique_ptr<procman::store> db) : db_(std::move(db)) {
  // nop
}

client::client(client&&) noexcept = default;
client& client::operator=(client&&) noexcept = default;
client::~client() = default;

caf::expected<client> client::open(const std::string& dir) {
  store_options so;
  so.dir = dir;
  so.default_timeout = 0;  // the runner's default applies
  auto db = store::open(so);
  if (!db)
    return db.error();
  return client{std::move(*db)};
}

procman::store& client::db() {
  return *db_;
}

caf::expected<std::string> client::start(const process_spec& spec) {
  auto res = submit(spec);
  if (!res)
    return res.error();
  return std::move(res->pid);
}

caf::expected<client::submitted> client::submit(const process_spec& spec) {
  auto t = front_door::start(spec);
  if (!t)
    return t.error();
  // The pid is chosen here, so that a key's holder (another pid) shows.
  t->pid = store::make_pid();
  auto rec = db_->apply(*t);
  if (!rec)
    return rec.error();
  return submitted{rec->pid, rec->pid != t->pid};
}

caf::expected<process_record> client::retry(const std::string& pid) {
  auto t = front_door::retry(pid);
  if (!t)
    return t.error();
  return db_->apply(*t);
}

caf::expected<schedule_record>
client::add_schedule(const std::string& name, const std::string& cron,
                     const process_spec& spec) {
  auto t = front_door::schedule_add(name, cron, spec);
  if (!t)
    return t.error();
  if (auto res = db_->apply(*t); !res)
    return res.error();
  return db_->schedule(name);
}

caf::expected<schedule_record>
client::remove_schedule(const std::string& name) {
  auto old = db_->schedule(name);
  if (!old)
    return old.error();
  if (auto res = db_->apply(front_door::schedule_remove(name)); !res)
    return res.error();
  return old;
}

caf::expected<std::vector<schedule_record>> client::schedules() {
  return db_->schedules();
}

caf::expected<process_record> client::info(const std::string& pid) {
  return db_->get(pid);
}

caf::expected<std::string> client::proceed(const std::string& pid,
                                           const std::string& data_json) {
  auto t = front_door::proceed(pid, data_json);
  if (!t)
    return t.error();
  auto rec = db_->apply(*t);
  if (!rec)
    return rec.error();
  return rec->pid;
}

caf::expected<process_record>
client::cancel(const std::string& pid, std::chrono::milliseconds wait_for) {
  auto rec = db_->apply(front_door::cancel(pid));
  if (!rec || rec->status != process_status::running)
    return rec;
  // Running: its runner kills the child and records the cancel. A runner
  // that is gone cannot; then the cancel is recorded here.
  auto deadline = std::chrono::steady_clock::now() + wait_for;
  for (;;) {
    if (!runner_alive(db_->dir(), rec->runner))
      return db_->apply(front_door::cancel(pid));
    if (std::chrono::steady_clock::now() >= deadline)
      return rec;
    std::this_thread::sleep_for(poll_interval);
    rec = db_->get(pid);
    if (!rec || rec->status != process_status::running)
      return rec;
  }
}

caf::expected<std::vector<process_record>>
client::list(const list_query& q) {
  return db_->list(q);
}

caf::expected<output_log> client::output(const std::string& pid,
                                         uint64_t after) {
  return db_->read_output(pid, after);
}

caf::expected<output_log>
client::follow_output(const std::string& pid,
                      const std::function<void(const output_chunk&)>& on_output,
                      const std::function<void(uint64_t)>& on_dropped,
                      std::chrono::milliseconds poll) {
  return follow_output_by(
    [this, &pid](uint64_t after) { return db_->read_output(pid, after); },
    on_output, on_dropped, poll);
}

caf::expected<output_log> follow_output_by(
  const std::function<caf::expected<output_log>(uint64_t after)>& read,
  const std::function<void(const output_chunk&)>& on_output,
  const std::function<void(uint64_t bytes)>& on_dropped,
  std::chrono::milliseconds poll) {
  uint64_t after = 0;
  // Every byte written is kept or was dropped; what was written and not
  // read here was dropped before this loop could read it.
  uint64_t seen = 0;
  uint64_t missed = 0;
  for (;;) {
    // Output and status come from one read: output committed with (or
    // before) the process's last transition is in the same read as the
    // status that ends the loop.
    auto log = read(after);
    if (!log)
      return log;
    for (auto& c : log->chunks)
      seen += c.data.size();
    auto written = log->dropped_bytes + log->kept_bytes;
    if (written > seen + missed) {
      if (on_dropped)
        on_dropped(written - seen - missed);
      missed = written - seen;
    }
    for (auto& c : log->chunks)
      if (on_output)
        on_output(c);
    after = std::max(after, log->last_seq);
    if (settled(log->status))
      return log;
    std::this_thread::sleep_for(poll);
  }
}

caf::expected<size_t> client::purge(uint64_t older_than_ms) {
  return db_->purge(older_than_ms, "client");
}

bool client::runner_present() {
  return live_runners(db_->dir()) > 0;
}

caf::expected<process_record>
client::wait(const std::string& pid, std::chrono::milliseconds timeout,
             const std::function<void(const process_record&)>& on_change) {
  return wait_by([this, &pid] { return db_->get(pid); }, pid, timeout,
                 on_change, poll_interval);
}

caf::expected<process_record> wait_by(
  const std::function<caf::expected<process_record>()>& read,
  const std::string& pid, std::chrono::milliseconds timeout,
  const std::function<void(const process_record&)>& on_change,
  std::chrono::milliseconds poll) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  uint64_t last_update = 0;
  for (;;) {
    auto rec = read();
    if (!rec)
      return rec;
    if (rec->updated_at != last_update || settled(rec->status)) {
      last_update = rec->updated_at;
      if (on_change)
        on_change(*rec);
    }
    if (settled(rec->status))
      return rec;
    if (timeout.count() > 0 && std::chrono::steady_clock::now() >= deadline)
      return make_error(errc::timeout, "process " + pid + " is still "
                                         + to_string(rec->status));
    std::this_thread::sleep_for(poll);
  }
}

} // namespace procman
