// apps/echo: the conformance and benchmark server that docs/performance.md measures.
//
// GET /plaintext, GET /json, POST /echo-body, GET /static/<path>, and the
// WebSocket echoes /echo (any origin), /echo-origin (same origin only) and
// /echo-auth (only with a `user` cookie, checked in prepare()).
#include <csignal>
#include <utility>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/options.h"
#include "tornado/process.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

namespace {

namespace options = tornado::options;

class PlaintextHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    set_header("Content-Type", "text/plain");
    finish("Hello, World!");
  }
  std::optional<std::string> compute_etag() override { return std::nullopt; }
};

class JsonHandler : public tornado::web::RequestHandler {
 public:
  void get() {
    set_header("Content-Type", "application/json");
    finish(R"({"message":"Hello, World!"})");
  }
  std::optional<std::string> compute_etag() override { return std::nullopt; }
};

class EchoBodyHandler : public tornado::web::RequestHandler {
 public:
  void post() {
    std::string_view type = request().headers.get("Content-Type");
    if (!type.empty()) set_header("Content-Type", type);
    finish(request().body);
  }
};

// Echoes every message unchanged: text as text, binary as binary.
class EchoSocket : public tornado::websocket::WebSocketHandler {
 public:
  void on_message(std::string_view message) {
    write_message(message, {.binary = last_message_binary()});
  }
  bool check_origin(std::string_view) override { return true; }
  std::optional<tornado::websocket::CompressionOptions> get_compression_options() override {
    if (!options::get<bool>("compression")) return std::nullopt;
    auto window_bits = [](const char* name) -> std::optional<int> {
      int bits = options::get<int>(name);
      if (bits == 0) return std::nullopt;
      return bits;
    };
    return tornado::websocket::CompressionOptions{
        .compression_level = options::get<int>("compression_level"),
        .mem_level = options::get<int>("mem_level"),
        .server_no_context_takeover = options::get<bool>("server_no_context_takeover"),
        .client_no_context_takeover = options::get<bool>("client_no_context_takeover"),
        .server_max_window_bits = window_bits("server_max_window_bits"),
        .client_max_window_bits = window_bits("client_max_window_bits"),
        .release_state_between_messages = options::get<bool>("release_state_between_messages")};
  }
  std::size_t max_message_size() override {
    return static_cast<std::size_t>(options::get<std::int64_t>("max_message_size"));
  }
};

// The same, with the default same-origin check.
class OriginEchoSocket : public EchoSocket {
 public:
  bool check_origin(std::string_view origin) override {
    return WebSocketHandler::check_origin(origin);
  }
};

// The same as /echo, behind authentication: as in Tornado, prepare() runs
// before the handshake, so a request without the `user` cookie gets a 403
// and is never upgraded.
class AuthEchoSocket : public EchoSocket {
 public:
  void prepare() {
    if (!get_cookie("user")) throw tornado::web::HTTPError(403, "log in first");
  }
};

std::shared_ptr<tornado::web::Application> make_app() {
  std::string static_path = options::get<std::string>("static_path");
  if (static_path.empty()) static_path = std::string(TORNADO_SOURCE_DIR) + "/apps/echo/static";
  tornado::web::Settings settings;
  settings.static_path = static_path;
  settings.websocket_max_message_size =
      static_cast<std::size_t>(options::get<std::int64_t>("max_message_size"));
  return std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{
          {"/plaintext", tornado::web::handler<PlaintextHandler>()},
          {"/json", tornado::web::handler<JsonHandler>()},
          {"/echo-body", tornado::web::handler<EchoBodyHandler>()},
          {"/echo", tornado::web::handler<EchoSocket>()},
          {"/echo-origin", tornado::web::handler<OriginEchoSocket>()},
          {"/echo-auth", tornado::web::handler<AuthEchoSocket>()},
      },
      settings);
}

tornado::httpserver::HTTPServerSettings server_settings(bool tls, const std::string& ticket_key) {
  tornado::httpserver::HTTPServerSettings s;
  s.max_body_size = static_cast<std::size_t>(options::get<std::int64_t>("max_body_size"));
  s.max_header_size = static_cast<std::size_t>(options::get<std::int64_t>("max_header_size"));
  s.idle_connection_timeout = std::chrono::milliseconds(
      static_cast<std::int64_t>(options::get<double>("idle_connection_timeout") * 1000));
  s.body_timeout = std::chrono::milliseconds(
      static_cast<std::int64_t>(options::get<double>("body_timeout") * 1000));
  if (tls) {
    s.ssl_options = tornado::netutil::SSLOptions{.certfile = options::get<std::string>("certfile"),
                                                 .keyfile = options::get<std::string>("keyfile"),
                                                 .session_ticket_key = ticket_key};
  }
  return s;
}

// One worker: its own IOLoop (current on this thread), Application and
// listening sockets (SO_REUSEPORT when several workers share the port). Runs
// until SIGINT/SIGTERM, which libuv delivers to every loop that asks for it.
void run_worker(bool reuse_port, const std::string& ticket_key) {
  auto& loop = tornado::ioloop::IOLoop::current();
  auto app = make_app();
  bool tls = !options::get<std::string>("certfile").empty();
  int tls_port = options::get<int>("tls_port");
  std::string address = options::get<std::string>("address");
  tornado::netutil::BindOptions bind{.reuse_port = reuse_port};
  app->listen(options::get<int>("port"), address, server_settings(tls && tls_port == 0, ticket_key),
              bind);
  if (tls && tls_port != 0) app->listen(tls_port, address, server_settings(true, ticket_key), bind);
  bool shutting_down = false;
  auto shutdown = [&] {
    if (std::exchange(shutting_down, true)) return;
    tornado::websocket::graceful_shutdown(*app, [&] { loop.stop(); });
  };
  loop.add_signal_handler(SIGINT, shutdown);
  loop.add_signal_handler(SIGTERM, shutdown);
  loop.start();
}

}  // namespace

int main(int argc, char** argv) {
  options::define("port", 8888, "TCP port for HTTP and WebSocket");
  options::define("address", std::string("127.0.0.1"), "address to bind");
  options::define("certfile", std::string(), "certificate (PEM): serve https and wss");
  options::define("keyfile", std::string(), "private key (PEM) of --certfile");
  options::define("tls_port", 0, "with --certfile/--keyfile: HTTPS/WSS on this port as well");
  options::define("workers", 1, "event loops (threads) sharing the port");
  options::define("fork", false, "with --workers: processes instead of threads");
  options::define("max_body_size", std::int64_t{1024 * 1024}, "largest request body (bytes)");
  options::define("max_header_size", std::int64_t{64 * 1024}, "largest request head (bytes)");
  options::define("idle_connection_timeout", 3600.0, "seconds before an idle connection closes");
  options::define("body_timeout", 3600.0, "seconds a request body may take");
  options::define("max_message_size", std::int64_t{64 * 1024 * 1024},
                  "largest WebSocket message (bytes)");
  options::define("static_path", std::string(), "directory served under /static/");
  options::define("compression", false, "offer permessage-deflate on the WebSocket routes");
  // With --compression: the permessage-deflate settings (docs/websocket.md,
  // "Compression and memory"); 0 window bits leaves the window unlimited.
  options::define("compression_level", -1, "zlib level, 0-9 (-1: zlib's default, 6)");
  options::define("mem_level", 8, "zlib memory level, 1-9");
  options::define("server_no_context_takeover", false, "ask for server_no_context_takeover");
  options::define("client_no_context_takeover", false, "ask for client_no_context_takeover");
  options::define("server_max_window_bits", 0, "limit the server's window, 8-15 (0: no limit)");
  options::define("client_max_window_bits", 0, "limit the client's window, 8-15 (0: no limit)");
  options::define("release_state_between_messages", false,
                  "free the zlib streams after every message");
  options::parse_command_line(argc, argv);

  int workers = options::get<int>("workers");
  if (workers < 1 || workers > 256) {
    std::fprintf(stderr, "echo_server: --workers must be between 1 and 256\n");
    return 2;
  }
  if (options::get<std::string>("certfile").empty() !=
      options::get<std::string>("keyfile").empty()) {
    std::fprintf(stderr, "echo_server: --certfile and --keyfile go together\n");
    return 2;
  }
  bool fork = options::get<bool>("fork");
  try {
    // One ticket key for every worker, so that a returning TLS client
    // resumes its session whichever worker its connection reaches.
    std::string ticket_key;
    if (!options::get<std::string>("certfile").empty() && workers > 1) {
      ticket_key = tornado::netutil::make_session_ticket_key();
    }
    tornado::log::app.info("echo_server on {}:{} with {} {}", options::get<std::string>("address"),
                           options::get<int>("port"), workers,
                           fork ? "process(es)" : "worker thread(s)");
    if (fork && workers > 1) {
      tornado::process::fork_processes(workers);
      run_worker(true, ticket_key);
    } else {
      tornado::process::run_workers(workers, [&](int) { run_worker(workers > 1, ticket_key); });
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 2;
  }
  return 0;
}
