// The child service reports a child it cannot start as an error that
// carries the errno, so that nobody reads it back out of a message.

#include <cerrno>
#include <cstring>

#include <boost/test/unit_test.hpp>

#include "procman/children/child_service.hpp"
#include "procman/children/executor_cgroups.hpp"
#include "procman/messages/error.hpp"

using namespace procman;

BOOST_AUTO_TEST_SUITE(child_spawn)

BOOST_AUTO_TEST_CASE(a_program_that_cannot_start_is_a_spawn_failure_with_its_errno) {
  child_service children;
  child_spec spec;
  spec.argv = {"/nonexistent/procman-exec"};
  auto res = children.spawn(spec, child_handlers{});
  BOOST_REQUIRE(!res);
  BOOST_TEST(is(res.error(), errc::spawn_failure));
  BOOST_TEST(os_errno(res.error()) == ENOENT);
  BOOST_TEST(render(res.error())
             == "cannot start /nonexistent/procman-exec: "
                  + std::string(std::strerror(ENOENT)));
  BOOST_TEST(children.active() == 0u);
}

BOOST_AUTO_TEST_CASE(errors_without_an_errno_have_none) {
  BOOST_TEST(os_errno(make_error(errc::spawn_failure, "x")) == 0);
  BOOST_TEST(os_errno(caf::error{}) == 0);
  auto err = make_error(errc::containment_failure, "clone3: nope", ENOSYS);
  BOOST_TEST(os_errno(err) == ENOSYS);
  BOOST_TEST(render(err) == "clone3: nope");
}

BOOST_AUTO_TEST_SUITE_END()
