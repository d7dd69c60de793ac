// A fresh recording of the golden scenarios matches the committed logs:
// tests/data/record-golden-logs.sh runs every scenario again (real runners,
// executors and stores, in a temporary directory), and each log it writes
// is compared with the committed one of the same name once both are
// normalised: what legitimately differs between two recordings is taken
// out, and nothing else (docs/testing.md#golden-logs says what and why).

#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <boost/json.hpp>

#include "replay_fixture.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace procman::test;

namespace {

/// Fields whose values differ between two recordings of one scenario:
/// wall-clock times (ms since the epoch, and what follows from them: a
/// delayed process's `not_before`, a schedule run's `due`, an attempt's
/// `at`, the steps' `step_times`), the log's sequence numbers (processes that
/// run side by side, or that a timer enqueues, interleave differently), digests
/// (hashes of records that hold the times), OS pids, the scratch store's path,
/// and stack traces (frames and lines of the build that ran them).
const std::set<std::string> varying
  = {"time",       "seq",         "digest",   "exported_at", "store",
     "due",        "not_before",  "at",       "created_at",  "started_at",
     "updated_at", "finished_at", "exec_pid", "stack",       "step_times"};

/// Replaces every occurrence of `from` in `s` by `to`.
void replace_all(std::string& s, const std::string& from,
                 const std::string& to) {
  if (from.empty())
    return;
  for (size_t at = 0; (at = s.find(from, at)) != std::string::npos;
       at += to.size())
    s.replace(at, from.size(), to);
}

std::string str(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string()
           ? std::string(it->value().get_string())
           : std::string{};
}

/// A log as comparable text: one line per process (its entries in order,
/// then its final record), processes named by the order in which they were
/// enqueued, runs of a schedule as the set of distinct runs.
class normalised_log {
public:
  explicit normalised_log(const std::vector<json::object>& lines) {
    BOOST_REQUIRE(!lines.empty());
    auto store = str(lines[0], "store");
    work_ = fs::path(store).parent_path().string();
    header_ = lines[0];
    for (auto& k : varying)
      header_.erase(k);
    // Names first: pids in the order of their first entry, runner ids.
    for (auto& l : lines) {
      auto kind = str(l, "type");
      const json::object* o = &l;
      if (kind == "record")
        o = &l.at("record").as_object();
      else if (kind != "entry")
        continue;
      auto runner = str(*o, "runner");
      if (!runner.empty())
        runners_.insert(runner);
      auto pid = str(*o, "pid");
      if (pid.empty() || names_.count(pid))
        continue;
      auto schedule = str(*o, "schedule");
      names_[pid] = schedule.empty() ? "P" + std::to_string(++processes_)
                                     : "run of schedule " + schedule;
    }
    for (auto& l : lines) {
      auto kind = str(l, "type");
      if (kind == "entry")
        add_entry(l);
      else if (kind == "record")
        add_record(l.at("record").as_object());
    }
  }

  /// The comparable lines.
  std::vector<std::string> text() const {
    std::vector<std::string> out{json::serialize(header_)};
    std::vector<const process_view*> views;
    for (auto& [id, view] : views_)
      views.push_back(&view);
    std::sort(views.begin(), views.end(), [](auto* x, auto* y) {
      return std::tie(x->order, x->name) < std::tie(y->order, y->name);
    });
    std::set<std::string> runs; // of schedules: how many depends on time
    for (auto* v : views) {
      std::string line = v->name + ":";
      for (auto& i : v->items)
        line += "\n    " + i;
      line += "\n    "
              + (v->record.empty() ? "no record" : "record " + v->record);
      if (v->order == run_order)
        runs.insert(line);
      else
        out.push_back(line);
    }
    out.insert(out.end(), runs.begin(), runs.end());
    return out;
  }

private:
  /// What the log holds about one process (or one schedule: pid "").
  struct process_view {
    int order = 0; ///< schedules 0, processes 1, 2, ..., runs of schedules last
    std::string name;
    std::vector<std::string> items;
    std::string record;
  };

  static constexpr int run_order = 1 << 30;

  process_view& view_of(const json::object& o) {
    auto pid = str(o, "pid");
    auto id = pid.empty() ? "schedule " + str(o, "schedule") : pid;
    auto& v = views_[id];
    if (v.name.empty()) {
      v.name = pid.empty() ? id : names_.at(pid);
      v.order = pid.empty()        ? 0
                : v.name[0] == 'P' ? std::stoi(v.name.substr(1))
                                   : run_order;
    }
    return v;
  }

  void normalise(json::value& v) const {
    if (v.is_object()) {
      // Rebuilt rather than erased from: json::object::erase moves the
      // last member into the gap, so that the order would depend on which
      // varying fields a line has.
      json::object kept;
      for (auto& kv : v.get_object())
        if (!varying.count(std::string(kv.key())))
          kept.emplace(kv.key(), std::move(kv.value()));
      for (auto& kv : kept)
        normalise(kv.value());
      v = std::move(kept);
    } else if (v.is_array()) {
      for (auto& x : v.get_array())
        normalise(x);
    } else if (v.is_string()) {
      std::string s(v.get_string());
      replace_all(s, work_, "$WORK");
      // Which runner ran a process, when several were up, is a matter of
      // timing; that a runner did is not.
      for (auto& r : runners_)
        replace_all(s, r, "<runner>");
      for (auto& [pid, name] : names_)
        replace_all(s, pid, "<" + name + ">");
      v = s;
    }
  }

  void add_entry(const json::object& entry) {
    json::value v = entry;
    auto& o = v.get_object();
    o.erase("type");
    auto& items = view_of(entry).items;
    if (str(entry, "event") == "progress") {
      // The executor sends at most one progress report per 50 ms: how many
      // a step sends, and their percentages, depend on timing. A run of
      // them counts as one.
      if (!items.empty()
          && items.back().find("\"event\":\"progress\"") != std::string::npos)
        return;
      o.erase("payload");
    }
    normalise(v);
    items.push_back(json::serialize(v));
  }

  void add_record(const json::object& record) {
    json::value v = record;
    normalise(v);
    view_of(record).record = json::serialize(v);
  }

  std::string work_;
  json::object header_;
  std::map<std::string, std::string> names_;
  std::set<std::string> runners_;
  int processes_ = 0;
  std::map<std::string, process_view> views_;
};

std::vector<json::object> read_lines(const std::string& path) {
  std::ifstream in(path);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
  std::vector<json::object> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      lines.push_back(json::parse(line).as_object());
  return lines;
}

/// The lines of `text`.
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// Checks that two logs are the same once normalised; narrates the first
/// difference (the process, and its first entry or record that differs).
bool same_log(const std::vector<json::object>& committed,
              const std::vector<json::object>& fresh) {
  auto a = normalised_log(committed).text();
  auto b = normalised_log(fresh).text();
  for (size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    auto x = lines_of(i < a.size() ? a[i] : "(nothing)");
    auto y = lines_of(i < b.size() ? b[i] : "(nothing)");
    if (x == y)
      continue;
    size_t j = 0;
    while (j < x.size() && j < y.size() && x[j] == y[j])
      ++j;
    BOOST_TEST_MESSAGE(
      "first difference, in "
      << x[0] << " (line " << j
      << "):\n  committed: " << (j < x.size() ? x[j] : "(nothing)")
      << "\n  fresh:     " << (j < y.size() ? y[j] : "(nothing)"));
    return false;
  }
  return true;
}

/// Entries of `log` with this event.
std::vector<json::object*> entries(std::vector<json::object>& log,
                                   const std::string& event) {
  std::vector<json::object*> out;
  for (auto& l : log)
    if (str(l, "type") == "entry" && str(l, "event") == event)
      out.push_back(&l);
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(golden_rerecord, replay_fixture)

BOOST_AUTO_TEST_CASE(
  a_fresh_recording_of_the_golden_scenarios_matches_the_committed_logs) {
  auto out = tmp.str() + "/logs";
  fs::create_directory(out);
  auto build = fs::path(bin("procman")).parent_path().parent_path().string();
  auto r = run_command({"bash", source_path("tests/data/record-golden-logs.sh"),
                        build, out},
                       {}, 240);
  BOOST_TEST_MESSAGE(r.out);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "record-golden-logs.sh exited with "
                                            << r.exit_code << " (signal "
                                            << r.signal << "): " << r.err);
  std::vector<std::string> recorded;
  for (auto& e : fs::directory_iterator(out))
    recorded.push_back(e.path().filename().string());
  std::sort(recorded.begin(), recorded.end());
  // Every scenario has its committed log and every committed log its
  // scenario.
  BOOST_TEST(recorded == golden_logs(), boost::test_tools::per_element());
  for (auto& name : golden_logs()) {
    if (!fs::exists(out + "/" + name))
      continue;
    BOOST_TEST_CONTEXT("log " << name) {
      BOOST_TEST(same_log(read_lines(source_path("tests/data/" + name)),
                          read_lines(out + "/" + name)));
    }
  }
}

BOOST_AUTO_TEST_CASE(the_comparison_ignores_only_what_legitimately_varies) {
  // Against the committed logs themselves, altered as a second recording
  // may differ (the same), and as a changed engine would (not the same).
  auto golden = read_lines(source_path("tests/data/interleaved.jsonl"));
  BOOST_REQUIRE(same_log(golden, golden));
  auto varied = golden;
  for (auto& l : varied) {
    auto text = json::serialize(l);
    // Other pids, runner ids, times, digests, OS pids, stacks, scratch paths.
    for (auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"\"time\":17", "\"time\":18"},
           {"\"digest\":\"", "\"digest\":\"0"},
           {"\"exec_pid\":", "\"exec_pid\":1"},
           {"\"created_at\":17", "\"created_at\":18"}})
      replace_all(text, from, to);
    l = json::parse(text).as_object();
  }
  std::string old_pid = str(*entries(varied, "enqueue")[0], "pid");
  std::string new_pid(32, 'e');
  std::string old_runner = str(*entries(varied, "claim")[0], "runner");
  for (auto& l : varied) {
    auto text = json::serialize(l);
    replace_all(text, old_pid, new_pid);
    replace_all(text, old_runner, "elsewhere-1-0badcafe");
    replace_all(text, "/tmp/", "/var/tmp/other/");
    l = json::parse(text).as_object();
  }
  // One more progress report in a run of them.
  auto progress = entries(varied, "progress");
  BOOST_REQUIRE(!progress.empty());
  auto extra = *progress[0];
  varied.insert(std::find(varied.begin(), varied.end(), *progress[0]), extra);
  BOOST_TEST(same_log(golden, varied));

  // What the engine decides is not normalised away.
  auto check_differs = [&](const std::string& what, auto alter) {
    auto changed = golden;
    alter(changed);
    BOOST_TEST(!same_log(golden, changed), what);
  };
  check_differs("a step's output", [](auto& log) {
    auto& e = *entries(log, "finish")[0];
    e["payload"].as_object()["extra"] = 1;
  });
  check_differs("a status after a transition", [](auto& log) {
    (*entries(log, "proceed")[0])["status_after"] = "running";
  });
  check_differs("a missing entry", [](auto& log) {
    auto victim = *entries(log, "step_completed")[0];
    log.erase(std::find(log.begin(), log.end(), victim));
  });
  check_differs("events in another order within a process", [](auto& log) {
    auto started = entries(log, "step_started");
    auto pid = str(*started[0], "pid");
    for (auto* e : entries(log, "step_completed"))
      if (str(*e, "pid") == pid) {
        std::swap(*started[0], *e);
        break;
      }
  });
  check_differs("a final record", [](auto& log) {
    for (auto& l : log)
      if (str(l, "type") == "record") {
        l["record"].as_object()["status"] = "error";
        break;
      }
  });
}

BOOST_AUTO_TEST_SUITE_END()
