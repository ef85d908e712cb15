// Tests for tornado::concurrent: Task, Future, gather, with_timeout, spawn.
#include "tornado/concurrent.h"

#include <gtest/gtest.h>

#include "tornado/ioloop.h"
#include "tornado/testing.h"

using namespace std::chrono_literals;
using tornado::Future;
using tornado::Task;
using tornado::ioloop::IOLoop;

namespace {

Task<int> add_later(int a, int b) {
  co_await tornado::moment();
  co_return a + b;
}

Task<int> fails() {
  co_await tornado::moment();
  throw std::runtime_error("boom");
}

Task<int> nested(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await nested(depth - 1);
}

}  // namespace

TEST(ConcurrentTest, TaskIsLazy) {
  IOLoop loop;
  bool started = false;
  auto make = [&]() -> Task<> {
    started = true;
    co_return;
  };
  auto task = make();
  EXPECT_FALSE(started);
  loop.run_sync([&]() -> Task<> { co_await task; });
  EXPECT_TRUE(started);
}

TEST(ConcurrentTest, ExceptionsCrossCoAwait) {
  IOLoop loop;
  std::string caught;
  loop.run_sync([&]() -> Task<> {
    try {
      co_await fails();
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
  });
  EXPECT_EQ(caught, "boom");
}

TEST(ConcurrentTest, ChainsOfSynchronousTasksComplete) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync([] { return nested(1000); }), 1000);
}

TEST(ConcurrentTest, FutureResumesAwaiterFromTheLoop) {
  IOLoop loop;
  Future<std::string> future;
  loop.call_later(5ms, [future]() mutable { future.set_result("done"); });
  auto result = loop.run_sync([&]() -> Task<std::string> { co_return co_await future; });
  EXPECT_EQ(result, "done");
}

TEST(ConcurrentTest, FutureCarriesExceptions) {
  IOLoop loop;
  Future<int> future;
  future.set_exception(std::make_exception_ptr(std::out_of_range("nope")));
  EXPECT_THROW(loop.run_sync([&]() -> Task<int> { co_return co_await future; }), std::out_of_range);
}

TEST(ConcurrentTest, GatherOfAThousandTasks) {
  IOLoop loop;
  auto results = loop.run_sync([]() -> Task<std::vector<int>> {
    std::vector<Task<int>> tasks;
    for (int i = 0; i < 1000; ++i) tasks.push_back(add_later(i, 1));
    co_return co_await tornado::gather(std::move(tasks));
  });
  ASSERT_EQ(results.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(results[i], i + 1);
}

TEST(ConcurrentTest, GatherRethrowsAfterAllFinish) {
  IOLoop loop;
  int finished = 0;
  // The failing task ends first and only then lets the other one go on, so
  // a gather that returned at the first error would see finished == 1.
  Future<> failed;
  auto failing = [&]() -> Task<int> {
    co_await tornado::moment();
    ++finished;
    failed.set_result();
    throw std::runtime_error("one failed");
  };
  auto slower = [&]() -> Task<int> {
    co_await failed;
    co_await tornado::moment();
    ++finished;
    co_return 1;
  };
  EXPECT_THROW(loop.run_sync([&]() -> Task<> {
    std::vector<Task<int>> tasks;
    tasks.push_back(slower());
    tasks.push_back(failing());
    co_await tornado::gather(std::move(tasks));
  }),
               std::runtime_error);
  EXPECT_EQ(finished, 2);
}

TEST(ConcurrentTest, WithTimeoutPassesFastTasks) {
  IOLoop loop;
  EXPECT_EQ(loop.run_sync([] { return tornado::with_timeout(1s, add_later(2, 3)); }), 5);
}

TEST(ConcurrentTest, WithTimeoutThrowsTimeoutError) {
  IOLoop loop;
  EXPECT_THROW(loop.run_sync([]() -> Task<> { co_await tornado::with_timeout(10ms, Future<>()); }),
               tornado::TimeoutError);
}

TEST(ConcurrentTest, SpawnedExceptionIsLogged) {
  IOLoop loop;
  tornado::testing::ExpectLog expected(tornado::log::gen, "spawned-failure");
  Future<> about_to_throw;
  loop.spawn([](Future<> about_to_throw) -> Task<> {
    co_await tornado::moment();
    about_to_throw.set_result();  // wakes the waiter below from the loop, after the throw
    throw std::runtime_error("spawned-failure");
  }(about_to_throw));
  loop.run_sync([&]() -> Task<> { co_await about_to_throw; });
  EXPECT_EQ(expected.matched(), 1);
}

TEST(ConcurrentTest, LoopDestructionReleasesSuspendedTasks) {
  auto shared = std::make_shared<int>(7);
  std::weak_ptr<int> watch = shared;
  {
    IOLoop loop;
    loop.spawn([](std::shared_ptr<int> held) -> Task<> {
      co_await tornado::sleep(1h);
      (void)held;
    }(std::move(shared)));
  }
  EXPECT_TRUE(watch.expired());
}

TEST(ConcurrentTest, MomentYieldsToOtherCallbacks) {
  IOLoop loop;
  std::vector<int> order;
  loop.run_sync([&]() -> Task<> {
    IOLoop::current().call_soon([&] { order.push_back(1); });
    co_await tornado::moment();
    order.push_back(2);
  });
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}
