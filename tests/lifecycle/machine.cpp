// The life cycle as a pure function (lifecycle/machine.hpp): every kind of
// transition from every state, legal and illegal, the refusals' codes and
// messages, and what each legal transition does to the record. No store,
// no children.

#include "procman/lifecycle/machine.hpp"

#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/persistence/codec.hpp"

#include "fixtures/json_depth.hpp"

using namespace procman;
using namespace procman::test;
using tk = transition_kind;
using ps = process_status;

namespace {

const std::string pid = "0123456789abcdef0123456789abcdef";
constexpr uint64_t now = 1'700'000'000'000;

/// Where a process can be; `requested` is running with cancel_requested.
enum class where {
  none,
  queued,
  running,
  requested,
  interrupted,
  finished,
  error,
  cancelled,
  held
};

const where everywhere[]
  = {where::none,      where::queued,      where::running,
     where::requested, where::interrupted, where::finished,
     where::error,     where::cancelled,   where::held};

const tk every_kind[] = {tk::enqueue,      tk::claim,          tk::start,
                         tk::step_started, tk::step_completed, tk::progress,
                         tk::interrupt,    tk::proceed,        tk::finish,
                         tk::fail,         tk::cancel,         tk::purge,
                         tk::retry,        tk::hold,           tk::release};

ps status_of(where w) {
  switch (w) {
    case where::queued:
      return ps::queued;
    case where::running:
    case where::requested:
      return ps::running;
    case where::interrupted:
      return ps::interrupted;
    case where::finished:
      return ps::finished;
    case where::error:
      return ps::error;
    case where::cancelled:
      return ps::cancelled;
    case where::held:
      return ps::held;
    default:
      return ps::queued;
  }
}

std::string name_of(where w) {
  switch (w) {
    case where::none:
      return "none";
    case where::requested:
      return "running (cancel requested)";
    default:
      return to_string(status_of(w));
  }
}

process_spec spec_of(size_t steps) {
  process_spec spec;
  for (size_t i = 0; i < steps; ++i)
    spec.steps.push_back(
      {"s" + std::to_string(i), "echo", "[" + std::to_string(i) + "]", {}});
  spec.data = R"({"n":1})";
  return spec;
}

/// A record of three steps in `w` as the life cycle would have left it.
process_record record_in(where w) {
  process_record r;
  r.pid = pid;
  r.status = status_of(w);
  r.created_at = now - 5000;
  r.updated_at = now - 1000;
  r.steps = spec_of(3).steps;
  r.step_states.assign(3, step_status::pending);
  r.data = R"({"n":1})";
  if (w != where::queued && w != where::held) {
    r.started_at = now - 4000;
    r.runner = "r1";
    r.runs = 1;
  }
  switch (w) {
    case where::queued:
    case where::held:
      r.queue_seq = 7;
      break;
    case where::running:
    case where::requested:
      r.exec_pid = 4242;
      r.step_states[0] = step_status::completed;
      r.step_states[1] = step_status::running;
      r.last_completed = 0;
      r.progress = {"s1", 30, "working"};
      r.cancel_requested = w == where::requested;
      break;
    case where::interrupted:
      r.step_states[0] = step_status::completed;
      r.last_completed = 0;
      r.next_step = 1;
      r.output = R"({"asked":true})";
      r.data = r.output;
      break;
    case where::finished:
    case where::error:
    case where::cancelled:
      r.finished_at = now - 2000;
      break;
    default:
      break;
  }
  return r;
}

/// A transition of kind `k` with a payload that is valid for it.
transition of(tk k) {
  transition t;
  t.kind = k;
  t.pid = pid;
  t.source = "test";
  switch (k) {
    case tk::enqueue:
      t.spec = spec_of(2);
      break;
    case tk::claim:
      t.runner = "r2";
      break;
    case tk::start:
      t.runner = "r2";
      t.exec_pid = 77;
      t.timeout = 60;
      break;
    case tk::step_started:
    case tk::step_completed:
      t.step = 1;
      break;
    case tk::progress:
      t.step = 1;
      t.progress = {"s1", 50, "half"};
      break;
    case tk::interrupt:
      t.step = 1;
      t.output = R"({"question":"ok?"})";
      break;
    case tk::proceed:
      t.data = R"({"answer":"yes"})";
      break;
    case tk::finish:
      t.output = R"({"result":7})";
      break;
    case tk::fail:
      t.error.kind = error_kind::exception;
      t.error.step = "s1";
      t.error.message = "boom";
      break;
    default:
      break;
  }
  return t;
}

/// What `k` from `w` must do: a refusal's code, or errc{} and the status
/// after (with cancel_requested for `where::requested`).
struct verdict {
  errc code = errc{};
  where after = where::none;
};

verdict expected(where w, tk k) {
  auto ok = [](where after) { return verdict{errc{}, after}; };
  auto no = [](errc code) { return verdict{code, where::none}; };
  if (w == where::none)
    return k == tk::enqueue ? ok(where::queued) : no(errc::unknown_process);
  auto running = w == where::running || w == where::requested;
  auto terminal = w == where::finished || w == where::error
                  || w == where::cancelled;
  switch (k) {
    case tk::enqueue:
      return no(errc::illegal_transition);
    case tk::claim:
      return w == where::queued ? ok(where::running)
                                : no(errc::illegal_transition);
    case tk::start:
    case tk::step_started:
    case tk::step_completed:
    case tk::progress:
      return running ? ok(w) : no(errc::illegal_transition);
    case tk::interrupt:
      return running ? ok(where::interrupted) : no(errc::illegal_transition);
    case tk::finish:
      return running ? ok(where::finished) : no(errc::illegal_transition);
    case tk::proceed:
      return w == where::interrupted ? ok(where::queued)
                                     : no(errc::not_interrupted);
    case tk::fail:
      return running || w == where::queued ? ok(where::error)
                                           : no(errc::illegal_transition);
    case tk::cancel:
      if (terminal)
        return no(errc::already_terminal);
      return w == where::running ? ok(where::requested) : ok(where::cancelled);
    case tk::purge:
      return terminal ? ok(w) : no(errc::illegal_transition);
    case tk::retry:
      return w == where::error ? ok(where::queued)
                               : no(errc::illegal_transition);
    case tk::hold:
      return w == where::queued ? ok(where::held)
                                : no(errc::illegal_transition);
    case tk::release:
      return w == where::held ? ok(where::queued)
                              : no(errc::illegal_transition);
    default:
      break;
  }
  return no(errc::illegal_transition);
}

/// The message of a refusal of `k` from `w`.
std::string refusal_message(where w, tk k, errc code) {
  auto status = to_string(status_of(w));
  switch (code) {
    case errc::unknown_process:
      return "no process " + pid;
    case errc::not_interrupted:
      return pid + ": cannot proceed a " + status
             + " process; only an interrupted one can be proceeded";
    default:
      break;
  }
  auto refusal = pid + ": cannot " + to_string(k) + " a " + status + " process";
  if (k == tk::hold)
    return refusal + "; only a queued or delayed one can be held";
  if (k == tk::release)
    return refusal + "; only a held one can be released";
  return refusal;
}

outcome<process_record> apply_to(where w, const transition& t) {
  if (w == where::none)
    return procman::next(nullptr, t, now);
  auto rec = record_in(w);
  return procman::next(&rec, t, now);
}

outcome<process_record> apply_to(const process_record& rec,
                                 const transition& t) {
  return procman::next(&rec, t, now);
}

process_record must(outcome<process_record> x) {
  if (!x)
    BOOST_FAIL("refused: " + render(x.error()));
  return std::move(*x);
}

failure refused(outcome<process_record> x) {
  if (x)
    BOOST_FAIL("accepted");
  return x.error();
}

std::vector<char> bytes_of(const process_record& x) {
  std::vector<char> buf;
  codec::encode(x, buf);
  return buf;
}

} // namespace

BOOST_AUTO_TEST_SUITE(lifecycle_table)

BOOST_AUTO_TEST_CASE(
  every_kind_from_every_state_is_legal_or_refused_as_the_diagram_says) {
  size_t legal = 0;
  size_t illegal = 0;
  for (auto w : everywhere)
    for (auto k : every_kind) {
      BOOST_TEST_CONTEXT(to_string(k) << " from " << name_of(w)) {
        auto want = expected(w, k);
        auto got = apply_to(w, of(k));
        if (want.code != errc{}) {
          ++illegal;
          auto err = refused(got);
          BOOST_TEST(is(err, want.code), "refused with " << render(err));
          BOOST_TEST(render(err) == refusal_message(w, k, want.code));
          continue;
        }
        ++legal;
        auto rec = must(got);
        BOOST_TEST(to_string(rec.status) == to_string(status_of(want.after)));
        // Only a cancel request sets the flag; what ends the process
        // leaves it.
        BOOST_TEST(
          rec.cancel_requested
          == (want.after == where::requested || w == where::requested));
        BOOST_TEST(rec.pid == pid);
        if (k != tk::purge)
          BOOST_TEST(rec.updated_at == now);
        // Pure: the same input gives the same record.
        BOOST_TEST((bytes_of(must(apply_to(w, of(k)))) == bytes_of(rec)));
      }
    }
  // 9 states x 15 kinds.
  BOOST_TEST(legal + illegal == 135u);
  BOOST_TEST(legal == 29u);
}

BOOST_AUTO_TEST_CASE(only_new_work_and_cancel_requests_wake_a_runner) {
  for (auto w : everywhere)
    for (auto k : every_kind) {
      auto got = apply_to(w, of(k));
      if (!got)
        continue;
      auto before = w == where::none ? std::optional<process_record>{}
                                     : record_in(w);
      auto wakes = wakes_runner(before ? &*before : nullptr, *got);
      auto want = k == tk::enqueue || k == tk::proceed || k == tk::retry
                  || k == tk::release
                  || (k == tk::cancel && w == where::running);
      BOOST_TEST(wakes == want, to_string(k) << " from " << name_of(w));
    }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(lifecycle_effects)

BOOST_AUTO_TEST_CASE(enqueue_makes_a_queued_record_of_the_spec) {
  auto t = of(tk::enqueue);
  t.spec.timeout = 30;
  t.spec.steps[0].args = R"({ "a" : [1, 2] })";
  t.spec.data = R"({ "x" : 1 })";
  auto rec = must(procman::next(nullptr, t, now));
  BOOST_TEST((rec.status == ps::queued));
  BOOST_TEST(rec.created_at == now);
  BOOST_TEST(rec.updated_at == now);
  BOOST_TEST(rec.started_at == 0u);
  BOOST_TEST(rec.timeout == 30u);
  BOOST_REQUIRE_EQUAL(rec.steps.size(), 2u);
  BOOST_TEST(rec.steps[0].args == R"({"a":[1,2]})"); // written compactly
  BOOST_TEST(rec.step_states.size() == 2u);
  BOOST_TEST(rec.data == R"({"x":1})");
  BOOST_TEST(rec.queue_seq == 0u); // the store places it in the queue
  BOOST_TEST(rec.runs == 0u);
  t.spec.data.clear();
  t.spec.steps[1].args.clear();
  rec = must(procman::next(nullptr, t, now));
  BOOST_TEST(rec.data == "{}");
  BOOST_TEST(rec.steps[1].args == "null");
}

BOOST_AUTO_TEST_CASE(
  enqueue_refuses_a_bad_pid_and_a_bad_spec_naming_the_field) {
  auto bad_pid = of(tk::enqueue);
  bad_pid.pid = "ABC";
  auto err = refused(procman::next(nullptr, bad_pid, now));
  BOOST_TEST(is(err, errc::invalid_argument));
  BOOST_TEST(render(err)
             == R"(invalid pid "ABC": expected 32 lowercase hex characters)");
  auto spec_error = [](auto change) {
    auto t = of(tk::enqueue);
    change(t.spec);
    auto err = refused(procman::next(nullptr, t, now));
    BOOST_TEST(is(err, errc::invalid_spec), render(err));
    return render(err);
  };
  BOOST_TEST(spec_error([](process_spec& s) { s.steps.clear(); })
             == R"(spec: field "steps" has no steps)");
  BOOST_TEST(spec_error([](process_spec& s) { s.steps[1].name.clear(); })
             == R"(step #1: field "name" must be a non-empty string)");
  BOOST_TEST(spec_error([](process_spec& s) { s.steps[1].name = "s0"; })
             == R"(step "s0": name used twice)");
  BOOST_TEST(spec_error([](process_spec& s) { s.steps[0].cls.clear(); })
             == R"(step "s0": field "class" must be a non-empty string)");
  BOOST_TEST(spec_error([](process_spec& s) { s.steps[0].args = "5"; })
             == R"(step "s0": field "args" must be an array or an object)");
  BOOST_TEST(spec_error([](process_spec& s) {
               s.steps[0].args = "{";
             }).find(R"(step "s0": field "args": malformed JSON)")
             == 0u);
  BOOST_TEST(spec_error([](process_spec& s) {
               s.steps[0].args = R"({"k":1,"k":2})";
             }).find(R"(step "s0": field "args": field "k" used twice)")
             == 0u);
  BOOST_TEST(spec_error([](process_spec& s) {
               s.steps[0].args = nested_object(defaults::max_json_depth + 1);
             })
             == R"(step "s0": field "args" is nested deeper than 256 levels)");
  BOOST_TEST(spec_error([](process_spec& s) { s.data = "[]"; })
             == R"(spec: field "data" must be an object)");
  BOOST_TEST(
    spec_error([](process_spec& s) { s.timeout = 31536001; })
    == R"(spec: field "timeout" must be between 0 and 31536000 seconds)");
}

BOOST_AUTO_TEST_CASE(claim_starts_a_run_from_the_next_step) {
  auto queued = record_in(where::queued);
  queued.next_step = 1;
  queued.runs = 1;
  queued.started_at = 123;
  queued.step_states = {step_status::completed, step_status::failed,
                        step_status::running};
  queued.error.kind = error_kind::crash;
  queued.progress = {"s1", 10, "old"};
  queued.cancel_requested = true;
  auto rec = must(apply_to(queued, of(tk::claim)));
  BOOST_TEST(rec.runner == "r2");
  BOOST_TEST(rec.runs == 2u);
  BOOST_TEST(rec.started_at == 123u); // the first claim's
  BOOST_TEST((rec.step_states[0] == step_status::completed));
  BOOST_TEST((rec.step_states[1] == step_status::pending));
  BOOST_TEST((rec.step_states[2] == step_status::pending));
  BOOST_TEST((rec.error.kind == error_kind::none));
  BOOST_TEST(rec.progress.step.empty());
  BOOST_TEST(!rec.cancel_requested);
  BOOST_TEST(rec.queue_seq == 0u);
  BOOST_TEST(must(apply_to(where::queued, of(tk::claim))).started_at == now);
}

BOOST_AUTO_TEST_CASE(start_records_the_executor) {
  auto rec = must(apply_to(where::running, of(tk::start)));
  BOOST_TEST(rec.exec_pid == 77);
  BOOST_TEST(rec.runner == "r2");
}

BOOST_AUTO_TEST_CASE(step_events_and_progress_change_the_step_states) {
  auto started = of(tk::step_started);
  started.step = 2;
  auto rec = must(apply_to(where::running, started));
  BOOST_TEST((rec.step_states[2] == step_status::running));
  BOOST_TEST(rec.progress.step.empty()); // a new step clears the progress
  rec = must(apply_to(rec, of(tk::progress)));
  BOOST_TEST(rec.progress.percent == 50);
  BOOST_TEST(rec.progress.message == "half");
  auto completed = of(tk::step_completed);
  completed.step = 2;
  rec = must(apply_to(rec, completed));
  BOOST_TEST((rec.step_states[2] == step_status::completed));
  BOOST_TEST(rec.last_completed == 2);
  // A record without states for every step (an older procman) gets them.
  auto old = record_in(where::running);
  old.step_states.resize(1);
  rec = must(apply_to(old, completed));
  BOOST_TEST(rec.step_states.size() == 3u);
}

BOOST_AUTO_TEST_CASE(a_step_index_past_the_last_step_is_refused) {
  for (auto k : {tk::step_started, tk::step_completed, tk::interrupt}) {
    auto t = of(k);
    t.step = 3;
    auto err = refused(apply_to(where::running, t));
    BOOST_TEST(is(err, errc::invalid_argument), to_string(k));
    BOOST_TEST(render(err) == pid + ": no step 3 (the process has 3 steps)");
  }
}

BOOST_AUTO_TEST_CASE(interrupt_pauses_after_the_step_with_its_output) {
  auto rec = must(apply_to(where::running, of(tk::interrupt)));
  BOOST_TEST(rec.output == R"({"question":"ok?"})");
  BOOST_TEST(rec.data == rec.output);
  BOOST_TEST(rec.next_step == 2u);
  BOOST_TEST((rec.step_states[1] == step_status::completed));
  BOOST_TEST(rec.last_completed == 1);
  BOOST_TEST(rec.exec_pid == 0);
  BOOST_TEST(rec.finished_at == 0u);
}

BOOST_AUTO_TEST_CASE(outputs_that_are_not_json_within_the_limit_are_refused) {
  for (auto k : {tk::interrupt, tk::finish}) {
    auto t = of(k);
    t.output = "{oops";
    auto err = refused(apply_to(where::running, t));
    BOOST_TEST(is(err, errc::invalid_json));
    BOOST_TEST(render(err).find(pid + ": " + to_string(k)
                                + " output: malformed JSON at offset")
               == 0u);
    t.output = nested_object(defaults::max_json_depth + 1);
    err = refused(apply_to(where::running, t));
    BOOST_TEST(render(err)
               == pid + ": " + to_string(k)
                    + " output is nested deeper than 256 levels");
    t.output = nested_object(defaults::max_json_depth);
    BOOST_TEST(must(apply_to(where::running, t)).output == t.output);
  }
  auto empty = of(tk::finish);
  empty.output.clear();
  BOOST_TEST(must(apply_to(where::running, empty)).output == "null");
}

BOOST_AUTO_TEST_CASE(proceed_merges_its_data_over_the_output_and_queues) {
  auto interrupted = record_in(where::interrupted);
  interrupted.output = R"({"asked":true,"answer":"no"})";
  interrupted.progress = {"s0", 100, "done"};
  auto rec = must(apply_to(interrupted, of(tk::proceed)));
  auto data = boost::json::parse(rec.data);
  BOOST_TEST(data.at("asked").as_bool());
  BOOST_TEST(data.at("answer").as_string() == "yes"); // proceed data wins
  BOOST_TEST(rec.queue_seq == 0u); // the store places it in the queue
  BOOST_TEST(rec.progress.step.empty());
  auto none = of(tk::proceed);
  none.data.clear();
  rec = must(apply_to(interrupted, none));
  BOOST_TEST(rec.data == R"({"asked":true,"answer":"no"})");
}

BOOST_AUTO_TEST_CASE(proceed_data_must_be_one_json_object_within_the_limits) {
  auto error_of = [](const std::string& data) {
    auto t = of(tk::proceed);
    t.data = data;
    auto err = refused(apply_to(where::interrupted, t));
    BOOST_TEST(is(err, errc::invalid_json), render(err));
    return render(err);
  };
  BOOST_TEST(error_of("[1,2]") == pid + ": proceed data must be a JSON object");
  BOOST_TEST(error_of(R"({"k":1,"k":2})")
               .find(pid + R"(: proceed data: field "k" used twice)")
             == 0u);
  BOOST_TEST(error_of(nested_object(defaults::max_json_depth + 1))
             == pid + ": proceed data is nested deeper than 256 levels");
  BOOST_TEST(error_of("{").find(pid + ": proceed data: malformed JSON") == 0u);
}

BOOST_AUTO_TEST_CASE(finish_fail_and_cancel_end_the_process) {
  auto rec = must(apply_to(where::running, of(tk::finish)));
  BOOST_TEST(rec.output == R"({"result":7})");
  BOOST_TEST(rec.finished_at == now);
  BOOST_TEST(rec.exec_pid == 0);
  rec = must(apply_to(where::running, of(tk::fail)));
  BOOST_TEST((rec.error.kind == error_kind::exception));
  BOOST_TEST(rec.error.message == "boom");
  BOOST_TEST((rec.step_states[1] == step_status::failed));
  BOOST_TEST(rec.finished_at == now);
  rec = must(apply_to(where::queued, of(tk::fail)));
  BOOST_TEST(rec.queue_seq == 0u);
  // A cancel of a running process is a request; its runner's cancel ends
  // it, and the step it cut short shows as cancelled (not pending: it
  // did start), the steps after it as pending.
  rec = must(apply_to(where::running, of(tk::cancel)));
  BOOST_TEST(rec.cancel_requested);
  BOOST_TEST(rec.exec_pid == 4242);
  BOOST_TEST(rec.finished_at == 0u);
  BOOST_TEST((rec.step_states[1] == step_status::running));
  rec = must(apply_to(rec, of(tk::cancel)));
  BOOST_TEST((rec.status == ps::cancelled));
  BOOST_TEST((rec.step_states[1] == step_status::cancelled));
  BOOST_TEST((rec.step_states[2] == step_status::pending));
  BOOST_TEST(rec.finished_at == now);
  BOOST_TEST(rec.exec_pid == 0);
}

BOOST_AUTO_TEST_CASE(purge_returns_the_record_as_it_was) {
  auto finished = record_in(where::finished);
  auto rec = must(apply_to(finished, of(tk::purge)));
  BOOST_TEST((bytes_of(rec) == bytes_of(finished)));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(lifecycle_hold)

BOOST_AUTO_TEST_CASE(a_released_process_keeps_its_place_and_its_time) {
  auto queued = record_in(where::queued);
  queued.not_before = now + 60'000;
  queued.priority = 3;
  auto held = must(apply_to(queued, of(tk::hold)));
  BOOST_TEST(to_string(held.status) == "held");
  auto back = must(apply_to(held, of(tk::release)));
  BOOST_TEST(to_string(back.status) == "queued");
  BOOST_TEST(back.queue_seq == 7u);
  BOOST_TEST(back.not_before == now + 60'000);
  BOOST_TEST(back.priority == 3);
  BOOST_TEST(wakes_runner(&held, back));
  BOOST_TEST(!wakes_runner(&queued, held));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(lifecycle_step_times)

namespace {

/// `t` applied to `rec` at `at`, which it replaces.
void apply_at(process_record& rec, transition t, uint64_t at) {
  rec = must(procman::next(&rec, t, at));
}

transition step_of(tk k, uint32_t step) {
  auto t = of(k);
  t.step = step;
  return t;
}

using times = std::vector<step_time>;

} // namespace

BOOST_AUTO_TEST_CASE(each_step_records_when_it_started_and_ended) {
  auto enq = of(tk::enqueue);
  enq.spec = spec_of(3);
  auto rec = must(procman::next(nullptr, enq, 100));
  BOOST_TEST((rec.step_times == times(3)));
  apply_at(rec, of(tk::claim), 200);
  BOOST_TEST((rec.step_times == times(3)));
  apply_at(rec, step_of(tk::step_started, 0), 300);
  BOOST_TEST((rec.step_times[0] == step_time{300, 0}));
  apply_at(rec, of(tk::progress), 350);
  BOOST_TEST((rec.step_times[0] == step_time{300, 0}));
  apply_at(rec, step_of(tk::step_completed, 0), 400);
  BOOST_TEST((rec.step_times[0] == step_time{300, 400}));
  // An interrupt ends the step it pauses after.
  apply_at(rec, step_of(tk::step_started, 1), 410);
  apply_at(rec, step_of(tk::interrupt, 1), 500);
  BOOST_TEST((rec.step_times[1] == step_time{410, 500}));
  // The run after the proceed keeps the times of the steps before it.
  apply_at(rec, of(tk::proceed), 600);
  apply_at(rec, of(tk::claim), 700);
  BOOST_TEST((rec.step_times == times{{300, 400}, {410, 500}, {}}));
  apply_at(rec, step_of(tk::step_started, 2), 800);
  BOOST_TEST((rec.step_times[2] == step_time{800, 0}));
  apply_at(rec, step_of(tk::step_completed, 2), 900);
  apply_at(rec, of(tk::finish), 950);
  BOOST_TEST((rec.step_times == times{{300, 400}, {410, 500}, {800, 900}}));
}

BOOST_AUTO_TEST_CASE(a_step_cut_short_ends_when_its_process_stops_running) {
  // Running step s1 (started at 1000 in every case below).
  auto running = record_in(where::running);
  running.step_times = {{500, 900}, {1000, 0}, {}};
  // Failed: the failing step ends with the failure.
  auto failed = running;
  apply_at(failed, of(tk::fail), 2000);
  BOOST_TEST((failed.step_times == times{{500, 900}, {1000, 2000}, {}}));
  // Cancelled: not at the request, at its runner's cancel.
  auto cancelled = running;
  apply_at(cancelled, of(tk::cancel), 2000);
  BOOST_TEST((cancelled.step_times[1] == step_time{1000, 0}));
  apply_at(cancelled, of(tk::cancel), 3000);
  BOOST_TEST((cancelled.step_times[1] == step_time{1000, 3000}));
  // Failed with retries left: queued again, the step ended; the next run
  // starts afresh at the step that failed.
  auto retried = running;
  retried.retry.max = 2;
  retried.next_step = 1;
  apply_at(retried, of(tk::fail), 2000);
  BOOST_TEST(to_string(retried.status) == "queued");
  BOOST_TEST((retried.step_times[1] == step_time{1000, 2000}));
  apply_at(retried, of(tk::claim), 4000);
  BOOST_TEST((retried.step_times == times{{500, 900}, {}, {}}));
  // Finished with a step that never reported its end: it ends then.
  auto finished = running;
  apply_at(finished, of(tk::finish), 2500);
  BOOST_TEST((finished.step_times[1] == step_time{1000, 2500}));
}

BOOST_AUTO_TEST_CASE(a_record_without_step_times_gets_them_from_its_steps) {
  // Records of older procman have no times: the next step event sizes
  // them; the steps before keep none.
  auto old = record_in(where::running);
  BOOST_REQUIRE(old.step_times.empty());
  apply_at(old, step_of(tk::step_completed, 1), 2000);
  BOOST_TEST((old.step_times == times(3))); // it never started here
  apply_at(old, step_of(tk::step_started, 2), 2100);
  BOOST_TEST((old.step_times == times{{}, {}, {2100, 0}}));
  auto interrupted = record_in(where::running);
  apply_at(interrupted, step_of(tk::interrupt, 1), 2000);
  BOOST_TEST(interrupted.step_times.size() == 3u);
}

BOOST_AUTO_TEST_SUITE_END()
