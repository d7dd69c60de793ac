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

} // namespace

struct remote_client::impl {
  remote_client_options opts;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  manager_actor manager;
  std::string where;

  /// One request to the manager (or, for the calls only a store node
  /// answers, its gate), answered or failed within the timeout.
  template <class T, class Handle = manager_actor, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> result{caf::sec::none};
    caf::scoped_actor self{*sys};
    self->request(caf::actor_cast<Handle>(manager), opts.timeout,
                  std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = failed(err); });
    return result;
  }

  caf::error failed(caf::error& err) {
    if (err.category() == caf::atom("procman"))
      return std::move(err);
    if (err == caf::sec::unexpected_message)
      return make_error(errc::invalid_argument,
                        "the manager at " + where
                          + " does not answer this command: it is a runner "
                            "with --publish; start it as a store node "
                            "(--listen)");
    return make_error(errc::connect_failure,
                      "the store node at " + where + " did not answer: "
                        + connect_failure_reason(*sys, err));
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

caf::expected<client::submitted>
remote_client::submit(const process_spec& spec) {
  caf::expected<client::submitted> result{caf::sec::none};
  caf::scoped_actor self{*impl_->sys};
  self->request(caf::actor_cast<node_clients_actor>(impl_->manager),
                impl_->opts.timeout, atom::submit_v, spec)
    .receive(
      [&](std::string& pid, bool existing) {
        result = client::submitted{std::move(pid), existing};
      },
      [&](caf::error& err) {
        if (err != caf::sec::unexpected_message) {
          result = impl_->failed(err);
          return;
        }
        // A runner with --publish: its manager's start, which does not
        // tell a key's holder from a new process.
        auto pid = start(spec);
        if (pid)
          result = client::submitted{std::move(*pid), false};
        else
          result = pid.error();
      });
  return result;
}

caf::expected<process_record> remote_client::retry(const std::string& pid) {
  return impl_->ask<process_record, node_clients_actor>(atom::retry_v, pid);
}

caf::expected<schedule_record>
remote_client::add_schedule(const std::string& name, const std::string& cron,
                            const process_spec& spec) {
  return impl_->ask<schedule_record, node_clients_actor>(atom::schedule_v,
                                                         name, cron, spec);
}

caf::expected<schedule_record>
remote_client::remove_schedule(const std::string& name) {
  return impl_->ask<schedule_record, node_clients_actor>(atom::unschedule_v,
                                                         name);
}

caf::expected<std::vector<schedule_record>> remote_client::schedules() {
  return impl_->ask<std::vector<schedule_record>, node_clients_actor>(
    atom::schedule_v);
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

caf::expected<output_log> remote_client::output(const std::string& pid,
                                                uint64_t after) {
  return impl_->ask<output_log>(atom::output_v, pid, after);
}

caf::expected<output_log> remote_client::follow_output(
  const std::string& pid,
  const std::function<void(const output_chunk&)>& on_output,
  const std::function<void(uint64_t bytes)>& on_dropped,
  std::chrono::milliseconds poll) {
  return follow_output_by(
    [this, &pid](uint64_t after) { return output(pid, after); }, on_output,
    on_dropped, poll);
}

caf::expected<process_record>
remote_client::wait(const std::string& pid, std::chrono::milliseconds timeout,
                    const std::function<void(const process_record&)>& on_change) {
  return wait_by([this, &pid] { return info(pid); }, pid, timeout, on_change,
                 poll_interval);
}

} // namespace procman
