// Tests for tornado::queues: Queue, PriorityQueue, LifoQueue; waiting,
// timeouts, FIFO fairness among waiters, task_done/join and loop teardown.
#include "tornado/queues.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tornado/ioloop.h"

using namespace std::chrono_literals;
using tornado::Task;
using tornado::TimeoutError;
using tornado::ioloop::Duration;
using tornado::ioloop::IOLoop;
using tornado::queues::LifoQueue;
using tornado::queues::PriorityQueue;
using tornado::queues::Queue;
using tornado::queues::QueueEmpty;
using tornado::queues::QueueFull;

namespace {

using Log = std::vector<std::string>;

Task<> getter(Queue<int>* q, Log* log, std::string name,
              std::optional<Duration> timeout = std::nullopt) {
  try {
    int item = co_await q->get(timeout);
    log->push_back(name + " got " + std::to_string(item));
  } catch (const TimeoutError&) {
    log->push_back(name + " timeout");
  }
}

Task<> putter(Queue<int>* q, Log* log, int item, std::optional<Duration> timeout = std::nullopt) {
  try {
    co_await q->put(item, timeout);
    log->push_back("put " + std::to_string(item));
  } catch (const TimeoutError&) {
    log->push_back("put " + std::to_string(item) + " timeout");
  }
}

Task<> settle() {
  for (int i = 0; i < 3; ++i) co_await tornado::moment();
}

template <class Q>
std::vector<int> drain(Q& q) {
  std::vector<int> items;
  while (!q.empty()) items.push_back(q.get_nowait());
  return items;
}

}  // namespace

TEST(QueuesTest, NowaitCallsKeepFifoOrder) {
  Queue<int> q;
  EXPECT_EQ(q.maxsize(), 0u);
  EXPECT_TRUE(q.empty());
  for (int i = 0; i < 5; ++i) q.put_nowait(i);
  EXPECT_EQ(q.qsize(), 5u);
  EXPECT_FALSE(q.full());  // unbounded
  EXPECT_EQ(drain(q), (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(QueuesTest, GetNowaitOnEmptyThrowsQueueEmpty) {
  Queue<int> q;
  EXPECT_THROW(q.get_nowait(), QueueEmpty);
}

TEST(QueuesTest, PutNowaitOnFullThrowsQueueFull) {
  Queue<int> q(2);
  q.put_nowait(1);
  EXPECT_FALSE(q.full());
  q.put_nowait(2);
  EXPECT_TRUE(q.full());
  EXPECT_THROW(q.put_nowait(3), QueueFull);
  EXPECT_EQ(q.qsize(), 2u);
}

TEST(QueuesTest, GetWaitsForAPut) {
  IOLoop loop;
  Queue<int> q;
  Log log;
  loop.spawn(getter(&q, &log, "a"));
  loop.run_sync([&]() -> Task<> {
    co_await settle();
    EXPECT_TRUE(log.empty());
    co_await q.put(42);
    EXPECT_TRUE(q.empty()) << "the item goes straight to the waiting getter";
    EXPECT_TRUE(log.empty()) << "the getter resumes from the loop";
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"a got 42"}));
}

TEST(QueuesTest, GetDoesNotSuspendWhenAnItemIsThere) {
  IOLoop loop;
  Queue<int> q;
  q.put_nowait(7);
  bool other_ran = false;
  loop.run_sync([&]() -> Task<> {
    IOLoop::current().call_soon([&] { other_ran = true; });
    EXPECT_EQ(co_await q.get(), 7);
    co_await q.put(8);
    EXPECT_FALSE(other_ran);
  });
}

TEST(QueuesTest, PutWaitsWhileFull) {
  IOLoop loop;
  Queue<int> q(1);
  Log log;
  q.put_nowait(1);
  loop.spawn(putter(&q, &log, 2));
  loop.run_sync([&]() -> Task<> {
    co_await settle();
    EXPECT_TRUE(log.empty());
    EXPECT_EQ(co_await q.get(), 1);
    EXPECT_TRUE(q.full()) << "the waiting putter's item took the free slot";
    co_await settle();
    EXPECT_EQ(co_await q.get(), 2);
  });
  EXPECT_EQ(log, (Log{"put 2"}));
}

TEST(QueuesTest, GetTimesOut) {
  IOLoop loop;
  Queue<int> q;
  auto start = IOLoop::current().time();
  EXPECT_THROW(loop.run_sync([&]() -> Task<int> { co_return co_await q.get(10ms); }), TimeoutError);
  EXPECT_GE(IOLoop::current().time() - start, 8ms);  // libuv rounds to its cached millisecond clock
}

TEST(QueuesTest, PutTimesOutAndDropsItsItem) {
  IOLoop loop;
  Queue<int> q(1);
  q.put_nowait(1);
  EXPECT_THROW(loop.run_sync([&]() -> Task<> { co_await q.put(2, 5ms); }), TimeoutError);
  EXPECT_EQ(q.get_nowait(), 1);
  EXPECT_TRUE(q.empty());
}

TEST(QueuesTest, TimedOutGetterDoesNotSwallowALaterItem) {
  IOLoop loop;
  Queue<int> q;
  Log log;
  loop.spawn(getter(&q, &log, "short", 5ms));
  loop.spawn(getter(&q, &log, "patient"));
  loop.run_sync([&]() -> Task<> {
    co_await tornado::sleep(30ms);
    q.put_nowait(1);
    q.put_nowait(2);
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"short timeout", "patient got 1"}));
  EXPECT_EQ(drain(q), (std::vector<int>{2}));
}

TEST(QueuesTest, TimedOutPutterDoesNotTakeAFreedSlot) {
  IOLoop loop;
  Queue<int> q(1);
  Log log;
  q.put_nowait(0);
  loop.spawn(putter(&q, &log, 1, 5ms));
  loop.spawn(putter(&q, &log, 2));
  loop.run_sync([&]() -> Task<> {
    co_await tornado::sleep(30ms);
    EXPECT_EQ(q.get_nowait(), 0);
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"put 1 timeout", "put 2"}));
  EXPECT_EQ(drain(q), (std::vector<int>{2}));
}

TEST(QueuesTest, GettersAreServedInFifoOrder) {
  IOLoop loop;
  Queue<int> q;
  Log log;
  for (auto name : {"a", "b", "c"}) loop.spawn(getter(&q, &log, name));
  loop.run_sync([&]() -> Task<> {
    for (int i = 1; i <= 3; ++i) co_await q.put(i);
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"a got 1", "b got 2", "c got 3"}));
}

TEST(QueuesTest, PuttersAreServedInFifoOrder) {
  IOLoop loop;
  Queue<int> q(1);
  Log log;
  q.put_nowait(0);
  for (int i = 1; i <= 3; ++i) loop.spawn(putter(&q, &log, i));
  std::vector<int> got;
  loop.run_sync([&]() -> Task<> {
    for (int i = 0; i < 4; ++i) got.push_back(co_await q.get());
  });
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(log, (Log{"put 1", "put 2", "put 3"}));
}

TEST(QueuesTest, ANewGetterDoesNotOvertakeAWokenOne) {
  IOLoop loop;
  Queue<int> q;
  Log log;
  loop.spawn(getter(&q, &log, "waiting"));
  loop.run_sync([&]() -> Task<> {
    q.put_nowait(1);
    IOLoop::current().spawn(getter(&q, &log, "newcomer"));
    q.put_nowait(2);
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"waiting got 1", "newcomer got 2"}));
}

TEST(QueuesTest, JoinWaitsForEveryTaskDone) {
  IOLoop loop;
  Queue<int> q;
  Log log;
  loop.run_sync([&]() -> Task<> { co_await q.join(); });  // nothing put: at once
  for (int i = 0; i < 3; ++i) q.put_nowait(i);
  auto worker = [](Queue<int>* q, Log* log) -> Task<> {
    for (;;) {
      int item = co_await q->get();
      co_await tornado::sleep(1ms);
      log->push_back("done " + std::to_string(item));
      q->task_done();
    }
  };
  loop.spawn(worker(&q, &log));
  loop.run_sync([&]() -> Task<> {
    co_await q.join(1s);
    log.push_back("joined");
  });
  EXPECT_EQ(log, (Log{"done 0", "done 1", "done 2", "joined"}));
}

TEST(QueuesTest, JoinTimesOut) {
  IOLoop loop;
  Queue<int> q;
  q.put_nowait(1);
  (void)q.get_nowait();
  EXPECT_THROW(loop.run_sync([&]() -> Task<> { co_await q.join(5ms); }), TimeoutError);
  q.task_done();
  loop.run_sync([&]() -> Task<> { co_await q.join(5ms); });
}

TEST(QueuesTest, TaskDoneTooOftenThrows) {
  Queue<int> q;
  EXPECT_THROW(q.task_done(), std::invalid_argument);
  q.put_nowait(1);
  q.task_done();
  EXPECT_THROW(q.task_done(), std::invalid_argument);
}

TEST(QueuesTest, PriorityQueueHandsOutTheSmallestFirst) {
  PriorityQueue<std::pair<int, std::string>> q;
  q.put_nowait({1, "medium"});
  q.put_nowait({0, "high"});
  q.put_nowait({10, "low"});
  q.put_nowait({1, "also medium"});
  EXPECT_EQ(q.get_nowait().second, "high");
  EXPECT_EQ(q.get_nowait(), (std::pair<int, std::string>{1, "also medium"}));
  EXPECT_EQ(q.get_nowait().second, "medium");
  EXPECT_EQ(q.get_nowait().second, "low");
}

TEST(QueuesTest, PriorityQueueTakesACustomOrder) {
  PriorityQueue<int, std::greater<int>> q;
  for (int i : {3, 1, 4, 1, 5, 9, 2, 6}) q.put_nowait(i);
  EXPECT_EQ(drain(q), (std::vector<int>{9, 6, 5, 4, 3, 2, 1, 1}));
}

TEST(QueuesTest, PriorityQueueLetsAWaitingPutterCompete) {
  IOLoop loop;
  PriorityQueue<int> q(1);
  q.put_nowait(5);
  auto put = [](PriorityQueue<int>* q, int item) -> Task<> { co_await q->put(item); };
  loop.spawn(put(&q, 1));
  // The waiting putter's item joins before the next one is chosen.
  std::vector<int> got;
  loop.run_sync([&]() -> Task<> {
    got.push_back(co_await q.get());
    got.push_back(co_await q.get());
  });
  EXPECT_EQ(got, (std::vector<int>{1, 5}));
}

TEST(QueuesTest, LifoQueueHandsOutTheNewestFirst) {
  LifoQueue<int> q;
  for (int i = 0; i < 4; ++i) q.put_nowait(i);
  EXPECT_EQ(drain(q), (std::vector<int>{3, 2, 1, 0}));
}

TEST(QueuesTest, MoveOnlyItems) {
  IOLoop loop;
  Queue<std::unique_ptr<int>> q(1);
  auto consumer = [](Queue<std::unique_ptr<int>>* q, int* sum) -> Task<> {
    for (int i = 0; i < 10; ++i) {
      auto item = co_await q->get();
      *sum += *item;
    }
  };
  int sum = 0;
  loop.spawn(consumer(&q, &sum));
  loop.run_sync([&]() -> Task<> {
    for (int i = 1; i <= 10; ++i) co_await q.put(std::make_unique<int>(i));
    co_await settle();
  });
  EXPECT_EQ(sum, 55);
}

TEST(QueuesTest, ItemsNeedNoDefaultConstructor) {
  struct Item {
    explicit Item(int v) : value(v) {}
    int value;
  };
  IOLoop loop;
  Queue<Item> q;
  q.put_nowait(Item(3));
  EXPECT_EQ(loop.run_sync([&]() -> Task<int> { co_return (co_await q.get()).value; }), 3);
}

TEST(QueuesTest, BoundedProducersAndConsumersLoseNothing) {
  IOLoop loop;
  Queue<int> q(3);
  std::vector<int> received;
  std::size_t most_queued = 0;
  auto producer = [](Queue<int>* q, int base, std::size_t* most) -> Task<> {
    for (int i = 0; i < 250; ++i) {
      co_await q->put(base + i);
      *most = std::max(*most, q->qsize());
    }
  };
  auto consumer = [](Queue<int>* q, std::vector<int>* out) -> Task<> {
    for (;;) {
      out->push_back(co_await q->get());
      if (out->size() % 7 == 0) co_await tornado::moment();
      q->task_done();
    }
  };
  for (int c = 0; c < 3; ++c) loop.spawn(consumer(&q, &received));
  loop.run_sync([&]() -> Task<> {
    std::vector<Task<>> producers;
    for (int p = 0; p < 4; ++p) producers.push_back(producer(&q, p * 1000, &most_queued));
    co_await tornado::gather(std::move(producers));
    co_await q.join(5s);
  });
  ASSERT_EQ(received.size(), 1000u);
  std::sort(received.begin(), received.end());
  for (int p = 0; p < 4; ++p) {
    for (int i = 0; i < 250; ++i) EXPECT_EQ(received[p * 250 + i], p * 1000 + i);
  }
  EXPECT_LE(most_queued, 3u);
}

// Teardown: waiters left behind when the loop goes away are released cleanly
// (checked by the sanitizer build), and no item is lost with them.

TEST(QueuesTest, LoopDestroyedWithWaitersIsClean) {
  Log log;
  {
    IOLoop loop;
    auto empty = std::make_unique<Queue<int>>();
    auto full = std::make_unique<Queue<int>>(1);
    full->put_nowait(0);
    loop.spawn(getter(empty.get(), &log, "a"));
    loop.spawn(getter(empty.get(), &log, "b", 1h));
    loop.spawn(putter(full.get(), &log, 1));
    loop.spawn(putter(full.get(), &log, 2, 1h));
    loop.run_sync([] { return settle(); });
    empty.reset();
    full.reset();
  }
  EXPECT_TRUE(log.empty());
}

TEST(QueuesTest, ItemHandedToADestroyedGetterIsGivenBack) {
  Queue<int> q;
  Log log;
  {
    IOLoop loop;
    loop.spawn(getter(&q, &log, "never resumed"));
    q.put_nowait(7);  // handed over, but the loop never runs again
    EXPECT_TRUE(q.empty());
  }
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(drain(q), (std::vector<int>{7}));
  q.task_done();
  EXPECT_THROW(q.task_done(), std::invalid_argument);
}

TEST(QueuesTest, CancelledGetLeavesNoGetterAndLosesNoItem) {
  IOLoop loop;
  tornado::queues::Queue<int> q;
  loop.run_sync([&]() -> Task<> {
    auto cancelled = tornado::to_future(q.get());
    auto patient = tornado::to_future(q.get());
    for (int i = 0; i < 3; ++i) co_await tornado::moment();
    EXPECT_EQ(q.getters_waiting(), 2u);
    cancelled.cancel();
    EXPECT_THROW(co_await cancelled, tornado::CancelledError);
    EXPECT_EQ(q.getters_waiting(), 1u);
    q.put_nowait(42);  // must reach the patient getter
    EXPECT_EQ(co_await patient, 42);
  });
  EXPECT_EQ(q.qsize(), 0u);
}

TEST(QueuesTest, CancelledPutDropsItsItemAndLeavesNoPutter) {
  IOLoop loop;
  tornado::queues::Queue<int> q(1);
  q.put_nowait(1);
  loop.run_sync([&]() -> Task<> {
    auto cancelled = tornado::to_future(q.put(2, std::chrono::hours(1)));
    for (int i = 0; i < 3; ++i) co_await tornado::moment();
    EXPECT_EQ(q.putters_waiting(), 1u);
    cancelled.cancel();
    EXPECT_THROW(co_await cancelled, tornado::CancelledError);
    EXPECT_EQ(q.putters_waiting(), 0u);
    EXPECT_EQ(q.get_nowait(), 1);
    EXPECT_TRUE(q.empty()) << "the cancelled put's item must not be added";
  });
}
