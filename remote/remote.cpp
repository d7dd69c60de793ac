#include "procman/remote/remote.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <tuple>

#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "procman/messages/error.hpp"
#include "procman/platform/files.hpp"
#include "procman/platform/paths.hpp"
#include "procman/platform/system.hpp"
#include "procman/remote/accept_guard.hpp"
#include "procman/remote/tls_files.hpp"

namespace procman {

namespace detail {

void tls_error_queue_cleared(); // remote/tls_error_queue.cpp

} // namespace detail

namespace {

caf::error invalid(std::string msg) {
  return make_error(errc::invalid_argument, std::move(msg));
}

std::string absolute(const std::string& path) {
  return platform::utf8_from_path(
    std::filesystem::absolute(platform::path_from_utf8(path))
      .lexically_normal());
}

/// The contents of `path` (UTF-8), with errno's words if it cannot be
/// read: OpenSSL's own messages for a missing file do not say so plainly.
caf::expected<std::string> read_file(const std::string& what,
                                     const std::string& path) {
  auto fail = [&](int err) {
    return invalid("cannot read the TLS " + what + " " + path + ": "
                   + std::strerror(err));
  };
  auto file = platform::path_from_utf8(path);
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec))
    return fail(EISDIR);
  errno = 0;
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open())
    return fail(errno != 0 ? errno : ENOENT);
  std::string out{std::istreambuf_iterator<char>(in),
                  std::istreambuf_iterator<char>()};
  if (in.bad())
    return fail(errno != 0 ? errno : EIO);
  if (out.empty())
    return invalid("the TLS " + what + " " + path + " is empty");
  return out;
}

/// invalid_argument naming which of the three are missing; none when all
/// are there.
caf::error check_complete(const tls_options& tls) {
  std::string missing;
  auto need = [&](const std::string& value, const char* name) {
    if (value.empty())
      missing += (missing.empty() ? "" : ", ") + std::string(name);
  };
  need(tls.cert, "cert");
  need(tls.key, "key");
  need(tls.ca, "ca");
  if (missing.empty())
    return caf::none;
  return invalid("TLS needs a certificate, a key and a CA; missing: "
                 + missing);
}

/// Loads `files` as CAF will (caf::openssl::session), so that what would
/// fail there, at a connection, fails here; messages name the files in
/// `names`.
caf::error load_tls(const tls_options& files, const tls_options& names) {
  ERR_clear_error();
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx{
    SSL_CTX_new(TLS_method()), SSL_CTX_free};
  if (!ctx)
    return invalid("cannot create a TLS context: " + tls::ssl_errors());
  if (auto err = tls::use_key_and_certificate(ctx.get(), files.key, files.cert,
                                              names.key, names.cert);
      !err.empty())
    return invalid(err);
  if (SSL_CTX_load_verify_locations(ctx.get(), files.ca.c_str(), nullptr) != 1)
    return invalid("the TLS CA file " + names.ca
                   + " holds no usable PEM certificate: " + tls::ssl_errors());
  return caf::none;
}

/// The three files' contents, or the first that cannot be read.
caf::expected<tls_options> read_tls(const tls_options& tls) {
  if (auto err = check_complete(tls))
    return err;
  tls_options out;
  for (auto [what, path, dst] :
       {std::tuple{"certificate", &tls.cert, &out.cert},
        std::tuple{"key", &tls.key, &out.key},
        std::tuple{"CA file", &tls.ca, &out.ca}}) {
    auto contents = read_file(what, *path);
    if (!contents)
      return std::move(contents.error());
    *dst = std::move(*contents);
  }
  return out;
}

} // namespace

caf::error configure_remote(caf::actor_system_config& cfg,
                            const tls_options& tls) {
  tls_options files;
  if (tls.enabled()) {
    auto contents = read_tls(tls);
    if (!contents)
      return std::move(contents.error());
    // CAF reads its TLS files again at every connection and aborts the
    // program when that fails (caf::openssl::session raises in the I/O
    // thread), so it gets copies that nothing changes.
    files = {platform::private_copy(contents->cert),
             platform::private_copy(contents->key),
             platform::private_copy(contents->ca)};
    // Without a copy, CAF reads the files themselves.
    if (files.cert.empty() || files.key.empty() || files.ca.empty())
      files = {absolute(tls.cert), absolute(tls.key), absolute(tls.ca)};
    if (auto err = load_tls(files, tls))
      return err;
  }
  cfg.load<caf::io::middleman>();
  detail::tls_error_queue_cleared();
  detail::accept_guard_linked();
  // Peers that close idle connections (a store node, a worker node) hear
  // from this node at least this often.
  cfg.set("middleman.heartbeat-interval", caf::timespan{heartbeat_interval});
  if (tls.enabled()) {
    cfg.openssl_certificate = files.cert;
    cfg.openssl_key = files.key;
    cfg.openssl_cafile = files.ca;
    cfg.openssl_capath.clear();
    cfg.openssl_passphrase.clear();
    // After the middleman: the manager's factory looks for it.
    cfg.load<caf::openssl::manager>();
  }
  return caf::none;
}

bool uses_tls(const caf::actor_system& sys) {
  // caf::openssl without a certificate would speak anonymous TLS, which
  // authenticates nobody: that counts as cleartext here.
  return sys.has_openssl_manager() && !sys.config().openssl_certificate.empty();
}

bool is_loopback(const std::string& host) {
  return platform::is_loopback_host(host);
}

namespace {

template <class Handle>
caf::expected<uint16_t> publish_actor(caf::actor_system& sys, const Handle& hdl,
                                      uint16_t port, const std::string& bind,
                                      const std::string& what,
                                      const std::string& readers_of) {
  if (auto err = can_publish())
    return err;
  if (!sys.has_middleman())
    return invalid(
      "cannot publish " + what
      + ": the actor system has no "
        "middleman (call configure_remote before constructing it)");
  auto tls = uses_tls(sys);
  if (!tls && !is_loopback(bind))
    return invalid("refusing to publish " + what + " on "
                   + (bind.empty() ? std::string("every address") : bind)
                   + " without TLS: anyone who reaches it could run commands; "
                     "bind 127.0.0.1 or ::1, or give a certificate, a key and "
                     "a CA");
  // Without TLS, the kernel says who connects (remote/accept_guard.hpp).
  detail::expected_listener listener{bind, port,
                                     detail::peer_rule{!tls, readers_of, what}};
  auto res = tls ? caf::openssl::publish(hdl, port, bind.c_str(), true)
                 : sys.middleman().publish(hdl, port, bind.c_str(), true);
  if (!res)
    return res;
  // Only a listener without TLS can fail to be confirmed.
  if (auto err = listener.confirm(*res)) {
    sys.middleman().unpublish(hdl, *res);
    return err;
  }
  return res;
}

} // namespace

caf::expected<uint16_t>
publish_manager(caf::actor_system& sys, const manager_actor& mgr, uint16_t port,
                const std::string& bind, const std::string& readers_of) {
  return publish_actor(sys, mgr, port, bind, "the manager", readers_of);
}

caf::expected<uint16_t>
publish_gate(caf::actor_system& sys, const node_gate_actor& gate, uint16_t port,
             const std::string& bind, const std::string& readers_of) {
  return publish_actor(sys, gate, port, bind, "the store node", readers_of);
}

void set_connection_timeout(caf::actor_system_config& cfg,
                            caf::timespan timeout) {
  cfg.set("middleman.heartbeat-interval", caf::timespan{heartbeat_interval});
  cfg.set("middleman.connection-timeout", timeout);
}

caf::actor connector(caf::actor_system& sys) {
  return uses_tls(sys)
           ? caf::actor_cast<caf::actor>(sys.openssl_manager().actor_handle())
           : caf::actor_cast<caf::actor>(sys.middleman().actor_handle());
}

std::string connect_failure_reason(caf::actor_system& sys,
                                   const caf::error& err) {
  if (err == caf::sec::disconnect_during_handshake)
    return uses_tls(sys)
             ? "the connection closed during the handshake: the peer refused "
               "this node's certificate, this node refused the peer's, or one "
               "side uses TLS and the other does not"
             : "the connection closed during the handshake: without TLS a "
               "node admits only users who may read its store directory "
               "(this user may not), or the peer uses TLS";
  if (err == caf::sec::cannot_connect_to_node)
    // caf::openssl reports a handshake that fails at once the same way as
    // a refused TCP connection.
    return uses_tls(sys) ? "nothing accepts connections there, or the peer "
                           "does not speak TLS"
                         : "nothing accepts connections there";
  if (err == caf::sec::request_timeout)
    return "no answer within the timeout";
  if (err.category() == caf::atom("procman"))
    return render(err);
  return sys.render(err);
}

caf::expected<std::pair<std::string, uint16_t>>
parse_host_port(const std::string& text, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return invalid(what + " must be HOST:PORT, not \"" + text + "\": " + why);
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return bad("no port");
  auto host = text.substr(0, colon);
  auto port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string::npos)
    return bad("write an IPv6 address in brackets, [::1]:PORT");
  if (host.empty())
    return bad("no host");
  if (port_text.empty() || port_text.size() > 5
      || port_text.find_first_not_of("0123456789") != std::string::npos)
    return bad("the port is not a number");
  auto port = std::stoul(port_text);
  if (port > 65535)
    return bad("the port is past 65535");
  return std::make_pair(host, static_cast<uint16_t>(port));
}

caf::expected<manager_actor>
connect_manager(caf::actor_system& sys, const std::string& host, uint16_t port,
                caf::timespan timeout) {
  auto where = host + ":" + std::to_string(port);
  auto fail = [&](const std::string& why) {
    return make_error(errc::connect_failure,
                      "cannot connect to the manager at " + where + ": " + why);
  };
  if (!sys.has_middleman())
    return fail("the actor system has no middleman (call configure_remote "
                "before constructing it)");
  // The middleman actor's connect, as caf::io::remote_actor does, but with a
  // timeout: a peer that accepts and never answers must not block forever.
  caf::expected<manager_actor> result{caf::sec::none};
  caf::scoped_actor self{sys};
  self->request(connector(sys), timeout, caf::connect_atom::value, host, port)
    .receive(
      [&](caf::node_id&, caf::strong_actor_ptr& ptr,
          std::set<std::string>& ifs) {
        if (!ptr)
          result = fail("no manager is published on that port");
        else if (!sys.assignable<manager_actor>(ifs))
          result = fail("the actor there is not a procman manager (or the "
                        "nodes run different procman versions)");
        else
          result = caf::actor_cast<manager_actor>(std::move(ptr));
      },
      [&](caf::error& err) {
        result = fail(connect_failure_reason(sys, err));
      });
  return result;
}

} // namespace procman
