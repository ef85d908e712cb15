// apps/lesson5 scaled out: two lesson5 processes sharing one room through a
// real redis-server (messages both ways, global counts, a dead process
// leaving the count, Redis killed and restarted mid-chat), and --workers 2
// without Redis (two loops, one room). The servers are the built binary,
// started on free ports; the clients are tornado's own WebSocket client.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "lesson5_process.h"
#include "redis_support.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/websocket.h"

using namespace std::chrono_literals;
using json = nlohmann::json;
using lesson5_testing::kLesson5;
using lesson5_testing::Lesson5;
using tornado::Task;
using tornado::ioloop::IOLoop;
using tornado::testing::RedisServer;

namespace {

template <class Condition>
Task<bool> eventually(Condition condition, std::chrono::milliseconds timeout = 8s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await tornado::sleep(10ms);
  }
  co_return true;
}

// A chat client; a background reader collects every frame it receives.
struct ChatClient {
  struct State {
    std::unique_ptr<tornado::websocket::WebSocketClientConnection> ws;
    std::vector<json> frames;
    bool closed = false;
  };
  std::shared_ptr<State> state = std::make_shared<State>();

  static Task<> read_all(std::shared_ptr<State> state) {
    while (auto message = co_await state->ws->read_message()) {
      state->frames.push_back(json::parse(*message, nullptr, false));
    }
    state->closed = true;
  }

  static Task<ChatClient> connect(const Lesson5& server, std::string nick) {
    ChatClient client;
    // Named options, not the default argument: GCC 12 destroys an aggregate
    // temporary twice when it lives across a co_await.
    tornado::websocket::ConnectOptions options;
    auto connecting = tornado::websocket::websocket_connect(
        "ws://127.0.0.1:" + std::to_string(server.port()) + "/chatsocket?nick=" + nick, options);
    client.state->ws = co_await connecting;
    tornado::spawn(read_all(client.state));
    co_return client;
  }

  void say(const std::string& body) { state->ws->write_message(json{{"body", body}}.dump()); }
  void close() { state->ws->close(1000); }
  /// Waits until the server has answered the close (the reader ended).
  Task<bool> wait_closed() {
    auto state = this->state;
    co_return co_await eventually([state] { return state->closed; });
  }

  // The first frame of `type` (and, if given, with `key` equal to `value`).
  const json* find(std::string_view type, const std::string& key = "",
                   const json& value = nullptr) const {
    for (const auto& frame : state->frames) {
      if (!frame.is_object() || frame.value("type", "") != type) continue;
      if (!key.empty() && (!frame.contains(key) || frame[key] != value)) continue;
      return &frame;
    }
    return nullptr;
  }
  Task<bool> wait_for(std::string type, std::string key = "", json value = nullptr) {
    co_return co_await eventually([&] { return find(type, key, value) != nullptr; });
  }
};

class Lesson5ScaleOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat info {};
    if (::stat(kLesson5.c_str(), &info) != 0) GTEST_SKIP() << kLesson5 << " is not built";
  }
  IOLoop loop_;
};

class Lesson5RedisTest : public Lesson5ScaleOutTest {
 protected:
  void SetUp() override {
    Lesson5ScaleOutTest::SetUp();
    if (IsSkipped()) return;
    if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(redis_.start());
  }
  std::vector<std::string> flags() const {
    return {"--redis", redis_.url(), "--presence-ttl", "1.5"};
  }
  RedisServer redis_;
};

}  // namespace

TEST_F(Lesson5RedisTest, TwoProcessesShareOneRoom) {
  // A runs two loops, each with its own Redis connections: three servers in all.
  auto a_flags = flags();
  a_flags.insert(a_flags.end(), {"--workers", "2"});
  Lesson5 a("scaleout_a", a_flags);
  Lesson5 b("scaleout_b", flags());
  ASSERT_TRUE(a.wait_listening() && b.wait_listening());
  loop_.run_sync(
      [&]() -> Task<> {
        auto anna = co_await ChatClient::connect(a, "anna");
        EXPECT_TRUE(co_await anna.wait_for("join", "users", 1));
        auto bob = co_await ChatClient::connect(b, "bob");
        // Bob's join, on the other process, reaches Anna with the global count.
        EXPECT_TRUE(co_await anna.wait_for("join", "nick", "bob"));
        EXPECT_EQ((*anna.find("join", "nick", "bob"))["users"], 2);
        EXPECT_TRUE(co_await bob.wait_for("join", "users", 2));
        EXPECT_NE(bob.find("history"), nullptr);

        anna.say("ahoj z A");
        EXPECT_TRUE(co_await bob.wait_for("message", "body", "ahoj z A"));
        bob.say("nazdar z B, <script>");
        EXPECT_TRUE(co_await anna.wait_for("message", "body", "nazdar z B, <script>"));
        EXPECT_EQ((*anna.find("message", "body", "nazdar z B, <script>"))["nick"], "bob");
        // Everyone hears themselves too, through the same channel.
        EXPECT_TRUE(co_await anna.wait_for("message", "body", "ahoj z A"));

        // More clients on A, spread over its two loops, all in the one room.
        std::vector<ChatClient> more;
        for (int i = 0; i < 4; ++i) {
          more.push_back(co_await ChatClient::connect(a, "a" + std::to_string(i)));
          EXPECT_TRUE(co_await bob.wait_for("join", "users", 3 + i)) << i;
        }
        bob.say("all of you");
        for (auto& client : more)
          EXPECT_TRUE(co_await client.wait_for("message", "body", "all of you"));
        for (auto& client : more) client.close();
        EXPECT_TRUE(co_await bob.wait_for("leave", "users", 2));

        bob.close();
        EXPECT_TRUE(co_await anna.wait_for("leave", "nick", "bob"));
        EXPECT_EQ((*anna.find("leave", "nick", "bob"))["users"], 1);

        // A newcomer on B gets the history written on both servers, in order.
        auto cyril = co_await ChatClient::connect(b, "cyril");
        EXPECT_TRUE(co_await cyril.wait_for("history"));
        const json& history = (*cyril.find("history"))["messages"];
        EXPECT_EQ(history.size(), 3u);
        if (history.size() == 3) {
          EXPECT_EQ(history[0]["body"], "ahoj z A");
          EXPECT_EQ(history[1]["body"], "nazdar z B, <script>");
          EXPECT_EQ(history[2]["body"], "all of you");
          EXPECT_LT(history[0]["id"], history[1]["id"]);
          EXPECT_LT(history[1]["id"], history[2]["id"]);
        }
        EXPECT_TRUE(co_await anna.wait_for("join", "nick", "cyril"));
        EXPECT_EQ((*anna.find("join", "nick", "cyril"))["users"], 2);
        anna.close();
        cyril.close();
        EXPECT_TRUE(co_await anna.wait_closed());
        EXPECT_TRUE(co_await cyril.wait_closed());
      },
      20s);
  EXPECT_EQ(a.terminate(), 0);
  EXPECT_EQ(b.terminate(), 0);
}

TEST_F(Lesson5RedisTest, DeadProcessLeavesTheCount) {
  Lesson5 a("scaleout_dead_a", flags());
  Lesson5 b("scaleout_dead_b", flags());
  ASSERT_TRUE(a.wait_listening() && b.wait_listening());
  loop_.run_sync(
      [&]() -> Task<> {
        auto anna = co_await ChatClient::connect(a, "anna");
        auto bob = co_await ChatClient::connect(b, "bob");
        EXPECT_TRUE(co_await anna.wait_for("join", "users", 2));
        b.kill();  // no goodbye: its presence must expire
        EXPECT_TRUE(co_await anna.wait_for("users", "users", 1));
        anna.close();
        EXPECT_TRUE(co_await anna.wait_closed());
      },
      20s);
  EXPECT_EQ(a.terminate(), 0);
}

TEST_F(Lesson5RedisTest, RedisRestartMidChat) {
  Lesson5 a("scaleout_restart_a", flags());
  Lesson5 b("scaleout_restart_b", flags());
  ASSERT_TRUE(a.wait_listening() && b.wait_listening());
  loop_.run_sync(
      [&]() -> Task<> {
        auto anna = co_await ChatClient::connect(a, "anna");
        auto bob = co_await ChatClient::connect(b, "bob");
        EXPECT_TRUE(co_await anna.wait_for("join", "users", 2));
        anna.say("before");
        EXPECT_TRUE(co_await bob.wait_for("message", "body", "before"));

        redis_.stop();
        // Both servers have noticed the outage (their logs say so).
        EXPECT_TRUE(co_await eventually([&] {
          return a.log().find("lost: ") != std::string::npos &&
                 b.log().find("lost: ") != std::string::npos;
        }));
        // The sender is told; nothing crashes; pages and sockets still work.
        anna.say("during");
        EXPECT_TRUE(co_await anna.wait_for("error"));
        EXPECT_EQ(bob.find("message", "body", "during"), nullptr);
        tornado::httpclient::AsyncHTTPClient http;
        tornado::httpclient::HTTPRequest request;  // named: see ChatClient::connect
        auto fetching = http.fetch(b.url("/chat"), request);
        auto page = co_await fetching;
        EXPECT_EQ(page.code, 200);
        EXPECT_FALSE(anna.state->closed);
        EXPECT_FALSE(bob.state->closed);

        EXPECT_TRUE(redis_.start());
        EXPECT_TRUE(co_await eventually([&] {
          return a.log().find("is back after") != std::string::npos &&
                 b.log().find("is back after") != std::string::npos;
        }));
        // The chat resumes once both servers have resubscribed, which no log
        // line marks: say it again until it is heard.
        bool resumed = false;
        for (int i = 0; i < 50 && !resumed; ++i) {
          anna.say("after");
          resumed = co_await eventually(
              [&] { return bob.find("message", "body", "after") != nullptr; }, 200ms);
        }
        EXPECT_TRUE(resumed);
        bob.say("reply");
        EXPECT_TRUE(co_await anna.wait_for("message", "body", "reply"));
        anna.close();
        bob.close();
        EXPECT_TRUE(co_await anna.wait_closed());
        EXPECT_TRUE(co_await bob.wait_closed());
      },
      25s);
  EXPECT_TRUE(a.alive());
  EXPECT_TRUE(b.alive());
  EXPECT_EQ(a.terminate(), 0);
  EXPECT_EQ(b.terminate(), 0);
  for (const auto& log : {a.log(), b.log()}) {
    EXPECT_NE(log.find("lost: "), std::string::npos) << log;
    EXPECT_NE(log.find("is back after"), std::string::npos) << log;
  }
  EXPECT_NE(a.log().find("not delivered"), std::string::npos);
}

TEST_F(Lesson5ScaleOutTest, WorkersShareOneRoomWithoutRedis) {
  Lesson5 server("scaleout_workers", {"--workers", "2", "--logging", "debug"});
  ASSERT_TRUE(server.wait_listening());
  constexpr int kClients = 12;
  loop_.run_sync(
      [&]() -> Task<> {
        std::vector<ChatClient> clients;
        for (int i = 0; i < kClients; ++i) {
          clients.push_back(co_await ChatClient::connect(server, "user" + std::to_string(i)));
          // Joins are counted across both loops: the i-th newcomer is user i+1.
          EXPECT_TRUE(co_await clients.back().wait_for("join", "users", i + 1)) << i;
        }
        clients.front().say("to everyone");
        for (auto& client : clients) {
          EXPECT_TRUE(co_await client.wait_for("message", "body", "to everyone"));
        }
        clients.back().close();
        EXPECT_TRUE(co_await clients.front().wait_for("leave", "users", kClients - 1));
        for (auto& client : clients) client.close();
        for (auto& client : clients) EXPECT_TRUE(co_await client.wait_closed());
      },
      20s);
  EXPECT_EQ(server.terminate(), 0);
  // Both loops served some of the clients (SO_REUSEPORT spread them).
  std::string log = server.log();
  EXPECT_NE(log.find(":0 joined"), std::string::npos) << log;
  EXPECT_NE(log.find(":1 joined"), std::string::npos) << log;
}
