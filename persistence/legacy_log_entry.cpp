#include "procman/persistence/legacy_log_entry.hpp"

#include <boost/json.hpp>

#include "procman/messages/failure.hpp"
#include "procman/messages/json.hpp"
#include "procman/messages/log_format.hpp"

namespace procman {

outcome<log_entry> upgrade(legacy_log_entry x) {
  log_entry e;
  e.seq = x.seq;
  e.time = x.time;
  e.status_after = x.status_after;
  e.digest = x.digest;
  auto& old = x.what;
  auto& t = e.what;
  t.kind = old.kind;
  t.pid = std::move(old.pid);
  t.source = std::move(old.source);
  t.runner = std::move(old.runner);
  t.step = old.step;
  t.exec_pid = old.exec_pid;
  t.progress = std::move(old.progress);
  t.error = std::move(old.error);
  if (!old.json.empty()) {
    auto where = "log entry " + std::to_string(e.seq) + " (version 1) of "
                 + t.pid + ": ";
    auto payload = parse_json(old.json, defaults::max_wrapped_json_depth);
    if (!payload)
      return make_failure(errc::store_damaged, where + payload.error().context);
    if (auto f = read_payload(t, *payload))
      return make_failure(errc::store_damaged, where + f.context);
  }
  upgrade_failure(t);
  return e;
}

} // namespace procman
