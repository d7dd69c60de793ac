// A log recorded by the current engine, from real runs, always replays
// clean; `procman log export` and `procman replay` work as commands.

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>

#include "procman/lifecycle/front_door.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/persistence/store.hpp"

#include "engine/cli_fixture.hpp"
#include "replay_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct recording_fixture : cli_fixture, replay_fixture {
  std::string export_log(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"log", "export"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = procman(args);
    BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    auto path = cli_fixture::tmp.str() + "/export-" + std::to_string(++n)
                + ".jsonl";
    std::ofstream(path) << r.out;
    return path;
  }
  int n = 0;

  /// A store written directly, for paths a test cannot provoke from the
  /// command line.
  std::unique_ptr<procman::store> direct_store(const std::string& name) {
    store_options so;
    so.dir = cli_fixture::tmp.str() + "/" + name;
    so.no_sync = true;
    auto db = store::open(so);
    BOOST_REQUIRE(db);
    return std::move(*db);
  }

  static process_spec spec_of(const std::string& text) {
    auto spec = parse_spec(text);
    if (!spec)
      BOOST_FAIL(spec.error().context);
    return std::move(*spec);
  }

  static outcome<process_record> enqueue(procman::store& db,
                                         const process_spec& spec) {
    auto t = front_door::start(spec);
    BOOST_REQUIRE(t);
    return db.apply(*t);
  }

  /// A transition that the process actor of runner "r1" applies.
  static transition by_runner(transition_kind kind, const std::string& pid) {
    transition t;
    t.kind = kind;
    t.pid = pid;
    t.source = "supervisor";
    t.runner = "r1";
    return t;
  }

  /// The log and the records of `db`, as an export has them.
  static log_file log_of(procman::store& db) {
    auto snap = db.snapshot(0);
    BOOST_REQUIRE(snap);
    log_file log;
    log.entries = snap->entries;
    log.records = snap->records;
    return log;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(fresh_replay, recording_fixture)

BOOST_AUTO_TEST_CASE(a_fresh_recording_of_every_path_replays_clean) {
  auto ex = [](const std::string& f) { return source_path("examples/" + f); };
  start(ex_spec_file(ex("hello.json")));
  auto paused = start(ex_spec_file(ex("approval.json")));
  start(ex_spec_file(ex("failing.json")));
  start(ex_spec_file(ex("progress.json")));
  auto queued_cancel
    = start(R"({"steps": {"s": {"class": "procman.set", "args": {}}}})");
  BOOST_TEST(procman({"cancel", queued_cancel}).exit_code == 0);
  start(shell_spec("sleep 30", 1));
  BOOST_TEST(runner({"--parallel", "2"}).exit_code == 0);
  BOOST_TEST(
    procman({"proceed", paused, "--data", R"({"approved_by": "test"})"})
      .exit_code
    == 0);
  BOOST_TEST(runner().exit_code == 0);
  auto path = export_log();
  auto log = load(path);
  BOOST_TEST(log.entries.size() > 30u);
  BOOST_TEST(log.records.size() == 6u);
  auto report = replay(log);
  BOOST_TEST(report.ok());
  BOOST_TEST(report.checked == log.entries.size());
  BOOST_TEST(report.records_checked == 6u);
  // The same through the command.
  auto r = run_command({bin("procman"), "replay", path});
  BOOST_TEST(r.exit_code == 0);
  BOOST_TEST(r.out.find("replay matches") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_running_cancel_and_a_killed_runner_replay_clean) {
  auto run = background_runner({"--wait"});
  auto victim = start(shell_spec("sleep 60", 120));
  BOOST_REQUIRE(await_status(victim, "running"));
  BOOST_TEST(procman({"cancel", victim}).exit_code == 0);
  auto lost = start(shell_spec("sleep 60", 120));
  // Its step must have started: a process claimed and not yet started
  // when its runner dies is queued again and runs (lifecycle/recovery).
  BOOST_REQUIRE(eventually(
    [&] { return status(lost).at("steps").at("sh").as_string() == "running"; },
    20));
  run->signal(SIGKILL);
  BOOST_REQUIRE(run->wait(10));
  BOOST_TEST(runner().exit_code == 0);
  BOOST_TEST(status_of(lost) == "error");
  auto report = replay(load(export_log()));
  BOOST_TEST(report.ok());
}

BOOST_AUTO_TEST_CASE(
  live_output_a_cancelled_step_and_a_purge_by_hand_replay_clean) {
  // Output reports are not transitions: a chatty process replays as a
  // quiet one. A running step cut short by a cancel ends `cancelled`;
  // `procman purge` writes purge entries of source "client".
  auto chatty = start(shell_spec("seq 1 5000; seq 1 100 >&2", 60));
  BOOST_TEST(runner().exit_code == 0);
  BOOST_REQUIRE(procman({"logs", chatty}).out.size() > 20000u);
  auto run = background_runner({"--wait"});
  auto victim = start(shell_spec("sleep 60", 120));
  BOOST_REQUIRE(await_status(victim, "running"));
  BOOST_TEST(procman({"cancel", victim}).exit_code == 0);
  BOOST_REQUIRE(await_status(victim, "cancelled"));
  run->signal(SIGTERM);
  BOOST_REQUIRE(run->wait(60));
  auto gone = start(R"({"steps": {"s": {"class": "procman.set"}}})");
  BOOST_TEST(runner().exit_code == 0);
  auto r = procman({"purge", "--older-than", "0s"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  auto log = load(export_log());
  size_t purges = 0;
  for (auto& e : log.entries)
    if (e.what.kind == transition_kind::purge && e.what.source == "client")
      ++purges;
  BOOST_TEST(purges == 3u);
  (void) gone;
  auto report = replay(log);
  BOOST_TEST(report.ok());
  BOOST_TEST(report.checked == log.entries.size());
}

BOOST_AUTO_TEST_CASE(a_runner_that_died_between_claim_and_start_replays_clean) {
  // The runner is killed after its claim committed and before its
  // executor's start did; the next runner ends the process.
  auto db = direct_store("direct");
  auto spec
    = spec_of(R"({"steps": {"s": {"class": "procman.set", "args": {}}}})");
  auto rec = enqueue(*db, spec);
  BOOST_REQUIRE(rec);
  auto other = enqueue(*db, spec);
  BOOST_REQUIRE(other);
  auto claimed = db->claim("dead-runner", 1);
  BOOST_REQUIRE(claimed && claimed->size() == 1u);
  transition t;
  t.kind = transition_kind::fail;
  t.pid = rec->pid;
  t.source = "runner";
  t.runner = "next-runner";
  t.error.kind = error_kind::runner_lost;
  t.error.step = "s";
  t.error.message = "runner dead-runner died while the process was running";
  BOOST_REQUIRE(db->apply(t));
  auto log = log_of(*db);
  BOOST_REQUIRE_EQUAL(log.entries.size(), 4u);
  auto report = replay(log);
  BOOST_TEST(report.ok());
  BOOST_TEST(report.checked == 4u);
  BOOST_TEST(report.records_checked == 2u);
}

BOOST_AUTO_TEST_CASE(a_cancel_between_claim_and_start_replays_clean) {
  // A client cancels a process after its claim committed and before its
  // executor's start did: the runner's process actor sees the request on
  // its next check of the record and kills the executor.
  auto db = direct_store("cancel-before-start");
  auto spec = spec_of(shell_spec("sleep 60", 120));
  auto rec = enqueue(*db, spec);
  BOOST_REQUIRE(rec);
  auto claimed = db->claim("r1", 1);
  BOOST_REQUIRE(claimed && claimed->size() == 1u);
  transition cancel;
  cancel.kind = transition_kind::cancel;
  cancel.pid = rec->pid;
  cancel.source = "client";
  auto requested = db->apply(cancel);
  BOOST_REQUIRE(requested);
  BOOST_REQUIRE(requested->cancel_requested);
  auto start = by_runner(transition_kind::start, rec->pid);
  start.exec_pid = 4242;
  start.timeout = 120;
  BOOST_REQUIRE(db->apply(start));
  auto started = by_runner(transition_kind::step_started, rec->pid);
  BOOST_REQUIRE(db->apply(started));
  auto killed = by_runner(transition_kind::cancel, rec->pid);
  killed.error.step = spec.steps[0].name;
  killed.error.exit_code = -1;
  killed.error.signal = SIGKILL;
  auto ended = db->apply(killed);
  BOOST_REQUIRE(ended);
  BOOST_REQUIRE(ended->status == process_status::cancelled);
  auto log = log_of(*db);
  BOOST_REQUIRE_EQUAL(log.entries.size(), 6u);
  auto report = replay(log);
  BOOST_TEST_MESSAGE(describe(report));
  BOOST_TEST(report.ok());
  BOOST_TEST(report.checked == 6u);
  BOOST_TEST(report.records_checked == 1u);
}

BOOST_AUTO_TEST_CASE(
  a_failed_executor_start_and_garbage_replay_from_their_typed_fields) {
  // A runner whose executor could not be started, and one whose executor
  // wrote garbage on its report channel; the replay reproduces both from
  // the fields of the transitions, and from an export of an older procman
  // that carried them only in the messages.
  auto db = direct_store("spawn-and-garbage");
  auto spec
    = spec_of(R"({"steps": {"s": {"class": "procman.set", "args": {}}}})");
  auto unstarted = enqueue(*db, spec);
  BOOST_REQUIRE(unstarted);
  auto garbled = enqueue(*db, spec);
  BOOST_REQUIRE(garbled);
  BOOST_REQUIRE(db->claim("r1", 2));
  auto no_exec = by_runner(transition_kind::fail, unstarted->pid);
  no_exec.error.kind = error_kind::crash;
  no_exec.error.step = "s";
  no_exec.error.message = "cannot start executor /nowhere/procman-exec: "
                          + std::string(std::strerror(ENOENT));
  no_exec.exec_path = "/nowhere/procman-exec";
  no_exec.spawn_errno = ENOENT;
  BOOST_REQUIRE(db->apply(no_exec));
  auto start = by_runner(transition_kind::start, garbled->pid);
  start.exec_pid = 4242;
  start.timeout = 60;
  BOOST_REQUIRE(db->apply(start));
  auto garbage = by_runner(transition_kind::fail, garbled->pid);
  garbage.error.kind = error_kind::crash;
  garbage.error.step = "s";
  garbage.error.message = "executor wrote garbage on its report channel: hello";
  garbage.error.signal = SIGKILL;
  garbage.garbage = "hello";
  BOOST_REQUIRE(db->apply(garbage));
  auto log = log_of(*db);
  BOOST_REQUIRE_EQUAL(log.entries.size(), 7u);
  auto report = replay(log);
  BOOST_TEST_MESSAGE(describe(report));
  BOOST_TEST(report.ok());
  BOOST_TEST(report.checked == 7u);
  BOOST_TEST(report.records_checked == 2u);
  // As an older procman exported it: no exec_path, spawn_errno, garbage.
  std::stringstream old;
  old << boost::json::serialize(log_header("old", 0, "", 0)) << "\n";
  for (auto& e : log.entries) {
    auto line = log_line(e);
    auto erased = line.erase("exec_path") + line.erase("spawn_errno")
                  + line.erase("garbage");
    BOOST_TEST((erased > 0) == (e.what.kind == transition_kind::fail));
    old << boost::json::serialize(line) << "\n";
  }
  for (auto& r : log.records)
    old << boost::json::serialize(record_line(r)) << "\n";
  auto read_back = read_log(old);
  if (!read_back)
    BOOST_FAIL(read_back.error().context);
  report = replay(*read_back);
  BOOST_TEST_MESSAGE(describe(report));
  BOOST_TEST(report.ok());
  BOOST_TEST(report.checked == 7u);
}

BOOST_AUTO_TEST_CASE(export_filters_by_pid_and_since) {
  auto a
    = start(R"({"steps": {"s": {"class": "procman.set", "args": {"a": 1}}}})");
  auto b
    = start(R"({"steps": {"s": {"class": "procman.set", "args": {"b": 1}}}})");
  BOOST_TEST(runner().exit_code == 0);
  auto only_a = load(export_log({"--pid", a}));
  BOOST_TEST(only_a.pid == a);
  for (auto& e : only_a.entries)
    BOOST_TEST(e.what.pid == a);
  BOOST_REQUIRE_EQUAL(only_a.records.size(), 1u);
  BOOST_TEST(replay(only_a).ok());
  auto all = load(export_log());
  auto later
    = load(export_log({"--since", std::to_string(all.entries[3].seq)}));
  BOOST_TEST(later.entries.front().seq == all.entries[4].seq);
  (void) b;
}

BOOST_AUTO_TEST_CASE(a_log_cut_after_an_enqueue_skips_that_process) {
  start(R"({"steps": {"s": {"class": "procman.set", "args": {}}}})");
  start(R"({"steps": {"s": {"class": "procman.set", "args": {}}}})");
  BOOST_TEST(runner().exit_code == 0);
  auto all = load(export_log());
  // From seq 2 on, the first process's enqueue is missing.
  auto cut = load(export_log({"--since", "1"}));
  auto report = replay(cut);
  BOOST_TEST(report.ok());
  BOOST_TEST(report.skipped.size() == 1u);
  BOOST_TEST(report.checked < cut.entries.size());
  (void) all;
}

BOOST_AUTO_TEST_CASE(replay_command_reports_a_divergence_with_exit_1) {
  start(R"({"steps": {"s": {"class": "procman.set", "args": {"x": 1}}}})");
  BOOST_TEST(runner().exit_code == 0);
  auto path = export_log();
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  auto text = buf.str();
  auto pos = text.find("\"x\":1}", text.find("\"event\":\"finish\""));
  BOOST_REQUIRE(pos != std::string::npos);
  text.replace(pos, 6, "\"x\":2}");
  auto bad = cli_fixture::tmp.str() + "/bad.jsonl";
  std::ofstream(bad) << text;
  auto r = run_command({bin("procman"), "replay", bad});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("divergence at seq") != std::string::npos);
  BOOST_TEST(r.err.find("expected") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_logs_are_refused_naming_the_line) {
  auto write = [&](const std::string& name, const std::string& text) {
    auto path = cli_fixture::tmp.str() + "/" + name;
    std::ofstream(path) << text;
    return path;
  };
  auto no_header = write("a.jsonl", R"({"type": "entry"})"
                                    "\n");
  auto r = run_command({bin("procman"), "replay", no_header});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("line 1") != std::string::npos);
  auto bad_event = write(
    "b.jsonl",
    R"({"format": "procman-log", "version": 1})"
    "\n"
    R"({"type": "entry", "seq": 1, "time": 5, "event": "explode", "pid": "p", "status_after": "queued"})"
    "\n");
  r = run_command({bin("procman"), "replay", bad_event});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("line 2") != std::string::npos);
  BOOST_TEST(r.err.find("explode") != std::string::npos);
  auto newer = write("c.jsonl", R"({"format": "procman-log", "version": 99})"
                                "\n");
  r = run_command({bin("procman"), "replay", newer});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(r.err.find("version") != std::string::npos);
  r = run_command(
    {bin("procman"), "replay", cli_fixture::tmp.str() + "/none.jsonl"});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(run_command({bin("procman"), "replay"}).exit_code == 2);
}

BOOST_AUTO_TEST_SUITE_END()
