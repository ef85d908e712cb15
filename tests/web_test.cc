// End-to-end tests of tornado::web, httpserver and http1connection over
// loopback: requests written as raw bytes, responses read back.
#include "tornado/web.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TORNADO_TEST_ASAN 1
#include <sanitizer/allocator_interface.h>
#endif
#endif
#ifndef TORNADO_TEST_ASAN
#define TORNADO_TEST_ASAN 0
#endif

#include "tornado/escape.h"
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

// Says its name and path (and any groups, and the body's "name" argument).
class NamedHandler : public tornado::web::RequestHandler {
 public:
  void initialize(std::string name) { name_ = std::move(name); }
  void get() { write(name_ + " " + request().path); }
  void get(std::string_view id) { write(name_ + " " + std::string(id)); }
  void post() {
    write(name_ + " " + request().body + " " + get_argument("name") + " " +
          std::to_string(get_arguments("name").size()));
  }

 private:
  std::string name_;
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

namespace {
class RawArgumentHandler : public tornado::web::RequestHandler {
 public:
  void get() { write(fmt::format("[{}][{}]", get_argument("v"), get_arguments("v", false).at(0))); }
};
}  // namespace

// As Tornado's _get_arguments: control characters (other than tab, line
// feed, vertical tab, form feed, carriage return) become spaces, strip
// removes what Python's str.strip() does (Unicode whitespace too), and a
// value that is not UTF-8 is a 400.
TEST(WebArgumentsTest, ValuesAreCleanedAsTornadoCleansThem) {
  IOLoop loop;
  tornado::web::Application app({{"/", tornado::web::handler<RawArgumentHandler>()}});
  int port = app.listen(0, "127.0.0.1").port();
  auto get = [&](std::string_view query) {
    return loop.run_sync(
        [&] {
          return raw_request(port, fmt::format("GET /?{} HTTP/1.1\r\nHost: x\r\nConnection: "
                                               "close\r\n\r\n",
                                               query));
        },
        10s);
  };
  EXPECT_EQ(body_of(get("v=%01a%09b%0B%20%1F")), "[a\tb][ a\tb\x0b  ]");
  EXPECT_EQ(body_of(get("v=%C2%A0x%E3%80%80")), "[x][\xc2\xa0x\xe3\x80\x80]");
  std::string bad = get("v=%FFa");
  EXPECT_TRUE(bad.starts_with("HTTP/1.1 400 ")) << bad;
}

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

// Tornado's long-polling chat demo (demos/chat): the handler keeps the
// future of its wait and cancels it when its client goes away.
namespace {

struct ChatRoom {
  tornado::locks::Condition cond;
  std::vector<std::string> messages;
  int waits_cancelled = 0;
};

class MessageUpdatesHandler : public tornado::web::RequestHandler {
 public:
  void initialize(ChatRoom* room) { room_ = room; }
  Task<> post() {
    while (room_->messages.empty()) {
      wait_future_ = tornado::to_future(room_->cond.wait());
      try {
        co_await wait_future_;
      } catch (const tornado::CancelledError&) {
        ++room_->waits_cancelled;
        co_return;
      }
    }
    write(room_->messages.back());
  }
  void on_connection_close() override { wait_future_.cancel(); }

 private:
  ChatRoom* room_ = nullptr;
  tornado::Future<bool> wait_future_;
};

Task<> until(std::function<bool()> done) {
  while (!done()) co_await tornado::moment();
}

}  // namespace

TEST(WebCancellationTest, LongPollWhoseClientLeftEndsWithoutAnswerOrLogLine) {
  IOLoop loop;
  ChatRoom room;
  std::vector<std::string> logged;
  tornado::web::Settings settings;
  settings.log_function = [&](tornado::web::RequestHandler& h) {
    logged.push_back(fmt::format("{} {}", h.get_status(), h.request().uri));
  };
  tornado::web::Application app(
      {{"/a/message/updates", tornado::web::handler<MessageUpdatesHandler>(&room)}}, settings);
  int port = app.listen(0, "127.0.0.1").port();
  std::string answer = loop.run_sync(
      [&]() -> Task<std::string> {
        auto leaving = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port);
        co_await leaving->write(
            "POST /a/message/updates?who=gone HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        co_await until([&] { return room.cond.waiter_count() == 1; });
        leaving->close();
        co_await until([&] { return room.waits_cancelled == 1; });
        EXPECT_EQ(room.cond.waiter_count(), 0u) << "the cancelled wait must leave the condition";

        // A client that stays is answered, and logged, when a message comes.
        auto staying = tornado::to_future(raw_request(
            port,
            "POST /a/message/updates?who=stays HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n"));
        co_await until([&] { return room.cond.waiter_count() == 1; });
        room.messages.push_back("hello");
        room.cond.notify_all();
        co_return co_await staying;
      },
      10s);
  EXPECT_EQ(body_of(answer), "hello");
  EXPECT_EQ(room.waits_cancelled, 1);
  // One line, for the client that stayed; none, late or otherwise, for the one that left.
  EXPECT_EQ(logged, (std::vector<std::string>{"200 /a/message/updates?who=stays"}));
}

// ---------------------------------------------------------------------------
// Static files as Tornado serves them (issue 16).

namespace {

// A fresh folder of static files per test, removed afterwards.
struct TempDir {
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           fmt::format("tornado-web-test-{}-{}", ::getpid(), counter()++);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::string& name, std::string_view content) const {
    std::filesystem::create_directories((path / name).parent_path());
    std::ofstream(path / name, std::ios::binary) << content;
  }
  static int& counter() {
    static int n = 0;
    return n;
  }
  std::filesystem::path path;
};

// Writes static_url(path) for the `path` argument.
class StaticUrlHandler : public tornado::web::RequestHandler {
 public:
  void get() { write(static_url(get_argument("path"))); }
};

// A subclass using Tornado's override points.
class CustomStaticHandler : public tornado::web::StaticFileHandler {
 public:
  std::string get_content_type() override { return "text/x-custom"; }
  long long get_cache_time(std::string_view, std::optional<std::chrono::system_clock::time_point>,
                           std::string_view) override {
    return 60;
  }
  void set_extra_headers(std::string_view file) override {
    set_header("X-Static-File", std::string(file));
  }
  std::optional<std::string> get_version(const tornado::web::Settings&,
                                         std::string_view file) override {
    return "custom-" + std::string(file);
  }
};

// Resident memory of this process, in KiB. Under AddressSanitizer, which
// keeps freed blocks in quarantine (hundreds of MiB of resident memory that
// is not in use), the bytes the program has allocated and not freed.
long rss_kib() {
#if TORNADO_TEST_ASAN
  return static_cast<long>(__sanitizer_get_current_allocated_bytes() / 1024);
#else
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
#endif
}

class StaticFilesTest : public tornado::testing::AsyncHTTPTestCase {
 protected:
  std::unique_ptr<tornado::web::Application> get_app() override {
    dir_.write("a.txt", "alpha");
    dir_.write("site/index.html", "<p>index</p>");
    tornado::web::Settings settings;
    settings.static_path = dir_.path.string();
    settings.static_handler_args = {{"default_filename", "index.html"}};
    configure(settings);
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{{"/url", tornado::web::handler<StaticUrlHandler>()}},
        settings);
  }
  virtual void configure(tornado::web::Settings&) {}
  std::chrono::milliseconds get_async_timeout() override { return std::chrono::seconds(120); }
  TempDir dir_;
};

class CustomStaticFilesTest : public StaticFilesTest {
 protected:
  void configure(tornado::web::Settings& settings) override {
    settings.static_handler_class = tornado::web::static_handler_class<CustomStaticHandler>();
  }
};

}  // namespace

TEST_F(StaticFilesTest, VersionedUrlSendsTheSameLifetimeInCacheControlAndExpires) {
  std::string url = fetch("/url?path=a.txt").body;
  ASSERT_TRUE(url.starts_with("/static/a.txt?v=")) << url;
  EXPECT_EQ(url.size(), std::string("/static/a.txt?v=").size() + 128);  // SHA-512, as Tornado
  auto response = fetch(url);
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.body, "alpha");
  EXPECT_EQ(response.headers.get("Cache-Control"), "max-age=315360000");
  auto expires = tornado::httputil::parse_http_date(response.headers.get("Expires"));
  auto date = tornado::httputil::parse_http_date(response.headers.get("Date"));
  ASSERT_TRUE(expires && date);
  auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(*expires - *date).count();
  EXPECT_NEAR(static_cast<double>(lifetime), 315360000.0, 5.0);
  // The ETag is the file's version, the same as the URL's.
  EXPECT_EQ(response.headers.get("Etag"), "\"" + url.substr(url.find("v=") + 2) + "\"");
  // Unversioned: no cache headers at all.
  auto plain = fetch("/static/a.txt");
  EXPECT_FALSE(plain.headers.contains("Cache-Control"));
  EXPECT_FALSE(plain.headers.contains("Expires"));
}

TEST_F(StaticFilesTest, IfModifiedSinceGives304) {
  auto first = fetch("/static/a.txt");
  std::string last_modified(first.headers.get("Last-Modified"));
  ASSERT_FALSE(last_modified.empty());
  tornado::httpclient::HTTPRequest again;
  again.headers.add("If-Modified-Since", last_modified);
  EXPECT_EQ(fetch("/static/a.txt", again).code, 304);
  tornado::httpclient::HTTPRequest older;
  older.headers.add("If-Modified-Since", "Thu, 01 Jan 1998 00:00:00 GMT");
  EXPECT_EQ(fetch("/static/a.txt", older).code, 200);
  // If-None-Match decides alone when sent.
  tornado::httpclient::HTTPRequest both;
  both.headers.add("If-Modified-Since", last_modified);
  both.headers.add("If-None-Match", "\"other\"");
  EXPECT_EQ(fetch("/static/a.txt", both).code, 200);
}

TEST_F(StaticFilesTest, DefaultFilenameFromStaticHandlerArgs) {
  tornado::httpclient::HTTPRequest no_follow;
  no_follow.follow_redirects = false;
  auto redirect = fetch("/static/site", no_follow);
  EXPECT_EQ(redirect.code, 301);
  EXPECT_EQ(redirect.headers.get("Location"), "/static/site/");
  auto index = fetch("/static/site/");
  EXPECT_EQ(index.code, 200);
  EXPECT_EQ(index.body, "<p>index</p>");
}

TEST_F(StaticFilesTest, FaviconAndRobotsAreServedFromStaticPath) {
  dir_.write("robots.txt", "User-agent: *");
  EXPECT_EQ(fetch("/robots.txt").body, "User-agent: *");
  tornado::testing::ExpectLog access(tornado::log::access, "404 GET /favicon.ico");
  EXPECT_EQ(fetch("/favicon.ico").code, 404);
}

TEST_F(StaticFilesTest, WholeRangeIsA200AsTornado) {
  tornado::httpclient::HTTPRequest whole;
  whole.headers.add("Range", "bytes=0-");
  auto response = fetch("/static/a.txt", whole);
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.body, "alpha");
}

TEST_F(CustomStaticFilesTest, StaticHandlerClassOverridePoints) {
  EXPECT_EQ(fetch("/url?path=a.txt").body, "/static/a.txt?v=custom-a.txt");
  auto response = fetch("/static/a.txt?v=1");
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.body, "alpha");
  EXPECT_EQ(response.headers.get("Content-Type"), "text/x-custom");
  EXPECT_EQ(response.headers.get("Cache-Control"), "max-age=60");
  EXPECT_EQ(response.headers.get("X-Static-File"), "a.txt");
  // As Tornado, the ETag is the content version, whatever get_version says.
  EXPECT_EQ(response.headers.get("Etag").size(), 130u);
}

// A 1 GiB (sparse) file is served in pieces: the server's memory does not
// grow with the file. Server and client share this process, and the client
// counts the body without keeping it, so the process's resident size is
// the server's growth plus a constant.
TEST_F(StaticFilesTest, HugeFileIsServedInFlatMemory) {
  constexpr std::uint64_t kSize = std::uint64_t{1} << 30;
  { std::ofstream(dir_.path / "huge.bin", std::ios::binary); }
  std::filesystem::resize_file(dir_.path / "huge.bin", kSize);
  long before = rss_kib();
  long highest = before;
  std::uint64_t received = 0;
  std::uint64_t next_sample = 0;
  tornado::httpclient::HTTPRequest request;
  request.request_timeout = std::chrono::seconds(120);
  request.max_body_size = kSize + 1;
  request.streaming_callback = [&](std::string_view chunk) {
    received += chunk.size();
    if (received >= next_sample) {
      highest = std::max(highest, rss_kib());
      next_sample += 8 << 20;
    }
  };
  auto response = fetch("/static/huge.bin", request);
  highest = std::max(highest, rss_kib());
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(received, kSize);
  long growth_kib = highest - before;
  std::printf("%s growth while serving 1 GiB: %ld KiB\n",
              TORNADO_TEST_ASAN ? "Allocated memory" : "RSS", growth_kib);
  EXPECT_LT(growth_kib, 64 * 1024) << "the file was held in memory";
}

// ---------------------------------------------------------------------------
// RequestHandler and Application at Tornado's depth (issue 16).

namespace {

class DefaultHeadersHandler : public tornado::web::RequestHandler {
 public:
  void set_default_headers() override { set_header("X-Default", "yes"); }
  void get() {
    if (get_argument("fail", std::nullopt)) throw tornado::web::HTTPError(404);
    write("ok");
  }
};

class LenientXsrfHandler : public tornado::web::RequestHandler {
 public:
  void check_xsrf_cookie() override {
    if (request().headers.get("X-Trusted") != "1") throw tornado::web::HTTPError(403, "untrusted");
  }
  void post() { write("accepted"); }
};

class UserFromAsyncPrepareHandler : public tornado::web::RequestHandler {
 public:
  Task<> prepare() {
    co_await tornado::sleep(1ms);
    if (auto name = get_argument("user", std::nullopt)) set_current_user(nlohmann::json(*name));
  }
  void get() {
    const auto& user = current_user();
    write(user ? "user " + user->get<std::string>() : std::string("nobody"));
  }
};

class OptionalArgumentHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    std::optional<std::string> value = get_argument("x", std::nullopt);
    std::optional<std::string> query = get_query_argument("x", std::nullopt);
    write(value ? "[" + *value + "]" : std::string("none"));
    write(query ? "q" : "-");
  }
};

class SettingsHandler : public tornado::web::RequestHandler {
 public:
  void get() { write(settings()["blog_title"].get<std::string>()); }
};

class ForbiddenHandler : public tornado::web::RequestHandler {
 public:
  void get() { throw tornado::web::HTTPError(403, "no entry for this one"); }
};

class DepthTest : public tornado::testing::AsyncHTTPTestCase {
 protected:
  std::unique_ptr<tornado::web::Application> get_app() override {
    tornado::web::Settings settings;
    settings.xsrf_cookies = true;
    settings["blog_title"] = "Tornado Blog";
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{
            {"/defaults", tornado::web::handler<DefaultHeadersHandler>()},
            {"/lenient", tornado::web::handler<LenientXsrfHandler>()},
            {"/user", tornado::web::handler<UserFromAsyncPrepareHandler>()},
            {"/optional", tornado::web::handler<OptionalArgumentHandler>()},
            {"/settings", tornado::web::handler<SettingsHandler>()},
            {"/forbidden", tornado::web::handler<ForbiddenHandler>()},
        },
        settings);
  }
};

}  // namespace

TEST_F(DepthTest, SetDefaultHeadersAppliesToEveryResponseAndErrorPages) {
  EXPECT_EQ(fetch("/defaults").headers.get("X-Default"), "yes");
  tornado::testing::ExpectLog access(tornado::log::access, "404 GET /defaults");
  auto error = fetch("/defaults?fail=1");
  EXPECT_EQ(error.code, 404);
  EXPECT_EQ(error.headers.get("X-Default"), "yes");
}

TEST_F(DepthTest, CheckXsrfCookieCanBeOverridden) {
  tornado::httpclient::HTTPRequest trusted;
  trusted.method = "POST";
  trusted.body = "";
  trusted.headers.add("X-Trusted", "1");
  EXPECT_EQ(fetch("/lenient", trusted).body, "accepted");
  tornado::testing::ExpectLog warning(tornado::log::general, "untrusted");
  tornado::testing::ExpectLog access(tornado::log::access, "403 POST /lenient");
  tornado::httpclient::HTTPRequest untrusted;
  untrusted.method = "POST";
  untrusted.body = "";
  EXPECT_EQ(fetch("/lenient", untrusted).code, 403);
}

TEST_F(DepthTest, CurrentUserIsSetInAnAsyncPrepare) {
  EXPECT_EQ(fetch("/user?user=ada").body, "user ada");
  EXPECT_EQ(fetch("/user").body, "nobody");
}

TEST_F(DepthTest, GetArgumentWithAnAbsentDefaultIsAnOptional) {
  EXPECT_EQ(fetch("/optional?x=%20v%20").body, "[v]q");
  EXPECT_EQ(fetch("/optional").body, "none-");
}

TEST_F(DepthTest, SettingsHoldTheApplicationsOwnKeys) {
  EXPECT_EQ(fetch("/settings").body, "Tornado Blog");
  EXPECT_TRUE(app_->settings()["no such key"].is_null());
}

TEST_F(DepthTest, HTTPErrorWarningNamesMethodAndPath) {
  tornado::testing::ExpectLog warning(tornado::log::general,
                                      "403 GET /forbidden?x=1 (127.0.0.1): no entry for this one");
  tornado::testing::ExpectLog access(tornado::log::access, "403 GET /forbidden");
  EXPECT_EQ(fetch("/forbidden?x=1").code, 403);
}

// Tornado's ErrorHandler skips the XSRF check, so a POST to a wrong URL gets
// its 404 rather than a 403.
TEST_F(DepthTest, PostToAnUnknownPathIs404EvenWithXsrfCookies) {
  tornado::httpclient::HTTPRequest post;
  post.method = "POST";
  post.body = "";
  EXPECT_EQ(fetch("/no/such/page", post).code, 404);
}

TEST(WebSettingsTest, DebugImpliesWhatItImpliesInTornado) {
  tornado::web::Settings settings;
  settings.debug = true;
  tornado::web::Application app({}, settings);
  EXPECT_EQ(app.settings().serve_traceback, true);
  EXPECT_EQ(app.settings().static_hash_cache, false);
  EXPECT_EQ(app.settings().compiled_template_cache, false);
  // What the application set itself stays.
  settings.serve_traceback = false;
  tornado::web::Application explicit_app({}, settings);
  EXPECT_EQ(explicit_app.settings().serve_traceback, false);
  // Without debug nothing is implied.
  tornado::web::Application plain({});
  EXPECT_FALSE(plain.settings().serve_traceback.value_or(false));
}

// An application with `debug` built where no loop exists must not create one:
// autoreload's watcher used to make the thread's loop for itself, which then
// outlived the test, so the next test's server listened on that hidden loop
// and its own loop crashed when destroyed (a coroutine resumed after its end).
TEST(WebSettingsTest, DebugWithoutALoopLeavesNothingBehind) {
  ASSERT_EQ(IOLoop::current_or_null(), nullptr);
  {
    tornado::web::Settings settings;
    settings.debug = true;
    tornado::web::Application app({}, settings);
  }
  EXPECT_EQ(IOLoop::current_or_null(), nullptr);
  IOLoop loop;
  tornado::web::Application app({{"/", tornado::web::handler<HelloHandler>()}});
  tornado::httpserver::HTTPServer server(app);
  server.listen(0, "127.0.0.1");
  auto response = loop.run_sync(
      [&] {
        return raw_request(server.port(), "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      },
      10s);
  EXPECT_EQ(body_of(response), "Hello, world");
}

// Tornado's web_test HostMatchingTest: host routes come before the
// constructor's (any host), and a host route that has no path for the
// request lets the constructor's routes try.
class WebHostTest : public ::testing::Test {
 protected:
  std::string get(tornado::web::Application& app, const std::string& path, const std::string& host,
                  const std::string& extra_headers = "") {
    auto& server = app.listen(0, "127.0.0.1");
    auto response = loop_.run_sync(
        [&] {
          return raw_request(server.port(), "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" +
                                                extra_headers + "Connection: close\r\n\r\n");
        },
        10s);
    app.stop_listening();
    return status_line(response).substr(9, 3) + " " + body_of(response);
  }
  IOLoop loop_;
};

TEST_F(WebHostTest, AddHandlersByHostComeBeforeTheWildcardRoutes) {
  using tornado::web::handler;
  tornado::web::Application app({{"/foo", handler<NamedHandler>(std::string("wildcard"))},
                                 {"/bar", handler<NamedHandler>(std::string("wildcard"))}});
  app.add_handlers("www\\.example\\.com", {{"/foo", handler<NamedHandler>(std::string("www"))}});
  app.add_handlers("www\\.e.*e\\.com", {{"/baz", handler<NamedHandler>(std::string("baz"))}});
  EXPECT_EQ(get(app, "/foo", "other.org"), "200 wildcard /foo");
  EXPECT_EQ(get(app, "/foo", "www.example.com:8080"), "200 www /foo");
  EXPECT_EQ(get(app, "/bar", "www.example.com"), "200 wildcard /bar");
  EXPECT_EQ(get(app, "/baz", "www.example.com"), "200 baz /baz");
  tornado::testing::ExpectLog logged(tornado::log::access, "404 GET /baz");
  EXPECT_EQ(get(app, "/baz", "other.org").substr(0, 3), "404");
}

// Tornado's DefaultHostMatchingTest: with default_host, that host's routes
// also serve requests without a proxy's X-Real-Ip, whatever their Host.
TEST_F(WebHostTest, DefaultHostServesItsRoutesToDirectRequests) {
  using tornado::web::handler;
  tornado::web::Settings settings;
  settings.default_host = "www.example.com";
  tornado::web::Application app({}, settings);
  app.add_handlers("www\\.example\\.com", {{"/foo", handler<NamedHandler>(std::string("www"))}});
  EXPECT_EQ(get(app, "/foo", "10.0.0.1"), "200 www /foo");
  tornado::testing::ExpectLog logged(tornado::log::access, "404 GET /foo");
  EXPECT_EQ(get(app, "/foo", "10.0.0.1", "X-Real-Ip: 192.0.2.1\r\n").substr(0, 3), "404");
  // Without the setting, only the host itself.
  tornado::web::Application plain({});
  plain.add_handlers("www\\.example\\.com", {{"/foo", handler<NamedHandler>(std::string("www"))}});
  tornado::testing::ExpectLog logged_plain(tornado::log::access, "404 GET /foo");
  EXPECT_EQ(get(plain, "/foo", "10.0.0.1").substr(0, 3), "404");
}

// A route may target another application or router; reverse_url finds
// names in host routes and in what the routes nest.
TEST_F(WebHostTest, NestedTargetsAndReverseUrlAcrossThem) {
  using tornado::web::handler;
  auto inner = std::make_shared<tornado::web::Application>(std::vector<tornado::web::URLSpec>{
      {"/inner/([0-9]+)", handler<NamedHandler>(std::string("inner")), "inner-item"}});
  auto router =
      std::make_shared<tornado::routing::ReversibleRuleRouter>(std::vector<tornado::routing::Rule>{
          {"/routed",
           std::make_shared<tornado::web::Application>(std::vector<tornado::web::URLSpec>{
               {"/routed", handler<NamedHandler>(std::string("routed"))}}),
           "routed"}});
  tornado::web::Application app(
      {{"/inner/.*", inner},
       {"/routed", router},
       {"/own/([a-z]+)", handler<NamedHandler>(std::string("own")), "own"}});
  app.add_handlers("api\\.example\\.com",
                   {{"/v1/([0-9]+)", handler<NamedHandler>(std::string("api")), "api-item"}});
  EXPECT_EQ(get(app, "/inner/7", "x"), "200 inner 7");
  EXPECT_EQ(get(app, "/routed", "x"), "200 routed /routed");
  EXPECT_EQ(get(app, "/own/abc", "x"), "200 own abc");
  EXPECT_EQ(get(app, "/v1/3", "api.example.com"), "200 api 3");
  EXPECT_EQ(app.reverse_url("own", {"a b"}), "/own/a%20b");
  EXPECT_EQ(app.reverse_url("api-item", {"3"}), "/v1/3");
  EXPECT_EQ(app.reverse_url("inner-item", {"9"}), "/inner/9");
  EXPECT_EQ(app.reverse_url("routed"), "/routed");
  EXPECT_THROW(app.reverse_url("nothing"), std::invalid_argument);
  // An Application is a Router: it nests in a RuleRouter's rules as one.
  std::shared_ptr<tornado::routing::Router> as_router = inner;
  EXPECT_NE(as_router, nullptr);
}

// Tornado's FallbackHandler: a route hands its requests, body included, to
// another delegate, which answers them on the same connection.
TEST_F(WebHostTest, FallbackHandlerHandsTheRequestOver) {
  using tornado::web::handler;
  auto legacy = std::make_shared<tornado::web::Application>(std::vector<tornado::web::URLSpec>{
      {"/old/.*", handler<NamedHandler>(std::string("legacy"))}});
  tornado::web::Application app({{"/new", handler<NamedHandler>(std::string("new"))},
                                 {".*", handler<tornado::web::FallbackHandler>(legacy)}});
  EXPECT_EQ(get(app, "/new", "x"), "200 new /new");
  EXPECT_EQ(get(app, "/old/page", "x"), "200 legacy /old/page");
  auto& server = app.listen(0, "127.0.0.1");
  auto response = loop_.run_sync(
      [&] {
        return raw_request(server.port(),
                           "POST /old/form HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                           "Content-Type: application/x-www-form-urlencoded\r\n"
                           "Content-Length: 9\r\n\r\nname=jane");
      },
      10s);
  // The body and its argument once, not twice.
  EXPECT_EQ(body_of(response), "legacy name=jane jane 1");
  tornado::testing::ExpectLog logged(tornado::log::access, "404 GET /nowhere");
  EXPECT_EQ(get(app, "/nowhere", "x").substr(0, 3), "404");
}

// httpserver.h's own example: the server takes the application itself.
TEST(WebServerTest, HTTPServerTakesTheApplication) {
  IOLoop loop;
  tornado::web::Application app({{"/", tornado::web::handler<HelloHandler>()}});
  tornado::httpserver::HTTPServer server(app, {.xheaders = true});
  server.listen(0, "127.0.0.1");
  auto response = loop.run_sync(
      [&] {
        return raw_request(server.port(),
                           "GET / HTTP/1.1\r\nHost: x\r\nX-Real-Ip: 10.1.2.3\r\n"
                           "Connection: close\r\n\r\n");
      },
      10s);
  EXPECT_EQ(body_of(response), "Hello, world");
}

TEST(WebRoutingTest, UncallableVerbMessageNamesTheCause) {
  try {
    tornado::web::Application app({{"/story/([0-9]+)/(x)", tornado::web::handler<StoryHandler>()}});
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("std::string_view"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("public"), std::string::npos) << e.what();
  }
}

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

// The web features an app writer tests through AsyncHTTPTestCase: multipart
// uploads, XSRF, static files (traversal, ranges, 304), a coroutine handler
// that fetches.
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
  tornado::httpclient::HTTPRequest request;
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
  tornado::httpclient::HTTPRequest good;
  good.method = "POST";
  good.body = "_xsrf=" + tornado::escape::url_escape(token);
  good.headers.add("Cookie", cookie);
  EXPECT_EQ(fetch("/form", good).body, "accepted");

  tornado::testing::ExpectLog missing(tornado::log::general, "'_xsrf' argument missing");
  tornado::httpclient::HTTPRequest none;
  none.method = "POST";
  none.body = "";
  none.headers.add("Cookie", cookie);
  EXPECT_EQ(fetch("/form", none).code, 403);

  tornado::testing::ExpectLog mismatch(tornado::log::general, "does not match", false);
  tornado::testing::ExpectLog format(tornado::log::general, "invalid format", false);
  tornado::testing::ExpectLog access(tornado::log::access, "403 POST");
  tornado::httpclient::HTTPRequest wrong;
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

  tornado::httpclient::HTTPRequest range;
  range.headers.add("Range", "bytes=2-5");
  auto partial = fetch("/static/digits.txt", range);
  EXPECT_EQ(partial.code, 206);
  EXPECT_EQ(partial.body, "2345");
  EXPECT_EQ(partial.headers.get("Content-Range"), "bytes 2-5/20");

  tornado::httpclient::HTTPRequest suffix;
  suffix.headers.add("Range", "bytes=-3");
  EXPECT_EQ(fetch("/static/digits.txt", suffix).body, "hij");

  tornado::testing::ExpectLog access(tornado::log::access, "416 GET");
  tornado::httpclient::HTTPRequest beyond;
  beyond.headers.add("Range", "bytes=50-60");
  EXPECT_EQ(fetch("/static/digits.txt", beyond).code, 416);

  tornado::httpclient::HTTPRequest again;
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

TEST_F(WebFeaturesTest, CoroutineHandlerAwaitsATimerAndAFetch) {
  auto response = fetch("/proxy");
  EXPECT_EQ(response.code, 200);
  EXPECT_EQ(response.body, "proxied 0123456789abcdefghij");
}

// ---------------------------------------------------------------------------
// The rest of RequestHandler, each answer as Tornado 6.2 gives it (issue 19):
// authenticated(), clear_cookie, write_error, on_connection_close, the
// log_function and serve_traceback settings, redirects, RedirectHandler,
// HEAD and the default error pages.

namespace {

using tornado::web::HTTPError;
using tornado::web::RequestHandler;

// Signed in when the request names a user in X-User; X-Login replaces the
// login_url setting (as an overridden get_login_url would).
class AuthHandler : public RequestHandler {
 public:
  std::optional<nlohmann::json> get_current_user() override {
    std::string_view user = request().headers.get("X-User");
    if (user.empty()) return std::nullopt;
    return nlohmann::json(std::string(user));
  }
  std::string get_login_url() override {
    std::string_view login = request().headers.get("X-Login");
    return login.empty() ? RequestHandler::get_login_url() : std::string(login);
  }
  void get() {
    if (!authenticated()) return;
    write("in " + current_user()->get<std::string>());
  }
  void head() {
    if (!authenticated()) return;
  }
  void post() {
    if (!authenticated()) return;
    write("posted");
  }
};

class ClearCookieHandler : public RequestHandler {
 public:
  void get() {
    std::string how = get_argument("how");
    if (how == "one") clear_cookie("a");
    if (how == "scoped") clear_cookie("a", "/p", "example.com");
    if (how == "all") clear_all_cookies();
    if (how == "all_scoped") clear_all_cookies("/p", "example.com");
  }
};

// Fails as ?how= says; with ?custom=1 its write_error says what it was given.
class ErrorPagesHandler : public RequestHandler {
 public:
  void get() {
    std::string how = get_argument("how");
    if (how == "reason") throw HTTPError(418, "kettle log", "Short and stout");
    if (how == "plain") throw HTTPError(403);
    if (how == "bug") throw std::runtime_error("bad value");
    if (how == "send") send_error(503);
    if (how == "send_reason") send_error(503, nullptr, "Down for now");
    if (how == "unknown") throw HTTPError(599);
    if (how == "unknown_status") set_status(599);
  }
  void write_error(int status_code, std::exception_ptr error) override {
    std::string custom = get_argument("custom", "");
    if (custom.empty()) return RequestHandler::write_error(status_code, error);
    if (custom == "throw") throw std::runtime_error("the page broke");
    std::string given = "nothing";
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const HTTPError& e) {
        given = fmt::format("HTTPError {} '{}'", e.status_code, e.reason);
      } catch (const std::exception& e) {
        given = e.what();
      }
    }
    finish(fmt::format("custom {}: {}", status_code, given));
  }
};

// Counts on_connection_close calls and cancels the request's pending work there.
struct CloseProbe {
  tornado::locks::Event started;
  int hooks = 0;
  int cancelled = 0;
};

class LongRequestHandler : public RequestHandler {
 public:
  void initialize(CloseProbe* probe) { probe_ = probe; }
  Task<> get() {
    if (get_argument("quick", std::nullopt)) co_return;
    probe_->started.set();
    try {
      co_await pending_;
    } catch (const tornado::CancelledError&) {
      ++probe_->cancelled;
      throw;
    }
    write("never");
  }
  void on_connection_close() override {
    ++probe_->hooks;
    pending_.cancel();
  }

 private:
  CloseProbe* probe_ = nullptr;
  tornado::Future<bool> pending_;  // never resolved: only the hook ends it
};

class RedirectingHandler : public RequestHandler {
 public:
  void get() {
    std::string how = get_argument("how");
    if (how == "temporary") redirect("/there");
    if (how == "permanent") redirect("/there", true);
    if (how == "see_other") redirect("/there", false, 303);
    if (how == "relative") redirect("there?x=1");
    if (how == "not_3xx") redirect("/there", false, 200);
  }
};

class HeadHandler : public RequestHandler {
 public:
  void get() { write("hello body"); }
  void head() {
    // A HEAD that knows the length without the body (a file's size, say).
    if (auto length = get_argument("length", std::nullopt)) {
      set_header("Content-Length", *length);
      return;
    }
    write("hello body");
  }
};

// Sends its body in two pieces.
class FlushingHandler : public RequestHandler {
 public:
  Task<> get() { return send(); }
  Task<> head() { return send(); }

 private:
  Task<> send() {
    write("abc");
    co_await flush();
    write("def");
  }
};

// Counts get_current_user calls; current_user() asks once per request.
class CountingUserHandler : public RequestHandler {
 public:
  void initialize(int* calls) { calls_ = calls; }
  std::optional<nlohmann::json> get_current_user() override {
    ++*calls_;
    return nlohmann::json("ada");
  }
  void get() {
    current_user();
    if (!authenticated()) return;
    write(current_user()->get<std::string>());
  }

 private:
  int* calls_ = nullptr;
};

// Streams its body; the verb runs only once the whole body came.
class StreamedUploadHandler : public RequestHandler {
 public:
  void initialize(CloseProbe* probe) { probe_ = probe; }
  void data_received(std::string_view chunk) {
    received_ += chunk.size();
    if (received_ >= 10) probe_->started.set();
  }
  void post() { ++probe_->cancelled; }  // counted as "ran": must not
  void on_connection_close() override { ++probe_->hooks; }

 private:
  CloseProbe* probe_ = nullptr;
  std::size_t received_ = 0;
};

class GetOnlyHandler : public RequestHandler {
 public:
  void get() { write("x"); }
};

struct Logged {
  int status;
  std::string request;
  double seconds;
};

class HandlerBehaviourTest : public tornado::testing::AsyncHTTPTestCase {
 protected:
  virtual void configure(tornado::web::Settings&) {}

  std::unique_ptr<tornado::web::Application> get_app() override {
    using tornado::web::handler;
    tornado::web::Settings settings;
    settings.login_url = "/login";
    settings.log_function = [this](RequestHandler& h) {
      logged_.push_back(
          {h.get_status(), h.request().method + " " + h.request().uri, h.request().request_time()});
    };
    configure(settings);
    return std::make_unique<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{
            {"/auth", handler<AuthHandler>()},
            {"/clear", handler<ClearCookieHandler>()},
            {"/errors", handler<ErrorPagesHandler>()},
            {"/long", handler<LongRequestHandler>(&probe_)},
            {"/redirect", handler<RedirectingHandler>()},
            {"/swap/(\\w+)/(\\w+)",
             handler<tornado::web::RedirectHandler>(std::string("/to/{1}/{0}"))},
            {"/named/(?P<name>\\w+)",
             handler<tornado::web::RedirectHandler>(std::string("/to/{name}"), false)},
            {"/fixed", handler<tornado::web::RedirectHandler>(std::string("/to?z=9"))},
            {"/auto/(\\w+)", handler<tornado::web::RedirectHandler>(std::string("/to/{}/{{x}}"))},
            {"/missing/(\\w+)", handler<tornado::web::RedirectHandler>(std::string("/to/{1}"))},
            {"/head", handler<HeadHandler>()},
            {"/flushing", handler<FlushingHandler>()},
            {"/gone", handler<tornado::web::ErrorHandler>(410)},
            {"/counting-user", handler<CountingUserHandler>(&user_calls_)},
            {"/upload", handler<StreamedUploadHandler>(&probe_)},
            {"/get-only", handler<GetOnlyHandler>()},
        },
        settings);
  }

  tornado::httpclient::HTTPResponse fetch_no_follow(std::string_view path,
                                                    tornado::httputil::HTTPHeaders headers = {},
                                                    std::string method = "GET") {
    tornado::httpclient::HTTPRequest request;
    request.method = std::move(method);
    request.follow_redirects = false;
    request.headers = std::move(headers);
    if (request.method == "POST") request.body = "";
    return fetch(path, request);
  }

  // One request as raw bytes, the raw response back (for HEAD and PATCH).
  std::string raw(std::string request) {
    return run_sync([&] { return raw_request(port_, request); });
  }

  CloseProbe probe_;
  int user_calls_ = 0;
  std::vector<Logged> logged_;
};

class TracebackTest : public HandlerBehaviourTest {
 protected:
  void configure(tornado::web::Settings& settings) override { settings.serve_traceback = true; }
};

std::string header_of(const std::string& response, std::string_view name) {
  std::string key = "\r\n" + std::string(name) + ": ";
  auto pos = response.find(key);
  if (pos == std::string::npos) return "(absent)";
  pos += key.size();
  return response.substr(pos, response.find("\r\n", pos) - pos);
}

tornado::httputil::HTTPHeaders headers_with(std::string_view name, std::string_view value) {
  tornado::httputil::HTTPHeaders headers;
  headers.add(name, value);
  return headers;
}

}  // namespace

TEST_F(HandlerBehaviourTest, AuthenticatedSendsGetAndHeadToLoginWithNext) {
  auto plain = fetch_no_follow("/auth");
  EXPECT_EQ(plain.code, 302);
  EXPECT_EQ(plain.headers.get("Location"), "/login?next=%2Fauth");
  auto query = fetch_no_follow("/auth?x=%2F&y=a+b");
  EXPECT_EQ(query.headers.get("Location"), "/login?next=%2Fauth%3Fx%3D%252F%26y%3Da%2Bb");
  auto head = raw("HEAD /auth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(head), "HTTP/1.1 302 Found");
  EXPECT_EQ(header_of(head, "Location"), "/login?next=%2Fauth");
  auto signed_in = fetch_no_follow("/auth", headers_with("X-User", "ada"));
  EXPECT_EQ(signed_in.code, 200);
  EXPECT_EQ(signed_in.body, "in ada");
}

TEST_F(HandlerBehaviourTest, AuthenticatedRefusesOtherMethodsWith403) {
  auto post = fetch_no_follow("/auth", {}, "POST");
  EXPECT_EQ(post.code, 403);
  EXPECT_EQ(post.body, "<html><title>403: Forbidden</title><body>403: Forbidden</body></html>");
  EXPECT_EQ(fetch_no_follow("/auth", headers_with("X-User", "ada"), "POST").body, "posted");
}

// Tornado adds `next` only to a login URL without a query, and makes it the
// full URL when the login URL is absolute (another host must come back here).
TEST_F(HandlerBehaviourTest, AuthenticatedNextFollowsTheLoginUrlsForm) {
  auto with_query = fetch_no_follow("/auth", headers_with("X-Login", "/login?from=app"));
  EXPECT_EQ(with_query.code, 302);
  EXPECT_EQ(with_query.headers.get("Location"), "/login?from=app");
  auto absolute =
      fetch_no_follow("/auth?a=1", headers_with("X-Login", "https://auth.example/login"));
  EXPECT_EQ(absolute.headers.get("Location"),
            "https://auth.example/login?next=" + tornado::escape::url_escape(get_url("/auth?a=1")));
}

namespace {

// The attributes of one Set-Cookie value, split at "; ".
std::vector<std::string> cookie_parts(std::string_view cookie) {
  std::vector<std::string> parts;
  while (true) {
    auto end = cookie.find("; ");
    parts.emplace_back(cookie.substr(0, end));
    if (end == std::string_view::npos) return parts;
    cookie.remove_prefix(end + 2);
  }
}

// Checks that `cookie` deletes `name` at `path` (and `domain`, if any).
void expect_deletes(std::string_view cookie, std::string_view name, std::string_view path,
                    std::string_view domain) {
  SCOPED_TRACE(std::string(cookie));
  auto parts = cookie_parts(cookie);
  EXPECT_EQ(parts[0], std::string(name) + "=");
  auto has = [&](const std::string& part) {
    return std::find(parts.begin(), parts.end(), part) != parts.end();
  };
  EXPECT_TRUE(has("Path=" + std::string(path)));
  EXPECT_TRUE(has("Max-Age=0"));
  EXPECT_EQ(has("Domain=" + std::string(domain)), !domain.empty());
  if (domain.empty()) {
    EXPECT_TRUE(std::none_of(parts.begin(), parts.end(),
                             [](const std::string& p) { return p.starts_with("Domain="); }));
  }
  auto expires = std::find_if(parts.begin(), parts.end(),
                              [](const std::string& p) { return p.starts_with("expires="); });
  ASSERT_NE(expires, parts.end());
  auto when = tornado::httputil::parse_http_date(expires->substr(8));
  ASSERT_TRUE(when);
  EXPECT_LT(*when, std::chrono::system_clock::now() - std::chrono::hours(24 * 364));
}

}  // namespace

TEST_F(HandlerBehaviourTest, ClearCookieSendsItExpiredAtItsPathAndDomain) {
  auto one = fetch("/clear?how=one");
  auto cookies = one.headers.get_list("Set-Cookie");
  ASSERT_EQ(cookies.size(), 1u);
  expect_deletes(cookies[0], "a", "/", "");
  auto scoped = fetch("/clear?how=scoped");
  cookies = scoped.headers.get_list("Set-Cookie");
  ASSERT_EQ(cookies.size(), 1u);
  expect_deletes(cookies[0], "a", "/p", "example.com");
}

TEST_F(HandlerBehaviourTest, ClearAllCookiesClearsEachCookieTheRequestSent) {
  tornado::httpclient::HTTPRequest request;
  request.headers.add("Cookie", "a=1; b=2");
  auto all = fetch("/clear?how=all", request);
  auto cookies = all.headers.get_list("Set-Cookie");
  ASSERT_EQ(cookies.size(), 2u);
  expect_deletes(cookies[0], "a", "/", "");
  expect_deletes(cookies[1], "b", "/", "");
  auto scoped = fetch("/clear?how=all_scoped", request);
  cookies = scoped.headers.get_list("Set-Cookie");
  ASSERT_EQ(cookies.size(), 2u);
  expect_deletes(cookies[0], "a", "/p", "example.com");
  expect_deletes(cookies[1], "b", "/p", "example.com");
  EXPECT_TRUE(fetch("/clear?how=all").headers.get_list("Set-Cookie").empty());
}

TEST_F(HandlerBehaviourTest, WriteErrorReceivesStatusAndTheException) {
  {
    tornado::testing::ExpectLog warning(tornado::log::general, "kettle log");
    auto reason = fetch("/errors?how=reason&custom=1");
    EXPECT_EQ(reason.code, 418);
    EXPECT_EQ(reason.reason, "Short and stout");
    EXPECT_EQ(reason.body, "custom 418: HTTPError 418 'Short and stout'");
  }
  EXPECT_EQ(fetch("/errors?how=plain&custom=1").body, "custom 403: HTTPError 403 ''");
  {
    tornado::testing::ExpectLog error(tornado::log::app, "Uncaught exception GET /errors");
    auto bug = fetch("/errors?how=bug&custom=1");
    EXPECT_EQ(bug.code, 500);
    EXPECT_EQ(bug.body, "custom 500: bad value");
  }
  auto sent = fetch("/errors?how=send&custom=1");
  EXPECT_EQ(sent.code, 503);
  EXPECT_EQ(sent.body, "custom 503: nothing");
}

// A write_error that throws is logged, and the error goes out with an empty body.
TEST_F(HandlerBehaviourTest, WriteErrorThatThrowsLeavesTheStatus) {
  tornado::testing::ExpectLog error(tornado::log::app, "Uncaught exception GET /errors");
  tornado::testing::ExpectLog page(tornado::log::app, "Uncaught exception in write_error");
  auto response = fetch("/errors?how=bug&custom=throw");
  EXPECT_EQ(response.code, 500);
  EXPECT_EQ(response.body, "");
}

TEST_F(HandlerBehaviourTest, DefaultErrorPagesAreTornados) {
  auto missing = fetch("/nothing/here");
  EXPECT_EQ(missing.code, 404);
  EXPECT_EQ(missing.headers.get("Content-Type"), "text/html; charset=UTF-8");
  EXPECT_EQ(missing.body, "<html><title>404: Not Found</title><body>404: Not Found</body></html>");
  {
    tornado::testing::ExpectLog warning(tornado::log::general,
                                        "418 GET /errors?how=reason (127.0.0.1): kettle log");
    auto reason = fetch("/errors?how=reason");
    EXPECT_EQ(reason.reason, "Short and stout");
    EXPECT_EQ(reason.body,
              "<html><title>418: Short and stout</title><body>418: Short and stout</body></html>");
  }
  auto sent = fetch("/errors?how=send_reason");
  EXPECT_EQ(sent.code, 503);
  EXPECT_EQ(sent.reason, "Down for now");
  EXPECT_EQ(sent.body,
            "<html><title>503: Down for now</title><body>503: Down for now</body></html>");
  // An HTTPError without a log message gives no warning, only the access line.
  tornado::testing::ExpectLog none(tornado::log::general, "", false);
  EXPECT_EQ(fetch("/errors?how=plain").code, 403);
  EXPECT_EQ(none.matched(), 0);
}

// Tornado 6 answers a status it has no phrase for with "Unknown".
TEST_F(HandlerBehaviourTest, UnknownStatusIsSentWithTheReasonUnknown) {
  auto thrown = raw("GET /errors?how=unknown HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(thrown), "HTTP/1.1 599 Unknown");
  EXPECT_EQ(body_of(thrown), "<html><title>599: Unknown</title><body>599: Unknown</body></html>");
  auto set = raw("GET /errors?how=unknown_status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(set), "HTTP/1.1 599 Unknown");
  EXPECT_EQ(body_of(set), "");
}

TEST_F(HandlerBehaviourTest, MethodNotAllowedPageKeepsAllow) {
  auto patch = raw("PATCH /get-only HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(patch), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(header_of(patch, "Allow"), "GET");
  EXPECT_EQ(
      body_of(patch),
      "<html><title>405: Method Not Allowed</title><body>405: Method Not Allowed</body></html>");
}

TEST_F(HandlerBehaviourTest, HeadSendsHeadersAndContentLengthWithoutBody) {
  auto get = raw("GET /head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto head = raw("HEAD /head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(head), "HTTP/1.1 200 OK");
  EXPECT_EQ(header_of(head, "Content-Length"), "10");
  EXPECT_EQ(header_of(head, "Etag"), header_of(get, "Etag"));
  EXPECT_EQ(body_of(head), "");
  EXPECT_EQ(body_of(get), "hello body");
}

// As Tornado, HEAD is a verb of its own: a handler without head() answers 405.
TEST_F(HandlerBehaviourTest, HeadOfAGetOnlyHandlerIs405) {
  auto head = raw("HEAD /get-only HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(head), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(header_of(head, "Allow"), "GET");
  EXPECT_EQ(header_of(head, "Content-Length"), "87");
  EXPECT_EQ(body_of(head), "");
}

TEST_F(HandlerBehaviourTest, RedirectStatusesAndLocation) {
  auto temporary = fetch_no_follow("/redirect?how=temporary");
  EXPECT_EQ(temporary.code, 302);
  EXPECT_EQ(temporary.headers.get("Location"), "/there");
  EXPECT_EQ(temporary.body, "");
  auto permanent = fetch_no_follow("/redirect?how=permanent");
  EXPECT_EQ(permanent.code, 301);
  EXPECT_EQ(permanent.reason, "Moved Permanently");
  auto see_other = fetch_no_follow("/redirect?how=see_other");
  EXPECT_EQ(see_other.code, 303);
  EXPECT_EQ(see_other.reason, "See Other");
  // Sent as given: the client resolves a relative URL.
  EXPECT_EQ(fetch_no_follow("/redirect?how=relative").headers.get("Location"), "there?x=1");
}

TEST_F(HandlerBehaviourTest, RedirectRefusesAStatusOutside3xx) {
  tornado::testing::ExpectLog error(tornado::log::app, "Uncaught exception GET /redirect");
  auto refused = fetch_no_follow("/redirect?how=not_3xx");
  EXPECT_EQ(refused.code, 500);
  EXPECT_FALSE(refused.headers.contains("Location"));
}

TEST_F(HandlerBehaviourTest, RedirectHandlerFillsGroupsAndKeepsTheQuery) {
  auto swapped = fetch_no_follow("/swap/aa/bb");
  EXPECT_EQ(swapped.code, 301);
  EXPECT_EQ(swapped.headers.get("Location"), "/to/bb/aa");
  EXPECT_EQ(fetch_no_follow("/swap/aa/bb?q=1").headers.get("Location"), "/to/bb/aa?q=1");
  auto named = fetch_no_follow("/named/xy");
  EXPECT_EQ(named.code, 302);
  EXPECT_EQ(named.headers.get("Location"), "/to/xy");
  EXPECT_EQ(fetch_no_follow("/fixed?k=v").headers.get("Location"), "/to?z=9&k=v");
  EXPECT_EQ(fetch_no_follow("/auto/v").headers.get("Location"), "/to/v/{x}");
  EXPECT_EQ(fetch_no_follow("/fixed", {}, "POST").code, 405);
  // A group the route does not have is an error of the application's, as Tornado's IndexError.
  tornado::testing::ExpectLog error(tornado::log::app, "no group 1");
  EXPECT_EQ(fetch_no_follow("/missing/v").code, 500);
}

TEST_F(HandlerBehaviourTest, LogFunctionIsCalledOncePerRequestInsteadOfTheAccessLog) {
  tornado::testing::ExpectLog access(tornado::log::access, "", false);
  fetch("/auth", [] {
    tornado::httpclient::HTTPRequest request;
    request.headers.add("X-User", "ada");
    return request;
  }());
  fetch("/nothing");
  {
    tornado::testing::ExpectLog error(tornado::log::app, "Uncaught exception GET /errors");
    fetch("/errors?how=bug");
  }
  fetch_no_follow("/redirect?how=temporary");
  EXPECT_EQ(access.matched(), 0);
  ASSERT_EQ(logged_.size(), 4u);
  const std::pair<int, std::string> expected[] = {{200, "GET /auth"},
                                                  {404, "GET /nothing"},
                                                  {500, "GET /errors?how=bug"},
                                                  {302, "GET /redirect?how=temporary"}};
  for (std::size_t i = 0; i < logged_.size(); ++i) {
    EXPECT_EQ(logged_[i].status, expected[i].first);
    EXPECT_EQ(logged_[i].request, expected[i].second);
    EXPECT_GE(logged_[i].seconds, 0.0);
    EXPECT_LT(logged_[i].seconds, 10.0);
  }
}

TEST_F(HandlerBehaviourTest, ClientLeavingRunsOnConnectionCloseOnceAndCancelsTheWork) {
  run_sync([&]() -> Task<> {
    auto leaving = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port_);
    co_await leaving->write("GET /long HTTP/1.1\r\nHost: x\r\n\r\n");
    co_await probe_.started.wait();
    leaving->close();
    co_await until([&] { return probe_.cancelled == 1; });
  });
  // A whole request after it: the loop has moved on, and nothing more ran.
  EXPECT_EQ(fetch("/long?quick=1").code, 200);
  EXPECT_EQ(probe_.hooks, 1);
  EXPECT_EQ(probe_.cancelled, 1);
  // Nothing was served to the client that left, so nothing is logged for it.
  ASSERT_EQ(logged_.size(), 1u);
  EXPECT_EQ(logged_[0].request, "GET /long?quick=1");
}

TEST_F(HandlerBehaviourTest, ErrorPageHasNoExceptionTextWithoutServeTraceback) {
  tornado::testing::ExpectLog error(tornado::log::app, "Uncaught exception GET /errors");
  auto bug = fetch("/errors?how=bug");
  EXPECT_EQ(bug.code, 500);
  EXPECT_EQ(bug.body,
            "<html><title>500: Internal Server Error</title>"
            "<body>500: Internal Server Error</body></html>");
}

TEST_F(TracebackTest, ServeTracebackSendsTheExceptionAsText) {
  {
    tornado::testing::ExpectLog error(tornado::log::app, "Uncaught exception GET /errors");
    auto bug = fetch("/errors?how=bug");
    EXPECT_EQ(bug.code, 500);
    EXPECT_TRUE(bug.headers.get("Content-Type").starts_with("text/plain"))
        << bug.headers.get("Content-Type");
    // The exception's type and text, as the last line of Tornado's traceback.
    EXPECT_EQ(bug.body, "std::runtime_error: bad value\n");
  }
  // As Tornado: an HTTPError is an exception too, so its page is the text.
  auto forbidden = fetch("/errors?how=plain");
  EXPECT_EQ(forbidden.code, 403);
  EXPECT_TRUE(forbidden.headers.get("Content-Type").starts_with("text/plain"));
  EXPECT_EQ(forbidden.body, "tornado::web::HTTPError: HTTP 403: Forbidden\n");
  // send_error without an exception still sends the HTML page.
  EXPECT_EQ(fetch("/errors?how=send").body,
            "<html><title>503: Service Unavailable</title>"
            "<body>503: Service Unavailable</body></html>");
}

TEST_F(HandlerBehaviourTest, CurrentUserIsDeterminedOncePerRequest) {
  EXPECT_EQ(fetch("/counting-user").body, "ada");
  EXPECT_EQ(user_calls_, 1);
  EXPECT_EQ(fetch("/counting-user").body, "ada");
  EXPECT_EQ(user_calls_, 2);
}

// An explicit Content-Length is kept on a HEAD answer without a body, and the
// connection stays usable: no body is expected after it.
TEST_F(HandlerBehaviourTest, HeadKeepsAnExplicitContentLength) {
  auto both =
      raw("HEAD /head?length=1234 HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /head HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_line(both), "HTTP/1.1 200 OK");
  EXPECT_EQ(header_of(both, "Content-Length"), "1234");
  auto second = both.find("\r\n\r\nHTTP/1.1 200 OK\r\n");
  ASSERT_NE(second, std::string::npos) << both;
  std::string get = both.substr(second + 4);
  EXPECT_EQ(header_of(get, "Content-Length"), "10");
  EXPECT_EQ(body_of(get), "hello body");
}

TEST_F(HandlerBehaviourTest, ClientLeavingMidBodyRunsTheHookOnceAndNotTheVerb) {
  run_sync([&]() -> Task<> {
    auto leaving = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port_);
    co_await leaving->write(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    co_await probe_.started.wait();
    leaving->close();
    co_await until([&] { return probe_.hooks > 0; });
  });
  EXPECT_EQ(fetch("/long?quick=1").code, 200);
  EXPECT_EQ(probe_.hooks, 1);
  EXPECT_EQ(probe_.cancelled, 0) << "post() ran without its body";
  ASSERT_EQ(logged_.size(), 1u);
  EXPECT_EQ(logged_[0].request, "GET /long?quick=1");
}

// As Tornado's ErrorHandler (and so the 404 of an unmatched path): every
// method Tornado knows gets the status, not a 405.
TEST_F(HandlerBehaviourTest, ErrorHandlerAnswersEveryMethodWithItsStatus) {
  for (const char* method : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    auto missing = raw(fmt::format(
        "{} /nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        method));
    EXPECT_EQ(status_line(missing), "HTTP/1.1 404 Not Found") << method;
    auto gone = raw(fmt::format(
        "{} /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", method));
    EXPECT_EQ(status_line(gone), "HTTP/1.1 410 Gone") << method;
  }
}

// A HEAD whose handler flushes: headers without a length or chunking (there is
// no body to delimit), as Tornado, and the connection carries on after it.
TEST_F(HandlerBehaviourTest, HeadOfAFlushingHandlerSendsNoBody) {
  auto both =
      raw("HEAD /flushing HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /flushing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto second = both.find("\r\n\r\nHTTP/1.1 200 OK\r\n");
  ASSERT_NE(second, std::string::npos) << both;
  std::string head = both.substr(0, second + 4);
  EXPECT_EQ(status_line(head), "HTTP/1.1 200 OK");
  EXPECT_EQ(header_of(head, "Transfer-Encoding"), "(absent)");
  EXPECT_EQ(header_of(head, "Content-Length"), "(absent)");
  std::string get = both.substr(second + 4);
  EXPECT_EQ(header_of(get, "Transfer-Encoding"), "chunked");
  EXPECT_EQ(body_of(get), "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n");
}
