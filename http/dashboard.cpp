#include "procman/http/dashboard.hpp"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

namespace procman::http {

namespace {

/// The headers of every dashboard response, its errors too.
void secure(response& res) {
  res.set("Content-Security-Policy", dashboard_csp);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  // Revalidated on each load (the ETag makes that a 304): a new program
  // serves its own files at once.
  res.set(bhttp::field::cache_control, "no-cache");
}

} // namespace

std::optional<response> dashboard_page(const request_header& h) {
  auto target = std::string_view{h.target().data(), h.target().size()};
  auto path = target.substr(0, target.find('?'));
  const dashboard_file* file = nullptr;
  for (auto& f : dashboard_files())
    if (f.path == path || (f.path == "/" && path == "/index.html"))
      file = &f;
  if (!file)
    return std::nullopt;
  auto v = h.version();
  if (h.method() != bhttp::verb::get && h.method() != bhttp::verb::head) {
    auto res = problem(v, bhttp::status::method_not_allowed, "invalid_argument",
                       std::string{h.method_string()} + " is not allowed on "
                         + std::string{path} + " (allowed: GET, HEAD)");
    res.set(bhttp::field::allow, "GET, HEAD");
    secure(res);
    return res;
  }
  auto inm = h[bhttp::field::if_none_match];
  bool fresh = std::string_view{inm.data(), inm.size()} == file->etag;
  response res{fresh ? bhttp::status::not_modified : bhttp::status::ok, v};
  res.set(bhttp::field::content_type, file->type);
  res.set(bhttp::field::etag, file->etag);
  secure(res);
  if (!fresh && h.method() == bhttp::verb::get)
    res.body() = std::string{file->body};
  res.prepare_payload();
  if (!fresh && h.method() == bhttp::verb::head)
    res.content_length(file->body.size());
  // HTTP/1.1 keeps a connection open unless the client says close.
  auto conn = h[bhttp::field::connection];
  res.keep_alive(v >= 11 ? !boost::beast::iequals(conn, "close")
                         : boost::beast::iequals(conn, "keep-alive"));
  return res;
}

} // namespace procman::http
