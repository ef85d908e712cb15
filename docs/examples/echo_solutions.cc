// Solutions to the lesson's echo exercises (docs/lessons/05-websockets.*.md):
// the server greets every client by itself, counts each connection's
// messages, and tells every client the time every 10 seconds. It serves the
// same echo page as echo_websocket.cc; the Python twin is
// docs/lessons/python/echo_solutions.py.
//
//   cmake --build build --target doc_example_echo_solutions
//   build/tests/doc_example_echo_solutions     then open http://localhost:8888/
#include <chrono>
#include <ctime>
#include <string>
#include <string_view>
#include <unordered_set>

#include <fmt/chrono.h>
#include <fmt/core.h>

#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

class MainHandler : public tornado::web::RequestHandler {
 public:
  void get() { render("index.html", {{"title", "Lekce 5: Interakce skrze websockets v Tornadu"}}); }
};

class CountingEchoWebSocket : public tornado::websocket::WebSocketHandler {
 public:
  // Every open connection, for the clock (one loop, so no lock).
  static std::unordered_set<CountingEchoWebSocket*>& clients() {
    static thread_local std::unordered_set<CountingEchoWebSocket*> all;
    return all;
  }

  void open() {
    clients().insert(this);
    write_message("Hello from the server");  // nobody asked: the server speaks first
  }

  void on_message(std::string_view message) {
    ++count_;  // a member: every connection (every object) counts on its own
    write_message(fmt::format("You said ({}): {}", count_, message));
  }

  void on_close() { clients().erase(this); }

 private:
  int count_ = 0;
};

// Started once in main(), not per connection: one clock for everybody.
void tell_the_time() {
  std::string text = fmt::format("Server time: {:%H:%M:%S}", fmt::localtime(std::time(nullptr)));
  for (CountingEchoWebSocket* client : CountingEchoWebSocket::clients()) {
    client->write_message(text);
  }
}

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "port to listen on");
  tornado::options::parse_command_line(argc, argv);
  tornado::web::Application app(
      {
          {"/", tornado::web::handler<MainHandler>()},
          {"/websocket", tornado::web::handler<CountingEchoWebSocket>()},
      },
      {.static_path = TORNADO_SOURCE_DIR "/apps/lesson5/static",
       .template_path = TORNADO_SOURCE_DIR "/templates/lesson5"});
  app.listen(tornado::options::get<int>("port"));
  tornado::ioloop::PeriodicCallback clock(tell_the_time, std::chrono::seconds(10));
  clock.start();
  tornado::ioloop::IOLoop::current().start();
}
