// A connection that CAF's middleman accepts while it has not yet cleaned up
// a closed one is answered: accepted connections get descriptor numbers of
// their own (remote/accept_guard.cpp; docs/distribution.md, "Lost
// answers").

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include <caf/io/middleman.hpp>
#include <caf/meta/load_callback.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/send.hpp>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/cli_fixture.hpp"
#include "engine/engine_helpers.hpp"
#include "engine/remote_helpers.hpp"

using namespace procman;
using namespace procman::test;

namespace {

/// A message whose deserialization waits until the test releases it: it
/// holds the receiving node's BASP queue (CAF delivers what its workers
/// deserialize in order), and with it the clean-up of closed connections.
struct slow_payload {
  int32_t n = 0;
};

struct hold_state {
  std::mutex mtx;
  std::condition_variable cv;
  bool started = false;
  bool released = false;
};

hold_state& hold() {
  static hold_state h;
  return h;
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, slow_payload& x) {
  return f(caf::meta::type_name("slow_payload"), x.n,
           caf::meta::load_callback([]() -> caf::error {
             auto& h = hold();
             std::unique_lock<std::mutex> guard{h.mtx};
             h.started = true;
             h.cv.notify_all();
             h.cv.wait_for(guard, std::chrono::seconds(60),
                           [&] { return h.released; });
             return caf::none;
           }));
}

/// A node with one BASP worker that knows slow_payload.
struct slow_node {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  slow_node() {
    cfg.add_message_types<caf::id_block::procman>();
    cfg.add_message_type<slow_payload>("slow_payload");
    cfg.set("middleman.workers", size_t{3});
    auto err = configure_remote(cfg, {});
    BOOST_REQUIRE_MESSAGE(!err, "configure_remote: " << render(err));
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

/// One IPv4 TCP socket of this network namespace (/proc/net/tcp).
struct tcp_socket {
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  int state = 0;      ///< 1 established, 8 close-wait, ...
  uint64_t inode = 0; ///< 0: not accepted (or closed) yet
};

/// The IPv4 TCP sockets of this network namespace, read through one
/// descriptor opened once: a test that waits for the server to accept on a
/// freed descriptor number must not take that number itself.
std::vector<tcp_socket> tcp4_sockets() {
  static int fd = ::open("/proc/net/tcp", O_RDONLY | O_CLOEXEC);
  std::string text;
  char buf[65536];
  ::lseek(fd, 0, SEEK_SET);
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n <= 0)
      break;
    text.append(buf, static_cast<size_t>(n));
  }
  std::vector<tcp_socket> out;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string sl, local, remote, st, queues, tr, retr, uid, timeout;
    uint64_t inode = 0;
    s >> sl >> local >> remote >> st >> queues >> tr >> retr >> uid >> timeout
      >> inode;
    tcp_socket x;
    x.local_port = static_cast<uint16_t>(
      std::stoul(local.substr(local.find(':') + 1), nullptr, 16));
    x.remote_port = static_cast<uint16_t>(
      std::stoul(remote.substr(remote.find(':') + 1), nullptr, 16));
    x.state = static_cast<int>(std::stoul(st, nullptr, 16));
    x.inode = inode;
    out.push_back(x);
  }
  return out;
}

/// The server side of the connections to `port`, by the client's port.
std::map<uint16_t, tcp_socket> accepted_on(uint16_t port) {
  std::map<uint16_t, tcp_socket> out;
  for (auto& x : tcp4_sockets())
    if (x.local_port == port && x.remote_port != 0 && x.state != 10)
      out[x.remote_port] = x;
  return out;
}

/// The descriptor number of socket `inode` in this process (-1: none).
int fd_of_socket(uint64_t inode) {
  auto want = "socket:[" + std::to_string(inode) + "]";
  for (auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target.string() == want)
      return std::stoi(e.path().filename().string());
  }
  return -1;
}

/// The sockets on `port` and their states, for a failure message.
std::string describe(uint16_t port) {
  std::ostringstream out;
  for (auto& x : tcp4_sockets())
    if (x.local_port == port || x.remote_port == port)
      out << x.local_port << "->" << x.remote_port << " state " << x.state
          << " inode " << x.inode << " fd " << fd_of_socket(x.inode) << "; ";
  return out.str();
}

const std::string noop
  = R"({"steps": {"s": {"class": "procman.set", "args": {}}}})";

struct replies_fixture : cli_fixture {
  slow_node server;
  std::unique_ptr<engine> eng;
  uint16_t port = 0;

  replies_fixture() {
    eng = start_test_engine(*server.sys, tmp.str());
    auto p = publish_manager(*server.sys, eng->manager(), 0, "127.0.0.1");
    BOOST_REQUIRE_MESSAGE(p, "publish: " << (p ? "" : render(p.error())));
    port = *p;
  }

  ~replies_fixture() {
    {
      auto& h = hold();
      std::lock_guard<std::mutex> guard{h.mtx};
      h.released = true;
      h.cv.notify_all();
    }
    server.sys->middleman().unpublish(eng->manager(), port);
    eng.reset();
  }

  std::vector<std::string> connect_args() const {
    return {bin("procman"), "--connect", "127.0.0.1:" + std::to_string(port)};
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(reused_connection_handles, replies_fixture)

BOOST_AUTO_TEST_CASE(
  a_client_accepted_while_a_closed_connection_awaits_its_clean_up_is_answered) {
  // A: a client that stays connected (it waits for a process that is
  // delayed for an hour).
  auto delayed = start(noop, {"--delay", "1h"});
  auto before = accepted_on(port);
  auto args = connect_args();
  args.insert(args.end(), {"wait", delayed, "--timeout", "120"});
  background a(args, tmp.str() + "/a.log");
  BOOST_REQUIRE_MESSAGE(
    eventually([&] { return accepted_on(port).size() > before.size(); }, 30),
    "A was not accepted: " << describe(port) << "; A: " << a.log());
  uint16_t a_port = 0;
  for (auto& [p, x] : accepted_on(port))
    if (before.count(p) == 0)
      a_port = p;
  // B: a client that asks for a status once told to (a read: its answer
  // waits for no commit). Its descriptors in this process (log, pipe) are
  // open before A goes, so that the next socket the server accepts gets
  // the lowest free number, A's.
  auto fifo = tmp.str() + "/go";
  BOOST_REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto b_cmd = "read go < " + fifo + "; exec";
  for (auto& x : connect_args())
    b_cmd += " '" + x + "'";
  b_cmd += " status " + delayed;
  background b({"sh", "-c", b_cmd}, tmp.str() + "/b.log");
  int go = ::open(fifo.c_str(), O_RDWR | O_CLOEXEC);
  BOOST_REQUIRE(go >= 0);
  // H: a node that holds the server's BASP queue.
  slow_node holder;
  auto mgr = connect_manager(*holder.sys, "127.0.0.1", port);
  BOOST_REQUIRE(mgr);
  a.signal(SIGSTOP);
  caf::anon_send(caf::actor_cast<caf::actor>(*mgr), slow_payload{1});
  {
    auto& h = hold();
    std::unique_lock<std::mutex> guard{h.mtx};
    BOOST_REQUIRE_MESSAGE(
      h.cv.wait_for(guard, std::chrono::seconds(30), [&] { return h.started; }),
      "the held message did not arrive: " << describe(port));
  }
  // A goes away; the server closes its socket at once but cleans up its
  // routes only after what is queued before.
  auto a_fd = fd_of_socket(accepted_on(port).at(a_port).inode);
  a.signal(SIGKILL);
  bool a_closed = eventually(
    [&] {
      auto now = accepted_on(port);
      auto i = now.find(a_port);
      return i == now.end() || (i->second.state != 1 && i->second.state != 8);
    },
    30);
  // (A describe() that finds an fd of -1 for A's socket means another
  // process holds a copy of it.)
  BOOST_REQUIRE_MESSAGE(a_closed, "A's connection (from port "
                                    << a_port
                                    << ") was not closed: " << describe(port));
  auto known = accepted_on(port);
  BOOST_REQUIRE(::write(go, "go\n", 3) == 3);
  // B connects, says hello and asks while the clean-up still waits.
  uint16_t b_port = 0;
  // (Accepted: the socket has an inode once accept() took it.)
  BOOST_REQUIRE_MESSAGE(
    eventually(
      [&] {
        for (auto& [p, x] : accepted_on(port))
          if (known.count(p) == 0 && x.state == 1 && x.inode != 0)
            b_port = p;
        return b_port != 0;
      },
      30),
    "B was not accepted: " << describe(port) << "; B: " << b.log());
  auto b_fd = fd_of_socket(accepted_on(port).at(b_port).inode);
  BOOST_TEST_MESSAGE("A was accepted as descriptor " << a_fd << ", B as "
                                                     << b_fd);
  {
    auto& h = hold();
    std::lock_guard<std::mutex> guard{h.mtx};
    h.released = true;
    h.cv.notify_all();
  }
  BOOST_REQUIRE(b.wait(90));
  auto log = b.log();
  BOOST_TEST(b.exit_code() == 0, "B: " << log);
  BOOST_TEST(log.find("asking again") == std::string::npos, "B: " << log);
  ::close(go);
}

BOOST_AUTO_TEST_SUITE_END()
