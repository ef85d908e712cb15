// tornado::pubsub: publish/subscribe between event loops, processes and
// machines.
//
// Tornado itself stops at one process and leaves scale-out to the user; the
// usual answer, and the one tornado-cpp ships, is a message broker. A
// `Broker` carries byte strings on named channels: `publish` hands a message
// over, every `subscribe`d callback receives it on its own IOLoop.
//
// - `InProcessBroker` (the default) joins the loops of one process (the
//   threads of `--workers N`) through `IOLoop::add_callback`.
// - `RedisBroker` joins processes and machines through Redis pub/sub, with
//   hiredis on the loop's own libuv loop (no threads). It reconnects with
//   backoff when Redis goes away, resubscribes when it is back, and reports
//   each publish it could not hand over as a failed task: never silently lost,
//   never blocking the loop.
//
//   tornado::pubsub::RedisBroker broker("redis://127.0.0.1:6379/0");
//   auto subscription = broker.subscribe("chat", [](std::string_view, std::string_view message) {
//     tornado::log::app.info("got {}", message);
//   });
//   co_await subscription.ready();
//   co_await broker.publish("chat", "Hello, world");  // throws PubSubError on failure
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tornado/concurrent.h"

namespace tornado::pubsub {

/// A message could not be handed over (broker unreachable, connection lost
/// mid-command, timeout), or a subscription could not be made.
class PubSubError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Receives each message of a channel, on the loop that subscribed.
using MessageCallback = std::function<void(std::string_view channel, std::string_view message)>;

/// One subscription; destroying it unsubscribes (RAII). Move-only. Destroy it
/// on the thread that subscribed.
class Subscription {
 public:
  Subscription() = default;
  /// Used by brokers: `cancel` unsubscribes, `ready` completes once the
  /// broker confirmed the subscription.
  Subscription(std::function<void()> cancel, Future<> ready);
  /// Takes over `other`'s subscription.
  Subscription(Subscription&& other) noexcept;
  /// Ends the subscription held (if any) and takes over `other`'s.
  Subscription& operator=(Subscription&& other) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription();

  /// Stops delivery at once: no callback runs after this returns.
  void unsubscribe() noexcept;
  /// True until `unsubscribe` (or destruction).
  bool active() const noexcept { return static_cast<bool>(cancel_); }
  /// The same as `active()`.
  explicit operator bool() const noexcept { return active(); }
  /// Completes once messages published from now on are delivered (Redis:
  /// the server acknowledged SUBSCRIBE; in-process: at once).
  Future<> ready() const { return ready_; }

 private:
  std::function<void()> cancel_;
  Future<> ready_;
};

/// The publish/subscribe interface shared by every broker.
class Broker {
 public:
  virtual ~Broker() = default;

  /// Hands `message` (any bytes) over for every subscriber of `channel`, and
  /// returns how many subscribers it reached (Redis: as PUBLISH counts them,
  /// one per subscribed connection). Throws `PubSubError` when it could not
  /// be handed over.
  virtual Task<std::size_t> publish(std::string channel, std::string message) = 0;

  /// Calls `callback` with every message published on `channel` from now on,
  /// on the current thread's IOLoop, until the returned `Subscription` goes.
  [[nodiscard]] virtual Subscription subscribe(std::string channel, MessageCallback callback) = 0;

  /// Same as `subscription.unsubscribe()`, for readers of Redis's API.
  void unsubscribe(Subscription& subscription) noexcept { subscription.unsubscribe(); }
};

/// The loops (threads) of one process. Thread-safe: one broker may be shared
/// by every loop; each subscriber's callback runs on its own loop, queued
/// with `IOLoop::add_callback`. A loop destroyed before the broker (or the
/// broker before its subscriptions) is fine.
class InProcessBroker final : public Broker {
 public:
  InProcessBroker();
  ~InProcessBroker() override;
  InProcessBroker(const InProcessBroker&) = delete;
  InProcessBroker& operator=(const InProcessBroker&) = delete;

  /// Never fails: every subscriber's loop gets the message queued.
  Task<std::size_t> publish(std::string channel, std::string message) override;
  [[nodiscard]] Subscription subscribe(std::string channel, MessageCallback callback) override;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

/// Where Redis is: `redis://[[user]:password@]host[:port][/db]`.
struct RedisURL {
  /// The server's host name or address.
  std::string host;
  /// The server's port.
  int port = 6379;
  /// The database number (`SELECT`).
  int db = 0;
  /// The ACL user name; empty for the default user.
  std::string username;
  /// The password (`AUTH`); empty for none.
  std::string password;

  /// Parses a redis:// URL; throws std::invalid_argument saying what is
  /// wrong with it.
  static RedisURL parse(std::string_view url);
  /// "host:port/db", without the password, for log lines.
  std::string describe() const;
};

/// Timeouts and reconnection, as settings with defaults.
struct RedisSettings {
  /// Giving up on one connection attempt (then the next one is scheduled).
  std::chrono::milliseconds connect_timeout{3000};
  /// A command unanswered this long means Redis hangs: the commands waiting
  /// fail and the connection is made again.
  std::chrono::milliseconds command_timeout{5000};
  /// First delay before reconnecting; doubles on every failed attempt...
  std::chrono::milliseconds reconnect_delay{100};
  /// ... up to this cap.
  std::chrono::milliseconds max_reconnect_delay{5000};
};

/// One reply of Redis, as RESP2 types it.
struct RedisReply {
  /// The kinds of Redis reply.
  enum class Type { nil, string, status, integer, array };
  /// Which kind this reply is.
  Type type = Type::nil;
  std::string str;                   ///< string and status replies (binary-safe)
  std::int64_t integer = 0;          ///< integer replies
  std::vector<RedisReply> elements;  ///< array replies

  /// True for Redis's nil reply.
  bool is_nil() const noexcept { return type == Type::nil; }
};

/// Redis answered a command with an error reply (e.g. "WRONGTYPE ...").
class RedisError : public PubSubError {
 public:
  using PubSubError::PubSubError;
};

/// Redis pub/sub on the current thread's IOLoop, with two connections (one
/// subscribed, one for commands). Belongs to the loop it was made on: use it
/// from that loop's thread only, and give every loop its own broker.
class RedisBroker final : public Broker {
 public:
  /// Starts connecting at once; never blocks. Throws std::invalid_argument
  /// for a bad URL.
  explicit RedisBroker(std::string_view url, RedisSettings settings = {});
  ~RedisBroker() override;
  RedisBroker(const RedisBroker&) = delete;
  RedisBroker& operator=(const RedisBroker&) = delete;

  /// PUBLISH; throws `PubSubError` while Redis is unreachable.
  Task<std::size_t> publish(std::string channel, std::string message) override;
  /// SUBSCRIBE (once per channel, however many local subscribers); renewed
  /// after every reconnection.
  [[nodiscard]] Subscription subscribe(std::string channel, MessageCallback callback) override;

  /// Any other command, e.g. `co_await broker.command({"LRANGE", key, "0", "-1"})`.
  /// Throws `RedisError` for an error reply, `PubSubError` when Redis is
  /// unreachable or does not answer within `command_timeout`.
  Task<RedisReply> command(std::vector<std::string> args);
  /// The same with the arguments listed: `co_await broker.command("INCR", key)`.
  template <class... Args>
  requires(sizeof...(Args) > 0 && (std::is_convertible_v<const Args&, std::string_view> &&
                                   ...)) Task<RedisReply> command(const Args&... args) {
    return command(std::vector<std::string>{std::string(std::string_view(args))...});
  }

  /// True while both connections are up.
  bool connected() const noexcept;
  /// Completes when both connections are up (at once if they are).
  Future<> wait_connected();
  /// Where this broker connects.
  const RedisURL& url() const noexcept;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace tornado::pubsub
