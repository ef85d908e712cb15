// The program docs/routing.md shows for Application's own routing: routes
// per host name (add_handlers), the default_host setting, a route nesting
// another application, and FallbackHandler handing the rest to a legacy app.
#include "tornado/ioloop.h"
#include "tornado/web.h"

class TextHandler : public tornado::web::RequestHandler {
 public:
  void initialize(std::string text) { text_ = std::move(text); }
  void get() { write(text_); }

 private:
  std::string text_;
};

class ItemHandler : public tornado::web::RequestHandler {
 public:
  void get(std::string_view id) { write("item " + std::string(id)); }
};

int main() {
  using tornado::web::handler;
  auto legacy = std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{{"/old/.*", handler<TextHandler>(std::string("legacy"))}});
  auto docs = std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{{"/docs/.*", handler<TextHandler>(std::string("docs"))}});

  tornado::web::Settings settings;
  settings.default_host = "www.example.com";  // its routes also answer direct requests
  tornado::web::Application app(
      {
          {"/", handler<TextHandler>(std::string("home"))},
          {"/docs/.*", docs},  // a nested application sees the full path
          {".*", handler<tornado::web::FallbackHandler>(legacy)},
      },
      settings);
  app.add_handlers("www\\.example\\.com", {{"/items/([0-9]+)", handler<ItemHandler>(), "item"}});
  std::string url = app.reverse_url("item", {"42"});  // "/items/42"
  (void)url;
  app.listen(8888);
  tornado::ioloop::IOLoop::current().start();
}
