#include "procman/door/remote_backend.hpp"

#include <mutex>
#include <thread>
#include <type_traits>

#include <caf/actor_system_config.hpp>
#include <caf/logger.hpp>
#include <caf/scoped_actor.hpp>

#include "procman/door/asking_backend.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/fwd.hpp"
#include "procman/persistence/store.hpp"

namespace procman {

namespace {

using clock = std::chrono::steady_clock;

/// The pause between two reads of a loop over the network.
constexpr auto remote_poll = std::chrono::milliseconds(50);

/// A pause between attempts to reach a store node that refused a new
/// connection.
constexpr auto reconnect_pause = std::chrono::milliseconds(250);

std::string seconds_text(caf::timespan d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100)
         + " s";
}

/// Gives a request that changes state its key, and a start its pid, once:
/// its repeats carry the same, so the store node answers them as the first.
template <class R>
void make_repeatable(R& r) {
  if constexpr (has_request_key<R>::value)
    if (r.key.empty())
      r.key = store::make_pid();
  if constexpr (std::is_same_v<R, start_request>)
    if (r.pid.empty())
      r.pid = store::make_pid();
}

/// A store node's manager, over a connection of its own.
class remote_backend : public asking_backend<remote_backend> {
public:
  remote_door_options opts;
  std::string where;
  // The connection: an actor system of its own, replaced after an attempt
  // that got no answer. CAF's middleman can leave a connection on which an
  // answer was lost unable to carry any other; a new system is a new node
  // with a new connection.
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  manager_actor manager;
  /// One request at a time: an attempt without an answer replaces the
  /// connection (`close`, `open`) under the others' feet. Callers on
  /// several threads (the HTTP server's writers) take turns.
  std::mutex asking;

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

  /// CAF keeps, per thread, a reference to the logger of the last actor
  /// system a scoped_actor was made on there, and an actor system's
  /// destructor waits until its logger is gone. Callers on several threads
  /// each drop theirs before they let go of the turn: a `close` on one
  /// thread would otherwise wait forever for another thread's reference.
  struct drop_logger_reference {
    ~drop_logger_reference() { caf::logger::set_current_actor_system(nullptr); }
  };

  /// Sends `r` until an answer comes. An attempt without an answer within
  /// its time (first defaults::remote_attempt_ms, doubling) is made again
  /// on a new connection, all within opts.timeout.
  template <class R>
  caf::expected<typename R::reply> ask(R r) {
    using reply = typename R::reply;
    make_repeatable(r);
    std::lock_guard<std::mutex> turn{asking};
    drop_logger_reference dropped; // before the turn goes
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
      caf::expected<reply> result{caf::sec::request_timeout};
      ++attempts;
      {
        caf::scoped_actor self{*sys};
        self->request(manager, t, r)
          .receive([&](reply& x) { result = std::move(x); },
                   [&](caf::error& err) { result = std::move(err); });
      }
      if (result || answered(result.error()))
        return result;
      auto why = connect_failure_reason(*sys, result.error());
      missing
        = make_error(errc::connect_failure,
                     "the store node at " + where + " did not answer: " + why
                       + " (" + std::to_string(attempts)
                       + (attempts == 1 ? " attempt" : " attempts") + " in "
                       + seconds_text(clock::now() - begin) + ")");
      close();
      wait *= 2;
      if (deadline - clock::now() > caf::timespan::zero() && opts.on_retry)
        opts.on_retry("no answer from the store node at " + where + " within "
                      + seconds_text(t) + " (" + why
                      + "); asking again on a new connection");
    }
    return missing;
  }

  std::chrono::milliseconds poll() const override { return remote_poll; }
};

} // namespace

caf::expected<door> connect_door(const remote_door_options& opts) {
  auto b = std::make_unique<remote_backend>();
  b->opts = opts;
  b->where = opts.host + ":" + std::to_string(opts.port);
  if (!opts.tls.enabled() && !is_loopback(opts.host))
    return make_error(errc::invalid_argument,
                      "refusing to connect to " + b->where
                        + " without TLS: commands, specs and outputs would "
                          "cross the network in cleartext; give a "
                          "certificate, a key and a CA");
  auto err = b->open(opts.timeout);
  // This thread, too, lets go of the connection's logger (ask says why).
  caf::logger::set_current_actor_system(nullptr);
  if (err)
    return err;
  return door{std::move(b)};
}

} // namespace procman
