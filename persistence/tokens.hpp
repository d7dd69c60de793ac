// The API tokens table (the HTTP API's bearer tokens, docs/http.md).
//
//   tokens  SHA-256 of the token (64 lowercase hex) -> version byte +
//           binary token_record
//
// Keyed by the hash, so that checking a request's token is one read; the
// few other reads (list, revoke by id or name) scan it.

#pragma once

#include <optional>
#include <string>
#include <vector>

#include "procman/messages/failure.hpp"
#include "procman/messages/requests.hpp"
#include "procman/persistence/transaction.hpp"

namespace procman::tables::tokens {

std::optional<token_record> load(const tx& t, const std::string& hash);

void save(const tx& t, const token_record& x);

void remove(const tx& t, const std::string& hash);

/// Every token, oldest first.
std::vector<token_record> all(const tx& t);

/// Stores `x` unless its hash or its name is taken: the record stored (the
/// one stored already when `x` was added before with the same name and
/// scope), or the refusal (invalid_argument).
outcome<token_record> add(const tx& t, const token_record& x);

/// Removes the token whose id or name is `which`: the one removed, if any.
std::optional<token_record> revoke(const tx& t, const std::string& which);

} // namespace procman::tables::tokens
