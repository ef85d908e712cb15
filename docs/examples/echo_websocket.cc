// The lesson's first server: a page at / and a WebSocket at /websocket that
// answers every message with "You said: <message>".
//
// This file is the C++ code shown in docs/lessons/05-websockets.*.md; the
// Python Tornado twin is beside it there. Build it against the tornado library
// and run it from the repository root (it finds templates/lesson5/ there):
//
//   ./echo_websocket        then open http://localhost:8888/
#include <string_view>

#include <fmt/core.h>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

// GET / : the page whose script opens the WebSocket.
class MainHandler : public tornado::web::RequestHandler {
 public:
  void get() { render("index.html", {{"title", "Lekce 5: Interakce skrze websockets v Tornadu"}}); }
};

// WebSocket /websocket : one object per connected browser.
class EchoWebSocket : public tornado::websocket::WebSocketHandler {
 public:
  // Called once the handshake is done: the socket is open.
  void open() { tornado::log::app.info("WebSocket opened"); }

  // Called for every message the browser sends.
  void on_message(std::string_view message) { write_message(fmt::format("You said: {}", message)); }

  // Called once the socket is closed, by either side.
  void on_close() override { tornado::log::app.info("WebSocket closed"); }
};

int main() {
  tornado::web::Application app(
      {
          {"/", tornado::web::handler<MainHandler>()},
          {"/websocket", tornado::web::handler<EchoWebSocket>()},
      },
      {.static_path = "apps/lesson5/static", .template_path = "templates/lesson5"});
  app.listen(8888);
  tornado::ioloop::IOLoop::current().start();
}
