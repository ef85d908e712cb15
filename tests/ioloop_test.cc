// Tests for tornado::ioloop (tornado/test/ioloop_test.py's twin).
#include "tornado/ioloop.h"

#include <gtest/gtest.h>

#include "tornado/log.h"
#include "tornado/testing.h"

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using tornado::Task;
using tornado::ioloop::IOLoop;

TEST(IOLoopTest, TimersRunInDeadlineOrder) {
  IOLoop loop;
  std::vector<int> order;
  loop.call_later(30ms, [&] { order.push_back(3); });
  loop.call_later(10ms, [&] { order.push_back(1); });
  loop.call_later(20ms, [&] { order.push_back(2); });
  loop.call_later(40ms, [&] { loop.stop(); });
  loop.start();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(IOLoopTest, RemoveTimeoutCancels) {
  IOLoop loop;
  bool ran = false;
  auto handle = loop.call_later(10ms, [&] { ran = true; });
  loop.remove_timeout(handle);
  loop.call_later(30ms, [&] { loop.stop(); });
  loop.start();
  EXPECT_FALSE(ran);
}

TEST(IOLoopTest, AfterIoRunsOnceWithoutWaitingForIo) {
  IOLoop loop;
  struct Calls {
    IOLoop* loop;
    int count = 0;
  } calls{&loop};
  auto call = [](void* arg) {
    auto* c = static_cast<Calls*>(arg);
    ++c->count;
    c->loop->stop();
  };
  // Registered from a timer with nothing else due for 10 s: the calls must run
  // in this iteration, not after the poll waited for that timer.
  loop.call_later(1ms, [&] {
    std::size_t first = loop.after_io(call, &calls);
    loop.after_io(call, &calls);
    loop.cancel_after_io(first);
  });
  loop.call_later(10s, [&] { loop.stop(); });
  auto started = tornado::ioloop::Clock::now();
  loop.start();
  EXPECT_EQ(calls.count, 1);
  EXPECT_LT(tornado::ioloop::Clock::now() - started, 5s);
}

TEST(IOLoopTest, AddCallbackFromFourThreadsLosesNothing) {
  IOLoop loop;
  constexpr int kPerThread = 10000;
  int count = 0;  // touched only on the loop thread
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        loop.add_callback([&] {
          if (++count == 4 * kPerThread) loop.stop();
        });
      }
    });
  }
  loop.start();
  for (auto& t : threads) t.join();
  EXPECT_EQ(count, 4 * kPerThread);
}

TEST(IOLoopTest, RunSyncReturnsTheTaskValue) {
  IOLoop loop;
  int value = loop.run_sync([]() -> Task<int> {
    co_await tornado::sleep(5ms);
    co_return 42;
  });
  EXPECT_EQ(value, 42);
}

TEST(IOLoopTest, RunSyncTimesOut) {
  IOLoop loop;
  EXPECT_THROW(loop.run_sync([]() -> Task<> { co_await tornado::sleep(10s); }, 20ms),
               tornado::TimeoutError);
}

TEST(IOLoopTest, RunSyncWithSynchronousTaskDoesNotPoisonNextStart) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync([]() -> Task<int> { co_return 1; }), 1);
  bool ran = false;
  loop.call_later(10ms, [&] {
    ran = true;
    loop.stop();
  });
  loop.start();
  EXPECT_TRUE(ran);
}

TEST(IOLoopTest, PeriodicCallbackRepeatsUntilStopped) {
  IOLoop loop;
  int ticks = 0;
  tornado::ioloop::PeriodicCallback periodic([&] { ++ticks; }, 5ms);
  periodic.start();
  loop.call_later(60ms, [&] {
    periodic.stop();
    loop.stop();
  });
  loop.start();
  EXPECT_GE(ticks, 3);
  int after = ticks;
  loop.call_later(20ms, [&] { loop.stop(); });
  loop.start();
  EXPECT_EQ(ticks, after);
}

TEST(IOLoopTest, CurrentIsPerThread) {
  IOLoop* main_loop = &IOLoop::current();
  IOLoop* other = nullptr;
  std::thread([&] { other = &IOLoop::current(); }).join();
  EXPECT_NE(main_loop, other);
  EXPECT_EQ(main_loop, &IOLoop::current());
}

// Callbacks run under libuv's C frames: one that throws is logged, as
// Tornado's loop logs it, and the callbacks after it still run.
TEST(IOLoopTest, ThrowingCallbacksAreLoggedAndTheLoopGoesOn) {
  IOLoop loop;
  tornado::testing::ExpectLog logged(tornado::log::app, "Exception in callback: from a callback");
  int ran = 0;
  loop.add_callback([] { throw std::runtime_error("from a callback"); });
  loop.add_callback([&] { ++ran; });
  loop.call_later(1ms, [] { throw std::runtime_error("from a callback"); });
  loop.call_later(2ms, [&] {
    ++ran;
    loop.stop();
  });
  loop.start();
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(logged.matched(), 2);
}
