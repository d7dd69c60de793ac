#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <dirent.h>
#include <fcntl.h>
#include <lmdb++.h>
#include <poll.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procman/apps/procman-bench/bench.hpp"

extern char** environ;

namespace procman::bench {

namespace fs = std::filesystem;

bool options::wants(const std::string& section) const {
  return only.empty()
         || std::find(only.begin(), only.end(), section) != only.end();
}

// -- report -------------------------------------------------------------------

json::object& report::section(const std::string& name) {
  return results[name];
}

void report::add(const std::string& section, const std::string& metric,
                 const std::string& value, const std::string& target, int met) {
  rows.push_back(row{section, metric, value, target, met});
}

void report::print_table(std::FILE* out) const {
  auto str = [](const json::value& v) -> std::string {
    if (v.is_string())
      return std::string(v.get_string());
    return json::serialize(v);
  };
  std::fprintf(out, "procman-bench — %s\n", str(machine.at("date")).c_str());
  std::fprintf(out, "machine: %s, %s cores, %s, %s\n",
               str(machine.at("cpu")).c_str(), str(machine.at("cores")).c_str(),
               str(machine.at("memory")).c_str(),
               str(machine.at("kernel")).c_str());
  std::fprintf(out,
               "load average at start %s, at end %s; I/O pressure (avg60) at "
               "start %s, at end %s\n",
               str(machine.at("loadavg")).c_str(),
               machine.contains("loadavg_end")
                 ? str(machine.at("loadavg_end")).c_str()
                 : "n/a",
               str(machine.at("io_pressure")).c_str(),
               machine.contains("io_pressure_end")
                 ? str(machine.at("io_pressure_end")).c_str()
                 : "n/a");
  std::fprintf(out, "config:  %s\n\n", json::serialize(config).c_str());
  size_t w1 = 7, w2 = 6, w3 = 5, w4 = 6;
  for (auto& r : rows) {
    w1 = std::max(w1, r.section.size());
    w2 = std::max(w2, r.metric.size());
    w3 = std::max(w3, r.value.size());
    w4 = std::max(w4, r.target.size());
  }
  // Width in bytes; "µ" is two bytes, so pad by display width.
  auto pad = [](const std::string& s, size_t w) {
    size_t chars = 0;
    for (unsigned char c : s)
      if ((c & 0xC0) != 0x80)
        ++chars;
    std::string out = s;
    size_t bytes_w = w + (s.size() - chars);
    if (out.size() < bytes_w)
      out.append(bytes_w - out.size(), ' ');
    return out;
  };
  std::fprintf(out, "| %s | %s | %s | %s | met |\n", pad("section", w1).c_str(),
               pad("metric", w2).c_str(), pad("value", w3).c_str(),
               pad("target", w4).c_str());
  std::fprintf(out, "| %s | %s | %s | %s | --- |\n",
               std::string(w1, '-').c_str(), std::string(w2, '-').c_str(),
               std::string(w3, '-').c_str(), std::string(w4, '-').c_str());
  int met = 0, judged = 0;
  auto sorted = rows;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const row& a, const row& b) {
                     return a.section < b.section;
                   });
  for (auto& r : sorted) {
    std::fprintf(out, "| %s | %s | %s | %s | %s |\n",
                 pad(r.section, w1).c_str(), pad(r.metric, w2).c_str(),
                 pad(r.value, w3).c_str(), pad(r.target, w4).c_str(),
                 r.met < 0 ? "   " : (r.met ? "yes" : "NO "));
    if (r.met >= 0) {
      ++judged;
      met += r.met;
    }
  }
  std::fprintf(out, "\ntargets met: %d of %d\n", met, judged);
}

json::object report::to_json() const {
  json::array targets;
  for (auto& r : rows)
    if (r.met >= 0)
      targets.push_back(json::object{{"section", r.section},
                                     {"metric", r.metric},
                                     {"value", r.value},
                                     {"target", r.target},
                                     {"met", r.met == 1}});
  json::object res;
  for (auto& kv : results)
    res[kv.first] = kv.second;
  return json::object{{"machine", machine},
                      {"config", config},
                      {"results", std::move(res)},
                      {"targets", std::move(targets)}};
}

// -- time ---------------------------------------------------------------------

double now_us() {
  return std::chrono::duration<double, std::micro>(
           clock::now().time_since_epoch())
    .count();
}

uint64_t wall_us() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

double seconds_since(clock::time_point t0) {
  return std::chrono::duration<double>(clock::now() - t0).count();
}

// -- numbers ------------------------------------------------------------------

double percentile(std::vector<double>& xs, double q) {
  if (xs.empty())
    return std::nan("");
  std::sort(xs.begin(), xs.end());
  auto rank
    = static_cast<size_t>(std::ceil(q * static_cast<double>(xs.size())));
  if (rank > 0)
    --rank;
  return xs[std::min(rank, xs.size() - 1)];
}

double mean(const std::vector<double>& xs) {
  if (xs.empty())
    return std::nan("");
  return std::accumulate(xs.begin(), xs.end(), 0.0)
         / static_cast<double>(xs.size());
}

std::string fmt_int(double x) {
  if (!std::isfinite(x))
    return "n/a";
  auto n = static_cast<long long>(std::llround(x));
  bool neg = n < 0;
  auto digits = std::to_string(neg ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return neg ? "-" + out : out;
}

std::string fmt(double x, int decimals) {
  if (!std::isfinite(x))
    return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, x);
  return buf;
}

std::string fmt_rate(double per_second) {
  return fmt_int(per_second) + "/s";
}

std::string fmt_us(double us) {
  if (!std::isfinite(us))
    return "n/a";
  if (std::fabs(us) < 1000)
    return fmt_int(us) + " µs";
  return fmt(us / 1000, std::fabs(us) < 10000 ? 2 : 1) + " ms";
}

std::string fmt_mib(double kib) {
  if (kib < 0)
    return "n/a";
  return fmt(kib / 1024, 1) + " MiB";
}

// -- OS processes -------------------------------------------------------------

pid_t spawn(const std::vector<std::string>& argv, int in_fd, int out_fd,
            int err_fd, const std::vector<std::string>& env) {
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_fd >= 0 ? in_fd : null_fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_fd >= 0 ? out_fd : null_fd, 1);
  posix_spawn_file_actions_adddup2(&fa, err_fd >= 0 ? err_fd : null_fd, 2);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e)
    envp.push_back(*e);
  for (auto& e : env)
    envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(null_fd);
  if (rc != 0)
    throw std::runtime_error("cannot start " + argv[0] + ": "
                             + std::strerror(rc));
  return pid;
}

static int decode_status(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return decode_status(status);
}

std::optional<int> wait_exit_for(pid_t pid, double seconds) {
  auto t0 = clock::now();
  for (;;) {
    int status = 0;
    auto rc = waitpid(pid, &status, WNOHANG);
    if (rc == pid)
      return decode_status(status);
    if (rc < 0 && errno != EINTR)
      return -1;
    if (seconds_since(t0) >= seconds)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

captured run_capture(const std::vector<std::string>& argv,
                     const std::string& err_path) {
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe: " + std::string(std::strerror(errno)));
  int err_fd = -1;
  if (!err_path.empty())
    err_fd = open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0644);
  pid_t pid;
  try {
    pid = spawn(argv, -1, out[1], err_fd);
  } catch (...) {
    close(out[0]);
    close(out[1]);
    if (err_fd >= 0)
      close(err_fd);
    throw;
  }
  close(out[1]);
  if (err_fd >= 0)
    close(err_fd);
  captured res;
  char buf[65536];
  for (;;) {
    auto n = read(out[0], buf, sizeof(buf));
    if (n > 0) {
      res.out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    break;
  }
  close(out[0]);
  res.code = wait_exit(pid);
  return res;
}

long proc_status_kib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  auto prefix = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.compare(0, prefix.size(), prefix) == 0)
      return std::strtol(line.c_str() + prefix.size(), nullptr, 10);
  return -1;
}

bool alive(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  char buf[512];
  auto n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  // "pid (comm) S ...": the state follows the last ')'.
  auto p = std::strrchr(buf, ')');
  if (p == nullptr || p[1] == '\0' || p[2] == '\0')
    return false;
  return p[2] != 'Z' && p[2] != 'X';
}

std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  auto d = opendir("/proc");
  if (d == nullptr)
    return out;
  while (auto e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string text;
    std::getline(in, text);
    auto p = text.rfind(')');
    if (p == std::string::npos)
      continue;
    std::istringstream rest(text.substr(p + 2));
    char state;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent)
      out.push_back(static_cast<pid_t>(std::atol(e->d_name)));
  }
  closedir(d);
  return out;
}

// -- runners ------------------------------------------------------------------

runner_proc::runner_proc(const options& o, const std::string& store,
                         const std::vector<std::string>& extra,
                         const std::string& log_path,
                         const std::vector<std::string>& env) {
  std::vector<std::string> argv{o.bin_dir + "/procman-runner"};
  if (!store.empty()) {
    argv.push_back("--store");
    argv.push_back(store);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                    0644);
  pid_ = spawn(argv, -1, -1, log_fd, env);
  if (log_fd >= 0)
    close(log_fd);
}

runner_proc::~runner_proc() {
  if (!reaped_)
    stop(5);
}

void runner_proc::await_ready(const std::string& store) {
  auto t0 = clock::now();
  while (!fs::exists(store + "/doorbell.sock")) {
    if (seconds_since(t0) > 30)
      throw std::runtime_error("runner did not start within 30 s");
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      throw std::runtime_error("runner exited at start");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

int runner_proc::stop(double seconds) {
  if (reaped_)
    return -1;
  kill(pid_, SIGTERM);
  auto code = wait_exit_for(pid_, seconds);
  if (!code) {
    kill(pid_, SIGKILL);
    code = wait_exit(pid_);
  }
  reaped_ = true;
  return *code;
}

// -- waiting for another process's commits ------------------------------------

void poll_pause() {
  std::this_thread::sleep_for(std::chrono::microseconds(100));
}

// -- the disk -----------------------------------------------------------------

lmdb_floor measure_lmdb_floor(const std::string& dir, bool quick) {
  remove_tree(dir);
  fs::create_directories(dir);
  lmdb_floor f;
  {
    auto env = lmdb::env::create();
    env.set_mapsize(uint64_t{256} << 20);
    env.open(dir.c_str(), MDB_NOTLS, 0644);
    MDB_dbi dbi;
    {
      auto txn = lmdb::txn::begin(env);
      dbi = lmdb::dbi::open(txn, nullptr).handle();
      txn.commit();
    }
    char value[100];
    std::memset(value, 'x', sizeof(value));
    uint64_t key = 0;
    auto put = [&](MDB_txn* txn) {
      ++key;
      char k[8];
      for (int i = 7; i >= 0; --i)
        k[7 - i] = static_cast<char>((key >> (8 * i)) & 0xFF);
      lmdb::val kv{k, sizeof(k)};
      lmdb::val vv{value, sizeof(value)};
      lmdb::dbi_put(txn, dbi, kv, vv, 0);
    };
    std::vector<double> times;
    int commits = quick ? 100 : 500;
    auto t0 = clock::now();
    for (int i = 0; i < commits; ++i) {
      auto c0 = now_us();
      auto txn = lmdb::txn::begin(env);
      put(txn.handle());
      txn.commit();
      times.push_back(now_us() - c0);
    }
    f.commits_per_s = commits / seconds_since(t0);
    f.commit_p50_us = percentile(times, 0.5);
    int batches = quick ? 20 : 100;
    t0 = clock::now();
    for (int i = 0; i < batches; ++i) {
      auto txn = lmdb::txn::begin(env);
      for (int j = 0; j < 100; ++j)
        put(txn.handle());
      txn.commit();
    }
    f.puts_per_s = batches * 100 / seconds_since(t0);
  }
  remove_tree(dir);
  return f;
}

// -- machine ------------------------------------------------------------------

std::string io_pressure() {
  // "some avg10=1.23 avg60=4.56 ...": the share of time in which some task
  // waited for I/O (other machines on a shared disk show here too).
  std::ifstream in("/proc/pressure/io");
  std::string line;
  std::getline(in, line);
  auto p = line.find("avg60=");
  if (p == std::string::npos)
    return "n/a";
  return line.substr(p + 6, line.find(' ', p) - p - 6) + "%";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  double a = 0, b = 0, c = 0;
  in >> a >> b >> c;
  return fmt(a, 2) + " " + fmt(b, 2) + " " + fmt(c, 2);
}

json::object machine_facts() {
  json::object m;
  auto t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  m["date"] = buf;
  std::string cpu = "unknown";
  {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("model name", 0) == 0) {
        auto p = line.find(':');
        if (p != std::string::npos)
          cpu = line.substr(p + 2);
        break;
      }
  }
  m["cpu"] = cpu;
  m["cores"] = std::thread::hardware_concurrency();
  utsname u;
  if (uname(&u) == 0)
    m["kernel"] = std::string(u.sysname) + " " + u.release;
  else
    m["kernel"] = "unknown";
  m["loadavg"] = load_average();
  m["io_pressure"] = io_pressure();
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    long kib = 0;
    in >> key >> kib;
    m["memory"] = fmt(static_cast<double>(kib) / 1024 / 1024, 1) + " GiB";
  }
#ifdef NDEBUG
  m["build"] = "optimized (NDEBUG)";
#else
  m["build"] = "debug";
#endif
  return m;
}

void remove_tree(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
}

uint64_t dir_bytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec))
      total += e.file_size(ec);
  return total;
}

// -- specs --------------------------------------------------------------------

namespace {

/// One procman.set step, or $PROCMAN_BENCH_STEPS of them (to measure what
/// step boundaries cost: each waits for its completion to be committed).
std::string bench_spec() {
  long steps = 1;
  if (auto env = std::getenv("PROCMAN_BENCH_STEPS"); env && *env)
    steps = std::max(1L, std::strtol(env, nullptr, 10));
  if (steps == 1)
    return R"({"steps": {"set": {"class": "procman.set", "args": {"bench": 1}}}})";
  json::object all;
  for (long i = 0; i < steps; ++i)
    all["set" + std::to_string(i)] = json::object{{"class", "procman.set"},
                                                  {"args", {{"bench", i}}}};
  return json::serialize(json::object{{"steps", std::move(all)}});
}

const std::string bench_spec_text = bench_spec();

} // namespace

const char* trivial_spec = bench_spec_text.c_str();

std::string trivial_exec_input(const std::string& pid) {
  // What actors/process.cpp writes for the trivial spec.
  json::object input{
    {"pid", pid},
    {"steps", json::array{json::object{{"name", "set"},
                                       {"class", "procman.set"},
                                       {"args", json::object{{"bench", 1}}},
                                       {"services", json::array{}}}}},
    {"first_step", 0},
    {"data", json::object{}},
    {"script_args", ""}};
  return json::serialize(input);
}

} // namespace procman::bench
