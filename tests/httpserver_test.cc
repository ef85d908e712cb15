// Tests for tornado::httpserver limits and streaming: idle and slow clients,
// streamed uploads, gzip request bodies, xheaders.
#include "tornado/httpserver.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/tcpclient.h"
#include "tornado/testing.h"
#include "tornado/web.h"

using namespace std::chrono_literals;
using tornado::Task;
using tornado::ioloop::IOLoop;

namespace {

// Counts a streamed body without keeping it.
class UploadHandler : public tornado::web::RequestHandler {
 public:
  void prepare() { connection()->set_max_body_size(std::size_t{200} * 1024 * 1024); }
  void data_received(std::string_view chunk) {
    received_ += chunk.size();
    largest_chunk_ = std::max(largest_chunk_, chunk.size());
  }
  void put() { write(fmt::format("{} {}", received_, largest_chunk_ <= 256 * 1024)); }

 private:
  std::size_t received_ = 0;
  std::size_t largest_chunk_ = 0;
};

class BodyHandler : public tornado::web::RequestHandler {
 public:
  void post() { write(request().body); }
  void get() { write(request().remote_ip + " " + request().protocol); }
};

// Answers after twice the idle timeout of the test that uses it.
class SlowHandler : public tornado::web::RequestHandler {
 public:
  Task<> get() {
    co_await tornado::sleep(300ms);
    write("slow");
  }
};

// An application of `routes` listening on a free port of 127.0.0.1.
struct Server {
  explicit Server(std::vector<tornado::web::URLSpec> routes,
                  tornado::httpserver::HTTPServerSettings settings = {})
      : app(std::make_unique<tornado::web::Application>(std::move(routes))) {
    port = app->listen(0, "127.0.0.1", std::move(settings)).port();
  }
  std::unique_ptr<tornado::web::Application> app;
  int port = 0;
};

std::vector<tornado::web::URLSpec> body_routes() {
  return {{"/upload", tornado::web::handler<UploadHandler>()},
          {"/body", tornado::web::handler<BodyHandler>()}};
}

std::string gzip(std::string_view data) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

// The server's own limit is 1 MiB: the upload gets through only because the
// handler's prepare() raises this request's limit to 200 MiB before the first
// byte of the body is read (with the default limit of 100 MiB, equal to the
// upload, the test could not tell).
TEST(HTTPServerTest, HundredMebibyteUploadIsStreamedNotHeld) {
  IOLoop loop;
  tornado::httpserver::HTTPServerSettings settings;
  settings.max_body_size = 1024 * 1024;
  Server server(body_routes(), settings);
  constexpr std::size_t kSize = 100 * 1024 * 1024;
  auto response = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port);
        co_await stream->write(fmt::format(
            "PUT /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            kSize));
        std::string chunk(1024 * 1024, 'u');
        for (std::size_t sent = 0; sent < kSize; sent += chunk.size())
          co_await stream->write(chunk);
        co_return co_await stream->read_until_close();
      },
      120s);
  EXPECT_TRUE(response.ends_with(fmt::format("{} true", kSize)))
      << response.substr(response.size() > 300 ? response.size() - 300 : 0);
}

TEST(HTTPServerTest, SlowLorisIsClosedAfterTheBodyTimeout) {
  IOLoop loop;
  tornado::httpserver::HTTPServerSettings settings;
  settings.body_timeout = 200ms;
  Server server(body_routes(), settings);
  auto started = std::chrono::steady_clock::now();
  auto closed_after = loop.run_sync(
      [&]() -> Task<std::chrono::steady_clock::duration> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port);
        // One header byte every 50 ms: never a complete request.
        std::string_view request = "GET /body HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaa";
        try {
          for (char c : request) {
            co_await stream->write(std::string_view(&c, 1));
            co_await tornado::sleep(50ms);
          }
        } catch (const tornado::iostream::StreamClosedError&) {
        }
        co_await stream->read_until_close();
        co_return std::chrono::steady_clock::now() - started;
      },
      10s);
  EXPECT_LT(closed_after, 2s);
}

TEST(HTTPServerTest, IdleConnectionIsClosed) {
  IOLoop loop;
  tornado::httpserver::HTTPServerSettings settings;
  settings.idle_connection_timeout = 100ms;
  Server server(body_routes(), settings);
  auto text = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port);
        co_return co_await stream->read_until_close();  // the server hangs up
      },
      5s);
  EXPECT_EQ(text, "");
}

// The idle deadline moves with every request (the timer re-arms lazily, see
// HTTP1ServerConnection::arm_timer): requests closer together than the
// timeout keep the connection, the silence after them ends it, and a handler
// slower than the timeout is not cut off.
TEST(HTTPServerTest, IdleDeadlineMovesWithEachRequest) {
  IOLoop loop;
  tornado::httpserver::HTTPServerSettings settings;
  settings.idle_connection_timeout = 150ms;
  Server server(body_routes(), settings);
  server.app->add_handlers({{"/slow", tornado::web::handler<SlowHandler>()}});
  auto result = loop.run_sync(
      [&]() -> Task<std::pair<int, std::chrono::steady_clock::duration>> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port);
        int answered = 0;
        for (int i = 0; i < 6; ++i) {  // 6 x 60 ms: well past one timeout
          co_await stream->write(i == 3 ? "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
                                        : "GET /body HTTP/1.1\r\nHost: x\r\n\r\n");
          co_await stream->read_until("\r\n\r\n");
          auto body = co_await stream->read_bytes(i == 3 ? 4 : 14);
          answered += body == "slow" || body.starts_with("127.0.0.1");
          co_await tornado::sleep(60ms);
        }
        auto idle_from = std::chrono::steady_clock::now();
        co_await stream->read_until_close();
        co_return std::pair{answered, std::chrono::steady_clock::now() - idle_from};
      },
      5s);
  EXPECT_EQ(result.first, 6);
  EXPECT_GE(result.second, 60ms);  // 150 ms after the last answer, less the 60 ms slept
  EXPECT_LT(result.second, 1s);
}

TEST(HTTPServerTest, GzipRequestBodyIsInflatedWhenEnabled) {
  IOLoop loop;
  tornado::httpserver::HTTPServerSettings settings;
  settings.decompress_request = true;
  Server server(body_routes(), settings);
  std::string body = gzip(std::string(5000, 'z'));
  auto response = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port);
        co_await stream->write(fmt::format(
            "POST /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Encoding: gzip\r\n"
            "Content-Length: {}\r\n\r\n{}",
            body.size(), body));
        co_return co_await stream->read_until_close();
      },
      10s);
  EXPECT_TRUE(response.ends_with(std::string(5000, 'z')));
}

TEST(HTTPServerTest, XHeadersOnlyWhenEnabled) {
  IOLoop loop;
  auto ask = [&](bool xheaders) {
    tornado::httpserver::HTTPServerSettings settings;
    settings.xheaders = xheaders;
    Server server(body_routes(), settings);
    return loop.run_sync(
        [&]() -> Task<std::string> {
          auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port);
          co_await stream->write(
              "GET /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Real-Ip: 203.0.113.9\r\n"
              "X-Scheme: https\r\n\r\n");
          std::string all = co_await stream->read_until_close();
          co_return all.substr(all.find("\r\n\r\n") + 4);
        },
        10s);
  };
  EXPECT_EQ(ask(true), "203.0.113.9 https");
  EXPECT_EQ(ask(false), "127.0.0.1 http");
}

// The two-step bind()/start(): port() is the bound port from bind() on, so a
// server bound to port 0 can say where it listens before it forks.
TEST(HTTPServerTest, PortIsKnownFromBind) {
  IOLoop loop;
  tornado::web::Application app(body_routes());
  tornado::httpserver::HTTPServer server(app);
  server.bind(0, "127.0.0.1");
  int port = server.port();
  ASSERT_NE(port, 0);
  server.start();
  auto response = loop.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port);
        co_await stream->write("GET /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        co_return co_await stream->read_until_close();
      },
      10s);
  EXPECT_TRUE(response.ends_with("\r\n\r\n127.0.0.1 http")) << response;
}

// ---------------------------------------------------------------------------
// Streaming request bodies as @stream_request_body (issue 16).

namespace {

// Records the order of its hooks; prepare() is a coroutine that sets this
// request's body limit and timeout from the query.
class OrderedUploadHandler : public tornado::web::RequestHandler {
 public:
  Task<> prepare() {
    co_await tornado::sleep(5ms);
    events_ += "prepare;";
    if (auto limit = get_query_argument("limit", std::nullopt)) {
      connection()->set_max_body_size(std::stoul(*limit));
    }
    if (auto timeout = get_query_argument("timeout_ms", std::nullopt)) {
      connection()->set_body_timeout(std::chrono::milliseconds(std::stol(*timeout)));
    }
  }
  void data_received(std::string_view chunk) {
    if (events_.find("data;") == std::string::npos) events_ += "data;";
    received_ += chunk.size();
  }
  void put() { write(fmt::format("{}{}", events_, received_)); }

 private:
  std::string events_;
  std::size_t received_ = 0;
};

// A coroutine data_received: each chunk is awaited before the next is read.
class AsyncUploadHandler : public tornado::web::RequestHandler {
 public:
  void prepare() { connection()->set_max_body_size(std::size_t{64} * 1024 * 1024); }
  Task<> data_received(std::string_view chunk) {
    if (busy_) overlapped_ = true;
    busy_ = true;
    std::size_t size = chunk.size();
    co_await tornado::sleep(1ms);
    received_ += size;
    ++chunks_;
    busy_ = false;
  }
  void put() { write(fmt::format("{} {}", received_, overlapped_ ? "overlapped" : "in order")); }

 private:
  bool busy_ = false;
  bool overlapped_ = false;
  std::size_t received_ = 0;
  std::size_t chunks_ = 0;
};

std::vector<tornado::web::URLSpec> streaming_routes() {
  return {{"/ordered", tornado::web::handler<OrderedUploadHandler>()},
          {"/async", tornado::web::handler<AsyncUploadHandler>()}};
}

Task<std::string> put_body(int port, std::string target, std::size_t size) {
  auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port);
  co_await stream->write(
      fmt::format("PUT {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                  target, size));
  std::string piece(64 * 1024, 'b');
  try {
    for (std::size_t sent = 0; sent < size; sent += piece.size()) {
      co_await stream->write(
          std::string_view(piece).substr(0, std::min(piece.size(), size - sent)));
    }
  } catch (const tornado::iostream::StreamClosedError&) {
  }
  co_return co_await stream->read_until_close();
}

}  // namespace

TEST(HTTPServerStreamingTest, PrepareRunsBeforeTheFirstDataReceived) {
  IOLoop loop;
  Server server(streaming_routes());
  auto response = loop.run_sync([&] { return put_body(server.port, "/ordered", 1000); }, 10s);
  EXPECT_TRUE(response.ends_with("prepare;data;1000")) << response;
}

TEST(HTTPServerStreamingTest, BodyLimitSetInPrepareApplies) {
  IOLoop loop;
  tornado::httpserver::HTTPServerSettings settings;
  settings.max_body_size = 1024;
  Server server(streaming_routes(), settings);
  // Raised above the server's limit for this request only...
  auto raised =
      loop.run_sync([&] { return put_body(server.port, "/ordered?limit=200000", 100000); }, 10s);
  EXPECT_TRUE(raised.ends_with("prepare;data;100000")) << raised.substr(0, 200);
  // ...and lowered below the body's size: 413.
  auto lowered = loop.run_sync([&] { return put_body(server.port, "/ordered?limit=10", 20); }, 10s);
  EXPECT_TRUE(lowered.starts_with("HTTP/1.1 413")) << lowered;
}

TEST(HTTPServerStreamingTest, BodyTimeoutSetInPrepareApplies) {
  IOLoop loop;
  Server server(streaming_routes());  // the server's own body timeout is an hour
  auto started = std::chrono::steady_clock::now();
  loop.run_sync(
      [&]() -> Task<> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port);
        co_await stream->write(
            "PUT /ordered?timeout_ms=150 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npart");
        co_await stream->read_until_close();  // the server gives up on the rest
      },
      10s);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
}

TEST(HTTPServerStreamingTest, CoroutineDataReceivedIsAwaitedBeforeTheNextChunk) {
  IOLoop loop;
  Server server(streaming_routes());
  constexpr std::size_t kSize = 2 * 1024 * 1024;
  auto response = loop.run_sync([&] { return put_body(server.port, "/async", kSize); }, 60s);
  EXPECT_TRUE(response.ends_with(fmt::format("{} in order", kSize))) << response.substr(0, 300);
}

// A client that waits for 100 Continue learns of a refused body first: the
// 100 is sent only once the body is known to be wanted.
TEST(HTTPServerStreamingTest, ExpectContinueIsNotSentForABodyThatIsRefused) {
  IOLoop loop;
  tornado::httpserver::HTTPServerSettings settings;
  settings.max_body_size = 1024;
  Server server(streaming_routes(), settings);
  auto answer = [&](std::string target, std::size_t length) {
    return loop.run_sync(
        [&]() -> Task<std::string> {
          auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", server.port);
          co_await stream->write(fmt::format(
              "PUT {} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
              target, length));
          co_return co_await stream->read_until("\r\n\r\n");
        },
        10s);
  };
  EXPECT_TRUE(answer("/ordered", 5000).starts_with("HTTP/1.1 413"));
  // The limit prepare() sets decides, so the 100 waits for prepare().
  EXPECT_TRUE(answer("/ordered?limit=10", 500).starts_with("HTTP/1.1 413"));
  EXPECT_TRUE(answer("/ordered?limit=10000", 5000).starts_with("HTTP/1.1 100"));
}
