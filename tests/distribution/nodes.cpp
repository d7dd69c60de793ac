// A store node and worker nodes as real OS processes on loopback:
// procman-runner --listen, procman-runner --join, and the procman CLI with
// --connect (docs/distribution.md).

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "procman/door/door.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/persistence/store.hpp"

#include "engine/cli_fixture.hpp"
#include "engine/engine_helpers.hpp"
#include "engine/remote_helpers.hpp"
#include "fixtures/ticks.hpp"

using namespace procman;
using namespace procman::test;

namespace {

const std::string noop
  = R"({"steps": {"s": {"class": "procman.set", "args": {}}}})";

/// A first step, then `seconds` in a shell that writes its OS pid to `file`.
std::string long_spec(int seconds, const std::string& file = "/dev/null") {
  return R"({"steps": {"first": {"class": "procman.set", "args": {"a": 1}},
    "long": {"class": "procman.exec", "args": {"command": ["sh", "-c",
    "echo $$ > )"
         + file + R"(; exec sleep )" + std::to_string(seconds) + R"("]}}}})";
}

struct nodes_fixture : cli_fixture {
  std::vector<std::string> tls; ///< options of every node, if any
  uint16_t port = 0;
  /// The store node's address, and its --lease: a worker's executors get
  /// half of it, renewed every fifth.
  std::string host = "127.0.0.1";
  int lease_s = 4;

  /// A store node on `host` that runs nothing itself.
  std::unique_ptr<background> store_node(const std::string& name = "store",
                                         uint16_t at = 0,
                                         std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--listen",   host + ":" + std::to_string(at),
                                  "--parallel", "0",
                                  "--lease",    std::to_string(lease_s)};
    args.insert(args.end(), tls.begin(), tls.end());
    args.insert(args.end(), extra.begin(), extra.end());
    auto run = background_runner(args, name);
    port = published_port(*run, host);
    return run;
  }

  /// A worker node joining the store node (its log: <tmp>/<name>.log);
  /// `prefix` runs it (nsenter into a network namespace).
  std::unique_ptr<background> worker(const std::string& name, int parallel = 2,
                                     std::vector<std::string> own_tls = {},
                                     bool with_tls = true,
                                     std::vector<std::string> prefix = {}) {
    std::vector<std::string> args{bin("procman-runner"), "--join",
                                  host + ":" + std::to_string(port),
                                  "--parallel", std::to_string(parallel)};
    auto& t = own_tls.empty() ? tls : own_tls;
    if (with_tls)
      args.insert(args.end(), t.begin(), t.end());
    args.insert(args.begin(), prefix.begin(), prefix.end());
    return std::make_unique<background>(args, tmp.str() + "/" + name + ".log");
  }

  static size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (auto i = text.find(what); i != std::string::npos;
         i = text.find(what, i + 1))
      ++n;
    return n;
  }

  /// Waits until `log` holds `what` `n` times; fails the test otherwise.
  void await_log(background& run, const std::string& what, size_t n = 1,
                 double timeout_s = 60) {
    BOOST_REQUIRE_MESSAGE(
      eventually([&] { return count(run.log(), what) >= n; }, timeout_s),
      "no \"" << what << "\" (" << n << " times) in: " << run.log());
  }

  /// The procman CLI against the store node.
  command_result remote(std::vector<std::string> args,
                        std::vector<std::string> own_tls = {},
                        bool with_tls = true) {
    std::vector<std::string> argv{bin("procman"), "--connect",
                                  "127.0.0.1:" + std::to_string(port)};
    auto& t = own_tls.empty() ? tls : own_tls;
    if (with_tls)
      for (size_t i = 0; i < t.size(); ++i)
        argv.push_back(t[i]);
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, {}, 90);
  }

  std::string error_kind_of(const std::string& pid) {
    auto st = status(pid);
    if (!st.at("error").is_object())
      return "";
    return std::string(st.at("error").at("kind").as_string());
  }

  std::string error_message_of(const std::string& pid) {
    return std::string(status(pid).at("error").at("message").as_string());
  }

  /// The node id of a worker (its log says "worker node <id> joining").
  std::string node_id(background& w) {
    await_log(w, "joined the store node");
    auto log = w.log();
    const std::string marker = "worker node ";
    auto at = log.find(marker) + marker.size();
    return log.substr(at, log.find(' ', at) - at);
  }

  void stop(background& run) {
    run.signal(SIGTERM);
    BOOST_TEST(run.wait(90),
               "still running 90 s after SIGTERM; " << run.report());
    BOOST_TEST(run.exit_code() == 0);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_and_worker_nodes, nodes_fixture)

BOOST_AUTO_TEST_CASE(
  two_workers_run_a_thousand_processes_with_none_lost_and_none_run_twice) {
  auto st = store_node();
  auto w1 = worker("w1", 4);
  auto w2 = worker("w2", 4);
  await_log(*st, "joined; lease", 2);
  auto c = door::open(store);
  BOOST_REQUIRE(c);
  auto spec = test_spec(noop);
  std::vector<std::string> pids;
  for (int i = 0; i < 1000; ++i) {
    auto pid = c->start(spec);
    BOOST_REQUIRE(pid);
    pids.push_back(*pid);
  }
  auto finished = [&] {
    list_query q;
    q.any_status = false;
    q.status = process_status::finished;
    q.limit = 0;
    auto recs = c->call(list_request{q});
    return recs && recs->size() == pids.size();
  };
  BOOST_REQUIRE_MESSAGE(eventually(finished, 240),
                        "not all finished; store node: " << st->log());
  // Each process was claimed once, and its step completed once, by one of
  // the two worker nodes; the message log says so like a local runner's.
  auto log = c->local_store()->log(0);
  BOOST_REQUIRE(log);
  std::map<std::string, int> claims, completions;
  std::set<std::string> nodes;
  for (auto& e : *log) {
    if (e.what.kind == transition_kind::claim) {
      ++claims[e.what.pid];
      nodes.insert(e.what.runner.substr(0, e.what.runner.find('@')));
    } else if (e.what.kind == transition_kind::step_completed) {
      ++completions[e.what.pid];
    }
  }
  int lost = 0, duplicated = 0;
  for (auto& pid : pids) {
    lost += claims[pid] == 0 || completions[pid] == 0;
    duplicated += claims[pid] > 1 || completions[pid] > 1;
  }
  BOOST_TEST(lost == 0);
  BOOST_TEST(duplicated == 0);
  BOOST_TEST(nodes.size() == 2u);
  BOOST_TEST(nodes.count(node_id(*w1)) == 1u);
  BOOST_TEST(nodes.count(node_id(*w2)) == 1u);
  stop(*w1);
  stop(*w2);
  stop(*st);
}

BOOST_AUTO_TEST_CASE(
  a_worker_killed_mid_run_ends_its_processes_as_node_lost_and_the_rest_finish) {
  auto st = store_node();
  auto w1 = worker("w1", 2);
  await_log(*st, "joined; lease", 1);
  auto victim = node_id(*w1);
  // w1 takes the first two while w2 is away.
  std::vector<std::string> doomed{start(long_spec(300)), start(long_spec(300))};
  for (auto& pid : doomed)
    BOOST_REQUIRE(await_status(pid, "running", 60));
  auto w2 = worker("w2", 2);
  await_log(*st, "joined; lease", 2);
  std::vector<std::string> rest{start(long_spec(2)), start(long_spec(2))};
  for (auto& pid : rest)
    BOOST_REQUIRE(await_status(pid, "running", 60));
  w1->signal(SIGKILL);
  for (auto& pid : doomed) {
    BOOST_REQUIRE(await_status(pid, "error", 60));
    BOOST_TEST(error_kind_of(pid) == "node_lost");
    BOOST_TEST(std::string(status(pid).at("error").at("step").as_string())
               == "long");
    auto msg = error_message_of(pid);
    BOOST_TEST(msg.find("node " + victim + " lost") != std::string::npos, msg);
    BOOST_TEST(msg.find("at step long") != std::string::npos, msg);
  }
  for (auto& pid : rest)
    BOOST_TEST(await_status(pid, "finished", 60));
  // The survivor goes on with new work.
  auto later = start(noop);
  BOOST_TEST(await_status(later, "finished", 60));
  stop(*w2);
  stop(*st);
  // The message log holds the workers' transitions as a local runner's,
  // node_lost included: a replay reproduces every one.
  auto exported = procman({"log", "export"});
  BOOST_REQUIRE(exported.exit_code == 0);
  auto file = tmp.str() + "/log.jsonl";
  std::ofstream(file) << exported.out;
  auto replayed = run_command({bin("procman"), "replay", file}, {}, 120);
  BOOST_TEST(replayed.exit_code == 0, replayed.out << replayed.err);
}

BOOST_AUTO_TEST_CASE(
  a_store_node_killed_and_restarted_gets_its_workers_back_and_work_goes_on) {
  auto st = store_node();
  auto w = worker("w", 2);
  await_log(*st, "joined; lease", 1);
  auto child_file = tmp.str() + "/child.pid";
  auto pid = start(long_spec(300, child_file));
  BOOST_REQUIRE(await_status(pid, "running", 60));
  BOOST_REQUIRE(
    eventually([&] { return std::ifstream(child_file).peek() != EOF; }, 60));
  pid_t child = 0;
  std::ifstream(child_file) >> child;
  BOOST_REQUIRE(child > 0);
  st->signal(SIGKILL);
  BOOST_REQUIRE(st->wait(60));
  // Nothing runs unobserved: the worker ends its children.
  BOOST_TEST(eventually([&] { return !os_process_alive(child); }, 60));
  await_log(*w, "lost the store node");
  auto again = store_node("store2", port);
  await_log(*w, "joined the store node", 2, 90);
  // What the worker held when the store node died ends as node_lost once
  // its lease ran out; new work runs on the worker.
  BOOST_TEST(await_status(pid, "error", 60));
  BOOST_TEST(error_kind_of(pid) == "node_lost");
  auto later = start(noop);
  BOOST_TEST(await_status(later, "finished", 60));
  BOOST_TEST(w->running());
  stop(*w);
  stop(*again);
}

BOOST_AUTO_TEST_CASE(
  a_worker_whose_lease_expired_cannot_commit_its_late_result) {
  auto st = store_node();
  auto w = worker("w", 1);
  await_log(*st, "joined; lease", 1);
  auto pid = start(long_spec(6));
  BOOST_REQUIRE(await_status(pid, "running", 60));
  // Frozen, the worker renews nothing; its executor's lease ends its step.
  w->signal(SIGSTOP);
  BOOST_REQUIRE(await_status(pid, "error", 60));
  BOOST_TEST(error_kind_of(pid) == "node_lost");
  auto c = door::open(store);
  BOOST_REQUIRE(c);
  auto before = c->local_store()->log(0, SIZE_MAX, pid);
  BOOST_REQUIRE(before);
  // The store node has given the frozen worker up: its lease is gone.
  await_log(*st, " lost (");
  w->signal(SIGCONT);
  // The worker finds its lease gone, joins again and runs new work...
  await_log(*w, "joined the store node", 2, 90);
  auto later = start(noop);
  BOOST_TEST(await_status(later, "finished", 60));
  // ...and nothing it reported for the old lease was committed.
  BOOST_TEST(status_of(pid) == "error");
  auto after = c->local_store()->log(0, SIZE_MAX, pid);
  BOOST_REQUIRE(after);
  BOOST_TEST(after->size() == before->size());
  stop(*w);
  stop(*st);
}

BOOST_AUTO_TEST_CASE(
  the_cli_with_connect_gives_the_same_output_and_exit_codes_as_local) {
  auto st = store_node();
  auto w = worker("w", 2);
  await_log(*st, "joined; lease", 1);
  auto paused = R"({"steps": {"a": {"class": "procman.set", "args": {"x": 1}},
    "b": {"class": "procman.pause"}, "c": {"class": "procman.set", "args": {"z": 3}}}})";
  auto res = remote({"start", paused});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  auto pid = res.out.substr(0, res.out.find('\n'));
  BOOST_REQUIRE_EQUAL(pid.size(), 32u);
  res = remote({"wait", pid, "--timeout", "60"});
  BOOST_TEST(res.exit_code == 3);
  auto local = procman({"status", pid});
  BOOST_TEST(remote({"status", pid}).out == local.out);
  res = remote({"proceed", pid, "--data", R"({"y": 2})"});
  BOOST_TEST(res.exit_code == 0, res.err);
  BOOST_TEST(res.out == pid + "\n");
  res = remote({"wait", pid, "--timeout", "60"});
  BOOST_TEST(res.exit_code == 0);
  BOOST_TEST(res.out == procman({"status", pid}).out);
  auto out = boost::json::parse(res.out).at("output");
  BOOST_TEST(out.at("y").as_int64() == 2);
  BOOST_TEST(out.at("z").as_int64() == 3);
  // Live output written on the worker reaches the store node; logs
  // --follow shows it through --connect as it shows it locally.
  auto talker = start(R"({"steps": {"say": {"class": "procman.exec", "args":
    {"command": ["sh", "-c", "echo one; echo two >&2; sleep 1; echo three"]}}}})");
  res = remote({"logs", talker, "--follow"});
  BOOST_TEST(res.exit_code == 0, res.err);
  BOOST_TEST(res.out.find("three") != std::string::npos, res.out);
  BOOST_TEST(res.out == procman({"logs", talker}).out);
  BOOST_TEST(remote({"logs", talker, "--stream", "stderr"}).out == "two\n");
  // A running process on the worker is cancelled and its child killed.
  auto child_file = tmp.str() + "/child.pid";
  auto running = start(long_spec(300, child_file));
  BOOST_REQUIRE(await_status(running, "running", 60));
  BOOST_REQUIRE(
    eventually([&] { return std::ifstream(child_file).peek() != EOF; }, 60));
  pid_t child = 0;
  std::ifstream(child_file) >> child;
  res = remote({"cancel", running});
  BOOST_TEST(res.exit_code == 0, res.err);
  BOOST_TEST(status_of(running) == "cancelled");
  BOOST_TEST(eventually([&] { return !os_process_alive(child); }, 60));
  res = remote({"wait", running, "--timeout", "60"});
  BOOST_TEST(res.exit_code == 1);
  // Errors: the same words and codes.
  auto unknown = std::string(32, 'a');
  for (auto cmd : {"status", "cancel", "wait"}) {
    auto r = remote({cmd, unknown});
    auto l = procman({cmd, unknown});
    BOOST_TEST(r.exit_code == l.exit_code, cmd);
    BOOST_TEST(r.err == l.err, cmd);
  }
  auto r = remote({"proceed", pid});
  auto l = procman({"proceed", pid});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.exit_code == l.exit_code);
  BOOST_TEST(r.err == l.err);
  r = remote({"list", "--limit", "5"});
  l = procman({"list", "--limit", "5"});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out == l.out);
  // $PROCMAN_CONNECT does what --connect does.
  auto env = run_command({bin("procman"), "status", pid}, {}, 60,
                         {"PROCMAN_CONNECT=127.0.0.1:" + std::to_string(port)});
  BOOST_TEST(env.out == procman({"status", pid}).out);
  // Nothing listening: exit 1 naming the node.
  auto none = run_command(
    {bin("procman"), "--connect", "127.0.0.1:1", "status", pid}, {}, 60);
  BOOST_TEST(none.exit_code == 1);
  BOOST_TEST(none.err.find("127.0.0.1:1") != std::string::npos, none.err);
  stop(*w);
  stop(*st);
}

BOOST_AUTO_TEST_CASE(
  retry_keys_and_schedules_over_connect_match_local_and_run_on_workers) {
  auto st = store_node();
  auto w = worker("w", 2);
  await_log(*st, "joined; lease", 1);
  // A failed process retried by hand runs again on the worker.
  auto failing
    = R"({"steps": {"a": {"class": "procman.fail", "args": {"message": "no"}}}})";
  auto res = remote({"start", failing});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  auto pid = res.out.substr(0, res.out.find('\n'));
  BOOST_TEST(remote({"wait", pid, "--timeout", "60"}).exit_code == 1);
  res = remote({"retry", pid});
  BOOST_TEST(res.exit_code == 0, res.err);
  auto failed_again = [&] {
    auto log = procman({"log", "export", "--pid", pid}).out;
    return status_of(pid) == "error" && count(log, "\"event\":\"claim\"") == 2;
  };
  BOOST_TEST(eventually(failed_again, 60),
             procman({"status", pid}).out << w->log() << st->log());
  auto unknown = std::string(32, 'b');
  auto r = remote({"retry", unknown});
  auto l = procman({"retry", unknown});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.exit_code == l.exit_code);
  BOOST_TEST(r.err == l.err);
  // A unique key: the second start names the holder, as locally.
  auto sleepy
    = R"({"steps": {"a": {"class": "procman.sleep", "args": {"seconds": 30}}}})";
  auto first = remote({"start", sleepy, "--key", "k"});
  BOOST_REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  auto again = remote({"start", sleepy, "--key", "k"});
  auto local = procman({"start", sleepy, "--key", "k"});
  BOOST_TEST(again.exit_code == 0);
  BOOST_TEST(again.out == first.out);
  BOOST_TEST(again.out == local.out);
  BOOST_TEST(again.err == local.err);
  BOOST_TEST(again.err.find("holds the key \"k\" already") != std::string::npos,
             again.err);
  BOOST_TEST(remote({"cancel", first.out.substr(0, 32)}).exit_code == 0);
  // Schedules: added, listed and removed remotely; their runs happen on
  // the worker (the store node runs nothing itself).
  res = remote({"schedule", "add", "tick", "* * * * * *", noop});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(boost::json::parse(res.out).at("name").as_string() == "tick");
  // The same list both ways, but for what a run between the two reads
  // moves (the schedule is due every second).
  auto listed = [](const std::string& out) {
    auto o = boost::json::parse(out).as_object();
    for (auto k : {"next_due", "last_fired", "last_pid"})
      o.erase(k);
    return boost::json::serialize(o);
  };
  BOOST_TEST(listed(remote({"schedule", "list"}).out)
             == listed(procman({"schedule", "list"}).out));
  auto ran = [&] {
    auto sched
      = boost::json::parse(procman({"schedule", "list"}).out).as_object();
    if (!sched.at("last_pid").is_string())
      return false;
    return status_of(std::string(sched.at("last_pid").as_string()))
           == "finished";
  };
  BOOST_TEST(eventually(ran, 60), procman({"schedule", "list"}).out);
  res = remote({"schedule", "remove", "tick"});
  BOOST_TEST(res.exit_code == 0, res.err);
  r = remote({"schedule", "remove", "tick"});
  l = procman({"schedule", "remove", "tick"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.exit_code == l.exit_code);
  BOOST_TEST(r.err == l.err);
  BOOST_TEST(remote({"schedule", "list"}).out.empty());
  stop(*w);
  stop(*st);
}

BOOST_AUTO_TEST_CASE(
  with_mutual_tls_a_worker_and_a_client_from_another_ca_or_without_tls_are_refused) {
  test_pki pki{tmp.str() + "/pki"};
  tls = pki.args("runner", "ca-a");
  auto st = store_node();
  BOOST_TEST(st->log().find("with mutual TLS") != std::string::npos);
  auto stranger = worker("stranger", 2, pki.args("stranger", "ca-a"));
  auto plain = worker("plain", 2, {}, false);
  await_log(*stranger, "cannot join the store node");
  await_log(*plain, "cannot join the store node");
  BOOST_TEST(stranger->log().find("closed during the handshake")
               != std::string::npos,
             stranger->log());
  auto res = remote({"list"}, pki.args("stranger", "ca-a"));
  BOOST_TEST(res.exit_code == 1);
  BOOST_TEST(res.err.find("closed during the handshake") != std::string::npos,
             res.err);
  res = remote({"list"}, {}, false);
  BOOST_TEST(res.exit_code == 1);
  BOOST_TEST(res.err.find("cannot connect") != std::string::npos, res.err);
  // A worker and a client with certificates from the store node's CA get
  // work done; the refused worker ran nothing.
  auto good = worker("good", 2, pki.args("host", "ca-a"));
  await_log(*good, "joined the store node");
  res = remote({"start", noop}, pki.args("host", "ca-a"));
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  auto pid = res.out.substr(0, res.out.find('\n'));
  res = remote({"wait", pid, "--timeout", "60"}, pki.args("host", "ca-a"));
  BOOST_TEST(res.exit_code == 0, res.out << res.err);
  BOOST_TEST(stranger->log().find("joined the store node")
             == std::string::npos);
  BOOST_TEST(plain->log().find("joined the store node") == std::string::npos);
  stop(*stranger);
  stop(*plain);
  stop(*good);
  stop(*st);
}

BOOST_AUTO_TEST_CASE(
  without_tls_another_user_can_neither_list_start_proceed_nor_cancel) {
  auto st = store_node();
  auto w = worker("w", 1);
  await_log(*st, "joined; lease", 1);
  auto paused = start(R"({"steps": {"a": {"class": "procman.pause"},
    "b": {"class": "procman.set", "args": {"z": 3}}}})");
  BOOST_REQUIRE(await_status(paused, "interrupted", 60));
  auto waiting = start(noop, {"--delay", "1h"});
  auto before = procman({"list"}).out;
  auto where = "127.0.0.1:" + std::to_string(port);
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {bin("procman"), "--connect", where});
    return run_command(as_nobody(args), {}, 90);
  };
  // Each command as user nobody: the connection closes before anything
  // is read or answered.
  for (auto& args : std::vector<std::vector<std::string>>{
         {"list"},
         {"status", paused},
         {"start", noop},
         {"proceed", paused, "--data", R"({"by": "nobody"})"},
         {"cancel", waiting}}) {
    auto res = cli(args);
    BOOST_TEST(res.exit_code == 1, args[0] << ": " << res.out << res.err);
    BOOST_TEST(res.out.empty(), args[0] << ": " << res.out);
    BOOST_TEST(res.err.find("admits only users who may read its store "
                            "directory")
                 != std::string::npos,
               args[0] << ": " << res.err);
  }
  // Nothing changed.
  BOOST_TEST(procman({"list"}).out == before);
  BOOST_TEST(status_of(paused) == "interrupted");
  BOOST_TEST(status_of(waiting) == "queued");
  BOOST_TEST(st->log().find("refused a connection to the store node on "
                            "127.0.0.1:"
                            + std::to_string(port)
                            + ": it comes from nobody (uid 65534), who may not "
                              "read "
                            + store)
               != std::string::npos,
             st->log());
  // A plain connection of nobody's gets not a byte: no handshake, no
  // interface; this user's gets CAF's handshake.
  auto theirs = probe_port_as("nobody", port);
  BOOST_TEST(theirs.bytes == 0);
  BOOST_TEST(theirs.closed);
  auto ours = probe_port_as("root", port);
  BOOST_TEST(ours.bytes > 0);
  // Nor can nobody join as a worker node.
  background intruder(
    as_nobody({bin("procman-runner"), "--join", where, "--parallel", "1"}),
    tmp.str() + "/intruder.log");
  await_log(intruder, "cannot join the store node");
  BOOST_TEST(intruder.log().find("admits only users who may read")
               != std::string::npos,
             intruder.log());
  intruder.signal(SIGKILL);
  // This user, with --connect, does everything.
  auto res = remote({"proceed", paused});
  BOOST_TEST(res.exit_code == 0, res.err);
  res = remote({"cancel", waiting});
  BOOST_TEST(res.exit_code == 0, res.err);
  BOOST_TEST(remote({"wait", paused, "--timeout", "60"}).exit_code == 0);
  BOOST_TEST(count(st->log(), "joined; lease") == 1u);
  stop(*w);
  stop(*st);
}

BOOST_AUTO_TEST_CASE(bad_node_options_are_refused_with_a_clear_error) {
  auto r = runner({"--listen", "nowhere"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("--listen must be HOST:PORT") != std::string::npos,
             r.err);
  r = run_command({bin("procman-runner"), "--join", "10.9.9.9:4000"}, {}, 60);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("refusing --join 10.9.9.9 without TLS")
               != std::string::npos,
             r.err);
  r = runner({"--listen", "0.0.0.0:0"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("without TLS") != std::string::npos, r.err);
  r = run_command({bin("procman-runner"), "--join", "127.0.0.1:4000", "--store",
                   store},
                  {}, 60);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("--store does not go with --join") != std::string::npos,
             r.err);
  r = runner({"--lease", "5"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("--lease needs --listen") != std::string::npos, r.err);
  // A worker's executors must be gone before the store node may run their
  // processes again.
  r = runner({"--listen", "127.0.0.1:0", "--lease", "10", "--exec-lease", "9"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("refusing --exec-lease 9 s does not fit --lease 10 s")
               != std::string::npos,
             r.err);
  r = runner({"--listen", "127.0.0.1:0", "--lease", "2"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("refusing --lease 2 s is too short")
               != std::string::npos,
             r.err);
  r = run_command({bin("procman-runner"), "--join", "127.0.0.1:4000",
                   "--exec-lease", "3"},
                  {}, 60);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("--exec-lease does not go with --join")
               != std::string::npos,
             r.err);
  r = runner({"--exec-lease", "0"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("--exec-lease") != std::string::npos, r.err);
  // A worker's executor must hold a lease; a stand-in that cannot is
  // refused before it joins.
  auto stand_in = tmp.str() + "/stand-in.sh";
  std::ofstream(stand_in)
    << "#!/bin/sh\n[ \"$1\" = --check ] && { echo ok; exit 0; }\n"
       "cat >/dev/null\n";
  std::filesystem::permissions(stand_in, std::filesystem::perms::owner_all);
  r = run_command({bin("procman-runner"), "--join", "127.0.0.1:4000", "--exec",
                   stand_in},
                  {}, 60);
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(r.err.find("cannot hold a lease") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_SUITE_END()

// -- hung and partitioned workers ---------------------------------------------
//
// One copy at a time: a worker that is stopped or cut off from its store
// node ends its step (its executor's lease) before the store node declares
// the node lost and runs the process again elsewhere. The probe: a step that
// ticks into a file; no tick of the first copy may come after the second
// copy's first.

namespace {

/// A network namespace joined to this one by a veth pair, whose link can be
/// cut and healed; names unique per test run, deleted at the end (and those
/// of earlier runs whose process is gone, at the start).
struct netns_link {
  std::string ns, host_if, ns_if, host_ip, ns_ip;

  static void ip(std::vector<std::string> args, bool must = true) {
    args.insert(args.begin(), "ip");
    auto r = run_command(args, {}, 60);
    if (must)
      BOOST_REQUIRE_MESSAGE(r.exit_code == 0, "ip " << args[1] << " " << args[2]
                                                    << " failed: " << r.err);
  }

  netns_link() {
    sweep();
    static int n = 0;
    auto pid = static_cast<unsigned>(getpid());
    auto tag = std::to_string(pid) + "-" + std::to_string(n++);
    ns = "procman-test-" + tag;
    host_if = "pmh" + tag;
    ns_if = "pmw" + tag;
    // A /30 of 10.0.0.0/8 that only this process uses.
    auto net = "10." + std::to_string(100 + (pid >> 14) % 150) + "."
               + std::to_string((pid >> 6) & 255) + "."
               + std::to_string(((pid & 63) << 2));
    auto base = net.substr(0, net.rfind('.') + 1);
    auto last = std::stoi(net.substr(net.rfind('.') + 1));
    host_ip = base + std::to_string(last + 1);
    ns_ip = base + std::to_string(last + 2);
    ip({"netns", "add", ns});
    ip({"link", "add", host_if, "type", "veth", "peer", "name", ns_if});
    ip({"link", "set", ns_if, "netns", ns});
    ip({"addr", "add", host_ip + "/30", "dev", host_if});
    ip({"-n", ns, "addr", "add", ns_ip + "/30", "dev", ns_if});
    ip({"-n", ns, "link", "set", "lo", "up"});
    heal();
  }

  ~netns_link() {
    ip({"netns", "delete", ns}, false); // takes the veth pair along
  }

  /// Runs a program inside the namespace (its network only).
  std::vector<std::string> prefix() const {
    return {"nsenter", "--net=/run/netns/" + ns};
  }

  /// Both ends down: nothing passes either way; connections stay open.
  void cut() {
    ip({"link", "set", host_if, "down"});
    ip({"-n", ns, "link", "set", ns_if, "down"});
  }

  void heal() {
    ip({"link", "set", host_if, "up"});
    ip({"-n", ns, "link", "set", ns_if, "up"});
  }

  /// Namespaces of earlier runs whose test process is gone.
  static void sweep() {
    auto list = run_command({"ip", "netns", "list"}, {}, 60);
    std::istringstream lines(list.out);
    std::string line;
    const std::string prefix = "procman-test-";
    while (std::getline(lines, line)) {
      auto name = line.substr(0, line.find(' '));
      if (name.rfind(prefix, 0) != 0)
        continue;
      auto pid = std::atoi(name.c_str() + prefix.size());
      if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH)
        ip({"netns", "delete", name}, false);
    }
  }
};

/// A spec that ticks into `file` for `seconds` and is retried at once when
/// its node is lost.
std::string ticking(const std::string& file, int seconds) {
  return R"({"steps": {"tick": )" + tick_step(file, seconds)
         + R"(}, "retry": {"max": 1, "initial": 0, "on": ["node_lost"]}})";
}

struct hung_fixture : nodes_fixture {
  std::string ticks = tmp.str() + "/ticks";

  hung_fixture() {
    lease_s = 6; // the workers' executors get 3 s
  }

  /// Waits for the second copy, then for the first to be gone; checks that
  /// they did not overlap and reports the timeline from `cut_ns`.
  void expect_one_copy_at_a_time(const std::string& pid, int64_t cut_ns,
                                 const std::string& what) {
    BOOST_REQUIRE_MESSAGE(
      eventually([&] { return tick_copies(ticks).size() >= 2; }, 120),
      "no second copy; status: " << procman({"status", pid}).out);
    auto first = tick_copies(ticks).front();
    BOOST_REQUIRE(eventually([&] { return !os_process_alive(first.pid); }, 60));
    auto copies = tick_copies(ticks);
    BOOST_REQUIRE_EQUAL(copies.size(), 2u);
    auto gap_ms = (copies[1].first_ns - copies[0].last_ns) / 1000000;
    BOOST_TEST(copies[1].first_ns > copies[0].last_ns,
               what << ": the first copy ticked " << -gap_ms
                    << " ms after the second had started");
    // When the store node declared the node lost (the failed attempt's
    // commit, unix ms).
    auto c = door::open(store);
    BOOST_REQUIRE(c);
    auto log = c->local_store()->log(0, SIZE_MAX, pid);
    BOOST_REQUIRE(log);
    int64_t lost_ms = 0;
    for (auto& e : *log)
      if (e.what.kind == transition_kind::fail
          && e.what.error.kind == error_kind::node_lost)
        lost_ms = static_cast<int64_t>(e.time);
    BOOST_TEST(lost_ms > 0);
    auto ms = [&](int64_t ns) { return (ns - cut_ns) / 1000000; };
    BOOST_TEST_MESSAGE(
      what << " (lease " << lease_s << " s, executors' lease "
           << lease_s * 1000 / 2 << " ms), from the cut: "
           << "first copy's last tick " << ms(copies[0].last_ns)
           << " ms, node declared lost " << lost_ms - cut_ns / 1000000
           << " ms, second copy's first tick " << ms(copies[1].first_ns)
           << " ms; gap " << gap_ms << " ms");
    // The first copy ended within its lease (renewed before the cut) and
    // the time to kill it.
    BOOST_TEST(ms(copies[0].last_ns)
               < lease_s * 1000 / 2 + defaults::exec_kill_ms);
  }

  /// The process finished in its second attempt, the first ending as
  /// node_lost, and nothing of the lost lease was committed after that.
  void expect_finished_after_one_node_lost(const std::string& pid) {
    BOOST_REQUIRE(await_status(pid, "finished", 120));
    auto info = status(pid);
    BOOST_TEST(info.at("attempts") == 1);
    BOOST_TEST(info.at("attempt_errors").as_array().at(0).at("kind").as_string()
               == "node_lost");
    auto c = door::open(store);
    BOOST_REQUIRE(c);
    auto log = c->local_store()->log(0, SIZE_MAX, pid);
    BOOST_REQUIRE(log);
    std::string lost_holder;
    for (auto& e : *log) {
      if (e.what.kind == transition_kind::fail
          && e.what.error.kind == error_kind::node_lost)
        lost_holder = e.what.runner;
      else if (!lost_holder.empty())
        BOOST_TEST(e.what.runner != lost_holder,
                   to_string(e.what.kind) << " of the lost lease committed");
    }
    BOOST_TEST(!lost_holder.empty());
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(hung_worker_nodes, hung_fixture)

BOOST_AUTO_TEST_CASE(
  a_stopped_worker_ends_its_step_before_the_store_node_runs_it_again) {
  auto st = store_node();
  auto w1 = worker("w1", 1);
  await_log(*st, "joined; lease", 1);
  auto pid = start(ticking(ticks, 10));
  BOOST_REQUIRE(await_status(pid, "running", 60));
  BOOST_REQUIRE(eventually([&] { return !tick_copies(ticks).empty(); }, 60));
  auto w2 = worker("w2", 1);
  await_log(*st, "joined; lease", 2);
  BOOST_TEST_MESSAGE("SIGSTOP worker w1 " << w1->pid());
  w1->signal(SIGSTOP);
  auto stopped_ns = tick_clock_ns();
  expect_one_copy_at_a_time(pid, stopped_ns, "SIGSTOP of the worker");
  // Continued, it finds its lease gone and joins again; what it reports
  // for the old lease is refused.
  w1->signal(SIGCONT);
  await_log(*w1, "joined the store node", 2, 90);
  expect_finished_after_one_node_lost(pid);
  stop(*w1);
  stop(*w2);
  stop(*st);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(partitioned_worker_nodes, hung_fixture)

BOOST_AUTO_TEST_CASE(
  a_cut_off_worker_ends_its_step_before_the_store_node_runs_it_again_and_rejoins) {
  netns_link net;
  test_pki pki{tmp.str() + "/pki"};
  tls = pki.args("runner", "ca-a"); // every address but loopback needs TLS
  host = net.host_ip;
  auto st = store_node();
  // w1 reaches the store node through the veth pair only; w2 directly.
  auto w1 = worker("w1", 1, {}, true, net.prefix());
  await_log(*st, "joined; lease", 1);
  auto victim = node_id(*w1);
  auto pid = start(ticking(ticks, 10));
  BOOST_REQUIRE(await_status(pid, "running", 60));
  BOOST_REQUIRE(eventually([&] { return !tick_copies(ticks).empty(); }, 60));
  auto w2 = worker("w2", 1);
  await_log(*st, "joined; lease", 2);
  BOOST_TEST_MESSAGE("cutting the link of w1 (" << net.ns << ") both ways");
  net.cut();
  auto cut_ns = tick_clock_ns();
  // Work queued during the cut runs on w2.
  auto meanwhile = start(noop);
  expect_one_copy_at_a_time(pid, cut_ns, "network partition of the worker");
  BOOST_TEST(await_status(meanwhile, "finished", 60));
  await_log(*w1, "lost the store node");
  // Healed after twice the lease (the scenario's length, not a wait for
  // something to happen), once the store node has given w1 up: w1 joins
  // again.
  await_log(*st, "node " + victim + " lost (");
  auto healed_ns = cut_ns + int64_t{2} * lease_s * 1000000000;
  std::this_thread::sleep_for(std::chrono::nanoseconds(
    std::max<int64_t>(0, healed_ns - tick_clock_ns())));
  net.heal();
  await_log(*w1, "joined the store node", 2, 120);
  expect_finished_after_one_node_lost(pid);
  BOOST_TEST(status_of(meanwhile) == "finished");
  // With w2 gone, new work runs on the rejoined w1.
  stop(*w2);
  auto later = start(noop);
  BOOST_TEST(await_status(later, "finished", 60));
  auto c = door::open(store);
  BOOST_REQUIRE(c);
  auto log = c->local_store()->log(0, SIZE_MAX, later);
  BOOST_REQUIRE(log);
  bool on_w1 = false;
  for (auto& e : *log)
    on_w1 = on_w1
            || (e.what.kind == transition_kind::claim
                && e.what.runner.rfind(victim + "@", 0) == 0);
  BOOST_TEST(on_w1);
  stop(*w1);
  stop(*st);
}

BOOST_AUTO_TEST_SUITE_END()
