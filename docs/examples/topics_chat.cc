// The lesson's chat with topics (docs/websocket.md "Topics", section 6 of
// docs/lessons/05-websockets.*.md): no set of clients and no loop over it.
// Each connection subscribes to the topic "chat"; a message is published on
// it and the framework writes it to every subscriber: one frame for all,
// closed connections skipped, slow readers handled by a backpressure policy.
// With --redis the topic spans every process using the same Redis; with
// --workers N it spans the N loops of this process. The handler is the same.
//
//   topics_chat --port 8001 --redis redis://127.0.0.1:6379/0
//   topics_chat --port 8002 --redis redis://127.0.0.1:6379/0
#include <memory>
#include <string>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/process.h"
#include "tornado/pubsub.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

class ChatSocket : public tornado::websocket::WebSocketHandler {
 public:
  void open() { subscribe("chat"); }

  tornado::Task<> on_message(std::string_view message) {
    try {
      co_await publish("chat", message);  // every subscriber, in every loop and process
    } catch (const tornado::pubsub::PubSubError& error) {
      write_message(std::string("not delivered: ") + error.what());
    }
  }

  // A reader 256 KiB behind misses messages instead of filling the memory.
  tornado::websocket::Backpressure get_backpressure() override {
    return {.high_water_mark = 256 * 1024, .policy = tornado::websocket::Overflow::drop};
  }
  void on_message_dropped(std::string_view topic) override {
    tornado::log::app.info("{} is too slow, a message of {} was dropped", request().remote_ip,
                           topic);
  }
};

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "port to listen on");
  tornado::options::define("workers", 1, "event loops (threads) in this process");
  tornado::options::define("redis", std::string(), "redis://host:port/db to join processes");
  tornado::options::parse_command_line(argc, argv);
  tornado::pubsub::InProcessBroker shared;  // joins the loops of this process
  tornado::process::run_workers(tornado::options::get<int>("workers"), [&](int) {
    std::unique_ptr<tornado::pubsub::RedisBroker> redis;
    auto redis_url = tornado::options::get<std::string>("redis");
    if (!redis_url.empty()) redis = std::make_unique<tornado::pubsub::RedisBroker>(redis_url);
    tornado::websocket::set_topic_broker(redis ? static_cast<tornado::pubsub::Broker*>(redis.get())
                                               : &shared);
    tornado::web::Application app({{"/chatsocket", tornado::web::handler<ChatSocket>()}});
    app.listen(tornado::options::get<int>("port"), "", {}, {.reuse_port = true});
    tornado::ioloop::IOLoop::current().start();
    tornado::websocket::set_topic_broker(nullptr);
  });
}
