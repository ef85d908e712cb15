// Tests for tornado::tcpclient: name resolution, refused connections,
// timeouts and TLS verification.
#include "tornado/tcpclient.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "tornado/ioloop.h"
#include "tornado/netutil.h"
#include "tornado/tcpserver.h"
#include "tornado/testing.h"

using namespace std::chrono_literals;
using tornado::Task;
using tornado::ioloop::IOLoop;
using tornado::iostream::IOStream;
using tornado::iostream::StreamClosedError;

namespace {

// Answers the first line of each connection with "hello <line>" and closes
// it.
class HelloServer : public tornado::tcpserver::TCPServer {
 public:
  using TCPServer::TCPServer;
  void handle_stream(std::shared_ptr<IOStream> stream, std::string) override {
    tornado::spawn([](std::shared_ptr<IOStream> s) -> Task<> {
      try {
        std::string line = co_await s->read_until("\n");
        co_await s->write("hello " + line);
      } catch (const StreamClosedError&) {
      }
      s->close();
    }(std::move(stream)));
  }
};

Task<std::string> first_line(std::string host, int port,
                             tornado::tcpclient::ConnectOptions options = {}) {
  auto stream = co_await tornado::tcpclient::TCPClient().connect(host, port, options);
  co_await stream->write("hi\n");
  co_return co_await stream->read_until("\n");
}

// A socket bound to a free port of 127.0.0.1 that does not listen: connecting
// to it is refused.
struct BoundNotListening {
  BoundNotListening() : fd(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      throw std::system_error(errno, std::generic_category(), "bind");
    }
    port = ntohs(address.sin_port);
  }
  ~BoundNotListening() { ::close(fd); }
  BoundNotListening(const BoundNotListening&) = delete;
  BoundNotListening& operator=(const BoundNotListening&) = delete;
  int fd;
  int port = 0;
};

}  // namespace

// "localhost" may resolve to ::1 before 127.0.0.1; the server listens on
// 127.0.0.1 only, so the client must go on to the address that answers.
TEST(TCPClientTest, ConnectsByNameToTheAddressThatAnswers) {
  IOLoop loop;
  HelloServer server;
  server.listen(0, "127.0.0.1");
  EXPECT_EQ(loop.run_sync([&] { return first_line("localhost", server.port()); }, 10s),
            "hello hi\n");
}

// A bound socket that does not listen refuses connections: the error names
// the cause.
TEST(TCPClientTest, RefusedConnectionRaisesStreamClosedErrorWithTheCause) {
  IOLoop loop;
  BoundNotListening socket;
  try {
    loop.run_sync([&] { return first_line("127.0.0.1", socket.port); }, 10s);
    ADD_FAILURE() << "connected to a socket that does not listen";
  } catch (const StreamClosedError& e) {
    EXPECT_EQ(e.real_error, tornado::iostream::make_uv_error(-ECONNREFUSED)) << e.what();
  }
}

// The timeout covers the TLS handshake: a peer that accepts TCP (the
// kernel's backlog does) but never speaks TLS makes connect raise
// TimeoutError in time.
TEST(TCPClientTest, TimeoutCoversTheTlsHandshake) {
  IOLoop loop;
  auto sockets = tornado::netutil::bind_sockets(0, "127.0.0.1");  // listening, never accepted
  ASSERT_FALSE(sockets.empty());
  int port = sockets[0].port();
  tornado::tcpclient::ConnectOptions options;
  options.ssl_options = tornado::netutil::SSLOptions{};
  options.timeout = 200ms;
  auto started = std::chrono::steady_clock::now();
  EXPECT_THROW(loop.run_sync([&] { return first_line("127.0.0.1", port, options); }, 10s),
               tornado::TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

// The certificate must name server_hostname (by default the host): the test
// certificate is for localhost, not example.com.
TEST(TCPClientTest, TlsChecksTheServerName) {
  IOLoop loop;
  tornado::testing::SelfSignedCertificate cert;
  HelloServer server(cert.server_ssl_options());
  server.listen(0, "127.0.0.1");
  tornado::tcpclient::ConnectOptions options;
  options.ssl_options = tornado::netutil::SSLOptions{.ca_certs = cert.certfile()};
  options.server_hostname = "localhost";
  EXPECT_EQ(loop.run_sync([&] { return first_line("127.0.0.1", server.port(), options); }, 10s),
            "hello hi\n");
  options.server_hostname = "example.com";
  EXPECT_THROW(loop.run_sync([&] { return first_line("127.0.0.1", server.port(), options); }, 10s),
               StreamClosedError);
}
