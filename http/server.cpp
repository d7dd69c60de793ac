#include "procman/http/server.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#if PROCMAN_HTTP_TLS
#include <boost/beast/ssl.hpp>

#include "procman/remote/tls_files.hpp"
#endif

#include "procman/http/api.hpp"
#include "procman/http/dashboard.hpp"

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

/// A connection streaming server-sent events (a session of either
/// stream type), told what is new at every tick.
class streaming {
public:
  virtual ~streaming() = default;

  /// Writes what its stream has next, a heartbeat when it said nothing
  /// for a while, or closes once the stream ended; nothing while a write
  /// is under way (its end pumps again).
  virtual void pump() = 0;

  /// Whether it has ended (the server forgets it at its next tick).
  virtual bool streaming_ended() const = 0;
};

struct shared {
  api routes;
  server_options opts;
  uint32_t connections = 0;
  /// The connections streaming server-sent events.
  std::vector<std::shared_ptr<streaming>> streams{};
  /// Ticks while `streams` is not empty (the server's, beside its
  /// io_context).
  asio::steady_timer* ticker = nullptr;
  bool ticking = false;
  /// Where changes are answered (defaults::http_write_threads): a front
  /// door call that commits waits there, with the others of the moment,
  /// while the I/O thread serves the reads.
  asio::thread_pool* writers = nullptr;
  /// Reads are answered on the I/O thread when the door reads a store
  /// here (a few µs); through a runner's manager or a store node they wait
  /// for an answer (a node that stopped answering: for the door's retries),
  /// so they go to the writers' threads too, and hold no other client. So
  /// do the event streams' reads: the feed's at each tick, each stream's
  /// next events, and a stream's opening.
  bool reads_here() const { return door_ != nullptr && door_->local_store(); }
  /// Whether reads wait on the writers' threads (see reads_here).
  bool reads_elsewhere() const { return writers != nullptr && !reads_here(); }
  /// The server's door (a runner gives it its backend after binding).
  door* door_ = nullptr;
  /// The I/O thread's context: what a writer's thread hands back.
  asio::io_context* io = nullptr;
};

/// Reads what is new once for all /events streams, then lets each write
/// what it has (pump_streams).
void tick(shared& sh);

/// Starts the ticks, unless they run.
void start_ticking(shared& sh) {
  if (sh.ticking)
    return;
  sh.ticking = true;
  sh.ticker->expires_after(
    std::chrono::milliseconds(defaults::http_stream_poll_ms));
  sh.ticker->async_wait([&sh](beast::error_code ec) {
    if (!ec)
      tick(sh);
  });
}

/// Lets each stream write what it has, drops the streams that ended, and
/// ticks again while any is left. Ends a tick (`ticking` false).
void pump_streams(shared& sh) {
  sh.ticking = false;
  // A copy: a pump may end a stream.
  auto streams = sh.streams;
  for (auto& s : streams)
    s->pump();
  sh.streams.erase(std::remove_if(sh.streams.begin(), sh.streams.end(),
                                  [](auto& s) { return s->streaming_ended(); }),
                   sh.streams.end());
  if (sh.streams.empty()) {
    sh.routes.forget_streams();
    return;
  }
  start_ticking(sh);
}

void tick(shared& sh) {
  if (!sh.reads_elsewhere()) {
    sh.routes.refresh_streams();
    return pump_streams(sh);
  }
  // The feed reads on a writer's thread; the tick lasts (`ticking` stays
  // true, so that no other tick reads at the same time) until the streams
  // have been told, here.
  asio::post(*sh.writers, [&sh] {
    sh.routes.refresh_streams();
    asio::post(*sh.io, [&sh] { pump_streams(sh); });
  });
}

using plain_stream = beast::tcp_stream;
#if PROCMAN_HTTP_TLS
using tls_stream = beast::ssl_stream<beast::tcp_stream>;
#else
struct tls_stream; // none in the server without HTTPS (CMakeLists.txt)
#endif

/// One connection, over `Stream`: plain_stream or tls_stream.
template <class Stream>
class session : public streaming,
                public std::enable_shared_from_this<session<Stream>> {
public:
  static constexpr bool tls = std::is_same_v<Stream, tls_stream>;

  template <class... Ts>
  session(shared& sh, tcp::socket s, Ts&... xs)
    : stream_(std::move(s), xs...), sh_(sh) {
    ++sh_.connections;
  }

  ~session() { --sh_.connections; }

  void start() {
    // A fresh connection's first request, TLS handshake included, has the
    // header timeout from now.
    if constexpr (tls)
      await_handshake();
    else
      read_header(sh_.opts.header_timeout);
  }

  void pump() override {
    if (writing_ || closed_)
      return;
    if (!sh_.reads_elsewhere()) {
      out_.clear();
      return emit(events_->next(out_));
    }
    // Its stream reads on a writer's thread; nothing else pumps it
    // meanwhile (`writing_`).
    writing_ = true;
    asio::post(*sh_.writers, [self = shared_from_this()] {
      auto out = std::make_shared<std::string>();
      bool more = self->events_->next(*out);
      asio::post(self->stream_.get_executor(), [self, out, more] {
        self->writing_ = false;
        self->out_ = std::move(*out);
        self->emit(more);
      });
    });
  }

  bool streaming_ended() const override { return closed_; }

private:
  using std::enable_shared_from_this<session>::shared_from_this;

  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }

  /// Reads the first bytes: a TLS handshake begins with a handshake record
  /// (22); anything else is most likely plain HTTP sent to the HTTPS port,
  /// and gets a plain answer that says so.
  void await_handshake() {
    tcp_layer().expires_after(sh_.opts.header_timeout);
    tcp_layer().async_read_some(buf_.prepare(4096), [self = shared_from_this()](
                                                      beast::error_code ec,
                                                      size_t n) {
      if (ec)
        return self->close();
      self->buf_.commit(n);
      if (static_cast<const unsigned char*>(self->buf_.data().data())[0] != 22)
        return self->refuse_plain();
      self->handshake();
    });
  }

  void handshake() {
    stream_.async_handshake(Stream::server, buf_.data(),
                            [self = shared_from_this()](beast::error_code ec,
                                                        size_t used) {
                              if (ec)
                                return self->close();
                              self->buf_.consume(used);
                              self->read_header(self->sh_.opts.header_timeout);
                            });
  }

  /// The answer to a request in cleartext on the HTTPS port, in cleartext.
  void refuse_plain() {
    auto res = problem(11, bhttp::status::bad_request, "invalid_argument",
                       "this port speaks HTTPS only: use https://");
    res.keep_alive(false);
    res_ = std::make_shared<response>(std::move(res));
    bhttp::async_write(tcp_layer(), *res_,
                       [self = shared_from_this()](beast::error_code ec,
                                                   size_t) {
                         if (ec)
                           return self->close();
                         self->linger_tcp();
                       });
  }

  /// Waits (the idle timeout) for the first byte of the next request.
  void await_request() {
    if (buf_.size() > 0)
      return read_header(sh_.opts.header_timeout);
    tcp_layer().expires_after(sh_.opts.idle_timeout);
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
    tcp_layer().expires_after(within);
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
    if (auto page = dashboard_page(h))
      return parser_->is_done() ? send(std::move(*page))
                                : refuse(std::move(*page));
    if (!sh_.reads_elsewhere())
      return admitted(sh_.routes.admit(h, route_));
    // The token is checked through a door that waits for an answer: on a
    // writer's thread, as such reads are (shared::reads_here). The session
    // waits meanwhile.
    asio::post(*sh_.writers, [self = shared_from_this()] {
      const route* which = nullptr;
      auto refused = std::make_shared<std::optional<response>>(
        self->sh_.routes.admit(self->parser_->get(), which));
      asio::post(self->stream_.get_executor(), [self, which, refused] {
        self->route_ = which;
        self->admitted(std::move(*refused));
      });
    });
  }

  /// Goes on with a request whose header `api::admit` checked: answers a
  /// refusal, or reads the body.
  void admitted(std::optional<response> refused) {
    if (refused)
      return refuse(std::move(*refused));
    if (parser_->is_done())
      return on_request();
    parser_->body_limit(sh_.opts.max_body);
    tcp_layer().expires_after(sh_.opts.idle_timeout);
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

  /// Writes what its stream read (`out_`), a heartbeat when it said
  /// nothing for a while, or closes once the stream ended.
  void emit(bool more) {
    if (closed_)
      return;
    auto now = std::chrono::steady_clock::now();
    if (out_.empty() && more
        && now - last_write_
             < std::chrono::milliseconds(defaults::http_sse_heartbeat_ms))
      return;
    if (out_.empty() && more)
      out_ = ": keep-alive\n\n";
    write_stream(more);
  }

  /// Answers with a stream: its header, then what it has now (`first`, as
  /// its `next` said, with `more`); the server's ticks do the rest.
  void start_stream(std::unique_ptr<event_stream> s, unsigned version,
                    const std::string& first, bool more) {
    events_ = std::move(s);
    out_ = version == 10 ? "HTTP/1.0" : "HTTP/1.1";
    // No length: the body ends when the connection closes.
    out_ += " 200 OK\r\n"
            "Content-Type: text/event-stream\r\n"
            "Cache-Control: no-cache\r\n"
            "X-Accel-Buffering: no\r\n"
            "Connection: close\r\n\r\n"
            "retry: "
            + std::to_string(defaults::http_sse_retry_ms) + "\n\n" + first;
    sh_.streams.push_back(shared_from_this());
    start_ticking(sh_);
    write_stream(more);
  }

  void write_stream(bool more) {
    writing_ = true;
    // A client that reads nothing for the idle timeout is closed.
    tcp_layer().expires_after(sh_.opts.idle_timeout);
    asio::async_write(stream_, asio::buffer(out_),
                      [self = shared_from_this(), more](beast::error_code ec,
                                                        size_t) {
                        self->writing_ = false;
                        self->last_write_ = std::chrono::steady_clock::now();
                        if (ec || !more)
                          return self->end_stream(!ec);
                        self->pump();
                      });
  }

  /// Ends a stream: when it ended (not the client), says so first.
  void end_stream(bool gracefully) {
    closed_ = true;
    if (gracefully)
      return linger();
    close();
  }

  void on_request() {
    if (sh_.reads_elsewhere()) {
      // The session waits: nothing reads or writes its stream until the
      // answer or the stream is handed back.
      asio::post(*sh_.writers, [self = shared_from_this()] {
        auto opened = std::make_shared<opening>(self->open_stream());
        asio::post(self->stream_.get_executor(),
                   [self, opened] { self->respond(std::move(*opened)); });
      });
      return;
    }
    auto opened = open_stream();
    if (opened.stream || opened.refused || route_->method == bhttp::verb::get
        || sh_.writers == nullptr)
      return respond(std::move(opened));
    // A change: the session waits for its answer as above.
    asio::post(*sh_.writers, [self = shared_from_this()] {
      auto res = std::make_shared<response>(self->answer());
      asio::post(self->stream_.get_executor(),
                 [self, res] { self->send(std::move(*res)); });
    });
  }

  /// What a request opens: a stream with what it has now, or a refusal,
  /// or neither (it is answered).
  struct opening {
    std::unique_ptr<event_stream> stream;
    std::optional<response> refused;
    std::string first;
    bool more = true;
    std::optional<response> answer;
  };

  /// Opens the stream the request asks for, if it asks for one, and reads
  /// its first events. Where reads wait elsewhere (on a writer's thread,
  /// here), also answers a request that opens no stream.
  opening open_stream() {
    auto& req = parser_->get();
    opening o;
    try {
      o.stream = sh_.routes.stream(req, *route_, o.refused);
      if (o.stream)
        o.more = o.stream->next(o.first);
    } catch (const std::exception& e) {
      o.refused = problem(req.version(), bhttp::status::internal_server_error,
                          "storage_failure", e.what());
    }
    if (o.refused)
      o.refused->keep_alive(req.keep_alive());
    else if (!o.stream && sh_.reads_elsewhere())
      o.answer = answer();
    return o;
  }

  /// Goes on with what `open_stream` gave: a refusal, a stream, or an
  /// answer (made here unless made already).
  void respond(opening o) {
    if (o.refused)
      return send(std::move(*o.refused));
    if (o.stream)
      return start_stream(std::move(o.stream), parser_->get().version(),
                          o.first, o.more);
    if (o.answer)
      return send(std::move(*o.answer));
    send(answer());
  }

  /// The answer to the request read (on the I/O thread, or a writer's).
  response answer() {
    auto& req = parser_->get();
    response res;
    try {
      res = sh_.routes.answer(req, *route_);
    } catch (const std::exception& e) {
      res = problem(req.version(), bhttp::status::internal_server_error,
                    "storage_failure", e.what());
    }
    res.keep_alive(req.keep_alive());
    return res;
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
    tcp_layer().expires_after(sh_.opts.idle_timeout);
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

  /// Ends the connection after an answer: says so (FIN, after TLS's
  /// close_notify), then reads and drops what the client still sends for
  /// a moment, so that closing with unread bytes (a refused body) does not
  /// reset the connection before the client has read the answer.
  void linger() {
    if constexpr (tls) {
      tcp_layer().expires_after(std::chrono::milliseconds(linger_ms));
      stream_.async_shutdown(
        [self = shared_from_this()](beast::error_code) { self->close(); });
    } else {
      linger_tcp();
    }
  }

  void linger_tcp() {
    beast::error_code ignored;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
    tcp_layer().expires_after(std::chrono::milliseconds(linger_ms));
    drain();
  }

  void drain() {
    buf_.clear();
    tcp_layer().async_read_some(
      buf_.prepare(16 * 1024),
      [self = shared_from_this()](beast::error_code ec, size_t) {
        if (ec)
          return self->close();
        self->drain();
      });
  }

  /// How long `linger` reads, ms: enough for a client's bytes in flight.
  static constexpr int linger_ms = 2000;

  void close() {
    beast::error_code ignored;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ignored);
    tcp_layer().socket().close(ignored);
  }

  Stream stream_;
  shared& sh_;
  beast::flat_buffer buf_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  const route* route_ = nullptr;
  std::shared_ptr<response> res_;
  // -- streaming --
  std::unique_ptr<event_stream> events_;
  std::string out_;
  bool writing_ = false;
  bool closed_ = false;
  std::chrono::steady_clock::time_point last_write_
    = std::chrono::steady_clock::now();
};

#if PROCMAN_HTTP_TLS

namespace ssl = asio::ssl;

/// The HTTPS context of `--tls-cert` and `--tls-key`: TLS 1.2 or later,
/// the files read once, here (a later change to them needs a restart).
outcome<std::unique_ptr<ssl::context>> tls_context(const server_options& o) {
  auto bad = [](std::string msg) {
    return make_failure(errc::invalid_argument, std::move(msg));
  };
  for (auto [what, path] :
       {std::pair{"certificate", &o.tls_cert}, std::pair{"key", &o.tls_key}})
    if (std::FILE* f = std::fopen(path->c_str(), "r"))
      std::fclose(f);
    else
      return bad(std::string{"cannot read the TLS "} + what + " " + *path + ": "
                 + std::strerror(errno));
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  auto h = ctx->native_handle();
  SSL_CTX_set_min_proto_version(h, TLS1_2_VERSION);
  SSL_CTX_set_options(h, SSL_OP_NO_RENEGOTIATION);
  if (auto err = tls::use_key_and_certificate(h, o.tls_key, o.tls_cert,
                                              o.tls_key, o.tls_cert);
      !err.empty())
    return bad(err);
  return ctx;
}

#endif

} // namespace

struct server::impl {
  // Before the io_context: destroying it destroys the sessions it still
  // holds, which use these.
  shared sh;
#if PROCMAN_HTTP_TLS
  std::unique_ptr<ssl::context> tls; ///< null: plain HTTP
#endif
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer ticker{io};
  // After the io_context: a writer's answer is posted to it.
  asio::thread_pool writers{defaults::http_write_threads};

  impl(door& d, server_options opts) : sh{api{d, opts.max_body}, opts} {
    sh.ticker = &ticker;
    sh.writers = &writers;
    sh.door_ = &d;
    sh.io = &io;
  }

  ~impl() {
    // Changes not begun are dropped (their clients see the connection
    // close, and may repeat them with their Idempotency-Key); those under
    // way end first, their answers left to the io_context.
    writers.stop();
    writers.join();
    // The streams' sessions go with the io_context, before `sh`.
    sh.streams.clear();
  }

  void accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (!ec) {
        if (sh.connections >= sh.opts.max_connections) {
          beast::error_code ignored;
          s.close(ignored);
#if PROCMAN_HTTP_TLS
        } else if (tls) {
          std::make_shared<session<tls_stream>>(sh, std::move(s), *tls)
            ->start();
#endif
        } else {
          std::make_shared<session<plain_stream>>(sh, std::move(s))->start();
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
  if (opts.tls()) {
#if PROCMAN_HTTP_TLS
    auto ctx = tls_context(opts);
    if (!ctx)
      return ctx.error();
    x->tls = std::move(*ctx);
#else
    return make_failure(errc::invalid_argument,
                        "this program's HTTP server has no TLS");
#endif
  }
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

void server::run(bool until_signal) {
  asio::signal_set signals{impl_->io};
  if (until_signal) {
    signals.add(SIGINT);
    signals.add(SIGTERM);
    signals.async_wait([this](beast::error_code ec, int) {
      if (!ec)
        stop();
    });
  }
  impl_->accept();
  impl_->io.run();
}

void server::stop() {
  asio::post(impl_->io, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
    impl_->ticker.cancel();
    impl_->io.stop();
  });
}

} // namespace procman::http
