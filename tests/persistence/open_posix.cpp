// Opening a store, what only POSIX has: descriptors into the store
// (close-on-exec, one environment's), errno's texts and /proc.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
namespace fs = std::filesystem;

namespace {

/// Descriptors of this process that point into `dir`.
std::vector<int> fds_under(const std::string& dir) {
  std::vector<int> out;
  auto prefix = fs::canonical(dir).string() + "/";
  auto d = opendir("/proc/self/fd");
  while (auto e = readdir(d)) {
    if (e->d_name[0] == '.')
      continue;
    char target[4096];
    auto link = std::string{"/proc/self/fd/"} + e->d_name;
    auto n = readlink(link.c_str(), target, sizeof(target) - 1);
    if (n > 0
        && std::string(target, static_cast<size_t>(n)).rfind(prefix, 0) == 0)
      out.push_back(std::atoi(e->d_name));
  }
  closedir(d);
  return out;
}

} // namespace

BOOST_AUTO_TEST_SUITE(store_open_posix)

BOOST_AUTO_TEST_CASE(a_directory_below_a_regular_file_is_store_access) {
  // Tests run as root, which ignores permission bits: a path through a
  // regular file fails for everyone (ENOTDIR).
  temp_dir tmp;
  auto file = tmp.str() + "/file";
  std::ofstream(file) << "x";
  auto dir = file + "/store";
  auto res = store::open(fast(dir));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_access)));
  BOOST_TEST_MESSAGE("store_access: " << render(res.error()));
  BOOST_TEST(render(res.error()).find(dir) != std::string::npos);
  BOOST_TEST(render(res.error()).find("Not a directory") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_read_only_filesystem_is_store_access) {
  // /proc/self is writable by nobody, root included.
  auto res = store::open(fast("/proc/self/procman-store"));
  BOOST_REQUIRE(!res);
  BOOST_TEST((is(res.error(), errc::store_access)));
  BOOST_TEST_MESSAGE("store_access: " << render(res.error()));
}

BOOST_AUTO_TEST_CASE(every_descriptor_into_the_store_is_close_on_exec) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  auto st = must(store::open(fast(dir)));
  must(st->apply(enqueue_of(spec_json())));
  auto fds = fds_under(dir);
  BOOST_TEST(fds.size() >= 2u); // data.mdb and lock.mdb
  for (auto fd : fds) {
    auto flags = fcntl(fd, F_GETFD);
    BOOST_TEST((flags >= 0 && (flags & FD_CLOEXEC) != 0), "fd " << fd);
  }
}

BOOST_AUTO_TEST_CASE(a_second_store_on_a_directory_opens_no_descriptor) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  auto a = must(store::open(fast(dir)));
  auto fds = fds_under(dir).size();
  auto b = must(store::open(fast(dir + "/.")));
  BOOST_TEST(fds_under(dir).size() == fds);
  a.reset();
  b.reset();
  BOOST_TEST(fds_under(dir).empty());
}

BOOST_AUTO_TEST_SUITE_END()
