// procman-bench: measures in one run, side by side, how close procman
// comes to what the machine allows (issue 5; docs/performance.md):
//
//   1 raw limit      procman-exec spawned directly, 1 and P at a time
//   2 engine         N trivial processes enqueued by another OS process,
//                    run by `procman-runner --wait --parallel P`
//   3 latency        enqueue -> running / finished on an idle runner
//   4 status         look-ups in-process, through the manager, as a command
//   5 store          enqueue one at a time and batched into a big store;
//                    claim cost with a small and a big queue
//   6 runner RSS     idle, under load, with the big queue
//   7 timeout        how long after its deadline a timed-out command is gone
//   8 replay         export and replay of the engine run's log
//   9 nodes          one local runner against a store node and two worker
//                    nodes on this machine (docs/distribution.md)
//
// Prints a table (or JSON with --json). Child modes (`enqueue`, `claims`)
// are the same program re-executed as another OS process; `fill` builds a
// big store for a test.

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "procman/apps/common/args.hpp"
#include "procman/apps/procman-bench/bench.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/persistence/store.hpp"

namespace fs = std::filesystem;
using namespace procman;
using namespace procman::bench;

namespace {

constexpr const char* usage = R"(usage: procman-bench [options]

Measures procman on this machine and prints a table (docs/performance.md).

options:
  --quick           small sizes: a smoke run of well under a minute
  --json            print JSON instead of the table
  --parallel P      children at once (default: the number of cores)
  --n N             processes through the engine (default 10000; replayed too)
  --raw N           spawns per raw-limit measurement (default 2000)
  --latency N       processes for the latency figures (default 300)
  --big N           processes in the big store (default 1000000)
  --small N         queued processes in the small store (default 10000)
  --timeouts N      timed-out processes (default 5)
  --only LIST       comma-separated sections: raw, engine, latency, status,
                    timeout, store, rss, replay, nodes, waits, metrics, http
                    (http needs wrk and nginx: Debian's wrk and nginx-light)
  --bin DIR         where procman, procman-runner and procman-exec are
                    (default: beside this program)
  --work DIR        scratch directory (default: $TMPDIR or /tmp, a fresh
                    procman-bench-PID inside); removed unless --keep
  --keep            keep the scratch directory
  --runner-arg ARG  extra argument for the engine's runners (repeatable;
                    for experiments, e.g. --runner-arg=--log-level=warn)
  --help            this text

environment:
  PROCMAN_BENCH_STEPS=K  run processes of K procman.set steps instead of one
)";

std::string self_path() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("procman-bench") : p.string();
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, sep);)
    if (!x.empty())
      out.push_back(x);
  return out;
}

} // namespace

// -- child modes --------------------------------------------------------------

namespace procman::bench {

int child_enqueue(int argc, char** argv) {
  cli::args a(argc - 1, argv + 1, {}, {"store", "n", "batch"});
  auto store = a.get("store");
  auto n = a.number("n", 1000, 1);
  auto batch = a.number("batch", 1, 1);
  auto c = client::open(store);
  if (!c) {
    std::cerr << render(c.error()) << "\n";
    return 1;
  }
  auto spec = *parse_spec(std::string(trivial_spec));
  std::string first, last;
  uint64_t failed = 0;
  auto t0 = wall_us();
  if (batch <= 1) {
    for (uint64_t i = 0; i < n; ++i) {
      auto pid = c->start(spec);
      if (!pid) {
        ++failed;
        continue;
      }
      if (first.empty())
        first = *pid;
      last = *pid;
    }
  } else {
    transition t;
    t.kind = transition_kind::enqueue;
    t.source = "client";
    t.spec = spec;
    std::vector<transition> ts;
    for (uint64_t done = 0; done < n; done += batch) {
      ts.assign(std::min(batch, n - done), t);
      for (auto& res : c->db().apply(ts)) {
        if (!res) {
          ++failed;
          continue;
        }
        if (first.empty())
          first = res->pid;
        last = res->pid;
      }
    }
  }
  auto t1 = wall_us();
  std::cout << json::serialize(json::object{{"t0_us", t0},
                                            {"t1_us", t1},
                                            {"first", first},
                                            {"last", last},
                                            {"failed", failed}})
            << "\n";
  return failed == 0 ? 0 : 1;
}

int child_fill(int argc, char** argv) {
  cli::args a(argc - 1, argv + 1, {}, {"store", "n"});
  if (!a.has("store")) {
    std::cerr << "usage: procman-bench fill --store DIR --n N\n";
    return 2;
  }
  auto n = a.number("n", 100000, 1);
  try {
    auto rate = build_store(a.get("store"), n);
    std::cout << json::serialize(json::object{{"n", n}, {"per_s", rate}})
              << "\n";
  } catch (const std::exception& e) {
    std::cerr << "procman-bench fill: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

int child_claims(int argc, char** argv) {
  cli::args a(argc - 1, argv + 1, {"no-sync"}, {"small", "big", "n"});
  auto n = a.number("n", 300, 1);
  std::unique_ptr<store> dbs[2];
  std::string dirs[2] = {a.get("small"), a.get("big")};
  for (int i = 0; i < 2; ++i) {
    store_options so;
    so.dir = dirs[i];
    so.no_sync = a.flag("no-sync");
    so.ring_doorbell = false;
    auto db = store::open(so);
    if (!db) {
      std::cerr << render(db.error()) << "\n";
      return 1;
    }
    dbs[i] = std::move(*db);
  }
  std::vector<double> times[2];
  for (uint64_t i = 0; i < n + 10; ++i) {
    for (int k = 0; k < 2; ++k) {
      int which = static_cast<int>((i + k) % 2);
      auto t0 = now_us();
      auto res = dbs[which]->claim("procman-bench", 1);
      auto dt = now_us() - t0;
      if (!res || res->size() != 1) {
        std::cerr << "claim failed\n";
        return 1;
      }
      if (i >= 10)
        times[which].push_back(dt);
    }
  }
  auto figures = [](std::vector<double>& xs) {
    return json::object{{"p50_us", percentile(xs, 0.5)},
                        {"p90_us", percentile(xs, 0.9)},
                        {"mean_us", mean(xs)}};
  };
  std::cout << json::serialize(
    json::object{{"small", figures(times[0])}, {"big", figures(times[1])}})
            << "\n";
  return 0;
}

} // namespace procman::bench

// -- main ---------------------------------------------------------------------

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "enqueue")
    return child_enqueue(argc, argv);
  if (argc > 1 && std::string(argv[1]) == "claims")
    return child_claims(argc, argv);
  if (argc > 1 && std::string(argv[1]) == "fill")
    return child_fill(argc, argv);
  options o;
  try {
    cli::args a(argc, argv, {"quick", "json", "keep", "help"},
                {"parallel", "n", "raw", "latency", "big", "small", "timeouts",
                 "only", "bin", "work"},
                {"runner-arg"});
    if (a.flag("help")) {
      std::cout << usage;
      return 0;
    }
    if (!a.positional().empty())
      throw cli::usage_error("unexpected argument \"" + a.positional()[0]
                             + "\"");
    o.quick = a.flag("quick");
    if (o.quick) {
      o.raw_n = 200;
      o.engine_n = 300;
      o.latency_n = 50;
      o.big = 20000;
      o.small = 2000;
      o.claims = 50;
      o.enqueue_one = 100;
      o.enqueue_batched = 5000;
      o.status_cli = 20;
      o.status_seconds = 0.2;
      o.timeouts = 1;
      o.rss_seconds = 0.5;
      o.waits = 2;
    }
    o.json_out = a.flag("json");
    o.keep = a.flag("keep");
    auto cores = std::max(1u, std::thread::hardware_concurrency());
    o.parallel = static_cast<uint32_t>(a.number("parallel", cores, 1, 1024));
    o.engine_n = a.number("n", o.engine_n, 1);
    o.raw_n = a.number("raw", o.raw_n, 1);
    o.latency_n = a.number("latency", o.latency_n, 1);
    o.big = a.number("big", o.big, 1);
    o.small = a.number("small", o.small, 1);
    o.timeouts = a.number("timeouts", o.timeouts, 1);
    o.claims = std::min(o.claims, std::min(o.small, o.big) / 4 + 1);
    o.only = split(a.get("only"), ',');
    o.runner_args = a.all("runner-arg");
    for (auto& s : o.only)
      if (s != "raw" && s != "engine" && s != "latency" && s != "status"
          && s != "timeout" && s != "store" && s != "rss" && s != "replay"
          && s != "nodes" && s != "waits" && s != "http" && s != "metrics")
        throw cli::usage_error("unknown section \"" + s + "\" in --only");
    o.self = self_path();
    o.bin_dir = a.get("bin", fs::path(o.self).parent_path().string());
    for (auto prog : {"procman", "procman-runner", "procman-exec"})
      if (!fs::exists(o.bin_dir + "/" + prog))
        throw cli::usage_error("no " + std::string(prog) + " in " + o.bin_dir
                               + " (build first, or give --bin)");
    std::string base = a.get("work");
    if (base.empty()) {
      auto tmp = std::getenv("TMPDIR");
      base = std::string(tmp && *tmp ? tmp : "/tmp") + "/procman-bench-"
             + std::to_string(getpid());
    }
    o.work_dir = base;
  } catch (const cli::usage_error& e) {
    std::cerr << "procman-bench: " << e.what()
              << "\n(see procman-bench --help)\n";
    return 2;
  }
  std::error_code ec;
  fs::create_directories(o.work_dir, ec);
  if (ec) {
    std::cerr << "procman-bench: cannot create " << o.work_dir << ": "
              << ec.message() << "\n";
    return 1;
  }
  report r;
  r.machine = machine_facts();
  r.config = json::object{{"quick", o.quick},         {"parallel", o.parallel},
                          {"engine_n", o.engine_n},   {"raw_n", o.raw_n},
                          {"latency_n", o.latency_n}, {"big", o.big},
                          {"small", o.small}};
  if (!o.json_out)
    std::fprintf(stderr, "procman-bench: %s, %s, scratch in %s\n",
                 json::serialize(r.machine.at("cpu")).c_str(),
                 o.quick ? "quick run" : "full run", o.work_dir.c_str());
  int failures = 0;
  auto t_all = clock::now();
  // What the disk allows, at the start and again at the end: the disk may
  // be shared with other machines.
  auto floor = [&](const char* when) {
    try {
      auto f = measure_lmdb_floor(o.work_dir + "/lmdb", o.quick);
      auto key = std::string("lmdb_") + when;
      r.machine[key + "_commit_p50_us"] = f.commit_p50_us;
      r.machine[key + "_commits_per_s"] = f.commits_per_s;
      r.machine[key + "_puts_per_s_100_per_commit"] = f.puts_per_s;
      r.add("0 machine",
            std::string("plain LMDB, one small put per durable commit (") + when
              + ")",
            fmt_rate(f.commits_per_s) + " (p50 " + fmt_us(f.commit_p50_us)
              + ")");
      r.add("0 machine",
            std::string("plain LMDB, 100 small puts per durable commit (")
              + when + ")",
            fmt_rate(f.puts_per_s) + " puts");
    } catch (const std::exception& e) {
      r.add("0 machine", "plain LMDB", std::string("FAILED: ") + e.what());
    }
  };
  floor("start");
  auto run = [&](const char* name, void (*fn)(const options&, report&)) {
    auto t0 = clock::now();
    try {
      fn(o, r);
    } catch (const std::exception& e) {
      ++failures;
      r.add(name, "FAILED", e.what());
      std::fprintf(stderr, "procman-bench: %s failed: %s\n", name, e.what());
    }
    std::fprintf(stderr, "procman-bench: %s done in %.1f s\n", name,
                 seconds_since(t0));
  };
  run("raw/engine", run_raw_and_engine);
  run("latency/status/timeout", run_latency_status_timeout);
  run("replay", run_replay);
  run("store/rss", run_store);
  run("nodes", run_nodes);
  run("waits", run_waits);
  run("http", run_http);
  run("metrics", run_metrics);
  floor("end");
  r.machine["loadavg_end"] = load_average();
  r.machine["io_pressure_end"] = io_pressure();
  r.config["seconds"] = seconds_since(t_all);
  if (!o.keep)
    remove_tree(o.work_dir);
  if (o.json_out)
    std::cout << json::serialize(r.to_json()) << "\n";
  else
    r.print_table(stdout);
  return failures == 0 ? 0 : 1;
}
