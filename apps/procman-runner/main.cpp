// procman-runner: runs queued processes in procman-exec children.
//
//   procman-runner [--store DIR] [--wait] [--max-processes N] [--parallel N]
//                  [--give-up-after D]
//                  [--script-args '...'] [--default-timeout S] [--grace S]
//                  [--log-level L] [--log-format text|json] [--ready-fd N]
//                  [--exec PATH] [--step-lib PATH]
//                  [--executor fork|spawn] [--exec-lease S]
//                  [--retention D] [--output-limit SIZE]
//                  [--publish PORT [--bind ADDR]
//                   [--tls-cert FILE --tls-key FILE --tls-ca FILE]]
//   procman-runner --listen ADDR:PORT [--lease S] [--parallel N] [TLS] ...
//   procman-runner --join HOST:PORT [--parallel N] [TLS] [--exec PATH] ...
//   procman-runner ... --http ADDR:PORT [--tls-cert F --tls-key F]
//                  [--http-max-body N] ...
//
// Without --wait it runs what is queued, then exits 0; if its commits fail
// (a full disk) for --give-up-after (30 s), it kills its children and exits
// 75 (EX_TEMPFAIL). With --wait it keeps
// running, holds the store's runner lock (a second --wait runner exits 0 at
// once) and starts work enqueued by other OS processes immediately.
// SIGTERM/SIGINT: stop claiming, give children --grace seconds, then kill
// them and record what became of them.
// --publish serves the manager to other nodes: with mutual TLS when the
// three --tls-* files are given, else in cleartext on loopback only.
// --listen makes a store node: it serves the manager and a work endpoint
// that worker nodes (--join) claim work from (docs/distribution.md).
// --http serves the HTTP API (docs/http.md) through the engine's manager,
// on a thread of its own, until the runner has drained.

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "procman/apps/common/args.hpp"
#include "procman/apps/common/http_args.hpp"
#include "procman/apps/common/version.hpp"
#include "procman/door/manager_backend.hpp"
#include "procman/engine/engine.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/fwd.hpp"
#include "procman/messages/types.hpp"
#include "procman/messages/units.hpp"
#include "procman/platform/termination.hpp"

#include "nodes.hpp"
#include "ready.hpp"
#include "scheduler.hpp"

namespace {

/// The exit code when commits kept failing: EX_TEMPFAIL of <sysexits.h>
/// (which Windows has not), "try again later" to cron or a service manager.
constexpr int exit_tempfail = 75;

constexpr const char* usage = R"(usage: procman-runner [options]

Runs queued procman processes, each in a fresh procman-exec child.

options:
  --store DIR            store directory (default: $PROCMAN_STORE, else
                         $XDG_STATE_HOME/procman, else ~/.local/state/procman)
  --wait                 keep running and start new work at once; only one
                         waiting runner per store (a second one exits 0)
  --max-processes N      exit after N processes (with or without --wait)
  --max-jobs N           the same (the original's name); both at once must
                         agree
  --give-up-after D      when commits to the store fail (a full disk) for D
                         in a row, kill the children and exit 75 (30s, 2m;
                         default: 30s without --wait, never with it; 0:
                         never)
  --parallel N           children at once (default: number of cores)
  --script-args ARGS     passed to every executor (steps see it)
  --default-timeout S    seconds for processes without a timeout (default 60)
  --grace S              on SIGTERM/SIGINT, seconds before children are
                         killed (default 10)
  --log-level L          error, warn, info (default) or debug
  --log-format F         text (default) or json: one JSON object per line
                         with time, level, component, os_pid, pid, message
                         and fields
  --ready-fd N           write one line to descriptor N (then close it) once
                         the runner serves: "ready" for a local runner,
                         "ready ADDR:PORT" with --publish and --listen (the
                         port taken), "ready HOST:PORT" once a --join worker
                         joined; closed without a line if it never does
  --exec PATH            the executor (default: procman-exec beside this program)
  --step-lib PATH        step library for every executor (repeatable; also
                         $PROCMAN_STEP_LIBS)
  --executor MODE        fork: a fork server (procman-exec --serve, started
                         once with the step libraries) forks each executor;
                         spawn: posix_spawn of procman-exec per process
                         (default: $PROCMAN_EXECUTOR, else fork)
  --exec-lease S         an executor whose runner did not renew its lease
                         for S seconds (the runner is stopped or hung) kills
                         itself with all it started; its process ends as
                         runner_lost (default 10; with --listen also what
                         worker nodes' executors get, default half of
                         --lease)
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
  --listen ADDR:PORT     be a store node: serve the manager and the work
                         endpoint that worker nodes join (implies --wait;
                         PORT 0: any free port; the log says which); other
                         than loopback only with TLS. --parallel 0: run
                         nothing here, only serve worker nodes
  --lease S              with --listen: a worker node silent for S seconds
                         is lost and its processes end as node_lost
                         (default 10); its executors end before that
  --join HOST:PORT       be a worker node: run processes of the store node
                         at HOST:PORT (no store here); reconnects when it
                         loses it. Takes --parallel, --exec, --step-lib,
                         --script-args, --grace, --log-level and TLS
  --tls-cert FILE        with --tls-key and --tls-ca: mutual TLS for
  --tls-key FILE         --publish, --listen and --join; this node's PEM
  --tls-ca FILE          certificate and its unencrypted key, and the CA
                         that must have signed every peer's certificate.
                         With --http: HTTPS (--tls-cert and --tls-key)
  --http ADDR:PORT       also serve the HTTP API there (docs/http.md; not
                         with --join); beyond loopback only with TLS. The
                         log says where. Its limits, as procman web's:
  --http-max-body N      the largest request body (default 1M)
  --http-header-timeout D  a request's headers and a TLS handshake must
                         arrive within D (default 10s)
  --http-idle-timeout D  a connection idle for D is closed (default 60s)
  --http-max-connections N  connections at once (default 256)
  --version              the version (and git revision) of this program
  --help                 this text
)";

// The help text states these defaults.
static_assert(procman::defaults::process_timeout == 60
                && procman::defaults::grace_seconds == 10
                && procman::defaults::lease_seconds == 10
                && procman::defaults::exec_lease_seconds == 10,
              "update the defaults in the help text");

/// Once the runner's work is done and committed: exits with `code` should
/// the actor system not have stopped `defaults::stop_deadline_seconds`
/// later. Its destructor waits until every detached actor (the store's) is
/// destroyed, so one reference left anywhere would keep a drained runner
/// from ever exiting; nothing is left to commit by then.
void exit_by_deadline(int code) {
  std::thread([code] {
    std::this_thread::sleep_for(
      std::chrono::seconds(procman::defaults::stop_deadline_seconds));
    procman::log_error(
      "", "the actor system did not stop within "
            + std::to_string(procman::defaults::stop_deadline_seconds)
            + " s of the runner's end; exiting with " + std::to_string(code)
            + " anyway");
    std::_Exit(code);
  }).detach();
}

} // namespace

int main(int argc, char** argv) {
  using namespace procman;
  logger::set_component("ProcessRunner");
  std::unique_ptr<cli::args> a;
  try {
    std::set<std::string> options{
      "store",         "max-processes", "max-jobs",        "parallel",
      "give-up-after", "script-args",   "default-timeout", "grace",
      "log-level",     "exec",          "executor",        "publish",
      "bind",          "tls-cert",      "tls-key",         "tls-ca",
      "retention",     "output-limit",  "listen",          "lease",
      "join",          "exec-lease",    "log-format",      "ready-fd"};
    for (auto& o : cli::http_option_decls())
      options.insert(o.name);
    a = std::make_unique<cli::args>(
      argc, argv, std::set<std::string>{"wait", "help", "version", "no-sync"},
      options, std::set<std::string>{"step-lib"});
    if (a->flag("help")) {
      std::cout << usage;
      return 0;
    }
    if (a->flag("version")) {
      print_version("procman-runner");
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
  runner_nodes nodes;
  std::optional<http::server_options> http_opts;
  ready_signal ready;
  try {
    nodes.read(*a);
    bool listen = nodes.listen();
    if (a->has("http")) {
      http_opts = cli::http_options(*a, false);
    } else {
      for (auto& o : cli::http_option_decls())
        if (a->has(o.name))
          throw cli::usage_error(std::string("option --") + o.name
                                 + " needs --http");
    }
    opts.store_dir = cli::store_dir(*a);
    opts.wait = a->flag("wait") || listen;
    opts.max_processes = a->number("max-processes", 0, 1);
    // The original's name for the same limit; both at once must agree.
    if (auto jobs = a->number("max-jobs", 0, 1); jobs > 0) {
      if (opts.max_processes > 0 && jobs != opts.max_processes)
        throw cli::usage_error(
          "options --max-processes and --max-jobs are one limit; they "
          "disagree ("
          + a->get("max-processes") + " and " + a->get("max-jobs")
          + "): give one");
      opts.max_processes = jobs;
    }
    opts.give_up_after_ms = opts.wait ? 0 : defaults::give_up_after_ms;
    if (a->has("give-up-after")) {
      auto ms = parse_duration(a->get("give-up-after"),
                               "option --give-up-after");
      if (!ms)
        throw cli::usage_error(ms.error().context);
      opts.give_up_after_ms = *ms;
    }
    opts.parallel
      = static_cast<uint32_t>(a->number("parallel", 0, listen ? 0 : 1, 1024));
    // A store node with --parallel 0 only serves worker nodes.
    opts.local_work = !(listen && a->has("parallel") && opts.parallel == 0);
    opts.script_args = a->get("script-args");
    opts.default_timeout = static_cast<uint32_t>(
      a->number("default-timeout", defaults::process_timeout, 1, 31536000));
    opts.grace_seconds = static_cast<uint32_t>(
      a->number("grace", defaults::grace_seconds, 0, 86400));
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
    // Executor leases; a store node checks that its workers' executors end
    // before it may declare their node lost.
    auto exec_lease_s = static_cast<uint32_t>(
      a->number("exec-lease", defaults::exec_lease_seconds, 1, 3600));
    opts.exec_lease_ms = exec_lease_s * 1000;
    nodes.grant_exec_lease(*a, opts);
    // Every child of the runner is an executor: orphans of their trees are
    // re-parented to it, and it kills them ($PROCMAN_CONTAINMENT picks how
    // executors are contained).
    opts.reap_orphans = true;
    opts.step_libs = cli::step_libs(*a);
    if (a->has("log-level")) {
      auto lvl = parse_log_level(a->get("log-level"));
      if (!lvl)
        throw cli::usage_error("option --log-level must be error, warn, info "
                               "or debug, not \""
                               + a->get("log-level") + "\"");
      logger::set_level(*lvl);
    }
    if (a->has("log-format")) {
      auto fmt = parse_log_format(a->get("log-format"));
      if (!fmt)
        throw cli::usage_error("option --log-format must be text or json, "
                               "not \""
                               + a->get("log-format") + "\"");
      logger::set_format(*fmt);
    }
    if (a->has("ready-fd")) {
      auto r = ready_signal::open(a->get("ready-fd"));
      if (!r)
        throw cli::usage_error(render(r.error()));
      ready = std::move(*r);
    }
  } catch (const cli::usage_error& e) {
    std::cerr << "procman-runner: " << e.what() << "\n";
    return 2;
  }
  // Termination requests (SIGTERM, SIGINT, SIGHUP; Ctrl+C on Windows) go
  // to one thread that turns them into a drain: held before any other
  // thread starts, so that every CAF worker inherits the blocked mask.
  platform::hold_termination_requests();
  platform::ignore_broken_pipes();
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::procman>();
  // The runner has no use for CAF's own command line or config file.
  use_runner_scheduler(cfg);
  if (auto err = nodes.configure(cfg)) {
    std::cerr << "procman-runner: " << render(err) << "\n";
    return 2;
  }
  caf::actor_system sys{cfg};
  if (nodes.join()) {
    // A worker node until a termination request drains it.
    auto code = nodes.run_worker(sys, std::move(opts), ready);
    if (code == 0)
      exit_by_deadline(0);
    return code;
  }
  // The HTTP API, bound before the engine starts (a port in use or a bad
  // TLS file stops the runner before it claims anything); its door gets
  // the engine's manager once there is one.
  door http_door{nullptr};
  std::unique_ptr<http::server> http_server;
  if (http_opts) {
    auto srv = http::server::bind(http_door, *http_opts);
    if (!srv) {
      std::cerr << "procman-runner: " << render(srv.error()) << "\n";
      return is(srv.error(), errc::invalid_argument) ? 2 : 1;
    }
    http_server = std::move(*srv);
  }
  auto eng = engine::start(sys, opts);
  if (!eng) {
    if (is(eng.error(), errc::runner_busy) && !nodes.listen()) {
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
  if (!nodes.serve(sys, **eng, opts))
    return 1;
  // On a thread of its own: its requests wait for the manager's answers,
  // never the other way round.
  std::thread http_thread;
  if (http_server) {
    http_door = door_of_manager(sys, (*eng)->manager());
    log_info("",
             "HTTP API on " + cli::http_url(*http_opts, http_server->port()));
    http_thread = std::thread([&] { http_server->run(false); });
  }
  ready.send(nodes.ready_line());
  auto sup = (*eng)->supervisor();
  std::optional<platform::termination_watch> watch;
  watch.emplace([sup](const std::string& what) {
    log_info("", "received " + what + ": stopping");
    caf::anon_send(sup, atom::drain_v);
  });
  (*eng)->await();
  // Serves until the runner has drained, so that its last transitions can
  // be read.
  if (http_server) {
    http_server->stop();
    http_thread.join();
  }
  auto failure = (*eng)->failure();
  nodes.end(sys);
  eng->reset();
  watch.reset();
  exit_by_deadline(failure ? exit_tempfail : 0);
  if (failure) {
    // A drain started by cron must not hold on while the disk stays full.
    log_error("", "gave up: " + render(failure)
                    + "; the next runner records what this one could not "
                      "(processes it claimed and did not start go back to "
                      "the queue); exiting with "
                    + std::to_string(exit_tempfail));
    return exit_tempfail;
  }
  return 0;
}
