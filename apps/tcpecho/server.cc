// apps/tcpecho: Tornado's tcpecho demo, the server (shared/CONTRACT.md,
// "apps/<demo>"). A TCPServer that echoes every line back; the port
// defaults to 9888 as in the Python demo.
#include <set>

#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/tcpserver.h"

namespace options = tornado::options;

class EchoServer : public tornado::tcpserver::TCPServer {
 public:
  void handle_stream(std::shared_ptr<tornado::iostream::IOStream> stream,
                     std::string address) override {
    tornado::spawn(serve(std::move(stream), std::move(address)));
  }

 private:
  tornado::Task<> serve(std::shared_ptr<tornado::iostream::IOStream> stream, std::string address) {
    clients_.insert(address);
    while (true) {
      try {
        std::string data = co_await stream->read_until("\n");
        tornado::log::app.info("Received bytes: {}", data);
        if (!data.ends_with('\n')) data += '\n';
        co_await stream->write(data);
      } catch (const tornado::iostream::StreamClosedError&) {
        clients_.erase(address);
        tornado::log::app.warning("Lost client at host {}", address);
        break;
      }
    }
  }
  std::multiset<std::string> clients_;
};

int main(int argc, char** argv) {
  options::define("port", 9888, "TCP port to listen on");
  options::define("address", std::string("127.0.0.1"), "bind to this address");
  options::define("debug", false, "debug mode (no effect: nothing to reload)");
  options::parse_command_line(argc, argv);

  EchoServer server;
  server.listen(options::get<int>("port"), options::get<std::string>("address"));
  tornado::log::app.info("Listening on TCP port {}", server.port());
  tornado::ioloop::IOLoop::current().start();
}
