// The lesson's chat: every message goes to every connected browser, and the
// server itself tells everyone when someone comes or goes.
//
// This file is the C++ code shown in docs/lessons/05-websockets.*.md; the
// Python Tornado twin is beside it there. The wire format (JSON objects) is
// described in the lesson and at the top of apps/lesson5/static/chat.js.
//
//   cmake --build build --target doc_example_chat_websocket
//   build/tests/doc_example_chat_websocket     then open http://localhost:8888/chat
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

class ChatSocket;

// Who is connected, and the last messages for newcomers. One room per event
// loop: handlers run on their loop's thread, so the room needs no lock.
struct ChatRoom {
  std::unordered_set<ChatSocket*> clients;
  std::deque<nlohmann::json> history;
  std::int64_t last_id = 0;
  static constexpr std::size_t kHistory = 100;

  static ChatRoom& current() {
    static thread_local ChatRoom room;
    return room;
  }

  void broadcast(const nlohmann::json& frame);
};

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

class ChatSocket : public tornado::websocket::WebSocketHandler {
 public:
  void open() {
    nick_ = get_argument("nick", "anonym");
    auto& room = ChatRoom::current();
    // The newcomer first gets the history, then everyone hears of the join.
    write_message(nlohmann::json{{"type", "history"}, {"messages", room.history}}.dump());
    room.clients.insert(this);
    room.broadcast(
        {{"type", "join"}, {"nick", nick_}, {"users", room.clients.size()}, {"time", now_ms()}});
  }

  void on_message(std::string_view message) {
    auto frame = nlohmann::json::parse(message, nullptr, /*allow_exceptions=*/false);
    std::string body(message);  // plain text is a body too
    if (frame.is_object() && frame.contains("body") && frame["body"].is_string()) {
      body = frame["body"].get<std::string>();
      if (frame.contains("nick") && frame["nick"].is_string()) {
        nick_ = frame["nick"].get<std::string>();
      }
    }
    if (body.find_first_not_of(" \t\r\n") == std::string::npos) return;  // blank
    auto& room = ChatRoom::current();
    nlohmann::json chat{{"type", "message"},
                        {"id", ++room.last_id},
                        {"nick", nick_},
                        {"body", body},
                        {"time", now_ms()}};
    room.history.push_back(chat);
    if (room.history.size() > ChatRoom::kHistory) room.history.pop_front();
    room.broadcast(chat);
  }

  void on_close() {
    auto& room = ChatRoom::current();
    room.clients.erase(this);
    room.broadcast(
        {{"type", "leave"}, {"nick", nick_}, {"users", room.clients.size()}, {"time", now_ms()}});
  }

 private:
  std::string nick_;
};

void ChatRoom::broadcast(const nlohmann::json& frame) {
  const std::string text = frame.dump();
  for (ChatSocket* client : clients) {
    try {
      client->write_message(text);
    } catch (const tornado::websocket::WebSocketClosedError&) {
      // closing right now: its on_close() removes it
    }
  }
}

class ChatPageHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    render("chat.html", {{"title", "Lekce 5: Interakce skrze websockets v Tornadu"},
                         {"history", ChatRoom::kHistory}});
  }
};

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "port to listen on");
  tornado::options::parse_command_line(argc, argv);  // --port=N, --logging=LEVEL
  tornado::web::Application app(
      {
          {"/chat", tornado::web::handler<ChatPageHandler>()},
          {"/chatsocket", tornado::web::handler<ChatSocket>()},
      },
      // TORNADO_SOURCE_DIR: the repository's folder, which the build hands to
      // the compiler, so that the program runs from any folder.
      {.static_path = TORNADO_SOURCE_DIR "/apps/lesson5/static",
       .template_path = TORNADO_SOURCE_DIR "/templates/lesson5"});
  app.listen(tornado::options::get<int>("port"));
  tornado::ioloop::IOLoop::current().start();
}
