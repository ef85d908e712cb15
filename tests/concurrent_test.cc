// Tests for tornado::concurrent: Task, Future, gather, with_timeout, spawn.
#include "tornado/concurrent.h"

#include <gtest/gtest.h>
#include <uv.h>

#include "tornado/ioloop.h"
#include "tornado/testing.h"

#include <map>
#include <thread>

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

TEST(ConcurrentTest, WithTimeoutDueFirstWinsWhenTheLoopIsLateForBoth) {
  IOLoop loop;
  auto work = []() -> Task<int> {
    co_await tornado::sleep(5ms);
    co_return 1;
  };
  // The behaviour under test, not synchronisation: a loop stalled past both
  // deadlines fires the timeout's timer and the work's in one turn; the
  // deadline that came first decides, as in Tornado.
  loop.add_callback([] { std::this_thread::sleep_for(20ms); });
  EXPECT_THROW(
      loop.run_sync([&]() -> Task<int> { co_return co_await tornado::with_timeout(1ms, work()); }),
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

// Cancellation

namespace {

int active_timers(IOLoop& loop) {
  int count = 0;
  uv_walk(
      loop.uv_loop(),
      [](uv_handle_t* h, void* arg) {
        if (h->type == UV_TIMER && uv_is_active(h)) ++*static_cast<int*>(arg);
      },
      &count);
  return count;
}

Task<int> inner_wait(Future<int> never, std::vector<std::string>* log) {
  try {
    co_return co_await never;
  } catch (const tornado::CancelledError&) {
    log->push_back("inner");
    throw;
  }
}

Task<int> middle_wait(Future<int> never, std::vector<std::string>* log) {
  try {
    co_return 1 + co_await inner_wait(never, log);
  } catch (const tornado::CancelledError&) {
    log->push_back("middle");
    throw;
  }
}

}  // namespace

TEST(ConcurrentTest, FutureCancelResumesTheAwaiterWithCancelledError) {
  IOLoop loop;
  Future<int> future;
  EXPECT_FALSE(future.cancelled());
  loop.call_soon([future]() mutable { EXPECT_TRUE(future.cancel()); });
  EXPECT_THROW(loop.run_sync([&]() -> Task<int> { co_return co_await future; }),
               tornado::CancelledError);
  EXPECT_TRUE(future.cancelled());
  EXPECT_FALSE(future.cancel()) << "a done future cannot be cancelled again";
  future.set_result(5);  // the producer finishing late is ignored, not an error
  EXPECT_EQ(future.waiter_count(), 0u);
}

TEST(ConcurrentTest, TaskCancelPropagatesThroughEveryCoAwait) {
  IOLoop loop;
  Future<int> never;
  std::vector<std::string> log;
  auto outer = tornado::to_future(middle_wait(never, &log));
  loop.run_sync([&]() -> Task<> {
    co_await tornado::moment();
    EXPECT_EQ(never.waiter_count(), 1u);
    EXPECT_TRUE(outer.cancel());
    try {
      co_await outer;
      ADD_FAILURE() << "the cancelled task returned";
    } catch (const tornado::CancelledError&) {
      log.push_back("caller");
    }
  });
  // Innermost first, as an exception unwinds; the future waited on is
  // cancelled too (asyncio's rule) and keeps no waiter.
  EXPECT_EQ(log, (std::vector<std::string>{"inner", "middle", "caller"}));
  EXPECT_TRUE(never.cancelled());
  EXPECT_EQ(never.waiter_count(), 0u);
}

TEST(ConcurrentTest, CancelledTaskMayCatchAndCarryOn) {
  IOLoop loop;
  auto stubborn = [](Future<> never) -> Task<int> {
    try {
      co_await never;
    } catch (const tornado::CancelledError&) {
      co_return 7;  // as a Python coroutine may swallow CancelledError
    }
    co_return 0;
  };
  auto future = tornado::to_future(stubborn(Future<>()));
  loop.run_sync([&]() -> Task<> {
    co_await tornado::moment();
    future.cancel();
    EXPECT_EQ(co_await future, 7);
  });
}

TEST(ConcurrentTest, CancelledSleepLeavesNoTimer) {
  IOLoop loop;
  auto sleeping = tornado::to_future(tornado::sleep(1h));
  loop.run_sync([&]() -> Task<> {
    co_await tornado::moment();
    EXPECT_EQ(active_timers(IOLoop::current()), 1);
    sleeping.cancel();
    EXPECT_THROW(co_await sleeping, tornado::CancelledError);
  });
  EXPECT_EQ(active_timers(loop), 0);
}

TEST(ConcurrentTest, TaskCancelBeforeItWaitsStopsAtItsFirstWait) {
  IOLoop loop;
  bool ran_past_the_wait = false;
  auto body = [&]() -> Task<> {
    co_await tornado::sleep(1h);
    ran_past_the_wait = true;
  };
  Task<> task = body();
  task.cancel();  // not started yet
  EXPECT_THROW(loop.run_sync([&]() -> Task<> { co_await task; }), tornado::CancelledError);
  EXPECT_FALSE(ran_past_the_wait);
  EXPECT_EQ(active_timers(loop), 0);
}

TEST(ConcurrentTest, WithTimeoutLeavesTheWorkRunningOnTimeout) {
  IOLoop loop;
  Future<int> slow;
  EXPECT_THROW(
      loop.run_sync([&]() -> Task<int> { co_return co_await tornado::with_timeout(5ms, slow); }),
      tornado::TimeoutError);
  // Tornado's gen.with_timeout semantics: the work goes on, and nothing of
  // the timeout is left on it or on the loop.
  EXPECT_FALSE(slow.done());
  EXPECT_EQ(slow.waiter_count(), 0u);
  EXPECT_EQ(active_timers(loop), 0);
}

TEST(ConcurrentTest, CancellingWithTimeoutCancelsTheWork) {
  IOLoop loop;
  Future<int> slow;
  auto waiting = tornado::to_future(tornado::with_timeout(1h, slow));
  loop.run_sync([&]() -> Task<> {
    co_await tornado::moment();
    waiting.cancel();
    EXPECT_THROW(co_await waiting, tornado::CancelledError);
  });
  EXPECT_TRUE(slow.cancelled());
  EXPECT_EQ(slow.waiter_count(), 0u);
  EXPECT_EQ(active_timers(loop), 0);
}

TEST(ConcurrentTest, CancellingGatherCancelsEveryTask) {
  IOLoop loop;
  int cancelled = 0;
  auto wait_forever = [&]() -> Task<int> {
    try {
      co_await tornado::sleep(1h);
    } catch (const tornado::CancelledError&) {
      ++cancelled;
      throw;
    }
    co_return 0;
  };
  std::vector<Task<int>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(wait_forever());
  auto all = tornado::to_future(tornado::gather(std::move(tasks)));
  loop.run_sync([&]() -> Task<> {
    co_await tornado::moment();
    all.cancel();
    EXPECT_THROW(co_await all, tornado::CancelledError);
  });
  EXPECT_EQ(cancelled, 3);
  EXPECT_EQ(active_timers(loop), 0);
}

TEST(ConcurrentTest, CancelFromAnotherThreadGoesThroughTheLoop) {
  IOLoop loop;
  Future<int> future;
  std::thread::id cancelled_on;
  auto waiter = [&]() -> Task<> {
    try {
      co_await future;
    } catch (const tornado::CancelledError&) {
      cancelled_on = std::this_thread::get_id();
    }
  };
  loop.run_sync([&]() -> Task<> {
    std::thread other([future]() mutable { EXPECT_TRUE(future.cancel()); });
    co_await waiter();
    other.join();
  });
  EXPECT_EQ(cancelled_on, std::this_thread::get_id());
  EXPECT_TRUE(future.cancelled());
}

TEST(ConcurrentTest, SpawnedTaskEndingCancelledIsNotAnError) {
  IOLoop loop;
  Future<> never;
  loop.spawn([](Future<> never) -> Task<> { co_await never; }(never));
  loop.run_sync([&]() -> Task<> {
    co_await tornado::moment();
    never.cancel();
    co_await tornado::moment();
    co_await tornado::moment();
  });
  // The test sink fails the test on any error record.
}

// Composition: multi and WaitIterator

namespace {

// Finishes when `gate` is set, with `value` or by throwing `error`.
Task<int> after(Future<> gate, int value, std::string error = "") {
  co_await gate;
  if (!error.empty()) throw std::runtime_error(error);
  co_return value;
}

// One task that succeeds, then two that fail with "first" and "second".
std::vector<Task<int>> two_failures(Future<> go) {
  std::vector<Task<int>> tasks;
  tasks.push_back(after(go, 1));
  tasks.push_back(after(go, 2, "first"));
  tasks.push_back(after(go, 3, "second"));
  return tasks;
}

// The message of the runtime_error `run` raises ("" if none).
template <class Fn>
std::string raised(Fn&& run) {
  try {
    run();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ConcurrentTest, MultiOverAVectorKeepsOrderAndLogsLaterFailures) {
  IOLoop loop;
  tornado::testing::ExpectLog later(tornado::log::gen, "Multiple exceptions in yield list: second");
  Future<> go;
  go.set_result();
  EXPECT_EQ(raised([&] { loop.run_sync([&] { return tornado::multi(two_failures(go)); }); }),
            "first");
  EXPECT_EQ(later.matched(), 1);

  std::vector<Task<int>> fine;
  for (int i = 0; i < 3; ++i) fine.push_back(after(go, i * 10));
  EXPECT_EQ(loop.run_sync([&] { return tornado::multi(std::move(fine)); }),
            (std::vector<int>{0, 10, 20}));
}

TEST(ConcurrentTest, MultiQuietExceptionsAreNotLogged) {
  IOLoop loop;
  Future<> go;
  go.set_result();
  std::vector<Task<int>> tasks;
  tasks.push_back(after(go, 1, "first"));
  tasks.push_back(after(go, 2, "quiet"));
  // The test sink fails the test on an error record: none may come.
  EXPECT_THROW(loop.run_sync([&] {
    return tornado::multi(std::move(tasks), tornado::quiet_exceptions<std::runtime_error>);
  }),
               std::runtime_error);
}

// gather is multi that logs nothing: asyncio.gather reports only the failure
// it raises (the test sink fails the test on any error record).
TEST(ConcurrentTest, GatherRaisesTheFirstFailureAndLogsNoOther) {
  IOLoop loop;
  Future<> go;
  go.set_result();
  EXPECT_EQ(raised([&] { loop.run_sync([&] { return tornado::gather(two_failures(go)); }); }),
            "first");
  std::vector<Task<>> voids;
  voids.push_back([](Future<> go) -> Task<> { co_await after(go, 1, "void first"); }(go));
  voids.push_back([](Future<> go) -> Task<> { co_await after(go, 2, "void second"); }(go));
  EXPECT_EQ(raised([&] { loop.run_sync([&] { return tornado::gather(std::move(voids)); }); }),
            "void first");
}

TEST(ConcurrentTest, MultiOverAMapKeepsTheKeys) {
  IOLoop loop;
  Future<> go;
  go.set_result();
  std::map<std::string, Task<int>> tasks;
  tasks.emplace("a", after(go, 1));
  tasks.emplace("b", after(go, 2));
  auto results = loop.run_sync([&] { return tornado::multi(std::move(tasks)); });
  EXPECT_EQ(results, (std::map<std::string, int>{{"a", 1}, {"b", 2}}));
}

TEST(ConcurrentTest, WaitIteratorYieldsInCompletionOrder) {
  IOLoop loop;
  std::vector<Future<>> gates(3);
  std::vector<Task<int>> tasks;
  tasks.push_back(after(gates[0], 100));
  tasks.push_back(after(gates[1], 101, "one failed"));
  tasks.push_back(after(gates[2], 102));
  std::vector<std::string> seen;
  loop.run_sync([&]() -> Task<> {
    tornado::WaitIterator<int> it(std::move(tasks));
    // Finish them in the order 2, 0, 1.
    for (int i : {2, 0, 1}) {
      gates[i].set_result();
      try {
        int value = co_await it.next();
        seen.push_back(std::to_string(it.current_index()) + "=" + std::to_string(value));
      } catch (const std::runtime_error& e) {
        seen.push_back(std::to_string(it.current_index()) + ":" + e.what());
      }
    }
    EXPECT_TRUE(it.done());
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"2=102", "0=100", "1:one failed"}));
}
