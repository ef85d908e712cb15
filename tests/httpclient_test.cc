// Tests for tornado::httpclient against real servers over loopback: small
// HTTP/1.1 servers written here on TCPServer (each speaking just enough of
// the protocol for its case) and, for interoperability, Python Tornado.
#include "tornado/httpclient.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tornado/detail/http1_client/url.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/locks.h"
#include "tornado/netutil.h"
#include "tornado/tcpserver.h"
#include "tornado/testing.h"
#include "tornado/web.h"

// Sanitizers keep freed memory (quarantine, shadow): the upload test counts
// allocated bytes there instead of the resident size.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HTTPCLIENT_TEST_SANITIZED 1
#include <sanitizer/allocator_interface.h>
#endif
#endif
#ifndef HTTPCLIENT_TEST_SANITIZED
#define HTTPCLIENT_TEST_SANITIZED 0
#endif

using namespace std::chrono_literals;
using tornado::Task;
using tornado::httpclient::AsyncHTTPClient;
using tornado::httpclient::BodyProducer;
using tornado::httpclient::BodyWriter;
using tornado::httpclient::ClientOptions;
using tornado::httpclient::HTTPClient;
using tornado::httpclient::HTTPClientError;
using tornado::httpclient::HTTPRequest;
using tornado::httpclient::HTTPResponse;
using tornado::httpclient::HTTPStreamClosedError;
using tornado::httpclient::HTTPTimeoutError;
using tornado::httputil::HTTPHeaders;
using tornado::ioloop::IOLoop;
using tornado::iostream::IOStream;
using tornado::iostream::StreamClosedError;

namespace {

// ------------------------------------------------------------ test servers

struct Received {
  std::string method;
  std::string target;
  std::string version;
  HTTPHeaders headers;
  std::string body;
  // The bytes that were buffered when the request head arrived: with one
  // gathered write, the body is already there.
  std::string first_read;
};

// What a handler gets: the request and the stream to answer on.
struct Exchange {
  Received request;
  std::shared_ptr<IOStream> stream;
  bool close = false;  // set to close the connection after this exchange
};

using Handler = std::function<Task<>(Exchange&)>;

std::string response(int code, std::string_view body, std::string_view extra_headers = "",
                     std::string_view reason = "") {
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Length: {}\r\n{}\r\n{}", code,
                     reason.empty() ? "Whatever" : reason, body.size(), extra_headers, body);
}

// A keep-alive HTTP/1.1 server running `handler` for each request.
class TestServer : public tornado::tcpserver::TCPServer {
 public:
  explicit TestServer(Handler handler,
                      std::optional<tornado::netutil::SSLOptions> ssl = std::nullopt)
      : TCPServer(std::move(ssl)), handler_(std::move(handler)) {
    listen(0, "127.0.0.1");
  }
  std::string url(std::string_view path, std::string_view scheme = "http") const {
    return fmt::format("{}://127.0.0.1:{}{}", scheme, port(), path);
  }

  int connections = 0;
  std::vector<Received> requests;
  std::vector<std::shared_ptr<IOStream>> streams;

  void handle_stream(std::shared_ptr<IOStream> stream, std::string) override {
    ++connections;
    streams.push_back(stream);
    tornado::spawn(serve(std::move(stream)));
  }

 private:
  Task<> serve(std::shared_ptr<IOStream> stream) {
    try {
      while (!stream->closed()) {
        co_await stream->wait_for_bytes(1);
        Exchange exchange;
        exchange.stream = stream;
        Received& request = exchange.request;
        std::string head = co_await stream->read_until("\r\n\r\n", 64 * 1024);
        request.first_read = head + std::string(stream->buffered());
        auto line_end = head.find("\r\n");
        std::string line = head.substr(0, line_end);
        auto sp1 = line.find(' ');
        auto sp2 = line.rfind(' ');
        request.method = line.substr(0, sp1);
        request.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
        request.version = line.substr(sp2 + 1);
        request.headers = HTTPHeaders::parse(std::string_view(head).substr(line_end + 2));
        auto length = request.headers.get("Content-Length");
        bool expect_continue = request.headers.get("Expect") == "100-continue";
        if (!length.empty() && !expect_continue) {
          request.body = co_await stream->read_bytes(std::stoul(std::string(length)));
        }
        requests.push_back(request);
        co_await handler_(exchange);
        if (exchange.close) {
          stream->close();
          break;
        }
      }
    } catch (const StreamClosedError&) {
    }
  }

  Handler handler_;
};

Handler fixed(std::string bytes, bool close = false) {
  return [bytes = std::move(bytes), close](Exchange& exchange) -> Task<> {
    co_await exchange.stream->write(bytes);
    exchange.close = close;
  };
}

std::string gzip(std::string_view data) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, data.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// Waits until `done()` holds, giving the loop one turn (I/O included) per
// check; run()'s timeout bounds the wait. For state with no event of its own.
Task<> until(std::function<bool()> done) {
  while (!done()) co_await tornado::moment();
}

// Runs `body` as the test's coroutine on a fresh loop.
template <class Fn>
void run(IOLoop& loop, Fn&& body) {
  loop.run_sync([&]() -> Task<> { co_await body(); }, 10s);
}

}  // namespace

// ------------------------------------------------------------ basics

TEST(HTTPClientTest, GetWithContentLength) {
  IOLoop loop;
  TestServer server(fixed(response(200, "Hello, world", "X-Test: yes\r\n", "OK")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    HTTPResponse response = co_await client.fetch(server.url("/path?q=1"));
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.reason, "OK");
    EXPECT_EQ(response.body, "Hello, world");
    EXPECT_EQ(response.headers.get("X-Test"), "yes");
    EXPECT_EQ(response.effective_url, server.url("/path?q=1"));
    EXPECT_EQ(response.request->url, server.url("/path?q=1"));
    EXPECT_GT(response.request_time, 0.0);
    EXPECT_LT(response.request_time, 5.0);
    EXPECT_FALSE(response.error);
    response.rethrow();  // no error: does nothing
  });
  ASSERT_EQ(server.requests.size(), 1u);
  const auto& request = server.requests[0];
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/path?q=1");
  EXPECT_EQ(request.version, "HTTP/1.1");
  EXPECT_EQ(request.headers.get("Host"), fmt::format("127.0.0.1:{}", server.port()));
  EXPECT_EQ(request.headers.get("Accept-Encoding"), "gzip");
  EXPECT_FALSE(request.headers.get("User-Agent").empty());
  EXPECT_FALSE(request.headers.contains("Content-Length"));
}

TEST(HTTPClientTest, PostSendsHeadersAndBodyInOneWrite) {
  IOLoop loop;
  TestServer server([](Exchange& exchange) -> Task<> {
    co_await exchange.stream->write(response(201, exchange.request.body));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    // (A nested braced list inside co_await does not compile with GCC 12.)
    HTTPHeaders headers{{"X-Custom", "1"}};
    auto response = co_await client.fetch(
        server.url("/echo"), {.method = "POST", .headers = headers, .body = "a=1&b=2"});
    EXPECT_EQ(response.code, 201);
    EXPECT_EQ(response.body, "a=1&b=2");
  });
  ASSERT_EQ(server.requests.size(), 1u);
  const auto& request = server.requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.headers.get("Content-Length"), "7");
  EXPECT_EQ(request.headers.get("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(request.headers.get("X-Custom"), "1");
  EXPECT_TRUE(request.first_read.ends_with("\r\n\r\na=1&b=2")) << request.first_read;
}

TEST(HTTPClientTest, EmptyBodyIsABody) {
  IOLoop loop;
  TestServer server(fixed(response(200, "ok")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    co_await client.fetch(server.url("/"), {.method = "PUT", .body = ""});
  });
  ASSERT_EQ(server.requests.size(), 1u);
  EXPECT_EQ(server.requests[0].headers.get("Content-Length"), "0");
}

TEST(HTTPClientTest, FetchTakesAnHTTPRequest) {
  IOLoop loop;
  TestServer server(fixed(response(200, "ok")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    HTTPRequest request{.url = server.url("/r"), .method = "DELETE"};
    auto response = co_await client.fetch(std::move(request));
    EXPECT_EQ(response.body, "ok");
  });
  EXPECT_EQ(server.requests.at(0).method, "DELETE");
}

TEST(HTTPClientTest, ChunkedResponseAndStreamingCallback) {
  IOLoop loop;
  // On the streamed fetch the server writes each chunk only once the client
  // has handed the previous one to its callback: a client that held chunks
  // back until the end would never get the next.
  tornado::locks::Event delivered;
  int served = 0;
  TestServer server([&](Exchange& exchange) -> Task<> {
    bool streamed = ++served == 2;
    auto next_chunk = [&]() -> Task<> {
      if (!streamed) co_return;
      co_await delivered.wait();
      delivered.clear();
    };
    co_await exchange.stream->write(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n");
    co_await next_chunk();
    co_await exchange.stream->write("2\r\n, \r\n");
    co_await next_chunk();
    co_await exchange.stream->write("6\r\nworld!\r\n0\r\n\r\n");
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto response = co_await client.fetch(server.url("/"));
    EXPECT_EQ(response.body, "Hello, world!");
    std::vector<std::string> chunks;
    auto streamed =
        co_await client.fetch(server.url("/"), {.streaming_callback = [&](std::string_view chunk) {
                                chunks.emplace_back(chunk);
                                delivered.set();
                              }});
    EXPECT_EQ(streamed.body, "");
    EXPECT_GE(chunks.size(), 3u);
    std::string joined;
    for (auto& chunk : chunks) joined += chunk;
    EXPECT_EQ(joined, "Hello, world!");
    // Chunked responses keep the connection.
    EXPECT_EQ(client.connections_opened(), 1u);
  });
  EXPECT_EQ(server.connections, 1);
}

TEST(HTTPClientTest, BodyUntilCloseWithoutLength) {
  IOLoop loop;
  TestServer server(fixed("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", true));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto response = co_await client.fetch(server.url("/"));
    EXPECT_EQ(response.body, "all of it");
    EXPECT_EQ(client.idle_connections(), 0u);
  });
}

TEST(HTTPClientTest, HeadAnd204And304HaveNoBody) {
  IOLoop loop;
  TestServer server([](Exchange& exchange) -> Task<> {
    const auto& target = exchange.request.target;
    if (target == "/head") {
      co_await exchange.stream->write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    } else if (target == "/204") {
      co_await exchange.stream->write("HTTP/1.1 204 No Content\r\n\r\n");
    } else if (target == "/304") {
      co_await exchange.stream->write("HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
    } else {
      co_await exchange.stream->write(response(200, "after"));
    }
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto head = co_await client.fetch(server.url("/head"), {.method = "HEAD"});
    EXPECT_EQ(head.code, 200);
    EXPECT_EQ(head.body, "");
    EXPECT_EQ(head.headers.get("Content-Length"), "1000");
    auto no_content = co_await client.fetch(server.url("/204"));
    EXPECT_EQ(no_content.code, 204);
    EXPECT_EQ(no_content.body, "");
    auto not_modified = co_await client.fetch(server.url("/304"), {}, false);
    EXPECT_EQ(not_modified.code, 304);
    EXPECT_TRUE(not_modified.error);
    // Every one of them left the connection clean for the next request.
    auto after = co_await client.fetch(server.url("/after"));
    EXPECT_EQ(after.body, "after");
    EXPECT_EQ(client.connections_opened(), 1u);
  });
  EXPECT_EQ(server.connections, 1);
}

TEST(HTTPClientTest, InformationalResponsesAreSkipped) {
  IOLoop loop;
  TestServer server(
      fixed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" +
            response(200, "final", "", "OK")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto response = co_await client.fetch(server.url("/"));
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "final");
    EXPECT_FALSE(response.headers.contains("Link"));
    EXPECT_EQ(client.idle_connections(), 1u);
  });
}

// ------------------------------------------------------------ keep-alive and the pool

TEST(HTTPClientTest, KeepAliveReusesOneConnection) {
  IOLoop loop;
  TestServer server(fixed(response(200, "again")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    for (int i = 0; i < 5; ++i) {
      auto response = co_await client.fetch(server.url("/"));
      EXPECT_EQ(response.body, "again");
    }
    EXPECT_EQ(client.idle_connections(), 1u);
    EXPECT_EQ(client.connections_opened(), 1u);
    // The default pool is shared by every AsyncHTTPClient() of the loop.
    AsyncHTTPClient other;
    co_await other.fetch(server.url("/"));
    EXPECT_EQ(other.connections_opened(), 1u);
  });
  EXPECT_EQ(server.connections, 1);
  EXPECT_EQ(server.requests.size(), 6u);
}

TEST(HTTPClientTest, ConnectionCloseIsNotReused) {
  IOLoop loop;
  TestServer server(fixed(response(200, "bye", "Connection: close\r\n"), true));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{});
    co_await client.fetch(server.url("/"));
    co_await client.fetch(server.url("/"));
    EXPECT_EQ(client.idle_connections(), 0u);
  });
  EXPECT_EQ(server.connections, 2);
}

TEST(HTTPClientTest, IdleConnectionClosedByServerIsDropped) {
  IOLoop loop;
  tornado::locks::Event pooled;
  TestServer server([&](Exchange& exchange) -> Task<> {
    co_await exchange.stream->write(response(200, "x"));
    co_await pooled.wait();
    exchange.close = true;  // closes while the client holds it idle
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{});
    co_await client.fetch(server.url("/"));
    EXPECT_EQ(client.idle_connections(), 1u);
    pooled.set();
    co_await until([&] { return client.idle_connections() == 0; });
    co_await client.fetch(server.url("/"));
  });
  EXPECT_EQ(server.connections, 2);
}

TEST(HTTPClientTest, StalePooledConnectionIsRetriedOnce) {
  IOLoop loop;
  int served = 0;
  // The second request arrives on a connection the server then drops
  // without answering (the race with a server's idle timeout).
  TestServer server([&](Exchange& exchange) -> Task<> {
    if (++served == 2) {
      exchange.close = true;
      co_return;
    }
    co_await exchange.stream->write(response(200, fmt::format("answer {}", served)));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{});
    EXPECT_EQ((co_await client.fetch(server.url("/"))).body, "answer 1");
    EXPECT_EQ((co_await client.fetch(server.url("/"))).body, "answer 3");
  });
  EXPECT_EQ(server.connections, 2);
}

TEST(HTTPClientTest, IdleTimeoutClosesPooledConnections) {
  IOLoop loop;
  TestServer server(fixed(response(200, "x")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{.idle_timeout = 50ms});
    co_await client.fetch(server.url("/"));
    auto pooled_at = std::chrono::steady_clock::now();
    EXPECT_EQ(client.idle_connections(), 1u);
    co_await until([&] { return client.idle_connections() == 0; });
    // Closed by the idle timer, not by anything sooner.
    EXPECT_GE(std::chrono::steady_clock::now() - pooled_at, 45ms);
  });
}

TEST(HTTPClientTest, MaxClientsQueuesRequests) {
  IOLoop loop;
  int running = 0;
  int most = 0;
  int started = 0;
  // Each request holds its slot until a second one runs beside it (or none
  // is left to come): a client that ran them one at a time would stall here
  // and one that ran more than two at once would raise `most`.
  tornado::locks::Condition arrived;
  TestServer server([&](Exchange& exchange) -> Task<> {
    ++started;
    most = std::max(most, ++running);
    arrived.notify_all();
    while (running < 2 && started < 6) co_await arrived.wait();
    --running;
    co_await exchange.stream->write(response(200, exchange.request.target));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{.max_clients = 2});
    std::vector<Task<HTTPResponse>> fetches;
    for (int i = 0; i < 6; ++i) fetches.push_back(client.fetch(server.url(fmt::format("/{}", i))));
    auto responses = co_await tornado::gather(std::move(fetches));
    for (int i = 0; i < 6; ++i) EXPECT_EQ(responses[i].body, fmt::format("/{}", i));
    EXPECT_LE(client.connections_opened(), 2u);
  });
  EXPECT_EQ(most, 2);
}

TEST(HTTPClientTest, TimeoutInRequestQueue) {
  IOLoop loop;
  // The first request is answered only after the second has timed out in
  // the queue behind it.
  tornado::locks::Event second_timed_out;
  TestServer server([&](Exchange& exchange) -> Task<> {
    co_await second_timed_out.wait();
    co_await exchange.stream->write(response(200, "slow"));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{.max_clients = 1});
    auto first = tornado::to_future(client.fetch(server.url("/")));
    try {
      co_await client.fetch(server.url("/"), {.request_timeout = 50ms});
      ADD_FAILURE() << "no timeout";
    } catch (const HTTPTimeoutError& e) {
      EXPECT_EQ(e.code, 599);
      EXPECT_STREQ(e.what(), "Timeout in request queue");
    }
    second_timed_out.set();
    EXPECT_EQ((co_await first).body, "slow");
  });
}

// ------------------------------------------------------------ redirects

TEST(HTTPClientTest, FollowsRedirectChainWithRelativeLocations) {
  IOLoop loop;
  TestServer server([](Exchange& exchange) -> Task<> {
    const auto& target = exchange.request.target;
    std::string location;
    if (target == "/a/start") location = "next";           // relative to /a/
    if (target == "/a/next") location = "../b/third?x=1";  // dot segments
    if (target == "/b/third?x=1") location = "/final";     // absolute path
    if (!location.empty()) {
      co_await exchange.stream->write(
          response(302, "moved", fmt::format("Location: {}\r\n", location), "Found"));
    } else {
      co_await exchange.stream->write(response(200, "arrived at " + target));
    }
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto response = co_await client.fetch(server.url("/a/start"));
    EXPECT_EQ(response.code, 200);
    EXPECT_EQ(response.body, "arrived at /final");
    EXPECT_EQ(response.effective_url, server.url("/final"));
    EXPECT_EQ(response.request->url, server.url("/a/start"));
  });
  ASSERT_EQ(server.requests.size(), 4u);
  EXPECT_EQ(server.requests[2].target, "/b/third?x=1");
  EXPECT_EQ(server.connections, 1);  // redirects reuse the connection too
}

TEST(HTTPClientTest, RedirectLimitsAndOptOut) {
  IOLoop loop;
  TestServer server([](Exchange& exchange) -> Task<> {
    int n = std::stoi(exchange.request.target.substr(1));
    co_await exchange.stream->write(
        response(302, "", fmt::format("Location: /{}\r\n", n + 1), "Found"));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    try {
      co_await client.fetch(server.url("/0"), {.max_redirects = 2});
      ADD_FAILURE() << "no error";
    } catch (const HTTPClientError& e) {
      EXPECT_EQ(e.code, 302);
      EXPECT_TRUE(e.response && e.response->effective_url == server.url("/2"));
    }
    auto response = co_await client.fetch(server.url("/0"), {.follow_redirects = false}, false);
    EXPECT_EQ(response.code, 302);
    EXPECT_EQ(response.headers.get("Location"), "/1");
    EXPECT_TRUE(response.error);
    EXPECT_THROW(response.rethrow(), HTTPClientError);
  });
}

TEST(HTTPClientTest, RedirectMethodRules) {
  IOLoop loop;
  TestServer server([](Exchange& exchange) -> Task<> {
    const auto& target = exchange.request.target;
    if (target.starts_with("/to/")) {
      co_await exchange.stream->write(
          response(200, exchange.request.method + " " + exchange.request.body));
    } else {
      auto code = target.substr(1, 3);
      co_await exchange.stream->write(
          response(std::stoi(code), "", fmt::format("Location: /to/{}\r\n", code)));
    }
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto post = [&](std::string code, std::string method) -> Task<std::string> {
      HTTPRequest request{.url = server.url("/" + code), .method = method, .body = "data"};
      co_return (co_await client.fetch(std::move(request))).body;
    };
    EXPECT_EQ(co_await post("302", "POST"), "GET ");
    EXPECT_EQ(co_await post("301", "POST"), "GET ");
    EXPECT_EQ(co_await post("303", "PUT"), "GET ");
    EXPECT_EQ(co_await post("307", "POST"), "POST data");
    EXPECT_EQ(co_await post("308", "PUT"), "PUT data");
    EXPECT_EQ(co_await post("301", "PUT"), "PUT data");  // Tornado keeps non-POST on 301/302
  });
  // The converted GET carried no body headers.
  for (const auto& request : server.requests) {
    if (request.method == "GET") {
      EXPECT_FALSE(request.headers.contains("Content-Length"));
      EXPECT_FALSE(request.headers.contains("Content-Type"));
    }
  }
}

TEST(HTTPClientTest, CredentialsAreNotSentToAnotherOrigin) {
  IOLoop loop;
  TestServer other(fixed(response(200, "other")));
  TestServer server([&](Exchange& exchange) -> Task<> {
    if (exchange.request.target == "/away") {
      co_await exchange.stream->write(
          response(302, "", fmt::format("Location: {}\r\n", other.url("/landing"))));
    } else {
      co_await exchange.stream->write(response(302, "", "Location: /away\r\n"));
    }
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto response = co_await client.fetch(server.url("/start"),
                                          {.auth_username = "user", .auth_password = "pass"});
    EXPECT_EQ(response.body, "other");
  });
  ASSERT_EQ(server.requests.size(), 2u);
  EXPECT_EQ(server.requests[1].headers.get("Authorization"), "Basic dXNlcjpwYXNz");
  ASSERT_EQ(other.requests.size(), 1u);
  EXPECT_FALSE(other.requests[0].headers.contains("Authorization"));
}

// ------------------------------------------------------------ gzip and limits

TEST(HTTPClientTest, GzipBodiesAreInflated) {
  IOLoop loop;
  std::string text;
  for (int i = 0; i < 2000; ++i) text += fmt::format("line {} of a compressible body\n", i);
  TestServer server([&](Exchange& exchange) -> Task<> {
    if (exchange.request.headers.get("Accept-Encoding") == "gzip") {
      co_await exchange.stream->write(
          response(200, gzip(text), "Content-Encoding: gzip\r\n", "OK"));
    } else {
      co_await exchange.stream->write(response(200, text));
    }
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto response = co_await client.fetch(server.url("/"));
    EXPECT_TRUE(response.body == text);
    EXPECT_FALSE(response.headers.contains("Content-Encoding"));
    EXPECT_EQ(response.headers.get("X-Consumed-Content-Encoding"), "gzip");
    auto raw = co_await client.fetch(server.url("/"), {.decompress_response = false});
    EXPECT_TRUE(raw.body == text);  // the server did not compress: not asked to
  });
  EXPECT_FALSE(server.requests.at(1).headers.contains("Accept-Encoding"));
}

TEST(HTTPClientTest, GzipStreamedAndChunked) {
  IOLoop loop;
  std::string text(300000, 'z');
  std::string compressed = gzip(text);
  TestServer server([&](Exchange& exchange) -> Task<> {
    co_await exchange.stream->write(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (std::size_t i = 0; i < compressed.size(); i += 100) {
      auto piece = std::string_view(compressed).substr(i, 100);
      co_await exchange.stream->write(fmt::format("{:x}\r\n{}\r\n", piece.size(), piece));
    }
    co_await exchange.stream->write("0\r\n\r\n");
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    std::size_t total = 0;
    bool all_z = true;
    co_await client.fetch(server.url("/"), {.streaming_callback = [&](std::string_view chunk) {
                            total += chunk.size();
                            all_z = all_z && chunk.find_first_not_of('z') == std::string_view::npos;
                          }});
    EXPECT_EQ(total, text.size());
    EXPECT_TRUE(all_z);
  });
}

TEST(HTTPClientTest, GzipBombStopsAtMaxBodySize) {
  IOLoop loop;
  std::string bomb = gzip(std::string(20 * 1024 * 1024, '\0'));  // ~20 KiB on the wire
  TestServer server(fixed(response(200, bomb, "Content-Encoding: gzip\r\n")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{.max_body_size = 1024 * 1024});
    EXPECT_LT(bomb.size(), 100u * 1024u);
    try {
      co_await client.fetch(server.url("/"));
      ADD_FAILURE() << "no error";
    } catch (const tornado::httputil::HTTPInputError& e) {
      EXPECT_NE(std::string(e.what()).find("too large"), std::string::npos) << e.what();
    }
  });
}

TEST(HTTPClientTest, MaxBodySizeRefusesLargeBodies) {
  IOLoop loop;
  TestServer server([](Exchange& exchange) -> Task<> {
    if (exchange.request.target == "/length") {
      co_await exchange.stream->write("HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n");
    } else {
      co_await exchange.stream->write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      for (int i = 0; i < 20; ++i) {
        co_await exchange.stream->write(fmt::format("400\r\n{}\r\n", std::string(1024, 'x')));
      }
      co_await exchange.stream->write("0\r\n\r\n");
    }
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    for (const char* path : {"/length", "/chunked"}) {
      bool raised = false;
      try {
        co_await client.fetch(server.url(path), {.max_body_size = 10000});
      } catch (const tornado::httputil::HTTPInputError&) {
        raised = true;
      }
      EXPECT_TRUE(raised) << path;
    }
  });
}

TEST(HTTPClientTest, HeadersLargerThanLimitAreRefused) {
  IOLoop loop;
  TestServer server(fixed("HTTP/1.1 200 OK\r\nX-Big: " + std::string(100000, 'a') +
                          "\r\nContent-Length: 0\r\n\r\n"));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{.max_header_size = 8192});
    EXPECT_THROW(co_await client.fetch(server.url("/")), tornado::httputil::HTTPInputError);
  });
}

TEST(HTTPClientTest, AnOversizedHeadInOneReadIsRefused) {
  // 20 KB of head arrives in one read: the limit holds within the read too.
  IOLoop loop;
  TestServer server(fixed("HTTP/1.1 200 OK\r\nX-Big: " + std::string(20000, 'a') +
                          "\r\nContent-Length: 0\r\n\r\n"));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{.max_header_size = 8192});
    try {
      co_await client.fetch(server.url("/"));
      ADD_FAILURE() << "an oversized head was accepted";
    } catch (const tornado::httputil::HTTPInputError& e) {
      EXPECT_NE(std::string_view(e.what()).find("too large"), std::string_view::npos) << e.what();
    }
  });
}

// ------------------------------------------------------------ errors

TEST(HTTPClientTest, NonSuccessRaisesHTTPClientError) {
  IOLoop loop;
  TestServer server([](Exchange& exchange) -> Task<> {
    if (exchange.request.target == "/missing") {
      co_await exchange.stream->write(response(404, "no such page", "", "Not Found"));
    } else {
      co_await exchange.stream->write("HTTP/1.1 500 \r\nContent-Length: 4\r\n\r\noops");
    }
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    try {
      co_await client.fetch(server.url("/missing"));
      ADD_FAILURE() << "no error";
    } catch (const HTTPClientError& e) {
      EXPECT_EQ(e.code, 404);
      EXPECT_EQ(e.message, "Not Found");
      EXPECT_STREQ(e.what(), "HTTP 404: Not Found");
      EXPECT_TRUE(e.response && e.response->body == "no such page");
    }
    auto response = co_await client.fetch(server.url("/broken"), {}, false);
    EXPECT_EQ(response.code, 500);
    EXPECT_EQ(response.reason, "Internal Server Error");  // the standard phrase fills in
    EXPECT_EQ(response.body, "oops");
    try {
      response.rethrow();
      ADD_FAILURE() << "rethrow did not throw";
    } catch (const HTTPClientError& e) {
      EXPECT_EQ(e.code, 500);
      EXPECT_EQ(e.response->body, "oops");
    }
  });
}

TEST(HTTPClientTest, RequestTimeoutRaises599) {
  IOLoop loop;
  tornado::locks::Event never;  // the server does not answer
  TestServer server([&](Exchange&) -> Task<> { co_await never.wait(); });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto start = std::chrono::steady_clock::now();
    try {
      co_await client.fetch(server.url("/"), {.request_timeout = 100ms});
      ADD_FAILURE() << "no timeout";
    } catch (const HTTPTimeoutError& e) {
      EXPECT_EQ(e.code, 599);
      EXPECT_STREQ(e.what(), "Timeout during request");
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
    EXPECT_EQ(client.idle_connections(), 0u);
  });
}

TEST(HTTPClientTest, ConnectTimeoutRaises599) {
  IOLoop loop;
  // Accepts TCP but never answers the TLS handshake.
  TestServer server([](Exchange&) -> Task<> { co_return; });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    try {
      co_await client.fetch(server.url("/", "https"), {.connect_timeout = 100ms});
      ADD_FAILURE() << "no timeout";
    } catch (const HTTPTimeoutError& e) {
      EXPECT_EQ(e.code, 599);
      EXPECT_STREQ(e.what(), "Timeout while connecting");
    }
  });
}

TEST(HTTPClientTest, ConnectionRefusedRaisesStreamError) {
  IOLoop loop;
  int port;
  {
    auto sockets = tornado::netutil::bind_sockets(0, "127.0.0.1");
    port = sockets.at(0).port();
  }  // closed again: nothing listens there now
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    try {
      co_await client.fetch(fmt::format("http://127.0.0.1:{}/", port));
      ADD_FAILURE() << "no error";
    } catch (const StreamClosedError& e) {
      EXPECT_EQ(e.real_error, tornado::iostream::make_uv_error(UV_ECONNREFUSED));
    }
  });
}

TEST(HTTPClientTest, ServerClosingEarlyRaisesStreamClosed) {
  IOLoop loop;
  TestServer server(fixed("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", true));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    try {
      co_await client.fetch(server.url("/"));
      ADD_FAILURE() << "no error";
    } catch (const HTTPStreamClosedError& e) {
      EXPECT_EQ(e.code, 599);
      EXPECT_STREQ(e.what(), "Stream closed");
    }
  });
}

TEST(HTTPClientTest, MalformedResponseRaisesInputError) {
  IOLoop loop;
  TestServer server([](Exchange& exchange) -> Task<> {
    if (exchange.request.target == "/garbage") {
      co_await exchange.stream->write("SMTP ready\r\n\r\n");
    } else if (exchange.request.target == "/upgrade") {
      co_await exchange.stream->write(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n");
    } else {
      // Both framings at once: a smuggling vector, refused.
      co_await exchange.stream->write(
          "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    }
    exchange.close = true;
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    for (const char* path : {"/garbage", "/upgrade", "/both"}) {
      bool raised = false;
      try {
        co_await client.fetch(server.url(path));
      } catch (const tornado::httputil::HTTPInputError&) {
        raised = true;
      }
      EXPECT_TRUE(raised) << path;
    }
  });
}

TEST(HTTPClientTest, BadRequestsAreRefusedBeforeSending) {
  IOLoop loop;
  TestServer server(fixed(response(200, "ok")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto url = server.url("/");
    EXPECT_THROW(co_await client.fetch(url, {.body = "x"}), std::invalid_argument);
    EXPECT_THROW(co_await client.fetch(url, {.method = "POST"}), std::invalid_argument);
    EXPECT_THROW(co_await client.fetch(url, {.method = "BREW"}), std::invalid_argument);
    EXPECT_THROW(co_await client.fetch("ftp://127.0.0.1/"), std::invalid_argument);
    EXPECT_THROW(co_await client.fetch("not a url"), std::invalid_argument);
    HTTPHeaders evil{{"X-Evil", "a\r\nInjected: 1"}};
    EXPECT_THROW(co_await client.fetch(url, {.headers = evil}), std::invalid_argument);
    HTTPHeaders nul;
    nul.add("X-Evil", std::string_view("a\0b", 3));
    EXPECT_THROW(co_await client.fetch(url, {.headers = nul}), std::invalid_argument);
    HTTPHeaders bad_name;
    bad_name.add("X-Evil\r\nInjected", "1");
    EXPECT_THROW(co_await client.fetch(url, {.headers = bad_name}), std::invalid_argument);
    EXPECT_THROW(co_await client.fetch(url, {.method = "GET / HTTP/1.1\r\nInjected: 1\r\nX:",
                                             .allow_nonstandard_methods = true}),
                 std::invalid_argument);
    EXPECT_THROW(co_await client.fetch(server.url("/a b")), std::invalid_argument);
    EXPECT_EQ(server.requests.size(), 0u);
    // Opting out of the checks sends what was asked.
    auto response = co_await client.fetch(
        url, {.method = "BREW", .body = "coffee", .allow_nonstandard_methods = true});
    EXPECT_EQ(response.body, "ok");
  });
  ASSERT_EQ(server.requests.size(), 1u);
  EXPECT_EQ(server.requests[0].method, "BREW");
  EXPECT_EQ(server.requests[0].body, "coffee");
}

TEST(HTTPClientTest, ClosedClientRefusesFetch) {
  IOLoop loop;
  TestServer server(fixed(response(200, "ok")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{});
    co_await client.fetch(server.url("/"));
    EXPECT_EQ(client.idle_connections(), 1u);
    client.close();
    EXPECT_EQ(client.idle_connections(), 0u);
    EXPECT_THROW(co_await client.fetch(server.url("/")), std::runtime_error);
    // The default pool is replaced after close.
    AsyncHTTPClient shared;
    shared.close();
    AsyncHTTPClient fresh;
    EXPECT_EQ((co_await fresh.fetch(server.url("/"))).body, "ok");
  });
}

// ------------------------------------------------------------ headers, auth, 100-continue

TEST(HTTPClientTest, BasicAuthFromSettingsAndFromUrl) {
  IOLoop loop;
  TestServer server(fixed(response(200, "ok")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    co_await client.fetch(server.url("/"),
                          {.auth_username = "Aladdin", .auth_password = "open sesame"});
    co_await client.fetch(fmt::format("http://user:pass@127.0.0.1:{}/", server.port()));
    co_await client.fetch(server.url("/"), {.user_agent = "test-agent/1.0"});
  });
  ASSERT_EQ(server.requests.size(), 3u);
  EXPECT_EQ(server.requests[0].headers.get("Authorization"), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(server.requests[1].headers.get("Authorization"), "Basic dXNlcjpwYXNz");
  EXPECT_EQ(server.requests[1].headers.get("Host"), fmt::format("127.0.0.1:{}", server.port()));
  EXPECT_EQ(server.requests[2].headers.get("User-Agent"), "test-agent/1.0");
}

TEST(HTTPClientTest, HeaderCallbackSeesEachLine) {
  IOLoop loop;
  TestServer server(fixed(response(200, "ok", "X-One: 1\r\n", "OK")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    std::vector<std::string> lines;
    co_await client.fetch(server.url("/"), {.header_callback = [&](std::string_view line) {
                            lines.emplace_back(line);
                          }});
    std::vector<std::string> expected = {"HTTP/1.1 200 OK\r\n", "Content-Length: 2\r\n",
                                         "X-One: 1\r\n", "\r\n"};
    EXPECT_EQ(lines, expected);
  });
}

TEST(HTTPClientTest, Expect100ContinueWaitsBeforeSendingBody) {
  IOLoop loop;
  bool body_early = true;
  TestServer server([&](Exchange& exchange) -> Task<> {
    auto& stream = exchange.stream;
    // Not synchronisation: a window in which a client that sent its body
    // early would be caught; a correct client passes whatever its length.
    co_await tornado::sleep(30ms);
    body_early = !stream->buffered().empty();
    co_await stream->write("HTTP/1.1 100 Continue\r\n\r\n");
    auto length = std::stoul(std::string(exchange.request.headers.get("Content-Length")));
    std::string body = co_await stream->read_bytes(length);
    co_await stream->write(response(200, "got " + body));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto response = co_await client.fetch(
        server.url("/"), {.method = "POST", .body = "payload", .expect_100_continue = true});
    EXPECT_EQ(response.body, "got payload");
    EXPECT_EQ(client.idle_connections(), 1u);
  });
  EXPECT_FALSE(body_early);
  EXPECT_EQ(server.requests.at(0).headers.get("Expect"), "100-continue");
}

TEST(HTTPClientTest, Expect100ContinueRefusedLeavesBodyUnsent) {
  IOLoop loop;
  TestServer server(fixed(response(413, "too big", "", "Payload Too Large")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto response = co_await client.fetch(
        server.url("/"), {.method = "POST", .body = "payload", .expect_100_continue = true}, false);
    EXPECT_EQ(response.code, 413);
    // The server still expects the body it never got: not reusable.
    EXPECT_EQ(client.idle_connections(), 0u);
  });
}

// ------------------------------------------------------------ body_producer

// A producer that writes `pieces` one after another.
BodyProducer pieces_producer(std::vector<std::string> pieces) {
  return [pieces = std::move(pieces)](BodyWriter write) -> Task<> {
    for (const auto& piece : pieces) co_await write(piece);
  };
}

TEST(HTTPClientTest, BodyProducerSendsAChunkedBody) {
  IOLoop loop;
  std::string wire;
  TestServer server([&](Exchange& exchange) -> Task<> {
    wire = co_await exchange.stream->read_until("0\r\n\r\n", 64 * 1024);
    co_await exchange.stream->write(response(200, "ok"));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    // An empty piece sends nothing: as a chunk it would end the body.
    auto response = co_await client.fetch(
        server.url("/up"),
        {.method = "POST", .body_producer = pieces_producer({"hello", "", ", world"})});
    EXPECT_EQ(response.body, "ok");
    // The chunked body ended cleanly: the connection is pooled.
    EXPECT_EQ(client.idle_connections(), 1u);
  });
  EXPECT_EQ(wire, "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
  const auto& request = server.requests.at(0);
  EXPECT_EQ(request.headers.get("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(request.headers.contains("Content-Length"));
}

TEST(HTTPClientTest, BodyProducerWithContentLengthIsSentAsIs) {
  IOLoop loop;
  TestServer server([](Exchange& exchange) -> Task<> {
    co_await exchange.stream->write(response(200, "got " + exchange.request.body));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    HTTPHeaders headers{{"Content-Length", "12"}};
    auto response = co_await client.fetch(server.url("/up"),
                                          {.method = "PUT",
                                           .headers = headers,
                                           .body_producer = pieces_producer({"hello, ", "world"})});
    EXPECT_EQ(response.body, "got hello, world");
  });
  const auto& request = server.requests.at(0);
  EXPECT_EQ(request.headers.get("Content-Length"), "12");
  EXPECT_FALSE(request.headers.contains("Transfer-Encoding"));
}

TEST(HTTPClientTest, BodyProducerMustWriteExactlyContentLength) {
  IOLoop loop;
  TestServer server(fixed(response(200, "ok")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    HTTPHeaders three{{"Content-Length", "3"}};
    EXPECT_THROW(
        co_await client.fetch(
            server.url("/"),
            {.method = "PUT", .headers = three, .body_producer = pieces_producer({"ab", "cd"})}),
        tornado::httputil::HTTPOutputError);
    HTTPHeaders ten{{"Content-Length", "10"}};
    EXPECT_THROW(
        co_await client.fetch(
            server.url("/"),
            {.method = "PUT", .headers = ten, .body_producer = pieces_producer({"short"})}),
        tornado::httputil::HTTPOutputError);
    HTTPHeaders junk{{"Content-Length", "ten"}};
    EXPECT_THROW(co_await client.fetch(
                     server.url("/"),
                     {.method = "PUT", .headers = junk, .body_producer = pieces_producer({"x"})}),
                 std::invalid_argument);
    // Neither connection is left in the pool half-written.
    EXPECT_EQ(client.idle_connections(), 0u);
  });
}

TEST(HTTPClientTest, BodyProducerIsABodyForTheMethodChecks) {
  IOLoop loop;
  TestServer server(fixed(response(200, "ok")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto url = server.url("/");
    EXPECT_THROW(co_await client.fetch(url, {.body_producer = pieces_producer({"x"})}),
                 std::invalid_argument);
    EXPECT_THROW(co_await client.fetch(
                     url, {.method = "POST", .body = "x", .body_producer = pieces_producer({"x"})}),
                 std::invalid_argument);
  });
  EXPECT_EQ(server.requests.size(), 0u);
}

TEST(HTTPClientTest, BodyProducerErrorReachesTheCaller) {
  IOLoop loop;
  TestServer server(fixed(response(200, "ok")));
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto failing = [](BodyWriter write) -> Task<> {
      co_await write("partial");
      throw std::runtime_error("the source went away");
    };
    try {
      co_await client.fetch(server.url("/"), {.method = "POST", .body_producer = failing});
      ADD_FAILURE() << "the fetch succeeded";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "the source went away");
    }
    EXPECT_EQ(client.idle_connections(), 0u);
  });
}

TEST(HTTPClientTest, BodyProducerStartsAfter100Continue) {
  IOLoop loop;
  bool producer_started = false;
  bool started_before_continue = true;
  std::string wire;
  TestServer server([&](Exchange& exchange) -> Task<> {
    // The head has arrived; a client that did not wait would have called
    // its producer in the same turn that wrote the head.
    started_before_continue = producer_started;
    co_await exchange.stream->write("HTTP/1.1 100 Continue\r\n\r\n");
    wire = co_await exchange.stream->read_until("0\r\n\r\n", 64 * 1024);
    co_await exchange.stream->write(response(200, "done"));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto producer = [&](BodyWriter write) -> Task<> {
      producer_started = true;
      co_await write("after continue");
    };
    auto response = co_await client.fetch(
        server.url("/"),
        {.method = "POST", .body_producer = producer, .expect_100_continue = true});
    EXPECT_EQ(response.body, "done");
  });
  EXPECT_FALSE(started_before_continue);
  EXPECT_TRUE(producer_started);
  EXPECT_EQ(wire, "e\r\nafter continue\r\n0\r\n\r\n");
}

TEST(HTTPClientTest, CancelledFetchCancelsAProducerWaitingElsewhere) {
  IOLoop loop;
  TestServer server([](Exchange& exchange) -> Task<> {
    try {
      co_await exchange.stream->read_until_close();
    } catch (const StreamClosedError&) {
    }
    exchange.close = true;
  });
  bool producer_cancelled = false;
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    tornado::locks::Event never;
    // Relays from a source that has nothing yet (a queue, another socket):
    // the fetch's end must reach it there, not only at its next write.
    auto relay = [&](BodyWriter write) -> Task<> {
      co_await write("first");
      try {
        co_await never.wait();
      } catch (const tornado::CancelledError&) {
        producer_cancelled = true;
        throw;
      }
    };
    auto upload = tornado::to_future(
        client.fetch(server.url("/"), {.method = "POST", .body_producer = relay}));
    co_await until([&] { return server.requests.size() == 1; });
    EXPECT_TRUE(upload.cancel());
    EXPECT_THROW(co_await upload, tornado::CancelledError);
    EXPECT_TRUE(producer_cancelled);
    EXPECT_EQ(never.waiter_count(), 0u);
  });
}

namespace {

// Counts and checksums a streamed upload without keeping it, as a
// @stream_request_body handler would.
class CountingUploadHandler : public tornado::web::RequestHandler {
 public:
  void prepare() { connection()->set_max_body_size(std::size_t{1} << 30); }
  void data_received(std::string_view chunk) {
    received_ += chunk.size();
    crc_ =
        crc32(crc_, reinterpret_cast<const Bytef*>(chunk.data()), static_cast<uInt>(chunk.size()));
  }
  void put() {
    write(fmt::format("{} {:08x} {}", received_, crc_, request().headers.get("Transfer-Encoding")));
  }

 private:
  std::size_t received_ = 0;
  uLong crc_ = crc32(0, nullptr, 0);
};

// The memory figure the upload test bounds, in KiB. Sanitizers keep freed
// blocks (quarantine, shadow), so there it is the bytes allocated and not
// freed; otherwise the resident size from /proc/self/status.
long memory_kib(std::string_view field = "VmRSS:") {
#if HTTPCLIENT_TEST_SANITIZED
  (void)field;
  return static_cast<long>(__sanitizer_get_current_allocated_bytes() / 1024);
#else
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field)) return std::stol(line.substr(field.size()));
  }
  return -1;
#endif
}

}  // namespace

// A 256 MiB upload streamed from a producer to a streaming handler. Client
// and server share this process, so the growth measured is an upper bound
// of the client's own.
TEST(HTTPClientTest, BodyProducerUploads256MiBInFlatMemory) {
  constexpr std::size_t kPiece = 64 * 1024;
  constexpr std::size_t kTotal = std::size_t{256} << 20;
  IOLoop loop;
  auto app = std::make_shared<tornado::web::Application>(std::vector<tornado::web::URLSpec>{
      {"/upload", tornado::web::handler<CountingUploadHandler>()},
  });
  auto& http_server = app->listen(0, "127.0.0.1");
  auto url = fmt::format("http://127.0.0.1:{}/upload", http_server.port());
#if !HTTPCLIENT_TEST_SANITIZED
  // VmHWM (the peak resident size) starts again from the current size.
  { std::ofstream("/proc/self/clear_refs") << "5"; }
#endif
  long before = memory_kib();
  long highest = before;
  uLong sent_crc = crc32(0, nullptr, 0);
  std::string answer;
  loop.run_sync(
      [&]() -> Task<> {
        AsyncHTTPClient client(ClientOptions{});
        auto producer = [&](BodyWriter write) -> Task<> {
          std::string piece(kPiece, '\0');
          for (std::size_t sent = 0; sent < kTotal; sent += kPiece) {
            std::memset(piece.data(), 'a' + static_cast<int>(sent / kPiece % 26), kPiece);
            sent_crc = crc32(sent_crc, reinterpret_cast<const Bytef*>(piece.data()),
                             static_cast<uInt>(kPiece));
            co_await write(piece);
            if (sent % (8 << 20) == 0) highest = std::max(highest, memory_kib());
          }
        };
        auto response = co_await client.fetch(
            url, {.method = "PUT", .body_producer = producer, .request_timeout = {}});
        answer = response.body;
        client.close();
        co_await until([&] { return http_server.connection_count() == 0; });
      },
      300s);
#if HTTPCLIENT_TEST_SANITIZED
  long growth_kib = highest - before;
#else
  long growth_kib = std::max(highest, memory_kib("VmHWM:")) - before;
#endif
  app->stop_listening();
  EXPECT_EQ(answer, fmt::format("{} {:08x} chunked", kTotal, sent_crc));
  std::printf("%s growth while uploading 256 MiB: %ld KiB\n",
              HTTPCLIENT_TEST_SANITIZED ? "Allocated memory" : "Peak RSS", growth_kib);
  EXPECT_LT(growth_kib, 64 * 1024) << "the body was held in memory";
}

// ------------------------------------------------------------ TLS

TEST(HTTPClientTest, HttpsVerifiesCertificates) {
  IOLoop loop;
  tornado::testing::SelfSignedCertificate cert;
  TestServer server(fixed(response(200, "secure")), cert.server_ssl_options());
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client;
    auto url = fmt::format("https://localhost:{}/", server.port());
    // Trusted through ca_certs: verification (chain and host name) passes.
    auto trusted = co_await client.fetch(url, {.ca_certs = cert.certfile()});
    EXPECT_EQ(trusted.body, "secure");
    auto again = co_await client.fetch(url, {.ca_certs = cert.certfile()});
    EXPECT_EQ(again.body, "secure");
    EXPECT_EQ(client.connections_opened(), 1u);  // keep-alive over TLS
    // Not trusted by the system store: refused.
    bool refused = false;
    try {
      co_await client.fetch(url);
    } catch (const StreamClosedError& e) {
      refused = static_cast<bool>(e.real_error);
    }
    EXPECT_TRUE(refused);
    // The opt-out for tests; it never shares a verified connection.
    auto unverified = co_await client.fetch(url, {.validate_cert = false});
    EXPECT_EQ(unverified.body, "secure");
    EXPECT_EQ(client.connections_opened(), 2u);  // the refused one never opened
  });
}

// ------------------------------------------------------------ URL handling (RFC 3986 5.4)

TEST(HTTPClientTest, ResolvesRelativeLocationsAsRfc3986) {
  const std::string base = "http://a/b/c/d;p?q";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"g", "http://a/b/c/g"},
      {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},
      {"//g", "http://g"},
      {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},
      {"#s", "http://a/b/c/d;p?q#s"},
      {"g#s", "http://a/b/c/g#s"},
      {";x", "http://a/b/c/;x"},
      {"", "http://a/b/c/d;p?q"},
      {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},
      {"..", "http://a/b/"},
      {"../", "http://a/b/"},
      {"../g", "http://a/b/g"},
      {"../..", "http://a/"},
      {"../../g", "http://a/g"},
      {"../../../g", "http://a/g"},
      {"/./g", "http://a/g"},
      {"/../g", "http://a/g"},
      {"g.", "http://a/b/c/g."},
      {"g/../h", "http://a/b/c/h"},
      {"g;x=1/../y", "http://a/b/c/y"},
      {"https://other:8443/x", "https://other:8443/x"},
  };
  for (const auto& [reference, expected] : cases) {
    EXPECT_EQ(tornado::detail::resolve_url(base, reference), expected) << reference;
  }
  auto url = tornado::detail::split_client_url("HTTPS://u:p@[::1]:8443/p?q=1#frag");
  EXPECT_EQ(url.scheme, "https");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 8443);
  EXPECT_EQ(url.netloc, "[::1]:8443");
  EXPECT_EQ(url.target, "/p?q=1");
  EXPECT_EQ(url.username, "u");
  EXPECT_EQ(url.password, "p");
  EXPECT_EQ(tornado::detail::split_client_url("http://example.com").target, "/");
  EXPECT_EQ(tornado::detail::split_client_url("http://example.com").port, 80);
  EXPECT_THROW(tornado::detail::split_client_url("http://host:99999/"), std::invalid_argument);
  EXPECT_THROW(tornado::detail::split_client_url("http:///path"), std::invalid_argument);
}

// ------------------------------------------------------------ Python Tornado interop

namespace {

// Python Tornado serving a small app on a free port, as an independent
// implementation to talk to.
class PythonTornado {
 public:
  PythonTornado() {
    char pattern[] = "/tmp/tornado-interop-XXXXXX";
    if (!mkdtemp(pattern)) return;
    dir_ = pattern;
    std::ofstream(dir_ / "app.py") << R"PY(
import asyncio, json, sys
import tornado.httpserver, tornado.netutil, tornado.web

class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello from Tornado")

class Echo(tornado.web.RequestHandler):
    def post(self):
        self.set_header("Content-Type", self.request.headers.get("Content-Type", ""))
        self.write(self.request.body)

class Redirect(tornado.web.RequestHandler):
    def get(self):
        self.redirect("/hello")

class Big(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write("tornado " * 20000)

class Chunked(tornado.web.RequestHandler):
    async def get(self):
        for i in range(5):
            self.write("part %d;" % i)
            await self.flush()

class Headers(tornado.web.RequestHandler):
    def get(self):
        self.write(json.dumps(dict(self.request.headers.get_all())))

class Missing(tornado.web.RequestHandler):
    def get(self):
        raise tornado.web.HTTPError(404)

async def main():
    app = tornado.web.Application([
        ("/hello", Hello), ("/echo", Echo), ("/redirect", Redirect), ("/big", Big),
        ("/chunked", Chunked), ("/headers", Headers), ("/missing", Missing),
    ], compress_response=True)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    print(sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
)PY";
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      int null = open("/dev/null", O_WRONLY);  // its access log is not ours
      if (null >= 0) dup2(null, STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      std::string script = (dir_ / "app.py").string();
      execl("/usr/bin/python3", "python3", script.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    std::unique_ptr<FILE, decltype(&fclose)> reader(fdopen(out[0], "r"), fclose);
    char line[32] = {};
    if (reader && fgets(line, sizeof line, reader.get())) port_ = std::atoi(line);
  }
  ~PythonTornado() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  int port() const { return port_; }
  std::string url(std::string_view path) const {
    return fmt::format("http://127.0.0.1:{}{}", port_, path);
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace

namespace {

// The same conversation with any server that has the interop app's routes.
Task<> exercise_app(std::function<std::string(std::string_view)> url, std::string hello) {
  AsyncHTTPClient client(ClientOptions{});
  auto greeting = co_await client.fetch(url("/hello"));
  EXPECT_EQ(greeting.code, 200);
  EXPECT_EQ(greeting.body, hello);

  HTTPHeaders headers{{"Content-Type", "text/plain"}};
  auto echo = co_await client.fetch(url("/echo"),
                                    {.method = "POST", .headers = headers, .body = "echo me"});
  EXPECT_EQ(echo.body, "echo me");
  EXPECT_EQ(echo.headers.get("Content-Type"), "text/plain");

  auto redirected = co_await client.fetch(url("/redirect"));
  EXPECT_EQ(redirected.body, hello);
  EXPECT_EQ(redirected.effective_url, url("/hello"));

  auto big = co_await client.fetch(url("/big"));
  EXPECT_EQ(big.headers.get("X-Consumed-Content-Encoding"), "gzip");
  EXPECT_EQ(big.body.size(), 8u * 20000u);
  auto wire_length = big.headers.get("Content-Length", "0");
  EXPECT_LT(std::stoul(std::string(wire_length)), big.body.size() / 10);

  auto chunked = co_await client.fetch(url("/chunked"));
  EXPECT_EQ(chunked.body, "part 0;part 1;part 2;part 3;part 4;");

  auto missing = co_await client.fetch(url("/missing"), {}, false);
  EXPECT_EQ(missing.code, 404);

  // Both servers keep HTTP/1.1 connections open: all of it on one.
  EXPECT_EQ(client.connections_opened(), 1u);
}

class EchoBodyHandler : public tornado::web::RequestHandler {
 public:
  void post() {
    set_header("Content-Type", request().headers.get("Content-Type"));
    write(request().body);
  }
};
class HelloHandler : public tornado::web::RequestHandler {
 public:
  void get() { write("Hello from tornado-cpp"); }
};
class RedirectHandler : public tornado::web::RequestHandler {
 public:
  void get() { redirect("/hello"); }
};
class BigHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    set_header("Content-Type", "text/plain");
    std::string body;
    for (int i = 0; i < 20000; ++i) body += "tornado ";
    write(body);
  }
};
class ChunkedHandler : public tornado::web::RequestHandler {
 public:
  Task<> get() {
    for (int i = 0; i < 5; ++i) {
      write(fmt::format("part {};", i));
      co_await flush();
    }
  }
};
class MissingHandler : public tornado::web::RequestHandler {
 public:
  void get() { throw tornado::web::HTTPError(404); }
};

}  // namespace

TEST(HTTPClientTest, InteroperatesWithTornadoCppWebApplication) {
  IOLoop loop;
  tornado::web::Settings settings;
  settings.compress_response = true;
  auto app = std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{
          {"/hello", tornado::web::handler<HelloHandler>()},
          {"/echo", tornado::web::handler<EchoBodyHandler>()},
          {"/redirect", tornado::web::handler<RedirectHandler>()},
          {"/big", tornado::web::handler<BigHandler>()},
          {"/chunked", tornado::web::handler<ChunkedHandler>()},
          {"/missing", tornado::web::handler<MissingHandler>()},
      },
      settings);
  auto& http_server = app->listen(0, "127.0.0.1");
  int port = http_server.port();
  run(loop, [&]() -> Task<> {
    co_await exercise_app(
        [port](std::string_view path) { return fmt::format("http://127.0.0.1:{}{}", port, path); },
        "Hello from tornado-cpp");
    // Let the server see the client's pooled connection close before the
    // loop goes (a server connection open at teardown keeps the app alive).
    co_await until([&] { return http_server.connection_count() == 0; });
  });
  app->stop_listening();
}

TEST(HTTPClientTest, InteroperatesWithPythonTornado) {
  PythonTornado python;
  if (python.port() == 0) GTEST_SKIP() << "python3-tornado is not available";
  IOLoop loop;
  run(loop, [&]() -> Task<> {
    co_await exercise_app([&](std::string_view path) { return python.url(path); },
                          "Hello from Tornado");
  });

  // The blocking client, from a thread that has its own (idle) loop.
  HTTPClient blocking;
  auto response = blocking.fetch(python.url("/headers"), {.user_agent = "blocking/1"});
  EXPECT_NE(response.body.find("\"User-Agent\": \"blocking/1\""), std::string::npos)
      << response.body;
  EXPECT_THROW(blocking.fetch(python.url("/missing")), HTTPClientError);
  blocking.close();
  EXPECT_THROW(blocking.fetch(python.url("/hello")), std::runtime_error);
}

TEST(HTTPClientTest, BlockingClientAgainstServerOnAnotherThread) {
  // The server runs on its own loop thread; the blocking client waits here.
  std::promise<int> port_promise;
  IOLoop* server_loop = nullptr;
  std::thread server_thread([&] {
    IOLoop loop;
    server_loop = &loop;
    TestServer server([](Exchange& exchange) -> Task<> {
      co_await exchange.stream->write(response(200, "blocking " + exchange.request.method));
    });
    port_promise.set_value(server.port());
    loop.start();
  });
  int port = port_promise.get_future().get();
  {
    HTTPClient client;
    auto url = fmt::format("http://127.0.0.1:{}/", port);
    EXPECT_EQ(client.fetch(url).body, "blocking GET");
    EXPECT_EQ(client.fetch(url, {.method = "POST", .body = "x"}).body, "blocking POST");
  }
  server_loop->add_callback([&] { server_loop->stop(); });
  server_thread.join();
}

// ------------------------------------------------------------ cancellation

TEST(HTTPClientTest, CancelledFetchClosesItsConnectionAndFreesItsSlot) {
  IOLoop loop;
  tornado::locks::Event answer;
  int closed_seen = 0;
  TestServer server([&](Exchange& exchange) -> Task<> {
    if (exchange.request.target == "/hang") {
      // Reads until the client goes: a cancelled fetch must close its connection.
      try {
        co_await exchange.stream->read_until_close();
      } catch (const StreamClosedError&) {
      }
      ++closed_seen;
      exchange.close = true;
      co_return;
    }
    co_await exchange.stream->write(response(200, "fine"));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{.max_clients = 1});
    auto hanging = tornado::to_future(client.fetch(server.url("/hang")));
    co_await until([&] { return server.requests.size() == 1; });
    EXPECT_TRUE(hanging.cancel());
    try {
      co_await hanging;
      ADD_FAILURE() << "the cancelled fetch returned";
    } catch (const tornado::CancelledError&) {
    }
    co_await until([&] { return closed_seen == 1; });
    EXPECT_EQ(client.idle_connections(), 0u);
    // The one slot (max_clients = 1) is free again.
    EXPECT_EQ((co_await client.fetch(server.url("/next"))).body, "fine");
  });
}

TEST(HTTPClientTest, CancelledQueuedFetchLeavesTheQueue) {
  IOLoop loop;
  tornado::locks::Event release;
  TestServer server([&](Exchange& exchange) -> Task<> {
    if (exchange.request.target == "/first") co_await release.wait();
    co_await exchange.stream->write(response(200, exchange.request.target));
  });
  run(loop, [&]() -> Task<> {
    AsyncHTTPClient client(ClientOptions{.max_clients = 1});
    auto first = tornado::to_future(client.fetch(server.url("/first")));
    auto queued = tornado::to_future(client.fetch(server.url("/queued"), {.request_timeout = 1h}));
    co_await until([&] { return server.requests.size() == 1; });
    queued.cancel();
    EXPECT_THROW(co_await queued, tornado::CancelledError);
    release.set();
    EXPECT_EQ((co_await first).body, "/first");
    EXPECT_EQ((co_await client.fetch(server.url("/third"))).body, "/third");
  });
  std::vector<std::string> targets;
  for (auto& request : server.requests) targets.push_back(request.target);
  EXPECT_EQ(targets, (std::vector<std::string>{"/first", "/third"}));
}
