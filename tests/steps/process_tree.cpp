// children/process_tree: finding and killing a process tree, including the
// processes that left its process group.

#include "procman/children/process_tree.hpp"

#include <algorithm>
#include <csignal>
#include <fstream>
#include <sstream>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures/background.hpp"
#include "fixtures/temp_dir.hpp"

using namespace procman;
using namespace procman::test;

namespace {

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  for_each_child(
    pid,
    [](pid_t child, void* arg) {
      static_cast<std::vector<pid_t>*>(arg)->push_back(child);
    },
    &out);
  return out;
}

/// A shell with two children in the background: one in a session of its
/// own (setsid), one in the shell's group; each writes its pid to a file.
struct tree_fixture {
  temp_dir tmp;
  pid_t shell = -1;
  pid_t escaped = -1;
  pid_t plain = -1;

  tree_fixture() {
    auto dir = tmp.str();
    shell = spawn_in_group(
      {"sh", "-c",
       "setsid sh -c 'echo $$ > \"$0/escaped.tmp\"; mv \"$0/escaped.tmp\" "
       "\"$0/escaped\"; exec sleep 300' \"$0\" & "
       "sh -c 'echo $$ > \"$0/plain.tmp\"; mv \"$0/plain.tmp\" \"$0/plain\"; "
       "exec sleep 300' \"$0\" & wait",
       dir},
      {}, nullptr);
    BOOST_REQUIRE(eventually([&] {
      escaped = read_pid(dir + "/escaped");
      plain = read_pid(dir + "/plain");
      return escaped > 0 && plain > 0;
    }));
    // The `mv` that wrote a pid file may still be alive for a moment: wait
    // until the tree is exactly the shell and its two sleeping children.
    BOOST_REQUIRE(eventually([&] {
      return children_of(shell).size() == 2u && children_of(escaped).empty()
             && children_of(plain).empty();
    }));
  }

  ~tree_fixture() {
    for (pid_t p : {escaped, plain, shell})
      if (p > 0)
        ::kill(p, SIGKILL);
    ::waitpid(shell, nullptr, 0);
  }

  static pid_t read_pid(const std::string& path) {
    std::ifstream in(path);
    pid_t pid = -1;
    in >> pid;
    return pid;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(process_tree, tree_fixture)

BOOST_AUTO_TEST_CASE(for_each_child_lists_children_whatever_their_group) {
  auto kids = children_of(shell);
  BOOST_TEST(kids.size() == 2u);
  BOOST_TEST((std::find(kids.begin(), kids.end(), escaped) != kids.end()));
  BOOST_TEST((std::find(kids.begin(), kids.end(), plain) != kids.end()));
  BOOST_TEST(getsid(escaped) == escaped);
  BOOST_TEST(children_of(escaped).empty());
  BOOST_TEST(!for_each_child(
    999999999, [](pid_t, void*) {}, nullptr));
}

BOOST_AUTO_TEST_CASE(kill_tree_kills_the_root_and_every_descendant) {
  BOOST_TEST(kill_tree(shell, true) == 2u);
  int status = 0;
  BOOST_TEST(::waitpid(shell, &status, 0) == shell);
  BOOST_TEST((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
  shell = -1;
  BOOST_TEST(eventually(
    [&] { return !os_process_alive(escaped) && !os_process_alive(plain); }));
}

BOOST_AUTO_TEST_CASE(kill_tree_without_the_root_leaves_the_root) {
  BOOST_TEST(kill_tree(shell, false) == 2u);
  BOOST_TEST(eventually(
    [&] { return !os_process_alive(escaped) && !os_process_alive(plain); }));
  // The shell saw its children die, and ends by itself.
  int status = 0;
  BOOST_TEST(::waitpid(shell, &status, 0) == shell);
  BOOST_TEST(WIFEXITED(status));
  shell = -1;
}

BOOST_AUTO_TEST_SUITE_END()
