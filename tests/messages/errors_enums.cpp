// procman's errors (make_error and make_failure, render, is, the
// conversions between them) and the enum names.

#include <set>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/sec.hpp>

#include "procman/messages/error.hpp"
#include "procman/messages/types.hpp"

#include "samples.hpp"

using namespace procman;
using namespace procman::test;

namespace {

std::vector<errc> all_errcs() {
  std::vector<errc> result;
  for (uint8_t i = 1; i <= 21; ++i)
    result.push_back(static_cast<errc>(i));
  return result;
}

template <class E>
void check_names_round_trip(const std::vector<E>& values) {
  std::set<std::string> names;
  for (auto x : values) {
    auto name = to_string(x);
    BOOST_TEST(name != "unknown");
    BOOST_TEST(!name.empty());
    names.insert(name);
    auto y = from_string<E>(name);
    BOOST_TEST(y.has_value(), name);
    BOOST_TEST((y == x), name);
  }
  BOOST_TEST(names.size() == values.size()); // no two values share a name
}

template <class E>
void check_unknown_text_rejected() {
  for (auto text :
       {"", "bogus", "unknown", " queued", "Running", "1", "pending "})
    BOOST_TEST(!from_string<E>(text).has_value(), "accepted '" << text << "'");
}

} // namespace

// -- errors -------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(errors)

BOOST_AUTO_TEST_CASE(render_shows_the_context) {
  auto err = make_error(errc::unknown_process, "no process x");
  BOOST_TEST(static_cast<bool>(err));
  BOOST_TEST(render(err) == "no process x");
}

BOOST_AUTO_TEST_CASE(errors_carry_category_and_code) {
  auto err = make_error(errc::invalid_spec, "bad spec");
  BOOST_TEST((err.category() == caf::atom("procman")));
  BOOST_TEST(err.code() == static_cast<uint8_t>(errc::invalid_spec));
  BOOST_TEST(is(err, errc::invalid_spec));
  BOOST_TEST(!is(err, errc::unknown_process));
  BOOST_TEST(!is(err, errc::invalid_json));
}

BOOST_AUTO_TEST_CASE(is_checks_the_category) {
  // sec::unexpected_message has code 1 like errc::unknown_process.
  caf::error other = caf::sec::unexpected_message;
  BOOST_TEST_REQUIRE(other.code()
                     == static_cast<uint8_t>(errc::unknown_process));
  BOOST_TEST(!is(other, errc::unknown_process));
  BOOST_TEST(!is(caf::error{}, errc::unknown_process));
}

BOOST_AUTO_TEST_CASE(every_code_round_trips_through_make_error) {
  for (auto code : all_errcs()) {
    auto err = make_error(code, "context " + to_string(code));
    BOOST_TEST(is(err, code), to_string(code));
    BOOST_TEST(render(err) == "context " + to_string(code));
  }
}

BOOST_AUTO_TEST_CASE(caf_make_error_agrees) {
  // The CAF_ERROR_CODE_ENUM path builds the same error.
  auto err = caf::make_error(errc::store_damaged,
                             std::string("meta unreadable"));
  BOOST_TEST(is(err, errc::store_damaged));
  BOOST_TEST(render(err) == "meta unreadable");
  BOOST_TEST((err == make_error(errc::store_damaged, "meta unreadable")));
}

BOOST_AUTO_TEST_CASE(render_without_context_names_the_code) {
  caf::error err{static_cast<uint8_t>(errc::runner_busy), caf::atom("procman")};
  BOOST_TEST(render(err) == "runner_busy");
}

BOOST_AUTO_TEST_CASE(render_of_other_errors) {
  BOOST_TEST(render(caf::error{}) == "no error");
  auto r = render(caf::sec::request_timeout);
  BOOST_TEST(r.find("request_timeout") != std::string::npos, r);
}

BOOST_AUTO_TEST_CASE(a_failure_crosses_to_caf_and_back_whole) {
  // What the store reports (a failure below the actors) reaches a remote
  // client as a caf::error and comes back out of the front door's remote
  // backend as the same failure: code, message and errno.
  auto f = make_failure(errc::store_access, "cannot open /x: denied", 13);
  auto err = to_error(f);
  BOOST_TEST(is(err, errc::store_access));
  BOOST_TEST(render(err) == "cannot open /x: denied");
  BOOST_TEST(os_errno(err) == 13);
  auto back = to_failure(err);
  BOOST_TEST(is(back, errc::store_access));
  BOOST_TEST(back.context == f.context);
  BOOST_TEST(os_errno(back) == 13);
  BOOST_TEST(!to_error(failure{}));
  BOOST_TEST(!to_failure(caf::error{}));
  BOOST_TEST(render(failure{}) == "no error");
  BOOST_TEST(render(failure{errc::runner_busy, ""}) == "runner_busy");
}

BOOST_AUTO_TEST_CASE(caf_errors_become_timeouts_or_connect_failures) {
  auto timed_out = to_failure(caf::sec::request_timeout);
  BOOST_TEST(is(timed_out, errc::timeout));
  BOOST_TEST(timed_out.context.find("request_timeout") != std::string::npos,
             timed_out.context);
  BOOST_TEST(
    is(to_failure(caf::sec::cannot_connect_to_node), errc::connect_failure));
  auto kept = to_outcome(caf::expected<int>{make_error(errc::queue_empty, "")});
  BOOST_REQUIRE(!kept);
  BOOST_TEST(is(kept.error(), errc::queue_empty));
  BOOST_TEST(*to_outcome(caf::expected<int>{7}) == 7);
}

BOOST_AUTO_TEST_CASE(every_code_has_a_distinct_name) {
  std::set<std::string> names;
  for (auto code : all_errcs()) {
    auto name = to_string(code);
    BOOST_TEST(name != "unknown_error");
    names.insert(name);
  }
  BOOST_TEST(names.size() == 21u);
  BOOST_TEST(to_string(errc::unknown_process) == "unknown_process");
  BOOST_TEST(to_string(errc::invalid_argument) == "invalid_argument");
  // Codes cross nodes: the ones added later keep their numbers.
  BOOST_TEST(static_cast<int>(errc::connect_failure) == 17);
  BOOST_TEST(static_cast<int>(errc::queue_empty) == 18);
  BOOST_TEST(static_cast<int>(errc::containment_failure) == 19);
  BOOST_TEST(static_cast<int>(errc::unknown_schedule) == 20);
  BOOST_TEST(static_cast<int>(errc::lease_expired) == 21);
  BOOST_TEST(static_cast<int>(error_kind::node_lost) == 7);
  BOOST_TEST(to_string(errc::queue_empty) == "queue_empty");
  BOOST_TEST(to_string(errc::containment_failure) == "containment_failure");
  BOOST_TEST(to_string(static_cast<errc>(200)) == "unknown_error");
}

BOOST_AUTO_TEST_SUITE_END()

// -- enum names ---------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(enum_names)

BOOST_AUTO_TEST_CASE(every_value_round_trips) {
  check_names_round_trip(all_process_statuses());
  check_names_round_trip(all_step_statuses());
  check_names_round_trip(all_error_kinds());
  check_names_round_trip(all_transition_kinds());
}

BOOST_AUTO_TEST_CASE(names_are_the_documented_ones) {
  BOOST_TEST(to_string(process_status::queued) == "queued");
  BOOST_TEST(to_string(process_status::cancelled) == "cancelled");
  BOOST_TEST(to_string(process_status::held) == "held");
  BOOST_TEST(to_string(transition_kind::hold) == "hold");
  BOOST_TEST(to_string(transition_kind::release) == "release");
  BOOST_TEST(to_string(step_status::pending) == "pending");
  BOOST_TEST(to_string(step_status::failed) == "failed");
  BOOST_TEST(to_string(error_kind::none) == "none");
  BOOST_TEST(to_string(error_kind::runner_lost) == "runner_lost");
  BOOST_TEST(to_string(error_kind::node_lost) == "node_lost");
  BOOST_TEST(to_string(transition_kind::enqueue) == "enqueue");
  BOOST_TEST(to_string(transition_kind::step_completed) == "step_completed");
  BOOST_TEST(to_string(transition_kind::purge) == "purge");
}

BOOST_AUTO_TEST_CASE(unknown_text_is_rejected) {
  check_unknown_text_rejected<process_status>();
  check_unknown_text_rejected<step_status>();
  check_unknown_text_rejected<error_kind>();
  check_unknown_text_rejected<transition_kind>();
}

BOOST_AUTO_TEST_CASE(out_of_range_values_print_as_unknown) {
  BOOST_TEST(to_string(static_cast<process_status>(0)) == "unknown");
  BOOST_TEST(to_string(static_cast<process_status>(8)) == "unknown");
  BOOST_TEST(to_string(static_cast<step_status>(5)) == "unknown");
  BOOST_TEST(to_string(static_cast<error_kind>(8)) == "unknown");
  BOOST_TEST(to_string(static_cast<transition_kind>(0)) == "unknown");
  BOOST_TEST(to_string(static_cast<transition_kind>(18)) == "unknown");
  BOOST_TEST(to_string(static_cast<backoff_kind>(2)) == "unknown");
}

BOOST_AUTO_TEST_CASE(terminal_statuses) {
  std::set<std::string> terminal;
  for (auto x : all_process_statuses())
    if (is_terminal(x))
      terminal.insert(to_string(x));
  BOOST_TEST(
    (terminal == std::set<std::string>{"finished", "error", "cancelled"}));
}

BOOST_AUTO_TEST_CASE(last_completed_step_names_the_step) {
  auto x = sample_record();
  x.last_completed = -1;
  BOOST_TEST(last_completed_step(x) == "");
  x.last_completed = 1;
  BOOST_TEST(last_completed_step(x) == "load");
  x.last_completed = 2; // out of range
  BOOST_TEST(last_completed_step(x) == "");
}

BOOST_AUTO_TEST_SUITE_END()
