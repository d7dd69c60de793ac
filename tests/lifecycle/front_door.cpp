// The front door builds the transitions clients ask for and refuses bad
// requests before any store sees them.

#include "procman/lifecycle/front_door.hpp"

#include <string>

#include <boost/test/unit_test.hpp>

#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"

#include "fixtures/json_depth.hpp"

using namespace procman;
using namespace procman::test;

namespace {

const std::string pid = "0123456789abcdef0123456789abcdef";

process_spec one_step() {
  process_spec spec;
  spec.steps.push_back({"a", "procman.set", R"({ "k" : 1 })", {}});
  spec.data = R"({ "n" : 2 })";
  return spec;
}

template <class T>
failure refused(outcome<T> x) {
  if (x)
    BOOST_FAIL("accepted");
  return x.error();
}

} // namespace

BOOST_AUTO_TEST_SUITE(front_door_requests)

BOOST_AUTO_TEST_CASE(start_builds_an_enqueue_of_the_checked_spec) {
  auto t = front_door::start(one_step());
  BOOST_REQUIRE(t);
  BOOST_TEST((t->kind == transition_kind::enqueue));
  BOOST_TEST(t->pid.empty()); // the store picks one
  BOOST_TEST(t->source == "client");
  BOOST_TEST(t->spec.steps[0].args == R"({"k":1})");
  BOOST_TEST(t->spec.data == R"({"n":2})");
  auto with_pid = front_door::start(one_step(), pid, "replay");
  BOOST_REQUIRE(with_pid);
  BOOST_TEST(with_pid->pid == pid);
  BOOST_TEST(with_pid->source == "replay");
}

BOOST_AUTO_TEST_CASE(start_refuses_a_bad_spec_or_pid) {
  auto spec = one_step();
  spec.data = R"({"k": 1, "k": 2})";
  auto err = refused(front_door::start(spec));
  BOOST_TEST(is(err, errc::invalid_spec));
  BOOST_TEST(render(err).find(R"(spec: field "data": field "k" used twice)")
             == 0u);
  spec = one_step();
  spec.steps[0].args = nested_object(defaults::max_json_depth + 1);
  err = refused(front_door::start(spec));
  BOOST_TEST(render(err)
             == R"(step "a": field "args" is nested deeper than 256 levels)");
  err = refused(front_door::start(process_spec{}));
  BOOST_TEST(render(err) == R"(spec: field "steps" has no steps)");
  err = refused(front_door::start(one_step(), "not-a-pid"));
  BOOST_TEST(is(err, errc::invalid_argument));
  BOOST_TEST(
    render(err)
    == R"(invalid pid "not-a-pid": expected 32 lowercase hex characters)");
}

BOOST_AUTO_TEST_CASE(start_with_the_builtins_refuses_what_they_can_tell) {
  // What the manager does: unknown procman.* classes and bad args of a
  // built-in are refused before anything is queued; other namespaces are
  // the executor's to find (a runner's step libraries).
  auto& steps = front_door::builtin_steps();
  auto spec = one_step();
  spec.steps.push_back({"b", "procman.nope", "null", {}});
  auto err = refused(front_door::start(spec, {}, "client", &steps));
  BOOST_TEST(is(err, errc::unknown_class));
  BOOST_TEST(render(err).find(R"(step "b": unknown class "procman.nope")")
             == 0u);
  spec = one_step();
  spec.steps.push_back({"nap", "procman.sleep", R"({"seconds": -1})", {}});
  err = refused(front_door::start(spec, {}, "client", &steps));
  BOOST_TEST(is(err, errc::invalid_spec));
  BOOST_TEST(render(err).find(R"(step "nap": bad args: )") == 0u);
  spec = one_step();
  spec.steps.push_back({"r", "acme.resize", "null", {}});
  BOOST_TEST(bool(front_door::start(spec, {}, "client", &steps)));
  // Without a registry (replay, a runner's own re-creations) nothing of
  // the kind is checked.
  spec.steps.push_back({"b", "procman.nope", "null", {}});
  BOOST_TEST(bool(front_door::start(spec)));
}

BOOST_AUTO_TEST_CASE(proceed_takes_one_json_object_as_its_data) {
  auto t = front_door::proceed(pid, R"({"approved": true})");
  BOOST_REQUIRE(t);
  BOOST_TEST((t->kind == transition_kind::proceed));
  BOOST_TEST(t->pid == pid);
  BOOST_TEST(t->data == R"({"approved": true})");
  auto empty = front_door::proceed(pid, "");
  BOOST_REQUIRE(empty);
  BOOST_TEST(empty->data == "{}");
  auto message = [](const std::string& data) {
    auto err = refused(front_door::proceed(pid, data));
    BOOST_TEST(is(err, errc::invalid_json), render(err));
    return render(err);
  };
  BOOST_TEST(message("[1]") == pid + ": proceed data must be a JSON object");
  BOOST_TEST(message(R"({"k": 1, "k": 1})")
               .find(pid + R"(: proceed data: field "k" used twice)")
             == 0u);
  BOOST_TEST(message(nested_object(defaults::max_json_depth + 1))
             == pid + ": proceed data is nested deeper than 256 levels");
}

BOOST_AUTO_TEST_CASE(cancel_builds_a_cancel) {
  auto t = front_door::cancel(pid);
  BOOST_TEST((t.kind == transition_kind::cancel));
  BOOST_TEST(t.pid == pid);
  BOOST_TEST(t.source == "client");
}

BOOST_AUTO_TEST_SUITE_END()
