#include "procman/distribution/remote_client.hpp"

#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/fwd.hpp"
#include "procman/persistence/store.hpp"

namespace procman {

namespace {

using clock = std::chrono::steady_clock;

constexpr auto poll_interval = std::chrono::milliseconds(50);

/// A pause between attempts to reach a store node that refused a new
/// connection.
constexpr auto reconnect_pause = std::chrono::milliseconds(250);

std::string seconds_text(caf::timespan d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100)
         + " s";
}

} // namespace

struct remote_client::impl {
  remote_client_options opts;
  std::string where;
  // The connection: an actor system of its own, replaced after an attempt
  // that got no answer. CAF's middleman can leave a connection on which an
  // answer was lost unable to carry any other; a new system is a new node
  // with a new connection.
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  manager_actor manager;

  caf::error open(caf::timespan timeout) {
    cfg = std::make_unique<caf::actor_system_config>();
    cfg->add_message_types<caf::id_block::procman>();
    // A command line client needs few threads.
    cfg->set("scheduler.max-threads", size_t{2});
    if (auto err = configure_remote(*cfg, opts.tls)) {
      cfg.reset();
      return err;
    }
    sys = std::make_unique<caf::actor_system>(*cfg);
    auto mgr = connect_manager(*sys, opts.host, opts.port, timeout);
    if (!mgr) {
      close();
      return std::move(mgr.error());
    }
    manager = std::move(*mgr);
    return caf::none;
  }

  void close() {
    manager = nullptr;
    sys.reset();
    cfg.reset();
  }

  /// Whether `err` is an answer (a refusal by the manager), not a missing
  /// one: only a missing answer is asked for again.
  static bool answered(const caf::error& err) {
    return err.category() == caf::atom("procman")
           || err == caf::sec::unexpected_message;
  }

  /// Sends a request (`Handle`: the manager, or the gate for the calls only
  /// a store node answers) until an answer comes, and hands it to
  /// `on_answer`. An attempt without an answer within its time (first
  /// defaults::remote_attempt_ms, doubling) is made again on a new
  /// connection, all within opts.timeout; the manager answers a repeat of
  /// a request that changes state as it answered the first (its key).
  template <class Handle, class... Rs, class F, class... Ts>
  caf::error request(F on_answer, const Ts&... xs) {
    auto begin = clock::now();
    auto deadline = begin + opts.timeout;
    caf::timespan wait = std::chrono::milliseconds(defaults::remote_attempt_ms);
    caf::error missing;
    int attempts = 0;
    for (;;) {
      auto left = deadline - clock::now();
      if (left <= caf::timespan::zero())
        break;
      if (!manager) {
        if (auto err = open(left)) {
          missing = std::move(err);
          std::this_thread::sleep_for(
            std::min<caf::timespan>(reconnect_pause, deadline - clock::now()));
          continue;
        }
        left = deadline - clock::now();
      }
      auto t = std::min(wait, left);
      caf::error outcome = caf::sec::request_timeout;
      ++attempts;
      {
        caf::scoped_actor self{*sys};
        self->request(caf::actor_cast<Handle>(manager), t, xs...)
          .receive(
            [&](Rs&... rs) {
              on_answer(rs...);
              outcome = caf::none;
            },
            [&](caf::error& err) { outcome = std::move(err); });
      }
      if (!outcome || answered(outcome))
        return outcome;
      auto why = connect_failure_reason(*sys, outcome);
      missing = make_error(errc::connect_failure,
                           "the store node at " + where + " did not answer: "
                             + why + " (" + std::to_string(attempts)
                             + (attempts == 1 ? " attempt" : " attempts")
                             + " in " + seconds_text(clock::now() - begin)
                             + ")");
      close();
      wait *= 2;
      if (deadline - clock::now() > caf::timespan::zero() && opts.on_retry)
        opts.on_retry("no answer from the store node at " + where + " within "
                      + seconds_text(t) + " (" + why
                      + "); asking again on a new connection");
    }
    return missing;
  }

  /// One request with one answer of type T.
  template <class T, class Handle = manager_actor, class... Ts>
  caf::expected<T> ask(const Ts&... xs) {
    caf::expected<T> result{caf::sec::none};
    auto err = request<Handle, T>([&](T& x) { result = std::move(x); }, xs...);
    if (err)
      return failed(err);
    return result;
  }

  caf::error failed(const caf::error& err) {
    if (err == caf::sec::unexpected_message)
      return make_error(errc::invalid_argument,
                        "the manager at " + where
                          + " does not answer this command: it is a runner "
                            "with --publish; start it as a store node "
                            "(--listen)");
    return err;
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
  if (auto err = st->open(opts.timeout))
    return err;
  return std::unique_ptr<remote_client>(new remote_client(std::move(st)));
}

caf::expected<std::string> remote_client::start(const process_spec& spec) {
  return impl_->ask<std::string>(atom::start_v, spec, store::make_pid(),
                                 store::make_pid());
}

caf::expected<client::submitted>
remote_client::submit(const process_spec& spec) {
  auto pid = store::make_pid();
  auto key = store::make_pid();
  caf::expected<client::submitted> result{caf::sec::none};
  auto err = impl_->request<node_clients_actor, std::string, bool>(
    [&](std::string& got, bool existing) {
      result = client::submitted{std::move(got), existing};
    },
    atom::submit_v, spec, pid, key);
  if (err == caf::sec::unexpected_message) {
    // A runner with --publish: its manager's start, which does not tell a
    // key's holder from a new process.
    auto got = impl_->ask<std::string>(atom::start_v, spec, pid, key);
    if (!got)
      return got.error();
    return client::submitted{std::move(*got), false};
  }
  if (err)
    return impl_->failed(err);
  return result;
}

caf::expected<process_record> remote_client::retry(const std::string& pid) {
  return impl_->ask<process_record, node_clients_actor>(atom::retry_v, pid,
                                                        store::make_pid());
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
  return impl_->ask<std::string>(atom::proceed_v, pid, data_json,
                                 store::make_pid());
}

caf::expected<process_record>
remote_client::cancel(const std::string& pid,
                      std::chrono::milliseconds wait_for) {
  auto rec = impl_->ask<process_record>(atom::cancel_v, pid,
                                        store::make_pid());
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
