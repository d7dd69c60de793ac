// procman-runner: runs queued processes in procman-exec children.
//
//   procman-runner [--store DIR] [--wait] [--max-processes N] [--parallel N]
//                  [--script-args '...'] [--default-timeout S] [--grace S]
//                  [--log-level L] [--exec PATH] [--step-lib PATH]
//                  [--executor fork|spawn]
//                  [--retention D] [--output-limit SIZE]
//                  [--publish PORT [--bind ADDR]
//                   [--tls-cert FILE --tls-key FILE --tls-ca FILE]]
//
// Without --wait it runs what is queued, then exits 0. With --wait it keeps
// running, holds the store's runner lock (a second --wait runner exits 0 at
// once) and starts work enqueued by other OS processes immediately.
// SIGTERM/SIGINT: stop claiming, give children --grace seconds, then kill
// them and record what became of them.
// --publish serves the manager to other nodes: with mutual TLS when the
// three --tls-* files are given, else in cleartext on loopback only.

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>

#include "procman/apps/common/args.hpp"
#include "procman/engine/engine.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/fwd.hpp"
#include "procman/messages/types.hpp"
#include "procman/messages/units.hpp"
#include "procman/remote/remote.hpp"

namespace {

constexpr const char* usage = R"(usage: procman-runner [options]

Runs queued procman processes, each in a fresh procman-exec child.

options:
  --store DIR            store directory (default: $PROCMAN_STORE, else
                         $XDG_STATE_HOME/procman, else ~/.local/state/procman)
  --wait                 keep running and start new work at once; only one
                         waiting runner per store (a second one exits 0)
  --max-processes N      exit after N processes (with or without --wait)
  --parallel N           children at once (default: number of cores)
  --script-args ARGS     passed to every executor (steps see it)
  --default-timeout S    seconds for processes without a timeout (default 60)
  --grace S              on SIGTERM/SIGINT, seconds before children are
                         killed (default 10)
  --log-level L          error, warn, info (default) or debug
  --exec PATH            the executor (default: procman-exec beside this program)
  --step-lib PATH        step library for every executor (repeatable; also
                         $PROCMAN_STEP_LIBS)
  --executor MODE        fork: a fork server (procman-exec --serve, started
                         once with the step libraries) forks each executor;
                         spawn: posix_spawn of procman-exec per process
                         (default: $PROCMAN_EXECUTOR, else fork)
  --retention D          keep finished, failed and cancelled processes for D
                         (30s, 15m, 12h, 7d; default: the store's setting,
                         see procman config, else 7d)
  --output-limit SIZE    bytes of live output kept per process (1048576,
                         512K, 1M; 0 keeps none; default: the store's
                         setting, else 1M)
  --publish PORT         serve the manager to other nodes (CAF middleman) on
                         PORT (0: any free port; the log says which)
  --bind ADDR            address for --publish (default 127.0.0.1); other
                         than loopback only with TLS
  --tls-cert FILE        with --tls-key and --tls-ca: mutual TLS for
  --tls-key FILE         --publish; this node's PEM certificate and its
  --tls-ca FILE          unencrypted key, and the CA that must have signed
                         every peer's certificate
  --help                 this text
)";

// The help text states these defaults.
static_assert(procman::defaults::process_timeout == 60
                && procman::defaults::grace_seconds == 10,
              "update the defaults in the help text");

} // namespace

int main(int argc, char** argv) {
  using namespace procman;
  logger::set_component("ProcessRunner");
  std::unique_ptr<cli::args> a;
  try {
    a = std::make_unique<cli::args>(
      argc, argv, std::set<std::string>{"wait", "help", "no-sync"},
      std::set<std::string>{"store", "max-processes", "parallel",
                            "script-args", "default-timeout", "grace",
                            "log-level", "exec", "executor", "publish", "bind",
                            "tls-cert", "tls-key", "tls-ca", "retention",
                            "output-limit"},
      std::set<std::string>{"step-lib"});
    if (a->flag("help")) {
      std::cout << usage;
      return 0;
    }
    if (!a->positional().empty())
      throw cli::usage_error("unexpected argument \"" + a->positional()[0]
                             + "\"");
  } catch (const cli::usage_error& e) {
    std::cerr << "procman-runner: " << e.what() << "\n" << usage;
    return 2;
  }
  engine_options opts;
  int publish_port = -1;
  std::string bind_addr = "127.0.0.1";
  tls_options tls;
  try {
    if (a->has("publish"))
      publish_port = static_cast<int>(a->number("publish", 0, 0, 65535));
    for (auto name : {"bind", "tls-cert", "tls-key", "tls-ca"})
      if (a->has(name) && publish_port < 0)
        throw cli::usage_error(std::string("option --") + name
                               + " needs --publish");
    bind_addr = a->get("bind", bind_addr);
    tls = {a->get("tls-cert"), a->get("tls-key"), a->get("tls-ca")};
    if (a->has("tls-cert") || a->has("tls-key") || a->has("tls-ca")) {
      std::string missing;
      for (auto name : {"tls-cert", "tls-key", "tls-ca"})
        if (!a->has(name) || a->get(name).empty())
          missing += (missing.empty() ? "--" : ", --") + std::string(name);
      if (!missing.empty())
        throw cli::usage_error("options --tls-cert, --tls-key and --tls-ca go "
                               "together; missing " + missing);
    } else if (publish_port >= 0 && !is_loopback(bind_addr)) {
      throw cli::usage_error(
        "refusing --bind " + bind_addr + " without TLS: anyone who reaches "
        "the port could run commands as this user; bind 127.0.0.1 or ::1, "
        "or give --tls-cert, --tls-key and --tls-ca");
    }
    opts.store_dir = cli::store_dir(*a);
    opts.wait = a->flag("wait");
    opts.max_processes = a->number("max-processes", 0, 1);
    opts.parallel = static_cast<uint32_t>(a->number("parallel", 0, 1, 1024));
    opts.script_args = a->get("script-args");
    opts.default_timeout
      = static_cast<uint32_t>(a->number("default-timeout", defaults::process_timeout, 1, 31536000));
    opts.grace_seconds = static_cast<uint32_t>(a->number("grace", defaults::grace_seconds, 0, 86400));
    opts.exec_path = a->get("exec");
    opts.executor = a->get("executor");
    if (!opts.executor.empty() && opts.executor != "fork"
        && opts.executor != "spawn")
      throw cli::usage_error("option --executor must be fork or spawn, not \""
                             + opts.executor + "\"");
    if (a->has("retention")) {
      auto ms = parse_duration(a->get("retention"), "option --retention");
      if (!ms)
        throw cli::usage_error(ms.error().context);
      if (*ms < 1000)
        throw cli::usage_error("option --retention must be at least 1s "
                               "(procman purge --older-than 0s purges at "
                               "once)");
      opts.retention_ms = *ms;
    }
    if (a->has("output-limit")) {
      auto bytes = parse_size(a->get("output-limit"), "option --output-limit");
      if (!bytes)
        throw cli::usage_error(bytes.error().context);
      opts.output_limit = *bytes;
    }
    opts.no_sync = a->flag("no-sync");
    // Every child of the runner is an executor: orphans of their trees are
    // re-parented to it, and it kills them ($PROCMAN_CONTAINMENT picks how
    // executors are contained).
    opts.reap_orphans = true;
    std::string libs;
    for (auto& l : a->all("step-lib"))
      libs += (libs.empty() ? "" : ":") + l;
    if (auto env = std::getenv("PROCMAN_STEP_LIBS"); env && *env)
      libs += (libs.empty() ? "" : ":") + std::string(env);
    opts.step_libs = libs;
    if (a->has("log-level")) {
      auto lvl = parse_log_level(a->get("log-level"));
      if (!lvl)
        throw cli::usage_error("option --log-level must be error, warn, info "
                               "or debug, not \""
                               + a->get("log-level") + "\"");
      logger::set_level(*lvl);
    }
  } catch (const cli::usage_error& e) {
    std::cerr << "procman-runner: " << e.what() << "\n";
    return 2;
  }
  // Signals go to one thread that turns them into a drain; every other
  // thread (and so every CAF worker) inherits the blocked mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::procman>();
  // The runner has no use for CAF's own command line or config file.
  cfg.set("scheduler.max-threads", std::max(2u, std::thread::hardware_concurrency()));
  // Workers that wait on a condition variable soon instead of polling:
  // CAF's work-stealing workers by default poll every 50 µs for up to
  // 25 ms whenever they run out of work, and on a small machine that
  // polling competes with the executors and slows posix_spawn. Without
  // the moderate phase a worker spins briefly (100 attempts), then waits
  // to be notified (docs/performance.md).
  cfg.set("work-stealing.moderate-poll-attempts", size_t{0});
  if (publish_port >= 0) {
    if (auto err = configure_remote(cfg, tls)) {
      std::cerr << "procman-runner: " << render(err) << "\n";
      return 2;
    }
  }
  caf::actor_system sys{cfg};
  auto eng = engine::start(sys, opts);
  if (!eng) {
    if (is(eng.error(), errc::runner_busy)) {
      log_info("", render(eng.error()) + "; exiting");
      return 0;
    }
    // A misconfigured executor or step library: nothing was claimed.
    if (is(eng.error(), errc::spawn_failure)) {
      log_error("", render(eng.error()) + "; not starting");
      return 2;
    }
    log_error("", render(eng.error()));
    return 1;
  }
  if (publish_port >= 0) {
    auto port = publish_manager(sys, (*eng)->manager(),
                                static_cast<uint16_t>(publish_port), bind_addr);
    if (!port) {
      auto& err = port.error();
      log_error("", "cannot publish the manager on " + bind_addr + ":"
                      + std::to_string(publish_port) + ": "
                      + (err.category() == caf::atom("procman")
                           ? render(err) : sys.render(err)));
      return 1;
    }
    if (tls.enabled()) {
      log_info("", "manager published on " + bind_addr + ":"
                     + std::to_string(*port)
                     + " with mutual TLS (peers need a certificate signed by "
                     + tls.ca + ")");
    } else {
      log_info("", "manager published on " + bind_addr + ":"
                     + std::to_string(*port) + " without TLS");
      log_warn("", "--publish without TLS: anyone on this machine can reach "
                   "the manager and run commands as this user; give "
                   "--tls-cert, --tls-key and --tls-ca to require "
                   "certificates");
    }
  }
  auto sup = (*eng)->supervisor();
  std::atomic<bool> done{false};
  std::thread signal_thread([&done, sigs, sup] {
    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && !done) {
      log_info("", std::string("received SIG") + sigabbrev_np(sig)
                     + ": stopping");
      caf::anon_send(sup, atom::drain_v);
    }
  });
  (*eng)->await();
  eng->reset();
  done = true;
  pthread_kill(signal_thread.native_handle(), SIGHUP);
  signal_thread.join();
  return 0;
}
