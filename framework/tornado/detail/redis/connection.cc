#include "tornado/detail/redis/connection.h"

#include <arpa/inet.h>
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstring>

#include "tornado/log.h"

namespace tornado::detail {
namespace {

bool is_ip_literal(const std::string& host) {
  unsigned char buffer[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

// A command's handler travels through hiredis as privdata; the reply
// callback takes it back (once: hiredis calls each command callback exactly
// once, with nullptr when the context is freed first).
struct PendingReply {
  RedisConnection::ReplyHandler handler;
};

// A name resolution in flight; it may finish after the connection is gone.
struct Resolution {
  uv_getaddrinfo_t request{};
  std::shared_ptr<RedisConnection*> token;
  std::function<void(RedisConnection&, int status, const addrinfo* result)> done;
};

// hiredis's libuv adapter ignores a poll error status, but libuv reports a
// refused connect or a reset socket exactly that way (and stops the poll), so
// a refused connection would hang until the connect timeout. These hooks
// replace the adapter's four event hooks (its struct, attach and cleanup are
// kept) and hand an error to hiredis, which reads the socket's error itself.
void poll_callback(uv_poll_t* handle, int status, int events) noexcept {
  auto* p = static_cast<redisLibuvEvents*>(handle->data);
  if (!p->context) return;
  if (status < 0) {
    if (p->context->c.flags & REDIS_CONNECTED) {
      redisAsyncHandleRead(p->context);
    } else {
      redisAsyncHandleWrite(p->context);  // the connect check fails there
    }
    return;
  }
  if (events & UV_READABLE) redisAsyncHandleRead(p->context);
  if (p->context && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

void update_poll(void* privdata, int add, int remove) noexcept {
  auto* p = static_cast<redisLibuvEvents*>(privdata);
  p->events = (p->events | add) & ~remove;
  if (p->events) {
    uv_poll_start(&p->handle, p->events, poll_callback);
  } else {
    uv_poll_stop(&p->handle);
  }
}

void attach_error_aware_hooks(redisAsyncContext* context) {
  context->ev.addRead = [](void* p) { update_poll(p, UV_READABLE, 0); };
  context->ev.delRead = [](void* p) { update_poll(p, 0, UV_READABLE); };
  context->ev.addWrite = [](void* p) { update_poll(p, UV_WRITABLE, 0); };
  context->ev.delWrite = [](void* p) { update_poll(p, 0, UV_WRITABLE); };
}

}  // namespace

pubsub::RedisReply convert_reply(const redisReply& reply) {
  pubsub::RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      out.type = pubsub::RedisReply::Type::string;
      out.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.type = pubsub::RedisReply::Type::status;
      out.str.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = pubsub::RedisReply::Type::integer;
      out.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = pubsub::RedisReply::Type::array;
      out.elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i) {
        out.elements.push_back(convert_reply(*reply.element[i]));
      }
      break;
    default:
      break;
  }
  return out;
}

RedisConnection::RedisConnection(ioloop::IOLoop& loop, pubsub::RedisURL url,
                                 pubsub::RedisSettings settings, bool select_db, Events events)
    : loop_(&loop),
      url_(std::move(url)),
      settings_(settings),
      select_db_(select_db),
      events_(std::move(events)),
      jitter_(static_cast<std::uint_fast32_t>(reinterpret_cast<std::uintptr_t>(this))),
      token_(std::make_shared<RedisConnection*>(this)) {
  // A loop destroyed while this connection lives takes the context down
  // through hiredis (so its uv_poll handle is closed by its own path).
  loop_->add_closer(this, [this] { close_for_loop(); });
}

RedisConnection::~RedisConnection() {
  *token_ = nullptr;
  if (loop_) {
    loop_->remove_closer(this);
    loop_->remove_timeout(reconnect_timer_);
    loop_->remove_timeout(connect_timer_);
    loop_->remove_timeout(watchdog_);
  }
  state_ = State::closed;
  lose("the broker was closed");
  free_context();
}

void RedisConnection::close_for_loop() noexcept {
  state_ = State::closed;
  lose("the event loop was closed");
  free_context();
  loop_ = nullptr;
}

void RedisConnection::lose(std::string reason) noexcept {
  if (loss_reason_->empty()) *loss_reason_ = std::move(reason);
  outstanding_.clear();
}

void RedisConnection::free_context() noexcept {
  if (!context_) return;
  redisAsyncContext* context = std::exchange(context_, nullptr);
  // Late callbacks (pending replies run with nullptr, the disconnect
  // callback) must not come back to this object.
  context->data = nullptr;
  redisAsyncFree(context);
}

void RedisConnection::start() {
  if (state_ == State::idle) connect();
}

void RedisConnection::connect() {
  if (state_ == State::closed || !loop_) return;
  reconnect_timer_ = {};
  auto when_up = settings_.connect_timeout;
  connect_timer_ = loop_->call_later(when_up, [token = token_] {
    RedisConnection* self = *token;
    if (!self) return;
    self->connect_timer_ = {};
    if (self->state_ == State::resolving || self->state_ == State::connecting ||
        self->state_ == State::handshaking) {
      self->abandon(
          fmt::format("no connection within {} ms", self->settings_.connect_timeout.count()));
    }
  });
  if (is_ip_literal(url_.host)) {
    connect_to(url_.host);
    return;
  }
  // hiredis would resolve the name with a blocking getaddrinfo on the loop's
  // thread; libuv's resolver runs it on its thread pool instead.
  state_ = State::resolving;
  auto resolution = std::make_unique<Resolution>();
  resolution->token = token_;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int status = uv_getaddrinfo(
      loop_->uv_loop(), &resolution->request,
      [](uv_getaddrinfo_t* request, int status, addrinfo* result) noexcept {
        std::unique_ptr<Resolution> owned(static_cast<Resolution*>(request->data));
        RedisConnection* self = *owned->token;
        if (self && self->state_ == State::resolving) {
          if (status < 0 || !result) {
            self->attempt_failed(
                fmt::format("cannot resolve {}: {}", self->url_.host, uv_strerror(status)));
          } else {
            char ip[INET6_ADDRSTRLEN] = {};
            if (result->ai_family == AF_INET6) {
              uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(result->ai_addr), ip, sizeof ip);
            } else {
              uv_ip4_name(reinterpret_cast<const sockaddr_in*>(result->ai_addr), ip, sizeof ip);
            }
            self->connect_to(ip);
          }
        }
        uv_freeaddrinfo(result);
      },
      url_.host.c_str(), nullptr, &hints);
  if (status < 0) {
    attempt_failed(fmt::format("cannot resolve {}: {}", url_.host, uv_strerror(status)));
    return;
  }
  resolution->request.data = resolution.get();
  resolution.release();  // owned by the request until its callback
}

void RedisConnection::connect_to(const std::string& ip) {
  state_ = State::connecting;
  ++generation_;
  loss_reason_ = std::make_shared<std::string>();
  outstanding_.clear();
  redisAsyncContext* context = redisAsyncConnect(ip.c_str(), url_.port);
  if (!context) {
    attempt_failed("out of memory");
    return;
  }
  if (context->err) {
    std::string reason = context->errstr;
    redisAsyncFree(context);
    attempt_failed(std::move(reason));
    return;
  }
  if (redisLibuvAttach(context, loop_->uv_loop()) != REDIS_OK) {
    // The adapter sets its hooks before it can fail; freeing would call its
    // cleanup on nothing.
    context->ev = {};
    redisAsyncFree(context);
    attempt_failed("cannot attach to the event loop");
    return;
  }
  attach_error_aware_hooks(context);
  context->data = this;
  context_ = context;
  redisAsyncSetConnectCallback(context, &RedisConnection::on_connect);
  redisAsyncSetDisconnectCallback(context, &RedisConnection::on_disconnect);
}

void RedisConnection::on_connect(const redisAsyncContext* context, int status) noexcept {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (!self || self->context_ != context) return;
  try {
    if (status != REDIS_OK) {
      // hiredis frees the context when this callback returns.
      self->context_ = nullptr;
      self->attempt_failed(context->errstr);
      return;
    }
    // A peer that vanishes without a FIN or RST (a dead machine, a silent
    // network) is found by TCP keepalive, even on the subscribed connection
    // that never sends anything.
    redisEnableKeepAlive(&self->context_->c);
    self->handshake();
  } catch (const std::exception& e) {
    log::general.error("Redis connect callback: {}", e.what());
  }
}

void RedisConnection::on_disconnect(const redisAsyncContext* context, int status) noexcept {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (!self || self->context_ != context) return;
  try {
    self->context_ = nullptr;  // freed by hiredis after this callback
    std::string reason = status == REDIS_OK || context->errstr[0] == '\0'
                             ? std::string("connection closed")
                             : std::string(context->errstr);
    self->attempt_failed(std::move(reason));
  } catch (const std::exception& e) {
    log::general.error("Redis disconnect callback: {}", e.what());
  }
}

void RedisConnection::on_reply(redisAsyncContext*, void* reply, void* privdata) noexcept {
  std::unique_ptr<PendingReply> pending(static_cast<PendingReply*>(privdata));
  if (!pending) return;
  try {
    pending->handler(static_cast<const redisReply*>(reply));
  } catch (const std::exception& e) {
    log::general.error("Redis reply handler: {}", e.what());
  }
}

void RedisConnection::on_subscription_reply(redisAsyncContext* context, void* reply,
                                            void*) noexcept {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (!self || !reply || self->context_ != context) return;
  try {
    if (self->events_.on_push) self->events_.on_push(*static_cast<const redisReply*>(reply));
  } catch (const std::exception& e) {
    log::general.error("Redis subscription reply: {}", e.what());
  }
}

void RedisConnection::handshake() {
  state_ = State::handshaking;
  // AUTH and SELECT are pipelined with a PING; the PING's answer means all of
  // them went through.
  auto token = token_;
  auto check = [token](std::string what) {
    return [token, what](const redisReply* reply) {
      RedisConnection* self = *token;
      if (!self || !reply || self->state_ != State::handshaking) return;
      if (reply->type == REDIS_REPLY_ERROR) {
        self->abandon(fmt::format("{} refused: {}", what, std::string(reply->str, reply->len)));
      }
    };
  };
  if (!url_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!url_.username.empty()) auth.push_back(url_.username);
    auth.push_back(url_.password);
    send_raw(auth, check("AUTH"));
  }
  if (select_db_ && url_.db != 0) send_raw({"SELECT", std::to_string(url_.db)}, check("SELECT"));
  send_raw({"PING"}, [token](const redisReply* reply) {
    RedisConnection* self = *token;
    if (!self || !reply || self->state_ != State::handshaking) return;
    if (reply->type == REDIS_REPLY_ERROR) {
      self->abandon(fmt::format("PING refused: {}", std::string(reply->str, reply->len)));
      return;
    }
    self->state_ = State::ready;
    self->attempts_ = 0;
    if (self->loop_) self->loop_->remove_timeout(self->connect_timer_);
    self->connect_timer_ = {};
    if (self->events_.on_ready) self->events_.on_ready();
  });
}

void RedisConnection::drop(std::string reason) {
  if (state_ == State::ready) abandon(std::move(reason));
}

void RedisConnection::abandon(std::string reason) {
  lose(reason);
  free_context();
  attempt_failed(std::move(reason));
}

void RedisConnection::attempt_failed(std::string reason) {
  if (state_ == State::closed) return;
  bool was_ready = state_ == State::ready;
  state_ = State::waiting;
  lose(reason);
  if (loop_) {
    loop_->remove_timeout(connect_timer_);
    loop_->remove_timeout(watchdog_);
  }
  connect_timer_ = {};
  watchdog_ = {};
  schedule_reconnect();
  if (events_.on_lost) events_.on_lost(reason, was_ready);
}

void RedisConnection::schedule_reconnect() {
  if (!loop_) return;
  // 1, 2, 4, ... times the first delay, capped; +-20% so that many servers
  // that lost the same Redis do not all come back in the same millisecond.
  auto base = settings_.reconnect_delay.count();
  auto cap = std::max(settings_.max_reconnect_delay.count(), base);
  auto delay = base;
  for (int i = 0; i < attempts_ && delay < cap; ++i) delay *= 2;
  delay = std::min(delay, static_cast<decltype(delay)>(cap));
  std::uniform_real_distribution<double> spread(0.8, 1.2);
  auto jittered = std::chrono::milliseconds(
      std::max<long long>(1, static_cast<long long>(static_cast<double>(delay) * spread(jitter_))));
  ++attempts_;
  log::general.debug("Redis {}: next attempt in {} ms", url_.describe(), jittered.count());
  reconnect_timer_ = loop_->call_later(jittered, [token = token_] {
    if (RedisConnection* self = *token) self->connect();
  });
}

bool RedisConnection::send(const std::vector<std::string>& args, CommandHandler handler) {
  if (state_ != State::ready || args.empty()) return false;
  auto sent = send_raw(args, [token = token_, generation = generation_, why = loss_reason_,
                              handler = std::move(handler)](const redisReply* reply) {
    RedisConnection* self = *token;
    if (self && self->generation_ == generation && !self->outstanding_.empty()) {
      self->outstanding_.pop_front();
    }
    handler(reply, why->empty() ? std::string("connection to Redis lost before the reply") : *why);
  });
  if (!sent) return false;
  outstanding_.push_back({ioloop::Clock::now(), args.front()});
  arm_watchdog();
  return true;
}

void RedisConnection::arm_watchdog() {
  if (watchdog_ || outstanding_.empty() || !loop_) return;
  auto due = outstanding_.front().sent + settings_.command_timeout;
  watchdog_ = loop_->call_later(due - ioloop::Clock::now(), [token = token_] {
    if (RedisConnection* self = *token) {
      self->watchdog_ = {};
      self->check_overdue();
    }
  });
}

// Redis that accepts a connection but does not answer (stopped, swapping,
// stuck in a script) is treated as gone: the commands waiting fail now, the
// next ones fail at once instead of each waiting, and the connection is
// made again.
void RedisConnection::check_overdue() {
  if (state_ != State::ready || outstanding_.empty()) return;
  const Outstanding& oldest = outstanding_.front();
  if (ioloop::Clock::now() - oldest.sent >= settings_.command_timeout) {
    drop(fmt::format("no reply to {} within {} ms", oldest.command,
                     settings_.command_timeout.count()));
    return;
  }
  arm_watchdog();
}

bool RedisConnection::send_raw(const std::vector<std::string>& args, ReplyHandler handler) {
  if (!context_ || args.empty()) return false;
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto pending = std::make_unique<PendingReply>(PendingReply{std::move(handler)});
  if (redisAsyncCommandArgv(context_, &RedisConnection::on_reply, pending.get(),
                            static_cast<int>(argv.size()), argv.data(),
                            lengths.data()) != REDIS_OK) {
    return false;
  }
  pending.release();  // hiredis hands it back to on_reply
  return true;
}

bool RedisConnection::send_subscription(std::string_view verb, std::string_view channel) {
  if (state_ != State::ready || !context_) return false;
  const char* argv[2] = {verb.data(), channel.data()};
  std::size_t lengths[2] = {verb.size(), channel.size()};
  return redisAsyncCommandArgv(context_, &RedisConnection::on_subscription_reply, nullptr, 2, argv,
                               lengths) == REDIS_OK;
}

}  // namespace tornado::detail
