// The doorbell: a datagram socket that wakes a waiting runner.

#include "procman/persistence/doorbell.hpp"

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

#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
namespace fs = std::filesystem;

namespace {

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) > 0 && (p.revents & POLLIN);
}

} // namespace

BOOST_AUTO_TEST_SUITE(doorbell_tests)

BOOST_AUTO_TEST_CASE(a_ring_wakes_a_bound_doorbell) {
  temp_dir tmp;
  doorbell bell;
  BOOST_TEST(bell.fd() == -1);
  BOOST_TEST(bell.drain() == 0u);
  BOOST_REQUIRE(!bell.bind(tmp.str()));
  BOOST_TEST(bell.fd() >= 0);
  BOOST_TEST((fcntl(bell.fd(), F_GETFD) & FD_CLOEXEC) != 0);
  BOOST_TEST((fcntl(bell.fd(), F_GETFL) & O_NONBLOCK) != 0);
  BOOST_TEST(fs::exists(tmp.str() + "/doorbell.sock"));
  BOOST_TEST(!readable(bell.fd(), 0));
  ring_doorbell(tmp.str());
  BOOST_TEST(readable(bell.fd(), 1000));
  ring_doorbell(tmp.str());
  ring_doorbell(tmp.str());
  BOOST_TEST(bell.drain() == 3u);
  BOOST_TEST(bell.drain() == 0u);
  BOOST_TEST(!readable(bell.fd(), 0));
}

BOOST_AUTO_TEST_CASE(the_socket_is_private_under_a_permissive_umask) {
  umask_guard mask{022};
  temp_dir tmp;
  doorbell bell;
  BOOST_REQUIRE(!bell.bind(tmp.str()));
  BOOST_TEST(mode_of(tmp.str() + "/doorbell.sock").mode == 0600u);
  ring_doorbell(tmp.str());
  BOOST_TEST(readable(bell.fd(), 1000)); // its owner still rings it
}

BOOST_AUTO_TEST_CASE(ringing_without_a_listener_is_a_no_op) {
  temp_dir tmp;
  ring_doorbell(tmp.str());                  // no socket: ENOENT
  ring_doorbell(tmp.str() + "/missing/dir"); // no directory
  ring_doorbell(std::string(300, 'x'));      // path too long
  {
    doorbell bell;
    BOOST_REQUIRE(!bell.bind(tmp.str()));
  } // unlinked on destruction
  BOOST_TEST(!fs::exists(tmp.str() + "/doorbell.sock"));
  ring_doorbell(tmp.str());
}

BOOST_AUTO_TEST_CASE(ringing_a_full_doorbell_never_blocks) {
  temp_dir tmp;
  doorbell bell;
  BOOST_REQUIRE(!bell.bind(tmp.str()));
  for (int i = 0; i < 5000; ++i) // far more than the socket buffer holds
    ring_doorbell(tmp.str());
  auto n = bell.drain();
  BOOST_TEST(n > 0u);
  BOOST_TEST(n <= 5000u);
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
  doorbell bell;
  BOOST_TEST(!bell.bind(tmp.str()));
  ring_doorbell(tmp.str());
  BOOST_TEST(readable(bell.fd(), 1000));
  BOOST_TEST(bell.drain() == 1u);
}

BOOST_AUTO_TEST_CASE(a_regular_file_in_the_way_is_not_removed) {
  temp_dir tmp;
  std::ofstream(tmp.str() + "/doorbell.sock") << "mine";
  doorbell bell;
  auto err = render(bell.bind(tmp.str()));
  BOOST_TEST(err.find("not a socket") != std::string::npos);
  BOOST_TEST(bell.fd() == -1);
  BOOST_TEST(fs::is_regular_file(tmp.str() + "/doorbell.sock"));
}

BOOST_AUTO_TEST_CASE(a_path_too_long_for_sun_path_is_an_error) {
  temp_dir tmp;
  auto dir = tmp.str() + "/" + std::string(120, 'd');
  fs::create_directories(dir);
  doorbell bell;
  auto err = render(bell.bind(dir));
  BOOST_TEST_MESSAGE("long path: " << err);
  BOOST_TEST(err.find("too long") != std::string::npos);
  BOOST_TEST(bell.fd() == -1);
}

BOOST_AUTO_TEST_CASE(moving_keeps_the_socket_and_a_replaced_one_survives) {
  temp_dir tmp;
  doorbell a;
  BOOST_REQUIRE(!a.bind(tmp.str()));
  doorbell b{std::move(a)};
  BOOST_TEST(a.fd() == -1);
  BOOST_TEST(b.fd() >= 0);
  ring_doorbell(tmp.str());
  BOOST_TEST(readable(b.fd(), 1000));
  BOOST_TEST(b.drain() == 1u);
  BOOST_TEST(is(b.bind(tmp.str()), errc::store_access)); // already bound
  {
    // A second bell takes over the path; destroying the first must not
    // unlink the newer socket.
    doorbell c;
    BOOST_REQUIRE(!c.bind(tmp.str()));
    b = doorbell{};
    BOOST_TEST(fs::exists(tmp.str() + "/doorbell.sock"));
    ring_doorbell(tmp.str());
    BOOST_TEST(readable(c.fd(), 1000));
  }
  BOOST_TEST(!fs::exists(tmp.str() + "/doorbell.sock"));
}

BOOST_AUTO_TEST_CASE(store_commits_that_give_work_ring) {
  store_fixture f;
  fs::create_directories(f.options().dir);
  doorbell bell;
  BOOST_REQUIRE(!bell.bind(f.options().dir));
  auto rec = f.enqueue(1);
  BOOST_TEST(bell.drain() == 1u); // enqueue
  auto claim = make_transition(transition_kind::claim, rec.pid);
  claim.runner = "r";
  f.apply(claim);
  auto intr = make_transition(transition_kind::interrupt, rec.pid);
  intr.output = "{}";
  f.apply(intr);
  BOOST_TEST(bell.drain() == 0u); // claim and interrupt give no work
  f.apply(transition_kind::proceed, rec.pid);
  BOOST_TEST(bell.drain() == 1u); // proceed
  must(f.st->claim("r", 1));
  f.apply(transition_kind::cancel, rec.pid);
  BOOST_TEST(bell.drain() == 1u); // cancel request for a running process
  f.apply(transition_kind::cancel, rec.pid);
  BOOST_TEST(bell.drain() == 0u); // the runner ending it
  auto refused = f.st->apply(enqueue_of("{}"));
  BOOST_TEST(!refused);
  BOOST_TEST(bell.drain() == 0u); // nothing committed
  // Turned off in the options: silence.
  auto opts = f.options();
  opts.dir = f.tmp.str() + "/quiet";
  opts.ring_doorbell = false;
  auto quiet = must(store::open(opts));
  doorbell quiet_bell;
  BOOST_REQUIRE(!quiet_bell.bind(opts.dir));
  must(quiet->apply(enqueue_of(spec_json())));
  BOOST_TEST(quiet_bell.drain() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
