// The runner's remote nodes on Windows: not yet. remote/ hands CAF its TLS
// files as memfds and admits a cleartext peer on loopback by asking the
// kernel who owns the connection's other end, both Linux's; until its
// Windows twins exist (docs/windows.md, "The rest of the port"), the
// options are refused by name with exit code 2, and the runner works on
// a local store.

#include "../nodes.hpp"

namespace procman {

struct runner_nodes::state {};

runner_nodes::runner_nodes() : state_(std::make_unique<state>()) {}

runner_nodes::~runner_nodes() = default;

bool runner_nodes::listen() const {
  return false;
}

bool runner_nodes::join() const {
  return false;
}

void runner_nodes::read(const cli::args& a) {
  for (auto name : {"publish", "bind", "listen", "lease", "join", "tls-ca"})
    if (a.has(name))
      throw cli::usage_error(
        std::string("option --") + name
        + " is not available on Windows yet: remote nodes (--publish, "
          "--listen, --join) and their mutual TLS run on Linux only "
          "(docs/windows.md)");
  // HTTPS takes the certificate and key.
  for (auto name : {"tls-cert", "tls-key"})
    if (a.has(name) && !a.has("http"))
      throw cli::usage_error(
        std::string("option --") + name
        + " needs --http (on Windows; remote nodes and their mutual TLS run "
          "on Linux only, docs/windows.md)");
}

void runner_nodes::grant_exec_lease(const cli::args&, const engine_options&) {}

caf::error runner_nodes::configure(caf::actor_system_config&) {
  return {};
}

int runner_nodes::run_worker(caf::actor_system&, engine_options,
                             ready_signal&) {
  return 2; // read() refused --join
}

bool runner_nodes::serve(caf::actor_system&, engine&, const engine_options&) {
  return true;
}

std::string runner_nodes::ready_line() const {
  return "ready";
}

void runner_nodes::end(caf::actor_system&) {}

} // namespace procman
