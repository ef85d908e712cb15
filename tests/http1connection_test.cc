// Tests for tornado::http1connection: the server side of an HTTP/1.x
// connection under its own delegate (no web layer): strict parsing (RFC
// 9112), Content-Length of any size, exceptions under llhttp's callbacks.
#include "tornado/http1connection.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include "tornado/httpserver.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/tcpclient.h"
#include "tornado/testing.h"

using namespace std::chrono_literals;
using tornado::Task;
using tornado::ioloop::IOLoop;

namespace {

// Answers each request with its body (empty for a GET).
class EchoBodyDelegate : public tornado::http1connection::HTTPServerConnectionDelegate {
 public:
  std::unique_ptr<tornado::http1connection::HTTPMessageDelegate> start_request(
      std::shared_ptr<tornado::http1connection::HTTP1ServerConnection> connection,
      std::shared_ptr<tornado::httputil::HTTPServerRequest>) override {
    struct Message : tornado::http1connection::HTTPMessageDelegate {
      std::shared_ptr<tornado::http1connection::HTTP1ServerConnection> connection;
      std::string body;
      tornado::Task<> data_received(std::string_view chunk) override {
        body += chunk;
        return {};
      }
      void finish() override {
        tornado::httputil::HTTPHeaders headers;
        headers.add("Content-Length", std::to_string(body.size()));
        (void)connection->write_headers(200, "OK", headers, body, true);
        connection->finish();
      }
    };
    auto message = std::make_unique<Message>();
    message->connection = std::move(connection);
    return message;
  }
};

// An HTTPServer of EchoBodyDelegate on a free port of 127.0.0.1.
struct EchoServer {
  EchoServer() : server(std::make_shared<EchoBodyDelegate>()) { server.listen(0, "127.0.0.1"); }
  int port() const { return server.port(); }
  tornado::httpserver::HTTPServer server;
};

}  // namespace

// Request forms that RFC 9112 forbids and a lenient parser would read one way
// while a proxy in front reads them another (request smuggling). Each gets a
// 400 and the connection closes: the bytes after the fault, here always a
// second request, are never answered.
class StrictParsingTest : public ::testing::TestWithParam<std::string> {};

TEST_P(StrictParsingTest, RefusedWith400AndNothingAfterIsRead) {
  IOLoop loop;
  EchoServer server;
  tornado::testing::ExpectLog refused(tornado::log::general, "Malformed HTTP request");
  std::string request = GetParam() + "GET /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto response = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port());
        co_await stream->write(request);
        co_return co_await stream->read_until_close();
      },
      10s);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 400 Bad Request\r\n")) << response;
  EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos) << response;
  // Exactly one answer: the second request was never parsed.
  EXPECT_EQ(response.find("HTTP/1.1", 1), std::string::npos) << response;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9112, StrictParsingTest,
    ::testing::Values(
        // §5.1: whitespace between a field name and its colon.
        std::string("GET /body HTTP/1.1\r\nHost: x\r\nX-Test : 1\r\n\r\n"),
        std::string("GET /body HTTP/1.1\r\nHost: x\r\nX-Test\t: 1\r\n\r\n"),
        // §5.2: obsolete line folding in a request.
        std::string("GET /body HTTP/1.1\r\nHost: x\r\nX-Test: 1\r\n  folded\r\n\r\n"),
        std::string("GET /body HTTP/1.1\r\nHost: x\r\nX-Test: 1\r\n\tfolded\r\n\r\n"),
        // §7.1: chunk data followed by more than its size before the CRLF.
        std::string("POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhelloXX0\r\n\r\n"),
        std::string("POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\n0\r\n\r\n"),
        // Trailer fields are refused, as Tornado refuses them.
        std::string("POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n"),
        // Bare CR and bare LF ending or inside a line (§2.2).
        std::string("GET /body HTTP/1.1\r\nHost: x\rX-Test: 1\r\n\r\n"),
        std::string("GET /body HTTP/1.1\r\nHost: x\r\nX-Test: a\rb\r\n\r\n"),
        std::string("GET /body HTTP/1.1\nHost: x\r\n\r\n"),
        std::string("GET /body HTTP/1.1\r\nHost: x\nX-Test: 1\r\n\r\n"),
        // NUL and other control bytes in the request line and in fields.
        std::string("GET /bo\x01dy HTTP/1.1\r\nHost: x\r\n\r\n"),
        std::string("GET /body HTTP/1.1\r\nHost: x\r\nX-Test: a\x7f\r\n\r\n"),
        std::string("GET /body HTTP/1.1\r\nHost: x\r\nX-Test: a\x1b[31m\r\n\r\n"),
        std::string("GET /body HTTP/1.1\r\nHost: x\r\nX-Te\x01st: 1\r\n\r\n"),
        std::string("GET /body HTTP/1.1\r\nHost: x\r\nX-Test: a\0b\r\n\r\n", 44),
        std::string("GET\t/body HTTP/1.1\r\nHost: x\r\n\r\n"),
        // A field line without a colon, and an empty field name.
        std::string("GET /body HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"),
        std::string("GET /body HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n")));

// The same forms arriving one byte at a time: the checks hold across reads.
TEST(HTTP1ConnectionTest, StrictParsingHoldsAcrossReads) {
  IOLoop loop;
  EchoServer server;
  tornado::testing::ExpectLog refused(tornado::log::general, "Malformed HTTP request");
  std::string request =
      "POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhelloXX0\r\n\r\nGET /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto response = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port());
        stream->set_nodelay(true);
        try {
          for (char c : request) co_await stream->write(std::string_view(&c, 1));
        } catch (const tornado::iostream::StreamClosedError&) {
        }
        co_return co_await stream->read_until_close();
      },
      10s);
  EXPECT_TRUE(response.starts_with("HTTP/1.1 400 Bad Request\r\n")) << response;
  EXPECT_EQ(response.find("HTTP/1.1", 1), std::string::npos) << response;
}

// Legal forms the checks must not refuse: tabs and obs-text in values,
// chunk extensions, a body split across reads, an empty line before the
// request line (§2.2), pipelined requests.
TEST(HTTP1ConnectionTest, StrictParsingAcceptsLegalForms) {
  IOLoop loop;
  EchoServer server;
  std::string requests =
      "\r\nPOST /body HTTP/1.1\r\nHost: x\r\nX-Tab: a\tb\r\nX-Latin: caf\xe9\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
      "POST /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc";
  auto response = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port());
        co_await stream->write(requests);
        co_return co_await stream->read_until_close();
      },
      10s);
  auto second = response.find("HTTP/1.1 200 OK", 1);
  ASSERT_TRUE(response.starts_with("HTTP/1.1 200 OK\r\n")) << response;
  ASSERT_NE(second, std::string::npos) << response;
  EXPECT_NE(response.substr(0, second).find("\r\n\r\nhello world"), std::string::npos) << response;
  EXPECT_TRUE(response.ends_with("\r\n\r\nabc")) << response;
}

namespace {

// Answers every request with the headers of a body `size` bytes long, as
// HEAD does (the body is never sent, so it need not exist in memory).
class HugeHeadDelegate : public tornado::http1connection::HTTPServerConnectionDelegate {
 public:
  explicit HugeHeadDelegate(std::string_view body) : body_(body) {}
  std::unique_ptr<tornado::http1connection::HTTPMessageDelegate> start_request(
      std::shared_ptr<tornado::http1connection::HTTP1ServerConnection> connection,
      std::shared_ptr<tornado::httputil::HTTPServerRequest>) override {
    struct Message : tornado::http1connection::HTTPMessageDelegate {
      std::shared_ptr<tornado::http1connection::HTTP1ServerConnection> connection;
      std::string_view body;
      tornado::Task<> data_received(std::string_view) override { return {}; }
      void finish() override {
        (void)connection->write_headers(200, "OK", {}, body, true);
        connection->finish();
      }
    };
    auto message = std::make_unique<Message>();
    message->connection = std::move(connection);
    message->body = body_;
    return message;
  }

 private:
  std::string_view body_;
};

}  // namespace

// Content-Length is written for bodies of any size: 100,000,000 bytes and
// more once lost digits, past 4 GiB it must not wrap.
TEST(HTTP1ConnectionTest, ContentLengthOfAnySize) {
  IOLoop loop;
  constexpr std::size_t kSize = std::size_t{5} << 30;
  // Address space only: HEAD never reads the body.
  void* map = mmap(nullptr, kSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(map, MAP_FAILED);
  tornado::httpserver::HTTPServer server(
      std::make_shared<HugeHeadDelegate>(std::string_view(static_cast<char*>(map), kSize)));
  server.listen(0, "127.0.0.1");
  int port = server.port();
  auto response = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port);
        co_await stream->write("HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        co_return co_await stream->read_until_close();
      },
      10s);
  munmap(map, kSize);
  EXPECT_NE(response.find("\r\nContent-Length: 5368709120\r\n"), std::string::npos) << response;
}

namespace {

// A delegate whose body callback throws: it runs inside llhttp's C frames.
class ThrowingBodyDelegate : public tornado::http1connection::HTTPServerConnectionDelegate {
 public:
  std::unique_ptr<tornado::http1connection::HTTPMessageDelegate> start_request(
      std::shared_ptr<tornado::http1connection::HTTP1ServerConnection>,
      std::shared_ptr<tornado::httputil::HTTPServerRequest>) override {
    struct Message : tornado::http1connection::HTTPMessageDelegate {
      tornado::Task<> data_received(std::string_view) override {
        throw std::runtime_error("body bug");
      }
      void finish() override {}
    };
    return std::make_unique<Message>();
  }
};

}  // namespace

// An exception thrown under a C callback stops at the callback's guard: the
// request gets a 500, the error is logged, and the server goes on.
TEST(HTTP1ConnectionTest, ExceptionUnderParserCallbackIs500) {
  IOLoop loop;
  tornado::httpserver::HTTPServer server(std::make_shared<ThrowingBodyDelegate>());
  server.listen(0, "127.0.0.1");
  int port = server.port();
  tornado::testing::ExpectLog logged(tornado::log::app, "body bug");
  auto ask = [&] {
    return loop.run_sync(
        [&]() -> Task<std::string> {
          auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port);
          co_await stream->write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
          co_return co_await stream->read_until_close();
        },
        10s);
  };
  EXPECT_TRUE(ask().starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
  EXPECT_TRUE(ask().starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
}
