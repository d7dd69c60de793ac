// procman: the command line.
//
//   procman [--store DIR] start SPEC [--data JSON] [--timeout S]
//                               [--delay D] [--priority N] [--key K]
//   procman [--store DIR] retry PID
//   procman [--store DIR] schedule add NAME CRON SPEC | list | remove NAME
//   procman [--store DIR] status PID
//   procman [--store DIR] proceed PID [--data JSON]
//   procman [--store DIR] cancel PID
//   procman [--store DIR] hold PID | release PID
//   procman [--store DIR] list [--status S] [--limit N]
//   procman [--store DIR] wait PID [--timeout S]
//   procman [--store DIR] logs PID [--follow] [--stream stdout|stderr]
//   procman [--store DIR] purge [--older-than D]
//   procman [--store DIR] remove PID
//   procman [--store DIR] config [get NAME | set NAME VALUE | unset NAME]
//   procman [--store DIR] token create --scope S [--name N] | list |
//                         revoke ID|NAME
//   procman [--store DIR] web --http ADDR:PORT [--http-max-body N]
//                         [--tls-cert F --tls-key F]
//   procman run SPEC [--data JSON] [--step-lib PATH]
//   procman --connect HOST:PORT [--tls-cert F --tls-key F --tls-ca F] CMD ...
//
// Output is JSON where a program reads it; errors go to stderr. Exit codes:
// 0 ok, 1 failure (unknown pid, refused transition, failed process),
// 2 usage error; `wait` and `logs --follow`: 0 finished, 1 error or
// cancelled, 3 interrupted, 4 the wait timed out; `run`: 0 finished,
// 1 failed, 3 interrupted.
// Every command but run and replay is a request of the front door
// (door/door.hpp): on the store directory, or with --connect (or
// $PROCMAN_CONNECT) on a store node (docs/distribution.md) with the same
// output and exit codes; a store node that cannot be reached exits 1. A
// command without an answer is sent again on a new connection within 30 s:
// the store node answers a repeated start, proceed, cancel, retry, hold,
// release or remove as it answered the first.

#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <tuple>

#include <boost/json.hpp>
#include <unistd.h>

#include "procman/apps/common/args.hpp"
#include "procman/apps/common/http_args.hpp"
#include "procman/apps/common/version.hpp"
#include "procman/apps/procman/remote.hpp"
#include "procman/apps/procman/run_tree.hpp"
#include "procman/apps/procman/web.hpp"
#include "procman/door/door.hpp"
#include "procman/messages/failure.hpp"
#include "procman/messages/json.hpp"
#include "procman/messages/log_format.hpp"
#include "procman/messages/render.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/messages/time.hpp"
#include "procman/messages/units.hpp"
#include "procman/steps/runner.hpp"
#include "procman/steps/step_registry.hpp"

namespace json = boost::json;
using namespace procman;

namespace {

constexpr const char* usage = R"(usage: procman [--store DIR] COMMAND [ARGS]

commands:
  start SPEC [--data JSON] [--timeout S]   enqueue a process; prints its pid
        [--delay D] [--priority N]         (D: 30, 30s, 5m, 2h, 1d; the key's
        [--key K]                          holder's pid if K is held)
  retry PID                                queue an errored process again; it
                                           resumes at its failed step
  schedule add NAME "CRON" SPEC            enqueue SPEC at each due time of
                                           CRON (UTC; replaces NAME)
  schedule list                            the schedules as JSON lines
  schedule remove NAME                     remove a schedule
  status PID                               the process info as JSON
  proceed PID [--data JSON]                resume an interrupted process
  cancel PID                               cancel a queued, held,
                                           interrupted or running process
  hold PID                                 keep a queued or delayed process
                                           from running (status held)
  release PID                              let a held process run again
  list [--status S] [--limit N]            processes, newest first (JSON
                                           lines; a table on a terminal)
  wait PID [--timeout S]                   wait for the process to settle;
                                           exit 0 finished, 1 error or
                                           cancelled, 3 interrupted, 4 timeout
  logs PID [--follow] [--stream S]         what its commands wrote (stdout and
                                           stderr, or only S); --follow: as it
                                           comes, until the process settles
                                           (exit codes as wait)
  purge [--older-than D]                   remove finished, failed and
                                           cancelled processes older than D
                                           (30s, 15m, 12h, 7d; default: the
                                           retention setting); prints how many
  remove PID                               remove a finished, failed or
                                           cancelled process now, with its
                                           output; prints its pid
  config [get NAME | set NAME VALUE | unset NAME]
                                           the store's settings: retention
                                           (7d), output-limit (1M)
  run SPEC [--data JSON] [--step-lib P]    run the steps here and now; print
                                           the output (no store, no runner)
  log export [--since SEQ] [--pid PID]     the message log as JSON Lines
  token create --scope S [--name N]        a token of the HTTP API (S: read,
                                           operate, admin); printed once
  token list                               the tokens as JSON lines
  token revoke ID|NAME                     revoke a token
  web --http ADDR:PORT                     serve the HTTP API (docs/http.md);
      [--tls-cert F --tls-key F]           HTTPS with the TLS files (needed
      [--http-max-body N]                  beyond loopback); runs no processes
  replay LOG.jsonl                         re-run a log through the engine
                                           deterministically; exit 0 when it
                                           matches, 1 at the first divergence

SPEC is a file, - for stdin, or inline JSON:
  {"steps": {"name": {"class": "...", "args": ..., "services": [...]}},
   "timeout": 60, "data": {...}}
--data is a JSON object merged over the spec's data (its keys win).
start checks the steps against the built-ins and the step libraries of
$PROCMAN_STEP_LIBS; it warns when no runner serves the store.
--store defaults to $PROCMAN_STORE, else $XDG_STATE_HOME/procman, else
~/.local/state/procman. --version prints the version (and git revision).
Each command takes its own options, shown by procman COMMAND --help, and
the global ones (--store and those below) before or after its name.

remote store (every command but run and replay):
  --connect HOST:PORT    ask the store node there (procman-runner --listen)
                         instead of a store directory; also $PROCMAN_CONNECT
  --tls-cert FILE        with --tls-key and --tls-ca (or $PROCMAN_TLS_CERT,
  --tls-key FILE         $PROCMAN_TLS_KEY, $PROCMAN_TLS_CA): mutual TLS,
  --tls-ca FILE          required for a HOST other than loopback
)";

/// Failure that the CLI reports on stderr with an exit code.
struct command_failure {
  int code;
  std::string message;
};

std::string read_spec_text(const std::string& arg) {
  auto first = arg.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && (arg[first] == '{' || arg[first] == '['))
    return arg;
  std::ostringstream buf;
  if (arg == "-") {
    buf << std::cin.rdbuf();
    return buf.str();
  }
  std::ifstream in(arg, std::ios::binary);
  if (!in)
    throw command_failure{1, "cannot read spec file " + arg + ": "
                               + std::strerror(errno)};
  buf << in.rdbuf();
  return buf.str();
}

/// The object of a `--data` option.
json::object data_object(const std::string& text) {
  auto data = parse_user_json(text, "--data");
  if (!data)
    throw command_failure{1, data.error().context};
  if (!data->is_object())
    throw command_failure{1, "--data must be a JSON object"};
  return std::move(data->get_object());
}

process_spec load_spec(const cli::args& a, size_t pos) {
  if (a.positional().size() <= pos)
    throw cli::usage_error("missing SPEC (a file, - or inline JSON)");
  auto spec = parse_spec(read_spec_text(a.positional()[pos]));
  if (!spec)
    throw command_failure{1, spec.error().context};
  if (a.has("data")) {
    auto data = data_object(a.get("data"));
    auto base = parse_json(spec->data);
    spec->data = dump(merge_objects(base ? *base : json::value{}, data));
  }
  return std::move(*spec);
}

const std::string& pid_arg(const cli::args& a) {
  if (a.positional().size() < 2)
    throw cli::usage_error("missing PID");
  if (a.positional().size() > 2)
    throw cli::usage_error("unexpected argument \"" + a.positional()[2] + "\"");
  return a.positional()[1];
}

/// The store node to ask: --connect, else $PROCMAN_CONNECT unless --store
/// is given. Empty: the store directory.
std::string connect_arg(const cli::args& a) {
  if (a.has("connect")) {
    if (a.has("store"))
      throw cli::usage_error("options --store and --connect exclude each "
                             "other: the store node at --connect has the "
                             "store");
    return a.get("connect");
  }
  if (a.has("store"))
    return {};
  return cli::env("connect");
}

/// The front door: the store directory, or the store node at --connect.
door open_door(const cli::args& a) {
  auto where = connect_arg(a);
  if (where.empty()) {
    // procman web serves HTTPS with --tls-cert and --tls-key.
    bool web = !a.positional().empty() && a.positional()[0] == "web";
    for (auto opt : {"tls-cert", "tls-key", "tls-ca"})
      if (a.has(opt) && !(web && opt != std::string{"tls-ca"}))
        throw cli::usage_error(std::string("option --") + opt
                               + " needs --connect");
    auto d = door::open(cli::store_dir(a));
    if (!d)
      throw command_failure{1, render(d.error())};
    return std::move(*d);
  }
  auto file = [&](const char* opt) { return cli::value_or_env(a, opt); };
  auto d = cli::connect_remote(
    {where, a.has("connect") ? "option --connect" : "$PROCMAN_CONNECT",
     file("tls-cert"), file("tls-key"), file("tls-ca")});
  if (!d) {
    if (is(d.error(), errc::invalid_argument))
      throw cli::usage_error(render(d.error()));
    throw command_failure{1, render(d.error())};
  }
  return std::move(*d);
}

template <class T>
T value_or_fail(outcome<T> x) {
  if (!x)
    throw command_failure{1, render(x.error())};
  return std::move(*x);
}

bool stdout_is_tty() {
  return isatty(1) == 1;
}

void print_json(const json::value& v) {
  std::cout << json::serialize(v) << "\n";
}

void print_info(const process_record& rec) {
  std::cout << dump_info(render_info(rec)) << "\n";
}

void warn(const std::string& what) {
  std::cerr << "procman: warning: " << what << "\n";
}

/// After an enqueue, proceed or retry: nothing runs a queued process while no
/// runner serves the store. Says so, without failing the command.
void warn_without_runner(door& d) {
  auto dir = d.store_dir();
  if (dir.empty())
    return; // a store node runs what it queues
  auto n = d.call(runners_request{});
  if (!n || *n > 0)
    return;
  warn("no runner is listening on store " + dir
       + "; the process stays queued until one runs (procman-runner --store "
       + dir + ")");
}

/// Checks the steps of `spec` as far as this program can tell before the
/// process is queued (step_registry::precheck): against the built-ins and
/// the step libraries named by $PROCMAN_STEP_LIBS, and no others (`start`
/// never loads a library the user did not name there). A refusal throws
/// (exit 1, nothing queued); a class of a namespace none of them
/// registers is allowed, since a runner's --step-lib may provide it, with
/// a warning; so is a library that cannot be loaded here.
void check_at_the_door(const process_spec& spec) {
  step_registry reg;
  register_builtin_steps(reg);
  service_registry services;
  for (auto& path : split_library_list(cli::env("step-lib"))) {
    if (auto f = load_step_library(path, reg, services))
      warn(f.context + "; the classes it would register are not checked");
  }
  std::vector<step_spec> unchecked;
  if (auto f = reg.precheck(spec.steps, services, &unchecked))
    throw command_failure{1, f.context};
  for (auto& s : unchecked)
    warn("step \"" + s.name + "\": class \"" + s.cls
         + "\" is not built in and no library of PROCMAN_STEP_LIBS "
           "registers it; only a runner that loads one that does "
           "(--step-lib) can run it");
}

// -- progress bar -------------------------------------------------------------

void draw_progress(const process_record& rec) {
  size_t done = 0;
  for (auto s : rec.step_states)
    if (s == step_status::completed)
      ++done;
  double frac
    = rec.steps.empty() ? 0.0 : static_cast<double>(done) / rec.steps.size();
  if (rec.status == process_status::running && !rec.progress.step.empty()
      && !rec.steps.empty())
    frac += std::clamp(rec.progress.percent, 0.0, 100.0) / 100.0
            / rec.steps.size();
  if (rec.status == process_status::finished)
    frac = 1.0;
  constexpr int width = 30;
  int filled = static_cast<int>(std::round(frac * width));
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '-');
  std::string what = to_string(rec.status);
  if (rec.status == process_status::running) {
    auto idx = static_cast<size_t>(rec.last_completed + 1);
    if (idx < rec.steps.size())
      what += " " + rec.steps[idx].name;
    if (!rec.progress.message.empty())
      what += ": " + rec.progress.message;
  }
  if (what.size() > 40)
    what.resize(40);
  fprintf(stderr, "\r\033[K[%s] %3d%% %zu/%zu %s", bar.c_str(),
          static_cast<int>(std::round(frac * 100)), done, rec.steps.size(),
          what.c_str());
  fflush(stderr);
}

// -- commands -----------------------------------------------------------------

uint64_t delay_ms(const std::string& text);

int cmd_start(const cli::args& a) {
  if (a.positional().size() > 2)
    throw cli::usage_error("unexpected argument \"" + a.positional()[2] + "\"");
  auto spec = load_spec(a, 1);
  if (a.has("timeout"))
    spec.timeout = static_cast<uint32_t>(a.number("timeout", 0, 1, 31536000));
  check_at_the_door(spec);
  if (a.has("delay"))
    spec.not_before = now_ms() + delay_ms(a.get("delay"));
  if (a.has("priority")) {
    auto text = a.get("priority");
    size_t used = 0;
    long long x = 0;
    try {
      // A digit or a minus first: stoll would also take blanks and a plus.
      if (!text.empty()
          && (std::isdigit(static_cast<unsigned char>(text[0]))
              || text[0] == '-'))
        x = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != text.size() || text.empty() || x < INT32_MIN || x > INT32_MAX)
      throw cli::usage_error("option --priority must be a whole number "
                             "(higher runs first), not \""
                             + text + "\"");
    spec.priority = static_cast<int32_t>(x);
  }
  if (a.has("key")) {
    if (a.get("key").empty())
      throw cli::usage_error("option --key needs a key; leave it out for a "
                             "process without one");
    spec.key = a.get("key");
  }
  auto d = open_door(a);
  auto res = value_or_fail(d.submit(spec));
  std::cout << res.pid << "\n";
  std::cout.flush();
  if (res.existing)
    std::cerr << "procman: process " << res.pid << " holds the key \""
              << spec.key << "\" already; nothing was enqueued\n";
  else
    warn_without_runner(d);
  return 0;
}

/// Milliseconds of `--delay` (parse_duration: `30`, `30s`, `5m`, `1.5h`).
uint64_t delay_ms(const std::string& text) {
  auto ms = parse_duration(text, "option --delay");
  if (!ms)
    throw cli::usage_error(ms.error().context);
  return *ms;
}

int cmd_retry(const cli::args& a) {
  auto d = open_door(a);
  print_info(value_or_fail(d.call(retry_request{pid_arg(a), {}})));
  std::cout.flush();
  warn_without_runner(d);
  return 0;
}

int cmd_schedule(const cli::args& a) {
  auto& p = a.positional();
  auto sub = p.size() > 1 ? p[1] : std::string{};
  if (sub == "add") {
    if (p.size() < 5)
      throw cli::usage_error("usage: procman schedule add NAME \"CRON\" SPEC");
    if (p.size() > 5)
      throw cli::usage_error("unexpected argument \"" + p[5] + "\"");
    auto spec = load_spec(a, 4);
    check_at_the_door(spec);
    auto d = open_door(a);
    print_json(render_schedule(
      value_or_fail(d.call(schedule_add_request{p[2], p[3], spec}))));
    return 0;
  }
  if (sub == "list") {
    if (p.size() > 2)
      throw cli::usage_error("unexpected argument \"" + p[2] + "\"");
    auto d = open_door(a);
    for (auto& x : value_or_fail(d.call(schedules_request{})))
      print_json(render_schedule(x));
    return 0;
  }
  if (sub == "remove") {
    if (p.size() != 3)
      throw cli::usage_error("usage: procman schedule remove NAME");
    auto d = open_door(a);
    print_json(
      render_schedule(value_or_fail(d.call(schedule_remove_request{p[2]}))));
    return 0;
  }
  throw cli::usage_error("usage: procman schedule add NAME \"CRON\" SPEC | "
                         "list | remove NAME");
}

int cmd_status(const cli::args& a) {
  auto d = open_door(a);
  print_info(value_or_fail(d.info(pid_arg(a))));
  return 0;
}

int cmd_proceed(const cli::args& a) {
  auto& pid = pid_arg(a);
  auto data = a.get("data", "{}");
  data_object(data);
  auto d = open_door(a);
  std::cout << value_or_fail(d.call(proceed_request{pid, data, {}})) << "\n";
  std::cout.flush();
  warn_without_runner(d);
  return 0;
}

int cmd_cancel(const cli::args& a) {
  auto d = open_door(a);
  auto rec = value_or_fail(d.cancel(pid_arg(a)));
  print_info(rec);
  if (rec.status == process_status::running) {
    std::cerr << "procman: cancel of " << rec.pid
              << " requested; its runner has not confirmed it yet\n";
    return 1;
  }
  return 0;
}

/// `hold PID` and `release PID`.
template <class Request>
int cmd_hold(const cli::args& a) {
  auto d = open_door(a);
  print_info(value_or_fail(d.call(Request{pid_arg(a), {}})));
  return 0;
}

int cmd_list(const cli::args& a) {
  if (a.positional().size() > 1)
    throw cli::usage_error("unexpected argument \"" + a.positional()[1] + "\"");
  list_query q;
  if (a.has("status")) {
    q.any_status = false;
    auto status = from_string<process_status>(a.get("status"));
    if (status)
      q.status = *status;
    else
      throw cli::usage_error("--status must be queued, held, running, "
                             "interrupted, finished, error or cancelled, not \""
                             + a.get("status") + "\"");
  }
  q.limit = static_cast<uint32_t>(a.number("limit", 100, 1, 1000000));
  auto d = open_door(a);
  auto recs = value_or_fail(d.call(list_request{q}));
  if (stdout_is_tty()) {
    printf("%-32s  %-11s  %-14s  %-14s  %s\n", "PID", "STATUS", "CREATED",
           "FINISHED", "LAST STEP");
    for (auto& r : recs)
      printf("%-32s  %-11s  %-14s  %-14s  %s\n", r.pid.c_str(),
             to_string(r.status).c_str(), timestamp(r.created_at).c_str(),
             timestamp(r.finished_at).c_str(), last_completed_step(r).c_str());
  } else {
    for (auto& r : recs)
      print_info(r);
  }
  return 0;
}

/// Exit code of a settled process, as `wait` has it.
int settled_exit_code(process_status s) {
  switch (s) {
    case process_status::finished:
      return 0;
    case process_status::interrupted:
      return 3;
    default:
      return 1;
  }
}

int cmd_wait(const cli::args& a) {
  auto& pid = pid_arg(a);
  auto secs = a.number("timeout", 0, 0, 31536000);
  auto d = open_door(a);
  bool bar = isatty(2) == 1;
  auto res = d.wait(pid, std::chrono::seconds(secs),
                    [bar](const process_record& rec) {
                      if (bar)
                        draw_progress(rec);
                    });
  if (bar)
    fprintf(stderr, "\n");
  if (!res) {
    if (is(res.error(), errc::timeout)) {
      std::cerr << "procman: wait timed out: " << render(res.error()) << "\n";
      if (auto rec = d.info(pid))
        print_info(*rec);
      return 4;
    }
    throw command_failure{1, render(res.error())};
  }
  print_info(*res);
  return settled_exit_code(res->status);
}

int cmd_run(const cli::args& a) {
  if (a.positional().size() > 2)
    throw cli::usage_error("unexpected argument \"" + a.positional()[2] + "\"");
  auto spec = load_spec(a, 1);
  step_registry reg;
  register_builtin_steps(reg);
  service_registry services;
  auto libs = cli::step_libs(a);
  if (!libs.empty())
    if (auto f = load_step_libraries(libs, reg, services))
      throw command_failure{1, f.context};
  auto data = parse_json(spec.data);
  step_observer obs;
  step_run_options opts;
  // Ends what the steps started, even commands that left its process
  // group (apps/procman/run_tree.hpp).
  cli::hold_run_tree();
  auto res = run_steps(spec.steps, 0,
                       data && data->is_object() ? data->get_object()
                                                 : json::object{},
                       reg, services, obs, opts);
  cli::end_run_tree();
  switch (res.outcome) {
    case step_run_result::finished:
      print_json(res.output);
      return 0;
    case step_run_result::interrupted:
      print_json(res.output);
      std::cerr << "procman: paused at interrupting step \""
                << spec.steps[res.step].name
                << "\"; run does not resume (use start and proceed)\n";
      return 3;
    case step_run_result::failed:
    default:
      print_json(json::object{{"error", json::value_from(res.error)}});
      std::cerr << "procman: " << res.error.message << "\n";
      return 1;
  }
}

int cmd_logs(const cli::args& a) {
  auto& pid = pid_arg(a);
  std::optional<output_stream> only;
  if (a.has("stream")) {
    only = output_stream_from(a.get("stream"));
    if (!only)
      throw cli::usage_error("--stream must be stdout or stderr, not \""
                             + a.get("stream") + "\"");
  }
  auto d = open_door(a);
  // The store's output limit, for a message.
  std::optional<uint64_t> limit;
  if (auto xs = d.call(config_request{"get", "output-limit", 0});
      xs && !xs->empty())
    limit = xs->front().value;
  auto dropped = [&](uint64_t bytes, bool before_start) {
    std::cout.flush();
    std::cerr << "procman: " << bytes << " bytes of "
              << (before_start ? "earlier " : "") << "output were dropped"
              << (before_start ? "" : " before they could be shown")
              << " (the store keeps the last "
              << (limit ? format_size(*limit) : std::string{"?"})
              << " bytes of each process; procman config set output-limit)\n";
  };
  auto print = [&](const output_chunk& chunk) {
    if (!only || chunk.stream == *only)
      std::cout.write(chunk.data.data(),
                      static_cast<std::streamsize>(chunk.data.size()));
  };
  if (!a.flag("follow")) {
    auto log = value_or_fail(d.call(output_request{pid, 0}));
    if (log.dropped_bytes > 0)
      dropped(log.dropped_bytes, true);
    for (auto& chunk : log.chunks)
      print(chunk);
    std::cout.flush();
    return 0;
  }
  bool first = true;
  auto log = value_or_fail(d.follow_output(
    pid,
    [&](const output_chunk& chunk) {
      first = false;
      print(chunk);
      std::cout.flush();
    },
    [&](uint64_t bytes) { dropped(bytes, first); }));
  std::cout.flush();
  return settled_exit_code(log.status);
}

int cmd_purge(const cli::args& a) {
  if (a.positional().size() > 1)
    throw cli::usage_error("unexpected argument \"" + a.positional()[1] + "\"");
  std::optional<uint64_t> older_than;
  if (a.has("older-than")) {
    auto ms = parse_duration(a.get("older-than"), "option --older-than");
    if (!ms)
      throw cli::usage_error(ms.error().context);
    older_than = *ms;
  }
  auto d = open_door(a);
  purge_request r;
  r.by_retention = !older_than;
  r.older_than_ms = older_than.value_or(0);
  auto res = value_or_fail(d.call(r));
  print_json(json::object{{"purged", res.purged},
                          {"older_than", format_duration(res.older_than_ms)}});
  return 0;
}

int cmd_remove(const cli::args& a) {
  auto d = open_door(a);
  std::cout << value_or_fail(d.call(remove_request{pid_arg(a), {}})) << "\n";
  return 0;
}

/// A setting's value as users write it.
std::string setting_text(const setting_value& x) {
  return x.name == "retention" ? format_duration(x.value)
                               : format_size(x.value);
}

int cmd_config(const cli::args& a) {
  auto& pos = a.positional();
  auto known = [](const std::string& name) {
    if (name != "retention" && name != "output-limit")
      throw cli::usage_error("unknown setting \"" + name
                             + "\" (known: retention, output-limit)");
    return name;
  };
  config_request r;
  if (pos.size() == 1) {
    json::object all;
    for (auto& x : value_or_fail(open_door(a).call(r)))
      all[x.name] = setting_text(x);
    print_json(all);
    return 0;
  }
  auto& verb = pos[1];
  if ((verb == "get" || verb == "unset") && pos.size() == 3) {
    r.action = verb;
    r.name = known(pos[2]);
  } else if (verb == "set" && pos.size() == 4) {
    r.action = verb;
    r.name = known(pos[2]);
    auto& text = pos[3];
    auto value = r.name == "retention" ? parse_duration(text, "retention")
                                       : parse_size(text, "output-limit");
    if (!value)
      throw cli::usage_error(value.error().context);
    if (r.name == "retention" && *value < 1000)
      throw cli::usage_error("retention must be at least 1s (procman purge "
                             "--older-than 0s purges at once)");
    r.value = *value;
  } else {
    throw cli::usage_error("usage: procman config [get NAME | set NAME VALUE | "
                           "unset NAME]");
  }
  auto xs = value_or_fail(open_door(a).call(r));
  std::cout << setting_text(xs.front()) << "\n";
  return 0;
}

int cmd_log(const cli::args& a) {
  if (a.positional().size() < 2 || a.positional()[1] != "export")
    throw cli::usage_error(
      "usage: procman log export [--since SEQ] [--pid PID]");
  if (a.positional().size() > 2)
    throw cli::usage_error("unexpected argument \"" + a.positional()[2] + "\"");
  log_export_request r;
  r.since = a.number("since", 0);
  r.pid = a.get("pid");
  auto snap = value_or_fail(open_door(a).call(r));
  std::string out;
  out += json::serialize(log_header(snap.store, r.since, r.pid, now_ms()));
  out += '\n';
  for (auto& e : snap.entries) {
    out += json::serialize(log_line(e));
    out += '\n';
  }
  for (auto& x : snap.records) {
    out += json::serialize(record_line(x));
    out += '\n';
  }
  std::cout << out;
  return 0;
}

int cmd_replay(const cli::args& a) {
  if (a.positional().size() != 2)
    throw cli::usage_error("usage: procman replay LOG.jsonl");
  return cli::replay_file(a.positional()[1]);
}

// -- the command line ---------------------------------------------------------

/// A usage error of the command line's shape (an option the command does not
/// take, a missing value): shown with the command's usage.
struct option_error : cli::usage_error {
  using cli::usage_error::usage_error;
};

/// The options every command takes, before or after its name.
constexpr const char* global_footer
  = "every command also takes --store DIR, or --connect HOST:PORT with "
    "--tls-cert, --tls-key and --tls-ca FILE (procman --help)";

/// A command: its name, how its help names its positional words, what it
/// does, and the options it takes.
struct command_decl {
  const char* name;
  const char* words;
  const char* help;
  std::vector<cli::option_decl> options;
};

/// procman's commands, each with only its own options (docs/usage.md,
/// "Options by command").
const std::vector<command_decl>& commands() {
  using cli::option_decl;
  constexpr auto opt = option_decl::option;
  const option_decl data{"data", opt, "JSON",
                         "a JSON object merged over the spec's data (its "
                         "keys win)"};
  static const std::vector<command_decl> xs{
    {"start",
     "SPEC",
     "enqueue a process; prints its pid (SPEC: a file, - "
     "for stdin, or inline JSON)",
     {data,
      {"timeout", opt, "S", "seconds it may run (instead of the spec's)"},
      {"delay", opt, "D",
       "run it no sooner than D from now (30, 30s, 5m, "
       "2h, 1d)"},
      {"priority", opt, "N", "higher runs first (default 0)"},
      {"key", opt, "K",
       "a unique key: while a process holding K is queued, "
       "held, running or interrupted, print its pid and "
       "enqueue nothing"}}},
    {"retry",
     "PID",
     "queue an errored process again; it resumes at its "
     "failed step",
     {}},
    {"schedule",
     "add NAME \"CRON\" SPEC | list | remove NAME",
     "enqueue SPEC at each due time of CRON (UTC; add replaces NAME), list "
     "the schedules as JSON lines, or remove one",
     {}},
    {"status", "PID", "the process info as JSON", {}},
    {"proceed", "PID", "resume an interrupted process", {data}},
    {"cancel",
     "PID",
     "cancel a queued, held, interrupted or running "
     "process",
     {}},
    {"hold",
     "PID",
     "keep a queued or delayed process from running (status "
     "held)",
     {}},
    {"release", "PID", "let a held process run again", {}},
    {"list",
     "",
     "processes, newest first (JSON lines; a table on a "
     "terminal)",
     {{"status", opt, "S",
       "only those with status S (queued, held, running, "
       "interrupted, finished, error, cancelled)"},
      {"limit", opt, "N", "at most N (default 100)"}}},
    {"wait",
     "PID",
     "wait for the process to settle; exit 0 finished, 1 "
     "error or cancelled, 3 interrupted, 4 timeout",
     {{"timeout", opt, "S",
       "give up after S seconds (exit 4; default: wait "
       "as long as it takes)"}}},
    {"logs",
     "PID",
     "what its commands wrote (stdout and stderr)",
     {{"follow", option_decl::flag, "",
       "as it comes, until the process settles (exit codes as wait)"},
      {"stream", opt, "S", "only stdout or only stderr"}}},
    {"purge",
     "",
     "remove finished, failed and cancelled processes; prints "
     "how many",
     {{"older-than", opt, "D",
       "those that ended more than D ago (30s, 15m, "
       "12h, 7d; default: the retention setting)"}}},
    {"remove",
     "PID",
     "remove a finished, failed or cancelled process now, with its output; "
     "prints its pid",
     {}},
    {"config",
     "[get NAME | set NAME VALUE | unset NAME]",
     "the store's settings: retention (7d), output-limit (1M)",
     {}},
    {"run",
     "SPEC",
     "run the steps here and now; print the output (no store, "
     "no runner)",
     {data,
      {"step-lib", option_decl::repeated, "P",
       "a step library to load (repeatable; also $PROCMAN_STEP_LIBS)"}}},
    {"log",
     "export",
     "the message log as JSON Lines",
     {{"since", opt, "SEQ", "entries after SEQ"},
      {"pid", opt, "PID", "only those of process PID"}}},
    {"replay",
     "LOG.jsonl",
     "re-run a log through the engine "
     "deterministically; exit 0 when it matches, 1 at the first divergence",
     {}},
    {"token",
     "create | list | revoke ID|NAME",
     "the HTTP API's bearer tokens: create one (printed once), list them as "
     "JSON lines, or revoke one",
     {{"scope", opt, "S", "create: read, operate or admin"},
      {"name", opt, "N", "create: a name to list and revoke it by"}}},
    {"web", "",
     "serve the HTTP API (docs/http.md), HTTPS with --tls-cert and "
     "--tls-key; runs no processes",
     cli::http_option_decls()},
    {"help", "[COMMAND]", "procman's usage, or COMMAND's", {}},
  };
  return xs;
}

/// Declares the options and positional words of command `c` on its `sub`.
void declare_options(CLI::App& sub, cli::args& a, const command_decl& c) {
  sub.set_help_flag("-h,--help", "this text");
  for (auto& o : c.options)
    cli::declare(sub, a, {o});
  cli::positionals(sub, a, c.words);
}

/// Declares procman's commands on `app`; what a command line gives lands in
/// `a` (the command's name first among the positional words). Options of
/// `app` itself are global: CLI11 hands an option a command does not take
/// to its parent (fallthrough), so they go before or after the command.
/// Start-up stays cheap: a command gets its options, --help included, once
/// it is named (CLI11 spends most of its time declaring options).
void declare_commands(CLI::App& app, cli::args& a) {
  using cli::option_decl;
  constexpr auto opt = option_decl::option;
  app.formatter(std::make_shared<cli::formatter>());
  app.option_defaults()->group("options");
  app.set_help_flag();
  app.require_subcommand(0, 1);
  app.fallthrough();
  app.allow_extras();
  app.footer(global_footer);
  cli::declare(
    app, a,
    {{"store", opt, "DIR", "the store directory"},
     {"connect", opt, "HOST:PORT", "the store node to ask"},
     {"tls-cert", opt, "FILE", "this client's certificate (web: the server's)"},
     {"tls-key", opt, "FILE", "its key"},
     {"tls-ca", opt, "FILE", "the CA of the store node"},
     {"version", option_decl::flag, "", "the version"},
     {"help", option_decl::flag, "", "this text"}});
  for (auto& c : commands()) {
    auto* sub = app.add_subcommand(c.name, c.help);
    if (c.name == std::string{"run"} || c.name == std::string{"replay"}
        || c.name == std::string{"help"})
      sub->footer("");
    sub->preparse_callback([&a, sub, &c](size_t) {
      a.add_positional(c.name);
      declare_options(*sub, a, c);
    });
  }
}

/// The command the command line names, if any.
const CLI::App* command_of(const CLI::App& app) {
  auto subs = app.get_subcommands();
  return subs.empty() ? nullptr : subs.front();
}

/// Refuses what no one took: an option of another command (or of none), a
/// command's option before the command, an unknown command.
void check_rest(const CLI::App& app, const CLI::App* cmd) {
  auto rest = app.remaining(true);
  auto name = cli::unknown_option(rest);
  if (name.empty()) {
    for (auto& w : rest)
      if (w != "--")
        throw cli::usage_error("unknown command \"" + w + "\"");
    return;
  }
  std::string owners;
  for (auto& c : commands())
    for (auto& o : c.options)
      if (name == "--" + std::string{o.name})
        owners += (owners.empty() ? "" : ", ") + std::string{c.name};
  if (!cmd)
    throw option_error(owners.empty()
                         ? "unknown option " + name
                         : "option " + name + " belongs to a command (" + owners
                             + "): give it after the command");
  auto what = cmd->get_name();
  if (cmd->get_option_no_throw(name))
    throw option_error("option " + name + " is an option of " + what
                       + ": give it after the command");
  if (owners.empty())
    throw option_error("unknown option " + name + " for " + what);
  throw option_error("option " + name + " does not go with " + what
                     + "; it is an option of " + owners);
}

/// `help [COMMAND]`.
int cmd_help(CLI::App& app, const cli::args& a) {
  auto& p = a.positional();
  if (p.size() > 2)
    throw cli::usage_error("unexpected argument \"" + p[2] + "\"");
  if (p.size() == 1) {
    std::cout << usage;
    return 0;
  }
  for (auto& c : commands())
    if (p[1] == c.name) {
      // Its options (unless it is help itself, declared when named), into
      // values no one reads.
      cli::args unused;
      auto* sub = app.get_subcommand(c.name);
      if (!sub->get_option_no_throw("words"))
        declare_options(*sub, unused, c);
      std::cout << sub->help("procman");
      return 0;
    }
  throw cli::usage_error("unknown command \"" + p[1] + "\"");
}

} // namespace

int main(int argc, char** argv) {
  procman::cli::remember_arguments(argc, argv);
  cli::args a;
  CLI::App app{"", "procman"};
  declare_commands(app, a);
  const CLI::App* cmd_app = nullptr;
  try {
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
      std::cout << app.help();
      return 0;
    } catch (const CLI::ParseError& e) {
      cmd_app = command_of(app);
      throw option_error(cli::describe(e));
    } catch (const cli::usage_error& e) {
      cmd_app = command_of(app);
      throw option_error(e.what());
    }
    cmd_app = command_of(app);
    if (a.flag("version")) {
      print_version("procman");
      return 0;
    }
    if (a.flag("help")) {
      std::cout << (cmd_app ? app.help() : std::string{usage});
      return 0;
    }
    check_rest(app, cmd_app);
    if (!cmd_app) {
      std::cout << usage;
      return 2;
    }
    auto& cmd = a.positional()[0];
    if (cmd == "help")
      return cmd_help(app, a);
    if (cmd == "start")
      return cmd_start(a);
    if (cmd == "status")
      return cmd_status(a);
    if (cmd == "proceed")
      return cmd_proceed(a);
    if (cmd == "cancel")
      return cmd_cancel(a);
    if (cmd == "list")
      return cmd_list(a);
    if (cmd == "wait")
      return cmd_wait(a);
    if (cmd == "run")
      return cmd_run(a);
    if (cmd == "log")
      return cmd_log(a);
    if (cmd == "logs")
      return cmd_logs(a);
    if (cmd == "purge")
      return cmd_purge(a);
    if (cmd == "remove")
      return cmd_remove(a);
    if (cmd == "config")
      return cmd_config(a);
    if (cmd == "replay")
      return cmd_replay(a);
    if (cmd == "retry")
      return cmd_retry(a);
    if (cmd == "hold")
      return cmd_hold<hold_request>(a);
    if (cmd == "release")
      return cmd_hold<release_request>(a);
    if (cmd == "schedule")
      return cmd_schedule(a);
    if (cmd == "token")
      return cli::token_command(a, [&] { return open_door(a); });
    if (cmd == "web")
      return cli::web_command(a, [&] { return open_door(a); });
    throw cli::usage_error("unknown command \"" + cmd + "\"");
  } catch (const option_error& e) {
    // The command's usage; without a command, the hint as for other errors.
    std::cerr << "procman: " << e.what() << "\n";
    if (cmd_app)
      std::cerr << "\n" << app.help();
    else
      std::cerr << "(see procman --help)\n";
    return 2;
  } catch (const cli::usage_error& e) {
    std::cerr << "procman: " << e.what() << "\n(see procman "
              << (cmd_app ? cmd_app->get_name() + " " : "") << "--help)\n";
    return 2;
  } catch (const command_failure& f) {
    std::cerr << "procman: " << f.message << "\n";
    return f.code;
  } catch (const std::exception& e) {
    std::cerr << "procman: " << e.what() << "\n";
    return 1;
  }
}
