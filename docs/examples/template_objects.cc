// docs/template.md, "Objects, UI modules and the namespace", as a program:
// an application type bound for templates, a UI module with its own CSS and
// JavaScript, a ui_method, and a handler adding to the namespace.
// `template_objects` prints a page rendered from a DictLoader; with
// `serve` it serves it on http://localhost:8888/.
#include <chrono>
#include <cstring>
#include <iostream>

#include "tornado/ioloop.h"
#include "tornado/template.h"
#include "tornado/web.h"

namespace tmpl = tornado::template_;

// An application type...
struct Entry {
  std::string title;
  std::string slug;
  std::chrono::system_clock::time_point published;
};

// ...and what templates may read of it: entry.title, entry.published.strftime(...),
// entry.url() and {{ entry }}.
template <>
struct tornado::template_::Binding<Entry> {
  static void bind(Class<Entry>& c) {
    c.name("Entry")
        .attribute("title", &Entry::title)
        .attribute("published", &Entry::published)
        .method("url", [](const Entry& e, const Arguments&) -> Value { return "/entry/" + e.slug; })
        .str([](const Entry& e) { return e.title; });
  }
};

// Tornado: class EntryModule(tornado.web.UIModule)
class EntryModule : public tornado::web::UIModule {
 public:
  using UIModule::UIModule;
  std::string render(const tmpl::Arguments& args) override {
    return render_string("modules/entry.html", {{"entry", args.at(0, "entry")}});
  }
  std::string embedded_css() override { return ".entry { margin: 1em 0 }"; }
  std::vector<std::string> javascript_files() override { return {"entry.js"}; }
};

std::vector<Entry> recent_entries() {
  using namespace std::chrono;
  return {{"Hello, templates", "hello", sys_days{year{2024} / 3 / 9} + hours{14}},
          {"Objects & modules", "objects", sys_days{year{2024} / 4 / 1} + hours{9}}};
}

class HomeHandler : public tornado::web::RequestHandler {
 public:
  void get() { render("home.html", {{"entries", recent_entries()}, {"count", 2}}); }

  // Tornado: def get_template_namespace(self): ns = super()...; ns.update(...)
  tmpl::Namespace get_template_namespace() override {
    tmpl::Namespace ns = RequestHandler::get_template_namespace();
    ns.set("year", 2024);
    return ns;
  }
};

const std::map<std::string, std::string, std::less<>> kTemplates = {
    {"home.html",
     "<html><head><title>{{ handler.settings['blog_title'] }}</title></head><body>\n"
     "{% for entry in entries %}{% module Entry(entry) %}{% end %}\n"
     "<p>{{ count }} posts, {{ year }}, {{ shout('bye') }} from {{ request.path }}</p>\n"
     "</body></html>\n"},
    {"modules/entry.html",
     "<div class=\"entry\"><a href=\"{{ entry.url() }}\">{{ entry }}</a> "
     "{{ entry.published.strftime('%d %b %Y') }}</div>\n"},
};

std::unique_ptr<tornado::web::Application> make_app() {
  tornado::web::Settings settings;
  settings.template_loader = std::make_shared<tmpl::DictLoader>(kTemplates);
  settings.values = {{"blog_title", "My blog"}};
  settings.ui_modules["Entry"] = tornado::web::ui_module<EntryModule>();
  // Tornado: ui_methods={"shout": shout}, def shout(handler, text)
  settings.ui_methods["shout"] = [](tornado::web::RequestHandler& handler,
                                    const tmpl::Arguments& args) -> tmpl::Value {
    return args.str(0, "text") + "! (" + handler.request().method + ")";
  };
  return std::make_unique<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{{"/", tornado::web::handler<HomeHandler>()}}, settings);
}

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "serve") == 0) {
    auto app = make_app();
    app->listen(8888);
    tornado::ioloop::IOLoop::current().start();
    return 0;
  }
  // Outside a handler: a Template or a loader renders any mix of JSON and objects.
  tmpl::DictLoader loader(kTemplates);
  const auto entries = recent_entries();
  std::cout << loader.load("modules/entry.html")->generate({{"entry", entries[0]}});
  tmpl::Template t("{{ e.title }} ({{ (e.published + week).strftime('%Y-%m-%d') }}), {{ n + 1 }}");
  std::cout << t.generate({{"e", entries[1]}, {"week", std::chrono::hours(24 * 7)}, {"n", 41}})
            << "\n";

  // Dicts in the application's own order: nlohmann::ordered_json (nlohmann::json sorts keys).
  nlohmann::ordered_json totals = nlohmann::ordered_json::object();
  totals["march"] = 31;
  totals["april"] = 30;
  tmpl::Template months("{% for month, n in totals.items() %}{{ month }}: {{ n }} {% end %}");
  std::cout << months.generate({{"totals", totals}}) << "\n";  // march: 31 april: 30
}
