#include "procman/http/metrics.hpp"

#include <algorithm>
#include <unordered_map>

#include "procman/messages/defaults.hpp"
#include "procman/messages/types.hpp"

namespace procman::http {

namespace {

/// A label value as the format wants it: \, " and newline escaped.
std::string escaped(std::string_view x) {
  std::string out;
  for (auto c : x) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

/// `x` thousandths (or millionths, `digits` 6) as a decimal: 1500 -> 1.5.
std::string fixed(uint64_t x, int digits) {
  uint64_t unit = digits == 3 ? 1000 : 1000000;
  auto out = std::to_string(x / unit);
  auto frac = std::to_string(x % unit);
  frac.insert(0, static_cast<size_t>(digits) - frac.size(), '0');
  while (!frac.empty() && frac.back() == '0')
    frac.pop_back();
  if (!frac.empty())
    out += "." + frac;
  return out;
}

class writer {
public:
  explicit writer(const store_metrics& m) {
    for (size_t i = 0; i < m.names.size() && i < m.values.size(); ++i)
      values_.emplace(m.names[i], m.values[i]);
  }

  /// The counter `name`, 0 when the store has none yet.
  uint64_t value(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? 0 : it->second;
  }

  /// The names of the counters that begin with `prefix`, without it.
  std::vector<std::string> suffixes(std::string_view prefix) const {
    std::vector<std::string> out;
    for (auto& [name, x] : values_)
      if (name.size() > prefix.size()
          && name.compare(0, prefix.size(), prefix) == 0)
        out.push_back(name.substr(prefix.size()));
    std::sort(out.begin(), out.end());
    return out;
  }

  void family(std::string_view name, std::string_view type,
              std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name, const std::string& labels,
              const std::string& value) {
    out_ += name;
    if (!labels.empty())
      out_ += "{" + labels + "}";
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  void sample(std::string_view name, const std::string& labels,
              uint64_t value) {
    sample(name, labels, std::to_string(value));
  }

  /// The histogram kept under `key` (persistence/counters.hpp) with
  /// `bounds` in thousandths (digits 3) or millionths (6) of a second.
  template <size_t N>
  void histogram(std::string_view name, const std::string& labels,
                 const std::string& key, const uint64_t (&bounds)[N],
                 int digits) {
    std::string prefix = labels.empty() ? "" : labels + ",";
    std::string bucket = std::string{name} + "_bucket";
    uint64_t below = 0;
    for (auto b : bounds) {
      below += value(key + ":le:" + std::to_string(b));
      sample(bucket, prefix + "le=\"" + fixed(b, digits) + "\"", below);
    }
    auto count = value(key + ":count");
    sample(bucket, prefix + "le=\"+Inf\"", count);
    sample(std::string{name} + "_sum", labels,
           fixed(value(key + ":sum"), digits));
    sample(std::string{name} + "_count", labels, count);
  }

  std::string take() { return std::move(out_); }

private:
  std::unordered_map<std::string, uint64_t> values_;
  std::string out_;
};

constexpr process_status all_states[]
  = {process_status::queued,   process_status::held,
     process_status::running,  process_status::interrupted,
     process_status::finished, process_status::error,
     process_status::cancelled};

constexpr error_kind all_kinds[]
  = {error_kind::exception, error_kind::spec,  error_kind::output,
     error_kind::timeout,   error_kind::crash, error_kind::runner_lost,
     error_kind::node_lost};

/// The error kinds to show: every kind, and any other the store counted.
std::vector<std::string> kinds(const writer& w, std::string_view prefix) {
  std::vector<std::string> out;
  for (auto k : all_kinds)
    out.push_back(to_string(k));
  for (auto& x : w.suffixes(prefix))
    if (std::find(out.begin(), out.end(), x) == out.end())
      out.push_back(x);
  return out;
}

} // namespace

void request_counts::add(std::string_view method, std::string_view route,
                         unsigned code) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++counts_[{std::string{method}, std::string{route}, code}];
}

std::string request_counts::render() const {
  std::string out = "# HELP procman_http_requests_total HTTP requests this "
                    "server answered, by route and status code.\n"
                    "# TYPE procman_http_requests_total counter\n";
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [key, n] : counts_) {
    auto& [method, route, code] = key;
    out += "procman_http_requests_total{method=\"" + escaped(method)
           + "\",route=\"" + escaped(route) + "\",code=\""
           + std::to_string(code) + "\"} " + std::to_string(n) + "\n";
  }
  return out;
}

std::string render_metrics(const store_metrics& m) {
  writer w{m};
  w.family("procman_processes", "gauge", "Processes in the store by state.");
  for (auto s : all_states)
    w.sample("procman_processes", "state=\"" + to_string(s) + "\"",
             w.value("state:" + to_string(s)));
  w.family("procman_queued_processes", "gauge",
           "Queued processes by priority (due or delayed).");
  for (auto& p : w.suffixes("queued:"))
    w.sample("procman_queued_processes", "priority=\"" + escaped(p) + "\"",
             w.value("queued:" + p));
  w.family("procman_delayed_processes", "gauge",
           "Queued processes not yet due (a delayed start or a retry's "
           "backoff), as of the last claim.");
  w.sample("procman_delayed_processes", "", m.delayed);
  w.family("procman_queue_oldest_age_seconds", "gauge",
           "How long the longest waiting due process of each priority has "
           "waited.");
  for (size_t i = 0; i < m.priorities.size() && i < m.oldest_due.size(); ++i) {
    auto due = m.oldest_due[i];
    w.sample("procman_queue_oldest_age_seconds",
             "priority=\"" + std::to_string(m.priorities[i]) + "\"",
             fixed(m.time > due ? m.time - due : 0, 3));
  }
  struct total {
    const char* key;
    const char* name;
    const char* help;
  };
  static constexpr total totals[] = {
    {"enqueued", "procman_processes_enqueued_total", "Processes enqueued."},
    {"claimed", "procman_processes_claimed_total",
     "Runs claimed from the queue by a runner."},
    {"started", "procman_processes_started_total",
     "Runs whose executor started."},
    {"finished", "procman_processes_finished_total",
     "Processes that finished."},
    {"cancelled", "procman_processes_cancelled_total",
     "Processes that were cancelled."},
    {"interrupted", "procman_processes_interrupted_total",
     "Runs that ended interrupted (waiting for proceed)."},
    {"retried", "procman_processes_retried_total",
     "Processes queued again by procman retry."},
    {"purged", "procman_processes_purged_total",
     "Terminal processes removed by retention or procman purge."},
  };
  for (auto& t : totals) {
    w.family(t.name, "counter", t.help);
    w.sample(t.name, "", w.value(std::string{"total:"} + t.key));
  }
  w.family("procman_processes_failed_total", "counter",
           "Processes that ended in error, by error kind.");
  for (auto& k : kinds(w, "total:failed:"))
    w.sample("procman_processes_failed_total", "kind=\"" + escaped(k) + "\"",
             w.value("total:failed:" + k));
  w.family("procman_attempts_failed_total", "counter",
           "Failed runs by error kind, whether retried or not.");
  for (auto& k : kinds(w, "total:attempt_failed:"))
    w.sample("procman_attempts_failed_total", "kind=\"" + escaped(k) + "\"",
             w.value("total:attempt_failed:" + k));
  w.family("procman_queue_wait_seconds", "histogram",
           "From a queued process's due time (enqueue, or not_before) to its "
           "claim.");
  w.histogram("procman_queue_wait_seconds", "", "hist:wait",
              defaults::metrics_ms_buckets, 3);
  w.family("procman_run_duration_seconds", "histogram",
           "From an executor's start to the end of its run (finished, "
           "error, cancelled, interrupted).");
  w.histogram("procman_run_duration_seconds", "", "hist:run",
              defaults::metrics_ms_buckets, 3);
  w.family("procman_step_duration_seconds", "histogram",
           "From a step's start to its completion, by step class.");
  std::vector<std::string> classes;
  constexpr std::string_view count = ":count";
  for (auto& x : w.suffixes("hist:step:"))
    if (x.size() > count.size()
        && x.compare(x.size() - count.size(), count.size(), count) == 0)
      classes.push_back(x.substr(0, x.size() - count.size()));
  for (auto& cls : classes)
    w.histogram("procman_step_duration_seconds",
                "class=\"" + escaped(cls) + "\"", "hist:step:" + cls,
                defaults::metrics_ms_buckets, 3);
  w.family("procman_store_commit_duration_seconds", "histogram",
           "Latency of a commit (with its fsync), counted with the next "
           "commit of the same OS process.");
  w.histogram("procman_store_commit_duration_seconds", "", "hist:commit",
              defaults::metrics_us_buckets, 6);
  struct single {
    const char* name;
    const char* type;
    const char* help;
    uint64_t value;
  };
  const single singles[] = {
    {"procman_store_commits_total", "counter",
     "Write transactions committed to the store.", w.value("total:commits")},
    {"procman_store_transitions_total", "counter",
     "Transitions committed (the message log's last sequence number).",
     m.last_seq},
    {"procman_store_log_entries", "gauge",
     "Entries of the message log kept (retention trims it).", m.log_entries},
    {"procman_store_records", "gauge", "Process records in the store.",
     m.records},
    {"procman_store_map_size_bytes", "gauge",
     "Size of the store's LMDB map (it doubles when full).", m.map_size},
    {"procman_store_used_bytes", "gauge",
     "Bytes of the store's LMDB map in use.", m.used_bytes},
    {"procman_runners", "gauge",
     "Runners serving the store (a store node counts itself).", m.runners},
  };
  for (auto& x : singles) {
    w.family(x.name, x.type, x.help);
    w.sample(x.name, "", x.value);
  }
  if (m.slots > 0) {
    // Only a runner's own server knows them (procman-runner --http).
    const single runner[] = {
      {"procman_slots", "gauge",
       "Slots of the runner serving this API (its --parallel).", m.slots},
      {"procman_slots_busy", "gauge",
       "Slots of the runner serving this API that run a process now.",
       m.busy_slots},
      {"procman_fork_server_restarts_total", "counter",
       "Times the runner's fork server was started again (it died, or a "
       "step library changed).",
       m.fork_server_restarts},
    };
    for (auto& x : runner) {
      w.family(x.name, x.type, x.help);
      w.sample(x.name, "", x.value);
    }
  }
  return w.take();
}

std::string render_node_metrics(const nodes_info& n) {
  store_metrics none;
  writer w{none};
  w.family("procman_nodes", "gauge",
           "Runners (on the store's host) and worker nodes (with a lease) "
           "serving the store.");
  for (auto kind : {"runner", "worker"})
    w.sample("procman_nodes", std::string{"kind=\""} + kind + "\"",
             static_cast<uint64_t>(std::count_if(n.nodes.begin(), n.nodes.end(),
                                                 [&](const node_info& x) {
                                                   return x.kind == kind;
                                                 })));
  w.family("procman_node_running_processes", "gauge",
           "Processes running under each runner or worker node.");
  for (auto& x : n.nodes)
    w.sample("procman_node_running_processes",
             "node=\"" + escaped(x.id) + "\",kind=\"" + escaped(x.kind) + "\"",
             x.running);
  w.family("procman_node_lease_seconds", "gauge",
           "Length of each worker node's lease.");
  w.family("procman_node_last_heard_age_seconds", "gauge",
           "Seconds since each worker node last renewed its lease.");
  for (auto& x : n.nodes) {
    if (x.kind != "worker")
      continue;
    auto labels = "node=\"" + escaped(x.id) + "\"";
    w.sample("procman_node_lease_seconds", labels, fixed(x.lease_ms, 3));
    w.sample("procman_node_last_heard_age_seconds", labels,
             fixed(n.time > x.last_heard ? n.time - x.last_heard : 0, 3));
  }
  return w.take();
}

} // namespace procman::http
