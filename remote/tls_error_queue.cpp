// OpenSSL's calls that caf::openssl (CAF 0.17) makes on a node's TLS
// connections, wrapped so that each starts with an empty error queue.
//
// Why: OpenSSL 3 reports a peer that closes its connection without a TLS
// close_notify (every `procman --connect` that exits, a node killed) as an
// error and leaves it in the error queue of the thread that read it; CAF
// closes that connection but never clears the queue. SSL_get_error then
// reads the stale error when the next SSL_read on *another* connection of
// the same thread merely wants more data, and CAF closes that healthy
// connection too: a worker node lost its store node whenever a client
// disconnected. OpenSSL requires the queue to be empty before each of
// these calls (SSL_get_error(3)); these definitions in the program, found
// before libssl's, make it so and call libssl's.

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "procman/remote/remote.hpp"

namespace {

template <class F>
F next_definition(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = next_definition<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real
    = next_definition<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto real = next_definition<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto real = next_definition<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

} // extern "C"

namespace procman::detail {

// Referenced by configure_remote, so that a program that uses TLS links
// this file from the static library.
void tls_error_queue_cleared() {
  // nop
}

} // namespace procman::detail
