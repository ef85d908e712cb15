// User's Guide, chapter 5 (docs/guide/05-structure.*.md): an Application's
// parts: routes with groups and names, a handler given its database through
// initialize(), arguments from forms, errors, redirects and a handler base
// class. Its Python twin is docs/guide/python/structure.py.
//
//   ./guide_structure --port=8888        then open http://127.0.0.1:8888/
#include <fmt/core.h>

#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"

// The "database": shared by every request, owned by main's shared_ptr.
using Stories = std::map<std::string, std::string>;

class MainHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    write(fmt::format("<a href=\"{}\">The first story</a>", reverse_url("story", {"1"})));
  }
};

// A base class for the JSON handlers: errors are answered in JSON too.
class JsonHandler : public tornado::web::RequestHandler {
 public:
  void write_error(int status_code, std::exception_ptr) override {
    write(nlohmann::json{{"error", status_code}});
  }
};

class StoryHandler : public JsonHandler {
 public:
  // Called for every request with the route's extra arguments.
  void initialize(std::shared_ptr<const Stories> db) { db_ = std::move(db); }

  // The route's group ([0-9]+) arrives as an argument.
  void get(std::string_view story_id) {
    auto story = db_->find(std::string(story_id));
    if (story == db_->end()) throw tornado::web::HTTPError(404);
    write(nlohmann::json{{"id", story_id}, {"title", story->second}});
  }

 private:
  std::shared_ptr<const Stories> db_;
};

// An asynchronous handler: while it waits, the loop serves other requests.
class SlowHandler : public tornado::web::RequestHandler {
 public:
  tornado::Task<> get() {
    co_await tornado::sleep(std::chrono::milliseconds(50));
    write("Sorry to keep you waiting");
  }
};

class FormHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    write(
        "<form action=\"/form\" method=\"post\">"
        "<input type=\"text\" name=\"message\"><input type=\"submit\" value=\"Send\">"
        "</form>");
  }

  void post() {
    set_header("Content-Type", "text/plain");
    write("You wrote " + get_argument("message"));  // 400 when it is missing
  }
};

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "port to listen on (0: any free port)");
  tornado::options::parse_command_line(argc, argv);

  auto db = std::make_shared<const Stories>(Stories{{"1", "Tornado in C++"}});
  tornado::web::Application app({
      {"/", tornado::web::handler<MainHandler>()},
      {"/story/([0-9]+)", tornado::web::handler<StoryHandler>(db), "story"},
      {"/slow", tornado::web::handler<SlowHandler>()},
      {"/form", tornado::web::handler<FormHandler>()},
      {"/old", tornado::web::handler<tornado::web::RedirectHandler>(std::string("/"))},
  });
  auto& server = app.listen(tornado::options::get<int>("port"), "127.0.0.1");
  tornado::log::app.info("Listening on http://127.0.0.1:{}/", server.port());
  tornado::ioloop::IOLoop::current().start();
}
