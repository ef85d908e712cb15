// Tests for tornado::pubsub: the in-process broker across loops on threads,
// and the Redis broker against a real redis-server (started here on a free
// port, killed and restarted to test outages).
#include "tornado/pubsub.h"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <thread>

#include "redis_support.h"
#include "tornado/ioloop.h"
#include "tornado/testing.h"

using namespace std::chrono_literals;
using tornado::Future;
using tornado::Task;
using tornado::ioloop::IOLoop;
using tornado::pubsub::InProcessBroker;
using tornado::pubsub::PubSubError;
using tornado::pubsub::RedisBroker;
using tornado::pubsub::RedisError;
using tornado::pubsub::RedisReply;
using tornado::pubsub::RedisSettings;
using tornado::pubsub::RedisURL;
using tornado::pubsub::Subscription;
using tornado::testing::ExpectLog;
using tornado::testing::RedisServer;

namespace {

// Awaits `condition` by polling the loop (the tests' `wait_until`).
template <class Condition>
Task<bool> eventually(Condition condition, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await tornado::sleep(5ms);
  }
  co_return true;
}

// Lets every callback already queued on the loop run.
Task<> settle() {
  for (int i = 0; i < 3; ++i) co_await tornado::moment();
}

// Waits until Redis reports a client blocked in a command (BLPOP), asking
// through `observer`, another connection: the blocked command has then
// surely reached the server.
Task<bool> until_blocked(RedisBroker& observer) {
  co_await observer.wait_connected();
  for (int i = 0; i < 10000; ++i) {
    RedisReply info = co_await observer.command("INFO", "clients");
    if (info.str.find("blocked_clients:1") != std::string::npos) co_return true;
  }
  co_return false;
}

// True when awaiting `work` (a publish, a command) throws PubSubError.
template <class Awaitable>
Task<bool> fails(Awaitable work) {
  try {
    co_await std::move(work);
  } catch (const PubSubError&) {
    co_return true;
  }
  co_return false;
}

const std::string kBinary("\0\xff\r\nSUBSCRIBE \"x\"\x01", 19);

}  // namespace

// ------------------------------------------------------------- in-process

TEST(InProcessBrokerTest, DeliversToEveryLoopOnItsOwnThread) {
  InProcessBroker broker;
  constexpr int kLoops = 3;
  std::latch subscribed(kLoops);
  std::atomic<int> received{0};
  std::vector<std::thread::id> delivered_on(kLoops);
  std::vector<std::thread::id> loop_threads(kLoops);
  std::vector<std::string> payloads(kLoops);
  std::vector<IOLoop*> loops(kLoops, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < kLoops; ++i) {
    threads.emplace_back([&, i] {
      IOLoop loop;
      loops[i] = &loop;
      loop_threads[i] = std::this_thread::get_id();
      auto subscription =
          broker.subscribe("room", [&, i](std::string_view channel, std::string_view message) {
            EXPECT_EQ(channel, "room");
            delivered_on[i] = std::this_thread::get_id();
            payloads[i] = std::string(message);
            ++received;
            IOLoop::current().stop();
          });
      subscribed.count_down();
      loop.start();
    });
  }
  subscribed.wait();
  IOLoop loop;
  std::size_t reached = loop.run_sync([&]() { return broker.publish("room", kBinary); });
  EXPECT_EQ(reached, 3u);
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(received.load(), kLoops);
  for (int i = 0; i < kLoops; ++i) {
    EXPECT_EQ(delivered_on[i], loop_threads[i]);
    EXPECT_EQ(payloads[i], kBinary);
  }
}

TEST(InProcessBrokerTest, OnlyTheChannelsSubscribers) {
  IOLoop loop;
  InProcessBroker broker;
  std::vector<std::string> a, b;
  auto sub_a = broker.subscribe("a", [&](auto, std::string_view m) { a.emplace_back(m); });
  auto sub_b = broker.subscribe("b", [&](auto, std::string_view m) { b.emplace_back(m); });
  loop.run_sync([&]() -> Task<> {
    EXPECT_EQ(co_await broker.publish("a", "1"), 1u);
    EXPECT_EQ(co_await broker.publish("b", "2"), 1u);
    EXPECT_EQ(co_await broker.publish("c", "3"), 0u);
    EXPECT_TRUE(co_await eventually([&] { return a.size() == 1 && b.size() == 1; }));
  });
  EXPECT_EQ(a, std::vector<std::string>{"1"});
  EXPECT_EQ(b, std::vector<std::string>{"2"});
}

TEST(InProcessBrokerTest, UnsubscribeStopsDeliveryEvenOfQueuedMessages) {
  IOLoop loop;
  InProcessBroker broker;
  int count = 0;
  Subscription subscription = broker.subscribe("room", [&](auto, auto) { ++count; });
  EXPECT_TRUE(subscription.active());
  loop.run_sync([&]() -> Task<> {
    EXPECT_EQ(co_await broker.publish("room", "queued"), 1u);
    // Queued on the loop but not yet run: unsubscribing now must drop it.
    subscription.unsubscribe();
    EXPECT_FALSE(subscription.active());
    co_await settle();
    EXPECT_EQ(co_await broker.publish("room", "late"), 0u);
    co_await settle();
  });
  EXPECT_EQ(count, 0);
}

TEST(InProcessBrokerTest, SubscriptionIsRaiiAndMovable) {
  IOLoop loop;
  InProcessBroker broker;
  int count = 0;
  {
    Subscription outer;
    {
      Subscription inner = broker.subscribe("room", [&](auto, auto) { ++count; });
      outer = std::move(inner);
    }
    loop.run_sync([&]() -> Task<> {
      EXPECT_EQ(co_await broker.publish("room", "x"), 1u);
      EXPECT_TRUE(co_await eventually([&] { return count == 1; }));
    });
  }
  loop.run_sync([&]() -> Task<> { EXPECT_EQ(co_await broker.publish("room", "y"), 0u); });
}

TEST(InProcessBrokerTest, LoopDestroyedBeforeBrokerAndSubscription) {
  InProcessBroker broker;
  std::thread([&] {
    Subscription subscription;  // outlives the loop below
    IOLoop loop;
    subscription = broker.subscribe("room", [](auto, auto) {});
  }).join();
  IOLoop loop;
  EXPECT_EQ(loop.run_sync([&] { return broker.publish("room", "nobody"); }), 0u);
}

TEST(InProcessBrokerTest, BrokerDestroyedBeforeSubscription) {
  IOLoop loop;
  Subscription subscription;
  {
    InProcessBroker broker;
    subscription = broker.subscribe("room", [](auto, auto) {});
  }
  subscription.unsubscribe();  // nothing to do, nothing to crash
  EXPECT_FALSE(subscription.active());
}

TEST(InProcessBrokerTest, ThrowingCallbackIsLogged) {
  IOLoop loop;
  InProcessBroker broker;
  int after = 0;
  auto bad = broker.subscribe("room", [](auto, auto) { throw std::runtime_error("boom"); });
  auto good = broker.subscribe("room", [&](auto, auto) { ++after; });
  ExpectLog expected(tornado::log::app, "Exception in the callback for channel room: boom");
  loop.run_sync([&]() -> Task<> {
    EXPECT_EQ(co_await broker.publish("room", "x"), 2u);
    EXPECT_TRUE(co_await eventually([&] { return after == 1; }));
  });
}

TEST(InProcessBrokerTest, ManyPublishersManyLoops) {
  InProcessBroker broker;
  constexpr int kLoops = 2;
  constexpr int kPublishers = 3;
  constexpr int kMessages = 500;
  std::latch subscribed(kLoops);
  std::vector<int> counts(kLoops, 0);
  std::vector<IOLoop*> loops(kLoops);
  std::vector<std::thread> threads;
  for (int i = 0; i < kLoops; ++i) {
    threads.emplace_back([&, i] {
      IOLoop loop;
      loops[i] = &loop;
      auto subscription = broker.subscribe("room", [&, i](auto, auto) {
        if (++counts[i] == kPublishers * kMessages) IOLoop::current().stop();
      });
      subscribed.count_down();
      loop.start();
    });
  }
  subscribed.wait();
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&] {
      IOLoop loop;
      loop.run_sync([&]() -> Task<> {
        for (int m = 0; m < kMessages; ++m) co_await broker.publish("room", "m");
      });
    });
  }
  for (auto& t : publishers) t.join();
  for (auto& t : threads) t.join();
  for (int i = 0; i < kLoops; ++i) EXPECT_EQ(counts[i], kPublishers * kMessages);
}

// ------------------------------------------------------------------ URLs

TEST(RedisURLTest, ParsesEveryPart) {
  auto url = RedisURL::parse("redis://eva:s3cret@[::1]:7000/3");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 7000);
  EXPECT_EQ(url.db, 3);
  EXPECT_EQ(url.username, "eva");
  EXPECT_EQ(url.password, "s3cret");
  EXPECT_EQ(url.describe(), "[::1]:7000/3");  // never the password

  auto plain = RedisURL::parse("redis://localhost");
  EXPECT_EQ(plain.host, "localhost");
  EXPECT_EQ(plain.port, 6379);
  EXPECT_EQ(plain.db, 0);
  EXPECT_EQ(RedisURL::parse("redis://:pw@h:1/").password, "pw");
}

TEST(RedisURLTest, BadURLsSayWhatIsWrong) {
  struct Case {
    const char* url;
    const char* says;
  };
  for (auto [url, says] : std::vector<Case>{
           {"localhost:6379", "does not start with redis://"},
           {"http://localhost", "scheme 'http' is not redis"},
           {"redis://", "no host"},
           {"redis://:pw@/0", "no host"},
           {"redis://h:0", "port '0' is not 1-65535"},
           {"redis://h:99999", "port '99999' is not 1-65535"},
           {"redis://h:x1", "port 'x1'"},
           {"redis://h:", "empty port"},
           {"redis://h/db1", "database 'db1' is not a number"},
           {"redis://[::1", "unclosed '['"},
           {"redis://h/0?timeout=1", "query strings"},
       }) {
    try {
      RedisURL::parse(url);
      ADD_FAILURE() << url << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << url << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("redis://[[user]:password@]host"), std::string::npos);
    }
  }
  IOLoop loop;
  EXPECT_THROW(RedisBroker("redis://h:70000"), std::invalid_argument);
}

// ----------------------------------------------------------------- Redis

class RedisBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(redis_.start()) << "redis-server did not start";
  }

  // Fast reconnection, so that outages are short in tests.
  static RedisSettings fast() {
    return {.connect_timeout = 1000ms,
            .command_timeout = 2000ms,
            .reconnect_delay = 20ms,
            .max_reconnect_delay = 200ms};
  }

  IOLoop loop_;
  RedisServer redis_;
};

TEST_F(RedisBrokerTest, PublishSubscribeBetweenTwoBrokersBinarySafe) {
  ExpectLog connected(tornado::log::general, "Connected to Redis");
  RedisBroker a(redis_.url(), fast());
  RedisBroker b(redis_.url(), fast());
  std::vector<std::string> at_a, at_b;
  loop_.run_sync([&]() -> Task<> {
    co_await a.wait_connected();
    co_await b.wait_connected();
    auto sub_a = a.subscribe("chat", [&](std::string_view channel, std::string_view m) {
      EXPECT_EQ(channel, "chat");
      at_a.emplace_back(m);
    });
    auto sub_b = b.subscribe("chat", [&](auto, std::string_view m) { at_b.emplace_back(m); });
    co_await sub_a.ready();
    co_await sub_b.ready();
    EXPECT_EQ(co_await a.publish("chat", kBinary), 2u);
    EXPECT_EQ(co_await b.publish("chat", "from b"), 2u);
    EXPECT_TRUE(co_await eventually([&] { return at_a.size() == 2 && at_b.size() == 2; }));
  });
  EXPECT_EQ(at_a, (std::vector<std::string>{kBinary, "from b"}));
  EXPECT_EQ(at_b, at_a);
  EXPECT_GE(connected.matched(), 2);
}

TEST_F(RedisBrokerTest, OneServerSubscriptionForManyLocalSubscribers) {
  ExpectLog connected(tornado::log::general, "Connected to Redis");
  RedisBroker broker(redis_.url(), fast());
  int first = 0, second = 0;
  loop_.run_sync([&]() -> Task<> {
    co_await broker.wait_connected();
    auto s1 = broker.subscribe("room", [&](auto, auto) { ++first; });
    auto s2 = broker.subscribe("room", [&](auto, auto) { ++second; });
    co_await s1.ready();
    co_await s2.ready();
    // One connection subscribed, so Redis counts one receiver.
    EXPECT_EQ(co_await broker.publish("room", "x"), 1u);
    EXPECT_TRUE(co_await eventually([&] { return first == 1 && second == 1; }));
    s1.unsubscribe();
    EXPECT_EQ(co_await broker.publish("room", "y"), 1u);
    EXPECT_TRUE(co_await eventually([&] { return second == 2; }));
    EXPECT_EQ(first, 1);
  });
}

TEST_F(RedisBrokerTest, UnsubscribeReachesTheServer) {
  ExpectLog connected(tornado::log::general, "Connected to Redis");
  RedisBroker broker(redis_.url(), fast());
  int count = 0;
  loop_.run_sync([&]() -> Task<> {
    co_await broker.wait_connected();
    auto subscription = broker.subscribe("room", [&](auto, auto) { ++count; });
    co_await subscription.ready();
    auto numsub = [&]() -> Task<std::int64_t> {
      RedisReply reply = co_await broker.command("PUBSUB", "NUMSUB", "room");
      co_return reply.elements.at(1).integer;
    };
    EXPECT_EQ(co_await numsub(), 1);
    subscription.unsubscribe();
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
      gone = co_await numsub() == 0;
      if (!gone) co_await tornado::sleep(5ms);
    }
    EXPECT_TRUE(gone);
    EXPECT_EQ(co_await broker.publish("room", "nobody"), 0u);
    // Subscribing again works after the server forgot the channel.
    auto again = broker.subscribe("room", [&](auto, auto) { ++count; });
    co_await again.ready();
    EXPECT_EQ(co_await broker.publish("room", "back"), 1u);
    EXPECT_TRUE(co_await eventually([&] { return count == 1; }));
  });
}

TEST_F(RedisBrokerTest, CommandsAndErrorReplies) {
  ExpectLog connected(tornado::log::general, "Connected to Redis");
  RedisBroker broker(redis_.url(2), fast());
  loop_.run_sync([&]() -> Task<> {
    co_await broker.wait_connected();
    EXPECT_EQ((co_await broker.command("LPUSH", "history", kBinary)).integer, 1);
    co_await broker.command("LPUSH", "history", "second");
    RedisReply range = co_await broker.command("LRANGE", "history", "0", "-1");
    EXPECT_EQ(range.type, RedisReply::Type::array);
    EXPECT_EQ(range.elements.size(), 2u);
    EXPECT_EQ(range.elements.at(0).str, "second");
    EXPECT_EQ(range.elements.at(1).str, kBinary);
    EXPECT_TRUE((co_await broker.command("GET", "missing")).is_nil());
    EXPECT_EQ((co_await broker.command("SET", "k", "v")).str, "OK");
    // The URL's database was selected.
    RedisReply db = co_await broker.command("CLIENT", "INFO");
    EXPECT_NE(db.str.find(" db=2 "), std::string::npos) << db.str;
    bool threw = false;
    try {
      co_await broker.command("INCR", "history");
    } catch (const RedisError& e) {
      threw = true;
      EXPECT_NE(std::string(e.what()).find("WRONGTYPE"), std::string::npos);
    }
    EXPECT_TRUE(threw);
  });
}

TEST_F(RedisBrokerTest, RedisKilledAndRestartedReconnectsAndResubscribes) {
  ExpectLog connected(tornado::log::general, "Connected to Redis");
  ExpectLog lost(tornado::log::general, "lost: ");
  ExpectLog back(tornado::log::general, "is back after");
  RedisBroker listener(redis_.url(), fast());
  RedisBroker talker(redis_.url(), fast());
  std::vector<std::string> heard;
  loop_.run_sync([&]() -> Task<> {
    co_await listener.wait_connected();
    co_await talker.wait_connected();
    auto subscription =
        listener.subscribe("room", [&](auto, std::string_view m) { heard.emplace_back(m); });
    co_await subscription.ready();
    EXPECT_EQ(co_await talker.publish("room", "before"), 1u);
    EXPECT_TRUE(co_await eventually([&] { return heard.size() == 1; }));

    redis_.stop();
    EXPECT_TRUE(co_await eventually([&] { return !talker.connected() && !listener.connected(); }));
    // During the outage a publish fails, loudly, and does not block.
    auto started = std::chrono::steady_clock::now();
    int failed = 0;
    for (int i = 0; i < 3; ++i) {
      try {
        co_await talker.publish("room", "during");
      } catch (const PubSubError& e) {
        ++failed;
        EXPECT_NE(std::string(e.what()).find("unreachable"), std::string::npos) << e.what();
      }
      co_await tornado::sleep(50ms);  // several reconnection attempts fail meanwhile
    }
    EXPECT_EQ(failed, 3);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);

    EXPECT_TRUE(redis_.start());
    co_await tornado::with_timeout(5s, listener.wait_connected());
    co_await tornado::with_timeout(5s, talker.wait_connected());
    // Resubscribed: wait until the server has the subscription again.
    bool resubscribed = false;
    for (int i = 0; i < 200 && !resubscribed; ++i) {
      RedisReply reply = co_await talker.command("PUBSUB", "NUMSUB", "room");
      resubscribed = reply.elements.at(1).integer == 1;
      if (!resubscribed) co_await tornado::sleep(5ms);
    }
    EXPECT_TRUE(resubscribed);
    EXPECT_EQ(co_await talker.publish("room", "after"), 1u);
    EXPECT_TRUE(co_await eventually([&] { return heard.size() == 2; }));
  });
  EXPECT_EQ(heard, (std::vector<std::string>{"before", "after"}));
  // One line for the outage and one for the recovery per broker, however
  // many attempts failed in between.
  EXPECT_EQ(lost.matched(), 2);
  EXPECT_EQ(back.matched(), 2);
}

TEST_F(RedisBrokerTest, CommandInFlightWhenRedisDiesFails) {
  ExpectLog connected(tornado::log::general, "Connected to Redis");
  ExpectLog lost(tornado::log::general, "lost: ");
  RedisBroker broker(redis_.url(), fast());
  loop_.run_sync([&]() -> Task<> {
    co_await broker.wait_connected();
    auto pending = tornado::to_future(broker.command("BLPOP", "never", "0"));
    RedisBroker observer(redis_.url(), fast());
    EXPECT_TRUE(co_await until_blocked(observer));
    redis_.stop();
    std::string error;
    try {
      co_await pending;
    } catch (const PubSubError& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("lost before the reply"), std::string::npos) << error;
  });
}

TEST_F(RedisBrokerTest, UnreachableAtStartFailsPublishesAndConnectsLater) {
  redis_.stop();
  ExpectLog unreachable(tornado::log::general, "unreachable: ");
  ExpectLog back(tornado::log::general, "is back after");
  RedisBroker broker(redis_.url(), fast());
  loop_.run_sync([&]() -> Task<> {
    EXPECT_TRUE(co_await eventually([&] { return unreachable.matched() > 0; }));
    EXPECT_FALSE(broker.connected());
    EXPECT_TRUE(co_await fails(broker.publish("room", "x")));
    EXPECT_TRUE(redis_.start());
    co_await tornado::with_timeout(5s, broker.wait_connected());
    EXPECT_EQ(co_await broker.publish("room", "x"), 0u);
  });
  EXPECT_EQ(unreachable.matched(), 1);
}

TEST_F(RedisBrokerTest, UnansweredCommandTimesOutAndReconnects) {
  ExpectLog connected(tornado::log::general, "Connected to Redis");
  ExpectLog lost(tornado::log::general, "lost: no reply to PING within 200 ms");
  ExpectLog back(tornado::log::general, "is back after");
  RedisSettings settings = fast();
  settings.command_timeout = 200ms;
  RedisBroker broker(redis_.url(), settings);
  RedisBroker pauser(redis_.url(), fast());
  loop_.run_sync([&]() -> Task<> {
    co_await broker.wait_connected();
    co_await pauser.wait_connected();
    // Redis stops answering every client for 3 s, as a hung server would;
    // the 200 ms command timeout must fire long before the pause ends.
    co_await pauser.command("CLIENT", "PAUSE", "3000", "ALL");
    auto started = std::chrono::steady_clock::now();
    std::string error;
    try {
      co_await broker.command("PING");
    } catch (const PubSubError& e) {
      error = e.what();
    }
    EXPECT_NE(error.find("no reply to PING within 200 ms"), std::string::npos) << error;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 2000ms);
    // The next command fails at once: the broker treats Redis as gone...
    EXPECT_FALSE(broker.connected());
    EXPECT_TRUE(co_await fails(broker.publish("room", "x")));
    // ... and is back once Redis answers again.
    co_await tornado::with_timeout(10s, broker.wait_connected());
    EXPECT_EQ((co_await broker.command("PING")).str, "PONG");
  });
}

TEST(RedisBrokerTimeoutTest, ServerThatNeverAnswersTheHandshake) {
  // A socket that listens but never accepts: TCP connects (the kernel's
  // backlog), Redis's handshake never comes.
  auto sockets = tornado::netutil::bind_sockets(0, "127.0.0.1");
  int port = sockets.at(0).port();
  IOLoop loop;
  ExpectLog unreachable(tornado::log::general, "unreachable: no connection within 150 ms");
  RedisBroker broker("redis://127.0.0.1:" + std::to_string(port),
                     {.connect_timeout = 150ms, .reconnect_delay = 1000ms});
  loop.run_sync([&]() -> Task<> {
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(co_await eventually([&] { return unreachable.matched() > 0; }));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 140ms);
    EXPECT_FALSE(broker.connected());
  });
}

TEST_F(RedisBrokerTest, HostNamesResolveWithoutBlocking) {
  ExpectLog connected(tornado::log::general, "Connected to Redis");
  RedisBroker broker("redis://localhost:" + std::to_string(redis_.port()), fast());
  loop_.run_sync([&]() -> Task<> {
    co_await tornado::with_timeout(5s, broker.wait_connected());
    EXPECT_EQ((co_await broker.command("PING")).str, "PONG");
  });
}

TEST_F(RedisBrokerTest, BrokerDestroyedWithCommandsInFlight) {
  ExpectLog connected(tornado::log::general, "Connected to Redis");
  auto broker = std::make_unique<RedisBroker>(redis_.url(), fast());
  loop_.run_sync([&]() -> Task<> {
    co_await broker->wait_connected();
    auto pending = tornado::to_future(broker->command({"BLPOP", "never", "0"}));
    RedisBroker observer(redis_.url(), fast());
    EXPECT_TRUE(co_await until_blocked(observer));
    broker.reset();
    EXPECT_TRUE(co_await fails(pending));
  });
}

TEST(RedisBrokerLifetimeTest, LoopDestroyedBeforeBroker) {
  if (!RedisServer::available()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer redis;
  ASSERT_TRUE(redis.start());
  ExpectLog connected(tornado::log::general, "Connected to Redis");
  std::unique_ptr<RedisBroker> broker;
  Subscription subscription;
  {
    IOLoop loop;
    broker = std::make_unique<RedisBroker>(redis.url(), RedisSettings{});
    subscription = broker->subscribe("room", [](auto, auto) {});
    loop.run_sync([&]() -> Task<> { co_await subscription.ready(); });
  }
  subscription.unsubscribe();
  broker.reset();  // its connections went with the loop; nothing left to free twice
}
