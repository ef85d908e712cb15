// The program docs/routing.md shows: two applications and an admin area on
// one server, chosen by host name and path through tornado::routing.
#include "tornado/httpserver.h"
#include "tornado/ioloop.h"
#include "tornado/routing.h"
#include "tornado/web.h"

class TextHandler : public tornado::web::RequestHandler {
 public:
  void initialize(std::string text) { text_ = std::move(text); }
  void get() { write(text_); }

 private:
  std::string text_;
};

std::shared_ptr<tornado::web::Application> answering(const std::string& text) {
  return std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{{".*", tornado::web::handler<TextHandler>(text)}});
}

int main() {
  using namespace tornado::routing;
  auto router = std::make_shared<ReversibleRuleRouter>(std::vector<Rule>{
      {std::make_shared<HostMatches>("api\\.example\\.com"), answering("the API")},
      {std::make_shared<PathMatches>("/admin/.*"), answering("the admin area"), "admin"},
      {std::make_shared<AnyMatches>(), answering("the site")},
  });
  tornado::httpserver::HTTPServer server(router);
  server.listen(8888);
  tornado::ioloop::IOLoop::current().start();
}
