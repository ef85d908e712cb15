// Topics of tornado::websocket: publish/subscribe between the connections of
// a loop, and through a broker (pubsub.h) between loops and processes.
#include <algorithm>
#include <cstring>
#include <random>

#include <unistd.h>

#include "tornado/detail/ioloop_streams.h"
#include "tornado/detail/websocket/connection.h"
#include "tornado/log.h"
#include "tornado/websocket.h"

namespace tornado::websocket {

namespace ws = tornado::detail::ws;
using iostream::IOStream;
using iostream::StreamClosedError;

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
      const Backpressure& bp = receiver.backpressure ? *receiver.backpressure : h->backpressure();
      bool over = protocol->stream_->pending_write_bytes() >= bp.high_water_mark;
      if (over && bp.policy != Overflow::wait) {
        overflowing.push_back({h, bp});
        continue;
      }
      std::shared_ptr<const std::string> frame;
      try {
        if (!protocol->compressed()) {
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
  extras().topics.emplace_back(topic);
  return TopicRegistry::current().add(this, topic, std::nullopt);
}

Future<> WebSocketHandler::subscribe(std::string_view topic, Backpressure backpressure) {
  unsubscribe(topic);  // a new policy replaces the old one
  extras().topics.emplace_back(topic);
  return TopicRegistry::current().add(this, topic, backpressure);
}

void WebSocketHandler::unsubscribe(std::string_view topic) {
  if (!extras_) return;
  auto& topics = extras_->topics;
  auto it = std::find(topics.begin(), topics.end(), topic);
  if (it == topics.end()) return;
  TopicRegistry::current().remove(this, topic);
  topics.erase(it);
}

bool WebSocketHandler::subscribed(std::string_view topic) const noexcept {
  if (!extras_) return false;
  const auto& topics = extras_->topics;
  return std::find(topics.begin(), topics.end(), topic) != topics.end();
}

void WebSocketHandler::unsubscribe_all() noexcept {
  if (!extras_) return;
  auto& registry = TopicRegistry::current();
  for (const auto& topic : extras_->topics) registry.remove(this, topic);
  extras_->topics.clear();
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

}  // namespace tornado::websocket
