// tornado::tcpserver: a non-blocking TCP server, mirroring tornado.tcpserver.
//
// Subclass `TCPServer` and override `handle_stream`, which is called with a
// connected `IOStream` (an `SSLIOStream` when `ssl_options` are given) for
// each accepted connection:
//
//   class EchoServer : public tornado::tcpserver::TCPServer {
//     void handle_stream(std::shared_ptr<tornado::iostream::IOStream> stream,
//                        std::string address) override {
//       tornado::spawn([](auto stream) -> tornado::Task<> {
//         while (true) co_await stream->write(co_await stream->read_until("\n"));
//       }(stream));
//     }
//   };
//   EchoServer server;
//   server.listen(8888);
//   tornado::ioloop::IOLoop::current().start();
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/iostream.h"
#include "tornado/netutil.h"

namespace tornado::tcpserver {

/// A non-blocking TCP server, as `tornado.tcpserver.TCPServer`: subclass it and
/// override `handle_stream`, which gets each accepted connection.
class TCPServer {
 public:
  /// With `ssl_options`, accepted connections are TLS (`SSLIOStream`).
  explicit TCPServer(std::optional<netutil::SSLOptions> ssl_options = std::nullopt,
                     iostream::StreamOptions stream_options = {});
  virtual ~TCPServer();
  TCPServer(const TCPServer&) = delete;
  TCPServer& operator=(const TCPServer&) = delete;

  /// Binds and starts accepting on the current IOLoop. Port 0 picks a free
  /// port (see `port()`).
  void listen(int port, std::string_view address = "", netutil::BindOptions options = {});
  /// Starts accepting on sockets made by `netutil::bind_sockets`.
  void add_sockets(std::vector<netutil::Socket> sockets);
  /// Binds now and accepts once `start()` is called: the two-step form that
  /// lets the sockets be bound before `start(n)` forks.
  void bind(int port, std::string_view address = "", netutil::BindOptions options = {});
  /// Starts accepting on the sockets of `bind()`. With `num_processes` other
  /// than 1 it first forks that many processes (0: one per CPU) through
  /// `process::fork_processes`, which share the sockets, as Tornado's
  /// `TCPServer.start`.
  void start(int num_processes = 1, int max_restarts = 100);
  /// Stops accepting new connections; open ones are not touched.
  void stop();
  /// The port of the first listening socket.
  int port() const noexcept { return port_; }

  /// Called for each new connection, on the loop thread.
  virtual void handle_stream(std::shared_ptr<iostream::IOStream> stream, std::string address) = 0;

 private:
  // The listening libuv handles, and what accepts on them (tcpserver.cc).
  struct Listeners;

  std::shared_ptr<SSL_CTX> ssl_context_;
  iostream::StreamOptions stream_options_;
  std::unique_ptr<Listeners> listeners_;
  std::vector<netutil::Socket> pending_sockets_;
  int port_ = 0;
};

}  // namespace tornado::tcpserver
