// Tests for tornado::tcpserver: listen, bind/start, add_sockets, stop, and
// TLS connections handed to handle_stream.
#include "tornado/tcpserver.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <string>
#include <thread>
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

// Greets each connection before reading anything, then answers one line: a
// protocol where the server speaks first (SMTP, FTP, a banner).
class GreetingServer : public tornado::tcpserver::TCPServer {
 public:
  using TCPServer::TCPServer;

  void handle_stream(std::shared_ptr<IOStream> stream, std::string) override {
    tornado::spawn(greet(std::move(stream)));
  }

 private:
  static Task<> greet(std::shared_ptr<IOStream> stream) {
    try {
      co_await stream->write("hello\n");
      std::string line = co_await stream->read_until("\n");
      co_await stream->write("got " + line);
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

// The server's TLS handshake must not wait for the server's first read: a
// server that writes first used to leave the ClientHello unread, and both
// sides waited for ever.
TEST(TCPServerTest, TlsServerThatWritesFirstReachesTheClient) {
  IOLoop loop;
  tornado::testing::SelfSignedCertificate cert;
  GreetingServer server(cert.server_ssl_options());
  server.listen(0, "127.0.0.1");
  tornado::tcpclient::ConnectOptions options;
  options.ssl_options = tornado::netutil::SSLOptions{.ca_certs = cert.certfile()};
  options.server_hostname = "localhost";
  std::string answers = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream =
            co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port(), options);
        std::string greeting = co_await stream->read_until("\n");
        co_await stream->write("x\n");
        co_return greeting + co_await stream->read_until("\n");
      },
      10s);
  EXPECT_EQ(answers, "hello\ngot x\n");
}

namespace {

// One blocking TLS exchange with OpenSSL directly (on its own thread, while
// the server's loop runs): sends a line, reads the answer, and returns the
// session to offer next time, with whether this one was resumed.
struct RawTlsResult {
  std::string answer;
  bool reused = false;
  std::shared_ptr<SSL_SESSION> session;
  int application_records = 0;  // TLS records of application data received
};

RawTlsResult raw_tls_exchange(SSL_CTX* context, int port, SSL_SESSION* offer,
                              std::string_view expected_end = "\n") {
  RawTlsResult result;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return result;
  }
  std::unique_ptr<SSL, void (*)(SSL*)> ssl(SSL_new(context), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  if (offer) SSL_set_session(ssl.get(), offer);
  SSL_set_msg_callback_arg(ssl.get(), &result.application_records);
  SSL_set_msg_callback(ssl.get(), [](int write_p, int, int content_type, const void* buf,
                                     std::size_t len, SSL*, void* arg) {
    // TLS 1.3 reports each record's inner type; 1.2's application data
    // records have no message of their own, so 1.3 only is counted.
    if (!write_p && content_type == SSL3_RT_INNER_CONTENT_TYPE && len == 1 &&
        *static_cast<const unsigned char*>(buf) == SSL3_RT_APPLICATION_DATA) {
      ++*static_cast<int*>(arg);
    }
  });
  if (SSL_connect(ssl.get()) == 1 && SSL_write(ssl.get(), "r\n", 2) == 2) {
    char buf[64];
    while (!result.answer.ends_with(expected_end)) {
      int n = SSL_read(ssl.get(), buf, sizeof buf);
      if (n <= 0) break;
      result.answer.append(buf, static_cast<std::size_t>(n));
    }
    // TLS 1.3 tickets come after the handshake; the read above took them in.
    result.reused = SSL_session_reused(ssl.get()) == 1;
    result.session.reset(SSL_get1_session(ssl.get()), SSL_SESSION_free);
    SSL_shutdown(ssl.get());
  }
  ::close(fd);
  return result;
}

}  // namespace

// A returning client resumes its session with the ticket the server gave it
// (no certificate, no signature: the cheap handshake), over TLS 1.3 and 1.2.
TEST(TCPServerTest, TlsSessionTicketsResumeTheSession) {
  for (int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    SCOPED_TRACE(version);
    IOLoop loop;
    tornado::testing::SelfSignedCertificate cert;
    LineServer server(cert.server_ssl_options());
    server.listen(0, "127.0.0.1");
    std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> client(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
    SSL_CTX_set_min_proto_version(client.get(), version);
    SSL_CTX_set_max_proto_version(client.get(), version);
    RawTlsResult first, second;
    std::thread peer([&] {
      first = raw_tls_exchange(client.get(), server.port(), nullptr);
      if (first.session)
        second = raw_tls_exchange(client.get(), server.port(), first.session.get());
      loop.add_callback([&] { loop.stop(); });
    });
    loop.start();
    peer.join();
    EXPECT_EQ(first.answer, "1 r\n");
    EXPECT_FALSE(first.reused);
    ASSERT_TRUE(first.session);
    EXPECT_EQ(SSL_SESSION_is_resumable(first.session.get()), 1);
    EXPECT_EQ(second.answer, "2 r\n");
    EXPECT_TRUE(second.reused);
  }
}

// Two servers (two workers of one app) resume each other's sessions when
// they share a session ticket key, and only then; a key of the wrong size is
// refused when the context is made.
TEST(TCPServerTest, ServersSharingATicketKeyResumeEachOthersSessions) {
  tornado::testing::SelfSignedCertificate cert;
  for (bool shared : {true, false}) {
    SCOPED_TRACE(shared);
    IOLoop loop;
    auto options_a = cert.server_ssl_options();
    auto options_b = cert.server_ssl_options();
    if (shared) options_a.session_ticket_key = tornado::netutil::make_session_ticket_key();
    options_b.session_ticket_key =
        shared ? options_a.session_ticket_key : tornado::netutil::make_session_ticket_key();
    LineServer a(options_a), b(options_b);
    a.listen(0, "127.0.0.1");
    b.listen(0, "127.0.0.1");
    std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> client(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
    RawTlsResult first, second;
    std::thread peer([&] {
      first = raw_tls_exchange(client.get(), a.port(), nullptr);
      if (first.session) second = raw_tls_exchange(client.get(), b.port(), first.session.get());
      loop.add_callback([&] { loop.stop(); });
    });
    loop.start();
    peer.join();
    EXPECT_EQ(first.answer, "1 r\n");
    EXPECT_EQ(second.answer, "1 r\n");
    EXPECT_EQ(second.reused, shared);
  }
  auto bad = cert.server_ssl_options();
  bad.session_ticket_key = "short";
  EXPECT_THROW(tornado::netutil::ssl_options_to_context(bad, true), std::invalid_argument);
}

namespace {

// Answers a line with a head and a body in one write, then a trailer in
// another, in the same turn of the loop (as an HTTP response or a WebSocket
// frame is written).
class TwoWritesServer : public tornado::tcpserver::TCPServer {
 public:
  using TCPServer::TCPServer;

  void handle_stream(std::shared_ptr<IOStream> stream, std::string) override {
    tornado::spawn(answer(std::move(stream)));
  }

 private:
  static Task<> answer(std::shared_ptr<IOStream> stream) {
    try {
      co_await stream->read_until("\n");
      std::array<std::string_view, 2> parts{"head ", "body "};
      auto first = stream->write(parts);
      co_await stream->write("trailer\n");
      co_await first;
      co_await stream->read_until_close();
    } catch (const StreamClosedError&) {
    }
  }
};

}  // namespace

// What a TLS stream writes in one turn leaves as one record: every record
// costs a seal here and an open at the peer, and a record per part made an
// HTTPS response or a WSS frame cost two or three.
TEST(TCPServerTest, TlsWritesOfOneTurnLeaveAsOneRecord) {
  IOLoop loop;
  tornado::testing::SelfSignedCertificate cert;
  TwoWritesServer server(cert.server_ssl_options());
  server.listen(0, "127.0.0.1");
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> client(SSL_CTX_new(TLS_client_method()),
                                                      SSL_CTX_free);
  SSL_CTX_set_min_proto_version(client.get(), TLS1_3_VERSION);
  RawTlsResult result;
  std::thread peer([&] {
    result = raw_tls_exchange(client.get(), server.port(), nullptr, "trailer\n");
    loop.add_callback([&] { loop.stop(); });
  });
  loop.start();
  peer.join();
  EXPECT_EQ(result.answer, "head body trailer\n");
  EXPECT_EQ(result.application_records, 1);
}

// Two small writes in one turn are held together: the second must not lose
// the first (they once swapped the loop's buffer in while the first was held
// in place, and "head body " vanished).
TEST(TCPServerTest, SmallWritesOfOneTurnAllArrive) {
  IOLoop loop;
  TwoWritesServer server;
  server.listen(0, "127.0.0.1");
  std::string answer = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port());
        co_await stream->write("r\n");
        co_return co_await stream->read_until("trailer\n");
      },
      10s);
  EXPECT_EQ(answer, "head body trailer\n");
}
