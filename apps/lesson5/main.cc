// Lekce 5: Interakce skrze websockets v Tornadu — the lesson's server.
//
// GET /            the echo page; its script opens ws(s)://<host>/websocket
// WS  /websocket   answers every message with "You said: <message>"
// GET /chat        the chat page; its script opens ws(s)://<host>/chatsocket
// WS  /chatsocket  a chat room: JSON messages, broadcast, join/leave, history
//
// The pages speak Czech or English: the templates' strings are English and go
// through _(); apps/lesson5/locale/cs.po, compiled by the build, makes them
// Czech. Which language a request gets: ?lang=cs|en (remembered in a cookie),
// else the browser's Accept-Language, else English (get_user_locale below).
//
// The same server in Python Tornado is docs/lessons/python/lesson5.py; the
// lesson text (docs/lessons/05-websockets.*.md) shows the two side by side.
//
// Scale-out (docs/deployment.md): `--workers N` runs N event loops in this
// process, `--redis redis://host:port/db` lets several processes share the
// chat room. Either way the room's events travel through a
// tornado::pubsub::Broker and its shared facts live in a RoomStore
// (room_store.h); a loop only ever writes to its own clients.
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <set>

#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/locale.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/process.h"
#include "tornado/pubsub.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

#include "chat_text.h"
#include "room_store.h"
#include "separately.h"

namespace {

using json = nlohmann::json;
using tornado::websocket::WebSocketHandler;

constexpr std::size_t kMaxNick = 32;
constexpr std::size_t kMaxBody = 2000;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The language the visitor chose: `?lang=cs` or `?lang=en`, else the one
// remembered in the `lang` cookie. None (nullptr) lets the framework ask the
// browser: get_browser_locale() reads Accept-Language, and a language without
// a catalogue gets the strings as written, in English.
std::shared_ptr<const tornado::locale::Locale> chosen_locale(
    tornado::web::RequestHandler& handler) {
  std::string lang = handler.get_argument("lang", "");
  if (lang.empty()) lang = handler.get_cookie("lang").value_or("");
  if (lang != "cs" && lang != "en") return nullptr;
  return tornado::locale::get({lang});
}

// A page of the lesson, in the visitor's language.
class LessonPage : public tornado::web::RequestHandler {
 public:
  std::shared_ptr<const tornado::locale::Locale> get_user_locale() override {
    return chosen_locale(*this);
  }

 protected:
  void render_page(std::string_view name, tornado::template_::Namespace values = {}) {
    // A language picked with ?lang= stays for the next pages (and the
    // chat's socket, whose messages to this visitor are translated too).
    std::string lang = get_argument("lang", "");
    if (lang == "cs" || lang == "en") set_cookie("lang", lang);
    // The same URL answers in several languages: caches must keep them apart.
    set_header("Vary", "Accept-Language, Cookie");
    render(name, std::move(values));
  }
};

class MainHandler : public LessonPage {
 public:
  void get() { render_page("index.html"); }
};

class ChatPageHandler : public LessonPage {
 public:
  void get() { render_page("chat.html", {{"history", tornado::options::get<int>("history")}}); }
};

// The classic: every message comes back as "You said: <message>".
class EchoWebSocket : public WebSocketHandler {
 public:
  void open() { tornado::log::app.info("WebSocket opened"); }
  void on_message(std::string_view message) { write_message(fmt::format("You said: {}", message)); }
  void on_close() { tornado::log::app.info("WebSocket closed"); }
};

class ChatSocket;

// The chat room as one loop sees it: a subscription to the room's channel.
// Everything said in the room (messages, joins, leaves) is published on the
// channel, and every loop, in this process or another one, publishes what
// arrives on the WebSocket topic kTopic, to which its clients subscribe: the
// framework keeps the set of clients, skips closing ones and frames each event
// once. The few facts a newcomer needs (history, ids, who is online) live in
// a RoomStore.
class ChatRoom {
 public:
  ChatRoom(tornado::pubsub::Broker& broker, lesson5::RoomStore& store, std::string server_id,
           std::chrono::milliseconds heartbeat);

  tornado::Task<> join(ChatSocket& client);
  void leave(ChatSocket& client);
  tornado::Task<> say(ChatSocket& from, std::string body);

 private:
  void deliver(std::string_view event);
  tornado::Task<> announce(std::string type, std::string nick);
  tornado::Task<> heartbeat();
  void tell_error(ChatSocket& client, std::string_view text, std::string_view body = {});
  void log_failure(std::string_view what, const std::exception& error);

  static constexpr std::string_view kChannel = "lesson5:chat";
  static constexpr std::string_view kTopic = "chat";

  tornado::pubsub::Broker& broker_;
  lesson5::RoomStore& store_;
  std::string server_id_;
  // Clients whose history is on its way: they subscribe to kTopic once it
  // has been sent, and meanwhile their events wait in held_back.
  std::set<ChatSocket*> joining_;
  std::int64_t local_clients_ = 0;  // in the room on this loop
  std::int64_t users_ = 0;          // the room's total, as last heard
  tornado::ioloop::Clock::time_point last_warning_{};
  int unlogged_failures_ = 0;
  tornado::pubsub::Subscription subscription_;
  tornado::ioloop::PeriodicCallback heartbeat_;
};

// One line, at most kMaxNick characters, never empty (chat_text.h).
std::string clean_nick(std::string_view nick) {
  std::string out = lesson5::one_line(nick, kMaxNick);
  return out.empty() ? "anonym" : out;
}

std::string dump(const json& frame) {
  return frame.dump(-1, ' ', false, json::error_handler_t::replace);
}

class ChatSocket : public WebSocketHandler {
 public:
  void initialize(ChatRoom* room) { room_ = room; }

  // What the room tells this client alone (an error) is in its language.
  std::shared_ptr<const tornado::locale::Locale> get_user_locale() override {
    return chosen_locale(*this);
  }

  tornado::Task<> open() {
    nick_ = clean_nick(get_argument("nick", ""));
    co_await room_->join(*this);
  }

  tornado::Task<> on_message(std::string_view message) {
    if (last_message_binary()) co_return;  // the chat speaks text only
    std::string body(message);
    json frame = json::parse(message, nullptr, false);
    if (frame.is_object() && frame.contains("body") && frame["body"].is_string()) {
      body = frame["body"].get<std::string>();
      if (frame.contains("nick") && frame["nick"].is_string()) {
        nick_ = clean_nick(frame["nick"].get<std::string>());
      }
    }
    // Whitespace only is no message; the limit counts characters, as Python's.
    if (lesson5::is_blank(body)) co_return;
    co_await lesson5::separately(
        [&] { return room_->say(*this, lesson5::first_chars(body, kMaxBody)); });
  }

  void on_close() { room_->leave(*this); }

  const std::string& nick() const { return nick_; }

  // Until its history has been sent, a newcomer's events wait here, so that
  // nothing said meanwhile is lost or shown twice.
  std::vector<std::string> held_back;
  bool in_room = false;

 private:
  ChatRoom* room_ = nullptr;
  std::string nick_ = "anonym";
};

ChatRoom::ChatRoom(tornado::pubsub::Broker& broker, lesson5::RoomStore& store,
                   std::string server_id, std::chrono::milliseconds heartbeat)
    : broker_(broker),
      store_(store),
      server_id_(std::move(server_id)),
      subscription_(
          broker.subscribe(std::string(kChannel),
                           [this](std::string_view, std::string_view event) { deliver(event); })),
      heartbeat_([this] { tornado::spawn(this->heartbeat()); }, heartbeat) {
  heartbeat_.start();
}

// Something happened in the room (here or on another server): show it to
// this loop's clients.
void ChatRoom::deliver(std::string_view event) {
  json frame = json::parse(event, nullptr, false);
  if (frame.is_object() && frame.contains("users") && frame["users"].is_number_integer()) {
    users_ = frame["users"].get<std::int64_t>();
  }
  for (ChatSocket* client : joining_) client->held_back.emplace_back(event);
  // Subscribers get it at this call; nothing to wait for (no `wait` policy).
  (void)tornado::websocket::publish(kTopic, event);
}

tornado::Task<> ChatRoom::join(ChatSocket& client) {
  joining_.insert(&client);
  client.in_room = true;
  ++local_clients_;
  tornado::log::app.debug("Chat server {} joined {}", server_id_, client.nick());
  // 1. The newcomer first gets the recent history...
  std::vector<std::string> history;
  try {
    history = co_await store_.history();
  } catch (const tornado::pubsub::PubSubError& e) {
    log_failure("Chat history unavailable", e);
    tell_error(client, client.locale().translate("The chat history is unavailable at the moment."));
  }
  json messages = json::array();
  std::set<std::int64_t> shown;
  for (const auto& text : history) {
    json message = json::parse(text, nullptr, false);
    if (!message.is_object()) continue;
    if (message.contains("id") && message["id"].is_number_integer()) {
      shown.insert(message["id"].get<std::int64_t>());
    }
    messages.push_back(std::move(message));
  }
  client.write_message(dump({{"type", "history"}, {"messages", messages}}));
  // ... then whatever was said while it was being fetched, minus repeats,
  // and from now on everything, through the topic.
  joining_.erase(&client);
  client.subscribe(kTopic);
  for (const auto& text : std::exchange(client.held_back, {})) {
    json event = json::parse(text, nullptr, false);
    bool repeat = event.is_object() && event.value("type", "") == "message" &&
                  event.contains("id") && event["id"].is_number_integer() &&
                  shown.count(event["id"].get<std::int64_t>()) > 0;
    if (!repeat) client.write_message(text);
  }
  // 2. Everyone hears that someone came, with the new head count.
  co_await lesson5::separately([&] { return announce("join", client.nick()); });
}

void ChatRoom::leave(ChatSocket& client) {
  if (!std::exchange(client.in_room, false)) return;
  joining_.erase(&client);
  --local_clients_;
  // The client is gone already; the notice goes out in the background.
  tornado::spawn(announce("leave", client.nick()));
}

tornado::Task<> ChatRoom::say(ChatSocket& from, std::string body) {
  try {
    std::int64_t id = co_await store_.next_id();
    std::string message = dump({{"type", "message"},
                                {"id", id},
                                {"nick", from.nick()},
                                {"body", body},
                                {"time", now_ms()}});
    // Kept before it is published, so that a newcomer cannot miss it.
    co_await lesson5::separately([&] { return store_.remember(message); });
    co_await lesson5::separately(
        [&] { return broker_.publish(std::string(kChannel), std::move(message)); });
  } catch (const tornado::pubsub::PubSubError& e) {
    log_failure(fmt::format("Message from {} not delivered", from.nick()), e);
    // The page puts the text back into its input, so nothing typed is lost.
    if (from.in_room) {
      tell_error(from,
                 from.locale().translate("The message could not be delivered, please try again."),
                 body);
    }
  }
}

// Publishes a join or leave notice carrying the room's new total.
tornado::Task<> ChatRoom::announce(std::string type, std::string nick) {
  try {
    std::int64_t users = co_await lesson5::separately(
        [&] { return store_.count_users(server_id_, local_clients_); });
    co_await lesson5::separately([&] {
      return broker_.publish(
          std::string(kChannel),
          dump({{"type", type}, {"nick", nick}, {"users", users}, {"time", now_ms()}}));
    });
  } catch (const tornado::pubsub::PubSubError& e) {
    log_failure(fmt::format("The {} of {} was not announced", type, nick), e);
  }
}

// Renews this server's presence; if the total changed without a notice (a
// server died, Redis came back), tells this loop's clients the new count.
tornado::Task<> ChatRoom::heartbeat() {
  try {
    std::int64_t users = co_await lesson5::separately(
        [&] { return store_.count_users(server_id_, local_clients_); });
    if (users != users_ && local_clients_ > 0) {
      users_ = users;
      // Clients still joining get the count with their join notice.
      (void)tornado::websocket::publish(
          kTopic, dump({{"type", "users"}, {"users", users}, {"time", now_ms()}}));
    }
    users_ = users;
  } catch (const tornado::pubsub::PubSubError& e) {
    tornado::log::app.debug("Presence heartbeat failed: {}", e.what());
  }
}

// While the room's Redis is down every message fails; one warning per ten
// seconds says so without flooding the log.
void ChatRoom::log_failure(std::string_view what, const std::exception& error) {
  auto now = tornado::ioloop::Clock::now();
  if (now - last_warning_ < std::chrono::seconds(10)) {
    ++unlogged_failures_;
    return;
  }
  std::string more = unlogged_failures_ ? fmt::format(" ({} more failures since the last warning)",
                                                      unlogged_failures_)
                                        : std::string();
  tornado::log::app.warning("{}: {}{}", what, error.what(), more);
  last_warning_ = now;
  unlogged_failures_ = 0;
}

void ChatRoom::tell_error(ChatSocket& client, std::string_view text, std::string_view body) {
  json frame = {{"type", "error"}, {"message", text}, {"time", now_ms()}};
  if (!body.empty()) frame["body"] = body;
  try {
    client.write_message(dump(frame));
  } catch (const tornado::websocket::WebSocketClosedError&) {
  }
}

// ---------------------------------------------------------------- scale-out
//
// One loop serves everything by default. `--workers N` runs N loops on N
// threads sharing the port (SO_REUSEPORT: the kernel spreads connections);
// they share one room through an InProcessBroker and a LocalRoomStore.
// `--redis URL` makes every loop talk to Redis instead, so that several
// processes, on one machine or many, share one room.

struct Shared {
  std::string redis_url;  // empty: this process only
  std::size_t history = 100;
  std::chrono::milliseconds presence_ttl{15000};
  tornado::pubsub::InProcessBroker broker;
  lesson5::LocalRoomStore store{history};
  // Seals TLS session tickets for every loop, so that a returning browser
  // resumes its session whichever loop its connection reaches.
  std::string ticket_key;
};

// Names this loop in the presence table: unique per machine, process and loop.
std::string server_id(int task_id) {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}:{}", host, getpid(), task_id);
}

std::shared_ptr<tornado::web::Application> make_app(ChatRoom& room) {
  std::string root = TORNADO_SOURCE_DIR;
  tornado::web::Settings settings;
  settings.template_path = root + "/templates/lesson5";
  settings.static_path = root + "/apps/lesson5/static";
  return std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{
          {"/", tornado::web::handler<MainHandler>()},
          {"/websocket", tornado::web::handler<EchoWebSocket>()},
          {"/chat", tornado::web::handler<ChatPageHandler>()},
          {"/chatsocket", tornado::web::handler<ChatSocket>(&room)},
      },
      settings);
}

// One loop: its broker and store (shared ones, or its own Redis connections),
// its room, its Application listening on the shared port, until SIGINT/SIGTERM.
void run_loop(int task_id, Shared& shared, bool reuse_port) {
  namespace options = tornado::options;
  auto& loop = tornado::ioloop::IOLoop::current();
  std::unique_ptr<tornado::pubsub::RedisBroker> redis;
  std::unique_ptr<lesson5::RedisRoomStore> redis_store;
  tornado::pubsub::Broker* broker = &shared.broker;
  lesson5::RoomStore* store = &shared.store;
  if (!shared.redis_url.empty()) {
    redis = std::make_unique<tornado::pubsub::RedisBroker>(shared.redis_url);
    redis_store =
        std::make_unique<lesson5::RedisRoomStore>(*redis, shared.history, shared.presence_ttl);
    broker = redis.get();
    store = redis_store.get();
  }
  if (redis) {
    // Take chat users only once Redis is reachable, so that nobody joins a
    // room whose broadcast and presence cannot reach the other servers yet.
    // If Redis is down at start the pages are served anyway (the broker keeps
    // reconnecting, and says so in the log).
    try {
      loop.run_sync([&]() -> tornado::Task<> { co_await redis->wait_connected(); },
                    std::chrono::seconds(3));
    } catch (const tornado::TimeoutError&) {
      tornado::log::app.warning("Redis {} is not reachable yet; serving without it meanwhile",
                                redis->url().describe());
    }
  }
  ChatRoom room(*broker, *store, server_id(task_id), shared.presence_ttl / 3);
  auto app = make_app(room);

  tornado::httpserver::HTTPServerSettings server_settings;
  server_settings.xheaders = options::get<bool>("xheaders");
  if (!options::get<std::string>("certfile").empty()) {
    server_settings.ssl_options =
        tornado::netutil::SSLOptions{.certfile = options::get<std::string>("certfile"),
                                     .keyfile = options::get<std::string>("keyfile"),
                                     .session_ticket_key = shared.ticket_key};
  }
  app->listen(options::get<int>("port"), options::get<std::string>("address"),
              std::move(server_settings), {.reuse_port = reuse_port});
  if (task_id == 0) {
    bool tls = !options::get<std::string>("certfile").empty();
    tornado::log::app.info(
        "Serving the lesson on {}://{}:{}/ ({} loop(s), chat room shared {})",
        tls ? "https" : "http", options::get<std::string>("address"), options::get<int>("port"),
        options::get<int>("workers"),
        shared.redis_url.empty()
            ? std::string("in this process")
            : "through Redis " + tornado::pubsub::RedisURL::parse(shared.redis_url).describe());
  }

  bool shutting_down = false;
  auto shutdown = [&] {
    if (std::exchange(shutting_down, true)) return;
    if (task_id == 0) tornado::log::app.info("Shutting down");
    // Pages get close code 1001 and reconnect (to another server, if any).
    tornado::websocket::graceful_shutdown(*app, [&] { loop.stop(); });
  };
  loop.add_signal_handler(SIGINT, shutdown);
  loop.add_signal_handler(SIGTERM, shutdown);
  loop.start();
}

}  // namespace

int main(int argc, char** argv) {
  namespace options = tornado::options;
  options::define("port", 8888, "TCP port for HTTP and WebSocket");
  options::define("address", std::string("127.0.0.1"), "address to bind");
  options::define("certfile", std::string(), "certificate (PEM): serve https and wss instead");
  options::define("keyfile", std::string(), "private key (PEM) of --certfile");
  options::define("workers", 1, "event loops (threads) sharing the port and the chat room");
  options::define("history", 100, "chat messages kept for newcomers");
  options::define("redis", std::string(),
                  "redis://host:port/db: share the chat with other processes through Redis");
  options::define("xheaders", false,
                  "behind a proxy: take the client's address and scheme from X-Real-Ip / "
                  "X-Forwarded-For and X-Scheme / X-Forwarded-Proto");
  options::define("presence_ttl", 15.0,
                  "seconds after which a silent server's users leave the count (with --redis)");
  options::define("locale_path", std::string(LESSON5_LOCALE_DIR),
                  "folder of the pages' translations (LANG/LC_MESSAGES/lesson5.mo)");
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
  int workers = options::get<int>("workers");
  if (workers < 1 || workers > 256) return fail("--workers must be between 1 and 256");
  double ttl = options::get<double>("presence_ttl");
  if (!(ttl >= 0.3 && ttl <= 3600)) return fail("--presence-ttl must be between 0.3 and 3600");
  std::string redis_url = options::get<std::string>("redis");
  if (!redis_url.empty()) {
    try {
      tornado::pubsub::RedisURL::parse(redis_url);
    } catch (const std::invalid_argument& e) {
      return fail(e.what());
    }
  }

  // The locale module, as Tornado's, loads nothing from a missing folder; for
  // this app that is a mistyped flag, so it says so.
  const std::string locale_path = options::get<std::string>("locale_path");
  if (std::error_code ec; !std::filesystem::is_directory(locale_path, ec)) {
    return fail(fmt::format("--locale_path: {} is not a folder", locale_path));
  }
  // Once, before the loops start: every loop reads the same tables. The
  // templates are written in English: "en" rather than Tornado's default
  // "en_US", so that every English (en-GB, en) matches it; with "en_US" a
  // browser asking for "en, cs;q=0.5" would get Czech, its second choice.
  tornado::locale::load_gettext_translations(locale_path, "lesson5");
  tornado::locale::set_default_locale("en");

  Shared shared{.redis_url = redis_url,
                .history = static_cast<std::size_t>(history),
                .presence_ttl = std::chrono::milliseconds(static_cast<std::int64_t>(ttl * 1000))};
  try {
    if (!options::get<std::string>("certfile").empty() && workers > 1) {
      shared.ticket_key = tornado::netutil::make_session_ticket_key();
    }
    tornado::process::run_workers(workers,
                                  [&](int task_id) { run_loop(task_id, shared, workers > 1); });
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return 0;
}
