// The HTTP API's bearer tokens, as a client makes and a server checks them
// (docs/http.md, "Tokens"): "pm_" and 43 characters of URL-safe base64 (32
// bytes of getrandom()). The store keeps only a token's SHA-256
// (token_record, messages/requests.hpp), so the token itself is printed
// once and never crosses a connection to a store node.

#pragma once

#include <string>
#include <string_view>

#include "procman/messages/failure.hpp"

namespace procman::http {

/// The prefix of every token: a token is recognisable in a log or a leak
/// scan.
constexpr std::string_view token_prefix = "pm_";

/// A fresh token. Errors: storage_failure when getrandom() fails.
outcome<std::string> make_token();

/// SHA-256 of `text` as 64 lowercase hex.
std::string sha256_hex(std::string_view text);

/// What the store keeps of `token`: its SHA-256 (hex).
inline std::string token_hash(std::string_view token) {
  return sha256_hex(token);
}

} // namespace procman::http
