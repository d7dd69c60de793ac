// The store's reads and its API tokens (store.hpp); store.cpp has the
// rest.

#include <algorithm>

#include "procman/persistence/log.hpp"
#include "procman/persistence/output.hpp"
#include "procman/persistence/queue.hpp"
#include "procman/persistence/records.hpp"
#include "procman/persistence/store_impl.hpp"
#include "procman/persistence/tokens.hpp"

namespace procman {

using tables::tx;

// -- store: API tokens --------------------------------------------------------

outcome<token_record> store::add_token(token_record x) {
  x.id = make_pid().substr(16); // its 64 random bits
  x.created_at = impl_->now();
  outcome<token_record> out = failure{};
  if (auto err
      = impl_->db.write([&](const tx& t) { out = tables::tokens::add(t, x); }))
    return err;
  return out;
}

outcome<std::vector<token_record>> store::tokens() {
  return impl_->read([](const tx& t) { return tables::tokens::all(t); });
}

outcome<token_record> store::revoke_token(const std::string& which) {
  std::optional<token_record> gone;
  if (auto err = impl_->db.write(
        [&](const tx& t) { gone = tables::tokens::revoke(t, which); }))
    return err;
  if (!gone)
    return make_failure(errc::unknown_token,
                        "no token with id or name \"" + which + "\"");
  return std::move(*gone);
}

outcome<token_record> store::token(const std::string& hash) {
  return impl_->find([&](const tx& t) { return tables::tokens::load(t, hash); },
                     [] {
                       return make_failure(errc::unauthorized,
                                           "unknown or revoked token");
                     });
}

// -- store: reads -------------------------------------------------------------

namespace {

failure no_process(const std::string& pid) {
  return make_failure(errc::unknown_process, "no process " + pid);
}

} // namespace

outcome<output_log> store::read_output(const std::string& pid, uint64_t after) {
  return impl_->find(
    [&](const tx& x) {
      std::optional<output_log> log;
      if (auto rec = tables::records::load(x, pid)) {
        log.emplace();
        log->pid = pid;
        log->status = rec->status;
        tables::output::read(x, after, *log);
      }
      return log;
    },
    [&] { return no_process(pid); });
}

outcome<process_record> store::get(const std::string& pid) {
  return impl_->find([&](const tx& x) { return tables::records::load(x, pid); },
                     [&] { return no_process(pid); });
}

outcome<std::vector<process_record>> store::list(const list_query& q) {
  return impl_->read([&](const tx& x) { return tables::records::list(x, q); });
}

outcome<queue_stats> store::queue_depths() {
  auto now = impl_->now();
  return impl_->read([&](const tx& x) { return tables::queue::stats(x, now); });
}

outcome<std::vector<process_record>> store::with_status(process_status s) {
  return impl_->read(
    [s](const tx& x) { return tables::records::with_status(x, s); });
}

outcome<std::vector<log_entry>> store::log(uint64_t since, size_t limit,
                                           const std::string& pid) {
  return impl_->read(
    [&](const tx& x) { return tables::log::after(x, since, limit, pid); });
}

outcome<store::log_snapshot>
store::snapshot(uint64_t since, const std::string& pid, size_t limit) {
  return impl_->read([&](const tx& x) {
    log_snapshot out;
    out.entries = tables::log::after(x, since, limit, pid);
    out.last_seq = tables::log::last_seq(x);
    std::vector<std::string> pids;
    for (auto& e : out.entries)
      if (std::find(pids.begin(), pids.end(), e.what.pid) == pids.end())
        pids.push_back(e.what.pid);
    for (auto& p : pids)
      if (auto rec = tables::records::load(x, p))
        out.records.push_back(std::move(*rec));
    return out;
  });
}

} // namespace procman
