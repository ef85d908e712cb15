// apps/helloworld: Tornado's helloworld demo (shared/CONTRACT.md,
// "apps/<demo>"): GET / answers "Hello, world".
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"

namespace options = tornado::options;

class MainHandler : public tornado::web::RequestHandler {
 public:
  void get() { write("Hello, world"); }
};

int main(int argc, char** argv) {
  options::define("port", 8888, "run on the given port");
  options::define("address", std::string("127.0.0.1"), "bind to this address");
  options::define("debug", false, "debug mode");
  options::parse_command_line(argc, argv);

  tornado::web::Settings settings;
  settings.debug = options::get<bool>("debug");
  tornado::web::Application application({{"/", tornado::web::handler<MainHandler>()}}, settings);
  tornado::httpserver::HTTPServer http_server(application);
  http_server.listen(options::get<int>("port"), options::get<std::string>("address"));
  tornado::log::app.info("helloworld listening on {}:{}", options::get<std::string>("address"),
                         http_server.port());
  tornado::ioloop::IOLoop::current().start();
}
