#include "procman/door/door.hpp"

#include <algorithm>
#include <thread>

#include "procman/door/handlers.hpp"
#include "procman/messages/failure.hpp"
#include "procman/persistence/store.hpp"

namespace procman {

namespace {

/// The pause between two reads of a store directory in a loop.
constexpr auto local_poll = std::chrono::milliseconds(20);

bool settled(process_status s) {
  return is_terminal(s) || s == process_status::interrupted;
}

/// The handlers on a store opened here.
class local_backend : public door_backend {
public:
  explicit local_backend(std::shared_ptr<procman::store> db)
    : db_(std::move(db)), site_(*db_) {
    // nop
  }

#define PROCMAN_DOOR_CALL(R)                                                   \
  outcome<R::reply> call(R r) override {                                       \
    return handle(site_, r);                                                   \
  }
  PROCMAN_DOOR_REQUESTS(PROCMAN_DOOR_CALL)
#undef PROCMAN_DOOR_CALL

  std::chrono::milliseconds poll() const override {
    return local_poll;
  }

  procman::store* local_store() override {
    return db_.get();
  }

private:
  std::shared_ptr<procman::store> db_;
  local_site site_;
};

} // namespace

outcome<door> door::open(const std::string& dir) {
  store_options so;
  so.dir = dir;
  so.default_timeout = 0; // the runner's default applies
  auto db = store::open(so);
  if (!db)
    return db.error();
  return on(std::move(*db));
}

door door::on(std::shared_ptr<procman::store> db) {
  return door{std::make_unique<local_backend>(std::move(db))};
}

door::door(std::unique_ptr<door_backend> backend)
  : backend_(std::move(backend)) {
  // nop
}

door::door(door&&) noexcept = default;
door& door::operator=(door&&) noexcept = default;
door::~door() = default;

std::string door::store_dir() const {
  auto db = backend_->local_store();
  return db ? db->dir() : std::string{};
}

procman::store* door::local_store() {
  return backend_->local_store();
}

outcome<door::submitted> door::submit(process_spec spec) {
  start_request r;
  r.spec = std::move(spec);
  r.pid = store::make_pid();
  auto pid = backend_->call(r);
  if (!pid)
    return pid.error();
  return submitted{*pid, *pid != r.pid};
}

outcome<std::string> door::start(process_spec spec) {
  auto res = submit(std::move(spec));
  if (!res)
    return res.error();
  return std::move(res->pid);
}

outcome<process_record> door::info(const std::string& pid) {
  return backend_->call(status_request{pid});
}

outcome<process_record> door::cancel(const std::string& pid,
                                     std::chrono::milliseconds wait_for) {
  auto rec = backend_->call(cancel_request{pid, {}});
  // Running: its runner (or worker node) kills the child and records the
  // cancel. Asked again while it runs, the handler records it itself once
  // that runner is gone.
  auto deadline = std::chrono::steady_clock::now() + wait_for;
  while (rec && rec->status == process_status::running
         && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(backend_->poll());
    rec = backend_->call(cancel_request{pid, {}});
    if (!rec && is(rec.error(), errc::already_terminal))
      rec = info(pid);
  }
  return rec;
}

outcome<process_record>
door::wait(const std::string& pid, std::chrono::milliseconds timeout,
           const std::function<void(const process_record&)>& on_change) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  uint64_t last_update = 0;
  for (;;) {
    auto rec = info(pid);
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
      return make_failure(errc::timeout, "process " + pid + " is still "
                                           + to_string(rec->status));
    std::this_thread::sleep_for(backend_->poll());
  }
}

outcome<output_log>
door::follow_output(const std::string& pid,
                    const std::function<void(const output_chunk&)>& on_output,
                    const std::function<void(uint64_t bytes)>& on_dropped) {
  uint64_t after = 0;
  // Every byte written is kept or was dropped; what was written and not
  // read here was dropped before this loop could read it.
  uint64_t seen = 0;
  uint64_t missed = 0;
  for (;;) {
    // Output and status come from one read: output committed with (or
    // before) the process's last transition is in the same read as the
    // status that ends the loop.
    auto log = backend_->call(output_request{pid, after});
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
    std::this_thread::sleep_for(backend_->poll());
  }
}

} // namespace procman
