// Loading libraries (step libraries): by a UTF-8 path, non-ASCII
// included; a missing library or symbol is an error naming it.

#include "procman/platform/library.hpp"

#include <cstdlib>

#include <boost/test/unit_test.hpp>

#include "procman/platform/paths.hpp"

#include "platform_fixture.hpp"

using namespace procman;
using namespace procman::test;
namespace fs = std::filesystem;

namespace {

std::string sample_path() {
  auto dir = std::getenv("PROCMAN_TEST_DIR");
  BOOST_TEST_REQUIRE(dir != nullptr);
  return std::string{dir} + "/plugins/platform_sample" + library_suffix();
}

int call_sample(const platform::library& lib, int x) {
  auto sym = lib.symbol("procman_platform_sample");
  BOOST_TEST_REQUIRE(bool(sym), why(sym));
  BOOST_TEST_REQUIRE(*sym != nullptr);
  return reinterpret_cast<int (*)(int)>(*sym)(x);
}

} // namespace

BOOST_AUTO_TEST_SUITE(library)

BOOST_AUTO_TEST_CASE(a_library_loads_and_its_function_runs) {
  auto lib = platform::library::load(sample_path());
  BOOST_TEST_REQUIRE(bool(lib), why(lib));
  BOOST_TEST(call_sample(*lib, 7) == 42);
}

BOOST_AUTO_TEST_CASE(a_library_under_a_non_ascii_path_loads) {
  platform_temp_dir tmp;
  auto dir = tmp / "biblioth\xC3\xA8que-\xE3\x83\x87\xE3\x83\xBC\xE3\x82\xBF";
  fs::create_directory(platform::path_from_utf8(dir));
  auto copy = dir + "/s\xC3\xA4mple" + library_suffix();
  fs::copy_file(platform::path_from_utf8(sample_path()),
                platform::path_from_utf8(copy));
  auto lib = platform::library::load(copy);
  BOOST_TEST_REQUIRE(bool(lib), why(lib));
  BOOST_TEST(call_sample(*lib, 1) == 6);
}

BOOST_AUTO_TEST_CASE(a_missing_library_is_an_error) {
  platform_temp_dir tmp;
  auto lib = platform::library::load(tmp / "missing" + library_suffix());
  BOOST_TEST_REQUIRE(!lib);
  BOOST_TEST_MESSAGE(lib.error().context);
  BOOST_TEST((lib.error().code == errc::invalid_argument));
  BOOST_TEST(lib.error().context.find("cannot load") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_missing_symbol_is_an_error) {
  auto lib = platform::library::load(sample_path());
  BOOST_TEST_REQUIRE(bool(lib), why(lib));
  auto sym = lib->symbol("procman_no_such_function");
  BOOST_REQUIRE(!sym);
  BOOST_TEST_MESSAGE(sym.error().context);
  BOOST_TEST((sym.error().code == errc::invalid_argument));
  BOOST_TEST(!sym.error().context.empty());
}

BOOST_AUTO_TEST_SUITE_END()
