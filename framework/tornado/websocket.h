// tornado::websocket: bidirectional messages between browser and server,
// mirroring tornado.websocket.
//
// A WebSocket is an HTTP request that turns into a long-lived, two-way
// channel: the browser sends `GET` with `Upgrade: websocket`, the server
// answers `101 Switching Protocols`, and from then on either side sends
// messages at any time. A handler has three phases: `open()` when the
// channel is up, `on_message()` for each message, `on_close()` at the end;
// the server may call `write_message()` whenever it likes, not only in reply.
//
//   class EchoWebSocket : public tornado::websocket::WebSocketHandler {
//    public:
//     void open() { tornado::log::app.info("WebSocket opened"); }
//     void on_message(std::string_view message) {
//       write_message(fmt::format("You said: {}", message));
//     }
//     void on_close() override { tornado::log::app.info("WebSocket closed"); }
//   };
//
// and in the browser:
//
//   const ws = new WebSocket("ws://localhost:8888/websocket");
//   ws.onopen = () => ws.send("Hello, world");
//   ws.onmessage = (event) => alert(event.data);
//
// `open` (with the route's path arguments) and `on_message` are found by
// name at compile time and may be plain functions or `tornado::Task<>`
// coroutines; messages are delivered in order, the next after a coroutine
// `on_message` has finished. Define `on_binary_message(std::string_view)` to
// receive binary messages separately; otherwise `on_message` gets both and
// `last_message_binary()` tells them apart. Policy hooks are virtual:
// `check_origin`, `select_subprotocol`, `get_compression_options`,
// `on_ping`, `on_pong`, `on_close`.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/detail/permessage_deflate.h"
#include "tornado/iostream.h"
#include "tornado/web.h"

namespace tornado::websocket {

/// Raised by `write_message` on a closed connection.
class WebSocketClosedError : public std::runtime_error {
 public:
  WebSocketClosedError() : std::runtime_error("WebSocket is closed") {}
};

/// Keyword arguments of `write_message`.
struct WriteOptions {
  /// Send a binary message instead of text.
  bool binary = false;
};

/// permessage-deflate settings (RFC 7692): levels, context takeover, windows.
using CompressionOptions = tornado::detail::ws::DeflateOptions;

namespace detail {
class Protocol;
}

/// A WebSocket endpoint, as `tornado.websocket.WebSocketHandler`: define `open` and
/// `on_message` (found by name, either may be a coroutine) and override `on_close`; one
/// object per connection, alive until it closes.
class WebSocketHandler : public web::RequestHandler {
 public:
  WebSocketHandler();
  ~WebSocketHandler() override;

  // ---- policy hooks ----
  /// Called when the connection closes, whoever closed it.
  virtual void on_close() {}
  /// Accepts the handshake only if the Origin header's host equals the
  /// request's Host (same origin), as Tornado; override to allow others.
  virtual bool check_origin(std::string_view origin);
  /// Picks one of the client's subprotocols, or none.
  virtual std::optional<std::string> select_subprotocol(const std::vector<std::string>& protocols);
  /// Returns options to offer permessage-deflate; none disables it.
  virtual std::optional<CompressionOptions> get_compression_options() { return std::nullopt; }
  /// A ping arrived (the pong is sent automatically).
  virtual void on_ping(std::string_view data) { (void)data; }
  /// A pong arrived.
  virtual void on_pong(std::string_view data) { (void)data; }
  /// Largest message accepted; the websocket_max_message_size setting.
  virtual std::size_t max_message_size();

  // ---- talking ----
  /// Sends a message (binary with `{.binary = true}`). Await the result to
  /// wait until it is flushed (backpressure). Throws WebSocketClosedError.
  iostream::IOStream::WriteAwaitable write_message(std::string_view message,
                                                   WriteOptions options = {});
  /// Sends a std::string; see the string_view overload.
  iostream::IOStream::WriteAwaitable write_message(const std::string& message,
                                                   WriteOptions options = {}) {
    return write_message(std::string_view(message), options);
  }
  /// Sends a C string; see the string_view overload.
  iostream::IOStream::WriteAwaitable write_message(const char* message, WriteOptions options = {}) {
    return write_message(std::string_view(message), options);
  }
  /// Sends a JSON value as a text message.
  iostream::IOStream::WriteAwaitable write_message(const nlohmann::json& message);
  /// Starts the closing handshake (code 1000 unless given).
  void close(std::optional<std::uint16_t> code = std::nullopt, std::string_view reason = {});
  /// Sends a ping with optional data (at most 125 bytes).
  void ping(std::string_view data = {});
  /// The code and reason the peer closed with (after `on_close`).
  std::optional<std::uint16_t> close_code() const;
  /// The reason the peer closed with (after `on_close`).
  std::string close_reason() const;
  /// The subprotocol chosen in the handshake, if any.
  std::string selected_subprotocol() const;
  /// True while messages can be sent.
  bool is_open() const noexcept;
  /// True if the message being handled arrived as binary.
  bool last_message_binary() const noexcept { return last_binary_; }
  /// Disables Nagle's algorithm on the connection (on by default).
  void set_nodelay(bool value);

  /// Internal: the upgrade, run for GET by the dispatch table.
  struct Events {
    /// Runs the subclass's `open` with the route's groups.
    std::function<Task<>(WebSocketHandler&, const std::vector<std::string>&)> open;
    /// Runs the subclass's `on_message`.
    std::function<Task<>(WebSocketHandler&, std::string_view, bool binary, bool copy)> message;
    /// True when `on_message` returns a Task.
    bool message_is_coroutine = false;
  };
  /// Does the handshake, then reads frames until the connection closes.
  Task<> run_websocket(const Events& events);

 private:
  // Not inlined: the compiler would otherwise place this coroutine's frame
  // (the handshake's strings and options) inside run_websocket's, which
  // lives as long as the connection.
  [[gnu::noinline]] Task<bool> accept_upgrade();
  friend class detail::Protocol;
  std::shared_ptr<detail::Protocol> protocol_;
  bool last_binary_ = false;
};

/// Closes every open server-side WebSocket on this thread's loop with
/// `code` (1001 "going away" for a shutdown).
void close_all(std::uint16_t code = 1001, std::string_view reason = "server shutting down");

/// The graceful shutdown of one loop's share of a server (on SIGTERM, say):
/// stops accepting, closes this loop's WebSockets with 1001 so that pages
/// reconnect elsewhere, gives close handshakes and in-flight responses
/// `grace`, closes whatever is left, then calls `done` (usually the loop's
/// `stop`).
void graceful_shutdown(web::Application& app, std::function<void()> done,
                       std::chrono::milliseconds grace = std::chrono::milliseconds(300));

/// A client connection, as `tornado.websocket.WebSocketClientConnection`.
class WebSocketClientConnection {
 public:
  ~WebSocketClientConnection();
  /// Sends a message (masked, as clients must).
  iostream::IOStream::WriteAwaitable write_message(std::string_view message,
                                                   WriteOptions options = {});
  /// The next message, or nothing once the connection has closed.
  Task<std::optional<std::string>> read_message();
  /// Starts the closing handshake.
  void close(std::optional<std::uint16_t> code = std::nullopt, std::string_view reason = {});
  /// Sends a ping with optional data (at most 125 bytes).
  void ping(std::string_view data = {});
  /// The code the server closed with, once closed.
  std::optional<std::uint16_t> close_code() const;
  /// The reason the server closed with, once closed.
  std::string close_reason() const;
  /// The subprotocol the server chose, if any.
  std::string selected_subprotocol() const;
  /// True if the last message returned by `read_message` was binary.
  bool last_message_binary() const noexcept { return last_binary_; }
  /// The negotiated permessage-deflate parameters, if any.
  std::optional<tornado::detail::ws::DeflateParams> compression() const;

 private:
  friend struct ClientConnector;
  WebSocketClientConnection() = default;
  std::shared_ptr<detail::Protocol> protocol_;
  std::shared_ptr<void> state_;
  bool last_binary_ = false;
};

/// Options of `websocket_connect`.
struct ConnectOptions {
  /// Extra headers for the handshake request.
  httputil::HTTPHeaders headers;
  /// Subprotocols to offer, in order of preference.
  std::vector<std::string> subprotocols;
  /// Offer permessage-deflate with these options.
  std::optional<CompressionOptions> compression_options;
  /// Largest message accepted from the server.
  std::size_t max_message_size = 10 * 1024 * 1024;
  /// Gives up on the connection and handshake after this long.
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(20);
  /// For wss://: certificate verification (on by default) and CA file.
  bool validate_cert = true;
  /// A CA file to verify the server's certificate against, instead of the system's.
  std::string ca_certs;
  /// Called for every message instead of queueing it for read_message().
  std::function<void(std::optional<std::string_view>)> on_message_callback;
};

/// Connects to a ws:// or wss:// URL, as `tornado.websocket.websocket_connect`.
/// Throws StreamClosedError, TimeoutError, or HTTPClientError-like
/// std::runtime_error when the server refuses the handshake.
Task<std::unique_ptr<WebSocketClientConnection>> websocket_connect(std::string url,
                                                                   ConnectOptions options = {});

}  // namespace tornado::websocket

namespace tornado::web::detail {

/// handler<H>() for WebSocketHandler subclasses: GET runs the upgrade.
template <class H>
struct WebSocketSpec<H, std::enable_if_t<std::is_base_of_v<websocket::WebSocketHandler, H>>> {
  static void apply(HandlerSpec& spec) {
    using namespace tornado::detail;
    spec.websocket = true;
    // GET is the upgrade; it fits the route when open() takes its groups.
    constexpr unsigned open_mask = arity_mask<HookOpen, H>();
    spec.verbs["GET"] = open_mask ? open_mask : 0x7fu;
    static const websocket::WebSocketHandler::Events events = [] {
      websocket::WebSocketHandler::Events e;
      e.open = [](websocket::WebSocketHandler& base, const std::vector<std::string>& args) {
        return tornado::detail::invoke<HookOpen, H>(static_cast<H&>(base), args);
      };
      constexpr bool has_binary = requires(H & h, std::string_view m) {
        h.on_binary_message(m);
      };
      using MessageResult = decltype(std::declval<H&>().on_message(std::string_view()));
      e.message_is_coroutine = std::is_same_v<MessageResult, Task<>>;
      e.message = [](websocket::WebSocketHandler& base, std::string_view message, bool binary,
                     bool copy) -> Task<> {
        H& h = static_cast<H&>(base);
        if constexpr (has_binary) {
          if (binary) {
            if constexpr (std::is_same_v<decltype(h.on_binary_message(message)), Task<>>) {
              return [](H& h, std::string m) -> Task<> { co_await h.on_binary_message(m); }(
                                                 h, std::string(message));
            } else {
              h.on_binary_message(message);
              return Task<>();
            }
          }
        }
        if constexpr (std::is_same_v<MessageResult, Task<>>) {
          (void)copy;
          return [](H& h, std::string m) -> Task<> { co_await h.on_message(m); }(
                                             h, std::string(message));
        } else {
          h.on_message(message);
          return Task<>();
        }
      };
      return e;
    }();
    spec.invoke = [](RequestHandler& base, std::string_view method,
                     const std::vector<std::string>& args) -> Task<> {
      (void)args;
      if (method != "GET") throw HTTPError(405);
      auto& h = static_cast<H&>(base);
      if constexpr (arity_mask<HookPrepare, H>() & 1u) {
        return prepare_then_upgrade(h, events);
      } else {
        return static_cast<websocket::WebSocketHandler&>(h).run_websocket(events);
      }
    };
  }

  // As in Tornado, prepare() (where authentication lives) runs before the
  // handshake: if it answers the request (an HTTPError, a redirect, a
  // finish) there is no upgrade.
  static Task<> prepare_then_upgrade(H& h, const websocket::WebSocketHandler::Events& events) {
    co_await tornado::detail::run_hook([&h] { return h.prepare(); });
    if (static_cast<RequestHandler&>(h).finished()) co_return;
    co_await static_cast<websocket::WebSocketHandler&>(h).run_websocket(events);
  }
};

}  // namespace tornado::web::detail
