// The lesson's first server: a page at / and a WebSocket at /websocket that
// answers every message with "You said: <message>".
//
// This file is the C++ code shown in docs/lessons/05-websockets.*.md; the
// Python Tornado twin is beside it there. Build and run it from the
// repository root (it runs from any folder, though):
//
//   cmake --build build --target doc_example_echo_websocket
//   build/tests/doc_example_echo_websocket     then open http://localhost:8888/
//   build/tests/doc_example_echo_websocket --port=8000
#include <string_view>

#include <fmt/core.h>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
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
  void on_close() { tornado::log::app.info("WebSocket closed"); }
};

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "port to listen on");
  tornado::options::parse_command_line(argc, argv);  // --port=N, --logging=LEVEL
  tornado::web::Application app(
      {
          {"/", tornado::web::handler<MainHandler>()},
          {"/websocket", tornado::web::handler<EchoWebSocket>()},
      },
      // TORNADO_SOURCE_DIR: the repository's folder, which the build hands to
      // the compiler, so that the program runs from any folder.
      {.static_path = TORNADO_SOURCE_DIR "/apps/lesson5/static",
       .template_path = TORNADO_SOURCE_DIR "/templates/lesson5"});
  app.listen(tornado::options::get<int>("port"));
  tornado::ioloop::IOLoop::current().start();
}
