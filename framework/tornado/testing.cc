#include "tornado/testing.h"

#include <gtest/gtest.h>

#include <cstdio>

namespace tornado::testing {
namespace {
thread_local ExpectLog* active_expectations = nullptr;
}

ExpectLog::ExpectLog(const log::Logger& logger, std::string substring, bool required)
    : logger_(logger.name()),
      substring_(std::move(substring)),
      required_(required),
      previous_(active_expectations) {
  active_expectations = this;
}

ExpectLog::~ExpectLog() {
  active_expectations = previous_;
  if (required_ && matched_ == 0) {
    ADD_FAILURE() << "expected a log record on '" << logger_ << "' containing '" << substring_
                  << "'";
  }
}

bool absorb_expected(std::string_view logger, std::string_view message) noexcept {
  for (ExpectLog* e = active_expectations; e; e = e->previous_) {
    if (e->logger_ == logger && message.find(e->substring_) != std::string_view::npos) {
      ++e->matched_;
      return true;
    }
  }
  return false;
}

void AsyncHTTPTestCase::SetUp() {
  io_loop_ = std::make_unique<ioloop::IOLoop>();
  app_ = get_app();
  port_ = app_->listen(0, "127.0.0.1", get_httpserver_options()).port();
}

void AsyncHTTPTestCase::TearDown() {
  app_.reset();
  io_loop_.reset();
}

std::string AsyncHTTPTestCase::get_url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

httpclient::HTTPResponse AsyncHTTPTestCase::fetch(std::string_view path,
                                                  httpclient::HTTPRequest options) {
  std::string url = get_url(path);
  return run([&]() -> Task<httpclient::HTTPResponse> {
    httpclient::AsyncHTTPClient client;
    co_return co_await client.fetch(url, options, false);
  });
}

std::shared_ptr<websocket::WebSocketClientConnection> AsyncHTTPTestCase::websocket_connect(
    std::string_view path) {
  std::string url = "ws://127.0.0.1:" + std::to_string(port_) + std::string(path);
  return run([&]() -> Task<std::shared_ptr<websocket::WebSocketClientConnection>> {
    co_return co_await websocket::websocket_connect(url);
  });
}

void install_test_log_sink() {
  static thread_local log::ScopedSink sink(
      [](log::Level at, std::string_view logger, std::string_view message) {
        bool expected = absorb_expected(logger, message);
        std::fprintf(stderr, "[%s%s] %.*s\n", expected ? "expected " : "",
                     std::string(log::level_name(at)).c_str(), static_cast<int>(message.size()),
                     message.data());
        if (!expected && at >= log::Level::error) {
          ADD_FAILURE() << "unexpected error log on '" << logger << "': " << message;
        }
      });
}

}  // namespace tornado::testing
