#include "tornado/websocket.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <random>
#include <unordered_set>

#include <unistd.h>

#include "tornado/detail/ascii.h"
#include "tornado/detail/http1_strict.h"
#include "tornado/detail/ioloop_streams.h"
#include "tornado/detail/websocket/protocol.h"
#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/tcpclient.h"

namespace tornado::websocket {

namespace ws = tornado::detail::ws;
using iostream::IOStream;
using iostream::StreamClosedError;

namespace detail {

// One WebSocket connection's protocol state, shared by the server handler
// and the client: framing, compression, the closing handshake and pings.
class Protocol : public std::enable_shared_from_this<Protocol> {
 public:
  /// Where run() delivers what it reads. An interface rather than two
  /// std::function parameters: the read loop's frame lives as long as the
  /// connection, so it should be small, and a message costs one call.
  class Sink {
   public:
    /// A whole text or binary message; a returned Task is awaited before
    /// the next message is read (a coroutine `on_message`).
    virtual Task<> on_data(std::string_view message, bool binary) = 0;
    virtual void on_control(ws::Opcode opcode, std::string_view data) = 0;

   protected:
    ~Sink() = default;
  };

  Protocol(std::shared_ptr<IOStream> stream, ws::Role role, std::size_t max_message_size,
           std::optional<ws::DeflateParams> deflate, const ws::DeflateOptions& deflate_options)
      : stream_(std::move(stream)),
        role_(role),
        deflate_params_(deflate),
        deflate_level_(deflate_options.compression_level),
        deflate_mem_level_(deflate_options.mem_level),
        loop_(ioloop::IOLoop::current_or_null()) {
    std::unique_ptr<ws::Inflater> inflater;
    if (deflate) {
      inflater = ws::make_inflater(role, *deflate, deflate_options);
      deflater_.emplace(ws::make_deflater(role, *deflate, deflate_options));
    }
    reader_ = ws::MessageReader({.role = role, .max_message_size = max_message_size},
                                std::move(inflater));
  }

  ~Protocol() { stop_timers(); }

  bool open() const noexcept { return !close_sent_ && !stream_->closed(); }

  IOStream::WriteAwaitable send_frame(ws::Opcode opcode, std::string_view payload, bool rsv1) {
    std::array<char, ws::kMaxFrameHeaderSize> header{};
    ws::FrameOptions options{.fin = true, .rsv1 = rsv1};
    if (role_ == ws::Role::client) {
      options.mask = ws::generate_masking_key();
      // A compressed payload is already in scratch_ and is masked there.
      if (payload.data() != scratch_.data()) scratch_.assign(payload);
      ws::mask_payload(scratch_, *options.mask);
      payload = scratch_;
    }
    std::size_t n = ws::encode_frame_header(header, opcode, payload.size(), options);
    std::string_view parts[] = {std::string_view(header.data(), n), payload};
    return stream_->write(parts);
  }

  IOStream::WriteAwaitable write_message(std::string_view message, bool binary) {
    // The stream belongs to one loop's thread: a worker writing here would
    // race it. Refused, loudly, rather than half-working.
    if (ioloop::IOLoop::current_or_null() != loop_) {
      throw std::logic_error(
          "WebSocket write_message called off its IOLoop's thread: hand the message over "
          "with IOLoop::add_callback");
    }
    if (!open()) throw WebSocketClosedError();
    auto opcode = binary ? ws::Opcode::binary : ws::Opcode::text;
    if (deflater_) {
      scratch_.clear();
      deflater_->compress(message, scratch_);
      return send_frame(opcode, scratch_, true);
    }
    return send_frame(opcode, message, false);
  }

  /// A whole unmasked frame (server to client), to be shared by receivers.
  static std::shared_ptr<const std::string> make_server_frame(ws::Opcode opcode,
                                                              std::string_view payload, bool rsv1) {
    std::array<char, ws::kMaxFrameHeaderSize> header{};
    std::size_t n =
        ws::encode_frame_header(header, opcode, payload.size(), {.fin = true, .rsv1 = rsv1});
    auto frame = std::make_shared<std::string>();
    frame->reserve(n + payload.size());
    frame->append(header.data(), n);
    frame->append(payload);
    return frame;
  }

  /// The compressed frame of `message` for this connection. Another
  /// connection may send the same bytes when both are compression_shareable()
  /// with one compression_key() (no context takeover: each message is
  /// compressed on its own, with the same settings).
  std::shared_ptr<const std::string> compressed_frame(ws::Opcode opcode, std::string_view message) {
    scratch_.clear();
    deflater_->compress(message, scratch_);
    return make_server_frame(opcode, scratch_, true);
  }
  bool compression_shareable() const noexcept {
    return deflate_params_ && deflate_params_->server_no_context_takeover;
  }
  /// Receivers whose compressed frames are identical share this key.
  std::uint32_t compression_key() const noexcept {
    return static_cast<std::uint32_t>(deflate_params_->server_max_window_bits) |
           static_cast<std::uint32_t>(deflate_level_ + 1) << 8 |
           static_cast<std::uint32_t>(deflate_mem_level_) << 16;
  }

  void ping(std::string_view data) {
    if (!open()) throw WebSocketClosedError();
    if (data.size() > ws::kMaxControlPayload) throw std::invalid_argument("ping data too long");
    (void)send_frame(ws::Opcode::ping, data, false);
  }

  void close(std::optional<std::uint16_t> code, std::string_view reason) {
    if (stream_->closed()) return;
    if (!close_sent_) {
      close_sent_ = true;
      try {
        (void)send_frame(ws::Opcode::close, ws::make_close_payload(code, reason), false);
      } catch (const StreamClosedError&) {
      }
    }
    if (close_received_) {
      stream_->close();
      return;
    }
    // Give the peer a moment to answer the close frame, then drop it.
    auto self = weak_from_this();
    close_timer_ = ioloop::IOLoop::current().call_later(std::chrono::seconds(5), [self] {
      if (auto p = self.lock()) p->stream_->close();
    });
  }

  void start_pings(std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
    if (interval.count() <= 0) return;
    ping_interval_ = interval;
    ping_timeout_ = timeout.count() > 0 ? timeout : interval * 3;
    last_pong_ = ioloop::Clock::now();
    schedule_ping();
  }

  /// Reads until the connection ends; data messages go to `on_data`.
  Task<> run(Sink& sink) {
    auto self = shared_from_this();
    try {
      while (!stream_->closed()) {
        co_await stream_->wait_for_bytes();
        // Every answer to this read (echoes, pongs) goes out in one write.
        stream_->cork();
        std::span<char> input = stream_->buffered_mutable();
        std::size_t offset = 0;
        bool stop = false;
        while (!stop) {
          ws::ReadResult r = reader_.read(input.subspan(offset));
          offset += r.consumed;
          if (r.status == ws::ReadStatus::need_more) break;
          if (r.status == ws::ReadStatus::error) {
            log::general.info("WebSocket protocol error from {}: {}", stream_->remote_ip(),
                              r.error_reason);
            close(r.error_code, r.error_reason);
            stream_->consume(offset);
            stream_->close();
            co_return;
          }
          const ws::Message& m = r.message;
          switch (m.opcode) {
            case ws::Opcode::text:
            case ws::Opcode::binary: {
              if (close_sent_) break;  // no more messages after we closed
              Task<> handled = sink.on_data(m.payload, m.opcode == ws::Opcode::binary);
              if (handled) {
                // The payload was copied; free the buffer before awaiting.
                stream_->consume(offset);
                offset = 0;
                stream_->uncork();
                co_await handled;
                stream_->cork();
                input = stream_->buffered_mutable();
              }
              break;
            }
            case ws::Opcode::ping:
              if (!close_sent_) (void)send_frame(ws::Opcode::pong, m.payload, false);
              sink.on_control(m.opcode, m.payload);
              break;
            case ws::Opcode::pong:
              last_pong_ = ioloop::Clock::now();
              sink.on_control(m.opcode, m.payload);
              break;
            case ws::Opcode::close:
              close_received_ = true;
              close_code_ = m.close_code == ws::close_code::no_status
                                ? std::nullopt
                                : std::optional<std::uint16_t>(m.close_code);
              close_reason_ = std::string(m.payload);
              // Echo the peer's code, as RFC 6455 5.5.1 suggests.
              close(close_code_, {});
              stop = true;
              break;
            default:
              break;
          }
          if (stream_->closed()) stop = true;
        }
        if (!stream_->closed()) stream_->consume(offset);
        stream_->uncork();
      }
    } catch (const StreamClosedError&) {
    }
    stop_timers();
  }

  std::shared_ptr<IOStream> stream_;
  ws::Role role_;
  ws::MessageReader reader_;
  std::optional<ws::Deflater> deflater_;
  std::optional<ws::DeflateParams> deflate_params_;
  int deflate_level_;
  int deflate_mem_level_;
  ioloop::IOLoop* loop_;  // the loop whose thread may write
  // The masked copy of a client's payload, or the compressed payload.
  std::string scratch_;
  bool close_sent_ = false;
  bool close_received_ = false;
  std::optional<std::uint16_t> close_code_;
  std::string close_reason_;
  std::string subprotocol_;

 private:
  void schedule_ping() {
    auto self = weak_from_this();
    ping_timer_ = ioloop::IOLoop::current().call_later(ping_interval_, [self] {
      auto p = self.lock();
      if (!p || !p->open()) return;
      if (ioloop::Clock::now() - p->last_pong_ > p->ping_timeout_) {
        log::general.info("WebSocket ping timeout from {}", p->stream_->remote_ip());
        p->stream_->close();
        return;
      }
      (void)p->send_frame(ws::Opcode::ping, {}, false);
      p->schedule_ping();
    });
  }

  void stop_timers() {
    if (auto* loop = ioloop::IOLoop::current_or_null(); loop && !loop->closing()) {
      loop->remove_timeout(close_timer_);
      loop->remove_timeout(ping_timer_);
    }
  }

  ioloop::TimeoutHandle close_timer_;
  ioloop::TimeoutHandle ping_timer_;
  std::chrono::milliseconds ping_interval_{0};
  std::chrono::milliseconds ping_timeout_{0};
  ioloop::Clock::time_point last_pong_;
};

}  // namespace detail

namespace {

// Every open server-side handler on this thread, for close_all().
thread_local std::unordered_set<WebSocketHandler*> open_handlers;

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

WebSocketHandler::WebSocketHandler() = default;
WebSocketHandler::~WebSocketHandler() {
  open_handlers.erase(this);
  unsubscribe_all();
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
  protocol_ = std::make_shared<detail::Protocol>(std::move(stream), ws::Role::server,
                                                 max_message_size(), deflate, compression);
  protocol_->subprotocol_ = std::move(subprotocol);
  co_return true;
}

Task<> WebSocketHandler::run_websocket(const Events& events) {
  if (!co_await accept_upgrade()) co_return;
  application().log_request(*this);
  backpressure_ = get_backpressure();
  // The request stays readable for the connection's life, but most
  // connections never read it again: packed until they do.
  pack_request();
  protocol_->start_pings(settings().websocket_ping_interval, settings().websocket_ping_timeout);
  open_handlers.insert(this);
  try {
    co_await events.open(*this, path_args());
  } catch (...) {
    log_exception(std::current_exception());
    protocol_->close(1011, "internal error");
  }

  // Messages go straight to the handler's on_message.
  struct HandlerSink final : detail::Protocol::Sink {
    WebSocketHandler* handler;
    const Events* events;
    HandlerSink(WebSocketHandler* h, const Events* e) : handler(h), events(e) {}
    Task<> on_data(std::string_view message, bool binary) override {
      handler->last_binary_ = binary;
      try {
        return events->message(*handler, message, binary, events->message_is_coroutine);
      } catch (...) {
        handler->log_exception(std::current_exception());
        handler->protocol_->close(1011, "internal error");
        return Task<>();
      }
    }
    void on_control(ws::Opcode opcode, std::string_view data) override {
      const auto* hook = opcode == ws::Opcode::ping   ? &events->ping
                         : opcode == ws::Opcode::pong ? &events->pong
                                                      : nullptr;
      if (!hook || !*hook) return;
      try {
        // Control frames are handled inline: a coroutine hook runs on the
        // loop on its own, errors logged, without holding up the messages.
        if (auto work = (*hook)(*handler, data)) spawn(std::move(work));
      } catch (...) {
        handler->log_exception(std::current_exception());
      }
    }
  };
  // After a failed open(): only the closing handshake is left to read.
  struct ClosingSink final : detail::Protocol::Sink {
    Task<> on_data(std::string_view, bool) override { return Task<>(); }
    void on_control(ws::Opcode, std::string_view) override {}
  };
  // One call site: the compiler places the read loop's frame inside this
  // one (it lives as long as the connection), once rather than per branch.
  HandlerSink handler_sink(this, &events);
  ClosingSink closing_sink;
  detail::Protocol::Sink* sink = &closing_sink;
  if (protocol_->open()) sink = &handler_sink;
  co_await protocol_->run(*sink);
  open_handlers.erase(this);
  unsubscribe_all();
  if (events.close) {
    try {
      if (auto work = events.close(*this)) co_await work;
    } catch (...) {
      log_exception(std::current_exception());
    }
  }
}

iostream::IOStream::WriteAwaitable WebSocketHandler::write_message(std::string_view message,
                                                                   WriteOptions options) {
  if (!protocol_) throw WebSocketClosedError();
  // The same backpressure policy as topic messages; `wait` is awaiting the result.
  // (Off the loop's thread Protocol::write_message refuses; nothing is read here.)
  if (ioloop::IOLoop::current_or_null() == protocol_->loop_ && protocol_->open() &&
      protocol_->stream_->pending_write_bytes() >= backpressure_.high_water_mark) {
    if (backpressure_.policy == Overflow::drop) {
      note_dropped({});
      return protocol_->stream_->completed_write();
    }
    if (backpressure_.policy == Overflow::close) {
      close_slow(backpressure_, {});
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
  return protocol_ ? protocol_->close_reason_ : std::string();
}
std::string WebSocketHandler::selected_subprotocol() const {
  return protocol_ ? protocol_->subprotocol_ : std::string();
}
bool WebSocketHandler::is_open() const noexcept {
  return protocol_ && protocol_->open();
}
void WebSocketHandler::set_nodelay(bool value) {
  if (protocol_) protocol_->stream_->set_nodelay(value);
}

void close_all(std::uint16_t code, std::string_view reason) {
  auto handlers = open_handlers;
  for (auto* handler : handlers) handler->close(code, reason);
}

void graceful_shutdown(web::Application& app, std::function<void()> done,
                       std::chrono::milliseconds grace) {
  app.stop_listening();
  close_all(1001, "server shutting down");
  auto& loop = ioloop::IOLoop::current();
  loop.call_later(grace, [&app, &loop, done = std::move(done)] {
    for (auto& server : app.servers()) server->close_all_connections();
    // One more turn so that the closes are written before `done` stops the loop.
    loop.call_later(std::chrono::milliseconds(50), done);
  });
}

// ---------------------------------------------------------------------------
// Topics: publish/subscribe between the connections of a loop, and through a
// broker between loops and processes.

namespace {

// A message from the broker names the loop that published it (already
// delivered there) and whether it is binary: 8 bytes of origin, 1 of flags.
constexpr std::size_t kEnvelopeHeader = 9;
constexpr std::string_view kChannelPrefix = "tornado.websocket.topic.";

std::uint64_t make_origin() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

}  // namespace

// One loop's topics: who is subscribed, and the broker subscriptions that
// bring other loops' messages here. Thread-local, as open_handlers.
struct TopicRegistry {
  struct Receiver {
    WebSocketHandler* handler;
    std::optional<Backpressure> backpressure;
  };
  struct Topic {
    std::vector<Receiver> receivers;
    pubsub::Subscription remote;
  };
  // A connection past its mark under `wait`: the publisher waits for its write.
  struct Waiter {
    std::shared_ptr<detail::Protocol> protocol;
    IOStream::WriteAwaitable write;
    Backpressure backpressure;
  };

  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>()(s);
    }
  };
  std::unordered_map<std::string, Topic, Hash, std::equal_to<>> topics;
  pubsub::Broker* broker = nullptr;
  // Which loop published a message that comes back through the broker. A
  // forked process inherits its parent's registry: a new pid, a new origin.
  std::uint64_t origin_ = 0;
  pid_t origin_pid_ = 0;
  std::uint64_t origin() {
    if (pid_t pid = ::getpid(); pid != origin_pid_) {
      origin_pid_ = pid;
      origin_ = make_origin();
    }
    return origin_;
  }

  static TopicRegistry& current() {
    thread_local TopicRegistry registry;
    return registry;
  }

  Future<> add(WebSocketHandler* handler, std::string_view topic,
               std::optional<Backpressure> backpressure) {
    auto it = topics.find(topic);
    if (it == topics.end()) {
      it = topics.emplace(std::string(topic), Topic{}).first;
      if (broker) it->second.remote = subscribe_remote(it->first);
    }
    it->second.receivers.push_back({handler, backpressure});
    if (it->second.remote) return it->second.remote.ready();
    Future<> local;
    local.set_result();
    return local;
  }

  void remove(WebSocketHandler* handler, std::string_view topic) noexcept {
    auto it = topics.find(topic);
    if (it == topics.end()) return;
    auto& receivers = it->second.receivers;
    auto r = std::find_if(receivers.begin(), receivers.end(),
                          [&](const Receiver& x) { return x.handler == handler; });
    if (r != receivers.end()) receivers.erase(r);
    if (receivers.empty()) topics.erase(it);  // and its broker subscription
  }

  pubsub::Subscription subscribe_remote(const std::string& topic) {
    std::string channel = std::string(kChannelPrefix) + topic;
    return broker->subscribe(channel, [topic](std::string_view, std::string_view envelope) {
      if (envelope.size() < kEnvelopeHeader) return;
      std::uint64_t from;
      std::memcpy(&from, envelope.data(), sizeof from);
      auto& self = TopicRegistry::current();
      if (from == self.origin()) return;  // delivered when it was published
      bool binary = envelope[8] & 1;
      std::vector<Waiter> waiters;
      self.deliver(topic, envelope.substr(kEnvelopeHeader), binary, waiters);
      // A remote publisher cannot be held: a connection that does not drain
      // within its deadline is closed, which keeps its queue bounded.
      for (auto& w : waiters) spawn(wait_for(std::move(w)));
    });
  }

  // Sends to every open receiver of `topic` on this loop; returns how many
  // got it. Each distinct frame is built once and its bytes shared.
  std::size_t deliver(std::string_view topic, std::string_view message, bool binary,
                      std::vector<Waiter>& waiters) {
    auto it = topics.find(topic);
    if (it == topics.end()) return 0;
    // The list is walked in place (a copy per publish cost as much as the
    // walk itself with 1,000 receivers). What may subscribe, unsubscribe or
    // publish again, on_message_dropped and the close of a slow connection,
    // runs after the walk, for the connections gathered in `overflowing`.
    const std::vector<Receiver>& receivers = it->second.receivers;
    struct Overflowing {
      WebSocketHandler* handler;
      Backpressure backpressure;
    };
    std::vector<Overflowing> overflowing;
    // As if answering a read: each receiver's bytes are held until the loop
    // has handled this iteration, so that a burst of publishes reaches each
    // socket in one system call instead of one per message.
    struct Holding {
      unsigned* reading = nullptr;
      Holding() {
        if (auto* loop = ioloop::IOLoop::current_or_null()) {
          reading = &tornado::detail::IOLoopStreams::buffers(*loop).reading;
          ++*reading;
        }
      }
      ~Holding() {
        if (reading) --*reading;
      }
      Holding(const Holding&) = delete;
      Holding& operator=(const Holding&) = delete;
    } holding;
    auto opcode = binary ? ws::Opcode::binary : ws::Opcode::text;
    std::shared_ptr<const std::string> plain;
    // Compressed once per key among receivers without context takeover.
    std::vector<std::pair<std::uint32_t, std::shared_ptr<const std::string>>> compressed;
    std::size_t count = 0;
    for (const auto& receiver : receivers) {
      WebSocketHandler* h = receiver.handler;
      auto& protocol = h->protocol_;
      if (!protocol || !protocol->open()) continue;  // closed or closing: skipped silently
      const Backpressure& bp = receiver.backpressure ? *receiver.backpressure : h->backpressure_;
      bool over = protocol->stream_->pending_write_bytes() >= bp.high_water_mark;
      if (over && bp.policy != Overflow::wait) {
        overflowing.push_back({h, bp});
        continue;
      }
      std::shared_ptr<const std::string> frame;
      try {
        if (!protocol->deflater_) {
          if (!plain) plain = detail::Protocol::make_server_frame(opcode, message, false);
          frame = plain;
        } else if (protocol->compression_shareable()) {
          auto key = protocol->compression_key();
          auto c = std::find_if(compressed.begin(), compressed.end(),
                                [&](const auto& e) { return e.first == key; });
          if (c == compressed.end()) {
            compressed.emplace_back(key, protocol->compressed_frame(opcode, message));
            c = compressed.end() - 1;
          }
          frame = c->second;
        } else {
          frame = protocol->compressed_frame(opcode, message);  // its own context
        }
        auto write = protocol->stream_->write_shared(std::move(frame));
        ++count;
        if (over) waiters.push_back({protocol, write, bp});
      } catch (const StreamClosedError&) {
        // Closed between the check and the write: skipped, as a closed one.
      }
    }
    for (const auto& o : overflowing) {
      if (o.backpressure.policy == Overflow::drop) {
        o.handler->note_dropped(topic);
      } else if (o.handler->protocol_ && o.handler->protocol_->open()) {
        o.handler->close_slow(o.backpressure, topic);  // unless a hook closed it already
      }
    }
    return count;
  }

  // Waits until a `wait` connection has flushed the message, or closes it
  // once its deadline has passed.
  static Task<> wait_for(Waiter w) {
    auto drained = [](std::shared_ptr<detail::Protocol> p,
                      IOStream::WriteAwaitable write) -> Task<> {
      try {
        co_await write;
      } catch (const StreamClosedError&) {
      }
      (void)p;
    };
    try {
      co_await with_timeout(w.backpressure.deadline, drained(w.protocol, w.write));
    } catch (const TimeoutError&) {
      if (w.protocol->open()) {
        log::general.warning(
            "WebSocket from {} closed with {}: still {} bytes queued after waiting {} ms",
            w.protocol->stream_->remote_ip(), w.backpressure.close_code,
            w.protocol->stream_->pending_write_bytes(), w.backpressure.deadline.count());
        w.protocol->close(w.backpressure.close_code, "too slow");
      }
    }
  }
};

namespace {

Task<std::size_t> finish_publish(std::size_t count, std::vector<TopicRegistry::Waiter> waiters,
                                 std::optional<Future<std::size_t>> handed_over) {
  if (!waiters.empty()) {
    std::vector<Task<>> waits;
    for (auto& w : waiters) waits.push_back(TopicRegistry::wait_for(std::move(w)));
    co_await gather(std::move(waits));  // each with its own deadline, together
  }
  if (handed_over) (void)co_await *handed_over;
  co_return count;
}

}  // namespace

Task<std::size_t> publish(std::string_view topic, std::string_view message,
                          PublishOptions options) {
  auto& registry = TopicRegistry::current();
  std::vector<TopicRegistry::Waiter> waiters;
  std::size_t count = registry.deliver(topic, message, options.binary, waiters);
  std::optional<Future<std::size_t>> handed_over;
  if (registry.broker) {
    std::string envelope(kEnvelopeHeader + message.size(), '\0');
    std::uint64_t origin = registry.origin();
    std::memcpy(envelope.data(), &origin, sizeof origin);
    envelope[8] = options.binary ? 1 : 0;
    std::memcpy(envelope.data() + kEnvelopeHeader, message.data(), message.size());
    // Started now, so that hand-overs leave in the order of the calls.
    handed_over = to_future(registry.broker->publish(
        std::string(kChannelPrefix) + std::string(topic), std::move(envelope)));
  }
  return finish_publish(count, std::move(waiters), std::move(handed_over));
}

void set_topic_broker(pubsub::Broker* broker) {
  auto& registry = TopicRegistry::current();
  registry.broker = broker;
  for (auto& [name, topic] : registry.topics) {
    topic.remote = broker ? registry.subscribe_remote(name) : pubsub::Subscription();
  }
}

Future<> WebSocketHandler::subscribe(std::string_view topic) {
  if (subscribed(topic)) {
    Future<> done;
    done.set_result();
    return done;
  }
  topics_.emplace_back(topic);
  return TopicRegistry::current().add(this, topic, std::nullopt);
}

Future<> WebSocketHandler::subscribe(std::string_view topic, Backpressure backpressure) {
  unsubscribe(topic);  // a new policy replaces the old one
  topics_.emplace_back(topic);
  return TopicRegistry::current().add(this, topic, backpressure);
}

void WebSocketHandler::unsubscribe(std::string_view topic) {
  auto it = std::find(topics_.begin(), topics_.end(), topic);
  if (it == topics_.end()) return;
  TopicRegistry::current().remove(this, topic);
  topics_.erase(it);
}

bool WebSocketHandler::subscribed(std::string_view topic) const noexcept {
  return std::find(topics_.begin(), topics_.end(), topic) != topics_.end();
}

void WebSocketHandler::unsubscribe_all() noexcept {
  auto& registry = TopicRegistry::current();
  for (const auto& topic : topics_) registry.remove(this, topic);
  topics_.clear();
}

Task<std::size_t> WebSocketHandler::publish(std::string_view topic, std::string_view message,
                                            PublishOptions options) {
  return websocket::publish(topic, message, options);
}

std::size_t WebSocketHandler::queued_bytes() const noexcept {
  return protocol_ ? protocol_->stream_->pending_write_bytes() : 0;
}

void WebSocketHandler::note_dropped(std::string_view topic) noexcept {
  ++dropped_messages_;
  try {
    on_message_dropped(topic);
  } catch (...) {
    log_exception(std::current_exception());
  }
}

void WebSocketHandler::close_slow(const Backpressure& bp, std::string_view topic) {
  log::general.warning("WebSocket from {} closed with {}: {} bytes queued, high-water mark {}{}{}",
                       protocol_->stream_->remote_ip(), bp.close_code,
                       protocol_->stream_->pending_write_bytes(), bp.high_water_mark,
                       topic.empty() ? "" : ", topic ", topic);
  protocol_->close(bp.close_code, "too slow");
}

// ---------------------------------------------------------------------------
// Client

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
  auto protocol = std::make_shared<detail::Protocol>(
      stream, ws::Role::client, options.max_message_size, deflate,
      options.compression_options.value_or(CompressionOptions{}));
  protocol->subprotocol_ = std::string(headers.get("Sec-WebSocket-Protocol"));
  connection->protocol_ = protocol;
  auto state = std::make_shared<ClientState>();
  auto callback = options.on_message_callback;
  // Messages are queued (or handed to the callback) by a background reader.
  spawn([](std::shared_ptr<detail::Protocol> protocol, std::shared_ptr<ClientState> state,
           std::function<void(std::optional<std::string_view>)> callback) -> Task<> {
    struct ClientSink final : detail::Protocol::Sink {
      ClientState* state;
      const std::function<void(std::optional<std::string_view>)>* callback;
      ClientSink(ClientState* s, const std::function<void(std::optional<std::string_view>)>* c)
          : state(s), callback(c) {}
      Task<> on_data(std::string_view message, bool binary) override {
        if (*callback) {
          (*callback)(message);
        } else {
          state->queue.emplace_back(std::string(message), binary);
          if (auto w = std::exchange(state->waiter, {})) w.resume();
        }
        return Task<>();
      }
      void on_control(ws::Opcode, std::string_view) override {}
    };
    ClientSink sink(state.get(), &callback);
    co_await protocol->run(sink);
    state->closed = true;
    if (callback) callback(std::nullopt);
    if (auto w = std::exchange(state->waiter, {})) w.resume();
  }(protocol, state, callback));
  connection->state_ = state;
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
  return protocol_->close_reason_;
}
std::string WebSocketClientConnection::selected_subprotocol() const {
  return protocol_->subprotocol_;
}
std::optional<tornado::detail::ws::DeflateParams> WebSocketClientConnection::compression() const {
  return protocol_->deflate_params_;
}

Task<std::unique_ptr<WebSocketClientConnection>> websocket_connect(std::string url,
                                                                   ConnectOptions options) {
  return ClientConnector::connect(std::move(url), std::move(options));
}

}  // namespace tornado::websocket
