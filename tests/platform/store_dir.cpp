// The store directory: its default place, created for its owner alone,
// and refused once others may write it.

#include "procman/platform/store_dir.hpp"

#include <cstdlib>

#include <boost/test/unit_test.hpp>

#include "procman/platform/paths.hpp"

#include "platform_fixture.hpp"

#ifdef _WIN32
#include <windows.h>
#endif

using namespace procman;
using namespace procman::test;
namespace fs = std::filesystem;

namespace {

// Sets an environment variable for the scope of a test.
struct scoped_env {
  std::string name;
  std::string old;
  bool had = false;
  scoped_env(std::string n, const std::string& value) : name(std::move(n)) {
    if (auto v = std::getenv(name.c_str())) {
      old = v;
      had = true;
    }
    set(value);
  }
  ~scoped_env() { set(had ? old : std::string{}); }
  void set(const std::string& value) {
#ifdef _WIN32
    SetEnvironmentVariableW(
      platform::path_from_utf8(name).c_str(),
      value.empty() ? nullptr : platform::path_from_utf8(value).c_str());
    _wputenv_s(platform::path_from_utf8(name).c_str(),
               platform::path_from_utf8(value).c_str());
#else
    if (value.empty())
      unsetenv(name.c_str());
    else
      setenv(name.c_str(), value.c_str(), 1);
#endif
  }
};

#ifdef _WIN32
const char* home_variable = "LOCALAPPDATA";
#else
const char* home_variable = "XDG_STATE_HOME";
#endif

} // namespace

BOOST_AUTO_TEST_SUITE(store_dir)

BOOST_AUTO_TEST_CASE(
  the_default_store_is_procman_in_the_users_state_directory) {
  platform_temp_dir tmp;
  auto home = tmp / "st\xC3\xA4te";
  scoped_env env{home_variable, home};
  auto dir = platform::default_store_dir();
  BOOST_TEST_MESSAGE("default store: " << dir);
  BOOST_TEST((platform::path_from_utf8(dir)
              == platform::path_from_utf8(home) / "procman"));
}

BOOST_AUTO_TEST_CASE(a_created_store_is_its_owners_alone) {
  platform_temp_dir tmp;
  auto dir = tmp / "deeper/st\xC3\xB6re";
  BOOST_TEST_REQUIRE(!platform::create_private_dir(dir));
  BOOST_TEST(fs::is_directory(platform::path_from_utf8(dir)));
  auto checked = platform::check_private_dir(dir);
  BOOST_TEST(!checked, checked.context);
  // Creating it again leaves it as it is.
  BOOST_TEST(!platform::create_private_dir(dir));
  BOOST_TEST(!platform::check_private_dir(dir));
}

BOOST_AUTO_TEST_CASE(a_store_others_may_write_is_refused) {
  platform_temp_dir tmp;
  auto dir = tmp / "store";
  BOOST_TEST_REQUIRE(!platform::create_private_dir(dir));
  let_everyone_write(dir);
  auto refused = platform::check_private_dir(dir);
  BOOST_TEST_MESSAGE(refused.context);
  BOOST_TEST((refused.code == errc::store_access));
  BOOST_TEST(refused.context.find(dir) != std::string::npos);
  BOOST_TEST(refused.context.find("refusing to use it") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_missing_store_is_an_error_naming_it) {
  platform_temp_dir tmp;
  auto dir = tmp / "missing";
  auto refused = platform::check_private_dir(dir);
  BOOST_TEST((refused.code == errc::store_access));
  BOOST_TEST(refused.context.find(dir) != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
