#include "room_store.h"

#include <algorithm>

#include "separately.h"

namespace lesson5 {

using tornado::Task;

// ------------------------------------------------------------ one process

Task<std::int64_t> LocalRoomStore::next_id() {
  std::lock_guard lock(mutex_);
  co_return ++last_id_;
}

Task<> LocalRoomStore::remember(std::string message) {
  std::lock_guard lock(mutex_);
  if (history_limit_ == 0) co_return;
  history_.push_back(std::move(message));
  while (history_.size() > history_limit_) history_.pop_front();
}

Task<std::vector<std::string>> LocalRoomStore::history() {
  std::lock_guard lock(mutex_);
  co_return std::vector<std::string>(history_.begin(), history_.end());
}

Task<std::int64_t> LocalRoomStore::count_users(std::string server, std::int64_t local_users) {
  std::lock_guard lock(mutex_);
  users_by_server_[std::move(server)] = local_users;
  std::int64_t total = 0;
  for (const auto& [name, users] : users_by_server_) total += users;
  co_return total;
}

// ------------------------------------------------------------------ Redis

namespace {
constexpr const char* kNextId = "lesson5:chat:next_id";
constexpr const char* kHistory = "lesson5:chat:history";    // newest first
constexpr const char* kDeadlines = "lesson5:chat:servers";  // server -> deadline (ms)
constexpr const char* kUsers = "lesson5:chat:users";        // server -> its users

// Runs inside Redis, atomically: renew this server's deadline and count,
// forget servers whose deadline passed, add up the rest. Redis's own clock
// (TIME) is the only clock, so the servers' clocks need not agree.
constexpr const char* kCountUsers = R"lua(
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ms)) do
  redis.call('HDEL', KEYS[2], dead)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
local total = 0
for _, users in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(users) end
return total
)lua";
}  // namespace

// Each command is awaited through separately() (separately.h): its
// arguments are temporaries, which GCC 12 mishandles across a co_await.

Task<std::int64_t> RedisRoomStore::next_id() {
  auto reply = co_await separately([&] { return redis_.command("INCR", kNextId); });
  co_return reply.integer;
}

Task<> RedisRoomStore::remember(std::string message) {
  if (history_limit_ == 0) co_return;
  // A capped list: push the newest in front, cut the tail. Both commands go
  // out at once (one round trip); Redis runs them in the order sent.
  auto push = tornado::to_future(redis_.command("LPUSH", kHistory, message));
  auto trim = tornado::to_future(
      redis_.command({"LTRIM", kHistory, "0", std::to_string(history_limit_ - 1)}));
  co_await push;
  co_await trim;
}

Task<std::vector<std::string>> RedisRoomStore::history() {
  std::vector<std::string> messages;
  if (history_limit_ == 0) co_return messages;
  auto reply = co_await separately([&] {
    return redis_.command({"LRANGE", kHistory, "0", std::to_string(history_limit_ - 1)});
  });
  for (auto& element : reply.elements) messages.push_back(std::move(element.str));
  std::reverse(messages.begin(), messages.end());  // oldest first
  co_return messages;
}

Task<std::int64_t> RedisRoomStore::count_users(std::string server, std::int64_t local_users) {
  auto reply = co_await separately([&] {
    return redis_.command({"EVAL", kCountUsers, "2", kDeadlines, kUsers, std::move(server),
                           std::to_string(local_users), std::to_string(presence_ttl_.count())});
  });
  co_return reply.integer;
}

}  // namespace lesson5
