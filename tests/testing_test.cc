// Tests for tornado::testing's AsyncHTTPTestCase, and through it the web
// features an app writer tests the same way: multipart uploads, XSRF,
// static files (traversal, ranges, 304).
#include "tornado/testing.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tornado/escape.h"

using tornado::httpclient::HTTPRequest;

namespace {

class UploadHandler : public tornado::web::RequestHandler {
 public:
  void post() {
    const auto& files = request().files;
    auto it = files.find("doc");
    if (it == files.end()) throw tornado::web::HTTPError(400);
    const auto& file = it->second.front();
    write(fmt::format("{} {} {} {}", get_argument("title"), file.filename, file.content_type,
                      file.body.size()));
  }
};

class FormHandler : public tornado::web::RequestHandler {
 public:
  void get() { write(xsrf_token()); }
  void post() { write("accepted"); }
};

// A coroutine handler that awaits a timer and then an HTTP fetch (of a
// sibling route on the same server) before answering.
class ProxyHandler : public tornado::web::RequestHandler {
 public:
  tornado::Task<> get() {
    co_await tornado::sleep(std::chrono::milliseconds(5));
    tornado::httpclient::AsyncHTTPClient client;
    auto inner = co_await client.fetch("http://" + request().host + "/static/digits.txt");
    write("proxied " + inner.body);
  }
};

class WebFeaturesTest : public tornado::testing::AsyncHTTPTestCase {
 protected:
  std::unique_ptr<tornado::web::Application> get_app() override {
    tornado::web::Settings settings;
    settings.xsrf_cookies = true;
    settings.static_path = std::string(TORNADO_TEST_DATA) + "/static";
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{
            {"/upload", tornado::web::handler<UploadHandler>()},
            {"/form", tornado::web::handler<FormHandler>()},
            {"/proxy", tornado::web::handler<ProxyHandler>()},
        },
        settings);
  }

  // The upload test posts without an XSRF token: give it one.
  std::pair<std::string, std::string> xsrf() {
    auto page = fetch("/form");
    std::string cookie(page.headers.get("Set-Cookie"));
    cookie = cookie.substr(0, cookie.find(';'));
    return {cookie, page.body};
  }
};

}  // namespace

TEST_F(WebFeaturesTest, MultipartFileUpload) {
  auto [cookie, token] = xsrf();
  std::string body =
      "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nNotes\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.txt\"\r\n"
      "Content-Type: text/plain\r\n\r\nhello file\r\n--XyZ--\r\n";
  HTTPRequest request;
  request.method = "POST";
  request.body = body;
  request.headers.add("Content-Type", "multipart/form-data; boundary=XyZ");
  request.headers.add("Cookie", cookie);
  request.headers.add("X-Xsrftoken", token);
  auto response = fetch("/upload", request);
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.body, "Notes a.txt text/plain 10");
}

TEST_F(WebFeaturesTest, XsrfAcceptedAndRefused) {
  auto [cookie, token] = xsrf();
  HTTPRequest good;
  good.method = "POST";
  good.body = "_xsrf=" + tornado::escape::url_escape(token);
  good.headers.add("Cookie", cookie);
  EXPECT_EQ(fetch("/form", good).body, "accepted");

  tornado::testing::ExpectLog missing(tornado::log::general, "'_xsrf' argument missing");
  HTTPRequest none;
  none.method = "POST";
  none.body = "";
  none.headers.add("Cookie", cookie);
  EXPECT_EQ(fetch("/form", none).code, 403);

  tornado::testing::ExpectLog mismatch(tornado::log::general, "does not match", false);
  tornado::testing::ExpectLog format(tornado::log::general, "invalid format", false);
  tornado::testing::ExpectLog access(tornado::log::access, "403 POST");
  HTTPRequest wrong;
  wrong.method = "POST";
  wrong.body = "_xsrf=2|00000000|00112233445566778899aabbccddeeff|0";
  wrong.headers.add("Cookie", cookie);
  EXPECT_EQ(fetch("/form", wrong).code, 403);
}

TEST_F(WebFeaturesTest, StaticFileRangesAnd304) {
  auto whole = fetch("/static/digits.txt");
  EXPECT_EQ(whole.code, 200);
  EXPECT_EQ(whole.body, "0123456789abcdefghij");
  EXPECT_EQ(whole.headers.get("Content-Type"), "text/plain; charset=UTF-8");

  HTTPRequest range;
  range.headers.add("Range", "bytes=2-5");
  auto partial = fetch("/static/digits.txt", range);
  EXPECT_EQ(partial.code, 206);
  EXPECT_EQ(partial.body, "2345");
  EXPECT_EQ(partial.headers.get("Content-Range"), "bytes 2-5/20");

  HTTPRequest suffix;
  suffix.headers.add("Range", "bytes=-3");
  EXPECT_EQ(fetch("/static/digits.txt", suffix).body, "hij");

  tornado::testing::ExpectLog access(tornado::log::access, "416 GET");
  HTTPRequest beyond;
  beyond.headers.add("Range", "bytes=50-60");
  EXPECT_EQ(fetch("/static/digits.txt", beyond).code, 416);

  HTTPRequest again;
  again.headers.add("If-None-Match", std::string(whole.headers.get("Etag")));
  EXPECT_EQ(fetch("/static/digits.txt", again).code, 304);

  EXPECT_EQ(fetch("/static/sub/icon.svg").headers.get("Content-Type"), "image/svg+xml");
}

TEST_F(WebFeaturesTest, StaticTraversalIsRefused) {
  tornado::testing::ExpectLog logged(tornado::log::general, "static path", false);
  tornado::testing::ExpectLog access(tornado::log::access, "GET /static");
  for (const char* path : {"/static/../testing_test.cc", "/static/%2e%2e/testing_test.cc",
                           "/static/sub/..%2f..%2fdigits.txt", "/static/%2fetc%2fpasswd",
                           "/static/sub%2f..%2f..%2f..%2fCMakeLists.txt"}) {
    int code = fetch(path).code;
    EXPECT_TRUE(code == 403 || code == 404) << path << " gave " << code;
  }
  EXPECT_EQ(fetch("/static/missing.txt").code, 404);
}

TEST_F(WebFeaturesTest, WebSocketConnectHelperReachesTheServer) {
  // No WebSocket route here: the helper reports the server's refusal, which
  // must have reached the server (its access line) and come back as an HTTP
  // answer, not as a stream that merely closed.
  tornado::testing::ExpectLog access(tornado::log::access, "404 GET /nowhere");
  try {
    websocket_connect("/nowhere");
    ADD_FAILURE() << "connected to a route that does not exist";
  } catch (const tornado::iostream::StreamClosedError& e) {
    ADD_FAILURE() << "the refusal was lost, the stream just closed: " << e.what();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string_view(e.what()).find("HTTP 404"), std::string_view::npos) << e.what();
  }
}

TEST_F(WebFeaturesTest, CoroutineHandlerAwaitsATimerAndAFetch) {
  auto response = fetch("/proxy");
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.body, "proxied 0123456789abcdefghij");
}

// The fixtures themselves (tornado.testing's AsyncTestCase family).

namespace {

class FixtureTest : public tornado::testing::AsyncTestCase {};

class HelloHandler : public tornado::web::RequestHandler {
 public:
  void get() { write("hello over " + request().protocol); }
};

class SecureTest : public tornado::testing::AsyncHTTPSTestCase {
 protected:
  std::unique_ptr<tornado::web::Application> get_app() override {
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{{"/", tornado::web::handler<HelloHandler>()}});
  }
};

}  // namespace

TEST_F(FixtureTest, RunSyncRunsOnTheTestsOwnFreshLoop) {
  EXPECT_EQ(run_sync([this]() -> tornado::Task<int> {
              EXPECT_EQ(&tornado::ioloop::IOLoop::current(), io_loop_.get());
              co_await tornado::moment();
              co_return 7;
            }),
            7);
}

TEST_F(FixtureTest, AsyncTestTimeoutComesFromTheEnvironment) {
  ::setenv("ASYNC_TEST_TIMEOUT", "0.05", 1);
  EXPECT_EQ(get_async_timeout(), std::chrono::milliseconds(50));
  tornado::Future<> never;
  auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(run_sync([&]() -> tornado::Task<> { co_await never; }), tornado::TimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  ::unsetenv("ASYNC_TEST_TIMEOUT");
  EXPECT_EQ(get_async_timeout(), std::chrono::seconds(10));
}

TEST_F(FixtureTest, BindUnusedPortHoldsThePort) {
  auto [socket, port] = tornado::testing::bind_unused_port();
  EXPECT_GT(port, 0);
  EXPECT_EQ(socket.port(), port);
  EXPECT_THROW(tornado::netutil::bind_sockets(port, "127.0.0.1"), std::exception);
}

TEST_F(FixtureTest, ExpectLogTakesARegularExpressionMatchedFromTheStart) {
  tornado::testing::ExpectLog anchored(tornado::log::app, std::regex("Retry [0-9]+ of [0-9]+"));
  tornado::testing::ExpectLog unanchored(tornado::log::app, std::regex("of 5"), false);
  tornado::log::app.error("Retry 3 of 5 failed");
  EXPECT_EQ(anchored.matched(), 1);
  EXPECT_EQ(unanchored.matched(), 0) << "a pattern matches from the message's start, as re.match";
}

TEST_F(SecureTest, ServesAndFetchesOverTlsWithItsOwnCertificate) {
  EXPECT_TRUE(get_url("/").starts_with("https://127.0.0.1:"));
  auto response = fetch("/");
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.body, "hello over https");
}

TEST(SelfSignedCertificateTest, MakesAKeyPairTlsAcceptsAndRemovesItsFiles) {
  std::string certfile;
  std::string keyfile;
  {
    tornado::testing::SelfSignedCertificate cert;
    certfile = cert.certfile();
    keyfile = cert.keyfile();
    EXPECT_TRUE(std::filesystem::exists(certfile));
    EXPECT_TRUE(std::filesystem::exists(keyfile));
    // A server context loads the pair, a client context trusts the certificate.
    EXPECT_NE(tornado::netutil::ssl_options_to_context(cert.server_ssl_options(), true), nullptr);
    EXPECT_NE(tornado::netutil::ssl_options_to_context({.ca_certs = certfile}, false), nullptr);
    tornado::testing::SelfSignedCertificate other;
    EXPECT_NE(other.certfile(), certfile) << "each certificate has its own folder";
  }
  EXPECT_FALSE(std::filesystem::exists(certfile));
  EXPECT_FALSE(std::filesystem::exists(keyfile));
}
