// Tests for tornado::testing: the AsyncTestCase family, ExpectLog, the
// helpers (websocket_connect, bind_unused_port, SelfSignedCertificate). The
// web features these fixtures serve are tested in web_test.cc.
#include "tornado/testing.h"

#include <gtest/gtest.h>

#include <filesystem>

// The fixtures themselves (tornado.testing's AsyncTestCase family).

namespace {

class FixtureTest : public tornado::testing::AsyncTestCase {};

class HelloHandler : public tornado::web::RequestHandler {
 public:
  void get() { write("hello over " + request().protocol); }
};

class PlainTest : public tornado::testing::AsyncHTTPTestCase {
 protected:
  std::unique_ptr<tornado::web::Application> get_app() override {
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{{"/", tornado::web::handler<HelloHandler>()}});
  }
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

TEST_F(PlainTest, WebSocketConnectHelperReachesTheServer) {
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
