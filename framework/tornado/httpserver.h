// tornado::httpserver: a non-blocking HTTP/1.1 server, mirroring
// tornado.httpserver.
//
// `HTTPServer` accepts connections (TCPServer), speaks HTTP/1.x on each
// (http1connection) and passes every request to a delegate, normally a
// `web::Application`:
//
//   tornado::web::Application app({{"/", tornado::web::handler<MainHandler>()}});
//   tornado::httpserver::HTTPServer server(app, {.xheaders = true});
//   server.listen(8888);
//   tornado::ioloop::IOLoop::current().start();
//
// (`app.listen(8888)` does the same in one call.)
//
// With `ssl_options` it serves HTTPS on the same interface.
#pragma once

#include <memory>
#include <optional>
#include <unordered_set>

#include "tornado/http1connection.h"
#include "tornado/tcpserver.h"

namespace tornado::httpserver {

/// The server's settings, with Tornado's names and defaults.
struct HTTPServerSettings {
  /// HTTPS: certificate and key (and optional CA for client certificates).
  std::optional<netutil::SSLOptions> ssl_options;
  /// Close every connection after one response.
  bool no_keep_alive = false;
  /// Take the client's address and scheme from X-Real-IP / X-Forwarded-For and
  /// X-Scheme / X-Forwarded-Proto (only behind a proxy you control).
  bool xheaders = false;
  /// Proxies whose addresses are skipped in X-Forwarded-For.
  std::vector<std::string> trusted_downstream;
  /// Accept gzip request bodies and decompress them.
  bool decompress_request = false;
  /// Largest request head accepted (431 past it).
  std::size_t max_header_size = 64 * 1024;
  /// Largest request body accepted (413 past it).
  std::size_t max_body_size = 100 * 1024 * 1024;
  /// Most bytes buffered from one connection (100 MiB).
  std::size_t max_buffer_size = 100 * 1024 * 1024;
  /// A keep-alive connection idle this long is closed.
  std::chrono::milliseconds idle_connection_timeout = std::chrono::seconds(3600);
  /// The longest a request body may take to arrive.
  std::chrono::milliseconds body_timeout = std::chrono::seconds(3600);
};

/// The HTTP server, as `tornado.httpserver.HTTPServer`: accepts connections and serves
/// HTTP/1.x on each, passing requests to its delegate (an Application).
class HTTPServer : public tcpserver::TCPServer {
 public:
  /// A server for `delegate`; call listen (or bind and start) to accept connections.
  explicit HTTPServer(std::shared_ptr<http1connection::HTTPServerConnectionDelegate> delegate,
                      HTTPServerSettings settings = {});
  /// Serves `delegate` (an Application), which must outlive the server, as
  /// Tornado's `HTTPServer(app)`.
  explicit HTTPServer(http1connection::HTTPServerConnectionDelegate& delegate,
                      HTTPServerSettings settings = {})
      : HTTPServer(std::shared_ptr<http1connection::HTTPServerConnectionDelegate>(
                       std::shared_ptr<http1connection::HTTPServerConnectionDelegate>(), &delegate),
                   std::move(settings)) {}
  ~HTTPServer() override;

  void handle_stream(std::shared_ptr<iostream::IOStream> stream, std::string address) override;

  /// Closes every open connection (after `stop()`, for shutdown), as
  /// Tornado's `close_all_connections`.
  void close_all_connections();
  /// Closes connections with no request in flight; busy ones close after
  /// their response (graceful shutdown).
  void close_idle_connections();
  /// The connections open now.
  std::size_t connection_count() const noexcept { return connections_->size(); }

 private:
  std::shared_ptr<http1connection::HTTPServerConnectionDelegate> delegate_;
  HTTPServerSettings settings_;
  // Shared with the connections, which may outlive the server briefly.
  std::shared_ptr<http1connection::HTTP1ConnectionParameters> params_;
  using ConnectionSet = std::unordered_set<http1connection::HTTP1ServerConnection*>;
  std::shared_ptr<ConnectionSet> connections_ = std::make_shared<ConnectionSet>();
};

}  // namespace tornado::httpserver
