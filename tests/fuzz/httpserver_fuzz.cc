// libFuzzer target for the server's request path: the input is what a client
// sends on one connection. It goes through everything a real connection
// meets: an IOStream, HTTP1ServerConnection (strict llhttp, the limits, gzip
// request bodies, xheaders, pipelining), web::Application's routing, and a
// handler that reads every derived field of the request (arguments, body
// arguments, multipart files, cookies, host, remote_ip).
//
// Oracles, besides crashes, hangs and sanitizer reports:
// - every response starts with a status line (HTTP/1.1, or 1.0 to a 1.0
//   request);
// - a response that closes the connection (every refusal of a malformed
//   request does) is the last one: nothing after a malformed request is
//   ever read as a second request;
// - never more responses than the input has request lines.
//
// Seeds: tests/fuzz/corpus/httpserver/ (raw requests, CRLF line ends).
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/http1connection.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/log.h"
#include "tornado/web.h"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

// Reads what a handler can read; answers with a digest of it.
class Reflect : public tornado::web::RequestHandler {
 public:
  void get() { reflect(); }
  void post() { reflect(); }
  void put() { reflect(); }
  void delete_() { reflect(); }

 protected:
  void reflect(std::string_view path_arg = {}) {
    auto& req = request();
    std::size_t total = path_arg.size() + req.body.size() + req.host.size() + req.remote_ip.size();
    for (const auto& [name, values] : req.arguments) total += name.size() + values.size();
    for (const auto& [name, values] : req.body_arguments) total += name.size() + values.size();
    for (const auto& [name, files] : req.files) {
      for (const auto& file : files) total += file.filename.size() + file.body.size();
    }
    total += req.cookies().size();
    check(req.request_time() >= 0);
    total +=
        get_argument("q", "").size() + get_cookie("c").value_or("").size() + req.full_url().size();
    write(std::to_string(total));
  }
};

// Routes with a group: the group is the verb's argument (named groups are
// keyword arguments, and reach the handler as path_kwargs).
class ReflectItem : public Reflect {
 public:
  void get(std::string_view id) { reflect(id); }
  void post(std::string_view id) { reflect(id); }
};

struct Server {
  tornado::ioloop::IOLoop loop;
  std::shared_ptr<tornado::web::Application> app;
  std::shared_ptr<tornado::http1connection::HTTP1ConnectionParameters> params;

  Server() {
    tornado::log::set_level(tornado::log::Level::none);
    app = std::make_shared<tornado::web::Application>(std::vector<tornado::web::URLSpec>{
        {"/", tornado::web::handler<Reflect>()},
        {"/items/([0-9]+)", tornado::web::handler<ReflectItem>()},
        {"/named/(?P<name>[a-z]+)", tornado::web::handler<ReflectItem>()},
    });
    params = std::make_shared<tornado::http1connection::HTTP1ConnectionParameters>();
    // Small limits so the fuzzer reaches the refusals with short inputs.
    params->max_header_size = 2048;
    params->max_body_size = 4096;
    params->decompress = true;
    params->xheaders = true;
  }
};

Server& server() {
  static Server instance;  // fuzz harness: one loop and app for every input
  return instance;
}

std::size_t count(std::string_view haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string_view::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

// The responses the server wrote, read from the client end of the pair.
void drain(int fd, std::string& out) {
  char buf[16384];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
  }
}

void check_responses(std::string_view input, std::string_view out) {
  if (out.empty()) return;
  // Where each response starts (bodies here never contain "\r\nHTTP/1.").
  std::vector<std::size_t> starts{0};
  for (auto at = out.find("\r\nHTTP/1."); at != std::string_view::npos;
       at = out.find("\r\nHTTP/1.", at + 2)) {
    starts.push_back(at + 2);
  }
  std::size_t final_responses = 0;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    std::string_view response = out.substr(starts[i]);
    check(response.starts_with("HTTP/1.1 ") || response.starts_with("HTTP/1.0 "));
    std::string_view head = response.substr(0, response.find("\r\n\r\n"));
    if (head.substr(8).starts_with(" 100 ")) continue;  // interim: 100 Continue
    ++final_responses;
    // A refusal closes the connection: nothing after it is read as a request.
    if (head.find("\r\nConnection: close") != std::string_view::npos) {
      check(i + 1 == starts.size());
    }
  }
  // Each final response answers one request line ("... HTTP/1.x\r\n"),
  // except the single 400 that answers garbage.
  check(final_responses <= count(input, "HTTP/1.") || final_responses == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Server& s = server();
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return 0;
  // The whole input is queued before the server reads, then the client's
  // half closes: the server sees exactly these bytes and then EOF.
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t written = 0;
  while (written < input.size()) {
    ssize_t n = send(fds[1], input.data() + written, input.size() - written, MSG_DONTWAIT);
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  input = input.substr(0, written);
  shutdown(fds[1], SHUT_WR);

  auto tcp = std::make_unique<uv_tcp_t>();
  uv_tcp_init(s.loop.uv_loop(), tcp.get());
  if (uv_tcp_open(tcp.get(), fds[0]) != 0) {
    close(fds[0]);
    close(fds[1]);
    return 0;
  }
  auto stream = tornado::iostream::IOStream::create(std::move(tcp));
  auto connection =
      std::make_shared<tornado::http1connection::HTTP1ServerConnection>(stream, s.app, s.params);

  std::string out;
  bool done = false;
  auto serve = [](std::shared_ptr<tornado::http1connection::HTTP1ServerConnection> conn,
                  bool* finished) -> tornado::Task<> {
    try {
      co_await conn->serve();
    } catch (...) {
    }
    *finished = true;
  };
  tornado::spawn(serve(connection, &done));
  // The client end is drained as the loop turns, so responses never fill
  // the socket buffer and stall the server.
  tornado::ioloop::PeriodicCallback reader([&] { drain(fds[1], out); },
                                           std::chrono::milliseconds(1));
  reader.start();
  tornado::ioloop::PeriodicCallback until_done(
      [&] {
        if (!done) return;
        if (!stream->closed()) connection->close();
        s.loop.stop();
      },
      std::chrono::milliseconds(1));
  until_done.start();
  s.loop.start();
  reader.stop();
  until_done.stop();
  drain(fds[1], out);
  close(fds[1]);
  check_responses(input, out);
  return 0;
}
