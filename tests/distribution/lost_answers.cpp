// Remote calls that change state act once, answered or not: a client asks
// again when an answer is lost, under the same key, and the store node
// answers the repeat as it answered the first (docs/distribution.md, "Lost
// answers").

#include <csignal>
#include <set>
#include <thread>

#include "procman/door/door.hpp"
#include "procman/persistence/store.hpp"

#include "engine/cli_fixture.hpp"
#include "engine/engine_helpers.hpp"
#include "engine/remote_helpers.hpp"

using namespace procman;
using namespace procman::test;

namespace {

/// A store node (procman-runner --listen) and the CLI against it.
struct store_node_fixture : cli_fixture {
  std::unique_ptr<background> node;
  uint16_t port = 0;

  void start_node(std::vector<std::string> extra = {},
                  std::vector<std::string> env = {}) {
    std::vector<std::string> args{bin("procman-runner"), "--store", store,
                                  "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    node = std::make_unique<background>(args, tmp.str() + "/node.log", env);
    port = published_port(*node);
  }

  command_result remote(std::vector<std::string> args,
                        std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{bin("procman"), "--connect",
                                  "127.0.0.1:" + std::to_string(port)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, {}, 90);
  }

  /// The transitions of kind `kind` in the message log (of `pid`, or all).
  size_t logged(transition_kind kind, const std::string& pid = {}) {
    auto c = door::open(store);
    BOOST_REQUIRE(c);
    auto log = c->local_store()->log(0, SIZE_MAX, pid);
    BOOST_REQUIRE(log);
    size_t n = 0;
    for (auto& e : *log)
      n += e.what.kind == kind;
    return n;
  }

  size_t processes() {
    auto res = procman({"list", "--limit", "1000000"});
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
    size_t n = 0;
    for (auto c : res.out)
      n += c == '\n';
    return n;
  }

  void stop_node() {
    node->signal(SIGTERM);
    BOOST_TEST(node->wait(60), "the store node is still running 60 s after "
                               "SIGTERM; "
                                 << node->report());
    BOOST_TEST(node->exit_code() == 0);
  }
};

const std::string two_pauses = R"({"steps": {
  "first": {"class": "procman.pause"},
  "second": {"class": "procman.pause"},
  "last": {"class": "procman.set", "args": {"done": true}}}})";

} // namespace

BOOST_FIXTURE_TEST_SUITE(lost_answers, store_node_fixture)

BOOST_AUTO_TEST_CASE(
  with_each_first_answer_dropped_a_start_is_one_process_with_one_pid) {
  start_node({"--parallel", "1"}, {"PROCMAN_FAULT_DROP_FIRST_ANSWER=1"});
  BOOST_TEST(eventually(
    [&] {
      return node->log().find("PROCMAN_FAULT_DROP_FIRST_ANSWER is set")
             != std::string::npos;
    },
    10));
  auto res = remote({"start", two_pauses});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  // The first answer was lost: the CLI asked again and got the same pid.
  BOOST_TEST(res.err.find("asking again on a new connection")
               != std::string::npos,
             res.err);
  auto pid = res.out.substr(0, res.out.find('\n'));
  BOOST_REQUIRE_EQUAL(pid.size(), 32u);
  BOOST_TEST(processes() == 1u);
  BOOST_TEST(status(pid).at("pid").as_string() == pid);
  BOOST_TEST(logged(transition_kind::enqueue) == 1u);
  // A start with a unique key, answered the second time, is one process too.
  auto keyed = remote({"start", two_pauses, "--key", "nightly"});
  BOOST_REQUIRE_MESSAGE(keyed.exit_code == 0, keyed.err);
  BOOST_TEST(processes() == 2u);
  BOOST_TEST(logged(transition_kind::enqueue) == 2u);
  stop_node();
}

BOOST_AUTO_TEST_CASE(
  with_each_first_answer_dropped_proceed_cancel_retry_and_remove_act_once) {
  start_node({"--parallel", "1"}, {"PROCMAN_FAULT_DROP_FIRST_ANSWER=1"});
  auto pid = start(two_pauses);
  BOOST_REQUIRE(await_status(pid, "interrupted", 60));
  // proceed: answered with the pid the second time, and only the first
  // pause is passed (a second proceed would pass the second one too).
  auto res = remote({"proceed", pid, "--data", R"({"who": "remote"})"});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(res.err.find("asking again") != std::string::npos, res.err);
  BOOST_TEST(res.out.find(pid) != std::string::npos, res.out);
  BOOST_REQUIRE(eventually(
    [&] {
      auto st = status(pid);
      return st.at("status").as_string() == "interrupted"
             && st.at("last_completed_step").as_string() == "second";
    },
    60));
  BOOST_TEST(logged(transition_kind::proceed, pid) == 1u);
  // cancel: no error for the repeat, one cancel.
  res = remote({"cancel", pid});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(res.err.find("asking again") != std::string::npos, res.err);
  BOOST_TEST(status_of(pid) == "cancelled");
  BOOST_TEST(logged(transition_kind::cancel, pid) == 1u);
  // Another cancel is another request: refused as before.
  res = remote({"cancel", pid});
  BOOST_TEST(res.exit_code == 1);
  BOOST_TEST(res.err.find("cancelled") != std::string::npos, res.err);
  // remove: the repeat finds the record gone and answers the pid; one purge.
  res = remote({"remove", pid});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(res.err.find("asking again") != std::string::npos, res.err);
  BOOST_TEST(res.out == pid + "\n");
  BOOST_TEST(logged(transition_kind::purge, pid) == 1u);
  // Another remove is another request: nothing is there.
  res = remote({"remove", pid});
  BOOST_TEST(res.exit_code == 1);
  BOOST_TEST(res.err.find("no process " + pid) != std::string::npos, res.err);
  // retry: one retry of a process that failed.
  auto failing = start(shell_spec("exit 3"));
  BOOST_REQUIRE(await_status(failing, "error", 60));
  res = remote({"retry", failing});
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, res.err);
  BOOST_TEST(res.err.find("asking again") != std::string::npos, res.err);
  BOOST_REQUIRE(await_status(failing, "error", 60));
  BOOST_TEST(logged(transition_kind::retry, failing) == 1u);
  BOOST_TEST(processes() == 1u);
  stop_node();
}

BOOST_AUTO_TEST_SUITE_END()

namespace {

struct concurrent_fixture : store_node_fixture {
  std::vector<std::unique_ptr<background>> workers;

  void start_workers(const std::vector<std::string>& tls) {
    for (int i = 0; i < 2; ++i) {
      std::vector<std::string> args{bin("procman-runner"), "--join",
                                    "127.0.0.1:" + std::to_string(port),
                                    "--parallel", "2"};
      args.insert(args.end(), tls.begin(), tls.end());
      workers.push_back(std::make_unique<background>(
        args, tmp.str() + "/worker" + std::to_string(i) + ".log"));
    }
    BOOST_REQUIRE_MESSAGE(eventually(
                            [&] {
                              auto log = node->log();
                              size_t n = 0;
                              for (auto i = log.find("joined; lease");
                                   i != std::string::npos;
                                   i = log.find("joined; lease", i + 1))
                                ++n;
                              return n == 2;
                            },
                            60),
                          "the workers did not join: " << node->log());
  }

  /// `clients` CLIs at once, each starting `each` processes one after the
  /// other while the workers run what came before; then counts.
  void starts_are_answered_once(int clients, int each,
                                const std::vector<std::string>& tls) {
    auto spec = shell_spec("sleep 0.05");
    std::vector<std::vector<command_result>> results(clients);
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c)
      threads.emplace_back([&, c] {
        for (int i = 0; i < each; ++i)
          results[c].push_back(remote({"start", spec}, tls));
      });
    for (auto& t : threads)
      t.join();
    size_t tried = 0;
    size_t answered = 0;
    size_t asked_again = 0;
    std::set<std::string> pids;
    for (auto& rs : results)
      for (auto& r : rs) {
        ++tried;
        if (r.exit_code == 0 && r.out.size() == 33) {
          ++answered;
          pids.insert(r.out.substr(0, 32));
        } else {
          BOOST_TEST_MESSAGE("unanswered: " << r.exit_code << " " << r.err);
        }
        asked_again += r.err.find("asking again") != std::string::npos;
      }
    auto enqueued = processes();
    BOOST_TEST_MESSAGE("starts tried " << tried << ", answered " << answered
                                       << ", enqueued " << enqueued
                                       << "; asked again " << asked_again);
    BOOST_TEST(tried == static_cast<size_t>(clients * each));
    BOOST_TEST(answered == tried);
    BOOST_TEST(pids.size() == answered);
    BOOST_TEST(enqueued == tried);
    for (auto& w : workers) {
      w->signal(SIGTERM);
      BOOST_TEST(w->wait(90), "a worker node is still running 90 s after "
                              "SIGTERM; "
                                << w->report());
    }
    stop_node();
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(concurrent_starts, concurrent_fixture)

BOOST_AUTO_TEST_CASE(
  four_clients_and_two_busy_workers_get_every_start_answered_once) {
  start_node({"--parallel", "0"});
  start_workers({});
  starts_are_answered_once(4, 150, {});
}

BOOST_AUTO_TEST_CASE(
  four_clients_and_two_busy_workers_with_tls_get_every_start_answered_once) {
  test_pki pki(tmp.str() + "/pki");
  auto tls = pki.args("runner", "ca-a");
  start_node(
    {"--parallel", "0", tls[0], tls[1], tls[2], tls[3], tls[4], tls[5]});
  start_workers(tls);
  starts_are_answered_once(4, 100, pki.args("host", "ca-a"));
}

BOOST_AUTO_TEST_SUITE_END()
