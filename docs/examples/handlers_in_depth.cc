// The snippets of docs/web.md beyond the basics, as one program: a user set
// in a coroutine prepare(), the application's own settings, a
// StaticFileHandler subclass installed with static_handler_class, a streamed
// upload whose coroutine data_received is awaited chunk by chunk, and the
// application served by an HTTPServer of its own.
//
//   ./handlers_in_depth      then: curl -T bigfile http://localhost:8888/upload/bigfile
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "tornado/httpserver.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/queues.h"
#include "tornado/web.h"

// Stands for a database look-up.
tornado::Task<std::optional<nlohmann::json>> load_user(std::string id) {
  co_await tornado::sleep(std::chrono::milliseconds(1));
  co_return nlohmann::json{{"id", id}, {"name", "Ada"}};
}

class HomeHandler : public tornado::web::RequestHandler {
 public:
  tornado::Task<> prepare() {
    auto id = get_argument("user", std::nullopt);  // a signed cookie in a real app
    if (id) set_current_user(co_await load_user(*id));
  }
  void get() {
    const auto& user = current_user();
    write(settings()["blog_title"].get<std::string>() + ": hello, " +
          (user ? (*user)["name"].get<std::string>() : std::string("stranger")));
  }
};

class AssetHandler : public tornado::web::StaticFileHandler {
 public:
  long long get_cache_time(std::string_view path,
                           std::optional<std::chrono::system_clock::time_point>,
                           std::string_view) override {
    return path.ends_with(".html") ? 0 : 3600;
  }
  void set_extra_headers(std::string_view) override {
    set_header("X-Content-Type-Options", "nosniff");
  }
};

// Hands every chunk to a bounded queue: when the consumer lags, the queue
// is full, data_received waits, and the connection reads no more.
class UploadHandler : public tornado::web::RequestHandler {
 public:
  void prepare() { connection()->set_max_body_size(std::size_t{10} << 30); }
  tornado::Task<> data_received(std::string_view chunk) {
    co_await chunks_.put(std::string(chunk));
    received_ += chunks_.get_nowait().size();  // a real consumer runs elsewhere
  }
  void put(std::string_view name) {
    tornado::log::app.info("{}: {} bytes", name, received_);
    write("OK");
  }

 private:
  tornado::queues::Queue<std::string> chunks_{4};
  std::size_t received_ = 0;
};

int main() {
  tornado::web::Settings settings;
  settings.static_path = "static";
  settings.static_handler_class = tornado::web::static_handler_class<AssetHandler>();
  settings["blog_title"] = "Tornado Blog";
  tornado::web::Application app(
      {
          {"/", tornado::web::handler<HomeHandler>()},
          {"/upload/(.*)", tornado::web::handler<UploadHandler>()},
      },
      settings);
  tornado::httpserver::HTTPServer server(app, {.xheaders = true});
  server.listen(8888);
  tornado::ioloop::IOLoop::current().start();
}
