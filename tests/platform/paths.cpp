// UTF-8 paths through the platform layer: names outside ASCII (and on
// Windows outside the ANSI code page) reach the file system intact.

#include "procman/platform/paths.hpp"

#include <fstream>

#include <boost/test/unit_test.hpp>

#include "platform_fixture.hpp"

using namespace procman;
using namespace procman::test;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(platform_paths)

BOOST_AUTO_TEST_CASE(non_ascii_names_reach_the_file_system_and_come_back) {
  platform_temp_dir tmp;
  // Latin, Greek, CJK and an emoji (a surrogate pair in UTF-16).
  const std::string name
    = "Zo\xC3\xAB-\xCE\xB1\xCE\xB2-\xE3\x83\x87\xE3\x83\xBC\xE3\x82\xBF-"
      "\xF0\x9F\x93\xA6";
  auto dir = platform::path_from_utf8(tmp / name);
  fs::create_directory(dir);
  { std::ofstream{dir / "file.txt"} << "x"; }
  std::vector<std::string> found;
  for (auto& entry : fs::directory_iterator(tmp.path))
    found.push_back(platform::utf8_from_path(entry.path().filename()));
  BOOST_TEST_REQUIRE(found.size() == 1u);
  BOOST_TEST(found[0] == name);
  BOOST_TEST(fs::exists(platform::path_from_utf8(tmp / name + "/file.txt")));
}

BOOST_AUTO_TEST_CASE(error_texts_name_the_error) {
#ifdef _WIN32
  const int not_found = 2; // ERROR_FILE_NOT_FOUND
#else
  const int not_found = 2; // ENOENT
#endif
  auto text = platform::error_text(not_found);
  BOOST_TEST_MESSAGE("error 2: " << text);
  BOOST_TEST(!text.empty());
  BOOST_TEST(text.back() != '\n');
}

BOOST_AUTO_TEST_SUITE_END()
