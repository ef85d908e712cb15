// apps/chat: Tornado's long-polling chat demo (shared/CONTRACT.md,
// "apps/<demo>"). A browser posts messages to /a/message/new and keeps a
// request open on /a/message/updates that answers as soon as a message newer
// than its cursor exists. The wait is a Condition; a client that leaves has
// its wait cancelled in on_connection_close, as the Python demo does.
#include <fmt/format.h>

#include <random>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/locks.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"

namespace options = tornado::options;
using nlohmann::json;
using tornado::Task;

namespace {

// A random (version 4) UUID, the message ids the Python demo uses.
std::string uuid4() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  std::uint64_t high = generator(), low = generator();
  high = (high & ~0xf000ULL) | 0x4000ULL;                // version 4
  low = (low & ~(0xc000ULL << 48)) | (0x8000ULL << 48);  // RFC 4122 variant
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff,
                     high & 0xffff, low >> 48, low & 0xffffffffffffULL);
}

class MessageBuffer {
 public:
  explicit MessageBuffer(std::size_t cache_size) : cache_size_(cache_size) {}

  // The messages after the one with id `cursor` (all of them when the cursor
  // is absent or too old to be in the cache).
  json get_messages_since(const std::optional<std::string>& cursor) const {
    auto it = cache_.end();
    while (it != cache_.begin()) {
      if (cursor && (*std::prev(it))["id"] == *cursor) break;
      --it;
    }
    return json(std::vector<json>(it, cache_.end()));
  }

  void add_message(json message) {
    cache_.push_back(std::move(message));
    if (cache_.size() > cache_size_) cache_.erase(cache_.begin());
    cond.notify_all();
  }

  const std::vector<json>& cache() const { return cache_; }

  // Notified whenever the cache changes.
  tornado::locks::Condition cond;

 private:
  std::size_t cache_size_;
  std::vector<json> cache_;
};

class MainHandler : public tornado::web::RequestHandler {
 public:
  void initialize(MessageBuffer* buffer) { buffer_ = buffer; }
  void get() { render("index.html", {{"messages", json(buffer_->cache())}}); }

 private:
  MessageBuffer* buffer_ = nullptr;
};

// Posts a new message to the room.
class MessageNewHandler : public tornado::web::RequestHandler {
 public:
  void initialize(MessageBuffer* buffer) { buffer_ = buffer; }
  void post() {
    json message = {{"id", uuid4()}, {"body", get_argument("body")}};
    message["html"] = render_string("message.html", {{"message", message}});
    if (auto next = get_argument("next", std::nullopt)) {
      redirect(*next);
    } else {
      write(message);
    }
    buffer_->add_message(std::move(message));
  }

 private:
  MessageBuffer* buffer_ = nullptr;
};

// Long-polling request for new messages: answers only once there are some.
class MessageUpdatesHandler : public tornado::web::RequestHandler {
 public:
  void initialize(MessageBuffer* buffer) { buffer_ = buffer; }

  Task<> post() {
    auto cursor = get_argument("cursor", std::nullopt);
    json messages = buffer_->get_messages_since(cursor);
    while (messages.empty()) {
      tornado::log::app.debug("poll waits for messages after {}", cursor.value_or("none"));
      // Kept so that on_connection_close can cancel the wait.
      wait_future_ = tornado::to_future(buffer_->cond.wait());
      try {
        co_await wait_future_;
      } catch (const tornado::CancelledError&) {
        tornado::log::app.debug("poll cancelled: the client left");
        co_return;
      }
      messages = buffer_->get_messages_since(cursor);
    }
    if (connection()->closed()) co_return;
    write(json{{"messages", messages}});
  }

  void on_connection_close() override { wait_future_.cancel(); }

 private:
  MessageBuffer* buffer_ = nullptr;
  tornado::Future<bool> wait_future_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string root = TORNADO_SOURCE_DIR;
  options::define("port", 8888, "run on the given port");
  options::define("address", std::string("127.0.0.1"), "bind to this address");
  options::define("debug", false, "run in debug mode");
  options::define("template_path", root + "/templates/chat", "folder of the page templates");
  options::define("static_path", root + "/apps/chat/static", "folder of the static files");
  options::define("cache_size", 200, "messages kept for newcomers");
  options::define("xsrf_cookies", true,
                  "check the _xsrf cookie against the form's field on every POST (off: for "
                  "templates whose pages send no token)");
  options::parse_command_line(argc, argv);
  if (options::get<int>("cache_size") < 1) {
    std::fprintf(stderr, "chat: --cache-size must be 1 or more\n");
    return 2;
  }

  MessageBuffer buffer(static_cast<std::size_t>(options::get<int>("cache_size")));
  tornado::web::Settings settings;
  settings.cookie_secret = "__TODO:_GENERATE_YOUR_OWN_RANDOM_VALUE_HERE__";
  settings.template_path = options::get<std::string>("template_path");
  settings.static_path = options::get<std::string>("static_path");
  settings.xsrf_cookies = options::get<bool>("xsrf_cookies");
  settings.debug = options::get<bool>("debug");
  tornado::web::Application app(
      {
          {"/", tornado::web::handler<MainHandler>(&buffer)},
          {"/a/message/new", tornado::web::handler<MessageNewHandler>(&buffer)},
          {"/a/message/updates", tornado::web::handler<MessageUpdatesHandler>(&buffer)},
      },
      settings);
  auto& server = app.listen(options::get<int>("port"), options::get<std::string>("address"));
  tornado::log::app.info("chat listening on {}:{}", options::get<std::string>("address"),
                         server.port());
  tornado::ioloop::IOLoop::current().start();
}
