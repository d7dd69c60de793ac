// A blocking client of a store node on another machine: the same calls as
// procman::client (client/client.hpp), answered by the manager that
// `procman-runner --listen` (or --publish) serves. What `procman --connect`
// uses, and what a host uses that reaches a remote store
// (docs/distribution.md):
//
//   procman::remote_client_options o;
//   o.host = "store1.example"; o.port = 4000;
//   o.tls = {"host.pem", "host.key", "ca.pem"};   // required off loopback
//   auto c = procman::remote_client::connect(o);
//   if (!c) ... render(c.error()) ...             // connect_failure
//   auto pid = (*c)->start(spec);
//   auto rec = (*c)->wait(*pid, std::chrono::minutes(5));
//
// It owns an actor system of its own (with the middleman, and caf::openssl
// with TLS): a host that already runs one uses connect_manager
// (remote/remote.hpp) and sends the manager's messages itself.

#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "procman/client/client.hpp"
#include "procman/messages/types.hpp"
#include "procman/remote/remote.hpp"

namespace procman {

struct remote_client_options {
  std::string host;
  uint16_t port = 0;
  /// Mutual TLS; without it only a loopback host is allowed.
  tls_options tls;
  /// How long the connection, and each call, may take. A call that gets no
  /// answer within defaults::remote_attempt_ms (doubling for each further
  /// attempt) is asked again on a new connection until this runs out; the
  /// store node answers a repeated start, proceed, cancel or retry as it
  /// answered the first (each carries a key of its own), and remembers
  /// keys for defaults::request_memory_ms.
  caf::timespan timeout = std::chrono::seconds(30);
  /// Told each time a call is asked again, and why (the CLI prints it).
  std::function<void(const std::string&)> on_retry;
};

class remote_client {
public:
  /// Connects to the manager at host:port. Errors: invalid_argument (TLS
  /// files, or a non-loopback host without TLS), connect_failure naming the
  /// node and why (refused certificate, nothing listening, no answer).
  static caf::expected<std::unique_ptr<remote_client>>
  connect(const remote_client_options& opts);

  ~remote_client();

  /// As client::start, client::info, ...: the same results and errors,
  /// plus connect_failure when the store node cannot be reached any more.
  /// retry and the schedule calls need a store node (`--listen`); a runner
  /// that only publishes its manager (`--publish`) refuses them
  /// (invalid_argument), and its submit cannot tell a key's holder.
  caf::expected<std::string> start(const process_spec& spec);
  caf::expected<client::submitted> submit(const process_spec& spec);
  caf::expected<process_record> retry(const std::string& pid);
  caf::expected<schedule_record> add_schedule(const std::string& name,
                                              const std::string& cron,
                                              const process_spec& spec);
  caf::expected<schedule_record> remove_schedule(const std::string& name);
  caf::expected<std::vector<schedule_record>> schedules();
  caf::expected<process_record> info(const std::string& pid);
  caf::expected<std::string> proceed(const std::string& pid,
                                     const std::string& data_json);
  /// Cancels; a running process's runner (or worker node) kills the child,
  /// and this waits up to `wait_for` for the cancel to be recorded.
  caf::expected<process_record>
  cancel(const std::string& pid,
         std::chrono::milliseconds wait_for = std::chrono::seconds(10));
  caf::expected<std::vector<process_record>> list(const list_query& q);
  caf::expected<output_log> output(const std::string& pid, uint64_t after = 0);
  caf::expected<output_log>
  follow_output(const std::string& pid,
                const std::function<void(const output_chunk&)>& on_output,
                const std::function<void(uint64_t bytes)>& on_dropped = {},
                std::chrono::milliseconds poll = std::chrono::milliseconds(100));
  caf::expected<process_record>
  wait(const std::string& pid, std::chrono::milliseconds timeout,
       const std::function<void(const process_record&)>& on_change = {});

private:
  struct impl;
  explicit remote_client(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace procman
