#include "tornado/websocket.h"

#include "tornado/detail/ascii.h"
#include "tornado/detail/http1_strict.h"
#include "tornado/detail/websocket/connection.h"
#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace tornado::websocket {

namespace ws = tornado::detail::ws;
using iostream::StreamClosedError;

namespace {

// Every open server-side handler on this thread, for close_all().
thread_local WebSocketHandler* open_handlers = nullptr;

bool header_has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (tornado::detail::iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

namespace detail {

// The server's connection: messages go straight to the handler's hooks, and
// once the runner has handed the handler over (adopt_after_run) the
// connection owns it until on_end, which runs on_close and frees it.
class ServerConnection final : public Protocol {
 public:
  ServerConnection(WebSocketHandler& handler, std::shared_ptr<iostream::IOStream> stream,
                   std::size_t max_message_size, std::optional<ws::DeflateParams> deflate,
                   const ws::DeflateOptions& deflate_options)
      : Protocol(std::move(stream), ws::Role::server, max_message_size, deflate, deflate_options),
        handler_(&handler) {}

  // Set once open() has run: the hooks, and whether messages go to them
  // (after a failed open() only the closing handshake is left to read).
  // (The flags first: they fit in the tail padding of Protocol.)
  bool deliver_ = false;
  // Set by adopt_after_run: the connection owns handler_ until on_end
  // (a flag rather than a second pointer to the same object).
  bool owns_handler_ = false;
  const WebSocketHandler::Events* events_ = nullptr;

  ~ServerConnection() override {
    // As a unique_ptr member would (while it owns the handler, the
    // handler holds this object: on_end has always run first).
    auto owned = take_handler();
  }

  std::unique_ptr<WebSocketHandler> take_handler() noexcept {
    if (!owns_handler_) return nullptr;
    owns_handler_ = false;
    return std::unique_ptr<WebSocketHandler>(handler_);
  }

 protected:
  Task<> on_data(std::string_view message, bool binary) override {
    if (!deliver_) return Task<>();
    handler_->last_binary_ = binary;
    try {
      return events_->message(*handler_, message, binary);
    } catch (...) {
      handler_->log_exception(std::current_exception());
      handler_->protocol_->close(1011, "internal error");
      return Task<>();
    }
  }

  void on_control(ws::Opcode opcode, std::string_view data) override {
    if (!deliver_) return;
    const auto* hook = opcode == ws::Opcode::ping   ? &events_->ping
                       : opcode == ws::Opcode::pong ? &events_->pong
                                                    : nullptr;
    if (!hook || !*hook) return;
    try {
      // Control frames are handled inline: a coroutine hook runs on the
      // loop on its own, errors logged, without holding up the messages.
      if (auto work = (*hook)(*handler_, data)) spawn(std::move(work));
    } catch (...) {
      handler_->log_exception(std::current_exception());
    }
  }

  void on_data_failed(std::exception_ptr error) noexcept override {
    handler_->log_exception(error);
    try {
      close(1011, "internal error");
    } catch (...) {
    }
  }

  void on_end(bool teardown) noexcept override;

 private:
  static Task<> finish_close(std::unique_ptr<WebSocketHandler> owner, Task<> work) {
    try {
      co_await work;
    } catch (...) {
      owner->log_exception(std::current_exception());
    }
  }

  WebSocketHandler* handler_;
};

}  // namespace detail

void detail::ServerConnection::on_end(bool teardown) noexcept {
  // The handler (and with it, maybe, this object) goes when this returns,
  // or when a coroutine on_close has finished.
  auto owner = take_handler();
  if (teardown || !owner) return;
  handler_->unlink_open();
  handler_->unsubscribe_all();
  if (!events_->close) return;
  try {
    if (auto work = events_->close(*handler_))
      spawn(finish_close(std::move(owner), std::move(work)));
  } catch (...) {
    handler_->log_exception(std::current_exception());
  }
}

WebSocketHandler::WebSocketHandler() = default;
WebSocketHandler::~WebSocketHandler() {
  unlink_open();
  unsubscribe_all();
}

WebSocketHandler::Extras& WebSocketHandler::extras() {
  if (!extras_) extras_ = std::make_unique<Extras>();
  return *extras_;
}

const Backpressure& WebSocketHandler::backpressure() const noexcept {
  static const Backpressure defaults;
  return extras_ ? extras_->backpressure : defaults;
}

void WebSocketHandler::link_open() noexcept {
  if (open_prev_ || open_handlers == this) return;
  open_next_ = open_handlers;
  if (open_next_) open_next_->open_prev_ = this;
  open_handlers = this;
}

void WebSocketHandler::unlink_open() noexcept {
  if (!open_prev_ && open_handlers != this) return;
  if (open_prev_) {
    open_prev_->open_next_ = open_next_;
  } else {
    open_handlers = open_next_;
  }
  if (open_next_) open_next_->open_prev_ = open_prev_;
  open_prev_ = open_next_ = nullptr;
}

bool WebSocketHandler::check_origin(std::string_view origin) {
  // Same origin: the Origin's host[:port] must equal the Host header.
  auto scheme_end = origin.find("://");
  std::string_view host =
      scheme_end == std::string_view::npos ? origin : origin.substr(scheme_end + 3);
  auto slash = host.find('/');
  if (slash != std::string_view::npos) host = host.substr(0, slash);
  return tornado::detail::iequals(host, request().host);
}

std::optional<std::string> WebSocketHandler::select_subprotocol(const std::vector<std::string>&) {
  return std::nullopt;
}

std::size_t WebSocketHandler::max_message_size() {
  return settings().websocket_max_message_size;
}

// The handshake runs in its own coroutine: its strings and its frame are
// freed once the connection is up, instead of living as long as it does.
Task<bool> WebSocketHandler::accept_upgrade() {
  const auto& headers = request().headers;
  if (!header_has_token(headers.get("Upgrade"), "websocket")) {
    set_status(400);
    finish("Can \"Upgrade\" only to \"WebSocket\".");
    co_return false;
  }
  if (!header_has_token(headers.get("Connection"), "upgrade")) {
    set_status(400);
    finish("\"Connection\" must be \"Upgrade\".");
    co_return false;
  }
  if (headers.get("Sec-WebSocket-Version") != "13") {
    set_status(426);
    set_header("Sec-WebSocket-Version", "13");
    finish();
    co_return false;
  }
  std::string_view key = headers.get("Sec-WebSocket-Key");
  if (!ws::is_valid_websocket_key(key)) {
    set_status(400);
    finish("Missing or invalid Sec-WebSocket-Key header");
    co_return false;
  }
  std::string_view origin = headers.get("Origin", headers.get("Sec-Websocket-Origin"));
  if (!origin.empty() && !check_origin(origin)) {
    set_status(403);
    finish("Cross origin websockets not allowed");
    co_return false;
  }

  namespace http1 = tornado::detail::http1;
  std::string response = "HTTP/1.1 101 Switching Protocols\r\n";
  http1::append_field(response, "Upgrade", "websocket");
  http1::append_field(response, "Connection", "Upgrade");
  http1::append_field(response, "Sec-WebSocket-Accept", ws::compute_accept_key(key));
  std::string subprotocol;
  if (auto offered = ws::parse_subprotocols(headers.get_joined("Sec-WebSocket-Protocol"));
      offered && !offered->empty()) {
    if (auto chosen = select_subprotocol(*offered)) {
      subprotocol = *chosen;
      http1::append_field(response, "Sec-WebSocket-Protocol", subprotocol);
    }
  }
  std::optional<ws::DeflateParams> deflate;
  CompressionOptions compression;
  if (auto options = get_compression_options()) {
    compression = *options;
    if (auto extensions = ws::parse_extensions(headers.get_joined("Sec-WebSocket-Extensions"))) {
      if (auto agreement = ws::negotiate_deflate(*extensions, compression)) {
        deflate = agreement->params;
        http1::append_field(response, "Sec-WebSocket-Extensions", agreement->response);
      }
    }
  }
  response += "\r\n";

  set_status(101);
  auto stream = connection()->detach();
  mark_detached();
  try {
    co_await stream->write(response);
  } catch (const StreamClosedError&) {
    co_return false;
  }
  protocol_ = std::make_shared<detail::ServerConnection>(*this, std::move(stream),
                                                         max_message_size(), deflate, compression);
  protocol_->set_subprotocol(std::move(subprotocol));
  co_return true;
}

Task<> WebSocketHandler::run_websocket(const Events& events) {
  if (!co_await accept_upgrade()) co_return;
  application().log_request(*this);
  if (Backpressure bp = get_backpressure();
      bp.high_water_mark != Backpressure{}.high_water_mark || bp.policy != Backpressure{}.policy ||
      bp.deadline != Backpressure{}.deadline || bp.close_code != Backpressure{}.close_code) {
    extras().backpressure = bp;
  }
  // The request stays readable for the connection's life, but most
  // connections never read it again: packed until they do.
  pack_request();
  protocol_->start_pings(settings().websocket_ping_interval, settings().websocket_ping_timeout);
  link_open();
  try {
    co_await events.open(*this, path_args());
  } catch (...) {
    log_exception(std::current_exception());
    protocol_->close(1011, "internal error");
  }

  // From here on the connection's read callback delivers the messages,
  // once the runner has handed this handler over (adopt_after_run).
  auto& connection = static_cast<detail::ServerConnection&>(*protocol_);
  connection.events_ = &events;
  connection.deliver_ = protocol_->open();
}

void WebSocketHandler::adopt_after_run(std::unique_ptr<RequestHandler>& self) noexcept {
  if (!protocol_) return;  // no upgrade
  auto& connection = static_cast<detail::ServerConnection&>(*protocol_);
  if (!connection.events_) return;  // the upgrade failed before reading began
  if (self.get() != this) return;   // the runner owns this handler: always
  (void)self.release();
  connection.owns_handler_ = true;
  auto keep = protocol_;  // start_reading may end the connection and free this handler
  try {
    keep->start_reading();
  } catch (const std::exception& e) {
    log::general.error("WebSocket: reading could not start: {}", e.what());
  }
}

iostream::IOStream::WriteAwaitable WebSocketHandler::write_message(std::string_view message,
                                                                   WriteOptions options) {
  if (!protocol_) throw WebSocketClosedError();
  // The same backpressure policy as topic messages; `wait` is awaiting the result.
  // (Off the loop's thread Protocol::write_message refuses; nothing is read here.)
  if (ioloop::IOLoop::current_or_null() == protocol_->loop_ && protocol_->open() &&
      protocol_->stream_->pending_write_bytes() >= backpressure().high_water_mark) {
    const Backpressure& bp = backpressure();
    if (bp.policy == Overflow::drop) {
      note_dropped({});
      return protocol_->stream_->completed_write();
    }
    if (bp.policy == Overflow::close) {
      close_slow(bp, {});
      return protocol_->stream_->completed_write();
    }
  }
  return protocol_->write_message(message, options.binary);
}

iostream::IOStream::WriteAwaitable WebSocketHandler::write_message(const nlohmann::json& message) {
  return write_message(escape::json_encode(message));
}

void WebSocketHandler::close(std::optional<std::uint16_t> code, std::string_view reason) {
  if (protocol_) protocol_->close(code, reason);
}

void WebSocketHandler::ping(std::string_view data) {
  if (!protocol_) throw WebSocketClosedError();
  protocol_->ping(data);
}

std::optional<std::uint16_t> WebSocketHandler::close_code() const {
  return protocol_ ? protocol_->close_code_ : std::nullopt;
}
std::string WebSocketHandler::close_reason() const {
  return protocol_ ? protocol_->close_reason() : std::string();
}
std::string WebSocketHandler::selected_subprotocol() const {
  return protocol_ ? protocol_->subprotocol() : std::string();
}
bool WebSocketHandler::is_open() const noexcept {
  return protocol_ && protocol_->open();
}
void WebSocketHandler::set_nodelay(bool value) {
  if (protocol_) protocol_->stream_->set_nodelay(value);
}

// The walk over this loop's open handlers (their links are private).
struct OpenHandlers {
  static void close_all(std::uint16_t code, std::string_view reason) {
    // Closing never ends a connection at once (the stream closes on a later
    // turn), so the list holds still while it is walked.
    for (auto* handler = open_handlers; handler; handler = handler->open_next_) {
      handler->close(code, reason);
    }
  }
};

void close_all(std::uint16_t code, std::string_view reason) {
  OpenHandlers::close_all(code, reason);
}

void graceful_shutdown(web::Application& app, std::function<void()> done,
                       std::chrono::milliseconds grace) {
  app.stop_listening();
  close_all(1001, "server shutting down");
  auto& loop = ioloop::IOLoop::current();
  loop.call_later(grace, [&app, &loop, done = std::move(done)] {
    app.close_all_connections();
    // One more turn so that the closes are written before `done` stops the loop.
    loop.call_later(std::chrono::milliseconds(50), done);
  });
}

}  // namespace tornado::websocket
