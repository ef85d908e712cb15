// expect: on_message must return void or tornado::Task<>
// Must not compile: on_message returns a value the framework would drop.
#include "tornado/websocket.h"

class CountingSocket : public tornado::websocket::WebSocketHandler {
 public:
  int on_message(std::string_view message) { return static_cast<int>(message.size()); }
};

int main() {
  auto spec = tornado::web::handler<CountingSocket>();
  return spec.verbs.empty() ? 1 : 0;
}
