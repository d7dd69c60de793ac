// The doorbell: the wake-up of a waiting runner on POSIX
// (platform/wake_event.hpp), a datagram socket <store>/doorbell.sock.

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/test/unit_test.hpp>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "procman/platform/wake_event.hpp"

#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
using procman::platform::wake_listener;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

namespace {

int fd_of(const wake_listener& bell) {
  return static_cast<int>(bell.native_handle());
}

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0 && (p.revents & POLLIN);
}

} // namespace

BOOST_AUTO_TEST_SUITE(doorbell_tests)

BOOST_AUTO_TEST_CASE(a_ring_wakes_a_bound_doorbell) {
  temp_dir tmp;
  wake_listener bell;
  BOOST_TEST(fd_of(bell) == -1);
  BOOST_TEST(!bell.wait(milliseconds::zero()));
  BOOST_REQUIRE(!bell.bind(tmp.str()));
  BOOST_TEST(fd_of(bell) >= 0);
  BOOST_TEST((fcntl(fd_of(bell), F_GETFD) & FD_CLOEXEC) != 0);
  BOOST_TEST((fcntl(fd_of(bell), F_GETFL) & O_NONBLOCK) != 0);
  BOOST_TEST(fs::exists(tmp.str() + "/doorbell.sock"));
  BOOST_TEST(!readable(fd_of(bell), 0));
  platform::ring(tmp.str());
  BOOST_TEST(readable(fd_of(bell), 1000));
  platform::ring(tmp.str());
  platform::ring(tmp.str());
  BOOST_TEST(bell.wait(milliseconds::zero()));
  BOOST_TEST(!bell.wait(milliseconds::zero()));
  BOOST_TEST(!readable(fd_of(bell), 0));
}

BOOST_AUTO_TEST_CASE(the_socket_is_private_under_a_permissive_umask) {
  umask_guard mask{022};
  temp_dir tmp;
  wake_listener bell;
  BOOST_REQUIRE(!bell.bind(tmp.str()));
  BOOST_TEST(mode_of(tmp.str() + "/doorbell.sock").mode == 0600u);
  platform::ring(tmp.str());
  BOOST_TEST(readable(fd_of(bell), 1000)); // its owner still rings it
}

BOOST_AUTO_TEST_CASE(ringing_without_a_listener_is_a_no_op) {
  temp_dir tmp;
  platform::ring(tmp.str());                  // no socket: ENOENT
  platform::ring(tmp.str() + "/missing/dir"); // no directory
  platform::ring(std::string(300, 'x'));      // path too long
  {
    wake_listener bell;
    BOOST_REQUIRE(!bell.bind(tmp.str()));
  } // unlinked on destruction
  BOOST_TEST(!fs::exists(tmp.str() + "/doorbell.sock"));
  platform::ring(tmp.str());
}

BOOST_AUTO_TEST_CASE(ringing_a_full_doorbell_never_blocks) {
  temp_dir tmp;
  wake_listener bell;
  BOOST_REQUIRE(!bell.bind(tmp.str()));
  for (int i = 0; i < 5000; ++i) // far more than the socket buffer holds
    platform::ring(tmp.str());
  BOOST_TEST(bell.wait(milliseconds::zero()));
  BOOST_TEST(!bell.wait(milliseconds::zero()));
}

BOOST_AUTO_TEST_CASE(a_stale_socket_is_replaced) {
  temp_dir tmp;
  auto path = tmp.str() + "/doorbell.sock";
  {
    // A socket left behind by a runner that died.
    auto fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
                  == 0);
    close(fd);
  }
  BOOST_REQUIRE(fs::exists(path));
  wake_listener bell;
  BOOST_TEST(!bell.bind(tmp.str()));
  platform::ring(tmp.str());
  BOOST_TEST(readable(fd_of(bell), 1000));
  BOOST_TEST(bell.wait(milliseconds::zero()));
}

BOOST_AUTO_TEST_CASE(a_regular_file_in_the_way_is_not_removed) {
  temp_dir tmp;
  std::ofstream(tmp.str() + "/doorbell.sock") << "mine";
  wake_listener bell;
  auto err = render(bell.bind(tmp.str()));
  BOOST_TEST(err.find("not a socket") != std::string::npos);
  BOOST_TEST(fd_of(bell) == -1);
  BOOST_TEST(fs::is_regular_file(tmp.str() + "/doorbell.sock"));
}

BOOST_AUTO_TEST_CASE(a_path_too_long_for_sun_path_is_an_error) {
  temp_dir tmp;
  auto dir = tmp.str() + "/" + std::string(120, 'd');
  fs::create_directories(dir);
  wake_listener bell;
  auto err = render(bell.bind(dir));
  BOOST_TEST_MESSAGE("long path: " << err);
  BOOST_TEST(err.find("too long") != std::string::npos);
  BOOST_TEST(fd_of(bell) == -1);
}

BOOST_AUTO_TEST_CASE(moving_keeps_the_socket_and_a_replaced_one_survives) {
  temp_dir tmp;
  wake_listener a;
  BOOST_REQUIRE(!a.bind(tmp.str()));
  wake_listener b{std::move(a)};
  BOOST_TEST(fd_of(a) == -1);
  BOOST_TEST(fd_of(b) >= 0);
  platform::ring(tmp.str());
  BOOST_TEST(readable(fd_of(b), 1000));
  BOOST_TEST(b.wait(milliseconds::zero()));
  BOOST_TEST(is(b.bind(tmp.str()), errc::store_access)); // already bound
  {
    // A second bell takes over the path; destroying the first must not
    // unlink the newer socket.
    wake_listener c;
    BOOST_REQUIRE(!c.bind(tmp.str()));
    b = wake_listener{};
    BOOST_TEST(fs::exists(tmp.str() + "/doorbell.sock"));
    platform::ring(tmp.str());
    BOOST_TEST(readable(fd_of(c), 1000));
  }
  BOOST_TEST(!fs::exists(tmp.str() + "/doorbell.sock"));
}

BOOST_AUTO_TEST_CASE(store_commits_that_give_work_ring) {
  store_fixture f;
  fs::create_directories(f.options().dir);
  wake_listener bell;
  BOOST_REQUIRE(!bell.bind(f.options().dir));
  auto rec = f.enqueue(1);
  BOOST_TEST(bell.wait(milliseconds::zero())); // enqueue
  auto claim = make_transition(transition_kind::claim, rec.pid);
  claim.runner = "r";
  f.apply(claim);
  auto intr = make_transition(transition_kind::interrupt, rec.pid);
  intr.output = "{}";
  f.apply(intr);
  BOOST_TEST(
    !bell.wait(milliseconds::zero())); // claim and interrupt give no work
  f.apply(transition_kind::proceed, rec.pid);
  BOOST_TEST(bell.wait(milliseconds::zero())); // proceed
  must(f.st->claim("r", 1));
  f.apply(transition_kind::cancel, rec.pid);
  BOOST_TEST(
    bell.wait(milliseconds::zero())); // cancel request for a running process
  f.apply(transition_kind::cancel, rec.pid);
  BOOST_TEST(!bell.wait(milliseconds::zero())); // the runner ending it
  auto refused = f.st->apply(enqueue_of("{}"));
  BOOST_TEST(!refused);
  BOOST_TEST(!bell.wait(milliseconds::zero())); // nothing committed
  // Turned off in the options: silence.
  auto opts = f.options();
  opts.dir = f.tmp.str() + "/quiet";
  opts.ring_doorbell = false;
  auto quiet = must(store::open(opts));
  wake_listener quiet_bell;
  BOOST_REQUIRE(!quiet_bell.bind(opts.dir));
  must(quiet->apply(enqueue_of(spec_json())));
  BOOST_TEST(!quiet_bell.wait(milliseconds::zero()));
}

BOOST_AUTO_TEST_SUITE_END()
