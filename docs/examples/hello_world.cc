// The smallest application, as docs/using.md shows it beside Tornado's.
//
//   ./hello_world        then open http://localhost:8888/
#include "tornado/ioloop.h"
#include "tornado/web.h"

class MainHandler : public tornado::web::RequestHandler {
 public:
  void get() { write("Hello, world"); }
};

int main() {
  tornado::web::Application app({{"/", tornado::web::handler<MainHandler>()}});
  app.listen(8888);
  tornado::ioloop::IOLoop::current().start();
}
