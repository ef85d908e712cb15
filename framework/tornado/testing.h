// tornado::testing: helpers for testing asynchronous code with GoogleTest,
// mirroring tornado.testing.
//
// `AsyncHTTPTestCase` starts your Application on an ephemeral port for each
// test; `fetch` runs the IOLoop until the response arrives:
//
//   class HelloTest : public tornado::testing::AsyncHTTPTestCase {
//     std::unique_ptr<tornado::web::Application> get_app() override {
//       return std::make_unique<tornado::web::Application>(
//           std::vector<tornado::web::URLSpec>{{"/", tornado::web::handler<MainHandler>()}});
//     }
//   };
//   TEST_F(HelloTest, SaysHello) { EXPECT_EQ(fetch("/").body, "Hello, world"); }
//
// `ExpectLog` says that a test expects a log record, as Tornado's
// `ExpectLog`; the project's test main fails any test that logs an error it
// did not expect, so a swallowed failure cannot hide behind a green test.
//
//   {
//     tornado::testing::ExpectLog expected(tornado::log::app, "Uncaught exception");
//     ... code that logs it ...
//   }  // fails the test if nothing matched
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

namespace tornado::testing {

/// Absorbs log records of `logger` containing `substring` while alive; if
/// `required`, fails the current test when none arrived.
class ExpectLog {
 public:
  /// Starts absorbing records of `logger` that contain `substring`.
  ExpectLog(const log::Logger& logger, std::string substring, bool required = true);
  ~ExpectLog();
  ExpectLog(const ExpectLog&) = delete;
  ExpectLog& operator=(const ExpectLog&) = delete;

  /// How many records matched so far.
  int matched() const noexcept { return matched_; }

 private:
  friend bool absorb_expected(std::string_view logger, std::string_view message) noexcept;
  std::string_view logger_;
  std::string substring_;
  bool required_;
  int matched_ = 0;
  ExpectLog* previous_;
};

/// A GoogleTest fixture serving `get_app()` on 127.0.0.1 and a free port,
/// as Tornado's `AsyncHTTPTestCase`.
class AsyncHTTPTestCase : public ::testing::Test {
 protected:
  /// The application under test; called once per test.
  virtual std::unique_ptr<web::Application> get_app() = 0;
  /// Server settings for the test server (none by default).
  virtual httpserver::HTTPServerSettings get_httpserver_options() { return {}; }
  /// How long `fetch` and `run` wait before failing with TimeoutError.
  virtual std::chrono::milliseconds get_async_timeout() { return std::chrono::seconds(10); }

  /// Creates the loop, calls `get_app()` and starts serving it.
  void SetUp() override;
  /// Destroys the application (and its server), then the loop.
  void TearDown() override;

  /// "http://127.0.0.1:<port><path>".
  std::string get_url(std::string_view path) const;
  /// Fetches `path` from the test server; never throws for HTTP error codes
  /// (check `response.code`), as Tornado's `self.fetch`.
  httpclient::HTTPResponse fetch(std::string_view path, httpclient::HTTPRequest options = {});
  /// Opens a WebSocket to `path` on the test server.
  std::shared_ptr<websocket::WebSocketClientConnection> websocket_connect(std::string_view path);
  /// Runs a coroutine to completion on the test loop (`gen_test`).
  template <class Fn>
  auto run(Fn&& fn) {
    return io_loop_->run_sync(std::forward<Fn>(fn), get_async_timeout());
  }

  /// The test's loop (Tornado's `self.io_loop`).
  std::unique_ptr<ioloop::IOLoop> io_loop_;
  /// The application `get_app()` returned.
  std::unique_ptr<web::Application> app_;
  /// The port the test server listens on.
  int port_ = 0;
};

/// Called by the test sink: true if an active ExpectLog on this thread takes
/// the record.
bool absorb_expected(std::string_view logger, std::string_view message) noexcept;

/// Installs the test log sink on this thread: expected records are absorbed,
/// errors fail the current test, everything is echoed to stderr.
void install_test_log_sink();

}  // namespace tornado::testing
