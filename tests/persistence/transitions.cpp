// Every transition of store.hpp, legal and illegal, one process at a time and
// in batches.

#include <chrono>
#include <thread>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/lifecycle/front_door.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/time.hpp"

#include "fixtures/json_depth.hpp"
#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
using tk = transition_kind;
using ps = process_status;

namespace {

const ps all_statuses[] = {ps::queued,   ps::running, ps::interrupted,
                           ps::finished, ps::error,   ps::cancelled};

const tk all_kinds[] = {tk::claim,          tk::start,    tk::step_started,
                        tk::step_completed, tk::progress, tk::interrupt,
                        tk::proceed,        tk::finish,   tk::fail,
                        tk::cancel,         tk::purge};

/// What applying `k` to a process in `s` must do: errc{} = legal.
errc expected_outcome(ps s, tk k) {
  switch (k) {
    case tk::claim:
      return s == ps::queued ? errc{} : errc::illegal_transition;
    case tk::start:
    case tk::step_started:
    case tk::step_completed:
    case tk::progress:
    case tk::interrupt:
    case tk::finish:
      return s == ps::running ? errc{} : errc::illegal_transition;
    case tk::proceed:
      return s == ps::interrupted ? errc{} : errc::not_interrupted;
    case tk::fail:
      return s == ps::running || s == ps::queued ? errc{}
                                                 : errc::illegal_transition;
    case tk::cancel:
      return is_terminal(s) ? errc::already_terminal : errc{};
    case tk::purge:
      return is_terminal(s) ? errc{} : errc::illegal_transition;
    default:
      return errc::illegal_transition;
  }
}

/// The status after a legal `k` from `s`.
ps expected_status(ps s, tk k) {
  switch (k) {
    case tk::claim:
      return ps::running;
    case tk::interrupt:
      return ps::interrupted;
    case tk::proceed:
      return ps::queued;
    case tk::finish:
      return ps::finished;
    case tk::fail:
      return ps::error;
    case tk::cancel:
      return s == ps::running ? ps::running : ps::cancelled;
    default:
      return s;
  }
}

transition filled(tk k, const std::string& pid) {
  auto t = make_transition(k, pid);
  t.runner = "r2";
  t.step = 1;
  t.exec_pid = 4242;
  t.data = R"({"k":"v"})";
  t.output = R"({"k":"v"})";
  t.progress.step = "s1";
  t.progress.percent = 50;
  t.error.kind = error_kind::exception;
  t.error.step = "s1";
  t.error.message = "failed";
  return t;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(store_transitions, store_fixture)

BOOST_AUTO_TEST_CASE(enqueue_creates_a_queued_record_and_logs_it) {
  auto rec = enqueue(3);
  BOOST_TEST(rec.pid.size() == 32u);
  BOOST_TEST((rec.status == ps::queued));
  BOOST_TEST(rec.created_at == clock_ms);
  BOOST_TEST(rec.updated_at == clock_ms);
  BOOST_TEST(rec.started_at == 0u);
  BOOST_TEST(rec.timeout == 0u); // the runner's default applies
  BOOST_TEST(rec.steps.size() == 3u);
  BOOST_TEST(rec.steps[1].name == "s1");
  BOOST_TEST(rec.steps[1].cls == "echo");
  BOOST_TEST(rec.step_states.size() == 3u);
  for (auto s : rec.step_states)
    BOOST_TEST((s == step_status::pending));
  BOOST_TEST(rec.data == R"({"n":1})");
  BOOST_TEST(rec.queue_seq == 1u);
  BOOST_TEST(rec.runs == 0u);
  auto again = must(st->get(rec.pid));
  BOOST_TEST((bytes_of(again) == bytes_of(rec)));
  auto entries = must(st->log(0));
  BOOST_REQUIRE(entries.size() == 1u);
  BOOST_TEST(entries[0].seq == 1u);
  BOOST_TEST(entries[0].time == clock_ms);
  BOOST_TEST((entries[0].what.kind == tk::enqueue));
  BOOST_TEST(entries[0].what.pid == rec.pid); // replay re-uses the pid
  BOOST_TEST((entries[0].status_after == ps::queued));
  auto second = enqueue(1);
  BOOST_TEST(second.queue_seq == 2u);
  BOOST_TEST(second.pid != rec.pid);
}

BOOST_AUTO_TEST_CASE(enqueue_uses_a_given_pid_and_the_spec_timeout) {
  std::string pid(32, 'a');
  auto rec = must(st->apply(enqueue_of(spec_json(1, 5), pid)));
  BOOST_TEST(rec.pid == pid);
  BOOST_TEST(rec.timeout == 5u);
}

BOOST_AUTO_TEST_CASE(enqueue_uses_the_default_timeout_of_the_options) {
  auto opts = options();
  opts.dir = tmp.str() + "/other";
  opts.default_timeout = 77;
  auto other = must(store::open(opts));
  auto rec = must(other->apply(enqueue_of(spec_json(1))));
  BOOST_TEST(rec.timeout == 77u);
  // The log holds the spec as it took effect.
  auto entries = must(other->log(0));
  BOOST_REQUIRE(!entries.empty());
  BOOST_TEST(entries.back().what.spec.timeout == 77u);
}

BOOST_AUTO_TEST_CASE(enqueue_through_the_front_door) {
  process_spec spec;
  spec.steps.push_back(step_spec{"only", "echo", R"({"a":1})", {"db"}});
  spec.data = R"({"x":2})";
  auto rec = must(st->apply(must(front_door::start(spec))));
  BOOST_TEST(rec.steps.size() == 1u);
  BOOST_TEST(rec.steps[0].name == "only");
  BOOST_TEST(rec.steps[0].services.size() == 1u);
  BOOST_TEST(rec.data == R"({"x":2})");
  auto entries = must(st->log(0));
  BOOST_REQUIRE(entries.size() == 1u);
  BOOST_TEST(entries[0].what.source == "client");
}

BOOST_AUTO_TEST_CASE(enqueue_refuses_bad_specs_duplicates_and_bad_pids) {
  auto rec = enqueue();
  auto seq = last_seq();
  auto no_class = enqueue_of(spec_json(1));
  no_class.spec.steps[0].cls.clear();
  auto bad = st->apply(no_class);
  BOOST_REQUIRE(!bad);
  BOOST_TEST((is(bad.error(), errc::invalid_spec)));
  BOOST_TEST(render(bad.error())
             == R"(step "s0": field "class" must be a non-empty string)");
  auto bad_args = enqueue_of(spec_json(1));
  bad_args.spec.steps[0].args = "{not json";
  auto garbage = st->apply(bad_args);
  BOOST_REQUIRE(!garbage);
  BOOST_TEST((is(garbage.error(), errc::invalid_spec)));
  auto empty = st->apply(enqueue_of("{}"));
  BOOST_REQUIRE(!empty);
  BOOST_TEST(render(empty.error()) == R"(spec: field "steps" has no steps)");
  auto dup = st->apply(enqueue_of(spec_json(), rec.pid));
  BOOST_REQUIRE(!dup);
  BOOST_TEST((is(dup.error(), errc::illegal_transition)));
  BOOST_TEST(render(dup.error())
             == rec.pid + ": cannot enqueue a queued process");
  auto badpid = st->apply(enqueue_of(spec_json(), "ABC"));
  BOOST_REQUIRE(!badpid);
  BOOST_TEST((is(badpid.error(), errc::invalid_argument)));
  BOOST_TEST(last_seq() == seq);
  BOOST_TEST(must(st->stats()).records == 1u);
}

BOOST_AUTO_TEST_CASE(claim_start_steps_progress_and_finish) {
  auto rec = enqueue(2);
  auto pid = rec.pid;
  clock_ms += 10;
  auto claim = make_transition(tk::claim, pid);
  claim.runner = "runner-1";
  rec = apply(claim);
  BOOST_TEST((rec.status == ps::running));
  BOOST_TEST(rec.runner == "runner-1");
  BOOST_TEST(rec.runs == 1u);
  BOOST_TEST(rec.started_at == clock_ms);
  BOOST_TEST(rec.queue_seq == 0u);
  BOOST_TEST(must(st->stats()).queued == 0u);
  auto start = make_transition(tk::start, pid);
  start.exec_pid = 999;
  rec = apply(start);
  BOOST_TEST(rec.exec_pid == 999);
  auto s0 = make_transition(tk::step_started, pid);
  s0.step = 0;
  rec = apply(s0);
  BOOST_TEST((rec.step_states[0] == step_status::running));
  auto prog = make_transition(tk::progress, pid);
  prog.progress = progress_info{"s0", 42.5, "almost"};
  rec = apply(prog);
  BOOST_TEST(rec.progress.percent == 42.5);
  BOOST_TEST(rec.progress.message == "almost");
  auto c0 = make_transition(tk::step_completed, pid);
  c0.step = 0;
  rec = apply(c0);
  BOOST_TEST((rec.step_states[0] == step_status::completed));
  BOOST_TEST(rec.last_completed == 0);
  BOOST_TEST(last_completed_step(rec) == "s0");
  auto s1 = make_transition(tk::step_started, pid);
  s1.step = 1;
  rec = apply(s1);
  BOOST_TEST(rec.progress.step.empty()); // a new step clears the progress
  BOOST_TEST((rec.step_states[1] == step_status::running));
  clock_ms += 5;
  auto fin = make_transition(tk::finish, pid);
  fin.output = R"({"result":7})";
  rec = apply(fin);
  BOOST_TEST((rec.status == ps::finished));
  BOOST_TEST(rec.output == R"({"result":7})");
  BOOST_TEST(rec.finished_at == clock_ms);
  BOOST_TEST(rec.updated_at == clock_ms);
  BOOST_TEST(rec.exec_pid == 0);
  auto entries = must(st->log(0));
  BOOST_REQUIRE(entries.size() == 8u);
  for (size_t i = 0; i < entries.size(); ++i)
    BOOST_TEST(entries[i].seq == i + 1);
  BOOST_TEST((entries.back().status_after == ps::finished));
  BOOST_TEST(must(st->with_status(ps::finished)).size() == 1u);
  BOOST_TEST(must(st->with_status(ps::running)).empty());
}

BOOST_AUTO_TEST_CASE(step_index_out_of_range_is_refused) {
  auto rec = make_in(ps::running);
  auto seq = last_seq();
  auto t = make_transition(tk::step_completed, rec.pid);
  t.step = 3;
  auto res = st->apply(t);
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::invalid_argument)));
  BOOST_TEST(last_seq() == seq);
}

BOOST_AUTO_TEST_CASE(interrupt_then_proceed_merges_and_requeues) {
  auto rec = make_in(ps::running);
  auto pid = rec.pid;
  auto intr = make_transition(tk::interrupt, pid);
  intr.step = 1;
  intr.output = R"({"question":"ok?","keep":1})";
  rec = apply(intr);
  BOOST_TEST((rec.status == ps::interrupted));
  BOOST_TEST(rec.output == intr.output);
  BOOST_TEST(rec.data == intr.output);
  BOOST_TEST(rec.next_step == 2u);
  BOOST_TEST((rec.step_states[1] == step_status::completed));
  BOOST_TEST(rec.last_completed == 1);
  BOOST_TEST(rec.exec_pid == 0);
  auto bad = make_transition(tk::proceed, pid);
  bad.data = "[1,2]";
  auto refused = st->apply(bad);
  BOOST_REQUIRE(!refused);
  BOOST_TEST((is(refused.error(), errc::invalid_json)));
  BOOST_TEST(render(refused.error()).find(pid) != std::string::npos);
  auto pro = make_transition(tk::proceed, pid);
  pro.data = R"({"question":"yes","extra":true})";
  rec = apply(pro);
  BOOST_TEST((rec.status == ps::queued));
  boost::json::value data = boost::json::parse(rec.data);
  BOOST_TEST(data.at("question").as_string() == "yes"); // proceed data wins
  BOOST_TEST(data.at("keep").as_int64() == 1);
  BOOST_TEST(data.at("extra").as_bool());
  BOOST_TEST(rec.queue_seq > 0u);
  BOOST_TEST(must(st->stats()).queued == 1u);
  // The next claim resets the states of the steps still to run.
  auto claim = make_transition(tk::claim, pid);
  claim.runner = "r9";
  rec = apply(claim);
  BOOST_TEST(rec.runs == 2u);
  BOOST_TEST((rec.step_states[0] == step_status::pending));
  BOOST_TEST((rec.step_states[1] == step_status::completed));
  BOOST_TEST((rec.step_states[2] == step_status::pending));
  BOOST_TEST(rec.runner == "r9");
}

BOOST_AUTO_TEST_CASE(
  a_transition_under_a_remembered_request_key_is_answered_not_applied_again) {
  const std::string start_key(32, 'a'), cancel_key(32, 'b'),
    proceed_key(32, 'c');
  auto t = enqueue_of(spec_json(2));
  t.pid = std::string(31, '0') + "1";
  t.request = start_key;
  auto first = apply(t);
  auto seq = last_seq();
  // The same start again, even under another pid: the first's record,
  // nothing written.
  t.pid = std::string(31, '0') + "2";
  auto again = st->commit({t}, {});
  BOOST_REQUIRE_EQUAL(again.repeated.size(), 1u);
  BOOST_TEST(again.repeated[0]);
  BOOST_TEST(must(again.results[0]).pid == first.pid);
  BOOST_TEST(last_seq() == seq);
  BOOST_TEST(must(st->stats()).queued == 1u);
  // A cancel repeated: no already_terminal, one cancel in the log.
  auto c = make_transition(tk::cancel, first.pid);
  c.request = cancel_key;
  BOOST_TEST((apply(c).status == ps::cancelled));
  seq = last_seq();
  BOOST_TEST((apply(c).status == ps::cancelled));
  BOOST_TEST(last_seq() == seq);
  // Another request (another key, or none) is refused as before.
  auto plain = st->apply(make_transition(tk::cancel, first.pid));
  BOOST_REQUIRE(!plain);
  BOOST_TEST(is(plain.error(), errc::already_terminal));
  // A refusal is not remembered: its repeat is refused again.
  auto p = make_transition(tk::proceed, first.pid);
  p.request = proceed_key;
  for (int i = 0; i < 2; ++i) {
    auto refused = st->apply(p);
    BOOST_REQUIRE(!refused);
    BOOST_TEST(is(refused.error(), errc::not_interrupted));
  }
  // Past defaults::request_memory_ms a key is forgotten (by a later
  // commit that remembers one): the cancel is a new request then.
  clock_ms += defaults::request_memory_ms + 1;
  auto later = enqueue_of(spec_json(1));
  later.request = std::string(32, 'd');
  apply(later);
  auto forgotten = st->apply(c);
  BOOST_REQUIRE(!forgotten);
  BOOST_TEST(is(forgotten.error(), errc::already_terminal));
}

BOOST_AUTO_TEST_CASE(
  a_removal_asked_again_under_its_key_answers_the_pid_and_writes_nothing) {
  auto rec = make_in(ps::finished);
  auto t = make_transition(tk::purge, rec.pid);
  t.request = std::string(32, 'e');
  BOOST_TEST(apply(t).pid == rec.pid);
  BOOST_TEST(!st->get(rec.pid));
  auto seq = last_seq();
  auto again = st->commit({t}, {});
  BOOST_REQUIRE_EQUAL(again.repeated.size(), 1u);
  BOOST_TEST(again.repeated[0]);
  BOOST_TEST(must(again.results[0]).pid == rec.pid);
  BOOST_TEST(last_seq() == seq);
  // Without the key it is a new request, for a process there is not.
  auto plain = st->apply(make_transition(tk::purge, rec.pid));
  BOOST_REQUIRE(!plain);
  BOOST_TEST(is(plain.error(), errc::unknown_process));
  // Another kind under a key whose process is gone is not answered so.
  auto queued = make_in(ps::queued);
  auto c = make_transition(tk::cancel, queued.pid);
  c.request = std::string(32, 'f');
  BOOST_TEST((apply(c).status == ps::cancelled));
  BOOST_TEST(apply(make_transition(tk::purge, queued.pid)).pid == queued.pid);
  auto gone = st->apply(c);
  BOOST_REQUIRE(!gone);
  BOOST_TEST(is(gone.error(), errc::unknown_process));
}

BOOST_AUTO_TEST_CASE(
  payloads_deeper_than_the_json_limit_or_with_repeated_keys_are_refused) {
  auto limit = defaults::max_json_depth;
  auto too_deep = " is nested deeper than " + std::to_string(limit) + " levels";
  auto rec = make_in(ps::running);
  auto pid = rec.pid;
  auto fin = make_transition(tk::finish, pid);
  fin.output = nested_object(limit + 1);
  auto refused = st->apply(fin);
  BOOST_REQUIRE(!refused);
  BOOST_TEST((is(refused.error(), errc::invalid_json)));
  BOOST_TEST(render(refused.error()) == pid + ": finish output" + too_deep);
  auto intr = make_transition(tk::interrupt, pid);
  intr.step = 1;
  intr.output = nested_object(limit, "out");
  rec = apply(intr);
  BOOST_TEST(rec.output == intr.output);
  auto seq = must(st->stats()).last_seq;
  for (auto data :
       {nested_object(limit + 1), std::string{R"({"k":1,"k":2})"}}) {
    auto pro = make_transition(tk::proceed, pid);
    pro.data = data;
    refused = st->apply(pro);
    BOOST_REQUIRE(!refused);
    BOOST_TEST((is(refused.error(), errc::invalid_json)));
    BOOST_TEST_INFO(render(refused.error()));
    BOOST_TEST(render(refused.error()).find(pid + ": proceed data") == 0u);
  }
  BOOST_TEST(must(st->stats()).last_seq == seq); // nothing written
  BOOST_TEST((must(st->get(pid)).status == ps::interrupted));
  auto pro = make_transition(tk::proceed, pid);
  pro.data = nested_object(limit, "in");
  rec = apply(pro);
  auto data = parse_deep(rec.data);
  BOOST_TEST(depth_of(data) == limit);
  BOOST_TEST(boost::json::serialize(data.at("out"))
             == boost::json::serialize(parse_deep(intr.output).at("out")));
  BOOST_TEST(boost::json::serialize(data.at("in"))
             == boost::json::serialize(parse_deep(pro.data).at("in")));
}

BOOST_AUTO_TEST_CASE(proceed_of_a_not_interrupted_process_is_refused) {
  auto rec = make_in(ps::running);
  auto res = st->apply(make_transition(tk::proceed, rec.pid));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::not_interrupted)));
  BOOST_TEST(render(res.error())
             == rec.pid
                  + ": cannot proceed a running process; only an "
                    "interrupted one can be proceeded");
}

BOOST_AUTO_TEST_CASE(claim_resets_states_from_next_step_after_a_lost_run) {
  // A process failed mid-run keeps its error until a new claim would clear
  // it; here: interrupted at step 0, proceeded, claimed, step 1 ran.
  auto rec = make_in(ps::interrupted);
  auto pid = rec.pid;
  rec = apply(tk::proceed, pid);
  auto claim = make_transition(tk::claim, pid);
  claim.runner = "r";
  rec = apply(claim);
  auto s1 = make_transition(tk::step_started, pid);
  s1.step = 1;
  rec = apply(s1);
  BOOST_TEST((rec.step_states[1] == step_status::running));
}

BOOST_AUTO_TEST_CASE(fail_from_running_and_from_queued) {
  auto running = make_in(ps::running);
  auto t = make_transition(tk::fail, running.pid);
  t.error.kind = error_kind::timeout;
  t.error.step = "s1";
  t.error.message = "ran past 60 s";
  clock_ms += 3;
  auto rec = apply(t);
  BOOST_TEST((rec.status == ps::error));
  BOOST_TEST((rec.error.kind == error_kind::timeout));
  BOOST_TEST(rec.error.message == "ran past 60 s");
  BOOST_TEST((rec.step_states[1] == step_status::failed));
  BOOST_TEST(rec.finished_at == clock_ms);
  auto queued = make_in(ps::queued);
  auto f = make_transition(tk::fail, queued.pid);
  f.error.kind = error_kind::spec;
  f.error.message = "unknown class";
  rec = apply(f);
  BOOST_TEST((rec.status == ps::error));
  BOOST_TEST(rec.queue_seq == 0u);
  BOOST_TEST(must(st->stats()).queued == 0u);
  auto claimed = must(st->claim("r", 10));
  BOOST_TEST(claimed.empty());
}

BOOST_AUTO_TEST_CASE(cancel_of_each_state) {
  auto queued = make_in(ps::queued);
  auto rec = apply(tk::cancel, queued.pid);
  BOOST_TEST((rec.status == ps::cancelled));
  BOOST_TEST(rec.finished_at == clock_ms);
  BOOST_TEST(must(st->stats()).queued == 0u);
  auto interrupted = make_in(ps::interrupted);
  rec = apply(tk::cancel, interrupted.pid);
  BOOST_TEST((rec.status == ps::cancelled));
  // Running: first a request, then the runner ends it.
  auto running = make_in(ps::running);
  auto start = make_transition(tk::start, running.pid);
  start.exec_pid = 77;
  apply(start);
  rec = apply(tk::cancel, running.pid);
  BOOST_TEST((rec.status == ps::running));
  BOOST_TEST(rec.cancel_requested);
  BOOST_TEST(rec.exec_pid == 77);
  rec = apply(tk::cancel, running.pid);
  BOOST_TEST((rec.status == ps::cancelled));
  BOOST_TEST(rec.exec_pid == 0);
  auto again = st->apply(make_transition(tk::cancel, running.pid));
  BOOST_REQUIRE(!again);
  BOOST_TEST((is(again.error(), errc::already_terminal)));
  BOOST_TEST(render(again.error())
             == running.pid + ": cannot cancel a cancelled process");
}

BOOST_AUTO_TEST_CASE(purge_removes_a_terminal_record) {
  auto rec = make_in(ps::finished);
  auto removed = apply(tk::purge, rec.pid);
  BOOST_TEST(removed.pid == rec.pid);
  BOOST_TEST((removed.status == ps::finished));
  auto gone = st->get(rec.pid);
  BOOST_REQUIRE(!gone);
  BOOST_TEST((is(gone.error(), errc::unknown_process)));
  BOOST_TEST(render(gone.error()) == "no process " + rec.pid);
  BOOST_TEST(must(st->stats()).records == 0u);
  BOOST_TEST(must(st->with_status(ps::finished)).empty());
  BOOST_TEST(must(st->list(list_query{})).empty());
  auto entries = must(st->log(0, SIZE_MAX, rec.pid));
  BOOST_REQUIRE(!entries.empty());
  BOOST_TEST((entries.back().what.kind == tk::purge));
  BOOST_TEST((entries.back().status_after == ps::finished));
}

BOOST_AUTO_TEST_CASE(unknown_pids_are_refused) {
  std::string pid(32, 'f');
  for (auto k : all_kinds) {
    auto res = st->apply(filled(k, pid));
    BOOST_REQUIRE(!res);
    BOOST_TEST((is(res.error(), errc::unknown_process)),
               to_string(k) << ": " << render(res.error()));
    BOOST_TEST(render(res.error()) == "no process " + pid);
  }
  BOOST_TEST(last_seq() == 0u);
  auto res = st->get(pid);
  BOOST_TEST((!res && is(res.error(), errc::unknown_process)));
}

BOOST_AUTO_TEST_CASE(every_transition_from_every_state) {
  // A fresh process per (state, kind): legal ones change the state and add
  // exactly one log entry; illegal ones are refused with the right code and
  // leave record and log untouched.
  size_t legal = 0;
  size_t illegal = 0;
  for (auto s : all_statuses) {
    for (auto k : all_kinds) {
      auto rec = make_in(s);
      BOOST_REQUIRE((rec.status == s));
      auto before = bytes_of(must(st->get(rec.pid)));
      auto seq = last_seq();
      auto stats_before = must(st->stats());
      auto want = expected_outcome(s, k);
      clock_ms += 1;
      auto res = st->apply(filled(k, rec.pid));
      auto label = to_string(k) + " from " + to_string(s);
      if (want == errc{}) {
        ++legal;
        if (!res) {
          BOOST_ERROR(label << " refused: " << render(res.error()));
          continue;
        }
        BOOST_TEST(last_seq() == seq + 1, label);
        auto entries = must(st->log(seq));
        BOOST_REQUIRE(entries.size() == 1u);
        BOOST_TEST((entries[0].what.kind == k), label);
        BOOST_TEST(entries[0].what.pid == rec.pid, label);
        if (k == tk::purge) {
          BOOST_TEST(!st->get(rec.pid), label);
          continue;
        }
        BOOST_TEST((res->status == expected_status(s, k)), label);
        BOOST_TEST((entries[0].status_after == res->status), label);
        BOOST_TEST(res->updated_at == clock_ms, label);
        BOOST_TEST((bytes_of(must(st->get(rec.pid))) == bytes_of(*res)), label);
        if (res->status != ps::running)
          BOOST_TEST(res->exec_pid == 0, label);
      } else {
        ++illegal;
        BOOST_TEST(!res, label);
        if (res)
          continue;
        BOOST_TEST((is(res.error(), want)),
                   label << ": " << render(res.error()));
        if (want == errc::illegal_transition)
          BOOST_TEST(render(res.error())
                       == rec.pid + ": cannot " + to_string(k) + " a "
                            + to_string(s) + " process",
                     label);
        BOOST_TEST((bytes_of(must(st->get(rec.pid))) == before), label);
        BOOST_TEST(last_seq() == seq, label);
        auto stats_after = must(st->stats());
        BOOST_TEST(stats_after.records == stats_before.records, label);
        BOOST_TEST(stats_after.queued == stats_before.queued, label);
      }
    }
    // Enqueueing an existing pid is refused in every state.
    auto rec = make_in(s);
    auto seq = last_seq();
    auto dup = st->apply(enqueue_of(spec_json(), rec.pid));
    BOOST_TEST((!dup && is(dup.error(), errc::illegal_transition)));
    BOOST_TEST(last_seq() == seq);
  }
  BOOST_TEST_MESSAGE(legal << " legal and " << illegal
                           << " illegal transitions checked");
  BOOST_TEST(legal == 16u);
  BOOST_TEST(illegal == 50u);
}

BOOST_AUTO_TEST_SUITE_END()

// -- batches ------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(store_batch, store_fixture)

BOOST_AUTO_TEST_CASE(a_refused_member_writes_nothing_and_the_rest_commit) {
  auto a = make_in(ps::queued);
  auto b = make_in(ps::queued);
  auto seq = last_seq();
  std::string x(32, 'c');
  std::vector<transition> batch;
  batch.push_back(enqueue_of(spec_json(2), x)); // ok
  auto claim_x = make_transition(tk::claim, x); // ok: sees the enqueue
  claim_x.runner = "r";
  batch.push_back(claim_x);
  batch.push_back(claim_x);                             // refused: running now
  batch.push_back(make_transition(tk::finish, b.pid));  // refused: queued
  batch.push_back(make_transition(tk::cancel, a.pid));  // ok
  batch.push_back(make_transition(tk::proceed, b.pid)); // refused
  auto res = st->apply(batch);
  BOOST_REQUIRE(res.size() == 6u);
  BOOST_TEST(bool(res[0]));
  BOOST_TEST(bool(res[1]));
  BOOST_REQUIRE(!res[2]);
  BOOST_TEST((is(res[2].error(), errc::illegal_transition)));
  BOOST_REQUIRE(!res[3]);
  BOOST_TEST((is(res[3].error(), errc::illegal_transition)));
  BOOST_TEST(bool(res[4]));
  BOOST_REQUIRE(!res[5]);
  BOOST_TEST((is(res[5].error(), errc::not_interrupted)));
  BOOST_TEST((must(st->get(x)).status == ps::running));
  BOOST_TEST((must(st->get(a.pid)).status == ps::cancelled));
  BOOST_TEST((must(st->get(b.pid)).status == ps::queued));
  auto entries = must(st->log(seq));
  BOOST_REQUIRE(entries.size() == 3u);
  for (size_t i = 0; i < entries.size(); ++i)
    BOOST_TEST(entries[i].seq == seq + 1 + i);
  BOOST_TEST((entries[0].what.kind == tk::enqueue));
  BOOST_TEST((entries[1].what.kind == tk::claim));
  BOOST_TEST((entries[2].what.kind == tk::cancel));
  // All of one commit share its time.
  BOOST_TEST(entries[0].time == entries[2].time);
}

BOOST_AUTO_TEST_CASE(a_batch_of_only_refusals_changes_nothing) {
  auto a = make_in(ps::finished);
  auto seq = last_seq();
  auto before = bytes_of(a);
  std::vector<transition> batch{make_transition(tk::finish, a.pid),
                                make_transition(tk::claim, a.pid),
                                make_transition(tk::cancel, a.pid)};
  auto res = st->apply(batch);
  for (auto& r : res)
    BOOST_TEST(!r);
  BOOST_TEST(last_seq() == seq);
  BOOST_TEST((bytes_of(must(st->get(a.pid))) == before));
}

BOOST_AUTO_TEST_CASE(generated_pids_are_recorded_in_the_log) {
  std::vector<transition> batch{enqueue_of(spec_json()),
                                enqueue_of(spec_json())};
  auto res = st->apply(batch);
  BOOST_REQUIRE(res.size() == 2u);
  BOOST_REQUIRE(res[0]);
  BOOST_REQUIRE(res[1]);
  BOOST_TEST(res[0]->pid != res[1]->pid);
  auto entries = must(st->log(0));
  BOOST_REQUIRE(entries.size() == 2u);
  BOOST_TEST(entries[0].what.pid == res[0]->pid);
  BOOST_TEST(entries[1].what.pid == res[1]->pid);
  BOOST_TEST(entries[0].what.spec.steps.size() == batch[0].spec.steps.size());
}

BOOST_AUTO_TEST_CASE(claims_past_the_queue_end_are_refused_until_work_queues) {
  auto a = enqueue(1);
  auto claims = store::claims("r", 4);
  std::string x(32, 'd');
  claims.push_back(enqueue_of(spec_json(1), x));
  auto more = store::claims("r", 2);
  claims.insert(claims.end(), more.begin(), more.end());
  auto res = st->apply(claims);
  BOOST_REQUIRE(res.size() == 7u);
  BOOST_REQUIRE(res[0]);
  BOOST_TEST(res[0]->pid == a.pid);
  BOOST_TEST_MESSAGE("the queue is empty for the rest of the first claims");
  for (size_t i = 1; i < 4; ++i) {
    BOOST_REQUIRE(!res[i]);
    BOOST_TEST((is(res[i].error(), errc::queue_empty)));
    BOOST_TEST(render(res[i].error()) == "no queued process to claim");
  }
  BOOST_TEST_MESSAGE("an enqueue between them: the next claim takes it");
  BOOST_REQUIRE(res[4]);
  BOOST_REQUIRE(res[5]);
  BOOST_TEST(res[5]->pid == x);
  BOOST_TEST((res[5]->status == ps::running));
  BOOST_REQUIRE(!res[6]);
  BOOST_TEST((is(res[6].error(), errc::queue_empty)));
  BOOST_TEST(must(st->stats()).queued == 0u);
}

BOOST_AUTO_TEST_CASE(an_empty_batch_is_a_no_op) {
  BOOST_TEST(st->apply(std::vector<transition>{}).empty());
  BOOST_TEST(last_seq() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// -- queue --------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(store_queue, store_fixture)

BOOST_AUTO_TEST_CASE(
  claims_come_in_fifo_order_and_proceed_requeues_at_the_end) {
  std::vector<std::string> pids;
  for (int i = 0; i < 6; ++i)
    pids.push_back(enqueue(2).pid);
  auto first = must(st->claim("r1", 2));
  BOOST_REQUIRE(first.size() == 2u);
  BOOST_TEST(first[0].pid == pids[0]);
  BOOST_TEST(first[1].pid == pids[1]);
  BOOST_TEST(first[0].runner == "r1");
  // apply(claim) without a pid takes the head, and the log names the pid.
  auto seq = last_seq();
  auto head = make_transition(tk::claim);
  head.runner = "r2";
  auto third = apply(head);
  BOOST_TEST(third.pid == pids[2]);
  auto entries = must(st->log(seq));
  BOOST_REQUIRE(entries.size() == 1u);
  BOOST_TEST(entries[0].what.pid == pids[2]);
  // A claim by pid takes it out of the middle.
  auto mid = make_transition(tk::claim, pids[4]);
  mid.runner = "r3";
  apply(mid);
  // pids[0] pauses and is proceeded: it queues behind pids[3] and pids[5].
  auto intr = make_transition(tk::interrupt, pids[0]);
  intr.step = 0;
  intr.output = "{}";
  apply(intr);
  apply(tk::proceed, pids[0]);
  auto rest = must(st->claim("r1", 10));
  BOOST_REQUIRE(rest.size() == 3u);
  BOOST_TEST(rest[0].pid == pids[3]);
  BOOST_TEST(rest[1].pid == pids[5]);
  BOOST_TEST(rest[2].pid == pids[0]);
  BOOST_TEST(must(st->claim("r1", 10)).empty());
  auto none = st->apply(head);
  BOOST_REQUIRE(!none);
  BOOST_TEST((is(none.error(), errc::queue_empty)));
  BOOST_TEST(render(none.error()) == "no queued process to claim");
  BOOST_TEST(must(st->stats()).queued == 0u);
}

BOOST_AUTO_TEST_CASE(claim_logs_one_entry_per_process_in_one_commit) {
  for (int i = 0; i < 4; ++i)
    enqueue(1);
  auto seq = last_seq();
  clock_ms += 100;
  auto got = must(st->claim("r", 3));
  BOOST_REQUIRE(got.size() == 3u);
  auto entries = must(st->log(seq));
  BOOST_REQUIRE(entries.size() == 3u);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST((entries[i].what.kind == tk::claim));
    BOOST_TEST(entries[i].what.pid == got[i].pid);
    BOOST_TEST(entries[i].what.runner == "r");
    BOOST_TEST(entries[i].time == clock_ms);
    BOOST_TEST((entries[i].status_after == ps::running));
  }
  BOOST_TEST(must(st->claim("r", 0)).empty());
}

BOOST_AUTO_TEST_SUITE_END()

// -- reads --------------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(store_reads, store_fixture)

BOOST_AUTO_TEST_CASE(list_is_newest_first_with_filter_and_limit) {
  std::vector<std::string> pids;
  for (int i = 0; i < 10; ++i) {
    clock_ms += 1000;
    pids.push_back(enqueue(1).pid);
  }
  for (int i = 0; i < 10; i += 2) {
    auto t = make_transition(tk::claim, pids[static_cast<size_t>(i)]);
    t.runner = "r";
    apply(t);
  }
  list_query all;
  all.limit = 4;
  auto got = must(st->list(all));
  BOOST_REQUIRE(got.size() == 4u);
  for (size_t i = 0; i < 4; ++i)
    BOOST_TEST(got[i].pid == pids[9 - i]);
  all.limit = 0; // no limit
  BOOST_TEST(must(st->list(all)).size() == 10u);
  // Filter with few matches (read and sorted) ...
  list_query running;
  running.any_status = false;
  running.status = ps::running;
  running.limit = 100;
  got = must(st->list(running));
  BOOST_REQUIRE(got.size() == 5u);
  BOOST_TEST(got[0].pid == pids[8]);
  BOOST_TEST(got[4].pid == pids[0]);
  // ... and with more matches than the limit (walks the created index).
  running.limit = 2;
  got = must(st->list(running));
  BOOST_REQUIRE(got.size() == 2u);
  BOOST_TEST(got[0].pid == pids[8]);
  BOOST_TEST(got[1].pid == pids[6]);
  list_query finished;
  finished.any_status = false;
  finished.status = ps::finished;
  BOOST_TEST(must(st->list(finished)).empty());
  BOOST_TEST(must(st->with_status(ps::queued)).size() == 5u);
  BOOST_TEST(must(st->with_status(ps::running)).size() == 5u);
}

BOOST_AUTO_TEST_CASE(log_reads_since_with_limit_and_pid_filter) {
  auto a = make_in(ps::finished); // 3 entries
  auto b = make_in(ps::running);  // 2 entries
  BOOST_TEST(last_seq() == 5u);
  auto all = must(st->log(0));
  BOOST_REQUIRE(all.size() == 5u);
  auto tail = must(st->log(3));
  BOOST_REQUIRE(tail.size() == 2u);
  BOOST_TEST(tail[0].seq == 4u);
  auto limited = must(st->log(0, 2));
  BOOST_REQUIRE(limited.size() == 2u);
  BOOST_TEST(limited[1].seq == 2u);
  auto only_b = must(st->log(0, SIZE_MAX, b.pid));
  BOOST_REQUIRE(only_b.size() == 2u);
  BOOST_TEST(only_b[0].what.pid == b.pid);
  BOOST_TEST(only_b[1].seq == 5u);
  BOOST_TEST(must(st->log(5)).empty());
  BOOST_TEST(must(st->log(UINT64_MAX)).empty());
  BOOST_TEST(must(st->log(0, SIZE_MAX, a.pid)).size() == 3u);
}

BOOST_AUTO_TEST_CASE(stats_count_records_queue_and_log) {
  make_in(ps::queued);
  make_in(ps::queued);
  make_in(ps::running);
  auto s = must(st->stats());
  BOOST_TEST(s.records == 3u);
  BOOST_TEST(s.queued == 2u);
  BOOST_TEST(s.last_seq == 4u);
  BOOST_TEST(s.first_seq == 1u);
  BOOST_TEST(s.map_size >= defaults::initial_map_size);
  BOOST_TEST(s.used_bytes > 0u);
  BOOST_TEST(s.used_bytes <= s.map_size);
}

BOOST_AUTO_TEST_CASE(data_survives_reopening_and_the_log_continues) {
  auto rec = make_in(ps::interrupted);
  st.reset();
  st = must(store::open(options()));
  auto again = must(st->get(rec.pid));
  BOOST_TEST((bytes_of(again) == bytes_of(rec)));
  auto next = enqueue(1);
  BOOST_TEST(last_seq() == 4u);
  BOOST_TEST(next.queue_seq == 2u);
  BOOST_TEST(st->dir() == options().dir);
  BOOST_TEST(st->now() == clock_ms);
}

BOOST_AUTO_TEST_CASE(pids_are_32_lowercase_hex_and_distinct) {
  auto a = store::make_pid();
  auto b = store::make_pid();
  BOOST_TEST(a.size() == 32u);
  BOOST_TEST(a.find_first_not_of("0123456789abcdef") == std::string::npos);
  BOOST_TEST(a != b);
}

BOOST_AUTO_TEST_CASE(pids_start_with_their_creation_time) {
  // 48 bits of unix milliseconds, then random bits: pids made in different
  // milliseconds sort by creation, which keeps the pid-keyed indexes
  // growing at their ends.
  auto before = now_ms();
  auto a = store::make_pid();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto b = store::make_pid();
  auto after = now_ms();
  auto ms_of = [](const std::string& pid) {
    return std::stoull(pid.substr(0, 12), nullptr, 16);
  };
  BOOST_TEST(ms_of(a) >= before);
  BOOST_TEST(ms_of(b) <= after);
  BOOST_TEST(a < b);
  BOOST_TEST(a.substr(12) != b.substr(12));
}

BOOST_AUTO_TEST_SUITE_END()

// -- retention ----------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(store_retention, store_fixture)

BOOST_AUTO_TEST_CASE(purge_removes_old_terminal_keeps_interrupted_and_recent) {
  auto retention = defaults::retention_ms;
  auto old_finished = make_in(ps::finished);
  auto old_failed = make_in(ps::error);
  auto old_cancelled = make_in(ps::cancelled);
  auto old_interrupted = make_in(ps::interrupted);
  auto old_queued = make_in(ps::queued);
  auto old_seq = last_seq();
  clock_ms += retention / 2;
  auto mid_finished = make_in(ps::finished);
  clock_ms += retention / 2 + 1;
  auto recent = make_in(ps::finished);
  auto seq = last_seq();
  BOOST_TEST(must(st->purge()) == 3u);
  for (auto* gone : {&old_finished, &old_failed, &old_cancelled}) {
    auto r = st->get(gone->pid);
    BOOST_TEST((!r && is(r.error(), errc::unknown_process)));
  }
  for (auto* kept : {&old_interrupted, &old_queued, &mid_finished, &recent})
    BOOST_TEST(bool(st->get(kept->pid)));
  // One purge entry per removed record, numbered on from the last.
  auto entries = must(st->log(seq));
  BOOST_REQUIRE(entries.size() == 3u);
  for (size_t i = 0; i < 3; ++i) {
    BOOST_TEST((entries[i].what.kind == tk::purge));
    BOOST_TEST(entries[i].seq == seq + 1 + i);
    BOOST_TEST(is_terminal(entries[i].status_after));
  }
  // Log entries older than the retention period are trimmed.
  auto s = must(st->stats());
  BOOST_TEST(s.first_seq == old_seq + 1);
  BOOST_TEST(s.last_seq == seq + 3);
  BOOST_TEST(s.records == 4u);
  auto rest = must(st->log(0));
  BOOST_REQUIRE(!rest.empty());
  BOOST_TEST(rest.front().seq == old_seq + 1);
  BOOST_TEST(must(st->purge()) == 0u);
  // Later, the middle one expires too.
  clock_ms += retention / 2;
  BOOST_TEST(must(st->purge()) == 1u);
  BOOST_TEST(!st->get(mid_finished.pid));
  BOOST_TEST(bool(st->get(old_interrupted.pid)));
}

BOOST_AUTO_TEST_CASE(purge_handles_more_than_one_chunk) {
  std::vector<transition> batch;
  for (int i = 0; i < 4500; ++i)
    batch.push_back(enqueue_of(spec_json(1)));
  for (auto& r : st->apply(batch))
    BOOST_REQUIRE(r);
  batch.clear();
  for (auto& rec : must(st->with_status(ps::queued)))
    batch.push_back(make_transition(tk::cancel, rec.pid));
  for (auto& r : st->apply(batch))
    BOOST_REQUIRE(r);
  clock_ms += defaults::retention_ms + 1;
  auto keep = make_in(ps::finished);
  BOOST_TEST(must(st->purge()) == 4500u);
  auto s = must(st->stats());
  BOOST_TEST(s.records == 1u);
  BOOST_TEST(s.last_seq == 9000u + 3u + 4500u);
  BOOST_TEST(bool(st->get(keep.pid)));
}

BOOST_AUTO_TEST_SUITE_END()
