#include "nodes.hpp"

#include <optional>
#include <tuple>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "procman/distribution/work_endpoint.hpp"
#include "procman/distribution/worker_node.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/platform/termination.hpp"
#include "procman/remote/remote.hpp"

namespace procman {

struct runner_nodes::state {
  int publish_port = -1;
  std::string bind_addr = "127.0.0.1";
  std::string join_host;
  uint16_t join_port = 0;
  bool listen = false;
  bool join = false;
  uint32_t lease_s = defaults::lease_seconds;
  uint32_t node_exec_lease_ms = 0; ///< what worker nodes' executors get
  tls_options tls;
  work_endpoint_gate gate;
  std::string published_at; ///< ADDR:PORT
};

runner_nodes::runner_nodes() : state_(std::make_unique<state>()) {}

runner_nodes::~runner_nodes() = default;

bool runner_nodes::listen() const {
  return state_->listen;
}

bool runner_nodes::join() const {
  return state_->join;
}

void runner_nodes::read(const cli::args& a) {
  auto& s = *state_;
  s.listen = a.has("listen");
  s.join = a.has("join");
  auto host_port = [&](const std::string& name) {
    auto hp = parse_host_port(a.get(name), "option --" + name);
    if (!hp)
      throw cli::usage_error(render(hp.error()));
    return *hp;
  };
  if (s.listen + s.join + a.has("publish") > 1)
    throw cli::usage_error("options --publish, --listen and --join exclude "
                           "each other");
  if (a.has("publish"))
    s.publish_port = static_cast<int>(a.number("publish", 0, 0, 65535));
  if (s.listen) {
    uint16_t port = 0;
    std::tie(s.bind_addr, port) = host_port("listen");
    s.publish_port = port;
  }
  if (s.join)
    std::tie(s.join_host, s.join_port) = host_port("join");
  if (s.publish_port >= 0)
    if (auto err = can_publish())
      throw cli::usage_error("option --"
                             + std::string(s.listen ? "listen" : "publish")
                             + ": " + render(err));
  if (a.has("bind") && s.publish_port < 0)
    throw cli::usage_error("option --bind needs --publish");
  if (a.has("lease") && !s.listen)
    throw cli::usage_error("option --lease needs --listen");
  s.lease_s = static_cast<uint32_t>(
    a.number("lease", defaults::lease_seconds, 1, 3600));
  // CAF's mutual TLS (all three files), HTTPS (--tls-cert, --tls-key).
  bool caf_tls = s.publish_port >= 0 || s.join;
  for (auto name : {"tls-cert", "tls-key", "tls-ca"})
    if (a.has(name) && !caf_tls
        && (!a.has("http") || name == std::string{"tls-ca"}))
      throw cli::usage_error(
        std::string("option --") + name + " needs --publish, --listen or --join"
        + (name == std::string{"tls-ca"} ? "" : " or --http"));
  if (s.join && a.has("http"))
    throw cli::usage_error("option --http does not go with --join: a "
                           "worker node has no store; give it to the "
                           "store node");
  if (s.join)
    for (auto name :
         {"store", "wait", "max-processes", "max-jobs", "default-timeout",
          "no-sync", "retention", "output-limit", "give-up-after"})
      if (a.has(name) || a.flag(name))
        throw cli::usage_error(
          std::string("option --") + name
          + " does not go with --join: a worker node has no store; give it "
            "to the store node");
  if (s.join && a.has("exec-lease"))
    throw cli::usage_error(
      "option --exec-lease does not go with --join: a worker node's "
      "executors hold the lease its store node grants; give it to the "
      "store node");
  s.bind_addr = a.get("bind", s.bind_addr);
  s.tls = {a.get("tls-cert"), a.get("tls-key"), a.get("tls-ca")};
  if (caf_tls && (a.has("tls-cert") || a.has("tls-key") || a.has("tls-ca"))) {
    std::string missing;
    for (auto name : {"tls-cert", "tls-key", "tls-ca"})
      if (!a.has(name) || a.get(name).empty())
        missing += (missing.empty() ? "--" : ", --") + std::string(name);
    if (!missing.empty())
      throw cli::usage_error("options --tls-cert, --tls-key and --tls-ca go "
                             "together; missing "
                             + missing);
  } else if (s.publish_port >= 0 && !is_loopback(s.bind_addr)) {
    throw cli::usage_error(
      "refusing " + std::string(s.listen ? "--listen " : "--bind ")
      + s.bind_addr
      + " without TLS: anyone who reaches the port could run commands as "
        "this user; use 127.0.0.1 or ::1, or give --tls-cert, --tls-key and "
        "--tls-ca");
  } else if (s.join && !is_loopback(s.join_host)) {
    throw cli::usage_error(
      "refusing --join " + s.join_host
      + " without TLS: work, its input and "
        "its output would cross the network in cleartext; give --tls-cert, "
        "--tls-key and --tls-ca");
  }
}

void runner_nodes::grant_exec_lease(const cli::args& a,
                                    const engine_options& opts) {
  auto& s = *state_;
  if (!s.listen)
    return;
  auto granted = node_exec_lease(s.lease_s * 1000,
                                 a.has("exec-lease") ? opts.exec_lease_ms : 0);
  if (!granted)
    throw cli::usage_error("refusing " + render(granted.error()));
  s.node_exec_lease_ms = *granted;
}

caf::error runner_nodes::configure(caf::actor_system_config& cfg) {
  auto& s = *state_;
  if (s.publish_port < 0 && !s.join)
    return {};
  if (auto err = configure_remote(cfg, s.tls))
    return err;
  // A worker node notices a store node that went silent (a network cut)
  // as a closed connection within the lease.
  if (s.join)
    set_connection_timeout(cfg, std::chrono::seconds(defaults::lease_seconds));
  return {};
}

int runner_nodes::run_worker(caf::actor_system& sys, engine_options opts,
                             ready_signal& ready) {
  auto& s = *state_;
  worker_options wo;
  wo.host = s.join_host;
  wo.port = s.join_port;
  wo.exec = std::move(opts);
  wo.on_joined = [&ready](const std::string& where) {
    ready.send("ready " + where);
  };
  auto node = worker_node::start(sys, std::move(wo));
  if (!node) {
    log_error("", render(node.error()) + "; not starting");
    return 2;
  }
  auto* n = node->get();
  std::optional<platform::termination_watch> watch;
  watch.emplace([n](const std::string& what) {
    log_info("", "received " + what + ": stopping");
    n->drain();
  });
  n->await();
  node->reset();
  watch.reset();
  return 0;
}

bool runner_nodes::serve(caf::actor_system& sys, engine& eng,
                         const engine_options& opts) {
  auto& s = *state_;
  if (s.publish_port < 0)
    return true;
  caf::expected<uint16_t> port{caf::sec::none};
  if (s.listen) {
    endpoint_options eo;
    eo.store_dir = opts.store_dir;
    eo.lease_ms = s.lease_s * 1000;
    eo.exec_lease_ms = s.node_exec_lease_ms;
    eo.default_timeout = opts.default_timeout;
    eo.output_events = eng.output_events();
    s.gate = sys.spawn(work_endpoint, eo, eng.manager(), eng.store(),
                       eng.supervisor());
    port = publish_gate(sys, caf::actor_cast<node_gate_actor>(s.gate),
                        static_cast<uint16_t>(s.publish_port), s.bind_addr,
                        opts.store_dir);
  } else {
    port = publish_manager(sys, eng.manager(),
                           static_cast<uint16_t>(s.publish_port), s.bind_addr,
                           opts.store_dir);
  }
  if (!port) {
    auto& err = port.error();
    log_error("",
              "cannot publish the manager on " + s.bind_addr + ":"
                + std::to_string(s.publish_port) + ": "
                + (err.category() == caf::atom("procman") ? render(err)
                                                          : sys.render(err)));
    end(sys);
    return false;
  }
  s.published_at = (s.bind_addr.find(':') != std::string::npos
                      ? "[" + s.bind_addr + "]"
                      : s.bind_addr)
                   + ":" + std::to_string(*port);
  auto what = s.listen
                ? std::string{" (store node: worker nodes may join; "
                              "lease "}
                    + std::to_string(s.lease_s) + " s, executors' lease "
                    + std::to_string(s.node_exec_lease_ms / 1000.0) + " s)"
                : std::string{};
  if (s.tls.enabled()) {
    log_info("", "manager published on " + s.bind_addr + ":"
                   + std::to_string(*port)
                   + " with mutual TLS (peers need a certificate signed by "
                   + s.tls.ca + ")" + what);
  } else {
    log_info("", "manager published on " + s.bind_addr + ":"
                   + std::to_string(*port)
                   + " without TLS (only users who may read " + opts.store_dir
                   + " are admitted)" + what);
  }
  return true;
}

std::string runner_nodes::ready_line() const {
  return state_->published_at.empty() ? "ready"
                                      : "ready " + state_->published_at;
}

void runner_nodes::end(caf::actor_system& sys) {
  auto& gate = state_->gate;
  if (!gate)
    return;
  caf::scoped_actor self{sys};
  self->monitor(gate);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {});
  gate = nullptr;
}

} // namespace procman
