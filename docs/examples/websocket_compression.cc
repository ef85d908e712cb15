// permessage-deflate with a known memory price: the handler of
// docs/websocket.md, "Compression and memory". Each message is compressed on
// its own (no context takeover either way) and the zlib streams are freed
// after every message, so an idle connection keeps no compression state
// (about 4 KiB of server memory in all, against about 110 KiB with the
// default options).
//
//   cmake --build build --target doc_example_websocket_compression
//   build/tests/doc_example_websocket_compression --port=8888
#include <optional>
#include <string_view>

#include "tornado/ioloop.h"
#include "tornado/options.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

// Tornado's get_compression_options knows only "compression_level" and
// "mem_level"; tornado-cpp keeps those two names and adds RFC 7692's
// parameters and release_state_between_messages.
class EchoWebSocket : public tornado::websocket::WebSocketHandler {
 public:
  void on_message(std::string_view message) { write_message(message); }

  std::optional<tornado::websocket::CompressionOptions> get_compression_options() override {
    return tornado::websocket::CompressionOptions{
        .server_no_context_takeover = true,
        .client_no_context_takeover = true,
        .release_state_between_messages = true,
    };
  }
};

int main(int argc, char** argv) {
  tornado::options::define("port", 8888, "port to listen on");
  tornado::options::parse_command_line(argc, argv);
  tornado::web::Application app({{"/websocket", tornado::web::handler<EchoWebSocket>()}});
  app.listen(tornado::options::get<int>("port"));
  tornado::ioloop::IOLoop::current().start();
}
