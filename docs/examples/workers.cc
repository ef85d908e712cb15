// One app on several cores: the two forms docs/http.md ("Several cores")
// shows, as a program. `workers` runs one loop per CPU on threads;
// `workers fork` forks one process per CPU, as Tornado's HTTPServer.start(0).
#include <csignal>
#include <cstring>

#include "tornado/httpserver.h"
#include "tornado/ioloop.h"
#include "tornado/process.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

class MainHandler : public tornado::web::RequestHandler {
 public:
  void get() { write("Hello from worker " + std::to_string(*tornado::process::task_id()) + "\n"); }
};

std::shared_ptr<tornado::web::Application> make_app() {
  return std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{{"/", tornado::web::handler<MainHandler>()}});
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "fork") == 0) {
    auto app = make_app();
    // Processes, as Tornado's HTTPServer.start(n): bind first, then fork; the
    // children share the listening sockets. Create no IOLoop before start().
    tornado::httpserver::HTTPServer server(app);
    server.bind(8888);
    server.start(0);  // one process per CPU; `tornado::process::fork_processes`
    tornado::ioloop::IOLoop::current().start();
    return 0;
  }
  int n = tornado::process::cpu_count();
  // Threads (the default): N loops in one process, the port shared with
  // SO_REUSEPORT; the kernel spreads new connections over the loops.
  tornado::process::run_workers(n, [](int) {
    auto app = make_app();
    app->listen(8888, "", {}, {.reuse_port = true});
    auto& loop = tornado::ioloop::IOLoop::current();
    loop.add_signal_handler(
        SIGTERM, [&] { tornado::websocket::graceful_shutdown(*app, [&] { loop.stop(); }); });
    loop.start();
  });
  return 0;
}
