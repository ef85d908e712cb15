// End-to-end tests of tornado::web, httpserver and http1connection over
// loopback: requests written as raw bytes, responses read back.
#include "tornado/web.h"

#include <gtest/gtest.h>

#include "tornado/ioloop.h"
#include "tornado/locks.h"
#include "tornado/tcpclient.h"
#include "tornado/testing.h"

using namespace std::chrono_literals;
using tornado::Task;
using tornado::ioloop::IOLoop;

namespace {

class HelloHandler : public tornado::web::RequestHandler {
 public:
  void get() { write("Hello, world"); }
  void post() { write(nlohmann::json{{"name", get_argument("name")}}); }
};

class StoryHandler : public tornado::web::RequestHandler {
 public:
  Task<> get(std::string_view id) {
    co_await tornado::sleep(1ms);
    write(nlohmann::json{{"story", std::string(id)}});
  }
};

class ThrowingHandler : public tornado::web::RequestHandler {
 public:
  void get() { throw std::runtime_error("handler bug"); }
};

class TeapotHandler : public tornado::web::RequestHandler {
 public:
  void get() { throw tornado::web::HTTPError(418); }
};

class StreamingHandler : public tornado::web::RequestHandler {
 public:
  Task<> get() {
    for (int i = 0; i < 3; ++i) {
      write(fmt::format("part {}\n", i));
      co_await flush();
    }
  }
};

class CookieHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    auto value = get_signed_cookie("user");
    write(value ? *value : "none");
  }
  void post() { set_signed_cookie("user", get_argument("user")); }
};

// Answers once the test opens its gate.
class GateHandler : public tornado::web::RequestHandler {
 public:
  void initialize(tornado::locks::Event* gate) { gate_ = gate; }
  Task<> get() {
    co_await gate_->wait();
    write("through the gate");
  }

 private:
  tornado::locks::Event* gate_ = nullptr;
};

// A tiny HTTP client: one request, the raw response back.
Task<std::string> raw_request(int port, std::string request) {
  auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port);
  co_await stream->write(request);
  co_return co_await stream->read_until_close();
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

std::string body_of(const std::string& response) {
  auto pos = response.find("\r\n\r\n");
  return pos == std::string::npos ? "" : response.substr(pos + 4);
}

class WebTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tornado::web::Settings settings;
    settings.cookie_secret = "test secret";
    app_ = std::make_shared<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{
            {"/", tornado::web::handler<HelloHandler>()},
            {"/story/([0-9]+)", tornado::web::handler<StoryHandler>(), "story"},
            {"/throw", tornado::web::handler<ThrowingHandler>()},
            {"/teapot", tornado::web::handler<TeapotHandler>()},
            {"/stream", tornado::web::handler<StreamingHandler>()},
            {"/cookie", tornado::web::handler<CookieHandler>()},
        },
        settings);
    port_ = app_->listen(0, "127.0.0.1").port();
  }

  std::string fetch(std::string request) {
    return loop_.run_sync([&] { return raw_request(port_, request); }, 10s);
  }

  IOLoop loop_;
  std::shared_ptr<tornado::web::Application> app_;
  int port_ = 0;
};

}  // namespace

TEST_F(WebTest, GetReturnsBody) {
  auto response = fetch("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(response), "HTTP/1.1 200 OK");
  EXPECT_EQ(body_of(response), "Hello, world");
  EXPECT_NE(response.find("Content-Type: text/html; charset=UTF-8"), std::string::npos);
}

TEST_F(WebTest, PathArgumentsReachCoroutineVerbs) {
  auto response = fetch("GET /story/42 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(body_of(response), R"({"story": "42"})");
  EXPECT_NE(response.find("application/json"), std::string::npos);
}

TEST_F(WebTest, FormArgumentsAndMissingArgument) {
  auto ok = fetch(
      "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
      "application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nname=Ada+");
  EXPECT_EQ(body_of(ok), R"({"name": "Ada"})");
  tornado::testing::ExpectLog expected(tornado::log::general, "Missing argument", false);
  auto missing =
      fetch("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(status_line(missing), "HTTP/1.1 400 Bad Request");
}

TEST_F(WebTest, UnknownVerbIs405WithAllow) {
  auto response = fetch("DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(response), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_NE(response.find("Allow: GET, POST"), std::string::npos);
}

TEST_F(WebTest, UnknownPathIs404) {
  auto response = fetch("GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(response), "HTTP/1.1 404 Not Found");
}

TEST_F(WebTest, ExceptionBecomes500AndIsLogged) {
  tornado::testing::ExpectLog expected(tornado::log::app, "handler bug");
  tornado::testing::ExpectLog access(tornado::log::access, "500 GET /throw");
  auto response = fetch("GET /throw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(response), "HTTP/1.1 500 Internal Server Error");
  EXPECT_EQ(body_of(response).find("handler bug"), std::string::npos);  // no details
}

TEST_F(WebTest, HTTPErrorSetsStatus) {
  auto response = fetch("GET /teapot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(response), "HTTP/1.1 418 I'm a Teapot");
}

TEST_F(WebTest, EtagGives304) {
  auto first = fetch("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto start = first.find("Etag: ");
  ASSERT_NE(start, std::string::npos);
  auto etag = first.substr(start + 6, first.find("\r\n", start) - start - 6);
  auto second = fetch("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nIf-None-Match: " + etag +
                      "\r\n\r\n");
  EXPECT_EQ(status_line(second), "HTTP/1.1 304 Not Modified");
  EXPECT_EQ(body_of(second), "");
}

TEST_F(WebTest, FlushStreamsChunks) {
  auto response = fetch("GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(response.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(body_of(response).find("part 2\n"), std::string::npos);
  EXPECT_TRUE(body_of(response).ends_with("0\r\n\r\n"));
}

TEST_F(WebTest, PipelinedRequestsAnswerInOrder) {
  std::string requests;
  for (int i = 0; i < 10; ++i) {
    requests += fmt::format("GET /story/{} HTTP/1.1\r\nHost: x\r\n\r\n", i);
  }
  requests += "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto response = fetch(requests);
  std::size_t pos = 0;
  for (int i = 0; i < 10; ++i) {
    auto next = response.find(fmt::format(R"({{"story": "{}"}})", i), pos);
    ASSERT_NE(next, std::string::npos) << i;
    pos = next;
  }
  EXPECT_TRUE(response.ends_with("Hello, world"));
}

// Pipelined answers are gathered into one write, but never held for an
// answer that is still being computed: the first response arrives while the
// second request waits for the client, who only opens the gate after reading.
TEST_F(WebTest, PipelinedAnswerIsNotHeldForASlowerOne) {
  tornado::locks::Event gate;
  app_->add_handlers({{"/gate", tornado::web::handler<GateHandler>(&gate)}});
  auto response = loop_.run_sync(
      [&]() -> Task<std::string> {
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port_);
        co_await stream->write(
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /gate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        std::string first = co_await stream->read_until("Hello, world");
        gate.set();
        co_return first + co_await stream->read_until_close();
      },
      5s);
  EXPECT_TRUE(response.ends_with("through the gate")) << response;
}

TEST_F(WebTest, MalformedRequestsGet400AndServerSurvives) {
  const char* bad[] = {
      "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
      "GET / HTTP/1.1\r\n\r\n",       // no Host on 1.1
      "GET / HTTP/1.1\nHost: x\n\n",  // bare LF
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  };
  tornado::testing::ExpectLog expected(tornado::log::general, "Malformed HTTP request", false);
  std::vector<std::string> requests(std::begin(bad), std::end(bad));
  requests.push_back(std::string("GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n", 27));  // NUL
  for (const auto& request : requests) {
    auto response = fetch(request);
    EXPECT_EQ(status_line(response), "HTTP/1.1 400 Bad Request") << request;
    EXPECT_NE(response.find("Connection: close"), std::string::npos);
  }
  EXPECT_EQ(body_of(fetch("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
            "Hello, world");
}

TEST_F(WebTest, HeaderAndBodyLimits) {
  auto big_header =
      fetch("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n");
  EXPECT_EQ(status_line(big_header), "HTTP/1.1 431 Request Header Fields Too Large");
  auto big_body = fetch("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n");
  EXPECT_EQ(status_line(big_body), "HTTP/1.1 413 Request Entity Too Large");
}

TEST_F(WebTest, SignedCookieRoundTripAndTamper) {
  auto set = fetch(
      "POST /cookie HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: "
      "application/x-www-form-urlencoded\r\nContent-Length: 8\r\n\r\nuser=ada");
  auto start = set.find("Set-Cookie: user=");
  ASSERT_NE(start, std::string::npos);
  auto value = set.substr(start + 17, set.find(';', start) - start - 17);
  auto good = fetch(
      "GET /cookie HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: user=" + value + "\r\n\r\n");
  EXPECT_EQ(body_of(good), "ada");
  std::string forged = value;
  forged[forged.size() - 1] = forged.back() == 'a' ? 'b' : 'a';
  auto bad =
      fetch("GET /cookie HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: user=" + forged +
            "\r\n\r\n");
  EXPECT_EQ(body_of(bad), "none");
}

TEST(WebRoutingTest, RouteWhoseGroupsFitNoVerbIsRefused) {
  try {
    tornado::web::Application app({{"/story/([0-9]+)/(x)", tornado::web::handler<StoryHandler>()}});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("/story/([0-9]+)/(x)"), std::string::npos);
  }
}

TEST(WebRoutingTest, ReverseUrl) {
  tornado::web::Application app(
      {{"/story/([0-9]+)", tornado::web::handler<StoryHandler>(), "story"}});
  EXPECT_EQ(app.reverse_url("story", {"7"}), "/story/7");
}

namespace {
class DefaultArgumentHandler : public tornado::web::RequestHandler {
 public:
  void get() { write("[" + get_argument("missing", "") + "]"); }
};
}  // namespace

// A string-literal default must not be taken for the `strip` flag.
TEST(WebArgumentsTest, StringLiteralDefaultIsADefault) {
  IOLoop loop;
  auto app = std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{{"/", tornado::web::handler<DefaultArgumentHandler>()}});
  int port = app->listen(0, "127.0.0.1").port();
  auto response = loop.run_sync(
      [&] { return raw_request(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); },
      10s);
  EXPECT_EQ(body_of(response), "[]");
}

namespace {
class FallbackHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    set_status(404);
    write("custom not found: " + request().path);
  }
};
}  // namespace

TEST(WebRoutingTest, DefaultHandlerClassAnswersUnmatchedPaths) {
  IOLoop loop;
  tornado::web::Settings settings;
  settings.default_handler_class = tornado::web::handler<FallbackHandler>();
  tornado::web::Application app({{"/", tornado::web::handler<HelloHandler>()}}, settings);
  int port = app.listen(0, "127.0.0.1").port();
  tornado::testing::ExpectLog access(tornado::log::access, "404 GET /elsewhere");
  auto response = loop.run_sync(
      [&] {
        return raw_request(port, "GET /elsewhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      },
      10s);
  EXPECT_EQ(status_line(response), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(body_of(response), "custom not found: /elsewhere");
}

namespace {

// Each way a handler puts caller data into a header line, fed a value that
// would end the line early.
class InjectionHandler : public tornado::web::RequestHandler {
 public:
  void get(std::string_view how) {
    const std::string evil = "a\r\nInjected: 1";
    if (how == "set_header") set_header("X-Test", evil);
    if (how == "set_header_nul") set_header("X-Test", std::string("a\0b", 3));
    if (how == "set_header_name") set_header("X-Test\r\nInjected", "1");
    if (how == "add_header") add_header("X-Test", evil);
    if (how == "redirect") redirect("/next\r\nInjected: 1");
    if (how == "cookie_value") set_cookie("c", evil);
    if (how == "cookie_name") set_cookie("c\r\nInjected: 1", "v");
    if (how == "cookie_domain") set_cookie("c", "v", {.domain = evil});
    if (how == "cookie_path") set_cookie("c", "v", {.path = evil});
    if (how == "reason") set_status(200, evil);
    write("not refused");
  }
};

}  // namespace

TEST_F(WebTest, HeaderInjectionIsRefusedAtEveryEntryPoint) {
  app_->add_handlers({{"/inject/([a-z_]+)", tornado::web::handler<InjectionHandler>()}});
  tornado::testing::ExpectLog errors(tornado::log::app, "Uncaught exception");
  tornado::testing::ExpectLog answered(tornado::log::access, "500 GET /inject/");
  for (std::string how :
       {"set_header", "set_header_nul", "set_header_name", "add_header", "redirect", "cookie_value",
        "cookie_name", "cookie_domain", "cookie_path", "reason"}) {
    auto response =
        fetch("GET /inject/" + how + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(response.starts_with("HTTP/1.1 500 ")) << how << ": " << response;
    EXPECT_EQ(response.find("Injected"), std::string::npos) << how << ": " << response;
    EXPECT_EQ(response.find("not refused"), std::string::npos) << how << ": " << response;
  }
}
