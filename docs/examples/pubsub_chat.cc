// A chat shared by several processes (docs/deployment.md, appendix C "More
// processes" of the lesson): every message goes through a pubsub::Broker, and each process
// hands what arrives to its own clients. Without --redis the broker is the
// in-process one and the program is an ordinary one-process chat.
//
//   pubsub_chat --port 8001 --redis redis://127.0.0.1:6379/0
//   pubsub_chat --port 8002 --redis redis://127.0.0.1:6379/0
#include <memory>
#include <string>

#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/pubsub.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

std::unique_ptr<tornado::pubsub::Broker> make_broker(const std::string& redis_url) {
  if (redis_url.empty()) return std::make_unique<tornado::pubsub::InProcessBroker>();
  return std::make_unique<tornado::pubsub::RedisBroker>(redis_url);
}

class ChatSocket : public tornado::websocket::WebSocketHandler {
 public:
  void initialize(tornado::pubsub::Broker* broker) { broker_ = broker; }

  void open() {
    // Whatever any process publishes on "chat" comes to this client.
    subscription_ = broker_->subscribe("chat", [this](std::string_view, std::string_view message) {
      if (is_open()) write_message(message);
    });
  }

  tornado::Task<> on_message(std::string_view message) {
    auto publish = broker_->publish("chat", std::string(message));
    try {
      co_await publish;  // handed over to every process, this one included
    } catch (const tornado::pubsub::PubSubError& error) {
      write_message(std::string("not delivered: ") + error.what());
    }
  }

  void on_close() { subscription_.unsubscribe(); }

 private:
  tornado::pubsub::Broker* broker_ = nullptr;
  tornado::pubsub::Subscription subscription_;
};

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "TCP port");
  tornado::options::define("redis", std::string(), "redis://host:port/db to share the chat");
  tornado::options::parse_command_line(argc, argv);
  auto broker = make_broker(tornado::options::get<std::string>("redis"));
  tornado::web::Application app({
      {"/chatsocket", tornado::web::handler<ChatSocket>(broker.get())},
  });
  app.listen(tornado::options::get<int>("port"));
  tornado::ioloop::IOLoop::current().start();
}
