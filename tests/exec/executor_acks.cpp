// Step acknowledgements: with "step_acks", procman-exec starts step k + 1
// only after {"ack": k} arrives on its stdin, and ends its group when stdin
// closes while it waits. Leases: with "lease", it kills its tree and itself
// when the lease passes unless {"lease": T} lines move it. Real executor,
// real pipes.

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "procman/protocol/executor_lease.hpp"

#include "exec_helpers.hpp"
#include "fixtures/background.hpp"

using namespace procman::test;

namespace {

/// procman-exec with its stdin and stdout on pipes held by the test; a
/// thread reads its report lines as they come.
struct live_exec {
  procman::platform::contained_child child;
  std::thread reader;
  std::mutex mtx;
  std::condition_variable cv;
  std::string buf;
  bool eof = false;

  explicit live_exec(std::vector<std::string> args = {})
    : child(start_exec(args, {}, false)) {
    reader = std::thread([this] {
      char chunk[4096];
      std::ptrdiff_t n;
      while ((n = child.out().read(chunk, sizeof(chunk))) > 0) {
        std::lock_guard<std::mutex> guard{mtx};
        buf.append(chunk, static_cast<size_t>(n));
        cv.notify_all();
      }
      std::lock_guard<std::mutex> guard{mtx};
      eof = true;
      cv.notify_all();
    });
  }

  ~live_exec() {
    child.in().close();
    child.kill_tree(); // ends the reader's read
    reader.join();
  }

  void send(const std::string& text) {
    BOOST_REQUIRE(child.in().write(text.data(), text.size()));
  }

  /// Writes `text` unless the executor has closed its stdin (it ended).
  bool offer(const std::string& text) {
    return child.in().write(text.data(), text.size());
  }

  void close_stdin() { child.in().close(); }

  /// The next report line, or an empty object after `timeout_s`.
  json::object next(double timeout_s = 30) {
    auto deadline
      = std::chrono::steady_clock::now()
        + std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
    std::unique_lock<std::mutex> lock{mtx};
    cv.wait_until(lock, deadline,
                  [&] { return eof || buf.find('\n') != std::string::npos; });
    auto nl = buf.find('\n');
    if (nl == std::string::npos)
      return {};
    auto line = buf.substr(0, nl);
    buf.erase(0, nl + 1);
    return json::parse(line).as_object();
  }

  /// Exit status after up to `timeout_s` (128 + the signal for one that
  /// a POSIX signal ended); -2 if still running.
  int wait_exit(double timeout_s = 30) {
    auto ended = child.wait_for(
      std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)));
    if (!ended)
      return -2;
    return ended->code >= 0 ? ended->code : 128 + ended->signal;
  }
};

std::string event_of(const json::object& line) {
  auto* e = line.if_contains("event");
  return e && e->is_string() ? std::string(e->get_string()) : std::string{};
}

/// Two steps; the second creates `marker`.
std::string two_steps(const std::string& marker, bool acks) {
  json::object input{
    {"steps", json::array{
                json::object{{"name", "one"},
                             {"class", "procman.set"},
                             {"args", {{"a", 1}}}},
                json::object{{"name", "two"},
                             {"class", "procman.exec"},
                             {"args", {{"command", touch_command(marker)}}}}}}};
  if (acks)
    input["step_acks"] = true;
  return json::serialize(input) + "\n";
}

} // namespace

BOOST_AUTO_TEST_SUITE(executor_acks)

BOOST_AUTO_TEST_CASE(the_next_step_starts_only_after_the_ack_of_the_last) {
  temp_dir tmp;
  auto marker = tmp.str() + "/two-ran";
  live_exec ex;
  ex.send(two_steps(marker, true));
  BOOST_TEST(event_of(ex.next()) == "step_started");
  auto done = ex.next();
  BOOST_TEST(event_of(done) == "step_completed");
  BOOST_TEST(done.at("step").as_int64() == 0);
  BOOST_TEST_MESSAGE("no ack yet: step two must not start");
  BOOST_TEST(ex.next(1.0).empty());
  BOOST_TEST(!std::filesystem::exists(marker));
  ex.send("{\"ack\": 0}\n");
  auto started = ex.next();
  BOOST_TEST(event_of(started) == "step_started");
  BOOST_TEST(started.at("name").as_string() == "two");
  BOOST_TEST(event_of(ex.next()) == "step_completed");
  BOOST_TEST(event_of(ex.next()) == "finished");
  BOOST_TEST(ex.wait_exit() == 0);
  BOOST_TEST(std::filesystem::exists(marker));
}

BOOST_AUTO_TEST_CASE(stdin_closing_while_waiting_for_an_ack_ends_the_executor) {
  temp_dir tmp;
  auto marker = tmp.str() + "/two-ran";
  live_exec ex;
  ex.send(two_steps(marker, true));
  BOOST_TEST(event_of(ex.next()) == "step_started");
  BOOST_TEST(event_of(ex.next()) == "step_completed");
  ex.close_stdin(); // the runner is gone
  auto code = ex.wait_exit();
  BOOST_TEST(code != -2);
  BOOST_TEST(code != 0);
  BOOST_TEST(!std::filesystem::exists(marker));
}

BOOST_AUTO_TEST_CASE(pretty_printed_input_on_a_closed_stdin_still_works) {
  auto r = run_exec(
    "{\n  \"steps\": [\n    {\"name\": \"a\", \"class\": \"procman.set\",\n"
    "     \"args\": {\"x\": \"}]\\\"{\"}}\n  ]\n}\n");
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.last().at("output").at("x").as_string() == "}]\"{");
}

BOOST_AUTO_TEST_CASE(check_loads_the_step_libraries_and_says_ok) {
  auto ok
    = run_exec("", {"--check", "--step-lib", plugin_path("exec_test_plugin")});
  BOOST_TEST(ok.exit_code == 0, ok.err);
  BOOST_TEST(ok.out == "ok\n");
  auto bad = run_exec("", {"--check", "--step-lib", "/nope.so"});
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(bad.out.find("step library \\\"/nope.so\\\": cannot load")
               != std::string::npos,
             bad.out);
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

/// One step whose command records its pid in `fg`, starts a sleep in a
/// session of its own (out of the executor's group) that records its pid in
/// `bg`, and sleeps.
std::string sleeper(const std::string& fg, const std::string& bg,
                    int64_t lease_until_ms) {
  auto script = "setsid sleep 60 & echo $! > " + bg + ".tmp; mv " + bg + ".tmp "
                + bg + "; echo $$ > " + fg + ".tmp; mv " + fg + ".tmp " + fg
                + "; exec sleep 60";
  json::object input{
    {"steps", json::array{json::object{
                {"name", "nap"},
                {"class", "procman.exec"},
                {"args", {{"command", json::array{"sh", "-c", script}}}}}}},
    {"lease", lease_until_ms}};
  return json::serialize(input) + "\n";
}

/// The pids in the tree helper's "output" line (tree_step): its own and
/// its grandchild's; 0s when `line` is not that.
std::pair<int, int> tree_pids(const json::object& line) {
  int cmd = 0, grandchild = 0;
  if (event_of(line) == "output")
    std::sscanf(line.at("data").as_string().c_str(), "tree %d grandchild %d",
                &cmd, &grandchild);
  return {cmd, grandchild};
}

int pid_in(const std::string& file) {
  int pid = 0;
  eventually(
    [&] {
      auto text = read_file(file);
      if (!text.empty())
        pid = std::stoi(text);
      return pid > 0;
    },
    30);
  return pid;
}

} // namespace

BOOST_AUTO_TEST_SUITE(executor_lease)

BOOST_AUTO_TEST_CASE(
  an_executor_whose_lease_is_not_renewed_kills_its_tree_and_itself) {
  temp_dir tmp;
  auto fg = tmp.str() + "/fg", bg = tmp.str() + "/bg";
  live_exec ex;
  auto until = procman::lease_clock_ms() + 1500;
  ex.send(sleeper(fg, bg, until));
  BOOST_TEST(event_of(ex.next()) == "step_started");
  auto cmd = pid_in(fg), escaped = pid_in(bg);
  BOOST_REQUIRE(cmd > 0);
  BOOST_REQUIRE(escaped > 0);
  // Nobody renews: it ends itself with its command and what left its group.
  BOOST_TEST(ex.wait_exit(60) == self_kill_exit);
  auto ended = procman::lease_clock_ms();
  BOOST_TEST(ended >= until,
             "ended " << until - ended << " ms before its lease");
  BOOST_TEST(
    eventually([&] { return process_gone(cmd) && process_gone(escaped); }, 30));
  BOOST_TEST(ex.next(0.5).empty()); // no final line: it was not finished
}

BOOST_AUTO_TEST_CASE(a_lease_that_runs_out_ends_a_grandchild_too) {
  live_exec ex;
  auto until = procman::lease_clock_ms() + 1500;
  json::object input{{"steps", json::array{tree_step()}},
                     {"output_events", true},
                     {"lease", until}};
  ex.send(json::serialize(input) + "\n");
  BOOST_TEST(event_of(ex.next()) == "step_started");
  auto [cmd, grandchild] = tree_pids(ex.next());
  BOOST_TEST_REQUIRE(cmd > 0);
  BOOST_TEST_REQUIRE(grandchild > 0);
  BOOST_TEST(ex.wait_exit(60) == self_kill_exit);
  BOOST_TEST(procman::lease_clock_ms() >= until);
  BOOST_TEST(eventually(
    [&] { return process_gone(cmd) && process_gone(grandchild); }, 30));
}

BOOST_AUTO_TEST_CASE(renewals_keep_an_executor_alive_past_its_first_lease) {
  temp_dir tmp;
  live_exec ex;
  json::object input{{"steps",
                      json::array{json::object{{"name", "nap"},
                                               {"class", "procman.sleep"},
                                               {"args", {{"seconds", 2}}}}}},
                     {"lease", procman::lease_clock_ms() + 800}};
  ex.send(json::serialize(input) + "\n");
  // Renew every 100 ms, 800 ms ahead, until the final line.
  std::string last;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (last != "finished" && last != "error"
         && std::chrono::steady_clock::now() < deadline) {
    ex.offer(procman::encode_lease(procman::lease_clock_ms() + 800));
    if (auto line = ex.next(0.1); !line.empty())
      last = event_of(line);
  }
  BOOST_TEST(last == "finished");
  BOOST_TEST(ex.wait_exit() == 0);
}

BOOST_AUTO_TEST_CASE(acknowledgements_and_renewals_share_stdin) {
  temp_dir tmp;
  auto marker = tmp.str() + "/two-ran";
  live_exec ex;
  auto input = json::parse(two_steps(marker, true)).as_object();
  input["lease"] = procman::lease_clock_ms() + 30000;
  ex.send(json::serialize(input) + "\n");
  BOOST_TEST(event_of(ex.next()) == "step_started");
  BOOST_TEST(event_of(ex.next()) == "step_completed");
  ex.send(procman::encode_lease(procman::lease_clock_ms() + 30000));
  BOOST_TEST_MESSAGE("a renewal is no acknowledgement: step two waits");
  BOOST_TEST(ex.next(1.0).empty());
  BOOST_TEST(!std::filesystem::exists(marker));
  ex.send("{\"ack\": 0}\n");
  BOOST_TEST(event_of(ex.next()) == "step_started");
  BOOST_TEST(event_of(ex.next()) == "step_completed");
  BOOST_TEST(event_of(ex.next()) == "finished");
  BOOST_TEST(ex.wait_exit() == 0);
  BOOST_TEST(std::filesystem::exists(marker));
}

BOOST_AUTO_TEST_CASE(a_lease_that_ended_before_the_work_arrived_runs_no_step) {
  temp_dir tmp;
  auto marker = tmp.str() + "/two-ran";
  live_exec ex;
  auto input = json::parse(two_steps(marker, false)).as_object();
  input["lease"] = procman::lease_clock_ms() - 1;
  ex.send(json::serialize(input) + "\n");
  BOOST_TEST(ex.wait_exit() == self_kill_exit);
  BOOST_TEST(ex.next(0.5).empty()); // not even step_started
  BOOST_TEST(!std::filesystem::exists(marker));
}

BOOST_AUTO_TEST_CASE(garbage_among_the_renewals_ends_the_executor) {
  live_exec ex;
  json::object input{{"steps", json::array{tree_step()}},
                     {"output_events", true},
                     {"lease", procman::lease_clock_ms() + 60000}};
  ex.send(json::serialize(input) + "\n");
  BOOST_TEST(event_of(ex.next()) == "step_started");
  auto [cmd, grandchild] = tree_pids(ex.next());
  BOOST_REQUIRE(cmd > 0);
  ex.send("{\"lease\": \"later\"}\n");
  auto code = ex.wait_exit();
  BOOST_TEST(code != -2);
  BOOST_TEST(code != 0);
  BOOST_TEST(eventually(
    [&] { return process_gone(cmd) && process_gone(grandchild); }, 30));
}

BOOST_AUTO_TEST_SUITE_END()
