// Shared by the tests of remote access: a node (an actor system configured
// for remote access, with or without TLS), certificates made with the
// openssl command, and the port a published runner logs.

#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procman/messages/error.hpp"
#include "procman/messages/fwd.hpp"
#include "procman/remote/remote.hpp"

#include "fixtures/background.hpp"
#include "fixtures/temp_dir.hpp"

namespace procman::test {

/// One node: its own actor system with procman's types, configured by
/// configure_remote (cleartext without `tls`).
struct node {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  explicit node(const tls_options& tls = {}) {
    cfg.add_message_types<caf::id_block::procman>();
    auto err = configure_remote(cfg, tls);
    BOOST_REQUIRE_MESSAGE(!err, "configure_remote: " << render(err));
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

/// Two CAs, "ca-a" and "ca-b", and leaf certificates made with `openssl
/// req` and `openssl x509` in `dir`: "runner" and "host" signed by ca-a,
/// "stranger" signed by ca-b. Each leaf is <dir>/<name>.pem and .key.
struct test_pki {
  std::string dir;

  explicit test_pki(std::string where) : dir(std::move(where)) {
    std::filesystem::create_directories(dir);
    make_ca("ca-a");
    make_ca("ca-b");
    make_leaf("runner", "ca-a");
    make_leaf("host", "ca-a");
    make_leaf("stranger", "ca-b");
  }

  std::string path(const std::string& file) const { return dir + "/" + file; }

  /// The files of leaf `name`, trusting `ca`.
  tls_options files(const std::string& name, const std::string& ca) const {
    return {path(name + ".pem"), path(name + ".key"), path(ca + ".pem")};
  }

  /// The same as procman-runner options.
  std::vector<std::string> args(const std::string& name,
                                const std::string& ca) const {
    auto f = files(name, ca);
    return {"--tls-cert", f.cert, "--tls-key", f.key, "--tls-ca", f.ca};
  }

private:
  void openssl(std::vector<std::string> argv) {
    argv.insert(argv.begin(), "openssl");
    auto res = run_command(argv, {}, 60);
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0,
                          "openssl " << argv[1] << " failed: " << res.err);
  }

  void make_ca(const std::string& name) {
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             path(name + ".key"), "-out", path(name + ".pem"), "-days", "2",
             "-subj", "/CN=procman test " + name});
  }

  void make_leaf(const std::string& name, const std::string& ca) {
    auto ext = path("leaf.ext");
    std::ofstream(ext) << "basicConstraints=CA:FALSE\n"
                          "keyUsage=digitalSignature\n"
                          "extendedKeyUsage=serverAuth,clientAuth\n";
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", path(name + ".key"), "-out",
             path(name + ".csr"), "-subj", "/CN=" + name});
    openssl({"x509", "-req", "-in", path(name + ".csr"), "-CA",
             path(ca + ".pem"), "-CAkey", path(ca + ".key"), "-CAcreateserial",
             "-out", path(name + ".pem"), "-days", "2", "-extfile", ext});
  }
};

/// The port a runner logs in "manager published on ADDR:PORT"; fails the
/// test if it logs none within a minute.
inline uint16_t published_port(background& run,
                               const std::string& addr = "127.0.0.1") {
  const std::string marker = "manager published on " + addr + ":";
  auto published = [&] { return run.log().find(marker) != std::string::npos; };
  BOOST_REQUIRE_MESSAGE(
    eventually([&] { return published() || !run.running(); }, 60)
      && published(),
    "the runner did not publish: " << run.log());
  auto log = run.log();
  return static_cast<uint16_t>(
    std::stoi(log.substr(log.find(marker) + marker.size())));
}

/// `argv` run as user nobody, group nogroup and no other groups: another
/// user of this machine, who may not read the store.
inline std::vector<std::string> as_nobody(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"setpriv", "--reuid=nobody", "--regid=nogroup",
                             "--clear-groups"});
  return argv;
}

/// What a plain TCP peer reads on a new connection to 127.0.0.1:`port`.
struct probe_result {
  long bytes = -1;     ///< read before the end (-1: no connection)
  bool closed = false; ///< the server closed it (else 5 s passed)
};

/// Connects to 127.0.0.1:`port` as user `name` (root: as this process)
/// and reads until the server closes the connection or 5 s pass.
inline probe_result probe_port_as(const std::string& name, uint16_t port) {
  auto* pw = getpwnam(name.c_str());
  BOOST_REQUIRE_MESSAGE(pw != nullptr, "no user " << name);
  uid_t uid = pw->pw_uid;
  gid_t gid = pw->pw_gid;
  int fds[2];
  BOOST_REQUIRE(pipe(fds) == 0);
  auto child = fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    // Only async-signal-safe calls from here on.
    ::close(fds[0]);
    long out[2] = {-1, 0};
    if (setgroups(0, nullptr) == 0 && setgid(gid) == 0 && setuid(uid) == 0) {
      int s = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (s >= 0
          && ::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
               == 0) {
        out[0] = 0;
        char buf[4096];
        for (;;) {
          pollfd p{s, POLLIN, 0};
          if (::poll(&p, 1, 5000) <= 0)
            break;
          auto n = ::read(s, buf, sizeof(buf));
          if (n <= 0) {
            out[1] = 1;
            break;
          }
          out[0] += n;
        }
      }
    }
    auto ignored = ::write(fds[1], out, sizeof(out));
    (void) ignored;
    _exit(0);
  }
  ::close(fds[1]);
  long in[2] = {-1, 0};
  auto n = ::read(fds[0], in, sizeof(in));
  ::close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  BOOST_REQUIRE(n == static_cast<ssize_t>(sizeof(in)));
  return {in[0], in[1] != 0};
}

} // namespace procman::test
