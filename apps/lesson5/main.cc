// Lekce 5: Interakce skrze websockets v Tornadu — the lesson's server.
//
// GET /            the echo page; its script opens ws(s)://<host>/websocket
// WS  /websocket   answers every message with "You said: <message>"
// GET /chat        the chat page; its script opens ws(s)://<host>/chatsocket
// WS  /chatsocket  a chat room: JSON messages, broadcast, join/leave, history
//
// The same server in Python Tornado is docs/lessons/python/lesson5.py; the
// lesson text (docs/lessons/05-websockets.*.md) shows the two side by side.
#include <csignal>
#include <deque>
#include <set>

#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

namespace {

using json = nlohmann::json;
using tornado::websocket::WebSocketHandler;

constexpr std::string_view kTitle = "Lekce 5: Interakce skrze websockets v Tornadu";
constexpr std::size_t kMaxNick = 32;
constexpr std::size_t kMaxBody = 2000;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class MainHandler : public tornado::web::RequestHandler {
 public:
  void get() { render("index.html", {{"title", kTitle}}); }
};

class ChatPageHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    render("chat.html", {{"title", kTitle}, {"history", tornado::options::get<int>("history")}});
  }
};

// The classic: every message comes back as "You said: <message>".
class EchoWebSocket : public WebSocketHandler {
 public:
  void open() { tornado::log::app.info("WebSocket opened"); }
  void on_message(std::string_view message) {
    write_message(std::string("You said: ").append(message));
  }
  void on_close() override { tornado::log::app.info("WebSocket closed"); }
};

class ChatSocket;

// Who is connected, and the most recent messages for newcomers. It belongs
// to the loop that serves the chat; handlers on that loop share it.
class ChatRoom {
 public:
  explicit ChatRoom(std::size_t history) : history_limit_(history) {}

  void join(ChatSocket& client);
  void leave(ChatSocket& client);
  void say(const std::string& nick, std::string body);

 private:
  void broadcast(const json& frame);

  std::set<ChatSocket*> clients_;
  std::deque<json> history_;
  std::size_t history_limit_;
  std::int64_t last_id_ = 0;
};

std::string clean_nick(std::string_view nick) {
  std::string out;
  bool space = false;
  for (char c : nick) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  // Cut at a character boundary, never inside a UTF-8 sequence.
  if (out.size() > kMaxNick) {
    std::size_t cut = kMaxNick;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out.empty() ? "anonym" : out;
}

class ChatSocket : public WebSocketHandler {
 public:
  void initialize(ChatRoom* room) { room_ = room; }

  void open() {
    nick_ = clean_nick(get_argument("nick", ""));
    room_->join(*this);
  }

  void on_message(std::string_view message) {
    if (last_message_binary()) return;  // the chat speaks text only
    std::string body(message);
    json frame = json::parse(message, nullptr, false);
    if (frame.is_object() && frame.contains("body") && frame["body"].is_string()) {
      body = frame["body"].get<std::string>();
      if (frame.contains("nick") && frame["nick"].is_string()) {
        nick_ = clean_nick(frame["nick"].get<std::string>());
      }
    }
    if (body.find_first_not_of(" \t\r\n") == std::string::npos) return;
    if (body.size() > kMaxBody) {
      std::size_t cut = kMaxBody;
      while (cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xC0) == 0x80) --cut;
      body.resize(cut);
    }
    room_->say(nick_, std::move(body));
  }

  void on_close() override { room_->leave(*this); }

  const std::string& nick() const { return nick_; }

 private:
  ChatRoom* room_ = nullptr;
  std::string nick_ = "anonym";
};

void ChatRoom::broadcast(const json& frame) {
  std::string text = frame.dump(-1, ' ', false, json::error_handler_t::replace);
  for (ChatSocket* client : clients_) {
    try {
      client->write_message(text);
    } catch (const tornado::websocket::WebSocketClosedError&) {
      // on_close removes it in a moment
    }
  }
}

void ChatRoom::join(ChatSocket& client) {
  client.write_message(json{{"type", "history"}, {"messages", json(history_)}}.dump(
      -1, ' ', false, json::error_handler_t::replace));
  clients_.insert(&client);
  broadcast(
      {{"type", "join"}, {"nick", client.nick()}, {"users", clients_.size()}, {"time", now_ms()}});
}

void ChatRoom::leave(ChatSocket& client) {
  if (clients_.erase(&client) == 0) return;
  broadcast(
      {{"type", "leave"}, {"nick", client.nick()}, {"users", clients_.size()}, {"time", now_ms()}});
}

void ChatRoom::say(const std::string& nick, std::string body) {
  json message = {{"type", "message"},
                  {"id", ++last_id_},
                  {"nick", nick},
                  {"body", std::move(body)},
                  {"time", now_ms()}};
  if (history_limit_ > 0) {
    history_.push_back(message);
    while (history_.size() > history_limit_) history_.pop_front();
  }
  broadcast(message);
}

}  // namespace

int main(int argc, char** argv) {
  namespace options = tornado::options;
  options::define("port", 8888, "TCP port for HTTP and WebSocket");
  options::define("address", std::string("127.0.0.1"), "address to bind");
  options::define("certfile", std::string(), "certificate (PEM): serve https and wss instead");
  options::define("keyfile", std::string(), "private key (PEM) of --certfile");
  options::define("workers", 1, "event loops sharing the port");
  options::define("history", 100, "chat messages kept for newcomers");
  options::define("redis", std::string(), "redis://host:port/db to share the chat");
  options::parse_command_line(argc, argv);

  auto fail = [](std::string_view message) {
    std::fprintf(stderr, "lesson5: %.*s\n", static_cast<int>(message.size()), message.data());
    return 2;
  };
  int history = options::get<int>("history");
  if (history < 0) return fail("--history must be 0 or more");
  if (options::get<std::string>("certfile").empty() !=
      options::get<std::string>("keyfile").empty()) {
    return fail("--certfile and --keyfile go together");
  }
  if (options::get<int>("workers") != 1) {
    return fail(
        "--workers other than 1 is not supported by lesson5 yet (the chat room is per loop)");
  }
  if (!options::get<std::string>("redis").empty()) {
    return fail("--redis is not supported by lesson5 yet");
  }

  ChatRoom room(static_cast<std::size_t>(history));
  std::string root = TORNADO_SOURCE_DIR;
  tornado::web::Settings settings;
  settings.template_path = root + "/templates/lesson5";
  settings.static_path = root + "/apps/lesson5/static";
  auto app = std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{
          {"/", tornado::web::handler<MainHandler>()},
          {"/websocket", tornado::web::handler<EchoWebSocket>()},
          {"/chat", tornado::web::handler<ChatPageHandler>()},
          {"/chatsocket", tornado::web::handler<ChatSocket>(&room)},
          {"/static/(.*)",
           tornado::web::handler<tornado::web::StaticFileHandler>(settings.static_path)},
      },
      settings);

  tornado::httpserver::HTTPServerSettings server_settings;
  if (!options::get<std::string>("certfile").empty()) {
    server_settings.ssl_options =
        tornado::netutil::SSLOptions{.certfile = options::get<std::string>("certfile"),
                                     .keyfile = options::get<std::string>("keyfile")};
  }
  bool tls = server_settings.ssl_options.has_value();
  try {
    app->listen(options::get<int>("port"), options::get<std::string>("address"),
                std::move(server_settings));
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  tornado::log::app.info("Serving the lesson on {}://{}:{}/", tls ? "https" : "http",
                         options::get<std::string>("address"), options::get<int>("port"));

  auto& loop = tornado::ioloop::IOLoop::current();
  auto shutdown = [&] {
    tornado::log::app.info("Shutting down");
    app->stop_listening();
    tornado::websocket::close_all(1001, "server shutting down");
    // Let the close handshakes and in-flight responses finish.
    loop.call_later(std::chrono::milliseconds(300), [&] {
      for (auto& server : app->servers()) server->close_all_connections();
      loop.call_later(std::chrono::milliseconds(50), [&] { loop.stop(); });
    });
  };
  loop.add_signal_handler(SIGINT, shutdown);
  loop.add_signal_handler(SIGTERM, shutdown);
  loop.start();
  return 0;
}
