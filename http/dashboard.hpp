// The web dashboard (docs/dashboard.md): an HTML page, one script and one
// style sheet, compiled into the program (http/dashboard_files.py), served
// at "/" by the API's server. The page is a client of /api/v1 like any
// other, with the token the user signs in with; the server only hands out
// its files, each with the headers that keep a browser from running
// anything else on the page (a strict Content-Security-Policy, nosniff,
// no framing).

#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "procman/http/api.hpp"

namespace procman::http {

/// One of the dashboard's files.
struct dashboard_file {
  std::string_view path; ///< "/" for the page
  std::string_view type; ///< Content-Type
  std::string_view etag; ///< a quoted hash of the body
  std::string_view body;
};

/// The files (generated at build time from http/dashboard/).
const std::vector<dashboard_file>& dashboard_files();

/// The Content-Security-Policy of every dashboard response.
constexpr std::string_view dashboard_csp
  = "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The answer to a request for one of the dashboard's paths (GET or HEAD;
/// another method is a 405); none for any other path, which the API
/// answers.
std::optional<response> dashboard_page(const request_header& h);

} // namespace procman::http
