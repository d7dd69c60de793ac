#include "procman/http/server.hpp"

#include <csignal>
#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "procman/http/api.hpp"

namespace procman::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

outcome<std::pair<std::string, uint16_t>> split_listen(const std::string& x) {
  auto colon = x.rfind(':');
  auto bad = [&](const std::string& why) {
    return make_failure(errc::invalid_argument,
                        "--http \"" + x + "\" " + why
                          + " (ADDR:PORT, e.g. 127.0.0.1:8080)");
  };
  if (colon == std::string::npos || colon == 0)
    return bad("has no address");
  auto host = x.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto port_text = x.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5
      || port_text.find_first_not_of("0123456789") != std::string::npos)
    return bad("has no port number");
  auto port = std::stoul(port_text);
  if (port > 65535)
    return bad("has a port past 65535");
  return std::pair{host, static_cast<uint16_t>(port)};
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost")
    return true;
  boost::system::error_code ec;
  auto a = asio::ip::make_address(host, ec);
  return !ec && a.is_loopback();
}

namespace {

struct shared {
  api routes;
  server_options opts;
  uint32_t connections = 0;
};

class session : public std::enable_shared_from_this<session> {
public:
  session(tcp::socket s, shared& sh) : stream_(std::move(s)), sh_(sh) {
    ++sh_.connections;
  }

  ~session() { --sh_.connections; }

  void start() {
    // A fresh connection's first request has the header timeout from now.
    read_header(sh_.opts.header_timeout);
  }

private:
  /// Waits (the idle timeout) for the first byte of the next request.
  void await_request() {
    if (buf_.size() > 0)
      return read_header(sh_.opts.header_timeout);
    stream_.expires_after(sh_.opts.idle_timeout);
    stream_.async_read_some(buf_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec,
                                                        size_t n) {
                              if (ec)
                                return self->close();
                              self->buf_.commit(n);
                              self->read_header(self->sh_.opts.header_timeout);
                            });
  }

  void read_header(std::chrono::milliseconds within) {
    route_ = nullptr;
    parser_.emplace();
    parser_->header_limit(sh_.opts.max_header);
    // The body's limit is set once the header is admitted: a body too
    // large for a client without a token is a 401, not a 413.
    parser_->body_limit(boost::none);
    stream_.expires_after(within);
    bhttp::async_read_header(stream_, buf_, *parser_,
                             [self = shared_from_this()](beast::error_code ec,
                                                         size_t) {
                               self->on_header(ec);
                             });
  }

  void on_header(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout
        || ec == asio::error::eof || ec == asio::error::connection_reset)
      return close();
    if (ec == bhttp::error::header_limit)
      return refuse(problem(
        11, bhttp::status::request_header_fields_too_large, "invalid_argument",
        "the request line and headers are over "
          + std::to_string(sh_.opts.max_header) + " bytes"));
    if (ec)
      return refuse(problem(11, bhttp::status::bad_request, "invalid_argument",
                            "malformed request: " + ec.message()));
    auto& h = parser_->get();
    if (auto refused = sh_.routes.admit(h, route_))
      return refuse(std::move(*refused));
    if (parser_->is_done())
      return on_request();
    parser_->body_limit(sh_.opts.max_body);
    stream_.expires_after(sh_.opts.idle_timeout);
    bhttp::async_read(stream_, buf_, *parser_,
                      [self = shared_from_this()](
                        beast::error_code ec, size_t) { self->on_body(ec); });
  }

  void on_body(beast::error_code ec) {
    if (ec == bhttp::error::body_limit)
      return refuse(problem(
        parser_->get().version(), bhttp::status::payload_too_large,
        "invalid_argument",
        "the body is over the limit of " + std::to_string(sh_.opts.max_body)
          + " bytes (--http-max-body)"));
    if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream
        || ec == asio::error::eof || ec == asio::error::connection_reset)
      return close();
    if (ec)
      return refuse(problem(parser_->get().version(),
                            bhttp::status::bad_request, "invalid_argument",
                            "malformed request body: " + ec.message()));
    on_request();
  }

  void on_request() {
    auto& req = parser_->get();
    response res;
    try {
      res = sh_.routes.answer(req, *route_);
    } catch (const std::exception& e) {
      res = problem(req.version(), bhttp::status::internal_server_error,
                    "storage_failure", e.what());
    }
    res.keep_alive(req.keep_alive());
    send(std::move(res));
  }

  /// Answers, then closes: the rest of the request is not read.
  void refuse(response res) {
    res.keep_alive(false);
    send(std::move(res));
  }

  void send(response res) {
    if (route_ != nullptr) {
      auto method = bhttp::to_string(route_->method);
      auto path = std::string{route_->at_root ? "" : api_root}
                  + std::string{route_->path};
      sh_.routes.counts().add({method.data(), method.size()}, path,
                              res.result_int());
    } else
      sh_.routes.counts().add("other", "other", res.result_int());
    res_ = std::make_shared<response>(std::move(res));
    stream_.expires_after(sh_.opts.idle_timeout);
    bhttp::async_write(stream_, *res_,
                       [self = shared_from_this()](beast::error_code ec,
                                                   size_t) {
                         if (ec)
                           return self->close();
                         if (!self->res_->keep_alive())
                           return self->linger();
                         self->res_.reset();
                         self->await_request();
                       });
  }

  /// Ends the connection after an answer: says so (FIN), then reads and
  /// drops what the client still sends for a moment, so that closing with
  /// unread bytes (a refused body) does not reset the connection before
  /// the client has read the answer.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::milliseconds(linger_ms));
    drain();
  }

  void drain() {
    buf_.clear();
    stream_.async_read_some(buf_.prepare(16 * 1024),
                            [self = shared_from_this()](beast::error_code ec,
                                                        size_t) {
                              if (ec)
                                return self->close();
                              self->drain();
                            });
  }

  /// How long `linger` reads, ms: enough for a client's bytes in flight.
  static constexpr int linger_ms = 2000;

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  shared& sh_;
  beast::flat_buffer buf_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  const route* route_ = nullptr;
  std::shared_ptr<response> res_;
};

} // namespace

struct server::impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  shared sh;

  impl(door& d, server_options opts) : sh{api{d, opts.max_body}, opts} {
    // nop
  }

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (!ec) {
        if (sh.connections >= sh.opts.max_connections) {
          beast::error_code ignored;
          s.close(ignored);
        } else {
          std::make_shared<session>(std::move(s), sh)->start();
        }
      }
      if (acceptor.is_open())
        accept();
    });
  }
};

server::server(std::unique_ptr<impl> x) : impl_(std::move(x)) {
  // nop
}

server::~server() = default;

outcome<std::unique_ptr<server>> server::bind(door& d, server_options opts) {
  auto where = split_listen(opts.listen);
  if (!where)
    return where.error();
  auto host = where->first == "localhost" ? std::string{"127.0.0.1"}
                                          : where->first;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec)
    return make_failure(errc::invalid_argument, "--http \"" + opts.listen
                                                  + "\": \"" + where->first
                                                  + "\" is not an IP address");
  auto x = std::make_unique<impl>(d, opts);
  tcp::endpoint ep{addr, where->second};
  auto& acc = x->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec)
    acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec)
    acc.bind(ep, ec);
  if (!ec)
    acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return make_failure(errc::connect_failure, "cannot listen on " + opts.listen
                                                 + ": " + ec.message());
  return std::unique_ptr<server>{new server(std::move(x))};
}

uint16_t server::port() const {
  return impl_->acceptor.local_endpoint().port();
}

void server::run() {
  asio::signal_set signals{impl_->io, SIGINT, SIGTERM};
  signals.async_wait([this](beast::error_code, int) {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->io.stop();
  });
  impl_->accept();
  impl_->io.run();
}

} // namespace procman::http
