// Tests for tornado::tcpserver: listen, bind/start, add_sockets, stop, and
// TLS connections handed to handle_stream.
#include "tornado/tcpserver.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/netutil.h"
#include "tornado/tcpclient.h"
#include "tornado/testing.h"

using namespace std::chrono_literals;
using tornado::Task;
using tornado::ioloop::IOLoop;
using tornado::iostream::IOStream;
using tornado::iostream::StreamClosedError;

namespace {

// Answers each line with "<n> <line>", n counting the connections it was
// handed; notes the address and kind of each stream.
class LineServer : public tornado::tcpserver::TCPServer {
 public:
  using TCPServer::TCPServer;
  std::vector<std::string> addresses;
  std::vector<bool> ssl;

  void handle_stream(std::shared_ptr<IOStream> stream, std::string address) override {
    addresses.push_back(std::move(address));
    ssl.push_back(stream->is_ssl());
    tornado::spawn(answer(std::move(stream), addresses.size()));
  }

 private:
  static Task<> answer(std::shared_ptr<IOStream> stream, std::size_t n) {
    try {
      while (true) {
        std::string line = co_await stream->read_until("\n");
        co_await stream->write(std::to_string(n) + " " + line);
      }
    } catch (const StreamClosedError&) {
    }
  }
};

Task<std::string> ask(int port, std::string line, tornado::tcpclient::ConnectOptions options = {}) {
  auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port, options);
  co_await stream->write(line);
  co_return co_await stream->read_until("\n");
}

}  // namespace

TEST(TCPServerTest, HandleStreamGetsEachConnectionWithThePeersAddress) {
  IOLoop loop;
  LineServer server;
  server.listen(0, "127.0.0.1");
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(loop.run_sync([&] { return ask(server.port(), "a\n"); }, 10s), "1 a\n");
  EXPECT_EQ(loop.run_sync([&] { return ask(server.port(), "b\n"); }, 10s), "2 b\n");
  EXPECT_EQ(server.addresses, (std::vector<std::string>{"127.0.0.1", "127.0.0.1"}));
  EXPECT_EQ(server.ssl, (std::vector<bool>{false, false}));
}

// bind() then start(): the port is known before accepting starts (the form
// that lets start(n) fork after binding).
TEST(TCPServerTest, BindThenStartAcceptsOnTheBoundPort) {
  IOLoop loop;
  LineServer server;
  server.bind(0, "127.0.0.1");
  int port = server.port();
  ASSERT_GT(port, 0);
  server.start();
  EXPECT_EQ(server.port(), port);
  EXPECT_EQ(loop.run_sync([&] { return ask(port, "x\n"); }, 10s), "1 x\n");
}

TEST(TCPServerTest, AddSocketsAcceptsOnSocketsBoundElsewhere) {
  IOLoop loop;
  auto sockets = tornado::netutil::bind_sockets(0, "127.0.0.1");
  ASSERT_EQ(sockets.size(), 1u);
  int port = sockets[0].port();
  LineServer server;
  server.add_sockets(std::move(sockets));
  EXPECT_EQ(server.port(), port);
  EXPECT_EQ(loop.run_sync([&] { return ask(port, "y\n"); }, 10s), "1 y\n");
}

// stop() closes the listening sockets only: a connection accepted before
// goes on being served.
TEST(TCPServerTest, StopLeavesOpenConnectionsServed) {
  IOLoop loop;
  LineServer server;
  server.listen(0, "127.0.0.1");
  auto answers = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port());
        co_await stream->write("before\n");
        std::string first = co_await stream->read_until("\n");
        server.stop();
        co_await stream->write("after\n");
        co_return first + co_await stream->read_until("\n");
      },
      10s);
  EXPECT_EQ(answers, "1 before\n1 after\n");
}

TEST(TCPServerTest, SslOptionsMakeTlsStreams) {
  IOLoop loop;
  tornado::testing::SelfSignedCertificate cert;
  LineServer server(cert.server_ssl_options());
  server.listen(0, "127.0.0.1");
  tornado::tcpclient::ConnectOptions options;
  options.ssl_options = tornado::netutil::SSLOptions{.ca_certs = cert.certfile()};
  options.server_hostname = "localhost";
  EXPECT_EQ(loop.run_sync([&] { return ask(server.port(), "tls\n", options); }, 10s), "1 tls\n");
  EXPECT_EQ(server.ssl, std::vector<bool>{true});
}
