// The manager actor: persists before it replies, wakes the supervisor for
// new work, refuses bad requests with the right errc, forwards cancels of
// running processes, and routes events to the subscribers of each pid.

#include <boost/test/unit_test.hpp>

#include "actors/actor_fixture.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct manager_fixture : actor_fixture {
  supervisor_actor sup = stand_in();
  manager_actor mgr = spawn(procman::manager, store, sup);

  manager_fixture() {
    sched.run(); // the manager subscribes to the store
  }

  std::string start(size_t steps = 1) {
    return request<std::string>(mgr, start_request{spec_of(steps), {}, {}})
      .value();
  }

  /// A process of two steps, interrupted after the first.
  std::string interrupted() {
    auto pid = enqueue(2).pid;
    apply(tr::claim(pid, runner_id));
    apply(tr::interrupt(pid, 0, R"({"asked":true})"));
    return pid;
  }

  void subscribe(const std::string& pid, const caf::actor& who) {
    caf::anon_send(mgr, atom::subscribe_v, pid, who);
    sched.run();
  }
};

const std::string unknown_pid = "0123456789abcdef0123456789abcdef";

} // namespace

BOOST_FIXTURE_TEST_SUITE(manager_actor, manager_fixture)

BOOST_AUTO_TEST_CASE(start_persists_the_process_before_it_replies) {
  auto r = ask<std::string>(mgr, start_request{spec_of(2, 30), {}, {}});
  auto stored = std::make_shared<std::optional<process_record>>();
  auto db_ = db;
  r.st->on_arrival = [stored, db_](const caf::expected<std::string>& pid) {
    if (pid)
      if (auto rec = db_->get(*pid))
        *stored = *rec;
  };
  sched.run();
  auto pid = r.value();
  BOOST_REQUIRE_MESSAGE(stored->has_value(), "the store had no record "
                                               << pid
                                               << " when the reply arrived");
  BOOST_TEST((stored->value().status == process_status::queued));
  BOOST_TEST(stored->value().steps.size() == 2u);
  BOOST_TEST(stored->value().timeout == 30u);
  BOOST_TEST(kinds(kinds_of(pid)) == "enqueue");
}

BOOST_AUTO_TEST_CASE(start_wakes_the_supervisor_once_the_process_is_queued) {
  auto r = ask<std::string>(mgr, start_request{spec_of(1), {}, {}});
  sched.run_once(); // the asker sends its request
  BOOST_REQUIRE(sched.prioritize(mgr));
  sched.run_once(); // the manager asks the store
  BOOST_TEST_MESSAGE(
    "the store has not answered: the supervisor is not woken yet");
  BOOST_TEST(!has_job(sup));
  sched.run();
  auto pid = r.value();
  BOOST_REQUIRE(sup_log->wakeups.size() == 1u);
  // The enqueue was in the log when the supervisor woke.
  BOOST_TEST(sup_log->wakeups[0] >= log_of(pid).back().seq);
}

BOOST_AUTO_TEST_CASE(start_under_a_chosen_pid_uses_it_and_refuses_it_twice) {
  auto pid = std::string{"00000000000000000000000000000abc"};
  BOOST_TEST(
    request<std::string>(mgr, start_request{spec_of(1), pid, {}}).value()
    == pid);
  BOOST_TEST((record(pid).status == process_status::queued));
  auto again = request<std::string>(mgr, start_request{spec_of(1), pid, {}});
  BOOST_TEST(is(again.error(), errc::illegal_transition),
             render(again.error()));
  auto bad = request<std::string>(
    mgr, start_request{spec_of(1), std::string{"nope"}, {}});
  BOOST_TEST(is(bad.error(), errc::invalid_argument), render(bad.error()));
  BOOST_TEST(sup_log->wakeups.size() == 1u);
}

BOOST_AUTO_TEST_CASE(
  a_start_proceed_or_cancel_asked_again_under_its_key_acts_once) {
  auto pid = std::string{"00000000000000000000000000000abd"};
  auto key = std::string(32, 'e');
  for (int i = 0; i < 2; ++i)
    BOOST_TEST(
      request<std::string>(mgr, start_request{spec_of(1), pid, key}).value()
      == pid);
  BOOST_TEST(log_of(pid).size() == 1u);
  BOOST_TEST(sup_log->wakeups.size() == 2u);
  auto paused = interrupted();
  auto proceed_key = std::string(32, 'f');
  for (int i = 0; i < 2; ++i)
    BOOST_TEST(request<std::string>(
                 mgr, proceed_request{paused, std::string{"{}"}, proceed_key})
                 .value()
               == paused);
  BOOST_TEST((record(paused).status == process_status::queued));
  auto cancel_key = std::string(32, '1');
  for (int i = 0; i < 2; ++i) {
    auto rec = request<process_record>(mgr, cancel_request{paused, cancel_key});
    BOOST_TEST((rec.value().status == process_status::cancelled));
  }
  size_t proceeds = 0, cancels = 0;
  for (auto& e : log_of(paused)) {
    proceeds += e.what.kind == transition_kind::proceed;
    cancels += e.what.kind == transition_kind::cancel;
  }
  BOOST_TEST(proceeds == 1u);
  BOOST_TEST(cancels == 1u);
  auto bad = request<std::string>(
    mgr, start_request{spec_of(1), std::string(32, '2'), std::string{"k"}});
  BOOST_TEST(is(bad.error(), errc::invalid_argument), render(bad.error()));
}

BOOST_AUTO_TEST_CASE(
  a_bad_spec_is_refused_with_invalid_spec_and_nothing_is_queued) {
  auto before = last_seq();
  BOOST_TEST_MESSAGE("data that is not JSON: refused before the store");
  auto not_json
    = request<std::string>(mgr, start_request{spec_of(1, 0, "{oops"), {}, {}});
  BOOST_TEST(is(not_json.error(), errc::invalid_spec),
             render(not_json.error()));
  BOOST_TEST(render(not_json.error()).find("data") != std::string::npos,
             render(not_json.error()));
  BOOST_TEST_MESSAGE("no steps: refused by the store");
  auto no_steps = request<std::string>(mgr, start_request{spec_of(0), {}, {}});
  BOOST_TEST(is(no_steps.error(), errc::invalid_spec),
             render(no_steps.error()));
  BOOST_TEST(last_seq() == before);
  BOOST_TEST(sup_log->wakeups.empty());
}

BOOST_AUTO_TEST_CASE(info_returns_the_record_and_refuses_an_unknown_pid) {
  auto pid = start(3);
  auto info = request<process_record>(mgr, status_request{pid});
  BOOST_TEST(info.value().pid == pid);
  BOOST_TEST(info.value().steps.size() == 3u);
  auto unknown = request<process_record>(mgr, status_request{unknown_pid});
  BOOST_TEST(is(unknown.error(), errc::unknown_process),
             render(unknown.error()));
}

BOOST_AUTO_TEST_CASE(proceed_queues_the_rest_and_wakes_the_supervisor) {
  auto pid = interrupted();
  auto r = request<std::string>(
    mgr, proceed_request{pid, std::string{R"({"ok":1})"}, {}});
  BOOST_TEST(r.value() == pid);
  auto rec = record(pid);
  BOOST_TEST((rec.status == process_status::queued));
  BOOST_TEST(rec.next_step == 1u);
  auto data = boost::json::parse(rec.data);
  BOOST_TEST(data.at("ok") == 1);
  BOOST_TEST(data.at("asked") == true);
  BOOST_REQUIRE(sup_log->wakeups.size() == 1u);
  BOOST_TEST(sup_log->wakeups[0] >= log_of(pid).back().seq);
}

BOOST_AUTO_TEST_CASE(
  proceed_refuses_bad_data_an_unknown_pid_and_a_process_not_interrupted) {
  auto pid = interrupted();
  auto queued = enqueue().pid;
  auto before = last_seq();
  auto not_object
    = request<std::string>(mgr, proceed_request{pid, std::string{"[1,2]"}, {}});
  BOOST_TEST(is(not_object.error(), errc::invalid_json),
             render(not_object.error()));
  auto malformed = request<std::string>(
    mgr, proceed_request{pid, std::string{"{\"a\":"}, {}});
  BOOST_TEST(is(malformed.error(), errc::invalid_json),
             render(malformed.error()));
  auto unknown = request<std::string>(
    mgr, proceed_request{unknown_pid, std::string{"{}"}, {}});
  BOOST_TEST(is(unknown.error(), errc::unknown_process),
             render(unknown.error()));
  auto not_interrupted
    = request<std::string>(mgr, proceed_request{queued, std::string{"{}"}, {}});
  BOOST_TEST(is(not_interrupted.error(), errc::not_interrupted),
             render(not_interrupted.error()));
  BOOST_TEST(last_seq() == before);
  BOOST_TEST((record(pid).status == process_status::interrupted));
  BOOST_TEST(sup_log->wakeups.empty());
}

BOOST_AUTO_TEST_CASE(
  cancel_of_a_running_process_is_forwarded_to_the_supervisor) {
  auto pid = claimed().pid;
  auto r = request<process_record>(mgr, cancel_request{pid, {}});
  BOOST_TEST((r.value().status == process_status::running));
  BOOST_TEST(r.value().cancel_requested);
  BOOST_TEST(record(pid).cancel_requested);
  BOOST_TEST(sup_log->cancels == std::vector<std::string>{pid},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(
  cancel_of_a_queued_process_ends_it_without_the_supervisor) {
  auto pid = start();
  auto r = request<process_record>(mgr, cancel_request{pid, {}});
  BOOST_TEST((r.value().status == process_status::cancelled));
  BOOST_TEST((record(pid).status == process_status::cancelled));
  BOOST_TEST(sup_log->cancels.empty());
}

BOOST_AUTO_TEST_CASE(cancel_refuses_an_unknown_pid_and_a_finished_process) {
  auto pid = start();
  request<process_record>(mgr, cancel_request{pid, {}});
  auto again = request<process_record>(mgr, cancel_request{pid, {}});
  BOOST_TEST(is(again.error(), errc::already_terminal), render(again.error()));
  auto unknown = request<process_record>(mgr, cancel_request{unknown_pid, {}});
  BOOST_TEST(is(unknown.error(), errc::unknown_process),
             render(unknown.error()));
  BOOST_TEST(sup_log->cancels.empty());
}

BOOST_AUTO_TEST_CASE(list_returns_the_records_with_the_asked_status) {
  auto a = start();
  auto b = start();
  request<process_record>(mgr, cancel_request{a, {}});
  list_query q;
  q.any_status = false;
  q.status = process_status::queued;
  auto queued
    = request<std::vector<process_record>>(mgr, list_request{q}).value();
  BOOST_REQUIRE(queued.size() == 1u);
  BOOST_TEST(queued[0].pid == b);
  auto all = request<std::vector<process_record>>(mgr,
                                                  list_request{list_query{}});
  BOOST_TEST(all.value().size() == 2u);
}

BOOST_AUTO_TEST_CASE(subscribers_get_the_events_of_their_pid_only) {
  auto a = start();
  auto b = start();
  auto [follows_a, seen_a] = event_sink();
  auto [follows_all, seen_all] = event_sink();
  subscribe(a, follows_a);
  subscribe("", follows_all);
  request<process_record>(mgr, cancel_request{b, {}});
  request<process_record>(mgr, cancel_request{a, {}});
  auto c = start();
  BOOST_REQUIRE(seen_a->events.size() == 1u);
  BOOST_TEST(seen_a->events[0].ev.record.pid == a);
  BOOST_TEST((seen_a->events[0].ev.kind == transition_kind::cancel));
  BOOST_TEST((seen_a->events[0].ev.record.status == process_status::cancelled));
  BOOST_TEST(seen_all->count(a) == 1u);
  BOOST_TEST(seen_all->count(b) == 1u);
  BOOST_TEST(seen_all->count(c) == 1u);
  BOOST_TEST(seen_all->events.size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_subscriber_hears_nothing_more_after_unsub) {
  auto pid = enqueue(2).pid;
  auto [sink, seen] = event_sink();
  subscribe(pid, sink);
  request<process_record>(store, atom::apply_v, tr::claim(pid, runner_id));
  BOOST_TEST(seen->events.size() == 1u);
  caf::anon_send(mgr, atom::unsub_v, pid, sink);
  sched.run();
  request<process_record>(store, atom::apply_v, tr::interrupt(pid, 0, "{}"));
  BOOST_TEST(seen->events.size() == 1u);
  BOOST_TEST(state_of<manager_state>(mgr).subscribers[pid].empty());
}

BOOST_AUTO_TEST_CASE(a_subscriber_that_terminates_is_dropped) {
  auto pid = start();
  auto [sink, seen] = event_sink();
  auto [other, seen_other] = event_sink();
  subscribe(pid, sink);
  subscribe("", sink);
  subscribe(pid, other);
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  sched.run();
  auto& subs = state_of<manager_state>(mgr).subscribers;
  BOOST_TEST(subs[pid].size() == 1u);
  BOOST_TEST(subs[""].empty());
  request<process_record>(mgr, cancel_request{pid, {}});
  BOOST_TEST(seen->events.empty());
  BOOST_TEST(seen_other->events.size() == 1u);
}

BOOST_AUTO_TEST_CASE(the_store_tells_the_manager_only_while_someone_listens) {
  // A runner nobody watches sends no event per transition to its manager.
  auto& listeners = state_of<store_state>(store).listeners;
  BOOST_TEST(listeners.empty());
  auto pid = start();
  auto [sink, seen] = event_sink();
  subscribe(pid, sink);
  BOOST_TEST(listeners.size() == 1u);
  caf::anon_send(mgr, atom::unsub_v, pid, sink);
  sched.run();
  BOOST_TEST(listeners.empty());
  // The next subscriber hears the next transition again.
  subscribe("", sink);
  BOOST_TEST(listeners.size() == 1u);
  request<process_record>(mgr, cancel_request{pid, {}});
  BOOST_REQUIRE(seen->events.size() == 1u);
  BOOST_TEST(seen->events[0].ev.record.pid == pid);
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  sched.run();
  BOOST_TEST(listeners.empty());
}

BOOST_AUTO_TEST_SUITE_END()
