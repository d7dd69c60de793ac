// The measurements. Each section adds rows to the report (what the table
// shows) and raw figures to its JSON object.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procman/apps/procman-bench/bench.hpp"
#include "procman/engine/engine.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/fwd.hpp"
#include "procman/messages/log_format.hpp"
#include "procman/messages/render.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/messages/time.hpp"
#include "procman/persistence/store.hpp"
#include "procman/replay/replay.hpp"
#include "procman/steps/step.hpp"
#include "procman/steps/step_registry.hpp"

extern char** environ;

namespace procman::bench {

namespace fs = std::filesystem;

/// bench.hpp's get_or_throw for what an actor answers.
template <class T>
T get_or_throw(caf::expected<T> x, const std::string& what) {
  return get_or_throw(to_outcome(std::move(x)), what);
}

namespace {

process_spec parse_or_throw(const std::string& text) {
  auto spec = parse_spec(text);
  if (!spec)
    throw std::runtime_error("bad spec: " + spec.error().context);
  return std::move(*spec);
}

/// CPU seconds (user + system) an OS process has used so far; with
/// `children`, those of its children that it has waited for too.
double stat_cpu_seconds(const std::string& stat_path, bool children) {
  std::ifstream in(stat_path);
  std::string text;
  std::getline(in, text);
  auto p = text.rfind(')');
  if (p == std::string::npos)
    return std::nan("");
  std::istringstream rest(text.substr(p + 2));
  std::string field;
  double ticks = 0;
  // Fields after the name: state(3) ... utime(14) stime(15).
  // cutime(16) cstime(17): children waited for.
  for (int i = 3; i <= 17 && rest >> field; ++i)
    if (i == 14 || i == 15 || (children && (i == 16 || i == 17)))
      ticks += std::atof(field.c_str());
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double proc_cpu_seconds(pid_t pid, bool children = false) {
  return stat_cpu_seconds("/proc/" + std::to_string(pid) + "/stat", children);
}

/// CPU seconds of a runner's threads so far, by role (from each thread's
/// name): "store" (CAF's detached actors: the store actor), "workers"
/// (CAF's scheduler), "clock" (CAF's timers), "io" (the main thread and
/// the child service's I/O thread, which keep the program's name).
std::map<std::string, double> runner_thread_cpu(pid_t pid) {
  std::map<std::string, double> out{
    {"store", 0}, {"workers", 0}, {"clock", 0}, {"io", 0}};
  auto dir = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::ifstream comm(e.path() / "comm");
    std::string name;
    std::getline(comm, name);
    auto role = name == "caf.actor"         ? "store"
                : name == "caf.multiplexer" ? "workers"
                : name == "caf.clock"       ? "clock"
                                            : "io";
    out[role] += stat_cpu_seconds((e.path() / "stat").string(), false);
  }
  return out;
}

// -- 1. raw limit -------------------------------------------------------------

struct raw_child {
  pid_t pid = 0;
  int out = -1;
  int err = -1;
  std::string buf;
};

/// Starts procman-exec the way the child service does: posix_spawn, a
/// process group of its own, three pipes, the parent pid in the
/// environment; the input written at once.
raw_child raw_start(const std::string& exec, const std::string& input,
                    const std::vector<std::string>& env) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0
      || pipe2(err, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e)
    envp.push_back(*e);
  for (auto& e : env)
    envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  char* argv[] = {const_cast<char*>(exec.c_str()), nullptr};
  raw_child c;
  int rc = posix_spawn(&c.pid, argv[0], &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0)
    throw std::runtime_error("cannot start " + exec + ": " + std::strerror(rc));
  // Small input: fits the pipe, never blocks.
  auto n = write(in[1], input.data(), input.size());
  static_cast<void>(n);
  close(in[1]);
  c.out = out[0];
  c.err = err[0];
  return c;
}

struct raw_figures {
  double rate = 0;
  double seconds = 0;
  uint64_t failures = 0;
  double cpu_us = 0; ///< CPU of one executor (user + system)
};

double children_cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  auto sec = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

/// Runs `n` trivial executors, at most `p` at a time.
raw_figures raw_limit(const options& o, uint64_t n, uint32_t p) {
  auto exec = o.bin_dir + "/procman-exec";
  std::string pid = "0123456789abcdef0123456789abcdef";
  auto input = trivial_exec_input(pid);
  std::vector<std::string> env{"PROCMAN_PARENT_PID=" + std::to_string(getpid()),
                               "PROCMAN_PID=" + pid};
  std::vector<raw_child> active;
  uint64_t started = 0, done = 0, failures = 0;
  char buf[65536];
  auto cpu0 = children_cpu_seconds();
  auto t0 = clock::now();
  while (done < n) {
    while (active.size() < p && started < n) {
      active.push_back(raw_start(exec, input, env));
      ++started;
    }
    std::vector<pollfd> fds;
    for (auto& c : active) {
      if (c.out >= 0)
        fds.push_back(pollfd{c.out, POLLIN, 0});
      if (c.err >= 0)
        fds.push_back(pollfd{c.err, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR)
      throw std::runtime_error("poll: " + std::string(std::strerror(errno)));
    for (auto& f : fds) {
      if (f.revents == 0)
        continue;
      for (auto& c : active) {
        if (c.out == f.fd) {
          auto got = read(c.out, buf, sizeof(buf));
          if (got > 0) {
            c.buf.append(buf, static_cast<size_t>(got));
          } else if (got == 0 || errno != EINTR) {
            close(c.out);
            c.out = -1;
          }
        } else if (c.err == f.fd) {
          auto got = read(c.err, buf, sizeof(buf));
          if (got <= 0 && (got == 0 || errno != EINTR)) {
            close(c.err);
            c.err = -1;
          }
        }
      }
    }
    for (auto i = active.begin(); i != active.end();) {
      if (i->out < 0 && i->err < 0) {
        int code = wait_exit(i->pid);
        if (code != 0
            || i->buf.find("\"event\":\"finished\"") == std::string::npos)
          ++failures;
        ++done;
        i = active.erase(i);
      } else {
        ++i;
      }
    }
  }
  raw_figures f;
  f.seconds = seconds_since(t0);
  f.rate = static_cast<double>(n) / f.seconds;
  f.failures = failures;
  f.cpu_us = (children_cpu_seconds() - cpu0) * 1e6 / static_cast<double>(n);
  return f;
}

// -- 2. engine throughput -----------------------------------------------------

struct engine_figures {
  double rate = 0;
  double seconds = 0;
  double enqueue_rate = 0;
  uint64_t finished = 0;
  uint64_t other = 0;
  long idle_rss = -1;
  long idle_hwm = -1;
  long load_hwm = -1;
  long load_anon = -1;
  long load_file = -1;
  double runner_cpu = 0;
  double total_cpu = 0; ///< the runner and its executors
  /// The runner's CPU by thread role (runner_thread_cpu).
  std::map<std::string, double> thread_cpu;
};

json::object parse_child_line(const captured& c, const std::string& what) {
  if (c.code != 0)
    throw std::runtime_error(what + " exited with " + std::to_string(c.code));
  json::error_code ec;
  auto v = json::parse(c.out, ec);
  if (ec || !v.is_object())
    throw std::runtime_error(what + " printed no JSON: " + c.out);
  return v.as_object();
}

/// Waits until `pid` is no longer queued or running (or `want_running`:
/// no longer queued), reading its record every 100 µs.
process_record await_record(client& c, const std::string& pid,
                            bool want_running, double timeout_s = 120) {
  auto t0 = clock::now();
  for (;;) {
    auto rec = get_or_throw(c.info(pid), "status of " + pid);
    if (want_running ? rec.status != process_status::queued
                     : (is_terminal(rec.status)
                        || rec.status == process_status::interrupted))
      return rec;
    if (seconds_since(t0) > timeout_s)
      throw std::runtime_error("process " + pid + " did not settle within "
                               + fmt(timeout_s, 0) + " s");
    poll_pause();
  }
}

/// N trivial processes through a real `procman-runner --wait`. With
/// `prequeue` they are all enqueued (batched) before the runner starts and
/// the time runs from the first claim; else another OS process enqueues
/// them one at a time while the runner works, and the time runs from the
/// first enqueue. Either way it ends when the last one finished.
engine_figures engine_throughput(const options& o, const std::string& store,
                                 uint64_t n, uint32_t p, bool prequeue,
                                 const std::string& executor) {
  engine_figures f;
  remove_tree(store);
  auto enqueue = [&](bool batched) {
    std::vector<std::string> argv{o.self, "enqueue", "--store",
                                  store,  "--n",     std::to_string(n)};
    if (batched) {
      argv.push_back("--batch");
      argv.push_back("1000");
    }
    return parse_child_line(run_capture(argv, o.work_dir + "/enqueue.log"),
                            "enqueue child");
  };
  json::object res;
  if (prequeue)
    res = enqueue(true);
  std::vector<std::string> args{"--wait", "--parallel", std::to_string(p),
                                "--executor", executor};
  args.insert(args.end(), o.runner_args.begin(), o.runner_args.end());
  runner_proc runner(o, store, args, o.work_dir + "/engine-runner.log");
  runner.await_ready(store);
  if (!prequeue) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    f.idle_rss = runner.rss_kib();
    f.idle_hwm = runner.hwm_kib();
  }
  auto cpu0 = proc_cpu_seconds(runner.pid());
  auto all0 = proc_cpu_seconds(runner.pid(), true);
  auto threads0 = runner_thread_cpu(runner.pid());
  if (!prequeue)
    res = enqueue(false);
  auto t0_us = res.at("t0_us").to_number<uint64_t>();
  auto t1_us = res.at("t1_us").to_number<uint64_t>();
  f.enqueue_rate = static_cast<double>(n)
                   / (static_cast<double>(t1_us - t0_us) / 1e6);
  auto last = std::string(res.at("last").as_string());
  auto c = get_or_throw(client::open(store), "open " + store);
  await_record(c, last, false, 600);
  // At most P - 1 others are still running.
  std::vector<process_record> recs;
  auto t_wait = clock::now();
  for (;;) {
    list_query q;
    q.limit = static_cast<uint32_t>(n + 10);
    recs = get_or_throw(c.list(q), "list");
    bool settled = std::all_of(recs.begin(), recs.end(),
                               [](auto& r) { return is_terminal(r.status); });
    if (settled)
      break;
    if (seconds_since(t_wait) > 60)
      throw std::runtime_error("processes did not finish");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  uint64_t last_ms = 0, first_ms = UINT64_MAX;
  for (auto& r : recs) {
    last_ms = std::max(last_ms, r.finished_at);
    first_ms = std::min(first_ms, r.started_at);
    if (r.status == process_status::finished)
      ++f.finished;
    else
      ++f.other;
  }
  f.load_hwm = runner.hwm_kib();
  f.load_anon = proc_status_kib(runner.pid(), "RssAnon");
  f.load_file = proc_status_kib(runner.pid(), "RssFile");
  f.runner_cpu = proc_cpu_seconds(runner.pid()) - cpu0;
  f.total_cpu = proc_cpu_seconds(runner.pid(), true) - all0;
  f.thread_cpu = runner_thread_cpu(runner.pid());
  for (auto& [role, s] : f.thread_cpu)
    s -= threads0[role];
  runner.stop();
  // finished_at has millisecond resolution: +0.5 ms on average.
  if (prequeue)
    t0_us = first_ms * 1000;
  f.seconds
    = (static_cast<double>(last_ms) * 1000 + 500 - static_cast<double>(t0_us))
      / 1e6;
  f.rate = static_cast<double>(n) / f.seconds;
  return f;
}

} // namespace

void run_raw_and_engine(const options& o, report& r) {
  auto p = o.parallel;
  if (o.wants("raw") || o.wants("engine")) {
    auto raw1 = raw_limit(o, o.raw_n, 1);
    auto rawp = raw_limit(o, o.raw_n, p);
    auto& s = r.section("raw");
    s["spawns"] = o.raw_n;
    s["one_at_a_time_per_s"] = raw1.rate;
    s["p_at_a_time_per_s"] = rawp.rate;
    s["p"] = p;
    s["failures"] = raw1.failures + rawp.failures;
    r.add("1 raw limit", "procman-exec spawned directly, 1 at a time",
          fmt_rate(raw1.rate) + " (" + fmt_us(1e6 / raw1.rate) + " each)");
    r.add("1 raw limit",
          "procman-exec spawned directly, " + std::to_string(p) + " at a time",
          fmt_rate(rawp.rate));
    if (raw1.failures + rawp.failures > 0)
      r.add("1 raw limit", "failed executors",
            std::to_string(raw1.failures + rawp.failures));
    if (!o.wants("engine"))
      return;
    // Both executor modes, alternating, between two raw measurements: the
    // machine's load drifts, and side by side the ratios still hold.
    struct mode_figures {
      std::string mode;
      engine_figures pre, eng;
    };
    std::vector<mode_figures> modes{{"spawn", {}, {}}, {"fork", {}, {}}};
    for (auto& m : modes) {
      m.pre = engine_throughput(o, o.work_dir + "/engine", o.engine_n, p, true,
                                m.mode);
      m.eng = engine_throughput(o, o.work_dir + "/engine", o.engine_n, p, false,
                                m.mode);
    }
    // The raw limit again, right after.
    auto rawp2 = raw_limit(o, o.raw_n, p);
    double raw_ref = (rawp.rate + rawp2.rate) / 2;
    s["p_at_a_time_after_engine_per_s"] = rawp2.rate;
    r.add("1 raw limit",
          "procman-exec, " + std::to_string(p)
            + " at a time, after the engine runs",
          fmt_rate(rawp2.rate));
    auto& e = r.section("engine");
    e["processes"] = o.engine_n;
    e["p"] = p;
    auto per_process = [&](double seconds) {
      return seconds * 1e6 / static_cast<double>(o.engine_n);
    };
    for (auto& m : modes) {
      auto& eng = m.eng;
      auto& pre = m.pre;
      double ratio = eng.rate / raw_ref;
      json::object j;
      j["per_s"] = eng.rate;
      j["seconds"] = eng.seconds;
      j["ratio_to_raw"] = ratio;
      j["enqueue_per_s"] = eng.enqueue_rate;
      j["finished"] = eng.finished;
      j["not_finished"] = eng.other + pre.other;
      j["runner_cpu_s"] = eng.runner_cpu;
      j["runner_cpu_us_per_process"] = per_process(eng.runner_cpu);
      j["prequeued_per_s"] = pre.rate;
      j["prequeued_ratio_to_raw"] = pre.rate / raw_ref;
      j["prequeued_runner_cpu_us_per_process"] = per_process(pre.runner_cpu);
      json::object by_thread;
      for (auto& [role, s] : pre.thread_cpu)
        by_thread[role] = per_process(s);
      j["prequeued_runner_cpu_us_per_process_by_thread"] = std::move(by_thread);
      double raw_cpu = (rawp.cpu_us + rawp2.cpu_us) / 2;
      double eng_cpu = per_process(eng.total_cpu);
      j["raw_cpu_us_per_process"] = raw_cpu;
      j["engine_cpu_us_per_process"] = eng_cpu;
      j["cpu_ratio"] = raw_cpu / eng_cpu;
      e[m.mode] = std::move(j);
      auto sec = "2 engine, --executor " + m.mode;
      auto cpu = per_process(eng.runner_cpu);
      r.add(sec,
            "throughput, " + fmt_int(static_cast<double>(o.engine_n))
              + " processes, --parallel " + std::to_string(p)
              + ", enqueued while running",
            fmt_rate(eng.rate) + " (" + fmt(ratio, 2) + "x raw)",
            m.mode == "fork" ? ">= 3,000/s" : ">= 0.80x raw",
            (m.mode == "fork" ? eng.rate >= 3000 : ratio >= 0.8) ? 1 : 0);
      r.add(sec, "throughput, all queued before the runner starts",
            fmt_rate(pre.rate) + " (" + fmt(pre.rate / raw_ref, 2) + "x raw)");
      r.add(sec, "enqueue rate of that client (one commit each)",
            fmt_rate(eng.enqueue_rate));
      r.add(
        sec,
        "runner CPU per process (enqueued while running / all queued before)",
        fmt_us(cpu) + " / " + fmt_us(per_process(pre.runner_cpu)), "<= 250 µs",
        cpu <= 250 ? 1 : 0);
      // Where the runner's CPU goes (10 ms ticks: about +-3 µs per
      // process at 3,000 processes).
      auto& tc = pre.thread_cpu;
      r.add(sec,
            "runner CPU per process by thread, all queued before: "
            "store / CAF workers / I/O + main / CAF clock",
            fmt_us(per_process(tc["store"])) + " / "
              + fmt_us(per_process(tc["workers"])) + " / "
              + fmt_us(per_process(tc["io"])) + " / "
              + fmt_us(per_process(tc["clock"])));
      // CPU per process is what decides throughput on a busy machine, and
      // unlike wall time it hardly moves when other machines load the host.
      r.add(sec, "CPU per process: executor alone (raw) / runner + executor",
            fmt_us(raw_cpu) + " / " + fmt_us(eng_cpu) + " ("
              + fmt(raw_cpu / eng_cpu, 2)
              + "x: the engine / raw ratio when CPU-bound)");
      if (eng.other + pre.other > 0)
        r.add(sec, "processes not finished",
              std::to_string(eng.other + pre.other));
    }
    // The memory figures: the default mode's run.
    auto& eng = modes.back().eng;
    auto& m = r.section("rss");
    m["idle_kib"] = eng.idle_rss;
    m["idle_hwm_kib"] = eng.idle_hwm;
    m["load_hwm_kib"] = eng.load_hwm;
    m["load_anon_kib"] = eng.load_anon;
    m["load_file_kib"] = eng.load_file;
    r.add("6 runner RSS", "idle (VmRSS)",
          fmt_mib(static_cast<double>(eng.idle_rss)), "<= 30 MiB",
          eng.idle_rss >= 0 && eng.idle_rss <= 30 * 1024 ? 1 : 0);
    r.add("6 runner RSS", "under load (VmHWM)",
          fmt_mib(static_cast<double>(eng.load_hwm)));
    r.add("6 runner RSS",
          "  of which at the end: own memory (RssAnon) / store pages mapped "
          "(RssFile)",
          fmt_mib(static_cast<double>(eng.load_anon)) + " / "
            + fmt_mib(static_cast<double>(eng.load_file)));
  }
}

// -- 3. latency, 4. status look-ups, 7. timeouts ------------------------------

/// Enqueue -> running / finished, one process at a time with the runner
/// idle between them, through the runner that serves `c`; returns the
/// last pid.
std::string measure_latency(const options& o, report& r, client& c,
                            const process_spec& spec, const std::string& mode) {
  std::string existing_pid;
  {
    std::vector<double> call, to_running, to_finished, ret_to_running;
    uint64_t warmup = 10;
    for (uint64_t i = 0; i < o.latency_n + warmup; ++i) {
      auto t_call = now_us();
      auto pid = get_or_throw(c.start(spec), "start");
      auto t_ret = now_us();
      await_record(c, pid, true);
      auto t_run = now_us();
      auto rec = await_record(c, pid, false);
      auto t_fin = now_us();
      if (rec.status != process_status::finished)
        throw std::runtime_error("latency process " + pid + " ended "
                                 + to_string(rec.status));
      existing_pid = pid;
      if (i >= warmup) {
        call.push_back(t_ret - t_call);
        to_running.push_back(t_run - t_call);
        to_finished.push_back(t_fin - t_call);
        ret_to_running.push_back(t_run - t_ret);
      }
      // Let the runner go idle again.
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    if (o.wants("latency")) {
      auto sec = "3 latency, --executor " + mode;
      auto& s = r.section("latency")
                  .emplace(mode, json::object{})
                  .first->value()
                  .as_object();
      s["processes"] = o.latency_n;
      s["enqueue_call_p50_us"] = percentile(call, 0.5);
      s["enqueue_call_p99_us"] = percentile(call, 0.99);
      s["to_running_p50_us"] = percentile(to_running, 0.5);
      s["to_running_p99_us"] = percentile(to_running, 0.99);
      s["to_finished_p50_us"] = percentile(to_finished, 0.5);
      s["to_finished_p99_us"] = percentile(to_finished, 0.99);
      auto p50r = percentile(to_running, 0.5),
           p99r = percentile(to_running, 0.99);
      auto p50f = percentile(to_finished, 0.5),
           p99f = percentile(to_finished, 0.99);
      auto n = " (" + fmt_int(static_cast<double>(o.latency_n)) + " processes)";
      r.add(sec, "enqueue call (client.start, durable commit) p50 / p99",
            fmt_us(percentile(call, 0.5)) + " / "
              + fmt_us(percentile(call, 0.99)));
      r.add(sec, "enqueue -> running p50" + n, fmt_us(p50r), "<= 1 ms",
            p50r <= 1000 ? 1 : 0);
      r.add(sec, "enqueue -> running p99", fmt_us(p99r), "<= 5 ms",
            p99r <= 5000 ? 1 : 0);
      r.add(sec, "enqueue -> finished p50", fmt_us(p50f), "<= 2 ms",
            p50f <= 2000 ? 1 : 0);
      r.add(sec, "enqueue -> finished p99", fmt_us(p99f));
      s["durable_enqueue_to_running_p50_us"] = percentile(ret_to_running, 0.5);
      r.add(sec, "enqueue durable (client.start returned) -> running p50",
            fmt_us(percentile(ret_to_running, 0.5)));
    }
  }
  return existing_pid;
}

void run_latency_status_timeout(const options& o, report& r) {
  bool any = o.wants("latency") || o.wants("status") || o.wants("timeout");
  if (!any)
    return;
  auto store = o.work_dir + "/latency";
  std::string existing_pid;
  /// A fresh store and an idle runner on it.
  auto start_runner = [&](const std::string& executor) {
    remove_tree(store);
    auto runner = std::make_unique<runner_proc>(
      o, store,
      std::vector<std::string>{"--wait", "--parallel",
                               std::to_string(o.parallel), "--executor",
                               executor},
      o.work_dir + "/latency-runner.log");
    runner->await_ready(store);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return runner;
  };
  // 3. latency with spawned executors first.
  if (o.wants("latency")) {
    auto runner = start_runner("spawn");
    auto c = get_or_throw(client::open(store), "open " + store);
    measure_latency(o, r, c, parse_or_throw(trivial_spec), "spawn");
    runner->stop();
  }
  {
    auto runner_ptr = start_runner("fork");
    auto& runner = *runner_ptr;
    auto c = get_or_throw(client::open(store), "open " + store);
    auto spec = parse_or_throw(trivial_spec);
    // 3. latency, one at a time, in the default mode (fork).
    if (o.wants("latency") || o.wants("status"))
      existing_pid = measure_latency(o, r, c, spec, "fork");
    // 7. timeouts: a process with timeout 1 s whose step sleeps 60 s.
    if (o.wants("timeout")) {
      auto to_spec = parse_or_throw(
        R"({"steps": {"nap": {"class": "procman.exec", "args": {"command": ["sleep", "60"]}}}, "timeout": 1})");
      std::vector<double> child_late, exec_late, record_late;
      for (uint64_t k = 0; k < o.timeouts; ++k) {
        auto since = get_or_throw(c.db().stats(), "stats").last_seq;
        auto pid = get_or_throw(c.start(to_spec), "start");
        // Wait for the executor and its command.
        process_record rec;
        auto t0 = clock::now();
        std::vector<pid_t> kids;
        for (;;) {
          rec = get_or_throw(c.info(pid), "status");
          if (rec.exec_pid > 0) {
            kids = children_of(rec.exec_pid);
            if (!kids.empty())
              break;
          }
          if (seconds_since(t0) > 10)
            throw std::runtime_error("timeout test: no command started");
          poll_pause();
        }
        auto exec_pid = static_cast<pid_t>(rec.exec_pid);
        auto grandchild = kids.front();
        uint64_t start_ms = 0;
        for (auto& e : get_or_throw(c.db().log(since, SIZE_MAX, pid), "log"))
          if (e.what.kind == transition_kind::start)
            start_ms = e.time;
        if (start_ms == 0)
          throw std::runtime_error("timeout test: no start entry");
        double deadline_us = static_cast<double>(start_ms) * 1000
                             + static_cast<double>(rec.timeout) * 1e6;
        // Sleep until shortly before the deadline, then watch closely.
        while (static_cast<double>(wall_us()) < deadline_us - 50000)
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        double gone_child = 0, gone_exec = 0;
        auto t_watch = clock::now();
        while (gone_child == 0 || gone_exec == 0) {
          if (gone_child == 0 && !alive(grandchild))
            gone_child = static_cast<double>(wall_us());
          if (gone_exec == 0 && !alive(exec_pid))
            gone_exec = static_cast<double>(wall_us());
          if (seconds_since(t_watch) > 30)
            throw std::runtime_error("timeout test: children still alive");
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
        rec = await_record(c, pid, false);
        double recorded = static_cast<double>(wall_us());
        if (rec.status != process_status::error
            || rec.error.kind != error_kind::timeout)
          throw std::runtime_error("timeout test: process ended "
                                   + to_string(rec.status));
        child_late.push_back(gone_child - deadline_us);
        exec_late.push_back(gone_exec - deadline_us);
        record_late.push_back(recorded - deadline_us);
      }
      auto& s = r.section("timeout");
      s["runs"] = o.timeouts;
      json::array cl, el;
      for (auto x : child_late)
        cl.push_back(x);
      for (auto x : exec_late)
        el.push_back(x);
      s["command_gone_after_deadline_us"] = std::move(cl);
      s["executor_gone_after_deadline_us"] = std::move(el);
      double worst = *std::max_element(child_late.begin(), child_late.end());
      auto med = percentile(child_late, 0.5);
      s["record_after_deadline_p50_us"] = percentile(record_late, 0.5);
      r.add("7 timeout",
            "command gone after the deadline, median / worst of "
              + std::to_string(o.timeouts),
            fmt_us(med) + " / " + fmt_us(worst), "<= 100 ms",
            worst <= 100000 ? 1 : 0);
      r.add("7 timeout", "error (timeout) recorded after the deadline, median",
            fmt_us(percentile(record_late, 0.5)));
    }
    runner.stop();
  }
  // 4. status look-ups on an existing pid.
  if (o.wants("status")) {
    auto c = get_or_throw(client::open(store), "open " + store);
    if (existing_pid.empty())
      existing_pid = get_or_throw(c.start(parse_or_throw(trivial_spec)),
                                  "start");
    auto loop = [&](auto&& fn) {
      uint64_t n = 0;
      auto t0 = clock::now();
      double secs = 0;
      do {
        for (int i = 0; i < 256; ++i)
          fn();
        n += 256;
        secs = seconds_since(t0);
      } while (secs < o.status_seconds);
      return static_cast<double>(n) / secs;
    };
    size_t sink = 0;
    auto get_rate = loop([&] {
      auto rec = c.info(existing_pid);
      sink += rec ? rec->pid.size() : 0;
    });
    auto json_rate = loop([&] {
      auto rec = c.info(existing_pid);
      if (rec)
        sink += json::serialize(render_info(*rec)).size();
    });
    // Through the manager actor of an engine in this process.
    double manager_rate = std::nan("");
    {
      caf::actor_system_config cfg;
      cfg.add_message_types<caf::id_block::procman>();
      cfg.set("scheduler.max-threads", 2);
      caf::actor_system sys{cfg};
      engine_options eo;
      eo.store_dir = store;
      eo.wait = false;
      eo.exec_path = o.bin_dir + "/procman-exec";
      logger::set_level(log_level::error);
      auto eng = engine::start(sys, eo);
      if (eng) {
        auto mgr = (*eng)->manager();
        caf::scoped_actor self{sys};
        manager_rate = loop([&] {
          self->request(mgr, caf::infinite, status_request{existing_pid})
            .receive([&](const process_record& rec) { sink += rec.pid.size(); },
                     [&](const caf::error&) {});
        });
        eng->reset();
      }
      logger::set_level(log_level::info);
    }
    // `procman status PID` as a command, each run beside one of /bin/true
    // (the cost of starting any program here, in the same conditions).
    std::vector<double> cli_us, true_us;
    auto timed = [](const std::vector<std::string>& argv, const char* what) {
      auto t = clock::now();
      auto res = run_capture(argv);
      if (res.code != 0)
        throw std::runtime_error(std::string(what) + " exited with "
                                 + std::to_string(res.code));
      return seconds_since(t) * 1e6;
    };
    for (uint64_t i = 0; i < o.status_cli; ++i) {
      cli_us.push_back(timed({o.bin_dir + "/procman", "--store", store,
                              "status", existing_pid},
                             "procman status"));
      true_us.push_back(timed({"/bin/true"}, "/bin/true"));
    }
    double cli_rate = static_cast<double>(o.status_cli) * 1e6
                      / std::accumulate(cli_us.begin(), cli_us.end(), 0.0);
    auto cli_p50 = percentile(cli_us, 0.5);
    auto true_p50 = percentile(true_us, 0.5);
    auto& s = r.section("status");
    s["store_get_per_s"] = get_rate;
    s["store_get_render_json_per_s"] = json_rate;
    s["manager_info_per_s"] = manager_rate;
    s["cli_status_per_s"] = cli_rate;
    s["cli_status_p50_us"] = cli_p50;
    s["bin_true_p50_us"] = true_p50;
    s["sink"] = sink;
    r.add("4 status", "in-process: door::info (local backend, store::get)",
          fmt_rate(get_rate), ">= 200,000/s", get_rate >= 200000 ? 1 : 0);
    r.add("4 status", "in-process: door::info + info JSON",
          fmt_rate(json_rate));
    r.add("4 status", "in-process: manager actor (request/receive)",
          fmt_rate(manager_rate));
    r.add("4 status", "`procman status PID` command",
          fmt_rate(cli_rate) + " (" + fmt_us(1e6 / cli_rate) + " each)");
    r.add("4 status", "`procman status PID` command, median wall / /bin/true",
          fmt_us(cli_p50) + " / " + fmt_us(true_p50), "<= 2 ms",
          cli_p50 <= 2000 ? 1 : 0);
  }
}

// -- 5. enqueue and claims on big stores; 6. RSS with the big queue -----------

double build_store(const std::string& dir, uint64_t n) {
  remove_tree(dir);
  store_options so;
  so.dir = dir;
  so.no_sync = true;
  so.ring_doorbell = false;
  so.default_timeout = 0;
  auto db = get_or_throw(store::open(so), "open " + dir);
  transition t;
  t.kind = transition_kind::enqueue;
  t.source = "client";
  t.spec = parse_or_throw(trivial_spec);
  constexpr uint64_t batch = 10000;
  std::vector<transition> ts;
  auto t0 = clock::now();
  for (uint64_t done = 0; done < n;) {
    auto k = std::min(batch, n - done);
    ts.assign(k, t);
    for (auto& res : db->apply(ts))
      if (!res)
        throw std::runtime_error("build: " + render(res.error()));
    done += k;
  }
  return static_cast<double>(n) / seconds_since(t0);
}

void run_store(const options& o, report& r) {
  bool any = o.wants("store") || o.wants("rss");
  if (!any)
    return;
  auto big = o.work_dir + "/big";
  auto small = o.work_dir + "/small";
  auto empty = o.work_dir + "/empty";
  auto& s = r.section("store");
  auto build_rate = build_store(big, o.big);
  build_store(small, o.small);
  s["big"] = o.big;
  s["small"] = o.small;
  s["build_no_sync_per_s"] = build_rate;
  s["big_bytes"] = dir_bytes(big);
  auto nbig = fmt_int(static_cast<double>(o.big));
  r.add("5 store",
        "building the big store: " + nbig
          + " enqueues, 10,000 per commit, no fsync",
        fmt_rate(build_rate) + ", "
          + fmt_mib(static_cast<double>(dir_bytes(big)) / 1024) + " on disk");
  if (o.wants("store")) {
    auto spec = parse_or_throw(trivial_spec);
    // One at a time, one durable commit each: into an empty store and into
    // the big one, alternating.
    {
      remove_tree(empty);
      auto cb = get_or_throw(client::open(big), "open " + big);
      auto ce = get_or_throw(client::open(empty), "open " + empty);
      std::vector<double> tb, te;
      for (uint64_t i = 0; i < o.enqueue_one; ++i) {
        for (int k = 0; k < 2; ++k) {
          auto& c = (i + k) % 2 ? cb : ce;
          auto t0 = now_us();
          get_or_throw(c.start(spec), "start");
          ((i + k) % 2 ? tb : te).push_back(now_us() - t0);
        }
      }
      double rate_big = 1e6 / mean(tb), rate_empty = 1e6 / mean(te);
      s["enqueue_one_big_per_s"] = rate_big;
      s["enqueue_one_empty_per_s"] = rate_empty;
      s["enqueue_one_big_p50_us"] = percentile(tb, 0.5);
      r.add("5 store",
            "enqueue one at a time (client.start, durable), store of " + nbig,
            fmt_rate(rate_big) + " (p50 " + fmt_us(percentile(tb, 0.5)) + ")");
      r.add("5 store", "enqueue one at a time, empty store, alternating",
            fmt_rate(rate_empty) + " (p50 " + fmt_us(percentile(te, 0.5))
              + ")");
    }
    // Batched: store::apply with 1,000 enqueue transitions per durable commit.
    {
      store_options so;
      so.dir = big;
      so.default_timeout = 0;
      auto db = get_or_throw(store::open(so), "open " + big);
      transition t;
      t.kind = transition_kind::enqueue;
      t.source = "client";
      t.spec = spec;
      std::vector<transition> ts;
      uint64_t batch = 1000;
      auto t0 = clock::now();
      for (uint64_t done = 0; done < o.enqueue_batched; done += batch) {
        ts.assign(batch, t);
        for (auto& res : db->apply(ts))
          if (!res)
            throw std::runtime_error("batched enqueue: " + render(res.error()));
      }
      double rate = static_cast<double>(o.enqueue_batched) / seconds_since(t0);
      s["enqueue_batched_per_s"] = rate;
      r.add(
        "5 store",
        "enqueue batched (store::apply, 1,000 per durable commit), store of "
          + nbig,
        fmt_rate(rate), ">= 50,000/s", rate >= 50000 ? 1 : 0);
    }
    // Claims: one process per claim, alternating between the stores.
    for (bool no_sync : {false, true}) {
      std::vector<std::string> argv{o.self,    "claims",
                                    "--small", small,
                                    "--big",   big,
                                    "--n",     std::to_string(o.claims)};
      if (no_sync)
        argv.push_back("--no-sync");
      auto res = parse_child_line(run_capture(argv, o.work_dir + "/claims.log"),
                                  "claims child");
      auto sp = res.at("small").at("p50_us").to_number<double>();
      auto bp = res.at("big").at("p50_us").to_number<double>();
      auto ratio = bp / sp;
      auto key = no_sync ? "claim_no_sync" : "claim_durable";
      s[key] = res;
      auto label = std::string(no_sync
                                 ? "claim one, no fsync (B-tree work), p50"
                                 : "claim one (store::claim, durable), p50");
      r.add("5 store",
            label + ": " + fmt_int(static_cast<double>(o.small)) + " / " + nbig
              + " queued",
            fmt_us(sp) + " / " + fmt_us(bp) + " (" + fmt(ratio, 2) + "x)",
            no_sync ? "" : "same (<= 1.5x)",
            no_sync ? -1 : (ratio <= 1.5 ? 1 : 0));
    }
  }
  // 6. runner RSS with the big queue: it works on it for a while.
  if (o.wants("rss")) {
    auto c = get_or_throw(client::open(big), "open " + big);
    auto q0 = get_or_throw(c.db().stats(), "stats").queued;
    runner_proc runner(o, big,
                       {"--wait", "--parallel", std::to_string(o.parallel)},
                       o.work_dir + "/big-runner.log");
    runner.await_ready(big);
    auto t0 = clock::now();
    std::this_thread::sleep_for(
      std::chrono::milliseconds(static_cast<long>(o.rss_seconds * 1000)));
    auto hwm = runner.hwm_kib();
    auto rss = runner.rss_kib();
    auto anon = proc_status_kib(runner.pid(), "RssAnon");
    auto file = proc_status_kib(runner.pid(), "RssFile");
    auto secs = seconds_since(t0);
    runner.stop();
    auto q1 = get_or_throw(c.db().stats(), "stats").queued;
    auto ran = q0 > q1 ? q0 - q1 : 0;
    auto& m = r.section("rss");
    m["big_queue"] = q0;
    m["big_hwm_kib"] = hwm;
    m["big_rss_kib"] = rss;
    m["big_anon_kib"] = anon;
    m["big_file_kib"] = file;
    m["big_processes_run"] = ran;
    m["big_per_s"] = static_cast<double>(ran) / secs;
    r.add("6 runner RSS",
          "with " + fmt_int(static_cast<double>(q0)) + " queued (VmHWM after "
            + fmt(secs, 1) + " s, " + fmt_int(static_cast<double>(ran))
            + " run)",
          fmt_mib(static_cast<double>(hwm)), "<= 64 MiB",
          hwm >= 0 && hwm <= 64 * 1024 ? 1 : 0);
    r.add("6 runner RSS",
          "  of which own memory (RssAnon) / store pages mapped (RssFile)",
          fmt_mib(static_cast<double>(anon)) + " / "
            + fmt_mib(static_cast<double>(file)));
    r.add("6 runner RSS", "throughput on the big queue meanwhile",
          fmt_rate(static_cast<double>(ran) / secs));
  }
  remove_tree(big);
  remove_tree(small);
  remove_tree(empty);
}

// -- 8. replay ----------------------------------------------------------------

void run_replay(const options& o, report& r) {
  if (!o.wants("replay"))
    return;
  auto store = o.work_dir + "/engine";
  if (!fs::exists(store + "/data.mdb")) {
    // No engine run before: record a log now.
    auto res = parse_child_line(
      run_capture({o.self, "enqueue", "--store", store, "--n",
                   std::to_string(o.engine_n), "--batch", "1000"},
                  o.work_dir + "/enqueue.log"),
      "enqueue child");
    static_cast<void>(res);
    auto code = run_capture({o.bin_dir + "/procman-runner", "--store", store,
                             "--parallel", std::to_string(o.parallel)},
                            o.work_dir + "/replay-runner.log")
                  .code;
    if (code != 0)
      throw std::runtime_error("runner exited with " + std::to_string(code));
  }
  auto path = o.work_dir + "/log.jsonl";
  auto t0 = clock::now();
  auto exported
    = run_capture({o.bin_dir + "/procman", "--store", store, "log", "export"});
  auto export_s = seconds_since(t0);
  if (exported.code != 0)
    throw std::runtime_error("log export exited with "
                             + std::to_string(exported.code));
  {
    std::ofstream out(path, std::ios::binary);
    out << exported.out;
  }
  log_file log;
  t0 = clock::now();
  {
    std::ifstream in(path);
    auto read = read_log(in);
    if (!read)
      throw std::runtime_error("read_log: " + read.error().context);
    log = std::move(*read);
  }
  auto read_s = seconds_since(t0);
  logger::set_level(log_level::error);
  t0 = clock::now();
  replay_options ro;
  ro.work_dir = o.work_dir + "/replay-work";
  auto rep = replay_log(log, ro);
  auto replay_s = seconds_since(t0);
  logger::set_level(log_level::info);
  remove_tree(ro.work_dir);
  auto& s = r.section("replay");
  s["processes"] = rep.processes;
  s["entries"] = rep.entries;
  s["checked"] = rep.checked;
  s["ok"] = rep.ok();
  s["export_s"] = export_s;
  s["read_s"] = read_s;
  s["replay_s"] = replay_s;
  s["bytes"] = exported.out.size();
  if (!rep.ok())
    s["divergence"] = describe(rep);
  r.add("8 replay",
        "log of " + fmt_int(static_cast<double>(rep.processes)) + " processes, "
          + fmt_int(static_cast<double>(rep.entries))
          + " entries: export (command)",
        fmt(export_s, 2) + " s ("
          + fmt_mib(static_cast<double>(exported.out.size()) / 1024) + ")");
  r.add("8 replay", "read_log (parse)", fmt(read_s, 2) + " s");
  r.add("8 replay",
        std::string("replay_log (in-process)") + (rep.ok() ? "" : " DIVERGED"),
        fmt(replay_s, 2) + " s, "
          + fmt_rate(static_cast<double>(rep.processes) / replay_s)
          + " processes, "
          + fmt_rate(static_cast<double>(rep.entries) / replay_s) + " entries");
}

// -- 9. nodes -----------------------------------------------------------------

namespace {

/// The port after `marker` in the log at `log_path` of `pid`, once it is
/// there (30 s at most).
uint16_t logged_port(const std::string& log_path, pid_t pid,
                     const std::string& marker) {
  auto t0 = clock::now();
  for (;;) {
    std::ifstream in(log_path);
    std::stringstream buf;
    buf << in.rdbuf();
    auto text = buf.str();
    if (auto at = text.find(marker); at != std::string::npos)
      return static_cast<uint16_t>(std::stoi(text.substr(at + marker.size())));
    if (seconds_since(t0) > 30 || kill(pid, 0) != 0)
      throw std::runtime_error("no \"" + marker + "\" within 30 s: " + text);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

/// The port a store node logs in "manager published on 127.0.0.1:PORT".
uint16_t published_port(const std::string& log_path, runner_proc& node) {
  return logged_port(log_path, node.pid(), "manager published on 127.0.0.1:");
}

struct nodes_figures {
  double rate = 0;
  double seconds = 0;
  uint64_t finished = 0;
  uint64_t other = 0;
};

/// N trivial processes, all queued before `start` starts the nodes that
/// run them; the time runs from the first start to the last finish.
template <class Start>
nodes_figures run_prequeued(const options& o, const std::string& store,
                            uint64_t n, Start start) {
  remove_tree(store);
  parse_child_line(run_capture({o.self, "enqueue", "--store", store, "--n",
                                std::to_string(n), "--batch", "1000"},
                               o.work_dir + "/enqueue.log"),
                   "enqueue child");
  auto nodes = start();
  auto c = get_or_throw(client::open(store), "open " + store);
  std::vector<process_record> recs;
  auto t0 = clock::now();
  for (;;) {
    list_query q;
    q.limit = static_cast<uint32_t>(n + 10);
    recs = get_or_throw(c.list(q), "list");
    if (std::all_of(recs.begin(), recs.end(),
                    [](auto& r) { return is_terminal(r.status); }))
      break;
    if (seconds_since(t0) > 600)
      throw std::runtime_error("processes did not finish within 600 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Workers first: they leave, then the store node stops.
  for (auto i = nodes.rbegin(); i != nodes.rend(); ++i)
    (*i)->stop();
  nodes_figures f;
  uint64_t last_ms = 0, first_ms = UINT64_MAX;
  for (auto& r : recs) {
    last_ms = std::max(last_ms, r.finished_at);
    first_ms = std::min(first_ms, r.started_at);
    if (r.status == process_status::finished)
      ++f.finished;
    else
      ++f.other;
  }
  f.seconds = (static_cast<double>(last_ms - first_ms) + 0.5) / 1e3;
  f.rate = static_cast<double>(n) / f.seconds;
  return f;
}

} // namespace

void run_nodes(const options& o, report& r) {
  if (!o.wants("nodes"))
    return;
  auto p = o.parallel;
  auto n = o.engine_n;
  auto store = o.work_dir + "/nodes";
  using procs = std::vector<std::unique_ptr<runner_proc>>;
  auto local = run_prequeued(o, store, n, [&] {
    procs v;
    std::vector<std::string> args{"--wait", "--parallel", std::to_string(p)};
    args.insert(args.end(), o.runner_args.begin(), o.runner_args.end());
    v.push_back(std::make_unique<runner_proc>(o, store, args,
                                              o.work_dir + "/nodes-local.log"));
    return v;
  });
  auto spread = run_prequeued(o, store, n, [&] {
    procs v;
    auto log = o.work_dir + "/nodes-store.log";
    v.push_back(std::make_unique<runner_proc>(
      o, store,
      std::vector<std::string>{"--listen", "127.0.0.1:0", "--parallel", "0"},
      log));
    auto where = "127.0.0.1:" + std::to_string(published_port(log, *v[0]));
    for (auto name : {"w1", "w2"}) {
      std::vector<std::string> args{"--join", where, "--parallel",
                                    std::to_string(p)};
      args.insert(args.end(), o.runner_args.begin(), o.runner_args.end());
      v.push_back(std::make_unique<runner_proc>(
        o, "", args, o.work_dir + "/nodes-" + name + ".log"));
    }
    return v;
  });
  auto& s = r.section("nodes");
  s["processes"] = n;
  s["p"] = p;
  s["local_per_s"] = local.rate;
  s["store_node_two_workers_per_s"] = spread.rate;
  s["ratio"] = spread.rate / local.rate;
  s["not_finished"] = local.other + spread.other;
  auto what = fmt_int(static_cast<double>(n)) + " processes, all queued";
  r.add("9 nodes",
        "one local runner, --parallel " + std::to_string(p) + ", " + what,
        fmt_rate(local.rate));
  r.add("9 nodes",
        "store node (--parallel 0) + 2 worker nodes, --parallel "
          + std::to_string(p) + " each, on this machine",
        fmt_rate(spread.rate) + " (" + fmt(spread.rate / local.rate, 2)
          + "x local)");
  if (local.other + spread.other > 0)
    r.add("9 nodes", "processes not finished",
          std::to_string(local.other + spread.other));
}

} // namespace procman::bench

// -- 10. waits ----------------------------------------------------------------
//
// How long the things take that the functional tests only wait for, with a
// bound (docs/testing.md): a delayed process's start after its time and what
// the waiting runner costs meanwhile, the runs of a schedule that is due
// every second, how soon a command that escaped its executor dies after a
// cancel or the runner's SIGKILL, how soon a second --wait runner gives up,
// and what procman.sleep and procman.exec take beyond their work. Each
// target is the bound the functional test asserted before it waited for a
// state instead.

namespace procman::bench {

namespace {

const char* waits_section = "10 waits";

/// The time of the first entry of `kind` in `log`.
uint64_t entry_time(const std::vector<log_entry>& log, transition_kind kind) {
  for (auto& e : log)
    if (e.what.kind == kind)
      return e.time;
  throw std::runtime_error("no " + to_string(kind) + " entry in the log");
}

/// "median / worst" of `xs` milliseconds, and the worst.
std::pair<std::string, double> median_worst_ms(std::vector<double> xs) {
  auto worst = *std::max_element(xs.begin(), xs.end());
  return {fmt_us(percentile(xs, 0.5) * 1000) + " / " + fmt_us(worst * 1000),
          worst};
}

void waits_delayed_start(const options& o, report& r, json::object& s) {
  auto store = o.work_dir + "/waits-delayed";
  remove_tree(store);
  runner_proc runner(o, store, {"--wait", "--parallel", "1"},
                     o.work_dir + "/waits-delayed.log");
  runner.await_ready(store);
  auto c = get_or_throw(client::open(store), "open " + store);
  auto spec = parse_or_throw(trivial_spec);
  std::vector<double> late_ms, idle_ms_per_s;
  for (uint64_t k = 0; k < o.waits; ++k) {
    spec.not_before = wall_us() / 1000 + 1500;
    auto pid = get_or_throw(c.start(spec), "start");
    // The runner's CPU while only the delayed process waits: 1.2 s.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto cpu0 = proc_cpu_seconds(runner.pid());
    auto t0 = clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    idle_ms_per_s.push_back((proc_cpu_seconds(runner.pid()) - cpu0) * 1000
                            / seconds_since(t0));
    auto rec = await_record(c, pid, false, 60);
    if (rec.status != process_status::finished)
      throw std::runtime_error("delayed process ended "
                               + to_string(rec.status));
    auto claimed = entry_time(get_or_throw(c.db().log(0, SIZE_MAX, pid), "log"),
                              transition_kind::claim);
    late_ms.push_back(static_cast<double>(claimed)
                      - static_cast<double>(spec.not_before));
  }
  auto runs = " of " + std::to_string(o.waits);
  auto [late, late_worst] = median_worst_ms(late_ms);
  s["delayed_claim_after_not_before_worst_ms"] = late_worst;
  r.add(waits_section,
        "delayed process claimed after its time, median / worst" + runs, late,
        "<= 2 s", late_worst <= 2000 ? 1 : 0);
  auto idle_worst = *std::max_element(idle_ms_per_s.begin(),
                                      idle_ms_per_s.end());
  s["waiting_runner_cpu_worst_ms_per_s"] = idle_worst;
  r.add(waits_section,
        "runner CPU while only a delayed process waits, median / worst" + runs,
        fmt(percentile(idle_ms_per_s, 0.5), 1) + " / " + fmt(idle_worst, 1)
          + " ms per s",
        "<= 42 ms per s", idle_worst <= 42 ? 1 : 0);
  // A second --wait runner on the same store gives up at once.
  std::vector<double> second_ms;
  for (uint64_t k = 0; k < o.waits; ++k) {
    auto t0 = now_us();
    auto res = run_capture(
      {o.bin_dir + "/procman-runner", "--store", store, "--wait"});
    if (res.code != 0)
      throw std::runtime_error("a second waiting runner exited with "
                               + std::to_string(res.code));
    second_ms.push_back((now_us() - t0) / 1000);
  }
  auto [second, second_worst] = median_worst_ms(second_ms);
  s["second_waiting_runner_exit_worst_ms"] = second_worst;
  r.add(waits_section,
        "a second --wait runner exits after, median / worst" + runs, second,
        "<= 5 s", second_worst <= 5000 ? 1 : 0);
  runner.stop();
}

void waits_schedule(const options& o, report& r, json::object& s) {
  auto store = o.work_dir + "/waits-schedule";
  remove_tree(store);
  auto c = get_or_throw(client::open(store), "open " + store);
  get_or_throw(c.add_schedule("tick", "* * * * * *",
                              parse_or_throw(trivial_spec)),
               "schedule add");
  // A waiting runner, and two loops of runners without --wait (as cron
  // would start them), all firing what is due.
  runner_proc waiting(o, store, {"--wait", "--parallel", "2"},
                      o.work_dir + "/waits-schedule.log");
  std::atomic<bool> stop{false};
  std::vector<std::thread> loops;
  for (int i = 0; i < 2; ++i)
    loops.emplace_back([&] {
      while (!stop)
        run_capture({o.bin_dir + "/procman-runner", "--store", store,
                     "--log-level", "error"});
    });
  auto seconds = o.quick ? 4.0 : 8.0;
  auto t0 = wall_us();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  get_or_throw(c.remove_schedule("tick"), "schedule remove");
  auto elapsed_s = static_cast<double>(wall_us() - t0) / 1e6;
  stop = true;
  for (auto& t : loops)
    t.join();
  waiting.stop();
  std::map<uint64_t, int> fired;
  std::vector<double> late_ms;
  for (auto& e : get_or_throw(c.db().log(0), "log"))
    if (e.what.kind == transition_kind::enqueue && !e.what.schedule.empty()) {
      ++fired[e.what.due];
      late_ms.push_back(static_cast<double>(e.time)
                        - static_cast<double>(e.what.due));
    }
  if (fired.empty())
    throw std::runtime_error("the schedule never fired");
  int most = 0;
  for (auto& [due, n] : fired)
    most = std::max(most, n);
  auto due_times = static_cast<double>(fired.size());
  s["schedule_seconds"] = elapsed_s;
  s["schedule_due_times_fired"] = fired.size();
  s["schedule_most_runs_of_one_due_time"] = most;
  auto what = "schedule due every second, 1 waiting + 2 looping runners, "
              + fmt(elapsed_s, 1) + " s";
  r.add(waits_section, what + ": due times that got a run",
        fmt_int(due_times) + " of " + fmt_int(std::floor(elapsed_s)),
        ">= seconds - 1", due_times >= std::floor(elapsed_s) - 1 ? 1 : 0);
  r.add(waits_section, what + ": most runs of one due time",
        std::to_string(most), "1", most == 1 ? 1 : 0);
  auto [late, late_worst] = median_worst_ms(late_ms);
  s["schedule_enqueue_after_due_worst_ms"] = late_worst;
  r.add(waits_section,
        what + ": run enqueued after its due time, median / worst", late);
}

/// Watches `pid` from another thread; `gone_us()` is when it was first
/// seen gone or a zombie (now_us()), 0 until then.
class death_watch {
public:
  explicit death_watch(pid_t pid)
    : thread_([this, pid] {
        auto t0 = clock::now();
        while (!stop_ && alive(pid) && seconds_since(t0) < 30)
          std::this_thread::sleep_for(std::chrono::microseconds(100));
        if (!alive(pid))
          gone_ = now_us();
      }) {}
  ~death_watch() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }
  /// Waits for the verdict; milliseconds after `t0_us`.
  double ms_after(double t0_us) {
    if (thread_.joinable())
      thread_.join();
    if (gone_ == 0)
      throw std::runtime_error(
        "an escaped command outlived its process by 30 s");
    return (gone_ - t0_us) / 1000;
  }

private:
  std::atomic<bool> stop_{false};
  std::atomic<double> gone_{0};
  std::thread thread_;
};

/// Escaped commands (setsid) of processes under a waiting runner with
/// PROCMAN_CONTAINMENT=`mode`: how soon they die after `procman cancel`,
/// and after the runner's SIGKILL (with their executor).
void waits_containment(const options& o, report& r, json::object& s,
                       const std::string& mode) {
  auto store = o.work_dir + "/waits-" + mode;
  remove_tree(store);
  auto log = o.work_dir + "/waits-" + mode + ".log";
  auto runner = std::make_unique<runner_proc>(
    o, store, std::vector<std::string>{"--wait", "--parallel", "1"}, log,
    std::vector<std::string>{"PROCMAN_CONTAINMENT=" + mode});
  try {
    runner->await_ready(store);
  } catch (const std::exception&) {
    // PROCMAN_CONTAINMENT=cgroup refuses to start without cgroup v2.
    r.add(waits_section, "containment " + mode, "not possible on this machine");
    return;
  }
  auto c = get_or_throw(client::open(store), "open " + store);
  /// A process whose command starts one that leaves its process group and
  /// stays; returns its pid and the escaped command's.
  auto escape = [&](uint64_t k) {
    auto file = o.work_dir + "/escaped-" + mode + "-" + std::to_string(k);
    json::object step{
      {"class", "procman.exec"},
      {"args",
       {{"command",
         json::array{
           "sh", "-c",
           "setsid sh -c 'echo $$ > \"$0.tmp\"; mv \"$0.tmp\" \"$0\"; "
           "exec sleep 1000' \"$0\" </dev/null >/dev/null 2>&1 & "
           "exec sleep 1000",
           file}}}}};
    auto pid = get_or_throw(c.start(parse_or_throw(json::serialize(
                              json::object{{"steps", {{"s", step}}}}))),
                            "start");
    auto t0 = clock::now();
    std::string text;
    while (text.empty()) {
      if (seconds_since(t0) > 30)
        throw std::runtime_error("the escaping command never started");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      std::ifstream in(file);
      std::getline(in, text);
    }
    return std::make_pair(pid, static_cast<pid_t>(std::stol(text)));
  };
  std::vector<double> cancel_ms;
  for (uint64_t k = 0; k < o.waits; ++k) {
    auto [pid, escaped] = escape(k);
    death_watch watch(escaped);
    auto t0 = now_us();
    get_or_throw(c.cancel(pid), "cancel");
    cancel_ms.push_back(watch.ms_after(t0));
  }
  auto [cancel, cancel_worst] = median_worst_ms(cancel_ms);
  s[mode + "_escaped_gone_after_cancel_worst_ms"] = cancel_worst;
  r.add(waits_section,
        "containment " + mode + ": escaped command gone after procman cancel, "
          + "median / worst of " + std::to_string(o.waits),
        cancel, "<= 2 s", cancel_worst <= 2000 ? 1 : 0);
  // The runner's SIGKILL: the executor and what it started.
  auto [pid, escaped] = escape(o.waits);
  auto exec = static_cast<pid_t>(get_or_throw(c.info(pid), "status").exec_pid);
  death_watch escaped_watch(escaped), exec_watch(exec);
  auto t0 = now_us();
  kill(runner->pid(), SIGKILL);
  runner->stop();
  auto gone = std::max(escaped_watch.ms_after(t0), exec_watch.ms_after(t0));
  s[mode + "_gone_after_runner_sigkill_ms"] = gone;
  r.add(waits_section,
        "containment " + mode
          + ": executor and escaped command gone after the "
            "runner's SIGKILL",
        fmt_us(gone * 1000), "<= 2 s", gone <= 2000 ? 1 : 0);
}

/// A step context that keeps nothing.
struct quiet_context : step_context {
  std::string none;
  void progress(double, const std::string&) override {}
  const std::string& pid() const override { return none; }
  const std::string& step_name() const override { return none; }
  const std::string& script_args() const override { return none; }
};

void waits_steps(const options& o, report& r, json::object& s) {
  step_registry reg;
  register_builtin_steps(reg);
  service_registry services;
  quiet_context ctx;
  auto seconds_of = [&](const std::string& cls, const std::string& args) {
    auto st = reg.make(step_spec{"s", cls, args, {}}, services);
    if (!st)
      throw std::runtime_error(cls + ": " + st.error().context);
    auto t0 = clock::now();
    (*st)->execute({}, ctx);
    return seconds_since(t0);
  };
  auto row = [&](const std::string& what, const std::string& cls,
                 const std::string& args, double bound_s, const char* key) {
    std::vector<double> ms;
    for (uint64_t k = 0; k < o.waits; ++k)
      ms.push_back(seconds_of(cls, args) * 1000);
    auto [value, worst] = median_worst_ms(ms);
    s[key] = worst;
    r.add(waits_section,
          what + ", median / worst of " + std::to_string(o.waits), value,
          "< " + fmt(bound_s, 1) + " s", worst < bound_s * 1000 ? 1 : 0);
  };
  row("procman.sleep 0.35 s returns after", "procman.sleep",
      R"({"seconds": 0.35})", 2.0, "sleep_035_worst_ms");
  row("procman.sleep 0 returns after", "procman.sleep", "[0]", 0.5,
      "sleep_0_worst_ms");
  row("procman.exec of `sleep 3 & echo started` returns after", "procman.exec",
      R"({"command": ["sh", "-c", "sleep 3 & echo started"]})", 2.0,
      "exec_background_child_worst_ms");
}

} // namespace

void run_waits(const options& o, report& r) {
  if (!o.wants("waits"))
    return;
  auto& s = r.section("waits");
  s["runs"] = o.waits;
  waits_delayed_start(o, r, s);
  waits_schedule(o, r, s);
  waits_containment(o, r, s, "subreaper");
  waits_containment(o, r, s, "cgroup");
  waits_steps(o, r, s);
}

} // namespace procman::bench

// -- 11. http -----------------------------------------------------------------

namespace procman::bench {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

/// The path of program `name` in $PATH or /usr/sbin (nginx is there);
/// `name` itself if none.
std::string find_program(const std::string& name) {
  auto path = std::getenv("PATH");
  std::stringstream dirs(std::string(path ? path : "") + ":/usr/sbin:/sbin");
  for (std::string d; std::getline(dirs, d, ':');)
    if (!d.empty() && access((d + "/" + name).c_str(), X_OK) == 0)
      return d + "/" + name;
  return name;
}

/// A program in the background (procman web, nginx) with its output in a
/// log; SIGTERM (then SIGKILL) and reaped when it goes.
struct background_proc {
  pid_t pid = -1;

  background_proc(const std::vector<std::string>& argv,
                  const std::string& log) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid = spawn(argv, -1, fd, fd);
    if (fd >= 0)
      close(fd);
  }

  background_proc(const background_proc&) = delete;
  background_proc& operator=(const background_proc&) = delete;

  ~background_proc() {
    kill(pid, SIGTERM);
    if (!wait_exit_for(pid, 10)) {
      kill(pid, SIGKILL);
      wait_exit(pid);
    }
  }
};

/// A loopback port free a moment ago (for nginx, which cannot take 0).
uint16_t free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0
      || getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("no free port: " + std::string(strerror(errno)));
  close(fd);
  return ntohs(a.sin_port);
}

/// Waits until something accepts connections on 127.0.0.1:port.
void await_listening(uint16_t port, pid_t pid, const std::string& what) {
  auto t0 = clock::now();
  for (;;) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(fd);
    if (ok)
      return;
    if (seconds_since(t0) > 30 || !alive(pid))
      throw std::runtime_error(what + " did not listen on port "
                               + std::to_string(port));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

struct wrk_figures {
  double rps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  uint64_t requests = 0;
  uint64_t non_2xx = 0;
  uint64_t errors = 0; ///< connect, read, write and timeout errors
};

/// "1.23ms", "850.00us", "1.02s" in ms.
double wrk_ms(const std::string& x) {
  double v = std::stod(x);
  if (x.find("us") != std::string::npos)
    return v / 1000;
  if (x.find("ms") != std::string::npos)
    return v;
  return v * 1000;
}

/// wrk (Debian's) with `connections` kept-alive connections on two
/// threads for `seconds`, a lua `script` if given.
wrk_figures run_wrk(const options& o, const std::string& url,
                    const std::string& header, const std::string& script,
                    int seconds, int connections) {
  std::vector<std::string> argv{find_program("wrk"),
                                "-t2",
                                "-c" + std::to_string(connections),
                                "-d" + std::to_string(seconds) + "s",
                                "--latency",
                                "-H",
                                header};
  if (!script.empty()) {
    argv.push_back("-s");
    argv.push_back(script);
  }
  argv.push_back(url);
  auto res = run_capture(argv, o.work_dir + "/wrk.log");
  if (res.code != 0)
    throw std::runtime_error("wrk exited with " + std::to_string(res.code)
                             + " (Debian package wrk; bash scripts/setup): "
                             + read_text(o.work_dir + "/wrk.log"));
  wrk_figures f;
  std::istringstream in(res.out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string first, second;
    words >> first >> second;
    if (first == "50%")
      f.p50_ms = wrk_ms(second);
    else if (first == "99%")
      f.p99_ms = wrk_ms(second);
    else if (first == "Requests/sec:")
      f.rps = std::stod(second);
    else if (second == "requests")
      f.requests = std::stoull(first);
    else if (line.find("Non-2xx or 3xx responses:") != std::string::npos)
      f.non_2xx = std::stoull(line.substr(line.rfind(':') + 1));
    else if (first == "Socket" && second == "errors:")
      // connect N, read N, write N, timeout N
      for (std::string word; words >> word;)
        if (std::isdigit(static_cast<unsigned char>(word[0])))
          f.errors += std::stoull(word);
  }
  if (f.rps <= 0)
    throw std::runtime_error("wrk printed no Requests/sec: " + res.out);
  return f;
}

/// nginx (Debian's nginx-light) serving `dir`/www on `port`: its own
/// configuration and prefix in `dir`, in the foreground; workers as many
/// as cores (its default here, "auto").
std::unique_ptr<background_proc> start_nginx(const std::string& dir,
                                             uint16_t port) {
  for (auto sub : {"/www", "/tmp"})
    fs::create_directories(dir + sub);
  write_text(dir + "/nginx.conf", "worker_processes auto;\n"
                                  "daemon off;\n"
                                  "pid "
                                    + dir
                                    + "/nginx.pid;\n"
                                      "error_log "
                                    + dir
                                    + "/error.log warn;\n"
                                      "events { worker_connections 1024; }\n"
                                      "http {\n"
                                      "  access_log off;\n"
                                      "  client_body_temp_path "
                                    + dir
                                    + "/tmp/body;\n"
                                      "  proxy_temp_path "
                                    + dir
                                    + "/tmp/proxy;\n"
                                      "  fastcgi_temp_path "
                                    + dir
                                    + "/tmp/fastcgi;\n"
                                      "  uwsgi_temp_path "
                                    + dir
                                    + "/tmp/uwsgi;\n"
                                      "  scgi_temp_path "
                                    + dir
                                    + "/tmp/scgi;\n"
                                      "  keepalive_requests 1000000;\n"
                                      "  server {\n"
                                      "    listen 127.0.0.1:"
                                    + std::to_string(port)
                                    + ";\n"
                                      "    location / { root "
                                    + dir
                                    + "/www; "
                                      "default_type application/json; }\n"
                                      "  }\n"
                                      "}\n");
  auto p = std::make_unique<background_proc>(
    std::vector<std::string>{find_program("nginx"), "-p", dir, "-e",
                             dir + "/error.log", "-c", dir + "/nginx.conf"},
    dir + "/nginx.out");
  await_listening(port, p->pid, "nginx (Debian package nginx-light)");
  return p;
}

} // namespace

/// `n` subscribers of GET /events?since=`since` on as many connections,
/// read with poll() on this thread: each one's event ids in the order
/// received, and for each event how long after its commit ("time", unix
/// ms) it arrived.
class subscribers {
public:
  subscribers(uint16_t port, const std::string& token, uint64_t since, int n) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    auto req = "GET /api/v1/events?since=" + std::to_string(since)
               + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
               + token + "\r\n\r\n";
    for (int i = 0; i < n; ++i) {
      one s;
      s.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (s.fd < 0
          || connect(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0
          || write(s.fd, req.data(), req.size())
               != static_cast<ssize_t>(req.size()))
        throw std::runtime_error("subscriber " + std::to_string(i)
                                 + " cannot connect: " + std::strerror(errno));
      subs_.push_back(std::move(s));
    }
  }

  ~subscribers() {
    for (auto& s : subs_)
      close(s.fd);
  }

  /// Reads until every subscriber has seen `last` (UINT64_MAX: none
  /// ever) or `seconds` passed.
  void read_until(uint64_t last, double seconds) {
    auto t0 = clock::now();
    std::vector<pollfd> fds;
    char chunk[65536];
    while (seconds_since(t0) < seconds) {
      fds.clear();
      for (auto& s : subs_)
        if (!s.closed && (s.ids.empty() || s.ids.back() < last))
          fds.push_back({s.fd, POLLIN, 0});
      if (fds.empty())
        return;
      auto left_ms = static_cast<int>((seconds - seconds_since(t0)) * 1000);
      if (poll(fds.data(), fds.size(), std::clamp(left_ms, 1, 100)) <= 0)
        continue;
      for (auto& p : fds) {
        if ((p.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
          continue;
        auto& s = *std::find_if(subs_.begin(), subs_.end(),
                                [&](const one& x) { return x.fd == p.fd; });
        auto got = read(s.fd, chunk, sizeof(chunk));
        if (got <= 0) {
          s.closed = true;
          continue;
        }
        s.buf.append(chunk, static_cast<size_t>(got));
        parse(s);
      }
    }
  }

  /// Subscribers that got exactly the ids after `since` up to `last`, in
  /// order.
  int complete(uint64_t since, uint64_t last) const {
    int out = 0;
    for (auto& s : subs_) {
      bool ok = s.ids.size() == last - since;
      for (size_t i = 0; ok && i < s.ids.size(); ++i)
        ok = s.ids[i] == since + 1 + i;
      out += ok ? 1 : 0;
    }
    return out;
  }

  /// Every event's delay from its commit to its arrival, ms.
  std::vector<double> delays() const {
    std::vector<double> out;
    for (auto& s : subs_)
      out.insert(out.end(), s.delays.begin(), s.delays.end());
    return out;
  }

private:
  struct one {
    int fd = -1;
    std::string buf;
    bool header = false;
    bool closed = false;
    std::vector<uint64_t> ids;
    std::vector<double> delays;
  };

  static void parse(one& s) {
    if (!s.header) {
      auto end = s.buf.find("\r\n\r\n");
      if (end == std::string::npos)
        return;
      if (s.buf.compare(0, 12, "HTTP/1.1 200") != 0)
        throw std::runtime_error("GET /events: " + s.buf.substr(0, end));
      s.header = true;
      s.buf.erase(0, end + 4);
    }
    size_t at = 0;
    for (size_t nl; (nl = s.buf.find('\n', at)) != std::string::npos;
         at = nl + 1) {
      std::string_view line{s.buf.data() + at, nl - at};
      if (line.rfind("id: ", 0) == 0) {
        s.ids.push_back(std::stoull(std::string{line.substr(4)}));
      } else if (line.rfind("data: ", 0) == 0) {
        // "time":"<ISO 8601 with ms>"
        auto t = line.find("\"time\":\"");
        auto end = t == std::string_view::npos ? t : line.find('"', t + 8);
        if (end != std::string_view::npos) {
          auto ms = parse_time(std::string{line.substr(t + 8, end - t - 8)});
          if (ms)
            s.delays.push_back(static_cast<double>(wall_us()) / 1000.0
                               - static_cast<double>(*ms));
        }
      }
    }
    s.buf.erase(0, at);
  }

  std::vector<one> subs_;
};

/// 200 subscribers of GET /events on `procman web` while a runner drains
/// `n` queued trivial processes (about four transitions each): the
/// transitions per second, how many subscribers got every event in order,
/// and the delay from commit to arrival.
void run_http_events(const options& o, report& r, const std::string& dir,
                     const std::string& sec) {
  const int n_subs = 200;
  auto store = dir + "/events";
  remove_tree(store);
  auto n = o.quick ? 1000 : 3000;
  parse_child_line(run_capture({o.self, "enqueue", "--store", store, "--n",
                                std::to_string(n), "--batch", "1000"},
                               o.work_dir + "/enqueue.log"),
                   "enqueue child");
  auto cli_token = run_capture({o.bin_dir + "/procman", "--store", store,
                                "token", "create", "--scope", "read"},
                               dir + "/cli.log")
                     .out;
  cli_token.erase(cli_token.find('\n'));
  auto since = [&] {
    auto c = get_or_throw(client::open(store), "open " + store);
    return get_or_throw(c.db().stats(), "stats").last_seq;
  };
  auto first = since();
  auto log = dir + "/web-events.log";
  background_proc web({o.bin_dir + "/procman", "--store", store, "web",
                       "--http", "127.0.0.1:0"},
                      log);
  auto port = logged_port(log, web.pid, "http://127.0.0.1:");
  subscribers subs(port, cli_token, first, n_subs);
  subs.read_until(first, 1); // every header in
  auto t0 = clock::now();
  // Without --wait: it ends once the queue is empty.
  auto runner_log = dir + "/runner-events.log";
  int fd = open(runner_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                0644);
  auto runner = spawn({o.bin_dir + "/procman-runner", "--store", store,
                       "--parallel", std::to_string(o.parallel)},
                      -1, fd, fd);
  if (fd >= 0)
    close(fd);
  // The subscribers read while the runner runs, as live clients do: the
  // delay from commit to arrival is the server's.
  std::optional<int> exit_code;
  while (!(exit_code = wait_exit_for(runner, 0)))
    subs.read_until(UINT64_MAX, 0.05);
  if (*exit_code != 0)
    throw std::runtime_error("the runner failed: see " + runner_log);
  auto run_s = seconds_since(t0);
  auto last = since();
  subs.read_until(last, 120);
  auto rate = static_cast<double>(last - first) / run_s;
  auto complete = subs.complete(first, last);
  auto delays = subs.delays();
  auto& s = r.section("http");
  s["events_subscribers"] = n_subs;
  s["events_transitions"] = last - first;
  s["events_transitions_per_s"] = rate;
  s["events_complete_subscribers"] = complete;
  s["events_delay_p50_ms"] = percentile(delays, 0.5);
  s["events_delay_p99_ms"] = percentile(delays, 0.99);
  r.add(sec,
        "GET /events, " + std::to_string(n_subs) + " subscribers, a runner at "
          + fmt_rate(rate)
          + " transitions: subscribers with every event in "
            "order",
        std::to_string(complete) + " of " + std::to_string(n_subs),
        "all, at ~1,000 transitions/s",
        complete == n_subs && rate >= 800 ? 1 : 0);
  r.add(sec, "GET /events: commit to arrival, p50, p99",
        fmt(percentile(delays, 0.5), 1) + " ms, "
          + fmt(percentile(delays, 0.99), 1) + " ms");
}

void run_http(const options& o, report& r) {
  if (!o.wants("http"))
    return;
  const std::string sec = "11 http";
  auto dir = o.work_dir + "/http";
  auto store = dir + "/store";
  fs::create_directories(dir);
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {o.bin_dir + "/procman", "--store", store});
    auto res = run_capture(args, dir + "/cli.log");
    if (res.code != 0)
      throw std::runtime_error("procman " + args[3]
                               + " failed: " + read_text(dir + "/cli.log"));
    return res.out;
  };
  auto token = cli({"token", "create", "--scope", "operate"});
  token.erase(token.find('\n'));
  auto header = "Authorization: Bearer " + token;
  auto pid = cli({"start", trivial_spec});
  pid.erase(pid.find('\n'));
  auto status = cli({"status", pid});
  int seconds = o.quick ? 2 : 10;
  const int conns = 64;
  auto& s = r.section("http");
  s["connections"] = conns;
  s["seconds"] = seconds;
  s["status_bytes"] = status.size();
  // GET /processes/{pid} beside nginx serving the same bytes, in turn.
  wrk_figures ours, theirs;
  {
    auto nginx_dir = dir + "/nginx";
    fs::create_directories(nginx_dir + "/www");
    write_text(nginx_dir + "/www/status.json", status);
    auto nport = free_port();
    auto nginx = start_nginx(nginx_dir, nport);
    theirs
      = run_wrk(o, "http://127.0.0.1:" + std::to_string(nport) + "/status.json",
                header, {}, seconds, conns);
  }
  {
    auto log = dir + "/web.log";
    background_proc web({o.bin_dir + "/procman", "--store", store, "web",
                         "--http", "127.0.0.1:0"},
                        log);
    auto url = "http://127.0.0.1:"
               + std::to_string(logged_port(log, web.pid, "http://127.0.0.1:"));
    ours = run_wrk(o, url + "/api/v1/processes/" + pid, header, {}, seconds,
                   conns);
    // POST /processes from 64 connections: durable starts, counted in
    // the store afterwards.
    auto script = dir + "/post.lua";
    std::string body = trivial_spec;
    write_text(script, "wrk.method = \"POST\"\n"
                       "wrk.headers[\"Content-Type\"] = \"application/json\"\n"
                       "wrk.body = [["
                         + body + "]]\n");
    auto count = [&] {
      list_query all;
      all.limit = 1000000;
      auto c = get_or_throw(client::open(store), "open " + store);
      return get_or_throw(c.list(all), "list").size();
    };
    auto before = count();
    auto posts = run_wrk(o, url + "/api/v1/processes", header, script, seconds,
                         conns);
    auto started = count() - before;
    auto rate = static_cast<double>(started) / seconds;
    s["post_starts"] = started;
    s["post_starts_per_s"] = rate;
    s["post_p99_ms"] = posts.p99_ms;
    s["post_non_2xx"] = posts.non_2xx;
    r.add(sec, "POST /processes, 64 connections: durable starts/s (p50, p99)",
          fmt_rate(rate) + " (" + fmt(posts.p50_ms, 2) + " ms, "
            + fmt(posts.p99_ms, 2) + " ms)",
          ">= 3,000/s", rate >= 3000 ? 1 : 0);
    if (posts.non_2xx > 0)
      r.add(sec, "POST /processes answered other than 2xx",
            fmt_int(static_cast<double>(posts.non_2xx)));
  }
  s["get_per_s"] = ours.rps;
  s["get_p50_ms"] = ours.p50_ms;
  s["get_p99_ms"] = ours.p99_ms;
  s["nginx_per_s"] = theirs.rps;
  s["nginx_p99_ms"] = theirs.p99_ms;
  s["get_vs_nginx"] = ours.rps / theirs.rps;
  r.add(sec, "nginx, the same bytes as a static file: requests/s (p50, p99)",
        fmt_rate(theirs.rps) + " (" + fmt(theirs.p50_ms, 2) + " ms, "
          + fmt(theirs.p99_ms, 2) + " ms)");
  r.add(sec, "GET /processes/{pid}, 64 connections: requests/s",
        fmt_rate(ours.rps) + " (" + fmt(ours.rps / theirs.rps, 2) + "x nginx)",
        ">= 0.5x nginx", ours.rps >= 0.5 * theirs.rps ? 1 : 0);
  r.add(sec, "GET /processes/{pid}: p50, p99",
        fmt(ours.p50_ms, 2) + " ms, " + fmt(ours.p99_ms, 2) + " ms",
        "p99 <= 5 ms", ours.p99_ms <= 5 ? 1 : 0);
  if (ours.non_2xx > 0)
    r.add(sec, "GET answered other than 2xx",
          fmt_int(static_cast<double>(ours.non_2xx)));
  // The runner's throughput with its HTTP server on and idle, and off,
  // in turn (all queued first, as section 9).
  auto n = o.engine_n;
  auto rounds = o.quick ? 1 : 2;
  std::vector<double> off, on;
  auto engine_store = dir + "/engine";
  for (int i = 0; i < rounds; ++i)
    for (bool with_http : {false, true}) {
      auto f = run_prequeued(o, engine_store, n, [&] {
        std::vector<std::unique_ptr<runner_proc>> v;
        std::vector<std::string> args{"--wait", "--parallel",
                                      std::to_string(o.parallel)};
        if (with_http)
          args.insert(args.end(), {"--http", "127.0.0.1:0"});
        args.insert(args.end(), o.runner_args.begin(), o.runner_args.end());
        v.push_back(std::make_unique<runner_proc>(o, engine_store, args,
                                                  dir + "/runner.log"));
        return v;
      });
      (with_http ? on : off).push_back(f.rate);
    }
  auto best = [](const std::vector<double>& xs) {
    return *std::max_element(xs.begin(), xs.end());
  };
  auto ratio = best(on) / best(off);
  s["runner_off_per_s"] = best(off);
  s["runner_http_idle_per_s"] = best(on);
  s["runner_ratio"] = ratio;
  run_http_events(o, r, dir, sec);
  r.add(sec,
        "runner, " + fmt_int(static_cast<double>(n))
          + " queued processes, --http on and idle (best of "
          + std::to_string(rounds) + ")",
        fmt_rate(best(on)) + " (" + fmt(ratio, 3)
          + "x without: " + fmt_rate(best(off)) + ")",
        "within 5 %", ratio >= 0.95 ? 1 : 0);
}

} // namespace procman::bench
