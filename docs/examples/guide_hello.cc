// User's Guide, chapter 1 (docs/guide/01-introduction.*.md): the smallest
// tornado-cpp application. Its Python twin is docs/guide/python/hello.py.
//
//   ./guide_hello --port=8888        then open http://127.0.0.1:8888/
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"

class MainHandler : public tornado::web::RequestHandler {
 public:
  void get() { write("Hello, world"); }
};

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "port to listen on (0: any free port)");
  tornado::options::parse_command_line(argc, argv);

  tornado::web::Application app({
      {"/", tornado::web::handler<MainHandler>()},
  });
  auto& server = app.listen(tornado::options::get<int>("port"), "127.0.0.1");
  tornado::log::app.info("Listening on http://127.0.0.1:{}/", server.port());
  tornado::ioloop::IOLoop::current().start();
}
