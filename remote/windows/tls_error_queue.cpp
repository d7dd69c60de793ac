// remote/tls_error_queue.cpp on Windows: the same four OpenSSL calls of
// caf::openssl, each started with an empty error queue (that file says
// why: a peer that closes without close_notify would otherwise close
// healthy connections of the same thread). Windows has no dynamic symbol
// lookup for a static program: the linker's --wrap
// (cmake/windows/procman.cmake) sends caf::openssl's calls to these
// __wrap_ functions, which call OpenSSL's as __real_.

#include <openssl/err.h>
#include <openssl/ssl.h>

extern "C" {

int __real_SSL_read(SSL* ssl, void* buf, int num);
int __real_SSL_write(SSL* ssl, const void* buf, int num);
int __real_SSL_accept(SSL* ssl);
int __real_SSL_connect(SSL* ssl);

int __wrap_SSL_read(SSL* ssl, void* buf, int num) {
  ERR_clear_error();
  return __real_SSL_read(ssl, buf, num);
}

int __wrap_SSL_write(SSL* ssl, const void* buf, int num) {
  ERR_clear_error();
  return __real_SSL_write(ssl, buf, num);
}

int __wrap_SSL_accept(SSL* ssl) {
  ERR_clear_error();
  return __real_SSL_accept(ssl);
}

int __wrap_SSL_connect(SSL* ssl) {
  ERR_clear_error();
  return __real_SSL_connect(ssl);
}

} // extern "C"

namespace procman::detail {

// Referenced by configure_remote, so that a program that uses TLS links
// this file from the static library.
void tls_error_queue_cleared() {
  // nop
}

} // namespace procman::detail
