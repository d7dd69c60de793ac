// The connections CAF's middleman accepts on a port that procman published
// (remote/accept_guard.hpp says what and why). `listen` and `accept` are
// defined here, in the program, so that libcaf_io's calls reach these
// definitions first (as remote/tls_error_queue.cpp does for OpenSSL's):
// they act on the listening sockets a publish registered and pass every
// other call through unchanged, but for one thing: every accepted socket is
// close-on-exec at once (real_accept says why).
//
// Why a new number: CAF 0.17.6 uses the socket's descriptor as the
// connection handle (default_multiplexer). When a peer closes, the BASP
// broker defers the clean-up of that handle through its message queue
// (basp_broker.cpp, connection_closed_msg) behind the messages its workers
// are still deserializing, while the descriptor is closed at once. The
// kernel hands the lowest free number to the next accept, so a new peer
// often gets the same handle before the clean-up ran: routing_table's
// add_direct keeps the old handle -> node entry (emplace), and the late
// clean-up then erases the new connection's context and its handle's route
// and kills the proxies its requests were answered through. Every answer
// on that connection is dropped without an error. Cycling accepted
// descriptors through a range of numbers keeps a number unused for as many
// connections as the range holds.
//
// Who connected: NETLINK_SOCK_DIAG looks up the peer's socket on this
// machine by its address and port (as `ss` does) and says which user owns
// it. A socket no process holds any more (closed, in TIME_WAIT) reports no
// owner, and is refused.

#include "procman/remote/accept_guard.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procman/logging/logger.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/failure.hpp"

namespace procman::detail {

namespace {

/// One end of a TCP connection, as sock_diag names it.
struct endpoint {
  int family = AF_UNSPEC;
  uint32_t addr[4] = {0, 0, 0, 0}; ///< network byte order
  uint16_t port = 0;               ///< network byte order

  bool operator==(const endpoint& x) const {
    return family == x.family && std::memcmp(addr, x.addr, sizeof(addr)) == 0
           && port == x.port;
  }

  std::string str() const {
    char buf[INET6_ADDRSTRLEN] = "?";
    inet_ntop(family, addr, buf, sizeof(buf));
    return (family == AF_INET6 ? "[" + std::string(buf) + "]"
                               : std::string(buf))
           + ":" + std::to_string(ntohs(port));
  }
};

/// `sa` as an endpoint; an IPv4-mapped IPv6 address as IPv4 (the peer's
/// socket is an IPv4 one then).
std::optional<endpoint> to_endpoint(const sockaddr_storage& sa) {
  endpoint ep;
  if (sa.ss_family == AF_INET) {
    auto& in = reinterpret_cast<const sockaddr_in&>(sa);
    ep.family = AF_INET;
    ep.addr[0] = in.sin_addr.s_addr;
    ep.port = in.sin_port;
    return ep;
  }
  if (sa.ss_family == AF_INET6) {
    auto& in6 = reinterpret_cast<const sockaddr_in6&>(sa);
    ep.port = in6.sin6_port;
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      ep.family = AF_INET;
      std::memcpy(ep.addr, in6.sin6_addr.s6_addr + 12, 4);
    } else {
      ep.family = AF_INET6;
      std::memcpy(ep.addr, in6.sin6_addr.s6_addr, 16);
    }
    return ep;
  }
  return std::nullopt;
}

std::optional<endpoint> local_end(int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof(sa);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return std::nullopt;
  return to_endpoint(sa);
}

std::optional<endpoint> remote_end(int fd) {
  sockaddr_storage sa{};
  socklen_t len = sizeof(sa);
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0)
    return std::nullopt;
  return to_endpoint(sa);
}

bool is_loopback(const endpoint& ep) {
  if (ep.family == AF_INET)
    return (ntohl(ep.addr[0]) >> 24) == 127;
  static const uint32_t v6_loopback[4] = {0, 0, 0, htonl(1)};
  return ep.family == AF_INET6
         && std::memcmp(ep.addr, v6_loopback, sizeof(v6_loopback)) == 0;
}

/// What the kernel says of one socket.
struct socket_owner {
  uid_t uid = 0;
  uint64_t inode = 0; ///< 0: no process holds it (closed, TIME_WAIT)
};

/// The failure of a sock_diag lookup: the errno's text, and the errno.
failure diag_failure(int err) {
  return make_failure(errc::connect_failure, std::strerror(err), err);
}

/// Looks up the TCP socket whose own end is `self` and whose peer is
/// `peer`: its owner, or a failure with the errno (ENOENT: there is none).
outcome<socket_owner> find_socket(const endpoint& self, const endpoint& peer) {
  int nl = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0)
    return diag_failure(errno);
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof(msg);
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;
  msg.nlh.nlmsg_seq = 1;
  msg.req.sdiag_family = static_cast<uint8_t>(self.family);
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = ~0u;
  std::memcpy(msg.req.id.idiag_src, self.addr, sizeof(self.addr));
  msg.req.id.idiag_sport = self.port;
  std::memcpy(msg.req.id.idiag_dst, peer.addr, sizeof(peer.addr));
  msg.req.id.idiag_dport = peer.port;
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  int result = ENOENT;
  socket_owner out;
  if (::sendto(nl, &msg, sizeof(msg), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel))
      < 0) {
    result = errno;
  } else {
    alignas(nlmsghdr) char buf[8192];
    ssize_t n;
    do
      n = ::recv(nl, buf, sizeof(buf), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
      result = errno;
    auto left = static_cast<int>(n < 0 ? 0 : n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        result = e->error < 0 ? -e->error : ENOENT;
        break;
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
        continue;
      auto* m = static_cast<inet_diag_msg*>(NLMSG_DATA(h));
      // The socket asked for, not a listener that happened to match.
      if (m->id.idiag_sport != self.port || m->id.idiag_dport != peer.port
          || std::memcmp(m->id.idiag_src, self.addr, sizeof(self.addr)) != 0
          || std::memcmp(m->id.idiag_dst, peer.addr, sizeof(peer.addr)) != 0) {
        result = ENOENT;
        break;
      }
      out.uid = m->idiag_uid;
      out.inode = m->idiag_inode;
      result = 0;
      break;
    }
  }
  ::close(nl);
  if (result != 0)
    return diag_failure(result);
  return out;
}

std::string user_name(uid_t uid) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* res = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) == 0 && res)
    return std::string(pw.pw_name) + " (uid " + std::to_string(uid) + ")";
  return "uid " + std::to_string(uid);
}

/// A listening socket that a publish registered.
struct listener {
  peer_rule rule;
  endpoint where;
  /// Why its peers cannot be checked (none: they can).
  failure probe_error;
};

struct expectation {
  std::vector<endpoint> addresses; ///< the bind address, resolved
  uint16_t port = 0;               ///< host byte order; 0: any
  peer_rule rule;
  int claimed = -1; ///< the listener's descriptor
};

struct guard_state {
  std::mutex mtx;
  std::unordered_map<int, listener> listeners;
  std::optional<expectation> pending;
  /// uid -> when a refusal of it was last logged.
  std::map<uid_t, std::chrono::steady_clock::time_point> logged;
  std::atomic<uint64_t> next_number{0};

  static guard_state& instance() {
    static auto* s = new guard_state; // never destroyed: used until exit
    return *s;
  }
};

/// Serializes publishes while one is expected.
std::mutex& publish_mutex() {
  static auto* m = new std::mutex;
  return *m;
}

template <class F>
F next_definition(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

int real_listen(int fd, int backlog) {
  static auto real = next_definition<int (*)(int, int)>("listen");
  if (real)
    return real(fd, backlog);
  return static_cast<int>(::syscall(SYS_listen, fd, backlog));
}

/// accept(2), the new descriptor close-on-exec from the start. CAF 0.17.6
/// sets close-on-exec on an accepted socket only after accept returns
/// (policy/tcp.cpp): a child forked in between (an executor, a step, any
/// program the host starts) keeps a copy of the connection, and the peer's
/// close then leaves it half open on this side (CLOSE_WAIT) for as long as
/// that child lives.
int real_accept(int fd, sockaddr* addr, socklen_t* len) {
  return ::accept4(fd, addr, len, SOCK_CLOEXEC);
}

/// Why the kernel cannot say who owns the peers of `where` (none: it can).
failure probe(const endpoint& where) {
  endpoint none;
  none.family = where.family;
  auto own = find_socket(where, none);
  if (!own)
    return make_failure(errc::connect_failure,
                        "the kernel does not say who owns a connection "
                        "(NETLINK_SOCK_DIAG: "
                          + own.error().context + ")",
                        own.error().os_errno);
  if (own->uid != geteuid())
    return make_failure(errc::connect_failure,
                        "the kernel names another owner (uid "
                          + std::to_string(own->uid)
                          + ") of this process's own socket");
  return {};
}

/// Whether the peer of the accepted socket `fd` may talk to `l`; logs a
/// refusal (once a minute per user).
bool admitted(int fd, const listener& l) {
  auto self = local_end(fd);
  auto peer = remote_end(fd);
  std::string why;
  std::optional<uid_t> who;
  if (!self || !peer) {
    why = "its addresses cannot be read";
  } else if (!is_loopback(*peer)) {
    why = "it comes from " + peer->str() + ", not from this machine";
  } else {
    auto own = find_socket(*peer, *self);
    if (!own)
      why = "the kernel does not say who owns " + peer->str() + " ("
            + own.error().context + ")";
    else if (own->inode == 0)
      why = "no process holds " + peer->str() + " any more";
    else
      who = own->uid;
  }
  if (who) {
    bool ok = l.rule.readers_of.empty() ? (*who == 0 || *who == geteuid())
                                        : may_read(l.rule.readers_of, *who);
    if (ok)
      return true;
    why = "it comes from " + user_name(*who)
          + (l.rule.readers_of.empty()
               ? ", who is neither this process's user nor root"
               : ", who may not read " + l.rule.readers_of);
  }
  auto& st = guard_state::instance();
  auto now = std::chrono::steady_clock::now();
  auto key = who.value_or(static_cast<uid_t>(-1));
  bool log = false;
  {
    std::lock_guard<std::mutex> guard{st.mtx};
    auto i = st.logged.find(key);
    if (i == st.logged.end()
        || now - i->second
             >= std::chrono::seconds(defaults::refusal_log_interval_s)) {
      st.logged[key] = now;
      log = true;
    }
  }
  if (log)
    log_warn("", "refused a connection to " + l.rule.what + " on "
                   + l.where.str() + ": " + why
                   + "; without TLS only users who may read the store are "
                     "admitted");
  return false;
}

/// `fd` moved to the next number of the cycle (itself if none is free).
int renumber(int fd) {
  auto& st = guard_state::instance();
  rlimit lim{};
  uint64_t top = 1024;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    top = lim.rlim_cur;
  top = std::min<uint64_t>(top, defaults::accepted_fd_cycle_max);
  auto low = top / 4;
  if (top <= low + 1)
    return fd;
  auto n = low + st.next_number.fetch_add(1) % (top - low);
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, static_cast<int>(n));
  if (moved < 0)
    moved = ::fcntl(fd, F_DUPFD_CLOEXEC, static_cast<int>(low));
  if (moved < 0)
    return fd;
  ::close(fd);
  return moved;
}

} // namespace

bool may_read(const std::string& dir, uint32_t uid) {
  if (uid == 0)
    return true;
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0)
    return false;
  if (uid == st.st_uid)
    return (st.st_mode & S_IRUSR) != 0;
  bool in_group = false;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* res = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) == 0 && res) {
    int n = 64;
    std::vector<gid_t> groups(static_cast<size_t>(n));
    while (getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0)
      groups.resize(static_cast<size_t>(n));
    groups.resize(static_cast<size_t>(n));
    in_group = std::find(groups.begin(), groups.end(), st.st_gid)
               != groups.end();
  }
  if (in_group)
    return (st.st_mode & S_IRGRP) != 0;
  return (st.st_mode & S_IROTH) != 0;
}

expected_listener::expected_listener(const std::string& bind, uint16_t port,
                                     peer_rule rule) {
  publish_mutex().lock();
  expectation e;
  e.port = port;
  e.rule = std::move(rule);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (getaddrinfo(bind.empty() ? nullptr : bind.c_str(), "0", &hints, &res) == 0
      && res) {
    for (auto* ai = res; ai; ai = ai->ai_next) {
      sockaddr_storage sa{};
      std::memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
      if (auto ep = to_endpoint(sa)) {
        ep->port = 0;
        e.addresses.push_back(*ep);
      }
    }
    freeaddrinfo(res);
  }
  auto& st = guard_state::instance();
  std::lock_guard<std::mutex> guard{st.mtx};
  st.pending = std::move(e);
}

expected_listener::~expected_listener() {
  {
    auto& st = guard_state::instance();
    std::lock_guard<std::mutex> guard{st.mtx};
    st.pending.reset();
  }
  publish_mutex().unlock();
}

caf::error expected_listener::confirm(uint16_t port) {
  auto& st = guard_state::instance();
  std::lock_guard<std::mutex> guard{st.mtx};
  auto& e = *st.pending;
  auto i = e.claimed >= 0 ? st.listeners.find(e.claimed) : st.listeners.end();
  auto where = "port " + std::to_string(port);
  if (i == st.listeners.end() || ntohs(i->second.where.port) != port) {
    if (!e.rule.check)
      return caf::none; // TLS checks the peers; only the numbering is lost
    return make_error(errc::invalid_argument,
                      "cannot watch who connects to " + where
                        + ": its listening socket was not seen");
  }
  if (i->second.probe_error)
    return make_error(errc::invalid_argument,
                      "cannot tell who connects to " + where
                        + " without TLS: " + i->second.probe_error.context);
  return caf::none;
}

void accept_guard_linked() {
  // nop
}

} // namespace procman::detail

namespace procman {

caf::error can_publish() {
  return caf::none; // the guard above makes publishing safe
}

} // namespace procman

using procman::detail::guard_state;

extern "C" {

int listen(int fd, int backlog) noexcept {
  int rc = procman::detail::real_listen(fd, backlog);
  auto saved = errno;
  auto& st = guard_state::instance();
  std::lock_guard<std::mutex> guard{st.mtx};
  // A number that an earlier listener had is somebody else's now.
  st.listeners.erase(fd);
  if (rc == 0 && st.pending && st.pending->claimed < 0) {
    auto& e = *st.pending;
    auto where = procman::detail::local_end(fd);
    bool match = where.has_value()
                 && (e.port == 0 || ntohs(where->port) == e.port);
    if (match && e.rule.check) {
      // Only on the address asked for: a loopback one.
      auto addr = *where;
      addr.port = 0;
      match = procman::detail::is_loopback(addr)
              && std::find(e.addresses.begin(), e.addresses.end(), addr)
                   != e.addresses.end();
    }
    if (match) {
      procman::detail::listener l;
      l.rule = e.rule;
      l.where = *where;
      if (e.rule.check)
        l.probe_error = procman::detail::probe(*where);
      st.listeners.emplace(fd, std::move(l));
      e.claimed = fd;
    }
  }
  errno = saved;
  return rc;
}

int accept(int fd, sockaddr* __restrict addr, socklen_t* __restrict len) {
  auto room = len ? *len : 0;
  for (;;) {
    if (len)
      *len = room;
    int conn = procman::detail::real_accept(fd, addr, len);
    if (conn < 0)
      return conn;
    std::optional<procman::detail::listener> l;
    {
      auto& st = guard_state::instance();
      std::lock_guard<std::mutex> guard{st.mtx};
      auto i = st.listeners.find(fd);
      if (i != st.listeners.end())
        l = i->second;
    }
    if (!l)
      return conn;
    if (l->rule.check
        && (l->probe_error || !procman::detail::admitted(conn, *l))) {
      // Closed before CAF reads or writes a byte; the next one, if any.
      ::close(conn);
      continue;
    }
    return procman::detail::renumber(conn);
  }
}

} // extern "C"
