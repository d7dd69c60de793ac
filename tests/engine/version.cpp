// --version on every program: the project version from CMakeLists.txt and,
// built from a git checkout, the revision (docs/usage.md).

#include <fstream>
#include <regex>

#include "cli_fixture.hpp"

using namespace procman::test;

namespace {

/// The VERSION of project() in the top CMakeLists.txt.
std::string project_version() {
  std::ifstream in(source_path("CMakeLists.txt"));
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(
    text, m, std::regex(R"(project\(procman VERSION ([0-9.]+))")));
  return m[1];
}

} // namespace

BOOST_AUTO_TEST_SUITE(versions)

BOOST_AUTO_TEST_CASE(every_program_prints_its_version_and_revision) {
  auto version = project_version();
  std::string revision;
  if (std::filesystem::exists(source_path(".git"))) {
    auto git = run_command({"git", "-C", source_path(""), "describe",
                            "--always", "--dirty", "--abbrev=12"});
    BOOST_REQUIRE_EQUAL(git.exit_code, 0);
    revision = git.out.substr(0, git.out.find('\n'));
  }
  for (std::string program : {"procman", "procman-runner", "procman-exec"}) {
    auto res = run_command({bin(program), "--version"});
    BOOST_TEST(res.exit_code == 0, program << ": " << res.err);
    auto line = res.out.substr(0, res.out.find('\n'));
    BOOST_TEST(line.rfind(program + " " + version, 0) == 0u, line);
    if (!revision.empty()) {
      // The build may predate an edit (-dirty) or a commit: the revision's
      // form, and the commit it names when the tree is clean.
      std::regex form(program + " " + version
                      + R"( \(git [0-9a-f]{12}(-dirty)?\))");
      BOOST_TEST(std::regex_match(line, form), line);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
