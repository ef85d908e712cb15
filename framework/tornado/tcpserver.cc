#include "tornado/tcpserver.h"

#include <uv.h>

#include <system_error>

#include "tornado/detail/uv_handle.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/process.h"

namespace tornado::tcpserver {

struct TCPServer::Listeners {
  std::vector<detail::UvHandle<uv_tcp_t>> handles;

  static void on_connection(TCPServer& server, uv_stream_t* listener) noexcept;
};

TCPServer::TCPServer(std::optional<netutil::SSLOptions> ssl_options,
                     iostream::StreamOptions stream_options)
    : stream_options_(stream_options), listeners_(std::make_unique<Listeners>()) {
  if (ssl_options) ssl_context_ = netutil::ssl_options_to_context(*ssl_options, true);
}

TCPServer::~TCPServer() {
  stop();
}

void TCPServer::listen(int port, std::string_view address, netutil::BindOptions options) {
  add_sockets(netutil::bind_sockets(port, address, options));
}

void TCPServer::add_sockets(std::vector<netutil::Socket> sockets) {
  uv_loop_t* loop = ioloop::IOLoop::current().uv_loop();
  for (auto& socket : sockets) {
    auto tcp = std::make_unique<uv_tcp_t>();
    uv_tcp_init(loop, tcp.get());
    tcp->data = this;
    int port = socket.port();
    int status = uv_tcp_open(tcp.get(), socket.fd());
    if (status == 0) socket.release();  // the handle owns the fd now
    detail::UvHandle<uv_tcp_t> handle(std::move(tcp));
    handle->data = this;
    if (status == 0) {
      status = uv_listen(reinterpret_cast<uv_stream_t*>(handle.get()), 1024,
                         [](uv_stream_t* listener, int status) noexcept {
                           auto* server = static_cast<TCPServer*>(listener->data);
                           if (server && status == 0) Listeners::on_connection(*server, listener);
                         });
    }
    if (status < 0) {
      throw std::system_error(-status, std::generic_category(), "cannot accept connections");
    }
    if (listeners_->handles.empty()) port_ = port;
    listeners_->handles.push_back(std::move(handle));
  }
}

void TCPServer::bind(int port, std::string_view address, netutil::BindOptions options) {
  for (auto& socket : netutil::bind_sockets(port, address, options)) {
    // port() answers from bind() on, as a port of 0 is known only once bound.
    if (listeners_->handles.empty() && pending_sockets_.empty()) port_ = socket.port();
    pending_sockets_.push_back(std::move(socket));
  }
}

void TCPServer::start(int num_processes, int max_restarts) {
  if (num_processes != 1) process::fork_processes(num_processes, max_restarts);
  add_sockets(std::move(pending_sockets_));
  pending_sockets_.clear();
}

void TCPServer::stop() {
  listeners_->handles.clear();
}

void TCPServer::Listeners::on_connection(TCPServer& server, uv_stream_t* listener) noexcept {
  auto tcp = std::make_unique<uv_tcp_t>();
  uv_tcp_init(listener->loop, tcp.get());
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(tcp.get())) != 0) {
    // The connection went away before accept: close the fresh handle.
    detail::UvHandle<uv_tcp_t> discard(std::move(tcp));
    return;
  }
  try {
    std::shared_ptr<iostream::IOStream> stream;
    if (server.ssl_context_) {
      stream = iostream::SSLIOStream::create(std::move(tcp), server.ssl_context_, true, {},
                                             server.stream_options_);
    } else {
      stream = iostream::IOStream::create(std::move(tcp), server.stream_options_);
    }
    std::string address = stream->remote_ip();
    server.handle_stream(std::move(stream), std::move(address));
  } catch (const std::exception& e) {
    log::app.error("Error in connection callback: {}", e.what());
  }
}

}  // namespace tornado::tcpserver
