// The client side of tornado::websocket: websocket_connect's handshake and
// WebSocketClientConnection, as tornado.websocket's client half.
#include <fmt/format.h>

#include <coroutine>

#include "tornado/detail/http1_strict.h"
#include "tornado/detail/websocket/connection.h"
#include "tornado/log.h"
#include "tornado/tcpclient.h"
#include "tornado/websocket.h"

namespace tornado::websocket {

namespace ws = tornado::detail::ws;

struct ClientConnector {
  static Task<std::unique_ptr<WebSocketClientConnection>> connect(std::string url,
                                                                  ConnectOptions options);
};

namespace {
struct ClientState {
  std::vector<std::pair<std::string, bool>> queue;
  bool closed = false;
  std::coroutine_handle<> waiter;
};

// The client's connection: what is read is queued for read_message(), or
// handed to the on_message callback.
class ClientProtocol final : public detail::Protocol {
 public:
  using Callback = std::function<void(std::optional<std::string_view>)>;
  ClientProtocol(std::shared_ptr<iostream::IOStream> stream, std::size_t max_message_size,
                 std::optional<ws::DeflateParams> deflate,
                 const ws::DeflateOptions& deflate_options, Callback callback)
      : Protocol(std::move(stream), ws::Role::client, max_message_size, deflate, deflate_options),
        callback_(std::move(callback)) {}

  ClientState state;
  std::shared_ptr<Protocol> keep_;  // this, while reading

 protected:
  Task<> on_data(std::string_view message, bool binary) override {
    if (callback_) {
      callback_(message);
    } else {
      state.queue.emplace_back(std::string(message), binary);
      if (auto w = std::exchange(state.waiter, {})) w.resume();
    }
    return Task<>();
  }
  void on_control(ws::Opcode, std::string_view) override {}
  void on_end(bool teardown) noexcept override {
    auto keep = std::move(keep_);  // this may go when the function returns
    state.closed = true;
    if (teardown) return;
    try {
      if (callback_) callback_(std::nullopt);
    } catch (const std::exception& e) {
      log::general.error("WebSocket client callback failed: {}", e.what());
    }
    if (auto w = std::exchange(state.waiter, {})) w.resume();
  }

 private:
  Callback callback_;
};

// Cancellable: a cancelled read leaves no waiter for the next message.
struct ReadWait : tornado::detail::CancelHook {
  ClientState* s;
  bool cancelled = false;
  explicit ReadWait(ClientState* state) : s(state) {}
  bool await_ready() const noexcept { return !s->queue.empty() || s->closed; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) {
    s->waiter = h;
    if (attach(h)) cancel();
  }
  void await_resume() {
    detach();
    if (cancelled) throw CancelledError();
  }
  bool cancel() noexcept override {
    detach();
    auto h = std::exchange(s->waiter, {});
    if (!h) return false;
    cancelled = true;
    tornado::detail::call_soon([h] { h.resume(); });
    return true;
  }
};
}  // namespace

WebSocketClientConnection::~WebSocketClientConnection() {
  if (protocol_ && !protocol_->stream_->closed()) protocol_->stream_->close();
}

Task<std::unique_ptr<WebSocketClientConnection>> ClientConnector::connect(std::string url,
                                                                          ConnectOptions options) {
  bool secure;
  std::string_view rest = url;
  if (rest.starts_with("ws://")) {
    secure = false;
    rest.remove_prefix(5);
  } else if (rest.starts_with("wss://")) {
    secure = true;
    rest.remove_prefix(6);
  } else {
    throw std::invalid_argument("websocket_connect: URL must start with ws:// or wss://");
  }
  auto slash = rest.find('/');
  std::string_view netloc = rest.substr(0, slash);
  std::string target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  auto [host_view, port_opt] = httputil::split_host_and_port(netloc);
  std::string host(host_view);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  int port = port_opt.value_or(secure ? 443 : 80);

  std::string key = ws::generate_websocket_key();
  namespace http1 = tornado::detail::http1;
  // Every line goes through append_field, which refuses CR, LF and NUL: a
  // caller's header or URL cannot inject lines into the handshake.
  if (!http1::is_safe_field_value(target) || target.find(' ') != std::string_view::npos) {
    throw std::invalid_argument("Illegal characters in URL path: " + std::string(url));
  }
  std::string request = fmt::format("GET {} HTTP/1.1\r\n", target);
  http1::append_field(request, "Host", netloc);
  http1::append_field(request, "Upgrade", "websocket");
  http1::append_field(request, "Connection", "Upgrade");
  http1::append_field(request, "Sec-WebSocket-Key", key);
  http1::append_field(request, "Sec-WebSocket-Version", "13");
  if (!options.subprotocols.empty()) {
    std::string joined;
    for (const auto& p : options.subprotocols) joined += (joined.empty() ? "" : ", ") + p;
    http1::append_field(request, "Sec-WebSocket-Protocol", joined);
  }
  if (options.compression_options) {
    http1::append_field(request, "Sec-WebSocket-Extensions",
                        ws::make_deflate_offer(*options.compression_options));
  }
  for (const auto& [name, value] : options.headers) http1::append_field(request, name, value);
  request += "\r\n";

  tcpclient::ConnectOptions connect_options;
  connect_options.timeout = options.connect_timeout;
  if (secure) {
    netutil::SSLOptions ssl;
    ssl.verify = options.validate_cert;
    ssl.ca_certs = options.ca_certs;
    connect_options.ssl_options = ssl;
  }
  auto stream = co_await tcpclient::TCPClient().connect(host, port, connect_options);
  co_await stream->write(request);

  std::string head = co_await stream->read_until("\r\n\r\n", 64 * 1024);
  if (http1::HeadScanner scanner(true);
      scanner.scan(head) != http1::HeadScanner::Result::complete ||
      scanner.head_size() != head.size()) {
    stream->close();
    throw std::runtime_error(
        fmt::format("WebSocket handshake: malformed response ({})", scanner.error()));
  }
  auto line_end = head.find("\r\n");
  auto start = httputil::parse_response_start_line(head.substr(0, line_end));
  auto headers = httputil::HTTPHeaders::parse(head.substr(line_end + 2));
  if (start.code != 101) {
    stream->close();
    throw std::runtime_error(
        fmt::format("WebSocket handshake refused: HTTP {} {}", start.code, start.reason));
  }
  if (headers.get("Sec-WebSocket-Accept") != ws::compute_accept_key(key)) {
    stream->close();
    throw std::runtime_error("WebSocket handshake: bad Sec-WebSocket-Accept");
  }
  std::optional<ws::DeflateParams> deflate;
  if (auto extensions = ws::parse_extensions(headers.get_joined("Sec-WebSocket-Extensions"));
      extensions && !extensions->empty()) {
    if (!options.compression_options || extensions->size() != 1) {
      stream->close();
      throw std::runtime_error("WebSocket handshake: unexpected extension");
    }
    deflate = ws::accept_deflate_response(extensions->front(), *options.compression_options);
    if (!deflate) {
      stream->close();
      throw std::runtime_error("WebSocket handshake: bad permessage-deflate response");
    }
  }

  std::unique_ptr<WebSocketClientConnection> connection(new WebSocketClientConnection());
  auto protocol =
      std::make_shared<ClientProtocol>(stream, options.max_message_size, deflate,
                                       options.compression_options.value_or(CompressionOptions{}),
                                       std::move(options.on_message_callback));
  protocol->set_subprotocol(std::string(headers.get("Sec-WebSocket-Protocol")));
  connection->protocol_ = protocol;
  connection->state_ = std::shared_ptr<ClientState>(protocol, &protocol->state);
  // Messages are queued (or handed to the callback) as they are read; the
  // connection keeps itself until it ends, even without its owner.
  protocol->keep_ = protocol;
  protocol->start_reading();
  co_return connection;
}

Task<std::optional<std::string>> WebSocketClientConnection::read_message() {
  auto state = std::static_pointer_cast<ClientState>(state_);
  while (state->queue.empty() && !state->closed) {
    co_await ReadWait(state.get());
  }
  if (state->queue.empty()) co_return std::nullopt;
  auto [message, binary] = std::move(state->queue.front());
  state->queue.erase(state->queue.begin());
  last_binary_ = binary;
  co_return message;
}

iostream::IOStream::WriteAwaitable WebSocketClientConnection::write_message(
    std::string_view message, WriteOptions options) {
  return protocol_->write_message(message, options.binary);
}

void WebSocketClientConnection::close(std::optional<std::uint16_t> code, std::string_view reason) {
  protocol_->close(code, reason);
}
void WebSocketClientConnection::ping(std::string_view data) {
  protocol_->ping(data);
}
std::optional<std::uint16_t> WebSocketClientConnection::close_code() const {
  return protocol_->close_code_;
}
std::string WebSocketClientConnection::close_reason() const {
  return protocol_->close_reason();
}
std::string WebSocketClientConnection::selected_subprotocol() const {
  return protocol_->subprotocol();
}
std::optional<tornado::detail::ws::DeflateParams> WebSocketClientConnection::compression() const {
  return protocol_->deflate_params();
}

Task<std::unique_ptr<WebSocketClientConnection>> websocket_connect(std::string url,
                                                                   ConnectOptions options) {
  return ClientConnector::connect(std::move(url), std::move(options));
}

}  // namespace tornado::websocket
