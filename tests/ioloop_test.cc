// Tests for tornado::ioloop (tornado/test/ioloop_test.py's twin).
#include "tornado/ioloop.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tornado/detail/ioloop_streams.h"
#include "tornado/log.h"
#include "tornado/testing.h"

#include <atomic>
#include <future>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tornado/log.h"
#include "tornado/testing.h"

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
    using tornado::detail::IOLoopStreams;
    IOLoopStreams::after_io(loop, call, &calls);
    IOLoopStreams::after_io(loop, call, &calls);
    IOLoopStreams::cancel_after_io(loop, call, &calls);  // one of the two
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

// Executors

namespace {

// An executor that counts what it is given and runs it on a thread of its own.
class CountingExecutor : public tornado::Executor {
 public:
  void submit(std::function<void()> work) override {
    ++submitted;
    threads_.emplace_back(std::move(work));
  }
  ~CountingExecutor() override {
    for (auto& thread : threads_) thread.join();
  }
  std::atomic<int> submitted{0};

 private:
  std::vector<std::thread> threads_;
};

}  // namespace

TEST(IOLoopTest, RunInExecutorRunsOffTheLoopAndResumesOnIt) {
  IOLoop loop;
  auto loop_thread = std::this_thread::get_id();
  std::thread::id worker_thread;
  std::thread::id resumed_on;
  int result = loop.run_sync([&]() -> Task<int> {
    int value = co_await IOLoop::current().run_in_executor(nullptr, [&] {
      worker_thread = std::this_thread::get_id();
      return 6 * 7;
    });
    resumed_on = std::this_thread::get_id();
    co_return value;
  });
  EXPECT_EQ(result, 42);
  EXPECT_NE(worker_thread, loop_thread);
  EXPECT_EQ(resumed_on, loop_thread);
}

TEST(IOLoopTest, ExceptionsCrossTheExecutor) {
  IOLoop loop;
  std::string message;
  loop.run_sync([&]() -> Task<> {
    try {
      co_await IOLoop::current().run_in_executor(
          nullptr, []() -> std::string { throw std::invalid_argument("bad password"); });
      ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& e) {
      message = e.what();
    }
  });
  EXPECT_EQ(message, "bad password");
}

TEST(IOLoopTest, LoopKeepsRunningWhileAWorkerBlocks) {
  IOLoop loop;
  std::promise<void> gate;
  auto opened = gate.get_future();
  bool loop_ran = false;
  loop.run_sync(
      [&]() -> Task<> {
        auto blocked = tornado::to_future(
            IOLoop::current().run_in_executor(nullptr, [&opened] { opened.wait(); }));
        // The loop goes on with its own work while the worker is stuck...
        co_await tornado::moment();
        loop_ran = true;
        // ...and only then lets it go.
        gate.set_value();
        co_await blocked;
      },
      10s);
  EXPECT_TRUE(loop_ran);
}

TEST(IOLoopTest, DefaultExecutorIsSizedFromTheCoresAndReplaceable) {
  tornado::ThreadPoolExecutor pool;
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_EQ(pool.max_workers(), std::min<std::size_t>(32, cores + 4));
  EXPECT_EQ(pool.worker_count(), 0u) << "threads start with the work, not before";

  IOLoop loop;
  auto counting = std::make_shared<CountingExecutor>();
  loop.set_default_executor(counting);
  EXPECT_EQ(loop.run_sync([]() -> Task<int> {
    co_return co_await IOLoop::current().run_in_executor(nullptr, [] { return 1; });
  }),
            1);
  EXPECT_EQ(counting->submitted, 1);
}

TEST(IOLoopTest, ThreadPoolNeverExceedsMaxWorkers) {
  IOLoop loop;
  tornado::ThreadPoolExecutor pool(2);
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  loop.run_sync(
      [&]() -> Task<> {
        std::vector<Task<>> jobs;
        for (int i = 0; i < 8; ++i) {
          jobs.push_back(tornado::ioloop::run_on_executor(pool, [&] {
            int now = ++running;
            int seen = most.load();
            while (now > seen && !most.compare_exchange_weak(seen, now)) {
            }
            --running;
          }));
        }
        co_await tornado::gather(std::move(jobs));
      },
      10s);
  EXPECT_LE(most.load(), 2);
  EXPECT_LE(pool.worker_count(), 2u);
}

TEST(IOLoopTest, CancelledExecutorWaitLetsTheWorkFinishUnheard) {
  std::promise<void> gate;
  auto opened = gate.get_future();
  std::atomic<bool> finished{false};
  tornado::ThreadPoolExecutor pool(1);
  {
    IOLoop loop;
    loop.run_sync([&]() -> Task<> {
      auto waiting = tornado::to_future(IOLoop::current().run_in_executor(&pool, [&] {
        opened.wait();
        finished = true;
        return std::string("too late");
      }));
      co_await tornado::moment();
      waiting.cancel();
      EXPECT_THROW(co_await waiting, tornado::CancelledError);
    });
    gate.set_value();
    // The loop goes away while (or after) the worker finishes: its result
    // must find no dangling loop.
  }
  pool.shutdown(true);
  EXPECT_TRUE(finished);
}

TEST(IOLoopTest, PeriodicCallbackJitterSpreadsIntervalsWithinTheWindow) {
  IOLoop loop;
  tornado::ioloop::PeriodicCallback steady([] {}, 100ms);
  EXPECT_EQ(steady.next_interval(), 100ms);
  tornado::ioloop::PeriodicCallback jittered([] {}, 100ms, 0.5);
  std::set<tornado::ioloop::Duration::rep> distinct;
  for (int i = 0; i < 1000; ++i) {
    auto interval = jittered.next_interval();
    // Tornado's window: interval * (1 + jitter * (random() - 0.5)).
    EXPECT_GE(interval, 75ms);
    EXPECT_LE(interval, 125ms);
    distinct.insert(interval.count());
  }
  EXPECT_GT(distinct.size(), 900u);
  EXPECT_THROW(tornado::ioloop::PeriodicCallback([] {}, 100ms, 1.5), std::invalid_argument);
  EXPECT_THROW(tornado::ioloop::PeriodicCallback([] {}, 0ms), std::invalid_argument);
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
