// A program that uses tornado-cpp as a library, the way a project in its own
// repository does: a page rendered from a template, a WebSocket, and a
// client that checks both over loopback.
//
//   consumer           serves on a free port, fetches / and talks to /ws,
//                      prints "consumer: ok" and exits 0 if the answers match
//   consumer 8888      serves on port 8888 until interrupted
//
// docs/using.md builds it with find_package, pkg-config and add_subdirectory.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/template.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

namespace {

// GET /?name=... : a page from a template (compiled once, rendered per request).
class HelloHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    static const tornado::template_::Template page("<p>Hello, {{ name }}!</p>");
    finish(page.generate({{"name", get_argument("name", "world")}}));
  }
};

// WebSocket /ws : answers every message with "echo: <message>".
class EchoSocket : public tornado::websocket::WebSocketHandler {
 public:
  void on_message(std::string_view message) { write_message("echo: " + std::string(message)); }
};

std::shared_ptr<tornado::web::Application> make_app() {
  return std::make_shared<tornado::web::Application>(std::vector<tornado::web::URLSpec>{
      {"/", tornado::web::handler<HelloHandler>()},
      {"/ws", tornado::web::handler<EchoSocket>()},
  });
}

// Fetches the page and exchanges one WebSocket message; true if both answers
// are the expected ones. The name is escaped by the template.
tornado::Task<bool> check(int port) {
  std::string base = "127.0.0.1:" + std::to_string(port);
  tornado::httpclient::AsyncHTTPClient client;
  auto response = co_await client.fetch("http://" + base + "/?name=%3Cconsumer%3E");
  bool page_ok = response.code == 200 && response.body == "<p>Hello, &lt;consumer&gt;!</p>";
  std::printf("GET / -> %d %s\n", response.code, response.body.c_str());

  auto ws = co_await tornado::websocket::websocket_connect("ws://" + base + "/ws");
  co_await ws->write_message("ping");
  auto reply = co_await ws->read_message();
  bool ws_ok = reply && *reply == "echo: ping";
  std::printf("WS /ws -> %s\n", reply ? reply->c_str() : "(closed)");
  ws->close();
  const bool ok = page_ok && ws_ok;
  co_return ok;
}

}  // namespace

int main(int argc, char** argv) {
  auto& loop = tornado::ioloop::IOLoop::current();
  auto app = make_app();
  if (argc > 1) {
    app->listen(std::atoi(argv[1]));
    loop.start();
    return 0;
  }
  int port = app->listen(0, "127.0.0.1").port();
  bool ok = loop.run_sync([&] { return check(port); }, std::chrono::seconds(20));
  app->stop_listening();
  std::printf("consumer: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
