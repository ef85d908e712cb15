// User's Guide, chapter 6 (docs/guide/06-templates.*.md): a page rendered
// from templates (docs/guide/templates/), with inheritance, a loop, escaping,
// a function of our own and an XSRF-protected form. Its Python twin is
// docs/guide/python/templates.py. Run it from the repository root:
//
//   ./guide_templates --port=8888        then open http://127.0.0.1:8888/
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"

using Items = std::vector<std::string>;

class ItemsHandler : public tornado::web::RequestHandler {
 public:
  void initialize(std::shared_ptr<Items> items) { items_ = std::move(items); }

  void get() { render("items.html", {{"title", "My list"}, {"items", *items_}}); }

  void post() {
    items_->push_back(get_argument("item"));  // kept as typed: the template escapes it
    redirect("/");
  }

 private:
  std::shared_ptr<Items> items_;
};

// A function templates may call: {{ shout(title) }}.
nlohmann::json shout(const std::vector<nlohmann::json>& args) {
  std::string text = args.at(0).get<std::string>();
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text + "!";
}

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "port to listen on (0: any free port)");
  tornado::options::parse_command_line(argc, argv);

  auto items = std::make_shared<Items>();
  tornado::web::Application app(
      {
          {"/", tornado::web::handler<ItemsHandler>(items)},
      },
      {
          .template_path = "docs/guide/templates",
          .cookie_secret = "a long random string, kept secret",
          .xsrf_cookies = true,
          .ui_methods = {{"shout", shout}},
      });
  auto& server = app.listen(tornado::options::get<int>("port"), "127.0.0.1");
  tornado::log::app.info("Listening on http://127.0.0.1:{}/", server.port());
  tornado::ioloop::IOLoop::current().start();
}
