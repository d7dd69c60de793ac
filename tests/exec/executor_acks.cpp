// Step acknowledgements: with "step_acks", procman-exec starts step k + 1
// only after {"ack": k} arrives on its stdin, and ends its group when stdin
// closes while it waits. Leases: with "lease", it kills its tree and itself
// when the lease passes unless {"lease": T} lines move it. Real executor,
// real pipes.

#include <filesystem>
#include <thread>

#include "procman/protocol/executor_lease.hpp"

#include "exec_helpers.hpp"
#include "fixtures/background.hpp"

using namespace procman::test;

namespace {

/// procman-exec with its stdin and stdout on pipes held by the test.
struct live_exec {
  pid_t pid = -1;
  int in = -1;
  int out = -1;
  std::string buf;

  explicit live_exec(std::vector<std::string> args = {}) {
    int to[2], from[2];
    BOOST_REQUIRE(pipe2(to, O_CLOEXEC) == 0 && pipe2(from, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    args.insert(args.begin(), exec_path());
    pid = spawn_in_group(args, {}, &fa);
    posix_spawn_file_actions_destroy(&fa);
    close(to[0]);
    close(from[1]);
    in = to[1];
    out = from[0];
  }

  ~live_exec() {
    if (in >= 0)
      close(in);
    close(out);
    if (pid > 0) {
      kill(-pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }

  void send(const std::string& text) {
    BOOST_REQUIRE(::write(in, text.data(), text.size())
                  == static_cast<ssize_t>(text.size()));
  }

  /// Writes `text` unless the executor has closed its stdin (it ended).
  bool offer(const std::string& text) {
    static const bool no_sigpipe = [] {
      signal(SIGPIPE, SIG_IGN); // a write to an ended executor: EPIPE
      return true;
    }();
    (void) no_sigpipe;
    return ::write(in, text.data(), text.size())
           == static_cast<ssize_t>(text.size());
  }

  void close_stdin() {
    close(in);
    in = -1;
  }

  /// The next report line, or an empty object after `timeout_s`.
  json::object next(double timeout_s = 30) {
    auto deadline
      = std::chrono::steady_clock::now()
        + std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
    for (;;) {
      if (auto nl = buf.find('\n'); nl != std::string::npos) {
        auto line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return json::parse(line).as_object();
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
      if (left <= 0)
        return {};
      pollfd p{out, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0)
        continue;
      char chunk[4096];
      auto n = ::read(out, chunk, sizeof(chunk));
      if (n <= 0)
        return {};
      buf.append(chunk, static_cast<size_t>(n));
    }
  }

  /// Exit status after up to `timeout_s`; -2 if still running.
  int wait_exit(double timeout_s = 30) {
    for (int i = 0; i < timeout_s * 100; ++i) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -2;
  }
};

std::string event_of(const json::object& line) {
  auto* e = line.if_contains("event");
  return e && e->is_string() ? std::string(e->get_string()) : std::string{};
}

/// Two steps; the second creates `marker`.
std::string two_steps(const std::string& marker, bool acks) {
  json::object input{
    {"steps",
     json::array{
       json::object{
         {"name", "one"}, {"class", "procman.set"}, {"args", {{"a", 1}}}},
       json::object{{"name", "two"},
                    {"class", "procman.exec"},
                    {"args", {{"command", json::array{"touch", marker}}}}}}}};
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
  auto ok = run_command(
    {exec_path(), "--check", "--step-lib", plugin_path("exec_test_plugin")});
  BOOST_TEST(ok.exit_code == 0, ok.err);
  BOOST_TEST(ok.out == "ok\n");
  auto bad = run_command({exec_path(), "--check", "--step-lib", "/nope.so"});
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

pid_t pid_in(const std::string& file) {
  pid_t pid = 0;
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
  BOOST_TEST(ex.wait_exit(60) == 128 + SIGKILL);
  auto ended = procman::lease_clock_ms();
  BOOST_TEST(ended >= until,
             "ended " << until - ended << " ms before its lease");
  BOOST_TEST(
    eventually([&] { return process_gone(cmd) && process_gone(escaped); }, 30));
  BOOST_TEST(ex.next(0.5).empty()); // no final line: it was not finished
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
  BOOST_TEST(ex.wait_exit() == 128 + SIGKILL);
  BOOST_TEST(ex.next(0.5).empty()); // not even step_started
  BOOST_TEST(!std::filesystem::exists(marker));
}

BOOST_AUTO_TEST_CASE(garbage_among_the_renewals_ends_the_executor) {
  temp_dir tmp;
  auto fg = tmp.str() + "/fg", bg = tmp.str() + "/bg";
  live_exec ex;
  ex.send(sleeper(fg, bg, procman::lease_clock_ms() + 60000));
  BOOST_TEST(event_of(ex.next()) == "step_started");
  auto cmd = pid_in(fg);
  BOOST_REQUIRE(cmd > 0);
  ex.send("{\"lease\": \"later\"}\n");
  auto code = ex.wait_exit();
  BOOST_TEST(code != -2);
  BOOST_TEST(code != 0);
  BOOST_TEST(eventually([&] { return process_gone(cmd); }, 30));
}

BOOST_AUTO_TEST_SUITE_END()
