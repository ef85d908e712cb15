// End-to-end tests of tornado::websocket: WebSocketHandler on a real server,
// driven by the project's client (ws:// and wss://) and by raw handshakes.
#include "tornado/websocket.h"

#include <gtest/gtest.h>

#include <fmt/ranges.h>

#include <thread>

#include "tornado/ioloop.h"
#include "tornado/locks.h"
#include "tornado/log.h"
#include "tornado/tcpclient.h"
#include "tornado/testing.h"

using namespace std::chrono_literals;
using tornado::Task;
using tornado::ioloop::IOLoop;
using tornado::websocket::WebSocketHandler;

namespace {

class EchoWebSocket : public WebSocketHandler {
 public:
  void open() { write_message("hello"); }
  void on_message(std::string_view message) {
    if (message == "close please") {
      close(4000, "asked to");
      return;
    }
    write_message(message, {.binary = last_message_binary()});
  }
  bool check_origin(std::string_view) override { return true; }
  std::size_t max_message_size() override { return 1024; }
  std::optional<tornado::websocket::CompressionOptions> get_compression_options() override {
    return tornado::websocket::CompressionOptions{};
  }
};

// A coroutine on_message: the next message waits until it has finished.
class SlowEcho : public WebSocketHandler {
 public:
  Task<> on_message(std::string_view message) {
    std::string copy(message);
    co_await tornado::sleep(std::chrono::milliseconds(copy == "slow" ? 30 : 0));
    write_message(copy);
  }
};

class PathSocket : public WebSocketHandler {
 public:
  void open(std::string_view room) { write_message(std::string("room ") + std::string(room)); }
  void on_message(std::string_view) {}
};

// Reports, on each message, the handler state that outlives the upgrade:
// the route's groups, the user set in prepare() or on a message, the locale,
// the status. A handler that kept none of it gives its state block back at
// open(); what it reads later must be as before.
class StateSocket : public WebSocketHandler {
 public:
  void prepare() {
    if (request().query_arguments.count("user")) set_current_user(nlohmann::json("ann"));
  }
  void open(std::string_view room = {}) { (void)room; }
  void on_message(std::string_view message) {
    if (message == "login") set_current_user(nlohmann::json("bob"));
    const auto& user = current_user();
    write_message(fmt::format("{} {} {} {} {} {}", path_args().size(),
                              path_args().empty() ? "-" : path_args()[0],
                              user ? user->get<std::string>() : "-", get_status(), locale().code(),
                              response_headers().empty()));
  }
};

// Reports the request as a handler reads it after the upgrade (when it is
// kept packed until asked for) next to what prepare() read before it.
class RequestSocket : public WebSocketHandler {
 public:
  void prepare() {
    // Fields the request derives from others, changed by the application
    // (as a proxy-aware prepare() might): they must survive packing as set.
    if (request().query_arguments.count("modify")) {
      request().path = "/elsewhere";
      request().host = "example.com:8080";
      request().body = "kept";
    }
    before_ = describe();
  }
  void on_message(std::string_view) {
    write_message(before_);
    write_message(describe());
    write_message(connection() ? "connection kept" : "connection released");
  }

 private:
  std::string describe() {
    const auto& r = request();
    std::string out =
        fmt::format("{} {} {} {} {} {} {} {} {} [{}]|", r.method, r.uri, r.version, r.remote_ip,
                    r.protocol, r.host, r.host_name, r.path, r.query, r.body);
    for (const auto& [name, value] : r.headers) out += fmt::format("{}={};", name, value);
    out += "|";
    for (const auto* args : {&r.arguments, &r.query_arguments, &r.body_arguments}) {
      for (const auto& [name, values] : *args) out += fmt::format("{}={};", name, values);
      out += "|";
    }
    out += fmt::format("{}", r.start_time.time_since_epoch().count());
    for (const auto& [name, value] : r.cookies()) out += fmt::format("|{}={}", name, value);
    return out;
  }
  std::string before_;
};

class WebSocketTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }

  void start(tornado::httpserver::HTTPServerSettings settings) {
    app_ = std::make_unique<tornado::web::Application>(std::vector<tornado::web::URLSpec>{
        {"/echo", tornado::web::handler<EchoWebSocket>()},
        {"/slow", tornado::web::handler<SlowEcho>()},
        {"/room/([a-z]+)", tornado::web::handler<PathSocket>()},
        {"/request", tornado::web::handler<RequestSocket>()},
        {"/state", tornado::web::handler<StateSocket>()},
        {"/state/([a-z]+)", tornado::web::handler<StateSocket>()},
    });
    port_ = app_->listen(0, "127.0.0.1", std::move(settings)).port();
  }

  std::string url(std::string_view path, std::string_view scheme = "ws") {
    return fmt::format("{}://127.0.0.1:{}{}", scheme, port_, path);
  }

  Task<std::string> raw_handshake(std::string headers) {
    auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port_);
    co_await stream->write("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n");
    std::string head = co_await stream->read_until("\r\n\r\n", 65536);
    co_return head.substr(0, head.find("\r\n"));
  }

  IOLoop loop_;
  std::unique_ptr<tornado::web::Application> app_;
  int port_ = 0;
};

}  // namespace

TEST_F(WebSocketTest, EchoTextAndBinary) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/echo"));
        EXPECT_EQ(co_await ws->read_message(), "hello");
        co_await ws->write_message("Příliš žluťoučký kůň");
        EXPECT_EQ(co_await ws->read_message(), "Příliš žluťoučký kůň");
        EXPECT_FALSE(ws->last_message_binary());
        std::string bytes("\x00\x01\xff", 3);
        co_await ws->write_message(bytes, {.binary = true});
        EXPECT_EQ(co_await ws->read_message(), bytes);
        EXPECT_TRUE(ws->last_message_binary());
      },
      10s);
}

TEST_F(WebSocketTest, ServerCloseCarriesCodeAndReason) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/echo"));
        EXPECT_EQ(co_await ws->read_message(), "hello");
        co_await ws->write_message("close please");
        EXPECT_EQ(co_await ws->read_message(), std::nullopt);
        EXPECT_EQ(ws->close_code(), 4000);
        EXPECT_EQ(ws->close_reason(), "asked to");
      },
      10s);
}

TEST_F(WebSocketTest, MessageOverTheLimitIsClosedWith1009) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/echo"));
        EXPECT_EQ(co_await ws->read_message(), "hello");
        co_await ws->write_message(std::string(2000, 'x'));
        EXPECT_EQ(co_await ws->read_message(), std::nullopt);
        EXPECT_EQ(ws->close_code(), 1009);
      },
      10s);
}

TEST_F(WebSocketTest, CompressionIsNegotiatedAndWorks) {
  loop_.run_sync(
      [&]() -> Task<> {
        tornado::websocket::ConnectOptions options;
        options.compression_options = tornado::websocket::CompressionOptions{};
        auto ws = co_await tornado::websocket::websocket_connect(url("/echo"), std::move(options));
        EXPECT_TRUE(ws->compression().has_value());
        EXPECT_EQ(co_await ws->read_message(), "hello");
        std::string text(900, 'a');
        co_await ws->write_message(text);
        EXPECT_EQ(co_await ws->read_message(), text);
      },
      10s);
}

TEST_F(WebSocketTest, CoroutineOnMessageKeepsOrder) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/slow"));
        co_await ws->write_message("slow");
        co_await ws->write_message("fast");
        EXPECT_EQ(co_await ws->read_message(), "slow");
        EXPECT_EQ(co_await ws->read_message(), "fast");
      },
      10s);
}

TEST_F(WebSocketTest, OpenReceivesPathArguments) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/room/kitchen"));
        EXPECT_EQ(co_await ws->read_message(), "room kitchen");
      },
      10s);
}

// An open connection keeps its request packed and its HTTP connection
// object released (memory per idle WebSocket); the request read after the
// upgrade is the one read before it, field for field.
TEST_F(WebSocketTest, RequestReadAfterTheUpgradeIsTheSame) {
  loop_.run_sync(
      [&]() -> Task<> {
        tornado::websocket::ConnectOptions options;
        options.headers.add("Cookie", "a=1; b=two");
        options.headers.add("X-Repeated", "one");
        options.headers.add("X-Repeated", "two");
        auto ws = co_await tornado::websocket::websocket_connect(
            url("/request?x=1&y=%C5%BE&x=3&empty="), std::move(options));
        co_await ws->write_message("go");
        auto before = co_await ws->read_message();
        auto after = co_await ws->read_message();
        EXPECT_EQ(before, after);
        EXPECT_NE(before->find("x=[\"1\", \"3\"]"), std::string::npos) << *before;
        EXPECT_NE(before->find("X-Repeated=two;"), std::string::npos) << *before;
        EXPECT_NE(before->find("|b=two"), std::string::npos) << *before;
        EXPECT_EQ(co_await ws->read_message(), "connection released");

        auto modified = co_await tornado::websocket::websocket_connect(url("/request?modify=1"));
        co_await modified->write_message("go");
        before = co_await modified->read_message();
        after = co_await modified->read_message();
        EXPECT_EQ(before, after);
        EXPECT_NE(before->find(" example.com:8080 127.0.0.1 /elsewhere modify=1 [kept]|"),
                  std::string::npos)
            << *before;
      },
      10s);
}

TEST_F(WebSocketTest, HandlerStateReadAfterTheUpgradeIsTheSame) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto bare = co_await tornado::websocket::websocket_connect(url("/state"));
        co_await bare->write_message("look");
        EXPECT_EQ(co_await bare->read_message(), "0 - - 101 en_US true");
        co_await bare->write_message("login");
        EXPECT_EQ(co_await bare->read_message(), "0 - bob 101 en_US true");
        co_await bare->write_message("look");
        EXPECT_EQ(co_await bare->read_message(), "0 - bob 101 en_US true");

        auto kept = co_await tornado::websocket::websocket_connect(url("/state/kitchen?user=1"));
        co_await kept->write_message("look");
        EXPECT_EQ(co_await kept->read_message(), "1 kitchen ann 101 en_US true");
      },
      10s);
}

TEST_F(WebSocketTest, BadHandshakesAreRefused) {
  const std::string upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
  const std::string key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  EXPECT_EQ(loop_.run_sync(
                [&] { return raw_handshake(upgrade + key + "Sec-WebSocket-Version: 8\r\n"); }, 10s),
            "HTTP/1.1 426 Upgrade Required");
  EXPECT_EQ(loop_.run_sync(
                [&] {
                  return raw_handshake(upgrade +
                                       "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n");
                },
                10s),
            "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(
      loop_.run_sync([&] { return raw_handshake(key + "Sec-WebSocket-Version: 13\r\n"); }, 10s),
      "HTTP/1.1 400 Bad Request");
  EXPECT_EQ(
      loop_.run_sync([&] { return raw_handshake(upgrade + key + "Sec-WebSocket-Version: 13\r\n"); },
                     10s),
      "HTTP/1.1 101 Switching Protocols");
}

// Pings keep a peer that answers them open and drop one that does not
// (their timers and the last pong are kept in a block made by start_pings).
TEST_F(WebSocketTest, PingTimeoutDropsOnlyThePeerThatNeverAnswers) {
  tornado::web::Settings settings;
  settings.websocket_ping_interval = 20ms;
  settings.websocket_ping_timeout = 100ms;
  tornado::web::Application app({{"/echo", tornado::web::handler<EchoWebSocket>()}}, settings);
  const int port = app.listen(0, "127.0.0.1").port();
  loop_.run_sync(
      [&]() -> Task<> {
        // The project's client answers every ping on its own.
        auto ws = co_await tornado::websocket::websocket_connect(
            fmt::format("ws://127.0.0.1:{}/echo", port));
        EXPECT_EQ(co_await ws->read_message(), "hello");
        // A raw peer that never answers: pinged, then dropped without a close frame.
        auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port);
        co_await stream->write(
            "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n");
        const std::string received = co_await stream->read_until_close();
        EXPECT_EQ(received.rfind("HTTP/1.1 101", 0), 0u);
        EXPECT_NE(received.find(std::string("\x89\x00", 2)), std::string::npos);
        EXPECT_EQ(received.find('\x88'), std::string::npos);
        // The answering client outlived the timeout and still echoes.
        co_await ws->write_message("still here");
        EXPECT_EQ(co_await ws->read_message(), "still here");
      },
      10s);
}

TEST_F(WebSocketTest, CrossOriginIsRefusedByDefault) {
  app_ = std::make_unique<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{{"/strict", tornado::web::handler<SlowEcho>()}});
  port_ = app_->listen(0, "127.0.0.1").port();
  auto status = [&](std::string origin) {
    return loop_.run_sync(
        [&, origin]() -> Task<std::string> {
          auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port_);
          co_await stream->write(fmt::format(
              "GET /strict HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: "
              "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: "
              "13\r\nOrigin: {}\r\n\r\n",
              port_, origin));
          std::string head = co_await stream->read_until("\r\n\r\n", 65536);
          co_return head.substr(0, head.find("\r\n"));
        },
        10s);
  };
  EXPECT_EQ(status("http://evil.example"), "HTTP/1.1 403 Forbidden");
  EXPECT_EQ(status(fmt::format("http://127.0.0.1:{}", port_)), "HTTP/1.1 101 Switching Protocols");
}

TEST(WebSocketTlsTest, EchoOverWss) {
  IOLoop loop;
  tornado::testing::SelfSignedCertificate cert;
  tornado::web::Application app({{"/echo", tornado::web::handler<EchoWebSocket>()}});
  tornado::httpserver::HTTPServerSettings settings;
  settings.ssl_options = cert.server_ssl_options();
  int port = app.listen(0, "127.0.0.1", std::move(settings)).port();
  loop.run_sync(
      [&]() -> Task<> {
        tornado::websocket::ConnectOptions options;
        options.ca_certs = cert.certfile();
        auto ws = co_await tornado::websocket::websocket_connect(
            fmt::format("wss://localhost:{}/echo", port), std::move(options));
        EXPECT_EQ(co_await ws->read_message(), "hello");
        co_await ws->write_message("over TLS");
        EXPECT_EQ(co_await ws->read_message(), "over TLS");
      },
      10s);
}

namespace {

// Authentication before the upgrade, as Tornado apps do it: prepare()
// refuses a request without the `user` cookie; open() counts who got in.
int auth_opened = 0;

class AuthSocket : public WebSocketHandler {
 public:
  void prepare() {
    if (!get_cookie("user")) throw tornado::web::HTTPError(403);
  }
  void open() { ++auth_opened; }
  void on_message(std::string_view message) { write_message(message); }
};

// The same with a coroutine prepare() that answers by redirecting.
class AsyncAuthSocket : public WebSocketHandler {
 public:
  Task<> prepare() {
    co_await tornado::sleep(1ms);
    if (!current_user()) redirect("/login", false);
  }
  std::optional<nlohmann::json> get_current_user() override {
    auto user = get_cookie("user");
    if (!user) return std::nullopt;
    return nlohmann::json(*user);
  }
  void open() { ++auth_opened; }
  void on_message(std::string_view message) { write_message(message); }
};

Task<std::string> handshake_status(int port, std::string path, std::string extra) {
  auto stream = co_await tornado::tcpclient::TCPClient().connect("127.0.0.1", port);
  co_await stream->write(
      "GET " + path +
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
      extra + "\r\n");
  std::string head = co_await stream->read_until("\r\n\r\n", 65536);
  co_return head;
}

}  // namespace

TEST_F(WebSocketTest, PrepareRunsBeforeTheUpgradeAndCanRefuseIt) {
  app_->add_handlers({{"/auth", tornado::web::handler<AuthSocket>()},
                      {"/auth-async", tornado::web::handler<AsyncAuthSocket>()}});
  auth_opened = 0;
  tornado::testing::ExpectLog refused(tornado::log::access, "403 GET /auth");
  auto head = [&](std::string path, std::string extra) {
    return loop_.run_sync([&] { return handshake_status(port_, path, extra); }, 10s);
  };
  EXPECT_TRUE(head("/auth", "").starts_with("HTTP/1.1 403 Forbidden\r\n"));
  auto redirected = head("/auth-async", "");
  EXPECT_TRUE(redirected.starts_with("HTTP/1.1 302 Found\r\n")) << redirected;
  EXPECT_NE(redirected.find("\r\nLocation: /login\r\n"), std::string::npos) << redirected;
  EXPECT_EQ(auth_opened, 0);
  EXPECT_TRUE(head("/auth", "Cookie: user=ada\r\n").starts_with("HTTP/1.1 101 "));
  EXPECT_TRUE(head("/auth-async", "Cookie: user=ada\r\n").starts_with("HTTP/1.1 101 "));
  // open() runs once the handshake is answered; wait for both.
  loop_.run_sync(
      [&]() -> Task<> {
        while (auth_opened < 2) co_await tornado::sleep(1ms);
      },
      5s);
  EXPECT_EQ(auth_opened, 2);
}

// The client writes every handshake line through the one checked writer: a
// header or a URL with CR or LF cannot add lines to the request.
TEST_F(WebSocketTest, ClientRefusesHeaderInjection) {
  auto attempt = [&](std::string url, std::string name, std::string value) {
    return loop_.run_sync(
        [&]() -> Task<std::string> {
          tornado::websocket::ConnectOptions options;
          try {
            options.headers.add(name, value);
            auto ws = co_await tornado::websocket::websocket_connect(url, std::move(options));
          } catch (const std::invalid_argument& e) {
            co_return std::string(e.what());
          }
          co_return std::string("connected");
        },
        10s);
  };
  EXPECT_EQ(attempt(url("/echo"), "X-Ok", "fine"), "connected");
  EXPECT_NE(attempt(url("/echo"), "X-Bad", "a\r\nX-Injected: 1").find("unsafe header"),
            std::string::npos);
  EXPECT_NE(attempt(url("/echo"), "X-Bad", std::string("a\0b", 3)).find("unsafe header"),
            std::string::npos);
  EXPECT_NE(attempt(url("/echo"), "X-Bad\r\nX-Injected", "1").find("invalid header name"),
            std::string::npos);
  EXPECT_NE(attempt(url("/echo\r\nX-Injected: 1"), "X-Ok", "fine").find("Illegal characters"),
            std::string::npos);
}

TEST_F(WebSocketTest, CancelledReadLeavesTheNextMessageForTheNextRead) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/echo"));
        EXPECT_EQ(co_await ws->read_message(), "hello");
        auto reading = tornado::to_future(ws->read_message());
        co_await tornado::moment();
        EXPECT_TRUE(reading.cancel());
        EXPECT_THROW(co_await reading, tornado::CancelledError);
        // The cancelled read took nothing: the echo goes to the next read.
        co_await ws->write_message("after the cancel");
        EXPECT_EQ(co_await ws->read_message(), "after the cancel");
      },
      10s);
}

// ---------------------------------------------------------------------------
// One rule for every WebSocket hook (issue 16): open, on_message,
// on_binary_message, on_close, on_ping and on_pong are found by name, each
// plain or a Task<> coroutine; on_message may be left out and may take its
// message as std::string_view, const std::string& or std::string.

namespace {

// Push-only: no on_message at all.
class PushOnlySocket : public WebSocketHandler {
 public:
  Task<> open() {
    write_message("pushed 1");
    co_await tornado::sleep(1ms);
    write_message("pushed 2");
  }
};

class ConstRefSocket : public WebSocketHandler {
 public:
  void on_message(const std::string& message) { write_message("const& " + message); }
  void on_binary_message(std::string data) {
    write_message("binary " + std::to_string(data.size()), {.binary = true});
  }
};

class ByValueSocket : public WebSocketHandler {
 public:
  Task<> on_message(std::string message) {
    co_await tornado::sleep(1ms);
    write_message("value " + message);
  }
};

// Every hook found by name; on_close a coroutine that reports to the test.
class HooksSocket : public WebSocketHandler {
 public:
  void initialize(tornado::locks::Event* closed, std::string* log) {
    closed_ = closed;
    log_ = log;
  }
  void open() { ping("from server"); }
  void on_message(std::string_view message) {
    write_message(std::string("got ") + std::string(message));
  }
  void on_ping(std::string_view data) { write_message("ping " + std::string(data)); }
  Task<> on_pong(std::string data) {
    co_await tornado::sleep(1ms);
    write_message("pong " + data);
  }
  Task<> on_close() {
    co_await tornado::sleep(1ms);
    *log_ += fmt::format("closed {}", close_code().value_or(0));
    closed_->set();
  }

 private:
  tornado::locks::Event* closed_ = nullptr;
  std::string* log_ = nullptr;
};

class HookRuleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_ = std::make_unique<tornado::web::Application>(std::vector<tornado::web::URLSpec>{
        {"/push", tornado::web::handler<PushOnlySocket>()},
        {"/constref", tornado::web::handler<ConstRefSocket>()},
        {"/value", tornado::web::handler<ByValueSocket>()},
        {"/hooks", tornado::web::handler<HooksSocket>(&closed_, &log_)},
    });
    port_ = app_->listen(0, "127.0.0.1").port();
  }
  std::string url(std::string_view path) const {
    return fmt::format("ws://127.0.0.1:{}{}", port_, path);
  }
  IOLoop loop_;
  tornado::locks::Event closed_;
  std::string log_;
  std::unique_ptr<tornado::web::Application> app_;
  int port_ = 0;
};

}  // namespace

TEST_F(HookRuleTest, PushOnlyHandlerNeedsNoOnMessage) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/push"));
        EXPECT_EQ(co_await ws->read_message(), "pushed 1");
        EXPECT_EQ(co_await ws->read_message(), "pushed 2");
        co_await ws->write_message("dropped: nobody listens");
        ws->close();
        EXPECT_EQ(co_await ws->read_message(), std::nullopt);
      },
      10s);
}

TEST_F(WebSocketTest, WriteMessageFromAnotherThreadIsRefusedNotRaced) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/echo"));
        EXPECT_EQ(co_await ws->read_message(), "hello");
        std::string refused;
        std::thread worker([&] {
          try {
            (void)ws->write_message("from a worker");
          } catch (const std::logic_error& e) {
            refused = e.what();
          }
        });
        worker.join();
        EXPECT_NE(refused.find("add_callback"), std::string::npos) << refused;
        // The way that works: the worker hands the message to the loop.
        std::thread handing(
            [&] { loop_.add_callback([&] { (void)ws->write_message("via the loop"); }); });
        handing.join();
        EXPECT_EQ(co_await ws->read_message(), "via the loop");
      },
      10s);
}

TEST_F(HookRuleTest, OnMessageTakesConstRefOrValue) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/constref"));
        co_await ws->write_message("a");
        EXPECT_EQ(co_await ws->read_message(), "const& a");
        co_await ws->write_message("xyz", {.binary = true});
        EXPECT_EQ(co_await ws->read_message(), "binary 3");
        auto by_value = co_await tornado::websocket::websocket_connect(url("/value"));
        co_await by_value->write_message("b");
        EXPECT_EQ(co_await by_value->read_message(), "value b");
      },
      10s);
}

TEST_F(HookRuleTest, CloseAndControlHooksAreFoundByName) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/hooks"));
        // The server pinged on open; the client's automatic pong comes back.
        EXPECT_EQ(co_await ws->read_message(), "pong from server");
        ws->ping("from client");
        EXPECT_EQ(co_await ws->read_message(), "ping from client");
        co_await ws->write_message("m");
        EXPECT_EQ(co_await ws->read_message(), "got m");
        ws->close(4001);
        co_await closed_.wait();
      },
      10s);
  EXPECT_EQ(log_, "closed 4001");
}

// ---------------------------------------------------------------------------
// The read loop is the stream's read callback (issue 20: an idle connection
// keeps no coroutine frame); a coroutine on_message still holds the reads.

namespace {

// Its coroutine on_message throws after suspending once.
class ThrowingSocket : public WebSocketHandler {
 public:
  void initialize(tornado::locks::Event* closed) { closed_ = closed; }
  Task<> on_message(std::string message) {
    co_await tornado::moment();
    if (message == "throw") throw std::runtime_error("on_message failed");
    write_message("ok " + message);
  }
  void on_close() { closed_->set(); }

 private:
  tornado::locks::Event* closed_ = nullptr;
};

// A coroutine on_message that never suspends: thousands of messages from
// one read are handled one after the other, not by recursion.
class CountingSocket : public WebSocketHandler {
 public:
  Task<> on_message(std::string_view message) {
    ++count_;
    if (message == "last") write_message(std::to_string(count_));
    co_return;
  }

 private:
  int count_ = 0;
};

class ReadCallbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    app_ = std::make_unique<tornado::web::Application>(std::vector<tornado::web::URLSpec>{
        {"/throwing", tornado::web::handler<ThrowingSocket>(&closed_)},
        {"/counting", tornado::web::handler<CountingSocket>()},
    });
    port_ = app_->listen(0, "127.0.0.1").port();
  }
  std::string url(std::string_view path) const {
    return fmt::format("ws://127.0.0.1:{}{}", port_, path);
  }
  IOLoop loop_;
  tornado::locks::Event closed_;
  std::unique_ptr<tornado::web::Application> app_;
  int port_ = 0;
};

// The settings docs/websocket.md gives for idle compressed connections.
class LowMemoryEcho : public WebSocketHandler {
 public:
  void on_message(std::string_view message) { write_message(message); }
  std::optional<tornado::websocket::CompressionOptions> get_compression_options() override {
    return tornado::websocket::CompressionOptions{.mem_level = 1,
                                                  .server_no_context_takeover = true,
                                                  .client_no_context_takeover = true,
                                                  .server_max_window_bits = 9,
                                                  .client_max_window_bits = 9,
                                                  .release_state_between_messages = true};
  }
};

}  // namespace

TEST_F(ReadCallbackTest, CoroutineOnMessageThatThrowsClosesWith1011AndRunsOnClose) {
  tornado::testing::ExpectLog logged(tornado::log::app, "Uncaught exception");
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/throwing"));
        co_await ws->write_message("a");
        EXPECT_EQ(co_await ws->read_message(), "ok a");
        co_await ws->write_message("throw");
        EXPECT_EQ(co_await ws->read_message(), std::nullopt);
        EXPECT_EQ(ws->close_code(), 1011);
        co_await closed_.wait();
      },
      10s);
}

TEST_F(ReadCallbackTest, ManyMessagesOfOneReadGoThroughACoroutineOnMessage) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto ws = co_await tornado::websocket::websocket_connect(url("/counting"));
        constexpr int kMessages = 50000;
        for (int i = 1; i < kMessages; ++i) (void)ws->write_message("m");
        co_await ws->write_message("last");
        EXPECT_EQ(co_await ws->read_message(), std::to_string(kMessages));
      },
      30s);
}

TEST_F(ReadCallbackTest, CloseAllClosesEveryOpenConnectionOfTheLoop) {
  loop_.run_sync(
      [&]() -> Task<> {
        auto a = co_await tornado::websocket::websocket_connect(url("/counting"));
        auto b = co_await tornado::websocket::websocket_connect(url("/counting"));
        auto c = co_await tornado::websocket::websocket_connect(url("/counting"));
        // One that has closed already is no longer in the list.
        c->close();
        EXPECT_EQ(co_await c->read_message(), std::nullopt);
        // Both are open on the server once a message has gone through.
        co_await a->write_message("last");
        EXPECT_EQ(co_await a->read_message(), "1");
        co_await b->write_message("last");
        EXPECT_EQ(co_await b->read_message(), "1");
        tornado::websocket::close_all(1001, "going away");
        EXPECT_EQ(co_await a->read_message(), std::nullopt);
        EXPECT_EQ(co_await b->read_message(), std::nullopt);
        EXPECT_EQ(a->close_code(), 1001);
        EXPECT_EQ(b->close_code(), 1001);
        EXPECT_EQ(b->close_reason(), "going away");
      },
      10s);
}

TEST(WebSocketCompressionTest, ReleasedStateAnswersTheOfferAndRoundTrips) {
  IOLoop loop;
  tornado::web::Application app({{"/echo", tornado::web::handler<LowMemoryEcho>()}});
  int port = app.listen(0, "127.0.0.1").port();
  loop.run_sync(
      [&]() -> Task<> {
        // The server frees its streams between messages; the client too in
        // the second round. The server asked for no context takeover both ways.
        for (bool client_releases : {false, true}) {
          tornado::websocket::ConnectOptions options;
          options.compression_options = tornado::websocket::CompressionOptions{
              .release_state_between_messages = client_releases};
          auto ws = co_await tornado::websocket::websocket_connect(
              fmt::format("ws://127.0.0.1:{}/echo", port), std::move(options));
          EXPECT_EQ(ws->compression(), (tornado::detail::ws::DeflateParams{true, true, 9, 9}));
          for (int i = 0; i < 20; ++i) {
            std::string message = fmt::format(
                "{{\"id\": {}, \"user\": \"user{}\", \"tags\": [\"a\", \"b\"], \"pad\": \"{}\"}}",
                i, i * 7, std::string(static_cast<std::size_t>(i * 97 % 1500), 'x'));
            co_await ws->write_message(message);
            EXPECT_EQ(co_await ws->read_message(), message);
          }
          ws->close();
        }
      },
      10s);
}
