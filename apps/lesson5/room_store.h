// The chat room's shared facts: message ids, the recent history and who is
// online. The messages themselves travel through a tornado::pubsub::Broker;
// these are the few things a newcomer or a counter must be able to ask for.
//
// Two stores, as there are two brokers:
//   LocalRoomStore  one process: every loop (--workers N threads) shares one
//                   store behind a mutex.
//   RedisRoomStore  several processes or machines (--redis URL): a counter,
//                   a capped list and a presence table in Redis.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/pubsub.h"

namespace lesson5 {

class RoomStore {
 public:
  virtual ~RoomStore() = default;

  /// A fresh message id: 1, 2, 3, ... across the whole room.
  virtual tornado::Task<std::int64_t> next_id() = 0;
  /// Keeps `message` (its JSON text) for newcomers; the oldest fall off.
  virtual tornado::Task<> remember(std::string message) = 0;
  /// The kept messages, oldest first.
  virtual tornado::Task<std::vector<std::string>> history() = 0;
  /// Reports that `server` (one loop of one process) has `local_users`
  /// clients, and returns the number of users in the whole room.
  virtual tornado::Task<std::int64_t> count_users(std::string server, std::int64_t local_users) = 0;
};

/// One process: plain memory, shared by its loops. Never fails.
class LocalRoomStore final : public RoomStore {
 public:
  explicit LocalRoomStore(std::size_t history_limit) : history_limit_(history_limit) {}

  tornado::Task<std::int64_t> next_id() override;
  tornado::Task<> remember(std::string message) override;
  tornado::Task<std::vector<std::string>> history() override;
  tornado::Task<std::int64_t> count_users(std::string server, std::int64_t local_users) override;

 private:
  std::mutex mutex_;
  std::size_t history_limit_;
  std::int64_t last_id_ = 0;
  std::deque<std::string> history_;
  std::map<std::string, std::int64_t> users_by_server_;
};

/// Several processes: Redis holds the facts. Every call throws
/// tornado::pubsub::PubSubError while Redis is unreachable.
///
/// Presence must survive a process that dies without saying goodbye (kill -9,
/// a crashed machine): each server stores its own count with a deadline
/// (`presence_ttl`) and renews it on every change and on a heartbeat; the
/// total only adds up servers whose deadline has not passed. A dead server's
/// users thus disappear from the count within one `presence_ttl`.
class RedisRoomStore final : public RoomStore {
 public:
  RedisRoomStore(tornado::pubsub::RedisBroker& redis, std::size_t history_limit,
                 std::chrono::milliseconds presence_ttl)
      : redis_(redis), history_limit_(history_limit), presence_ttl_(presence_ttl) {}

  tornado::Task<std::int64_t> next_id() override;
  tornado::Task<> remember(std::string message) override;
  tornado::Task<std::vector<std::string>> history() override;
  tornado::Task<std::int64_t> count_users(std::string server, std::int64_t local_users) override;

 private:
  tornado::pubsub::RedisBroker& redis_;
  std::size_t history_limit_;
  std::chrono::milliseconds presence_ttl_;
};

}  // namespace lesson5
