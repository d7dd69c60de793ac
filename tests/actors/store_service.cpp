// The store service: batches concurrent applies into one commit, answers in
// order, refuses what does not apply without holding up the rest, and tells
// its listeners after the commit.

#include <boost/test/unit_test.hpp>

#include "actors/actor_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

using record_reply = actor_fixture::reply<process_record>;

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_service_actor, actor_fixture)

BOOST_AUTO_TEST_CASE(applies_that_arrive_together_commit_in_one_transaction) {
  auto before = last_seq();
  BOOST_TEST_MESSAGE("three requests reach the store before it runs");
  std::vector<record_reply> replies;
  for (int i = 0; i < 3; ++i)
    replies.push_back(
      ask<process_record>(store, atom::apply_v, tr::enqueue(spec_of(1))));
  sched.run();
  for (auto& r : replies)
    BOOST_TEST((r.value().status == process_status::queued));
  BOOST_TEST(last_seq() == before + 3);
  BOOST_TEST(commits_since(before) == 1u);
}

BOOST_AUTO_TEST_CASE(an_apply_on_an_idle_store_commits_at_once) {
  auto before = last_seq();
  auto a = request<process_record>(store, atom::apply_v,
                                   tr::enqueue(spec_of(1)));
  BOOST_TEST(a.arrived());
  auto b = request<process_record>(store, atom::apply_v,
                                   tr::enqueue(spec_of(1)));
  BOOST_TEST(b.arrived());
  BOOST_TEST(commits_since(before) == 2u);
}

BOOST_AUTO_TEST_CASE(replies_arrive_in_the_order_of_the_requests) {
  auto pid = enqueue(2).pid;
  apply(tr::claim(pid, runner_id));
  auto order = std::make_shared<std::vector<int>>();
  std::vector<record_reply> replies;
  auto first = ask<process_record>(store, atom::apply_v,
                                   tr::interrupt(pid, 0, R"({"a":1})"));
  auto second = ask<process_record>(store, atom::apply_v,
                                    tr::proceed(pid, R"({"b":2})"));
  auto third = ask<process_record>(store, atom::apply_v,
                                   tr::claim(pid, runner_id));
  first.st->on_arrival = [order](auto&) { order->push_back(1); };
  second.st->on_arrival = [order](auto&) { order->push_back(2); };
  third.st->on_arrival = [order](auto&) { order->push_back(3); };
  sched.run();
  BOOST_TEST(*order == (std::vector<int>{1, 2, 3}),
             boost::test_tools::per_element());
  // Each reply is the record after its own transition, not after the batch.
  BOOST_TEST((first.value().status == process_status::interrupted));
  BOOST_TEST((second.value().status == process_status::queued));
  BOOST_TEST((third.value().status == process_status::running));
  BOOST_TEST(third.value().runs == 2u);
  BOOST_TEST(kinds(kinds_of(pid))
             == "enqueue, claim, interrupt, proceed, claim");
}

BOOST_AUTO_TEST_CASE(
  a_refused_transition_gets_its_error_and_the_others_commit) {
  auto queued = enqueue().pid;
  auto before = last_seq();
  auto ok1 = ask<process_record>(store, atom::apply_v, tr::enqueue(spec_of(1)));
  auto unknown = ask<process_record>(
    store, atom::apply_v, tr::cancel("0123456789abcdef0123456789abcdef"));
  auto not_interrupted = ask<process_record>(store, atom::apply_v,
                                             tr::proceed(queued, "{}"));
  auto bad_spec = ask<process_record>(store, atom::apply_v,
                                      tr::enqueue(spec_of(0)));
  auto ok2 = ask<process_record>(store, atom::apply_v, tr::cancel(queued));
  sched.run();
  BOOST_TEST((ok1.value().status == process_status::queued));
  BOOST_TEST(is(unknown.error(), errc::unknown_process),
             render(unknown.error()));
  BOOST_TEST(is(not_interrupted.error(), errc::not_interrupted),
             render(not_interrupted.error()));
  BOOST_TEST(is(bad_spec.error(), errc::invalid_spec),
             render(bad_spec.error()));
  BOOST_TEST((ok2.value().status == process_status::cancelled));
  // The two that apply are in the log, in one commit; the refusals are not.
  BOOST_TEST(last_seq() == before + 2);
  BOOST_TEST(commits_since(before) == 1u);
}

BOOST_AUTO_TEST_CASE(listeners_hear_of_each_committed_transition_in_order) {
  auto [sink, events] = event_sink();
  caf::anon_send(store, atom::subscribe_v, sink);
  sched.run();
  auto pid = enqueue().pid; // directly in the store: no event
  auto a = ask<process_record>(store, atom::apply_v, tr::claim(pid, runner_id));
  auto refused = ask<process_record>(store, atom::apply_v,
                                     tr::proceed(pid, "{}"));
  auto b = ask<process_record>(store, atom::apply_v, tr::cancel(pid));
  sched.run();
  BOOST_TEST(is(refused.error(), errc::not_interrupted));
  BOOST_REQUIRE(events->events.size() == 2u);
  auto& first = events->events[0];
  auto& second = events->events[1];
  BOOST_TEST((first.ev.kind == transition_kind::claim));
  BOOST_TEST((first.ev.record.status == process_status::running));
  BOOST_TEST((second.ev.kind == transition_kind::cancel));
  BOOST_TEST(second.ev.record.cancel_requested);
  // When each arrived, the store already held the record after the batch.
  for (auto& e : events->events)
    BOOST_TEST((e.status_in_store == process_status::running));
  BOOST_TEST(record(pid).cancel_requested);
}

BOOST_AUTO_TEST_CASE(a_listener_that_terminates_is_dropped) {
  auto [sink, events] = event_sink();
  caf::anon_send(store, atom::subscribe_v, sink);
  sched.run();
  request<process_record>(store, atom::apply_v, tr::enqueue(spec_of(1)));
  BOOST_TEST(events->events.size() == 1u);
  BOOST_TEST(state_of<store_state>(store).listeners.size() == 1u);
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_TEST(state_of<store_state>(store).listeners.empty());
}

BOOST_AUTO_TEST_CASE(a_claim_commits_with_the_parked_applies_and_follows_them) {
  auto a = enqueue().pid;
  auto before = last_seq();
  queue_actor q = spawn(procman::queue, store, runner_id);
  sched.run();
  BOOST_TEST_MESSAGE("an enqueue reaches the store, then a claim of two, "
                     "before the store runs");
  auto parked = ask<process_record>(store, atom::apply_v,
                                    tr::enqueue(spec_of(1)));
  auto claim = ask<std::vector<process_record>>(q, atom::claim_v, uint32_t{2});
  sched.run_once(); // the first asker sends its apply
  sched.run_once(); // the second asks the queue
  BOOST_REQUIRE(sched.prioritize(q));
  sched.run_once(); // the queue delegates the claim to the store
  sched.run();
  auto b = parked.value().pid;
  BOOST_REQUIRE(claim.value().size() == 2u);
  BOOST_TEST(claim.value()[0].pid == a);
  BOOST_TEST(claim.value()[1].pid == b);
  BOOST_TEST(commits_since(before) == 1u);
  BOOST_TEST(last_seq() == before + 3);
}

/// A run's last transitions as its process actor sends them: the held
/// ones and its finish, in one batch.
std::vector<transition> run_end(const std::string& pid) {
  auto start = tr::make(transition_kind::start, pid);
  start.exec_pid = 4242;
  auto started = tr::make(transition_kind::step_started, pid);
  auto done = tr::make(transition_kind::step_completed, pid);
  done.output = "{}";
  auto fin = tr::make(transition_kind::finish, pid);
  fin.output = "{}";
  return {start, started, done, fin};
}

BOOST_AUTO_TEST_CASE(the_end_of_a_run_commits_with_the_next_claim) {
  auto a = enqueue(1).pid;
  auto b = enqueue(1).pid;
  apply(tr::claim(a, runner_id));
  auto before = last_seq();
  queue_actor q = spawn(procman::queue, store, runner_id);
  sched.run();
  auto end = ask<std::vector<process_record>>(store, atom::apply_v,
                                              atom::flush_v, run_end(a));
  sched.run();
  BOOST_TEST_MESSAGE("no commit of its own: it waits for the next one");
  BOOST_TEST(!end.arrived());
  BOOST_TEST((must(db->get(a), "get").status == process_status::running));
  BOOST_TEST(last_seq() == before);
  auto claim = request<std::vector<process_record>>(q, atom::claim_v,
                                                    uint32_t{1});
  BOOST_REQUIRE(claim.value().size() == 1u);
  BOOST_TEST(claim.value()[0].pid == b);
  BOOST_REQUIRE(end.arrived());
  BOOST_TEST((end.value().back().status == process_status::finished));
  BOOST_TEST(commits_since(before) == 1u);
  BOOST_TEST(kinds(kinds_of(a, before))
             == "start, step_started, step_completed, finish");
}

BOOST_AUTO_TEST_CASE(the_end_of_a_run_alone_commits_within_the_hold_limit) {
  auto a = enqueue(1).pid;
  apply(tr::claim(a, runner_id));
  auto before = last_seq();
  auto end = ask<std::vector<process_record>>(store, atom::apply_v,
                                              atom::flush_v, run_end(a));
  sched.run();
  BOOST_TEST(!end.arrived());
  advance(std::chrono::milliseconds(defaults::hold_limit_ms - 1));
  BOOST_TEST(!end.arrived());
  advance(std::chrono::milliseconds(1));
  BOOST_REQUIRE(end.arrived());
  BOOST_TEST((must(db->get(a), "get").status == process_status::finished));
  BOOST_TEST(commits_since(before) == 1u);
}

BOOST_AUTO_TEST_CASE(held_transitions_that_do_not_end_a_run_commit_at_once) {
  auto a = enqueue(2).pid;
  apply(tr::claim(a, runner_id));
  auto ts = run_end(a);
  ts.pop_back(); // no finish: an acknowledged step's completion, say
  auto got = request<std::vector<process_record>>(store, atom::apply_v,
                                                  atom::flush_v, ts);
  BOOST_REQUIRE(got.arrived());
  BOOST_TEST(got.value().size() == 3u);
}

BOOST_AUTO_TEST_CASE(output_waits_no_longer_for_an_end_of_a_run_after_it) {
  auto a = enqueue(1).pid;
  apply(tr::claim(a, runner_id));
  output_chunk c;
  c.pid = a;
  c.data = "x";
  caf::anon_send(store, atom::output_v, std::move(c));
  sched.run();
  auto end = ask<std::vector<process_record>>(store, atom::apply_v,
                                              atom::flush_v, run_end(a));
  sched.run();
  BOOST_TEST(!end.arrived());
  // The end's shorter wait brings the output along.
  advance(std::chrono::milliseconds(defaults::hold_limit_ms));
  BOOST_REQUIRE(end.arrived());
  BOOST_TEST(must(db->read_output(a), "read_output").chunks.size() == 1u);
}

BOOST_AUTO_TEST_CASE(output_alone_commits_once_when_its_timer_fires) {
  auto pid = enqueue(1).pid;
  apply(tr::claim(pid, runner_id));
  for (auto text : {"a", "b", "c"}) {
    output_chunk c;
    c.pid = pid;
    c.data = text;
    caf::anon_send(store, atom::output_v, std::move(c));
  }
  sched.run();
  BOOST_TEST(must(db->read_output(pid), "read_output").chunks.empty());
  advance(std::chrono::milliseconds(defaults::output_commit_interval_ms));
  auto log = must(db->read_output(pid), "read_output");
  BOOST_REQUIRE_EQUAL(log.chunks.size(), 3u);
  // One commit: one time.
  BOOST_TEST(log.chunks[0].time == log.chunks[2].time);
  // The manager hands it out as the store has it.
  auto got = request<output_log>(store, atom::output_v, pid, uint64_t{1});
  BOOST_REQUIRE(got.arrived());
  BOOST_TEST(got.value().chunks.size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

// -- commits that fail for storage reasons ------------------------------------

BOOST_FIXTURE_TEST_SUITE(store_service_storage_failures, actor_fixture)

BOOST_AUTO_TEST_CASE(
  a_failed_commit_is_retried_with_backoff_until_it_succeeds) {
  auto before = last_seq();
  set_disk_full(true);
  auto r = ask<process_record>(store, atom::apply_v, tr::enqueue(spec_of(1)));
  sched.run();
  BOOST_TEST(!r.arrived());
  BOOST_TEST_MESSAGE("retries after 10 ms and 20 ms fail too");
  advance(std::chrono::milliseconds(10));
  advance(std::chrono::milliseconds(20));
  BOOST_TEST(!r.arrived());
  BOOST_TEST(state_of<store_state>(store).failed_commits == 3u);
  BOOST_TEST_MESSAGE("the disk has room again; the next retry is 40 ms later");
  set_disk_full(false);
  advance(std::chrono::milliseconds(39));
  BOOST_TEST(!r.arrived());
  advance(std::chrono::milliseconds(1));
  auto pid = r.value().pid;
  BOOST_TEST((record(pid).status == process_status::queued));
  BOOST_TEST(last_seq() == before + 1);
  BOOST_TEST(state_of<store_state>(store).failed_commits == 0u);
}

BOOST_AUTO_TEST_CASE(
  applies_that_arrive_while_commits_fail_wait_and_keep_their_order) {
  auto pid = claimed(2).pid;
  auto before = last_seq();
  set_disk_full(true);
  auto first = ask<process_record>(store, atom::apply_v,
                                   tr::interrupt(pid, 0, "{}"));
  sched.run();
  auto second = ask<process_record>(store, atom::apply_v,
                                    tr::proceed(pid, R"({"x":1})"));
  auto third = ask<process_record>(store, atom::apply_v,
                                   tr::enqueue(spec_of(1)));
  sched.run();
  advance(std::chrono::milliseconds(10));
  BOOST_TEST(!first.arrived());
  BOOST_TEST(!second.arrived());
  BOOST_TEST(!third.arrived());
  BOOST_TEST(last_seq() == before);
  set_disk_full(false);
  advance(std::chrono::milliseconds(20));
  BOOST_TEST((first.value().status == process_status::interrupted));
  BOOST_TEST((second.value().status == process_status::queued));
  BOOST_TEST((third.value().status == process_status::queued));
  BOOST_TEST(kinds(kinds_of(pid, before)) == "interrupt, proceed");
  BOOST_TEST(last_seq() == before + 3);
  BOOST_TEST(commits_since(before) == 1u);
}

BOOST_AUTO_TEST_CASE(
  a_refusal_parked_with_a_failing_commit_keeps_its_own_error) {
  // A refusal depends on what is parked before it, so it waits for their
  // commit; it must then come back as itself, not as the storage error.
  set_disk_full(true);
  auto ok = ask<process_record>(store, atom::apply_v, tr::enqueue(spec_of(1)));
  sched.run();
  auto refused = ask<process_record>(
    store, atom::apply_v, tr::cancel("0123456789abcdef0123456789abcdef"));
  sched.run();
  advance(std::chrono::milliseconds(10));
  BOOST_TEST(!ok.arrived());
  set_disk_full(false);
  advance(std::chrono::milliseconds(20));
  BOOST_TEST(is(refused.error(), errc::unknown_process),
             render(refused.error()));
  BOOST_TEST((ok.value().status == process_status::queued));
}

BOOST_AUTO_TEST_CASE(a_refusal_alone_is_answered_while_commits_fail) {
  set_disk_full(true);
  auto refused = request<process_record>(
    store, atom::apply_v, tr::cancel("0123456789abcdef0123456789abcdef"));
  BOOST_TEST(is(refused.error(), errc::unknown_process),
             render(refused.error()));
}

BOOST_AUTO_TEST_CASE(
  after_drain_a_failing_commit_is_answered_with_the_storage_error) {
  auto before = last_seq();
  set_disk_full(true);
  auto r = ask<process_record>(store, atom::apply_v, tr::enqueue(spec_of(1)));
  sched.run();
  BOOST_TEST(!r.arrived());
  caf::anon_send(store, atom::drain_v);
  sched.run();
  BOOST_TEST(is(r.error(), errc::storage_failure), render(r.error()));
  BOOST_TEST_MESSAGE("a later apply gets the error at the next flush");
  auto later = request<process_record>(store, atom::apply_v,
                                       tr::enqueue(spec_of(1)));
  advance(std::chrono::milliseconds(10));
  BOOST_TEST(is(later.error(), errc::storage_failure), render(later.error()));
  set_disk_full(false);
  BOOST_TEST(last_seq() == before);
}

BOOST_AUTO_TEST_CASE(a_claim_that_cannot_commit_gets_the_storage_error) {
  auto pid = enqueue().pid;
  queue_actor q = spawn(procman::queue, store, runner_id);
  set_disk_full(true);
  auto r = request<std::vector<process_record>>(q, atom::claim_v, uint32_t{1});
  BOOST_TEST(is(r.error(), errc::storage_failure), render(r.error()));
  set_disk_full(false);
  BOOST_TEST((record(pid).status == process_status::queued));
}

BOOST_AUTO_TEST_SUITE_END()
