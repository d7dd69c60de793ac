#include "procman/http/token.hpp"

#include <system_error>

// SHA256_Init and friends: deprecated in OpenSSL 3 in favour of EVP, but
// EVP_Digest pulls the provider machinery (4 MB) into the statically
// linked CLI where the low-level functions take 30 kB (docs/http.md).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "procman/platform/system.hpp"

namespace procman::http {

outcome<std::string> make_token() {
  unsigned char raw[32];
  try {
    platform::random_bytes(raw, sizeof raw);
  } catch (const std::system_error& e) {
    return make_failure(errc::storage_failure, e.what());
  }
  static constexpr char alphabet[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out{token_prefix};
  uint32_t bits = 0;
  int count = 0;
  for (auto b : raw) {
    bits = (bits << 8) | b;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out += alphabet[(bits >> count) & 63];
    }
  }
  if (count > 0)
    out += alphabet[(bits << (6 - count)) & 63];
  return out;
}

std::string sha256_hex(std::string_view text) {
  unsigned char h[SHA256_DIGEST_LENGTH];
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, text.data(), text.size());
  SHA256_Final(h, &ctx);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * sizeof h);
  for (auto c : h) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

} // namespace procman::http
