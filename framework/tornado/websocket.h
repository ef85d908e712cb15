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
//     void on_close() { tornado::log::app.info("WebSocket closed"); }
//   };
//
// and in the browser:
//
//   const ws = new WebSocket("ws://localhost:8888/websocket");
//   ws.onopen = () => ws.send("Hello, world");
//   ws.onmessage = (event) => alert(event.data);
//
// One rule for the event hooks: `open`, `on_message`, `on_binary_message`,
// `on_close`, `on_ping` and `on_pong` are found by name when `handler<H>()`
// is compiled (as the HTTP verbs are), each a plain function or a
// `tornado::Task<>` coroutine, none `virtual` (so no `override`):
//
//   open(path args...)       after the handshake, with the route's groups
//   on_message(message)      each message, in order: a coroutine finishes
//                            before the next message is handled. Takes
//                            std::string_view, const std::string& or
//                            std::string (a coroutine gets its own copy).
//                            Leave it out for a push-only handler: messages
//                            from the client are then read and dropped.
//   on_binary_message(data)  binary messages, if defined (same forms);
//                            otherwise on_message gets both and
//                            `last_message_binary()` tells them apart
//   on_ping(data), on_pong(data)  control frames (the pong to a ping is sent
//                            automatically); a coroutine runs on the loop
//                            without holding up the messages
//   on_close()               once, when the connection has closed, whoever
//                            closed it (`close_code()` says how)
//
// A hook returning anything but void or Task<> does not compile. Policy hooks
// are `virtual` and overridden: `check_origin`, `select_subprotocol`,
// `get_compression_options`, `max_message_size`, and `prepare` (found by
// name, as for every handler) runs before the handshake.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/detail/websocket/permessage_deflate.h"
#include "tornado/iostream.h"
#include "tornado/pubsub.h"
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

// ---------------------------------------------------------------------------
// Topics and backpressure (declared here, used by the handler below)

/// What happens to a message for a connection whose queue has reached its
/// high-water mark.
enum class Overflow {
  /// Queue it anyway; the publisher's `co_await` holds until the connection
  /// has flushed it, or closes the connection (with `close_code`) once
  /// `deadline` has passed.
  wait,
  /// Leave it out; the handler counts it and `on_message_dropped` is called.
  drop,
  /// Close the connection with `close_code` and a log line.
  close,
};

/// A high-water mark on a connection's queued bytes (accepted but not yet
/// taken by the kernel) and the policy once it is reached. The default keeps
/// memory bounded: a connection 4 MiB behind is closed with 1013.
struct Backpressure {
  /// Queued bytes at which `policy` applies to the next message.
  std::size_t high_water_mark = 4 * 1024 * 1024;
  /// What happens to a message for a connection at or past the mark.
  Overflow policy = Overflow::close;
  /// For `wait`: the longest a publisher waits for this connection.
  std::chrono::milliseconds deadline{5000};
  /// For `close` and a `wait` past its deadline: 1013 "try again later" or
  /// 1008 "policy violation".
  std::uint16_t close_code = 1013;
};

/// Keyword arguments of `publish`.
struct PublishOptions {
  /// Sends a binary message instead of text.
  bool binary = false;
};

namespace detail {
class Protocol;
class ServerConnection;
}  // namespace detail

/// A WebSocket endpoint, as `tornado.websocket.WebSocketHandler`: define `open` and
/// `on_message` (found by name, either may be a coroutine) and override `on_close`; one
/// object per connection, alive until it closes.
class WebSocketHandler : public web::RequestHandler {
 public:
  WebSocketHandler();
  ~WebSocketHandler() override;

  // ---- policy hooks (virtual; the event hooks are found by name) ----
  /// Accepts the handshake only if the Origin header's host equals the
  /// request's Host (same origin), as Tornado; override to allow others.
  virtual bool check_origin(std::string_view origin);
  /// Picks one of the client's subprotocols, or none.
  virtual std::optional<std::string> select_subprotocol(const std::vector<std::string>& protocols);
  /// Returns options to offer permessage-deflate; none disables it.
  virtual std::optional<CompressionOptions> get_compression_options() { return std::nullopt; }
  /// Largest message accepted; the websocket_max_message_size setting.
  virtual std::size_t max_message_size();

  // ---- talking ----
  /// Sends a message (binary with `{.binary = true}`). Await the result to
  /// wait until it is flushed (backpressure). Throws WebSocketClosedError.
  /// Loop thread only: called from another thread (a worker that finished a
  /// job) it is refused with std::logic_error, never a data race; a worker
  /// hands the message over with `IOLoop::add_callback`.
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

  // ---- topics (publish/subscribe) ----
  /// Receives every message published on `topic` (on this loop, and on every
  /// loop and process the topic broker joins) until `unsubscribe` or until
  /// the connection closes, whatever the reason. `backpressure` overrides the
  /// handler's for this topic's messages. Subscribing twice is a no-op. The
  /// future completes once the broker has confirmed the subscription (at
  /// once without a broker, or when this loop already had the topic): await
  /// it before telling the peer it will get messages from other processes.
  Future<> subscribe(std::string_view topic);
  /// `subscribe` with this topic's own high-water mark and policy, in place
  /// of `get_backpressure()`'s (a second call replaces the first).
  Future<> subscribe(std::string_view topic, Backpressure backpressure);
  /// Stops receiving `topic`'s messages (a no-op if not subscribed).
  void unsubscribe(std::string_view topic);
  /// True while subscribed to `topic`.
  bool subscribed(std::string_view topic) const noexcept;
  /// Same as `tornado::websocket::publish`.
  Task<std::size_t> publish(std::string_view topic, std::string_view message,
                            PublishOptions options = {});
  /// The high-water mark and policy for this connection's direct writes and
  /// topic messages; read once, when the connection opens.
  virtual Backpressure get_backpressure() { return {}; }
  /// A message was left out by the `drop` policy (`topic` empty for a
  /// direct `write_message`).
  virtual void on_message_dropped(std::string_view topic) { (void)topic; }
  /// How many messages the `drop` policy has left out on this connection.
  std::uint64_t dropped_messages() const noexcept { return dropped_messages_; }
  /// Bytes accepted for this connection but not yet taken by the kernel.
  std::size_t queued_bytes() const noexcept;

  /// Internal: the upgrade, run for GET by the dispatch table.
  struct Events {
    /// Runs the subclass's `open` with the route's groups.
    std::function<Task<>(WebSocketHandler&, const std::vector<std::string>&)> open;
    /// Runs the subclass's `on_message`.
    std::function<Task<>(WebSocketHandler&, std::string_view, bool binary)> message;
    /// Runs the subclass's `on_close`, if it has one.
    std::function<Task<>(WebSocketHandler&)> close;
    /// Runs the subclass's `on_ping`, if it has one.
    std::function<Task<>(WebSocketHandler&, std::string_view)> ping;
    /// Runs the subclass's `on_pong`, if it has one.
    std::function<Task<>(WebSocketHandler&, std::string_view)> pong;
  };
  /// Does the handshake and runs `open`; the frames that follow are read by
  /// the connection's read callback (no coroutine waits while it idles).
  Task<> run_websocket(const Events& events);

 private:
  void adopt_after_run(std::unique_ptr<RequestHandler>& self) noexcept override;
  // Not inlined: the compiler would otherwise place this coroutine's frame
  // (the handshake's strings and options) inside run_websocket's, which
  // lives as long as the connection.
  [[gnu::noinline]] Task<bool> accept_upgrade();
  friend class detail::Protocol;
  friend class detail::ServerConnection;
  // First: it fits in RequestHandler's tail padding.
  bool last_binary_ = false;
  std::shared_ptr<detail::Protocol> protocol_;

  // Topics: what this handler is subscribed to, its policy, what it dropped.
  friend struct TopicRegistry;
  void unsubscribe_all() noexcept;
  void note_dropped(std::string_view topic) noexcept;
  void close_slow(const Backpressure& bp, std::string_view topic);
  // Made only when the handler subscribes or has a backpressure policy of
  // its own: most idle connections need neither.
  struct Extras {
    std::vector<std::string> topics;
    Backpressure backpressure;
  };
  Extras& extras();
  const Backpressure& backpressure() const noexcept;
  std::unique_ptr<Extras> extras_;
  // This loop's open handlers (close_all), without an allocation per connection.
  friend struct OpenHandlers;
  WebSocketHandler* open_prev_ = nullptr;
  WebSocketHandler* open_next_ = nullptr;
  void link_open() noexcept;
  void unlink_open() noexcept;
  std::uint64_t dropped_messages_ = 0;
};

/// Publishes `message` on `topic`: every subscribed connection on this loop
/// gets it at once, framed (and compressed, where the peers agreed on no
/// context takeover) once for all; closed and closing connections are
/// skipped silently. With a topic broker (`set_topic_broker`) it is also
/// handed over to the other loops and processes. Awaiting the result gives
/// how many local connections got it, after waiting for those whose policy is
/// `wait`; it throws `pubsub::PubSubError` if the broker could not take it
/// (the local connections have it even then). Order per publisher is kept.
Task<std::size_t> publish(std::string_view topic, std::string_view message,
                          PublishOptions options = {});

/// Carries this loop's topics across loops (`pubsub::InProcessBroker`, shared
/// by the `--workers` threads) or processes (`pubsub::RedisBroker`, one per
/// loop): call it on each loop before connections subscribe. The broker must
/// outlive its use; `set_topic_broker(nullptr)` ends it (topics become
/// local again).
void set_topic_broker(pubsub::Broker* broker);

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

/// A WebSocket hook taking one text argument, found by name: called with
/// the string_view when it takes one, else with a std::string; a coroutine
/// gets its own copy of the text.
#define TORNADO_WEBSOCKET_TEXT_HOOK(Name, member)                                                 \
  struct Name {                                                                                   \
    template <class H>                                                                            \
    static constexpr bool takes_view() {                                                          \
      return requires(H & h, std::string_view m) {                                                \
        h.member(m);                                                                              \
      };                                                                                          \
    }                                                                                             \
    template <class H>                                                                            \
    static constexpr bool exists() {                                                              \
      return takes_view<H>() || requires(H & h, std::string & m) {                                \
        h.member(m);                                                                              \
      };                                                                                          \
    }                                                                                             \
    template <class H>                                                                            \
    static auto result() {                                                                        \
      if constexpr (takes_view<H>()) {                                                            \
        return std::type_identity<decltype(std::declval<H&>().member(std::string_view()))>{};     \
      } else {                                                                                    \
        return std::type_identity<decltype(std::declval<H&>().member(                             \
            std::declval<std::string&>()))>{};                                                    \
      }                                                                                           \
    }                                                                                             \
    template <class H>                                                                            \
    static Task<> call(websocket::WebSocketHandler& base, std::string_view text) {                \
      H& h = static_cast<H&>(base);                                                               \
      using R = typename decltype(result<H>())::type;                                             \
      static_assert(std::is_void_v<R> || std::is_same_v<R, Task<>>,                               \
                    "WebSocketHandler: " #member                                                  \
                    " must return void or tornado::Task<> (any "                                  \
                    "other result would be dropped)");                                            \
      if constexpr (std::is_same_v<R, Task<>>) {                                                  \
        return [](H& h, std::string m) -> Task<> { co_await h.member(m); }(h, std::string(text)); \
      } else if constexpr (takes_view<H>()) {                                                     \
        h.member(text);                                                                           \
        return Task<>();                                                                          \
      } else {                                                                                    \
        std::string m(text);                                                                      \
        h.member(m);                                                                              \
        return Task<>();                                                                          \
      }                                                                                           \
    }                                                                                             \
  };
TORNADO_WEBSOCKET_TEXT_HOOK(MessageHook, on_message)
TORNADO_WEBSOCKET_TEXT_HOOK(BinaryMessageHook, on_binary_message)
TORNADO_WEBSOCKET_TEXT_HOOK(PingHook, on_ping)
TORNADO_WEBSOCKET_TEXT_HOOK(PongHook, on_pong)
#undef TORNADO_WEBSOCKET_TEXT_HOOK

/// handler<H>() for WebSocketHandler subclasses: GET runs the upgrade.
template <class H>
struct WebSocketSpec<H, std::enable_if_t<std::is_base_of_v<websocket::WebSocketHandler, H>>> {
  static constexpr bool is_websocket = true;
  static void apply(HandlerSpec& spec) {
    using namespace tornado::detail;
    spec.websocket = true;
    // prepare() runs in the upgrade below (prepare_then_upgrade), not in the
    // generic path as well.
    spec.prepare = nullptr;
    // GET is the upgrade; it fits the route when open() takes its groups.
    constexpr unsigned open_mask = arity_mask<HookOpen, H>();
    spec.verbs["GET"] = open_mask ? open_mask : 0x7fu;
    static const websocket::WebSocketHandler::Events events = [] {
      websocket::WebSocketHandler::Events e;
      e.open = [](websocket::WebSocketHandler& base, const std::vector<std::string>& args) {
        return tornado::detail::invoke<HookOpen, H>(static_cast<H&>(base), args);
      };
      e.message = [](websocket::WebSocketHandler& base, std::string_view message,
                     bool binary) -> Task<> {
        if constexpr (BinaryMessageHook::template exists<H>()) {
          if (binary) return BinaryMessageHook::template call<H>(base, message);
        }
        if constexpr (MessageHook::template exists<H>()) {
          return MessageHook::template call<H>(base, message);
        } else {
          return Task<>();  // push-only: nothing listens
        }
      };
      if constexpr (requires(H & h) { h.on_close(); }) {
        using CloseResult = decltype(std::declval<H&>().on_close());
        static_assert(std::is_void_v<CloseResult> || std::is_same_v<CloseResult, Task<>>,
                      "WebSocketHandler: on_close must return void or tornado::Task<> (any other "
                      "result would be dropped)");
        e.close = [](websocket::WebSocketHandler& base) -> Task<> {
          H& h = static_cast<H&>(base);
          if constexpr (std::is_void_v<decltype(h.on_close())>) {
            h.on_close();
            return Task<>();
          } else {
            return h.on_close();
          }
        };
      }
      if constexpr (PingHook::template exists<H>()) e.ping = &PingHook::template call<H>;
      if constexpr (PongHook::template exists<H>()) e.pong = &PongHook::template call<H>;
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
