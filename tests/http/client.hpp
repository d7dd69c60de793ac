// A real HTTP client for the HTTP API's tests, not the server's own code:
// Python's http.client (and ssl, for https:// with a CA file), one
// kept-alive connection per call.

#pragma once

#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "fixtures/temp_dir.hpp"

namespace procman::test {

/// One request: method, path under /api/v1, JSON body (empty: none).
struct request {
  std::string method;
  std::string path;
  std::string body;
};

struct answer {
  int status = 0;
  std::string body;
  std::string location; ///< the Location header, if any
  boost::json::value doc() const { return boost::json::parse(body); }
};

/// argv: BASE CA TOKEN, then METHOD PATH BODY per request; prints each
/// answer as a JSON line.
inline const char* const http_client_py = R"(
import http.client, json, ssl, sys, urllib.parse
base, ca, token = sys.argv[1:4]
u = urllib.parse.urlsplit(base)
if u.scheme == "https":
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx,
                                       timeout=30)
else:
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
args = sys.argv[4:]
for i in range(0, len(args), 3):
    method, path, body = args[i:i + 3]
    headers = {}
    if token:
        headers["Authorization"] = "Bearer " + token
    if body:
        headers["Content-Type"] = "application/json"
    conn.request(method, "/api/v1" + path, body=body or None, headers=headers)
    r = conn.getresponse()
    print(json.dumps({"status": r.status, "body": r.read().decode(),
                      "location": r.getheader("Location")}))
)";

/// Sends `requests` on one connection to `base` (http[s]://HOST:PORT),
/// with `token` if not empty, checking an https server's certificate
/// against `ca`.
inline std::vector<answer> http_client(const std::string& base,
                                       const std::string& ca,
                                       const std::string& token,
                                       const std::vector<request>& requests) {
  std::vector<std::string> argv{"python3", "-c", http_client_py, base, ca,
                                token};
  for (auto& r : requests)
    argv.insert(argv.end(), {r.method, r.path, r.body});
  auto res = run_command(argv, {}, 60);
  BOOST_REQUIRE_MESSAGE(res.exit_code == 0, "python3: " << res.err);
  std::vector<answer> out;
  std::istringstream lines{res.out};
  for (std::string line; std::getline(lines, line);) {
    auto o = boost::json::parse(line).as_object();
    answer a;
    a.status = static_cast<int>(o.at("status").as_int64());
    a.body = std::string{o.at("body").as_string()};
    if (o.at("location").is_string())
      a.location = std::string{o.at("location").as_string()};
    out.push_back(std::move(a));
  }
  BOOST_REQUIRE_EQUAL(out.size(), requests.size());
  return out;
}

/// A self-signed certificate for 127.0.0.1 and localhost, made by
/// openssl: PEM files `cert` and `key` (unencrypted).
inline void make_certificate(const std::string& cert, const std::string& key) {
  auto made
    = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out",
                   cert, "-days", "2", "-subj", "/CN=localhost", "-addext",
                   "subjectAltName=IP:127.0.0.1,DNS:localhost"},
                  {}, 60);
  BOOST_REQUIRE_MESSAGE(made.exit_code == 0, made.err);
}

} // namespace procman::test
