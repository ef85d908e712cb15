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
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>

#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/netutil.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

namespace tornado::testing {

/// Absorbs log records of `logger` containing `substring` (or, given a
/// `std::regex`, whose message the pattern matches from its start, as
/// Tornado's `ExpectLog`) while alive; if `required`, fails the current test
/// when none arrived.
class ExpectLog {
 public:
  /// Starts absorbing records of `logger` that contain `substring`.
  ExpectLog(const log::Logger& logger, std::string substring, bool required = true);
  /// Starts absorbing records of `logger` that `pattern` matches from the start.
  ExpectLog(const log::Logger& logger, std::regex pattern, bool required = true);
  ~ExpectLog();
  ExpectLog(const ExpectLog&) = delete;
  ExpectLog& operator=(const ExpectLog&) = delete;

  /// How many records matched so far.
  int matched() const noexcept { return matched_; }

 private:
  friend bool absorb_expected(std::string_view logger, std::string_view message) noexcept;
  bool matches(std::string_view message) const;
  std::string_view logger_;
  std::string substring_;
  std::optional<std::regex> pattern_;
  bool required_;
  int matched_ = 0;
  ExpectLog* previous_;
};

/// Binds a listening socket to a free port of 127.0.0.1, as Tornado's
/// `bind_unused_port`: the socket keeps the port taken until it goes.
std::pair<netutil::Socket, int> bind_unused_port();

/// The per-test timeout: `ASYNC_TEST_TIMEOUT` (seconds, as in Tornado) when
/// set, else 10 s (Tornado's 5 s is short for sanitizer builds on 2 cores).
std::chrono::milliseconds get_async_test_timeout();

/// A GoogleTest fixture with a fresh IOLoop for each test, as Tornado's
/// `AsyncTestCase`; `run_sync` runs a coroutine on it within the per-test
/// timeout (Tornado's `gen_test`).
///
///   class QueueTest : public tornado::testing::AsyncTestCase {};
///   TEST_F(QueueTest, Hands) {
///     run_sync([]() -> tornado::Task<> { co_await tornado::moment(); });
///   }
class AsyncTestCase : public ::testing::Test {
 protected:
  /// How long `run_sync` waits before failing with TimeoutError.
  virtual std::chrono::milliseconds get_async_timeout() { return get_async_test_timeout(); }

  /// Creates the test's loop.
  void SetUp() override;
  /// Destroys the test's loop (and the coroutines still suspended on it).
  void TearDown() override;

  /// Runs `fn`'s task to completion on the test's loop and returns its result.
  template <class Fn>
  auto run_sync(Fn&& fn) {
    return io_loop_->run_sync(std::forward<Fn>(fn), get_async_timeout());
  }
  /// `run_sync` under the name the HTTP fixtures have used.
  template <class Fn>
  auto run(Fn&& fn) {
    return run_sync(std::forward<Fn>(fn));
  }

  /// The test's loop (Tornado's `self.io_loop`).
  std::unique_ptr<ioloop::IOLoop> io_loop_;
};

/// A fixture serving `get_app()` on 127.0.0.1 and a free port, as Tornado's
/// `AsyncHTTPTestCase`.
class AsyncHTTPTestCase : public AsyncTestCase {
 protected:
  /// The application under test; called once per test.
  virtual std::unique_ptr<web::Application> get_app() = 0;
  /// Server settings for the test server (none by default).
  virtual httpserver::HTTPServerSettings get_httpserver_options() { return {}; }
  /// "http", or "https" for AsyncHTTPSTestCase.
  virtual std::string get_protocol() const { return "http"; }
  /// Options every `fetch` starts from (the HTTPS fixture trusts its CA).
  virtual httpclient::HTTPRequest get_fetch_defaults() { return {}; }

  /// Creates the loop, calls `get_app()` and starts serving it.
  void SetUp() override;
  /// Destroys the application (and its server), then the loop.
  void TearDown() override;

  /// "<protocol>://127.0.0.1:<port><path>".
  std::string get_url(std::string_view path) const;
  /// Fetches `path` from the test server; never throws for HTTP error codes
  /// (check `response.code`), as Tornado's `self.fetch`. `options` start
  /// from `get_fetch_defaults()` when left empty.
  httpclient::HTTPResponse fetch(std::string_view path,
                                 std::optional<httpclient::HTTPRequest> options = std::nullopt);
  /// Opens a WebSocket to `path` on the test server.
  std::shared_ptr<websocket::WebSocketClientConnection> websocket_connect(std::string_view path);

  /// The application `get_app()` returned.
  std::unique_ptr<web::Application> app_;
  /// The port the test server listens on.
  int port_ = 0;
};

/// A self-signed certificate made for a test: an EC P-256 key and a
/// certificate for localhost and 127.0.0.1, valid for a day, as PEM files in a
/// temporary folder that goes with the object. `AsyncHTTPSTestCase` serves
/// with one; a test of its own TLS server or client makes one the same way.
///
///   tornado::testing::SelfSignedCertificate cert;
///   server.listen(0, "127.0.0.1", {.ssl_options = cert.server_ssl_options()});
///   client.fetch(url, {.ca_certs = cert.certfile()});
class SelfSignedCertificate {
 public:
  /// Makes the key and the certificate; throws std::runtime_error if OpenSSL
  /// or the file system refuses.
  SelfSignedCertificate();
  /// Removes the folder and both files.
  ~SelfSignedCertificate();
  SelfSignedCertificate(const SelfSignedCertificate&) = delete;
  SelfSignedCertificate& operator=(const SelfSignedCertificate&) = delete;

  /// The PEM file of the certificate (also what a client trusts: `ca_certs`).
  const std::string& certfile() const noexcept { return certfile_; }
  /// The PEM file of the private key.
  const std::string& keyfile() const noexcept { return keyfile_; }
  /// Server options that serve with this certificate.
  netutil::SSLOptions server_ssl_options() const {
    return netutil::SSLOptions{.certfile = certfile_, .keyfile = keyfile_};
  }

 private:
  std::string dir_;
  std::string certfile_;
  std::string keyfile_;
};

/// `AsyncHTTPTestCase` over TLS, as Tornado's `AsyncHTTPSTestCase`: each test
/// makes its own self-signed certificate (EC P-256, for 127.0.0.1 and
/// localhost), serves with it, and fetches trusting only it.
class AsyncHTTPSTestCase : public AsyncHTTPTestCase {
 protected:
  /// Makes the certificate, then serves as AsyncHTTPTestCase does.
  void SetUp() override;
  /// Stops serving and removes the certificate's files.
  void TearDown() override;
  /// The server settings with this test's certificate.
  httpserver::HTTPServerSettings get_httpserver_options() override;
  std::string get_protocol() const override { return "https"; }
  /// Fetch options trusting this test's certificate only.
  httpclient::HTTPRequest get_fetch_defaults() override;

  /// The PEM file of this test's certificate.
  std::string certfile_;
  /// The PEM file of this test's private key.
  std::string keyfile_;

 private:
  std::unique_ptr<SelfSignedCertificate> certificate_;
};

/// Called by the test sink: true if an active ExpectLog on this thread takes
/// the record.
bool absorb_expected(std::string_view logger, std::string_view message) noexcept;

/// Installs the test log sink on this thread: expected records are absorbed,
/// errors fail the current test, everything is echoed to stderr.
void install_test_log_sink();

}  // namespace tornado::testing
