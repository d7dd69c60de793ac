// Starts sent all at once through tests/http/client.py `posts`: a thread
// and a connection each, released together.

#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "fixtures/temp_dir.hpp"

namespace procman::test {

/// How one start was answered.
struct posted {
  int64_t status = 0;
  std::string pid;
};

/// The command that POSTs `body` to /api/v1/processes on 127.0.0.1:`port`
/// once per key, all at once, each key as the Idempotency-Key ("-": none).
inline std::vector<std::string>
posts_command(uint16_t port, const std::string& token, const std::string& body,
              const std::vector<std::string>& keys) {
  std::vector<std::string> argv{"python3", source_path("tests/http/client.py"),
                                "posts",   std::to_string(port),
                                token,     body};
  argv.insert(argv.end(), keys.begin(), keys.end());
  return argv;
}

/// The answers `posts_command` printed, one per key, in the keys' order.
inline std::vector<posted> posts_answers(const command_result& res,
                                         size_t keys) {
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, "client.py: " << res.err);
  auto doc = boost::json::parse(res.out);
  std::vector<posted> out;
  for (auto& a : doc.as_array())
    out.push_back(
      {a.at("status").as_int64(), std::string{a.at("pid").as_string()}});
  BOOST_REQUIRE_EQUAL(out.size(), keys);
  return out;
}

/// `posts_command` run to its end: its answers.
inline std::vector<posted> post_all(uint16_t port, const std::string& token,
                                    const std::string& body,
                                    const std::vector<std::string>& keys) {
  return posts_answers(
    run_command(posts_command(port, token, body, keys), {}, 120), keys.size());
}

/// `n` keys "`prefix`0", "`prefix`1", ..., then `m` times `shared`.
inline std::vector<std::string> keys_of(const std::string& prefix, int n,
                                        const std::string& shared = {},
                                        int m = 0) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(prefix + std::to_string(i));
  for (int i = 0; i < m; ++i)
    out.push_back(shared);
  return out;
}

} // namespace procman::test
