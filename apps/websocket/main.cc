// apps/websocket: Tornado's WebSocket chat demo (shared/CONTRACT.md,
// "apps/<demo>"). Each message a client sends as {"body": ...} gets an id
// and its HTML (message.html), joins a cache of the last 200, and goes to
// every connected client; the page lists the cache.
#include <fmt/format.h>

#include <random>
#include <set>

#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

namespace options = tornado::options;
using nlohmann::json;

namespace {

// A random (version 4) UUID, the message ids the Python demo uses.
std::string uuid4() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::uint64_t high = generator(), low = generator();
  high = (high & ~0xf000ULL) | 0x4000ULL;
  low = (low & ~(0xc000ULL << 48)) | (0x8000ULL << 48);
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff,
                     high & 0xffff, low >> 48, low & 0xffffffffffffULL);
}

class ChatSocketHandler;

// What the Python demo keeps in class attributes: the open sockets and the
// recent messages.
struct Room {
  std::set<ChatSocketHandler*> waiters;
  std::vector<json> cache;
  std::size_t cache_size = 200;
};

class MainHandler : public tornado::web::RequestHandler {
 public:
  void initialize(Room* room) { room_ = room; }
  void get() { render("index.html", {{"messages", json(room_->cache)}}); }

 private:
  Room* room_ = nullptr;
};

class ChatSocketHandler : public tornado::websocket::WebSocketHandler {
 public:
  void initialize(Room* room) { room_ = room; }

  std::optional<tornado::websocket::CompressionOptions> get_compression_options() override {
    // Any value (even the defaults) offers permessage-deflate.
    return tornado::websocket::CompressionOptions{};
  }

  void open() { room_->waiters.insert(this); }
  void on_close() { room_->waiters.erase(this); }

  void on_message(std::string_view message) {
    tornado::log::app.info("got message {}", message);
    json parsed;
    try {
      parsed = tornado::escape::json_decode(message);
    } catch (const std::exception&) {
      close(1003, "messages are JSON objects with a body");
      return;
    }
    if (!parsed.is_object() || !parsed.contains("body") || !parsed["body"].is_string()) {
      close(1003, "messages are JSON objects with a body");
      return;
    }
    json chat = {{"id", uuid4()}, {"body", parsed["body"]}};
    chat["html"] = render_string("message.html", {{"message", chat}});
    update_cache(chat);
    send_updates(chat);
  }

 private:
  void update_cache(const json& chat) {
    room_->cache.push_back(chat);
    if (room_->cache.size() > room_->cache_size) room_->cache.erase(room_->cache.begin());
  }

  void send_updates(const json& chat) {
    tornado::log::app.info("sending message to {} waiters", room_->waiters.size());
    for (ChatSocketHandler* waiter : room_->waiters) {
      try {
        waiter->write_message(chat);
      } catch (const std::exception& e) {
        tornado::log::app.error("Error sending message: {}", e.what());
      }
    }
  }

  Room* room_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  std::string root = TORNADO_SOURCE_DIR;
  options::define("port", 8888, "run on the given port");
  options::define("address", std::string("127.0.0.1"), "bind to this address");
  options::define("debug", false, "run in debug mode");
  options::define("template_path", root + "/templates/websocket", "folder of the page templates");
  options::define("static_path", root + "/apps/websocket/static", "folder of the static files");
  options::define("cache_size", 200, "messages kept for newcomers");
  options::define("xsrf_cookies", true,
                  "check the _xsrf cookie against the form's field on every POST (off: for "
                  "templates whose pages send no token)");
  options::parse_command_line(argc, argv);
  if (options::get<int>("cache_size") < 1) {
    std::fprintf(stderr, "websocket_chat: --cache-size must be 1 or more\n");
    return 2;
  }

  Room room;
  room.cache_size = static_cast<std::size_t>(options::get<int>("cache_size"));
  tornado::web::Settings settings;
  settings.cookie_secret = "__TODO:_GENERATE_YOUR_OWN_RANDOM_VALUE_HERE__";
  settings.template_path = options::get<std::string>("template_path");
  settings.static_path = options::get<std::string>("static_path");
  settings.xsrf_cookies = options::get<bool>("xsrf_cookies");
  settings.debug = options::get<bool>("debug");
  tornado::web::Application app(
      {
          {"/", tornado::web::handler<MainHandler>(&room)},
          {"/chatsocket", tornado::web::handler<ChatSocketHandler>(&room)},
      },
      settings);
  auto& server = app.listen(options::get<int>("port"), options::get<std::string>("address"));
  tornado::log::app.info("websocket_chat listening on {}:{}", options::get<std::string>("address"),
                         server.port());
  tornado::ioloop::IOLoop::current().start();
}
