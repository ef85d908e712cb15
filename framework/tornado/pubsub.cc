#include "tornado/pubsub.h"

#include <hiredis/hiredis.h>

#include <charconv>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "tornado/detail/redis/connection.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace tornado::pubsub {

using ioloop::IOLoop;

namespace {

// A subscriber's callback, run on its own loop; `active` is only touched on
// that loop's thread, so a callback never runs after `unsubscribe` returned.
struct LocalSubscriber {
  MessageCallback callback;
  bool active = true;
};

using Payload = std::shared_ptr<const std::pair<std::string, std::string>>;

void deliver(const std::vector<std::shared_ptr<LocalSubscriber>>& subscribers,
             const Payload& payload) {
  for (const auto& subscriber : subscribers) {
    if (!subscriber->active) continue;
    try {
      subscriber->callback(payload->first, payload->second);
    } catch (const std::exception& e) {
      log::app.error("Exception in the callback for channel {}: {}", payload->first, e.what());
    } catch (...) {
      log::app.error("Exception in the callback for channel {}", payload->first);
    }
  }
}

Future<> done_future() {
  Future<> ready;
  ready.set_result();
  return ready;
}

}  // namespace

// ---------------------------------------------------------------- Subscription

Subscription::Subscription(std::function<void()> cancel, Future<> ready)
    : cancel_(std::move(cancel)), ready_(std::move(ready)) {}

Subscription::Subscription(Subscription&& other) noexcept
    : cancel_(std::exchange(other.cancel_, nullptr)), ready_(other.ready_) {}

Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    unsubscribe();
    cancel_ = std::exchange(other.cancel_, nullptr);
    ready_ = other.ready_;
  }
  return *this;
}

Subscription::~Subscription() {
  unsubscribe();
}

void Subscription::unsubscribe() noexcept {
  if (auto cancel = std::exchange(cancel_, nullptr)) {
    try {
      cancel();
    } catch (const std::exception& e) {
      log::general.error("unsubscribe: {}", e.what());
    }
  }
}

// ------------------------------------------------------------- InProcessBroker

namespace {
struct InProcessSubscriber {
  std::shared_ptr<LocalSubscriber> local;
  // Cleared (under the broker's mutex) when the loop is destroyed, so that
  // no publisher queues work on a dead loop.
  IOLoop* loop;
};
}  // namespace

struct InProcessBroker::State {
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<std::shared_ptr<InProcessSubscriber>>> channels;

  void remove(const std::string& channel, const InProcessSubscriber* subscriber) {
    std::lock_guard lock(mutex);
    auto it = channels.find(channel);
    if (it == channels.end()) return;
    std::erase_if(it->second, [&](const auto& s) { return s.get() == subscriber; });
    if (it->second.empty()) channels.erase(it);
  }
};

InProcessBroker::InProcessBroker() : state_(std::make_shared<State>()) {}
InProcessBroker::~InProcessBroker() = default;

Task<std::size_t> InProcessBroker::publish(std::string channel, std::string message) {
  auto payload = std::make_shared<const std::pair<std::string, std::string>>(std::move(channel),
                                                                             std::move(message));
  std::size_t reached = 0;
  std::lock_guard lock(state_->mutex);
  auto it = state_->channels.find(payload->first);
  if (it == state_->channels.end()) co_return 0;
  // One add_callback per loop, not per subscriber. The lock is held while
  // queueing: a loop being destroyed waits for it before it goes, so the
  // IOLoop pointers are alive here.
  std::unordered_map<IOLoop*, std::vector<std::shared_ptr<LocalSubscriber>>> by_loop;
  for (const auto& subscriber : it->second) {
    if (!subscriber->loop) continue;
    by_loop[subscriber->loop].push_back(subscriber->local);
    ++reached;
  }
  for (auto& [loop, subscribers] : by_loop) {
    loop->add_callback(
        [subscribers = std::move(subscribers), payload] { deliver(subscribers, payload); });
  }
  co_return reached;
}

Subscription InProcessBroker::subscribe(std::string channel, MessageCallback callback) {
  IOLoop& loop = IOLoop::current();
  auto subscriber = std::make_shared<InProcessSubscriber>(InProcessSubscriber{
      std::make_shared<LocalSubscriber>(LocalSubscriber{std::move(callback)}), &loop});
  {
    std::lock_guard lock(state_->mutex);
    state_->channels[channel].push_back(subscriber);
  }
  std::weak_ptr<State> weak_state = state_;
  // If the loop goes first, it detaches the subscriber on its way out.
  loop.add_closer(subscriber.get(), [weak_state, channel, raw = subscriber.get()] {
    raw->local->active = false;
    if (auto state = weak_state.lock()) {
      {
        std::lock_guard lock(state->mutex);
        raw->loop = nullptr;
      }
      state->remove(channel, raw);
    } else {
      raw->loop = nullptr;
    }
  });
  auto cancel = [weak_state, channel = std::move(channel), subscriber] {
    subscriber->local->active = false;
    IOLoop* loop = nullptr;
    if (auto state = weak_state.lock()) {
      {
        std::lock_guard lock(state->mutex);
        loop = std::exchange(subscriber->loop, nullptr);
      }
      state->remove(channel, subscriber.get());
    } else {
      // The broker is gone; nobody else writes the pointer any more.
      loop = std::exchange(subscriber->loop, nullptr);
    }
    if (loop) loop->remove_closer(subscriber.get());
  };
  return Subscription(std::move(cancel), done_future());
}

// ----------------------------------------------------------------- RedisURL

RedisURL RedisURL::parse(std::string_view text) {
  auto fail = [&](std::string_view problem) -> RedisURL {
    throw std::invalid_argument(fmt::format(
        "invalid Redis URL: {} (expected redis://[[user]:password@]host[:port][/db])", problem));
  };
  constexpr std::string_view scheme = "redis://";
  if (text.substr(0, scheme.size()) != scheme) {
    auto colon = text.find("://");
    if (colon == std::string_view::npos) return fail("it does not start with redis://");
    return fail(fmt::format("scheme '{}' is not redis", text.substr(0, colon)));
  }
  std::string_view rest = text.substr(scheme.size());
  RedisURL url;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
      url.username = std::string(userinfo.substr(0, colon));
      url.password = std::string(userinfo.substr(colon + 1));
    } else {
      url.password = std::string(userinfo);
    }
  }
  std::string_view authority = rest;
  std::string_view path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  if (authority.find_first_of("?#") != std::string_view::npos ||
      path.find_first_of("?#") != std::string_view::npos) {
    return fail("query strings and fragments are not supported");
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unclosed '[' in the host");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("junk after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) return fail("empty port");
    }
  } else if (auto colon = authority.find(':'); colon != std::string_view::npos) {
    url.host = std::string(authority.substr(0, colon));
    port = authority.substr(colon + 1);
    if (port.empty()) return fail("empty port");
  } else {
    url.host = std::string(authority);
  }
  if (url.host.empty()) return fail("no host");
  auto number = [](std::string_view digits, long long max) -> std::optional<long long> {
    long long value = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size() || value < 0 || value > max) {
      return std::nullopt;
    }
    return value;
  };
  if (!port.empty()) {
    auto value = number(port, 65535);
    if (!value || *value == 0) return fail(fmt::format("port '{}' is not 1-65535", port));
    url.port = static_cast<int>(*value);
  }
  if (!path.empty()) {
    auto value = number(path, 1'000'000);
    if (!value) return fail(fmt::format("database '{}' is not a number", path));
    url.db = static_cast<int>(*value);
  }
  return url;
}

std::string RedisURL::describe() const {
  bool v6 = host.find(':') != std::string::npos;
  return fmt::format("{}{}{}:{}/{}", v6 ? "[" : "", host, v6 ? "]" : "", port, db);
}

// ---------------------------------------------------------------- RedisBroker

struct RedisBroker::Impl : std::enable_shared_from_this<Impl> {
  // What the server knows of one channel, and who listens here.
  struct Channel {
    enum class Server { none, subscribing, subscribed, unsubscribing };
    std::vector<std::shared_ptr<LocalSubscriber>> subscribers;
    Server server = Server::none;
    std::vector<Future<>> waiting;  // ready() of subscriptions not yet confirmed
  };

  IOLoop* loop;
  RedisURL url;
  RedisSettings settings;
  std::unique_ptr<detail::RedisConnection> commands;
  std::unique_ptr<detail::RedisConnection> subscriber;
  std::map<std::string, Channel, std::less<>> channels;
  std::optional<ioloop::Clock::time_point> outage_since;
  bool ever_connected = false;
  std::vector<Future<>> waiting_connected;

  bool connected() const { return commands && commands->ready() && subscriber->ready(); }

  void start() {
    std::weak_ptr<Impl> weak = weak_from_this();
    auto on_lost = [weak](const std::string& reason, bool was_ready) {
      if (auto self = weak.lock()) self->note_down(reason, was_ready);
    };
    commands = std::make_unique<detail::RedisConnection>(*loop, url, settings, true,
                                                         detail::RedisConnection::Events{
                                                             .on_ready =
                                                                 [weak] {
                                                                   if (auto self = weak.lock())
                                                                     self->note_up();
                                                                 },
                                                             .on_lost = on_lost,
                                                         });
    subscriber = std::make_unique<detail::RedisConnection>(
        *loop, url, settings, false,
        detail::RedisConnection::Events{
            .on_ready =
                [weak] {
                  if (auto self = weak.lock()) {
                    self->resubscribe();
                    self->note_up();
                  }
                },
            .on_lost =
                [weak](const std::string& reason, bool was_ready) {
                  if (auto self = weak.lock()) {
                    self->forget_server_subscriptions();
                    self->note_down(reason, was_ready);
                  }
                },
            .on_push =
                [weak](const redisReply& reply) {
                  if (auto self = weak.lock()) self->on_push(reply);
                },
        });
    commands->start();
    subscriber->start();
  }

  // One warning when the outage starts (not one per attempt), one info line
  // when both connections are back.
  void note_down(const std::string& reason, bool was_ready) {
    if (outage_since) {
      log::general.debug("Redis {}: still unreachable ({})", url.describe(), reason);
      return;
    }
    outage_since = ioloop::Clock::now();
    if (was_ready || ever_connected) {
      log::general.warning(
          "Redis {} lost: {}; publishing fails until it is back, reconnecting with backoff "
          "(at most every {} ms)",
          url.describe(), reason, settings.max_reconnect_delay.count());
    } else {
      log::general.warning("Redis {} unreachable: {}; retrying with backoff (at most every {} ms)",
                           url.describe(), reason, settings.max_reconnect_delay.count());
    }
  }

  void note_up() {
    if (!connected()) return;
    if (outage_since) {
      auto seconds = std::chrono::duration<double>(ioloop::Clock::now() - *outage_since).count();
      log::general.info("Redis {} is back after {:.1f} s; subscribing again to {} channel(s)",
                        url.describe(), seconds, channels.size());
      outage_since.reset();
    } else if (!ever_connected) {
      log::general.info("Connected to Redis {}", url.describe());
    }
    ever_connected = true;
    auto waiting = std::move(waiting_connected);
    waiting_connected.clear();
    for (auto& future : waiting) future.set_result();
  }

  void forget_server_subscriptions() {
    for (auto it = channels.begin(); it != channels.end();) {
      it->second.server = Channel::Server::none;
      if (it->second.subscribers.empty()) {
        it = channels.erase(it);
      } else {
        ++it;
      }
    }
  }

  void resubscribe() {
    for (auto& [name, channel] : channels) {
      if (channel.server == Channel::Server::none && !channel.subscribers.empty() &&
          subscriber->send_subscription("SUBSCRIBE", name)) {
        channel.server = Channel::Server::subscribing;
      }
    }
  }

  void on_push(const redisReply& reply) {
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements < 3) return;
    const redisReply* kind = reply.element[0];
    const redisReply* name = reply.element[1];
    if (kind->type != REDIS_REPLY_STRING || name->type != REDIS_REPLY_STRING) return;
    std::string_view verb(kind->str, kind->len);
    std::string_view channel_name(name->str, name->len);
    auto it = channels.find(channel_name);
    if (it == channels.end()) return;
    Channel& channel = it->second;
    if (verb == "message") {
      const redisReply* body = reply.element[2];
      if (body->type != REDIS_REPLY_STRING || channel.subscribers.empty()) return;
      auto payload = std::make_shared<const std::pair<std::string, std::string>>(
          std::string(channel_name), std::string(body->str, body->len));
      // Later, from the loop: a callback may unsubscribe or destroy the
      // broker, which must not happen inside hiredis's read callback.
      loop->call_soon(
          [subscribers = channel.subscribers, payload] { deliver(subscribers, payload); });
    } else if (verb == "subscribe") {
      channel.server = Channel::Server::subscribed;
      auto waiting = std::move(channel.waiting);
      channel.waiting.clear();
      for (auto& future : waiting) future.set_result();
      if (channel.subscribers.empty()) unsubscribe_server(it);
    } else if (verb == "unsubscribe") {
      channel.server = Channel::Server::none;
      if (channel.subscribers.empty()) {
        channels.erase(it);
      } else if (subscriber->send_subscription("SUBSCRIBE", channel_name)) {
        // Someone subscribed again while UNSUBSCRIBE was on its way.
        channel.server = Channel::Server::subscribing;
      }
    }
  }

  void unsubscribe_server(std::map<std::string, Channel, std::less<>>::iterator it) {
    Channel& channel = it->second;
    if (channel.server == Channel::Server::subscribed &&
        subscriber->send_subscription("UNSUBSCRIBE", it->first)) {
      channel.server = Channel::Server::unsubscribing;
    } else if (channel.server == Channel::Server::none) {
      channels.erase(it);
    }
    // subscribing: the confirmation comes back to an empty channel, which
    // unsubscribes then.
  }

  void remove(const std::string& name, const LocalSubscriber* local) {
    auto it = channels.find(name);
    if (it == channels.end()) return;
    std::erase_if(it->second.subscribers, [&](const auto& s) { return s.get() == local; });
    if (it->second.subscribers.empty()) unsubscribe_server(it);
  }
};

RedisBroker::RedisBroker(std::string_view url, RedisSettings settings)
    : impl_(std::make_shared<Impl>()) {
  impl_->loop = &IOLoop::current();
  impl_->url = RedisURL::parse(url);
  impl_->settings = settings;
  impl_->start();
}

RedisBroker::~RedisBroker() {
  // Pending commands fail (their tasks see PubSubError) as the contexts go.
  impl_->commands.reset();
  impl_->subscriber.reset();
  for (auto& future : impl_->waiting_connected) {
    future.set_exception(std::make_exception_ptr(PubSubError("RedisBroker destroyed")));
  }
  impl_->waiting_connected.clear();
  for (auto& [name, channel] : impl_->channels) {
    for (auto& future : channel.waiting) {
      future.set_exception(std::make_exception_ptr(PubSubError("RedisBroker destroyed")));
    }
  }
  impl_->channels.clear();
}

bool RedisBroker::connected() const noexcept {
  return impl_->connected();
}

const RedisURL& RedisBroker::url() const noexcept {
  return impl_->url;
}

Future<> RedisBroker::wait_connected() {
  Future<> future;
  if (impl_->connected()) {
    future.set_result();
  } else {
    impl_->waiting_connected.push_back(future);
  }
  return future;
}

Task<RedisReply> RedisBroker::command(std::vector<std::string> args) {
  auto impl = impl_;
  Future<RedisReply> reply;
  auto handler = [reply, where = impl->url.describe()](const redisReply* raw,
                                                       const std::string& error) mutable {
    if (!raw) {
      reply.set_exception(
          std::make_exception_ptr(PubSubError(fmt::format("Redis {}: {}", where, error))));
    } else if (raw->type == REDIS_REPLY_ERROR) {
      reply.set_exception(std::make_exception_ptr(RedisError(std::string(raw->str, raw->len))));
    } else {
      reply.set_result(detail::convert_reply(*raw));
    }
  };
  // The connection watches `command_timeout` itself (one timer for all).
  if (!impl->commands || !impl->commands->send(args, std::move(handler))) {
    throw PubSubError(fmt::format("Redis {} is unreachable", impl->url.describe()));
  }
  co_return co_await reply;
}

Task<std::size_t> RedisBroker::publish(std::string channel, std::string message) {
  std::vector<std::string> args;
  args.reserve(3);
  args.emplace_back("PUBLISH");
  args.push_back(std::move(channel));
  args.push_back(std::move(message));
  RedisReply reply = co_await command(std::move(args));
  co_return static_cast<std::size_t>(std::max<std::int64_t>(reply.integer, 0));
}

Subscription RedisBroker::subscribe(std::string channel, MessageCallback callback) {
  auto local = std::make_shared<LocalSubscriber>(LocalSubscriber{std::move(callback)});
  auto& entry = impl_->channels[channel];
  entry.subscribers.push_back(local);
  Future<> ready;
  if (entry.server == Impl::Channel::Server::subscribed) {
    ready.set_result();
  } else {
    entry.waiting.push_back(ready);
    if (entry.server == Impl::Channel::Server::none && impl_->subscriber->ready() &&
        impl_->subscriber->send_subscription("SUBSCRIBE", channel)) {
      entry.server = Impl::Channel::Server::subscribing;
    }
  }
  std::weak_ptr<Impl> weak = impl_;
  auto cancel = [weak, channel = std::move(channel), local] {
    local->active = false;
    if (auto impl = weak.lock()) impl->remove(channel, local.get());
  };
  return Subscription(std::move(cancel), ready);
}

}  // namespace tornado::pubsub
