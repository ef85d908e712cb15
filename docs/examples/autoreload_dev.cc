// The program docs/autoreload.md shows: a development server that restarts
// itself when it is rebuilt, a template changes or config.json changes.
#include <cstdio>

#include "tornado/autoreload.h"
#include "tornado/ioloop.h"
#include "tornado/web.h"

class MainHandler : public tornado::web::RequestHandler {
 public:
  void get() { render("index.html"); }
};

int main() {
  tornado::web::Settings settings;
  settings.debug = true;  // or: settings.autoreload = true
  settings.template_path = "templates";
  tornado::web::Application app({{"/", tornado::web::handler<MainHandler>()}}, settings);
  tornado::autoreload::watch("config.json");
  tornado::autoreload::add_reload_hook([] { std::fflush(nullptr); });
  app.listen(8888);
  tornado::ioloop::IOLoop::current().start();
}
