// One hiredis connection on an IOLoop, kept up: asynchronous resolution,
// connect with a timeout, AUTH / SELECT / PING handshake, and reconnection
// with capped exponential backoff when it drops. RedisBroker owns two (one
// subscribed, one for commands).
//
// Ownership: the redisAsyncContext belongs to this object from
// redisAsyncConnect until hiredis reports it gone (connect failure,
// disconnect callback: hiredis frees it after the callback) or this object
// frees it (destruction, abandoning an attempt, the loop being destroyed).
// Every C callback is noexcept and finds its way back through `data`, which
// is cleared before a deliberate free so that late callbacks do nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/pubsub.h"

struct redisAsyncContext;
struct redisReply;

namespace tornado::detail {

class RedisConnection {
 public:
  /// Called with the reply, or nullptr when the connection went away first.
  using ReplyHandler = std::function<void(const redisReply* reply)>;
  /// The same, with why there is no reply when `reply` is nullptr.
  using CommandHandler = std::function<void(const redisReply* reply, const std::string& error)>;

  struct Events {
    /// The connection is up and the handshake done.
    std::function<void()> on_ready;
    /// An attempt failed or an established connection dropped (`was_ready`);
    /// the next attempt is already scheduled.
    std::function<void(const std::string& reason, bool was_ready)> on_lost;
    /// Subscriber connections: every SUBSCRIBE / UNSUBSCRIBE / message reply.
    std::function<void(const redisReply& reply)> on_push;
  };

  RedisConnection(ioloop::IOLoop& loop, pubsub::RedisURL url, pubsub::RedisSettings settings,
                  bool select_db, Events events);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  /// Starts the first attempt.
  void start();
  bool ready() const noexcept { return state_ == State::ready; }

  /// Queues a command (binary-safe arguments). False, and `handler` never
  /// called, when the connection is not ready. A command unanswered after
  /// `command_timeout` drops the connection (see `drop`), which fails it and
  /// every command behind it.
  bool send(const std::vector<std::string>& args, CommandHandler handler);
  /// Gives up on the current connection (a command went unanswered: Redis
  /// hangs) and reconnects with backoff, as if it had dropped.
  void drop(std::string reason);
  /// Subscriber connections: sends SUBSCRIBE or UNSUBSCRIBE for `channel`;
  /// the replies arrive through `on_push`.
  bool send_subscription(std::string_view verb, std::string_view channel);

 private:
  enum class State { idle, resolving, connecting, handshaking, ready, waiting, closed };

  void connect();
  void connect_to(const std::string& ip);
  void handshake();
  void attempt_failed(std::string reason);
  void abandon(std::string reason);
  void schedule_reconnect();
  void free_context() noexcept;
  void close_for_loop() noexcept;
  bool send_raw(const std::vector<std::string>& args, ReplyHandler handler);
  void arm_watchdog();
  void check_overdue();
  void lose(std::string reason) noexcept;

  static void on_connect(const redisAsyncContext* context, int status) noexcept;
  static void on_disconnect(const redisAsyncContext* context, int status) noexcept;
  static void on_reply(redisAsyncContext* context, void* reply, void* privdata) noexcept;
  static void on_subscription_reply(redisAsyncContext* context, void* reply,
                                    void* privdata) noexcept;

  ioloop::IOLoop* loop_;
  pubsub::RedisURL url_;
  pubsub::RedisSettings settings_;
  bool select_db_;
  Events events_;
  State state_ = State::idle;
  redisAsyncContext* context_ = nullptr;
  int attempts_ = 0;
  ioloop::TimeoutHandle reconnect_timer_;
  ioloop::TimeoutHandle connect_timer_;
  // Commands sent with `send` and not yet answered, oldest first (Redis
  // answers in order): one timer watches the oldest, instead of one timer
  // per command.
  struct Outstanding {
    ioloop::Clock::time_point sent;
    std::string command;
  };
  std::deque<Outstanding> outstanding_;
  ioloop::TimeoutHandle watchdog_;
  std::uint64_t generation_ = 0;  // counts contexts, so late replies of an old one are told apart
  // Why the current context went away, for the commands it fails; each
  // context has its own, shared with its pending commands.
  std::shared_ptr<std::string> loss_reason_ = std::make_shared<std::string>();
  std::minstd_rand jitter_;
  // Callbacks that may outlive this object (timers, resolution) hold this
  // token; the destructor clears what it points to.
  std::shared_ptr<RedisConnection*> token_;
};

/// Turns a hiredis reply into the public value type (recursively).
pubsub::RedisReply convert_reply(const redisReply& reply);

}  // namespace tornado::detail
