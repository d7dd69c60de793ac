// Contained children: started with arguments, environment, working
// directory and pipes as given; their whole tree killed at once,
// grandchildren included; and where the platform promises it, the tree
// ends with its owner however the owner dies.

#include "procman/platform/child.hpp"

#include <fstream>
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "procman/platform/paths.hpp"

#include "platform_fixture.hpp"

using namespace procman;
using namespace procman::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// "tree <pid> grandchild <pid>" -> the two pids.
std::pair<int, int> tree_pids(const std::string& line) {
  std::istringstream in{line};
  std::string tree, grandchild;
  int tree_pid = 0, grandchild_pid = 0;
  in >> tree >> tree_pid >> grandchild >> grandchild_pid;
  BOOST_TEST_REQUIRE(tree == "tree", "helper said: " << line);
  BOOST_TEST_REQUIRE(grandchild_pid > 0, "helper said: " << line);
  return {tree_pid, grandchild_pid};
}

platform::contained_child start_tree() {
  auto opts = helper("tree");
  opts.stdout_pipe = true;
  auto child = platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(bool(child), why(child));
  return std::move(*child);
}

} // namespace

BOOST_AUTO_TEST_SUITE(contained_child)

BOOST_AUTO_TEST_CASE(the_exit_code_comes_back) {
  auto child = platform::contained_child::start(helper("exit", {"7"}));
  BOOST_TEST_REQUIRE(bool(child), why(child));
  auto exit = child->wait_for(30s);
  BOOST_TEST_REQUIRE(exit.has_value());
  BOOST_TEST(exit->code == 7);
  BOOST_TEST(exit->signal == 0);
}

BOOST_AUTO_TEST_CASE(pipes_carry_stdin_and_stdout) {
  auto opts = helper("echo");
  opts.stdin_pipe = true;
  opts.stdout_pipe = true;
  auto child = platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(bool(child), why(child));
  const std::string text = "one line\nand gr\xC3\xBC\xC3\x9F"
                           "e\r\n\x01\x02";
  BOOST_TEST(child->in().write(text.data(), text.size()));
  child->in().close();
  BOOST_TEST(read_all(child->out()) == text);
  auto exit = child->wait_for(30s);
  BOOST_TEST_REQUIRE(exit.has_value());
  BOOST_TEST(exit->code == 0);
}

BOOST_AUTO_TEST_CASE(arguments_arrive_as_given) {
  const std::vector<std::string> args{"plain",
                                      "two words",
                                      "",
                                      "quote \" inside",
                                      "back\\slash",
                                      "trailing backslash\\",
                                      "\\\"both\\\"",
                                      "caf\xC3\xA9 \xE2\x82\xAC"};
  auto opts = helper("args", args);
  opts.stdout_pipe = true;
  auto child = platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(bool(child), why(child));
  for (auto& a : args)
    BOOST_TEST(read_line(child->out()) == "[" + a + "]");
  BOOST_TEST(child->wait_for(30s).has_value());
}

BOOST_AUTO_TEST_CASE(environment_and_working_directory_are_set) {
  platform_temp_dir tmp;
  auto cwd = tmp / "w\xC3\xB6rk";
  fs::create_directory(platform::path_from_utf8(cwd));
  auto opts = helper("env", {"PROCMAN_PLATFORM_VALUE"});
  opts.env.push_back("PROCMAN_PLATFORM_VALUE=v\xC3\xA4lue");
  opts.cwd = cwd;
  opts.stdout_pipe = true;
  auto child = platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(bool(child), why(child));
  BOOST_TEST(read_line(child->out()) == "v\xC3\xA4lue");
  auto reported = read_line(child->out());
  BOOST_TEST((fs::equivalent(platform::path_from_utf8(reported),
                             platform::path_from_utf8(cwd))),
             reported << " is not " << cwd);
  BOOST_TEST(child->wait_for(30s).has_value());
}

BOOST_AUTO_TEST_CASE(a_missing_program_is_an_error_naming_it) {
  platform_temp_dir tmp;
  platform::child_options opts;
  opts.argv = {tmp / "no-such-program"};
  auto child = platform::contained_child::start(opts);
  BOOST_TEST_REQUIRE(!child);
  BOOST_TEST_MESSAGE(child.error().context);
  BOOST_TEST((child.error().code == errc::spawn_failure));
  BOOST_TEST(child.error().context.find("no-such-program")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(kill_tree_kills_the_grandchild_too) {
  auto child = start_tree();
  auto [tree, grandchild] = tree_pids(read_line(child.out()));
  BOOST_TEST(tree == child.pid());
  BOOST_TEST(platform::process_alive(grandchild));
  BOOST_TEST(child.tree_alive());
  child.kill_tree();
  auto exit = child.wait_for(30s);
  BOOST_TEST_REQUIRE(exit.has_value());
  BOOST_TEST(exit->signal == 9);
  BOOST_TEST(wait_until([&] { return !platform::process_alive(grandchild); }));
  BOOST_TEST(wait_until([&] { return !child.tree_alive(); }));
}

BOOST_AUTO_TEST_CASE(destroying_the_child_kills_its_tree) {
  int grandchild = 0;
  {
    auto child = start_tree();
    grandchild = tree_pids(read_line(child.out())).second;
    BOOST_TEST(platform::process_alive(grandchild));
  }
  BOOST_TEST(wait_until([&] { return !platform::process_alive(grandchild); }));
}

BOOST_AUTO_TEST_CASE(the_tree_ends_with_its_owner_where_the_platform_says_so) {
  // The owner is a helper started outside any containment of ours: it
  // starts a contained tree, writes the pids down and dies as kill -9
  // would end it, without a chance to clean up.
  platform_temp_dir tmp;
  auto report = tmp / "pids.txt";
  auto owner = start_plain_helper("orphan-tree", {report});
  BOOST_TEST_REQUIRE(owner > 0);
  std::string line;
  BOOST_TEST_REQUIRE(wait_until([&] {
    std::ifstream in{platform::path_from_utf8(report)};
    return bool(std::getline(in, line));
  }));
  auto [tree, grandchild] = tree_pids(line);
  BOOST_TEST(wait_until([&] { return !platform::process_alive(owner); }));
  if (platform::tree_ends_with_owner()) {
    BOOST_TEST_MESSAGE("the owner died: its tree must follow");
    BOOST_TEST(
      wait_until([&] { return !platform::process_alive(grandchild); }));
    BOOST_TEST(wait_until([&] { return !platform::process_alive(tree); }));
  } else {
    BOOST_TEST_MESSAGE("the owner died: here its tree outlives it (the "
                       "runner's children/ layer ends it); ending it");
    BOOST_TEST(platform::process_alive(grandchild));
    platform::kill_process(grandchild);
    platform::kill_process(tree);
    BOOST_TEST(
      wait_until([&] { return !platform::process_alive(grandchild); }));
  }
}

BOOST_AUTO_TEST_SUITE_END()
