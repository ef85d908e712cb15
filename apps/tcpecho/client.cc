// apps/tcpecho: Tornado's tcpecho demo, the client: sends one line and
// prints the answer.
#include <cstdio>

#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/options.h"
#include "tornado/tcpclient.h"

namespace options = tornado::options;

tornado::Task<> send_message() {
  auto stream = co_await tornado::tcpclient::TCPClient().connect(options::get<std::string>("host"),
                                                                 options::get<int>("port"));
  std::string message = options::get<std::string>("message");
  co_await stream->write(message + "\n");
  std::printf("Sent to server: %s\n", message.c_str());
  std::string reply = co_await stream->read_until("\n");
  while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) reply.pop_back();
  std::printf("Response from server: %s\n", reply.c_str());
}

int main(int argc, char** argv) {
  options::define("host", std::string("localhost"), "TCP server host");
  options::define("port", 9888, "TCP port to connect to");
  options::define("message", std::string("ping"), "Message to send");
  options::define("address", std::string(), "unused (common flag)");
  options::define("debug", false, "unused (common flag)");
  options::parse_command_line(argc, argv);
  try {
    tornado::ioloop::IOLoop::current().run_sync(send_message);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tcpecho_client: %s\n", e.what());
    return 1;
  }
}
