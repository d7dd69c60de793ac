// What procman checks of a TLS key and certificate before serving with
// them, the same for CAF's TLS (remote/remote.cpp) and the HTTP server's
// (http/server.cpp): OpenSSL only, no CAF, so that both can include it.

#pragma once

#include <string>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace procman::tls {

/// OpenSSL's queued errors as one line (and the queue emptied).
inline std::string ssl_errors() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

/// Refuses encrypted keys instead of letting OpenSSL prompt on a terminal.
inline int no_passphrase(char*, int, int, void*) {
  return 0;
}

/// Loads the PEM key and certificate (chain) at `key` and `cert` into
/// `ctx`; empty, or what is wrong naming them as `key_name` and
/// `cert_name` (the paths a user gave).
inline std::string use_key_and_certificate(SSL_CTX* ctx, const std::string& key,
                                           const std::string& cert,
                                           const std::string& key_name,
                                           const std::string& cert_name) {
  ERR_clear_error();
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  // The key before the certificate: the other order reports a key that
  // belongs to another certificate as an unusable key.
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1)
    return "the TLS key " + key_name
           + " is not a usable unencrypted PEM private key: " + ssl_errors();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1)
    return "the TLS certificate " + cert_name
           + " is not a usable PEM certificate: " + ssl_errors();
  if (SSL_CTX_check_private_key(ctx) != 1)
    return "the TLS key " + key_name + " does not belong to the certificate "
           + cert_name;
  return {};
}

} // namespace procman::tls
