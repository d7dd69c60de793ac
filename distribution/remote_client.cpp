#include "procman/distribution/remote_client.hpp"

#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "procman/messages/error.hpp"
#include "procman/messages/fwd.hpp"

namespace procman {

namespace {

constexpr auto poll_interval = std::chrono::milliseconds(50);

bool settled(process_status s) {
  return is_terminal(s) || s == process_status::interrupted;
}

} // namespace

struct remote_client::impl {
  remote_client_options opts;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  manager_actor manager;
  std::string where;

  /// One request to the manager, answered or failed within the timeout.
  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> result{caf::sec::none};
    caf::scoped_actor self{*sys};
    self->request(manager, opts.timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) {
                 if (err.category() == caf::atom("procman"))
                   result = std::move(err);
                 else
                   result = make_error(errc::connect_failure,
                                       "the store node at " + where
                                         + " did not answer: "
                                         + connect_failure_reason(*sys, err));
               });
    return result;
  }
};

remote_client::remote_client(std::unique_ptr<impl> ptr)
  : impl_(std::move(ptr)) {
  // nop
}

remote_client::~remote_client() = default;

caf::expected<std::unique_ptr<remote_client>>
remote_client::connect(const remote_client_options& opts) {
  auto st = std::make_unique<impl>();
  st->opts = opts;
  st->where = opts.host + ":" + std::to_string(opts.port);
  if (!opts.tls.enabled() && !is_loopback(opts.host))
    return make_error(errc::invalid_argument,
                      "refusing to connect to " + st->where
                        + " without TLS: commands, specs and outputs would "
                          "cross the network in cleartext; give a "
                          "certificate, a key and a CA");
  st->cfg.add_message_types<caf::id_block::procman>();
  // A command line client needs few threads.
  st->cfg.set("scheduler.max-threads", size_t{2});
  if (auto err = configure_remote(st->cfg, opts.tls))
    return err;
  st->sys = std::make_unique<caf::actor_system>(st->cfg);
  auto mgr = connect_manager(*st->sys, opts.host, opts.port, opts.timeout);
  if (!mgr)
    return mgr.error();
  st->manager = std::move(*mgr);
  return std::unique_ptr<remote_client>(new remote_client(std::move(st)));
}

caf::expected<std::string> remote_client::start(const process_spec& spec) {
  return impl_->ask<std::string>(atom::start_v, spec);
}

caf::expected<process_record> remote_client::info(const std::string& pid) {
  return impl_->ask<process_record>(atom::info_v, pid);
}

caf::expected<std::string>
remote_client::proceed(const std::string& pid, const std::string& data_json) {
  return impl_->ask<std::string>(atom::proceed_v, pid, data_json);
}

caf::expected<process_record>
remote_client::cancel(const std::string& pid,
                      std::chrono::milliseconds wait_for) {
  auto rec = impl_->ask<process_record>(atom::cancel_v, pid);
  // Running: the node that runs it kills the child and records the cancel
  // (a lost node's process ends as node_lost instead).
  auto deadline = std::chrono::steady_clock::now() + wait_for;
  while (rec && rec->status == process_status::running
         && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(poll_interval);
    rec = info(pid);
  }
  return rec;
}

caf::expected<std::vector<process_record>>
remote_client::list(const list_query& q) {
  return impl_->ask<std::vector<process_record>>(atom::list_v, q);
}

caf::expected<process_record>
remote_client::wait(const std::string& pid, std::chrono::milliseconds timeout,
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
      return make_error(errc::timeout, "process " + pid + " is still "
                                         + to_string(rec->status));
    std::this_thread::sleep_for(poll_interval);
  }
}

} // namespace procman
