// Remote access with mutual TLS: real procman-runner processes published
// with --tls-cert/--tls-key/--tls-ca on loopback, hosts in actor systems of
// their own, certificates from two CAs made by the openssl command.

#include <csignal>
#include <filesystem>

#include <caf/scoped_actor.hpp>

#include "procman/messages/error.hpp"
#include "procman/remote/remote.hpp"

#include "cli_fixture.hpp"
#include "engine_helpers.hpp"
#include "remote_helpers.hpp"

using namespace procman;
using namespace procman::test;

namespace {

struct tls_fixture : cli_fixture {
  test_pki pki{tmp.str() + "/pki"};

  /// A waiting runner published on 127.0.0.1 with `tls` (default: the
  /// runner certificate, trusting ca-a).
  std::unique_ptr<background> tls_runner(std::vector<std::string> tls = {}) {
    if (tls.empty())
      tls = pki.args("runner", "ca-a");
    std::vector<std::string> args{"--wait", "--publish", "0"};
    args.insert(args.end(), tls.begin(), tls.end());
    return background_runner(args);
  }

  /// Connects to the manager on `port` as `tls`; fails the test if it cannot.
  manager_actor must_connect(node& n, uint16_t port) {
    auto mgr = connect_manager(*n.sys, "127.0.0.1", port);
    BOOST_REQUIRE_MESSAGE(mgr, "connect: " << (mgr ? "" : render(mgr.error())));
    return *mgr;
  }

  /// Starts a one-step process through `mgr`, and checks that the runner
  /// finishes it with the output the step set.
  void run_process(node& n, const manager_actor& mgr) {
    caf::scoped_actor self{*n.sys};
    auto s = test_spec(
      R"({"steps": {"a": {"class": "procman.set", "args": {"n": 7}}}})");
    std::string pid;
    self->request(mgr, std::chrono::seconds(30), start_request{s, {}, {}})
      .receive([&](const std::string& x) { pid = x; },
               [&](const caf::error& e) { BOOST_FAIL(render(e)); });
    BOOST_REQUIRE_EQUAL(pid.size(), 32u);
    BOOST_TEST(procman({"wait", pid, "--timeout", "60"}).exit_code == 0);
    BOOST_TEST(status(pid).at("output").at("n").as_int64() == 7);
  }

  /// A connection as `n` that the handshake ends.
  void refused(node& n, uint16_t port) {
    auto mgr = connect_manager(*n.sys, "127.0.0.1", port);
    BOOST_REQUIRE_MESSAGE(!mgr, "connected, but should have been refused");
    BOOST_TEST(is(mgr.error(), errc::connect_failure));
    BOOST_TEST(render(mgr.error()).find("closed during the handshake")
                 != std::string::npos,
               render(mgr.error()));
  }

  /// The runner still runs and a host it trusts gets a process done.
  void still_serves(background& run, uint16_t port) {
    BOOST_TEST(run.running());
    node host{pki.files("host", "ca-a")};
    run_process(host, must_connect(host, port));
  }

  /// A TLS runner refuses a host configured with `peer` and goes on
  /// serving the hosts it trusts.
  void runner_refuses(const tls_options& peer) {
    auto run = tls_runner();
    auto port = published_port(*run);
    node n{peer};
    refused(n, port);
    still_serves(*run, port);
    stop(*run);
  }

  void stop(background& run) {
    run.signal(SIGTERM);
    BOOST_TEST(run.wait(60));
    BOOST_TEST(run.exit_code() == 0);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(runner_tls, tls_fixture)

BOOST_AUTO_TEST_CASE(
  a_host_with_a_certificate_from_the_same_ca_starts_a_process_that_finishes) {
  auto run = tls_runner();
  auto port = published_port(*run);
  BOOST_TEST(run->log().find("with mutual TLS") != std::string::npos);
  BOOST_TEST(run->log().find("anyone on this machine") == std::string::npos);
  still_serves(*run, port);
  stop(*run);
}

BOOST_AUTO_TEST_CASE(a_host_whose_certificate_another_ca_signed_is_refused) {
  // The stranger trusts ca-a, so only the runner's check can refuse it.
  runner_refuses(pki.files("stranger", "ca-a"));
}

BOOST_AUTO_TEST_CASE(a_host_without_tls_is_refused) {
  runner_refuses({});
}

BOOST_AUTO_TEST_CASE(a_peer_without_a_certificate_is_refused) {
  // CAF always presents a certificate, so the peer is openssl s_client; it
  // would wait for the manager's first message if it got through.
  auto run = tls_runner();
  auto port = published_port(*run);
  auto res = run_command({"openssl", "s_client", "-ign_eof", "-connect",
                          "127.0.0.1:" + std::to_string(port), "-CAfile",
                          pki.path("ca-a.pem")},
                         {}, 60);
  BOOST_TEST(res.signal == 0, "s_client was not refused within 60 s");
  BOOST_TEST(res.exit_code != 0);
  BOOST_TEST(res.err.find("certificate required") != std::string::npos,
             res.err);
  still_serves(*run, port);
  stop(*run);
}

BOOST_AUTO_TEST_CASE(
  a_host_refuses_a_runner_whose_certificate_its_ca_did_not_sign) {
  auto run = tls_runner();
  auto port = published_port(*run);
  // The host's own certificate is fine for the runner; the host trusts
  // only ca-b, which did not sign the runner's.
  node host{pki.files("host", "ca-b")};
  refused(host, port);
  stop(*run);
}

BOOST_AUTO_TEST_CASE(a_host_with_tls_cannot_talk_to_a_runner_without_it) {
  auto run = background_runner({"--wait", "--publish", "0"});
  auto port = published_port(*run);
  node host{pki.files("host", "ca-a")};
  auto mgr = connect_manager(*host.sys, "127.0.0.1", port);
  BOOST_REQUIRE_MESSAGE(!mgr, "a TLS host talked to a cleartext runner");
  // Refused at once or during the handshake, depending on timing.
  BOOST_TEST(is(mgr.error(), errc::connect_failure), render(mgr.error()));
  stop(*run);
}

BOOST_AUTO_TEST_CASE(the_runner_keeps_serving_after_its_tls_files_are_removed) {
  // CAF reads its TLS files at every connection and aborts the program when
  // it cannot; the runner hands it copies taken at start.
  auto live = tmp.path / "live";
  std::filesystem::create_directories(live);
  for (auto f : {"runner.pem", "runner.key", "ca-a.pem"})
    std::filesystem::copy_file(pki.path(f), live / f);
  auto run = tls_runner({"--tls-cert", (live / "runner.pem").string(),
                         "--tls-key", (live / "runner.key").string(),
                         "--tls-ca", (live / "ca-a.pem").string()});
  auto port = published_port(*run);
  std::filesystem::remove_all(live);
  node stranger{pki.files("stranger", "ca-a")};
  refused(stranger, port);
  still_serves(*run, port);
  stop(*run);
}

BOOST_AUTO_TEST_CASE(with_tls_the_runner_may_bind_every_address) {
  auto args = pki.args("runner", "ca-a");
  args.insert(args.begin(), {"--bind", "0.0.0.0"});
  auto run = tls_runner(args);
  auto port = published_port(*run, "0.0.0.0");
  node plain;
  refused(plain, port);
  still_serves(*run, port);
  stop(*run);
}

BOOST_AUTO_TEST_CASE(partial_tls_options_exit_2_naming_what_is_missing) {
  auto f = pki.files("runner", "ca-a");
  auto res = runner({"--publish", "0", "--tls-cert", f.cert});
  BOOST_TEST(res.exit_code == 2);
  BOOST_TEST(res.err.find("missing --tls-key, --tls-ca") != std::string::npos,
             res.err);
  res = runner({"--publish", "0", "--tls-key", f.key, "--tls-ca", f.ca});
  BOOST_TEST(res.exit_code == 2);
  BOOST_TEST(res.err.find("missing --tls-cert") != std::string::npos, res.err);
  res = runner({"--tls-cert", f.cert, "--tls-key", f.key, "--tls-ca", f.ca});
  BOOST_TEST(res.exit_code == 2);
  BOOST_TEST(res.err.find("option --tls-cert needs --publish")
               != std::string::npos,
             res.err);
}

BOOST_AUTO_TEST_CASE(an_unusable_tls_file_exits_2_naming_it) {
  auto f = pki.files("runner", "ca-a");
  auto with = [&](std::string cert, std::string key, std::string ca) {
    return runner({"--wait", "--publish", "0", "--tls-cert", cert, "--tls-key",
                   key, "--tls-ca", ca});
  };
  auto expect = [](const command_result& res, const std::string& text) {
    BOOST_TEST(res.exit_code == 2);
    BOOST_TEST(res.err.find(text) != std::string::npos, res.err);
  };
  auto missing = pki.path("missing.key");
  expect(with(f.cert, missing, f.ca),
         "cannot read the TLS key " + missing + ": No such file or directory");
  expect(with(f.cert, pki.path("host.key"), f.ca),
         "the TLS key " + pki.path("host.key")
           + " does not belong to the certificate " + f.cert);
  expect(with(f.cert, f.key, f.key),
         "the TLS CA file " + f.key + " holds no usable PEM certificate");
  expect(with(f.key, f.key, f.ca),
         "the TLS certificate " + f.key + " is not a usable PEM certificate");
  // An encrypted key is refused at once rather than asking for a passphrase.
  auto enc = pki.path("encrypted.key");
  BOOST_REQUIRE(run_command({"openssl", "pkey", "-in", f.key, "-aes256",
                             "-passout", "pass:secret", "-out", enc})
                  .exit_code
                == 0);
  expect(with(f.cert, enc, f.ca),
         "the TLS key " + enc + " is not a usable unencrypted PEM private key");
}

BOOST_AUTO_TEST_CASE(configure_remote_names_what_is_missing_or_unusable) {
  auto f = pki.files("host", "ca-a");
  caf::actor_system_config cfg;
  auto err = configure_remote(cfg, {f.cert, "", ""});
  BOOST_TEST(is(err, errc::invalid_argument));
  BOOST_TEST(render(err)
             == "TLS needs a certificate, a key and a CA; missing: key, ca");
  err = configure_remote(cfg, {f.cert, f.key, pki.path("nowhere.pem")});
  BOOST_TEST(render(err)
             == "cannot read the TLS CA file " + pki.path("nowhere.pem")
                  + ": No such file or directory");
}

BOOST_AUTO_TEST_SUITE_END()
