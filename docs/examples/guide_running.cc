// User's Guide, chapter 8 (docs/guide/08-running.*.md): a main() as it runs
// in production: options from the command line or a config file, static
// files, X-Real-IP from a proxy, and several processes sharing one port.
// Its Python twin is docs/guide/python/running.py. Run it from the
// repository root:
//
//   ./guide_running --port=8888 --processes=0      (0: one process per CPU)
#include <fmt/core.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tornado/httpserver.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/netutil.h"
#include "tornado/options.h"
#include "tornado/process.h"
#include "tornado/web.h"

class MainHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    write(fmt::format("Hello from process {} to {}\n", tornado::process::task_id().value_or(0),
                      request().remote_ip));
    write(fmt::format("A file: {}\n", static_url("hello.txt")));
  }
};

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "port to listen on (0: any free port)");
  tornado::options::define("processes", 1, "processes to fork (0: one per CPU)");
  tornado::options::define("config", std::string(), "a file of name = value lines");
  tornado::options::parse_command_line(argc, argv);
  if (auto config = tornado::options::get<std::string>("config"); !config.empty()) {
    tornado::options::parse_config_file(config);
  }

  auto sockets = tornado::netutil::bind_sockets(tornado::options::get<int>("port"), "127.0.0.1");
  tornado::log::app.info("Listening on http://127.0.0.1:{}/", sockets.at(0).port());
  // Forks here when processes is not 1; every child goes on below and
  // starts its own IOLoop. No IOLoop may exist before this line.
  if (tornado::options::get<int>("processes") != 1) {
    tornado::process::fork_processes(tornado::options::get<int>("processes"));
  }

  auto app = std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{{"/", tornado::web::handler<MainHandler>()}},
      tornado::web::Settings{.static_path = "docs/guide/static"});
  // xheaders: behind nginx, take the client's address from X-Real-IP.
  tornado::httpserver::HTTPServer server(app, {.xheaders = true});
  server.add_sockets(std::move(sockets));
  tornado::ioloop::IOLoop::current().start();
}
