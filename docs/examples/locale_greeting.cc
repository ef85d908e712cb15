// The program docs/locale.md shows: pages in the browser's language, or the
// one `?lang=` asks for, from Tornado-format CSV translations.
#include "tornado/ioloop.h"
#include "tornado/locale.h"
#include "tornado/web.h"

class GreetingHandler : public tornado::web::RequestHandler {
 public:
  // A preference wins over the browser's Accept-Language.
  std::shared_ptr<const tornado::locale::Locale> get_user_locale() override {
    std::string lang = get_argument("lang", "");
    if (lang.empty()) return nullptr;
    return tornado::locale::get({lang});
  }

  void get() {
    const auto& loc = locale();
    int count = 3;
    write(tornado::locale::format(loc.translate("%(n)d new message", "%(n)d new messages", count),
                                  {{"n", count}}));
    write("\n");
    write(loc.format_date(std::chrono::system_clock::now() - std::chrono::minutes(5)));
  }
};

int main() {
  tornado::locale::load_translations("translations");  // cs.csv, de_DE.csv...
  tornado::web::Application app({{"/", tornado::web::handler<GreetingHandler>()}});
  app.listen(8888);
  tornado::ioloop::IOLoop::current().start();
}
