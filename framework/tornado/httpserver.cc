#include "tornado/httpserver.h"

#include "tornado/log.h"

namespace tornado::httpserver {

HTTPServer::HTTPServer(std::shared_ptr<http1connection::HTTPServerConnectionDelegate> delegate,
                       HTTPServerSettings settings)
    : TCPServer(settings.ssl_options, {.max_buffer_size = settings.max_buffer_size}),
      delegate_(std::move(delegate)),
      settings_(std::move(settings)),
      params_(std::make_shared<http1connection::HTTP1ConnectionParameters>()) {
  params_->no_keep_alive = settings_.no_keep_alive;
  params_->max_header_size = settings_.max_header_size;
  params_->max_body_size = settings_.max_body_size;
  params_->idle_connection_timeout = settings_.idle_connection_timeout;
  params_->body_timeout = settings_.body_timeout;
  params_->decompress = settings_.decompress_request;
  params_->xheaders = settings_.xheaders;
  params_->trusted_downstream = settings_.trusted_downstream;
  params_->protocol = settings_.ssl_options ? "https" : "http";
}

HTTPServer::~HTTPServer() {
  stop();
  close_all_connections();
}

void HTTPServer::handle_stream(std::shared_ptr<iostream::IOStream> stream, std::string) {
  auto connection = std::make_shared<http1connection::HTTP1ServerConnection>(std::move(stream),
                                                                             delegate_, params_);
  connections_->insert(connection.get());
  spawn([](std::shared_ptr<http1connection::HTTP1ServerConnection> connection,
           std::shared_ptr<ConnectionSet> connections) -> Task<> {
    struct Untrack {
      ConnectionSet& set;
      http1connection::HTTP1ServerConnection* connection;
      ~Untrack() { set.erase(connection); }
    } untrack{*connections, connection.get()};
    co_await connection->serve();
  }(std::move(connection), connections_));
}

void HTTPServer::close_all_connections() {
  auto open = *connections_;
  for (auto* connection : open) connection->close();
}

void HTTPServer::close_idle_connections() {
  auto open = *connections_;
  for (auto* connection : open) {
    if (connection->idle()) connection->close();
  }
  params_->no_keep_alive = true;  // busy ones close after their response
}

}  // namespace tornado::httpserver
