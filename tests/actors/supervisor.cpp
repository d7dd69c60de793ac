// The supervisor with the real queue, store service and process actors, and
// a fake launcher: the test plays each executor.

#include <csignal>
#include <set>

#include <boost/test/unit_test.hpp>

#include "actors/actor_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct supervisor_fixture : actor_fixture {
  queue_actor q = spawn(procman::queue, store, runner_id);
  supervisor_actor sup;
  std::shared_ptr<std::optional<caf::error>> ended;
  uint32_t claim_ahead = supervisor_options{}.claim_ahead;
  uint32_t claim_ahead_max = supervisor_options{}.claim_ahead_max;

  void start_supervisor(uint32_t parallel, bool wait, uint32_t grace = 10,
                        uint64_t max_processes = 0) {
    supervisor_options opts;
    opts.parallel = parallel;
    opts.wait = wait;
    opts.grace_seconds = grace;
    opts.max_processes = max_processes;
    opts.claim_ahead = claim_ahead;
    opts.claim_ahead_max = claim_ahead_max;
    sup = spawn(supervisor, opts, q, store, exec);
    ended = watch(sup);
    sched.run();
  }

  supervisor_state& state() {
    BOOST_REQUIRE_MESSAGE(!ended->has_value(), "the supervisor has quit");
    return state_of<supervisor_state>(sup);
  }

  /// Processes of one step each, queued in this order.
  std::vector<std::string> queue_up(size_t n) {
    std::vector<std::string> out;
    for (size_t i = 0; i < n; ++i)
      out.push_back(enqueue().pid);
    return out;
  }

  /// The executor of `pid` runs its step and finishes.
  void finish(const std::string& pid) {
    launcher->report(pid, report::step_started(0));
    launcher->report(pid, report::step_completed(0));
    launcher->report(pid, report::finished("{}"));
    launcher->exit(pid, 0);
    sched.run();
  }

  std::vector<std::string> spawned_pids() {
    std::vector<std::string> out;
    for (auto& c : launcher->children)
      out.push_back(c.pid);
    return out;
  }

  uint64_t queued() { return must(db->stats(), "stats").queued; }

  /// How long the end of a run waits for a commit to go with.
  static constexpr auto hold_limit
    = std::chrono::milliseconds(defaults::hold_limit_ms);

  bool quit_normally() {
    return ended->has_value() && **ended == caf::exit_reason::normal;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(supervisor_actor, supervisor_fixture)

BOOST_AUTO_TEST_CASE(
  it_claims_its_free_slots_and_twice_as_many_ahead_in_one_commit) {
  auto pids = queue_up(10);
  start_supervisor(3, true);
  BOOST_TEST(spawned_pids()
               == (std::vector<std::string>{pids[0], pids[1], pids[2]}),
             boost::test_tools::per_element());
  BOOST_TEST(state().active.size() == 3u);
  BOOST_TEST(state().ready.size() == 6u);
  BOOST_TEST(state().claimed == 9u);
  BOOST_TEST(queued() == 1u);
  BOOST_TEST_MESSAGE("one claim of nine: the claims share one commit");
  std::set<uint64_t> claim_times;
  for (int i = 0; i < 9; ++i) {
    BOOST_TEST((record(pids[i]).status == process_status::running));
    for (auto& e : log_of(pids[i]))
      if (e.what.kind == transition_kind::claim)
        claim_times.insert(e.time);
  }
  BOOST_TEST(claim_times.size() == 1u);
}

BOOST_AUTO_TEST_CASE(
  a_process_that_ends_frees_its_slot_for_the_next_in_the_queue) {
  auto pids = queue_up(10);
  start_supervisor(2, true);
  BOOST_TEST(launcher->children.size() == 2u);
  BOOST_TEST(state().ready.size() == 4u);
  finish(pids[1]);
  BOOST_TEST_MESSAGE("four were ready, so this exit brings no claim: the end "
                     "of the run waits for the next commit, at most the "
                     "hold limit");
  BOOST_TEST((record(pids[1]).status == process_status::running));
  advance(hold_limit);
  BOOST_TEST((record(pids[1]).status == process_status::finished));
  BOOST_TEST(spawned_pids().size() == 3u);
  BOOST_TEST(spawned_pids().back() == pids[2]);
  BOOST_TEST(state().active.size() == 2u);
  BOOST_TEST(state().active.count(pids[1]) == 0u);
  BOOST_TEST_MESSAGE("three still ready: nothing is claimed yet");
  BOOST_TEST(state().claimed == 6u);
  BOOST_TEST(state().ready.size() == 3u);
  finish(pids[0]);
  BOOST_TEST(spawned_pids().back() == pids[3]);
  BOOST_TEST_MESSAGE("two left ready: refilled with two in one claim");
  BOOST_TEST(state().claimed == 8u);
  BOOST_TEST(state().ready.size() == 4u);
  std::set<uint64_t> claim_times;
  for (int i = 6; i < 8; ++i)
    for (auto& e : log_of(pids[i]))
      if (e.what.kind == transition_kind::claim)
        claim_times.insert(e.time);
  BOOST_TEST(claim_times.size() == 1u);
}

BOOST_AUTO_TEST_CASE(
  the_end_of_a_run_waits_in_the_supervisor_and_commits_with_the_next_claim) {
  auto pids = queue_up(10);
  start_supervisor(2, true);
  BOOST_TEST(state().ready.size() == 4u);
  finish(pids[0]);
  BOOST_TEST_MESSAGE("no claim yet: the end of the run is held here, not "
                     "sent to the store");
  BOOST_TEST(state().held_ends.size() == 1u);
  BOOST_TEST((record(pids[0]).status == process_status::running));
  finish(pids[1]);
  BOOST_TEST_MESSAGE("two left ready: the claim takes both ends along, and "
                     "they commit together");
  BOOST_TEST(state().claimed > 6u);
  BOOST_TEST(state().held_ends.empty());
  std::set<uint64_t> times;
  for (int i = 0; i < 2; ++i) {
    BOOST_TEST((record(pids[i]).status == process_status::finished));
    for (auto& e : log_of(pids[i]))
      if (e.what.kind == transition_kind::finish)
        times.insert(e.time);
  }
  for (size_t i = 6; i < state().claimed; ++i)
    for (auto& e : log_of(pids[i]))
      if (e.what.kind == transition_kind::claim)
        times.insert(e.time);
  BOOST_TEST(times.size() == 1u);
  BOOST_TEST(state().finishing.empty());
}

BOOST_AUTO_TEST_CASE(an_end_with_nothing_claimed_ahead_is_not_held) {
  auto pids = queue_up(1);
  start_supervisor(2, true);
  BOOST_TEST(state().ready.empty());
  finish(pids[0]);
  BOOST_TEST_MESSAGE("no record claimed ahead: the end goes to the store, "
                     "and the claim of the exit commits it");
  BOOST_TEST(state().held_ends.empty());
  BOOST_TEST((record(pids[0]).status == process_status::finished));
  BOOST_TEST(state().finishing.empty());
}

BOOST_AUTO_TEST_CASE(a_drain_sends_the_ends_held_at_once) {
  auto pids = queue_up(10);
  start_supervisor(2, true);
  finish(pids[0]);
  BOOST_TEST(state().held_ends.size() == 1u);
  caf::anon_send(sup, atom::drain_v);
  sched.run();
  BOOST_TEST(state().held_ends.empty());
  BOOST_TEST((record(pids[0]).status == process_status::finished));
}

/// Finishes `pids` in order, `gap` apart, with two slots; returns the most
/// records that were ready at once, and checks that no more than `most`
/// were ever claimed and not done.
size_t ready_at_most_while_finishing(supervisor_fixture& f,
                                     const std::vector<std::string>& pids,
                                     caf::timespan gap, size_t most) {
  size_t ready = 0;
  for (auto& pid : pids) {
    f.finish(pid);
    ready = std::max(ready, f.state().ready.size());
    BOOST_TEST(f.state().active.size() + f.state().ready.size() <= most);
    f.advance(gap);
  }
  return ready;
}

BOOST_AUTO_TEST_CASE(processes_that_end_fast_are_claimed_more_at_a_time) {
  auto pids = queue_up(60);
  start_supervisor(2, true);
  BOOST_TEST(state().ready.size() == 4u);
  BOOST_TEST_MESSAGE("one exit per ms: the slots start 25 within the claim "
                     "horizon");
  auto most
    = ready_at_most_while_finishing(*this, {pids.begin(), pids.begin() + 30},
                                    std::chrono::milliseconds(1), 2 + 25);
  BOOST_TEST(most > 16u);
  BOOST_TEST_MESSAGE("so claims come in batches that share commits: fewer "
                     "claim commits than one per two processes");
  std::set<uint64_t> claim_times;
  for (auto& pid : pids)
    for (auto& e : log_of(pid))
      if (e.what.kind == transition_kind::claim)
        claim_times.insert(e.time);
  BOOST_TEST(claim_times.size() < state().claimed / 4);
}

BOOST_AUTO_TEST_CASE(
  processes_that_end_in_microseconds_are_claimed_at_most_the_cap_ahead) {
  auto pids = queue_up(160);
  start_supervisor(2, true);
  BOOST_TEST_MESSAGE("one exit per 10 µs: the horizon would give 2,500; the "
                     "cap is claim_ahead_max per slot");
  auto cap = 2 * size_t{defaults::claim_ahead_max};
  auto most
    = ready_at_most_while_finishing(*this, {pids.begin(), pids.begin() + 80},
                                    std::chrono::microseconds(10), 2 + cap);
  BOOST_TEST(most > 25u);
}

BOOST_AUTO_TEST_CASE(processes_that_end_slowly_are_claimed_two_per_slot_ahead) {
  auto pids = queue_up(20);
  start_supervisor(2, true);
  auto most = ready_at_most_while_finishing(
    *this, {pids.begin(), pids.begin() + 10}, std::chrono::seconds(1), 2 + 4);
  BOOST_TEST(most == 4u);
}

BOOST_AUTO_TEST_CASE(a_supervisor_told_to_claim_none_ahead_never_does) {
  // As on a worker node, however fast its processes end.
  claim_ahead = 0;
  claim_ahead_max = 0;
  auto pids = queue_up(20);
  start_supervisor(2, true);
  auto most = ready_at_most_while_finishing(
    *this, {pids.begin(), pids.begin() + 10}, std::chrono::milliseconds(1), 2);
  BOOST_TEST(most == 0u);
  BOOST_TEST(state().claimed == 12u);
}

BOOST_AUTO_TEST_CASE(
  a_slot_is_freed_at_the_executors_exit_before_its_end_is_committed) {
  auto pids = queue_up(3);
  start_supervisor(1, true);
  BOOST_TEST(spawned_pids() == std::vector<std::string>{pids[0]},
             boost::test_tools::per_element());
  BOOST_TEST_MESSAGE("the disk is full: nothing can be committed");
  set_disk_full(true);
  finish(pids[0]);
  BOOST_TEST_MESSAGE("the next process, claimed ahead, starts all the same");
  BOOST_TEST(spawned_pids().size() == 2u);
  BOOST_TEST(spawned_pids().back() == pids[1]);
  BOOST_TEST((record(pids[0]).status == process_status::running));
  BOOST_TEST(state().finishing.count(pids[0]) == 1u);
  BOOST_TEST(state().active.count(pids[1]) == 1u);
  set_disk_full(false);
  advance(std::chrono::seconds(1));
  BOOST_TEST((record(pids[0]).status == process_status::finished));
  BOOST_TEST(state().finishing.empty());
  BOOST_TEST_MESSAGE("start, step events and finish: one commit");
  std::set<uint64_t> times;
  for (auto& e : log_of(pids[0]))
    if (e.what.kind != transition_kind::enqueue
        && e.what.kind != transition_kind::claim)
      times.insert(e.time);
  BOOST_TEST(times.size() == 1u);
}

BOOST_AUTO_TEST_CASE(
  without_wait_it_quits_when_the_queue_is_empty_and_nothing_runs) {
  auto pids = queue_up(2);
  start_supervisor(1, false);
  BOOST_TEST(spawned_pids() == std::vector<std::string>{pids[0]},
             boost::test_tools::per_element());
  finish(pids[0]);
  BOOST_TEST(!ended->has_value());
  BOOST_TEST(spawned_pids().size() == 2u);
  finish(pids[1]);
  BOOST_TEST(quit_normally());
  BOOST_TEST((record(pids[1]).status == process_status::finished));
}

BOOST_AUTO_TEST_CASE(without_wait_and_with_an_empty_queue_it_quits_at_once) {
  start_supervisor(2, false);
  BOOST_TEST(quit_normally());
  BOOST_TEST(launcher->children.empty());
}

BOOST_AUTO_TEST_CASE(with_wait_it_stays_and_claims_when_woken) {
  start_supervisor(2, true);
  BOOST_TEST(!ended->has_value());
  auto pid = enqueue().pid;
  caf::anon_send(sup, atom::wakeup_v);
  sched.run();
  BOOST_TEST(spawned_pids() == std::vector<std::string>{pid},
             boost::test_tools::per_element());
  finish(pid);
  BOOST_TEST(!ended->has_value());
  BOOST_TEST(state().active.empty());
}

BOOST_AUTO_TEST_CASE(it_stops_after_max_processes) {
  auto pids = queue_up(3);
  start_supervisor(5, true, 10, 2);
  BOOST_TEST(spawned_pids().size() == 2u);
  finish(pids[0]);
  finish(pids[1]);
  BOOST_TEST_MESSAGE("done claiming: the last end commits at the hold limit");
  advance(hold_limit);
  BOOST_TEST(quit_normally());
  BOOST_TEST((record(pids[2]).status == process_status::queued));
}

BOOST_AUTO_TEST_CASE(
  a_drain_lets_running_processes_finish_within_the_grace_period) {
  auto pids = queue_up(4);
  start_supervisor(1, true, 10);
  caf::anon_send(sup, atom::drain_v);
  sched.run();
  advance(std::chrono::seconds(5));
  finish(pids[0]);
  BOOST_TEST(launcher->killed.empty());
  BOOST_TEST_MESSAGE("what was claimed ahead runs under the grace period");
  BOOST_TEST(spawned_pids().size() == 2u);
  BOOST_TEST(!ended->has_value());
  finish(pids[1]);
  BOOST_TEST(spawned_pids().size() == 3u);
  finish(pids[2]);
  advance(hold_limit);
  BOOST_TEST(quit_normally());
  BOOST_TEST_MESSAGE("nothing more is claimed while draining");
  BOOST_TEST(spawned_pids().size() == 3u);
  BOOST_TEST((record(pids[3]).status == process_status::queued));
}

BOOST_AUTO_TEST_CASE(
  records_claimed_ahead_and_not_started_within_the_grace_period_are_queued_again) {
  auto pids = queue_up(2);
  start_supervisor(1, true, 10);
  BOOST_TEST(state().ready.size() == 1u);
  caf::anon_send(sup, atom::drain_v);
  sched.run();
  advance(std::chrono::seconds(10));
  BOOST_TEST(launcher->was_killed(pids[0]));
  BOOST_TEST(!launcher->spawned(pids[1]));
  auto rec = record(pids[1]);
  BOOST_TEST((rec.status == process_status::queued));
  BOOST_REQUIRE_EQUAL(rec.attempt_errors.size(), 1u);
  auto& why = rec.attempt_errors[0].error;
  BOOST_TEST((why.kind == error_kind::runner_lost));
  BOOST_TEST(why.message.find("no step ran, queued again") != std::string::npos,
             why.message);
  launcher->exit(pids[0], -1, SIGKILL);
  sched.run();
  BOOST_TEST(quit_normally());
}

BOOST_AUTO_TEST_CASE(a_drain_kills_what_still_runs_after_the_grace_period) {
  auto pids = queue_up(2);
  start_supervisor(2, true, 10);
  launcher->report(pids[0], report::step_started(0));
  sched.run();
  caf::anon_send(sup, atom::drain_v);
  sched.run();
  advance(std::chrono::seconds(9));
  BOOST_TEST(launcher->killed.empty());
  advance(std::chrono::seconds(1));
  BOOST_TEST(launcher->was_killed(pids[0]));
  BOOST_TEST(launcher->was_killed(pids[1]));
  BOOST_TEST(!ended->has_value());
  for (auto& pid : pids)
    launcher->exit(pid, -1, SIGKILL);
  sched.run();
  for (auto& pid : pids) {
    auto rec = record(pid);
    BOOST_TEST((rec.status == process_status::error));
    BOOST_TEST((rec.error.kind == error_kind::runner_lost));
  }
  BOOST_TEST(record(pids[0]).error.step == "s0");
  BOOST_TEST(quit_normally());
}

BOOST_AUTO_TEST_CASE(
  a_process_actor_that_dies_is_recorded_as_runner_lost_and_frees_its_slot) {
  auto pids = queue_up(2);
  start_supervisor(1, true);
  launcher->report(pids[0], report::step_started(0));
  sched.run();
  auto actor = request<caf::actor>(sup, caf::get_atom_v, pids[0]).value();
  BOOST_TEST_MESSAGE("the process actor dies abnormally");
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_TEST(launcher->was_killed(pids[0]));
  auto rec = record(pids[0]);
  BOOST_TEST((rec.status == process_status::error));
  BOOST_TEST((rec.error.kind == error_kind::runner_lost));
  BOOST_TEST(rec.error.step == "s0");
  BOOST_TEST(rec.error.message.find("the actor running the process died")
               != std::string::npos,
             rec.error.message);
  BOOST_TEST_MESSAGE("its slot goes to the next process");
  BOOST_TEST(state().active.count(pids[0]) == 0u);
  BOOST_TEST(spawned_pids().size() == 2u);
  BOOST_TEST(spawned_pids().back() == pids[1]);
  BOOST_TEST(state().active.size() == 1u);
}

BOOST_AUTO_TEST_CASE(
  a_lost_actor_of_a_process_that_already_ended_is_not_recorded_again) {
  auto pids = queue_up(1);
  start_supervisor(1, true);
  auto actor = request<caf::actor>(sup, caf::get_atom_v, pids[0]).value();
  BOOST_TEST_MESSAGE("the executor finished; the actor dies before it reports");
  launcher->report(pids[0], report::finished("{}"));
  sched.run();
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_TEST((record(pids[0]).status == process_status::finished));
  BOOST_TEST(state().active.empty());
}

BOOST_AUTO_TEST_CASE(a_cancel_reaches_the_process_actor_of_its_process) {
  auto pids = queue_up(2);
  start_supervisor(2, true);
  apply(tr::cancel(pids[1]));
  caf::anon_send(sup, atom::cancel_v, pids[1]);
  sched.run();
  BOOST_TEST(launcher->killed == std::vector<int>{launcher->of(pids[1]).os_pid},
             boost::test_tools::per_element());
  launcher->exit(pids[1], -1, SIGKILL);
  sched.run();
  BOOST_TEST((record(pids[1]).status == process_status::cancelled));
  BOOST_TEST((record(pids[0]).status == process_status::running));
  BOOST_TEST(state().active.size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_check_makes_every_process_actor_reread_its_record) {
  auto pids = queue_up(2);
  start_supervisor(2, true);
  apply(tr::cancel(pids[0]));
  caf::anon_send(sup, atom::check_v);
  sched.run();
  BOOST_TEST(launcher->killed == std::vector<int>{launcher->of(pids[0]).os_pid},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_unknown_pid_is_refused_by_get) {
  start_supervisor(1, true);
  auto r = request<caf::actor>(sup, caf::get_atom_v, std::string{"nope"});
  BOOST_TEST(is(r.error(), errc::unknown_process), render(r.error()));
}

BOOST_AUTO_TEST_CASE(a_claim_in_flight_at_drain_runs_under_the_grace_period) {
  start_supervisor(1, true, 10);
  auto pid = enqueue().pid;
  BOOST_TEST_MESSAGE(
    "a wakeup starts a claim; the drain comes before its answer");
  caf::anon_send(sup, atom::wakeup_v);
  caf::anon_send(sup, atom::drain_v);
  sched.run();
  BOOST_REQUIRE(launcher->spawned(pid));
  BOOST_TEST_MESSAGE(
    "the claimed process still runs after the grace period: killed");
  advance(std::chrono::seconds(10));
  BOOST_TEST(launcher->was_killed(pid));
  launcher->exit(pid, -1, SIGKILL);
  sched.run();
  BOOST_TEST((record(pid).error.kind == error_kind::runner_lost));
  BOOST_TEST(quit_normally());
}

// -- claims that fail (the store cannot commit) -------------------------------

BOOST_AUTO_TEST_CASE(a_failed_claim_is_retried_after_a_backoff) {
  auto pid = enqueue().pid;
  set_disk_full(true);
  start_supervisor(1, false);
  BOOST_TEST(launcher->children.empty());
  BOOST_TEST_MESSAGE("a failed claim does not count as an empty queue");
  BOOST_TEST(!ended->has_value());
  BOOST_TEST_MESSAGE(
    "the retry after 10 ms fails too; the next comes 20 ms later");
  advance(std::chrono::milliseconds(10));
  BOOST_TEST(launcher->children.empty());
  set_disk_full(false);
  advance(std::chrono::milliseconds(19));
  BOOST_TEST(launcher->children.empty());
  advance(std::chrono::milliseconds(1));
  BOOST_TEST(launcher->spawned(pid));
  BOOST_TEST(state().claim_delay.count() == 0);
  finish(pid);
  BOOST_TEST(quit_normally());
}

BOOST_AUTO_TEST_CASE(
  a_failed_claim_after_a_short_one_does_not_end_a_runner_without_wait) {
  auto first = enqueue().pid;
  start_supervisor(2, false);
  BOOST_TEST_MESSAGE("the claim of two got one: the queue looked empty");
  BOOST_TEST(launcher->children.size() == 1u);
  auto second = enqueue().pid;
  launcher->report(first, report::finished("{}"));
  launcher->exit(first, 0);
  run_until([&] { return state().active.empty(); });
  BOOST_TEST_MESSAGE("the first is done; the claim that follows fails");
  set_disk_full(true);
  sched.run();
  BOOST_TEST(!ended->has_value());
  set_disk_full(false);
  advance(std::chrono::milliseconds(10));
  BOOST_TEST(launcher->spawned(second));
  finish(second);
  BOOST_TEST(quit_normally());
}

BOOST_AUTO_TEST_SUITE_END()
