// The main of every test executable. A case whose precondition does not
// hold here (boost::unit_test::precondition, see fixtures/preconditions.hpp)
// is skipped by Boost.Test, which still exits 0; this main makes such a run
// exit with `skipped_exit_code`, which CTest reports as skipped
// (SKIP_RETURN_CODE), and names each case and the reason. With
// PROCMAN_TEST_NO_SKIP=1 (CI) a skipped case fails the run instead.

#define BOOST_TEST_MODULE procman
#define BOOST_TEST_NO_MAIN
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <boost/test/tree/observer.hpp>
#include <boost/test/unit_test.hpp>

#include "fixtures/preconditions.hpp"

namespace utf = boost::unit_test;

namespace {

/// Collects the cases and suites skipped for a reason other than not being
/// selected (--run_test leaves the others "disabled").
struct skip_observer : utf::test_observer {
  std::vector<std::string> skipped;

  void test_unit_skipped(const utf::test_unit& tu,
                         utf::const_string reason) override {
    std::string why(reason.begin(), reason.end());
    if (why != "disabled")
      skipped.push_back(tu.full_name() + ": " + why);
  }
};

skip_observer observer;

/// Registers the observer once the framework is set up.
struct observe_skips {
  observe_skips() { utf::framework::register_observer(observer); }
};

BOOST_TEST_GLOBAL_FIXTURE(observe_skips);

} // namespace

int main(int argc, char* argv[]) {
  auto rc = utf::unit_test_main(&init_unit_test, argc, argv);
  if (rc != 0 || observer.skipped.empty())
    return rc;
  auto strict = std::getenv("PROCMAN_TEST_NO_SKIP");
  bool fail = strict && std::string(strict) == "1";
  for (auto& s : observer.skipped)
    std::cerr << (fail ? "FAILED (PROCMAN_TEST_NO_SKIP=1), skipped "
                       : "SKIPPED ")
              << s << "\n";
  return fail ? 1 : procman::test::skipped_exit_code;
}
