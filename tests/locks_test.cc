// Tests for tornado::locks: Event, Condition, Semaphore, BoundedSemaphore,
// Lock and Guard, including timeouts, FIFO fairness and loop teardown.
#include "tornado/locks.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <string>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/testing.h"

using namespace std::chrono_literals;
using tornado::Task;
using tornado::TimeoutError;
using tornado::ioloop::IOLoop;
using tornado::locks::BoundedSemaphore;
using tornado::locks::Condition;
using tornado::locks::Event;
using tornado::locks::Guard;
using tornado::locks::Lock;
using tornado::locks::Semaphore;

namespace {

using Log = std::vector<std::string>;
using tornado::Future;
using tornado::to_future;

/// Lets every callback already queued on the loop run (wakeups are queued).
Task<> settle() {
  for (int i = 0; i < 3; ++i) co_await tornado::moment();
}

/// libuv timers still armed on `loop`: a waiter that was woken must leave
/// none behind.
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

Task<> await_all(std::vector<Future<>> futures) {
  for (auto& future : futures) co_await future;
}

Task<> wait_event(Event* event, Log* log, std::string name) {
  co_await event->wait();
  log->push_back(name);
}

Task<> wait_event_timeout(Event* event, Log* log, std::string name,
                          tornado::ioloop::Duration timeout) {
  try {
    co_await event->wait(timeout);
    log->push_back(name);
  } catch (const TimeoutError&) {
    log->push_back(name + " timeout");
  }
}

Task<> wait_condition(Condition* condition, Log* log, std::string name,
                      std::optional<tornado::ioloop::Duration> timeout = std::nullopt) {
  bool notified = co_await condition->wait(timeout);
  log->push_back(notified ? name : name + " timeout");
}

/// Acquires, records, keeps the unit until the loop has run once more.
Task<> hold_semaphore(Semaphore* semaphore, Log* log, std::string name,
                      std::optional<tornado::ioloop::Duration> timeout = std::nullopt) {
  try {
    auto guard = co_await semaphore->acquire(timeout);
    log->push_back(name);
    co_await tornado::moment();
  } catch (const TimeoutError&) {
    log->push_back(name + " timeout");
  }
}

Task<> hold_lock(Lock* lock, Log* log, std::string name,
                 std::optional<tornado::ioloop::Duration> timeout = std::nullopt) {
  try {
    auto guard = co_await lock->acquire(timeout);
    log->push_back(name + " in");
    // Others queued behind the lock get every chance to run meanwhile.
    co_await settle();
    log->push_back(name + " out");
  } catch (const TimeoutError&) {
    log->push_back(name + " timeout");
  }
}

}  // namespace

// Event

TEST(LocksTest, EventSetWakesEveryWaiterFromTheLoop) {
  IOLoop loop;
  Event event;
  Log log;
  EXPECT_FALSE(event.is_set());
  for (auto name : {"a", "b", "c"}) loop.spawn(wait_event(&event, &log, name));
  loop.run_sync([&]() -> Task<> {
    co_await settle();
    EXPECT_TRUE(log.empty());
    event.set();
    EXPECT_TRUE(event.is_set());
    EXPECT_TRUE(log.empty()) << "waiters must be resumed by the loop, not inside set()";
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"a", "b", "c"}));
}

TEST(LocksTest, EventWaitOnASetEventDoesNotSuspend) {
  IOLoop loop;
  Event event;
  event.set();
  bool other_ran = false;
  loop.run_sync([&]() -> Task<> {
    IOLoop::current().call_soon([&] { other_ran = true; });
    co_await event.wait();
    EXPECT_FALSE(other_ran);
  });
}

TEST(LocksTest, EventClearMakesWaitersWaitAgain) {
  IOLoop loop;
  Event event;
  event.set();
  event.clear();
  EXPECT_FALSE(event.is_set());
  EXPECT_THROW(loop.run_sync([&]() -> Task<> { co_await event.wait(5ms); }), TimeoutError);
}

TEST(LocksTest, EventWaitersWokenBeforeClearStillFinish) {
  IOLoop loop;
  Event event;
  Log log;
  loop.spawn(wait_event(&event, &log, "a"));
  loop.run_sync([&]() -> Task<> {
    event.set();
    event.clear();
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"a"}));
}

TEST(LocksTest, EventTimedOutWaiterLeavesOthersWaiting) {
  IOLoop loop;
  Event event;
  Log log;
  auto short_done = to_future(wait_event_timeout(&event, &log, "short", 5ms));
  loop.spawn(wait_event(&event, &log, "patient"));
  loop.run_sync([&]() -> Task<> {
    co_await short_done;
    EXPECT_EQ(log, (Log{"short timeout"}));
    event.set();
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"short timeout", "patient"}));
}

TEST(LocksTest, EventSetBeforeTimeoutCancelsTheTimer) {
  IOLoop loop;
  Event event;
  loop.run_sync([&]() -> Task<> {
    IOLoop::current().call_later(2ms, [&] { event.set(); });
    co_await event.wait(1h);  // must not throw
    // The one-hour timer must be gone, not left to keep the loop alive.
    EXPECT_EQ(active_timers(IOLoop::current()), 0);
  });
  EXPECT_EQ(active_timers(loop), 0);
}

// Condition

TEST(LocksTest, ConditionNotifyWakesTheOldestWaitersFirst) {
  IOLoop loop;
  Condition condition;
  Log log;
  for (auto name : {"a", "b", "c", "d"}) loop.spawn(wait_condition(&condition, &log, name));
  loop.run_sync([&]() -> Task<> {
    condition.notify();
    EXPECT_TRUE(log.empty());
    co_await settle();
    EXPECT_EQ(log, (Log{"a"}));
    condition.notify(2);
    co_await settle();
    EXPECT_EQ(log, (Log{"a", "b", "c"}));
    condition.notify_all();
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"a", "b", "c", "d"}));
}

TEST(LocksTest, ConditionNotifyAllWakesEveryone) {
  IOLoop loop;
  Condition condition;
  Log log;
  for (auto name : {"a", "b", "c"}) loop.spawn(wait_condition(&condition, &log, name));
  loop.run_sync([&]() -> Task<> {
    condition.notify_all();
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"a", "b", "c"}));
}

TEST(LocksTest, ConditionWaitTimeoutResolvesFalse) {
  IOLoop loop;
  Condition condition;
  auto start = IOLoop::current().time();
  bool notified = loop.run_sync([&]() -> Task<bool> { co_return co_await condition.wait(10ms); });
  EXPECT_FALSE(notified);
  EXPECT_GE(IOLoop::current().time() - start, 8ms);  // libuv rounds to its cached millisecond clock
}

TEST(LocksTest, ConditionTimedOutWaiterDoesNotSwallowANotify) {
  IOLoop loop;
  Condition condition;
  Log log;
  auto short_done = to_future(wait_condition(&condition, &log, "short", 5ms));
  loop.spawn(wait_condition(&condition, &log, "patient"));
  loop.run_sync([&]() -> Task<> {
    co_await short_done;
    condition.notify(1);
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"short timeout", "patient"}));
}

TEST(LocksTest, ConditionNotifyWithNobodyWaitingIsNotRemembered) {
  IOLoop loop;
  Condition condition;
  condition.notify();
  condition.notify_all();
  EXPECT_FALSE(loop.run_sync([&]() -> Task<bool> { co_return co_await condition.wait(5ms); }));
}

TEST(LocksTest, ConditionNotifyBeforeTimeoutWins) {
  IOLoop loop;
  Condition condition;
  bool notified = loop.run_sync([&]() -> Task<bool> {
    IOLoop::current().call_later(2ms, [&] { condition.notify(); });
    co_return co_await condition.wait(1h);
  });
  EXPECT_TRUE(notified);
}

TEST(LocksTest, ManyTimedOutConditionWaitersAreSweptAndFifoHolds) {
  IOLoop loop;
  Condition condition;
  Log timed_out;
  Log log;
  // Rounds of waiters time out without a notify; the list sweeps them.
  for (int round = 0; round < 3; ++round) {
    std::vector<Future<>> round_done;
    for (int i = 0; i < 200; ++i)
      round_done.push_back(to_future(wait_condition(&condition, &timed_out, "x", 1ms)));
    loop.run_sync([&] { return await_all(std::move(round_done)); });
  }
  EXPECT_EQ(timed_out.size(), 600u);
  loop.spawn(wait_condition(&condition, &log, "a"));
  loop.spawn(wait_condition(&condition, &log, "b"));
  loop.run_sync([&]() -> Task<> {
    condition.notify();
    co_await settle();
    EXPECT_EQ(log, (Log{"a"}));
    condition.notify();
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"a", "b"}));
  EXPECT_EQ(timed_out.size(), 600u);
}

// Semaphore and BoundedSemaphore

TEST(LocksTest, SemaphoreLimitsConcurrency) {
  IOLoop loop;
  Semaphore semaphore(2);
  int active = 0;
  int most_active = 0;
  int finished = 0;
  auto worker = [](Semaphore* s, int* active, int* most, int* done) -> Task<> {
    auto guard = co_await s->acquire();
    *most = std::max(*most, ++*active);
    co_await settle();
    --*active;
    ++*done;
  };
  loop.run_sync([&]() -> Task<> {
    std::vector<Task<>> tasks;
    for (int i = 0; i < 7; ++i)
      tasks.push_back(worker(&semaphore, &active, &most_active, &finished));
    co_await tornado::gather(std::move(tasks));
  });
  EXPECT_EQ(most_active, 2);
  EXPECT_EQ(finished, 7);
  EXPECT_EQ(semaphore.value(), 2);
}

TEST(LocksTest, SemaphoreWaitersAcquireInFifoOrder) {
  IOLoop loop;
  Semaphore semaphore(1);
  Log log;
  loop.run_sync([&]() -> Task<> {
    auto guard = co_await semaphore.acquire();
    std::vector<Future<>> holders;
    for (auto name : {"a", "b", "c", "d"})
      holders.push_back(to_future(hold_semaphore(&semaphore, &log, name)));
    co_await settle();
    EXPECT_TRUE(log.empty());
    guard.release();
    co_await await_all(std::move(holders));
  });
  EXPECT_EQ(log, (Log{"a", "b", "c", "d"}));
  EXPECT_EQ(semaphore.value(), 1);
}

TEST(LocksTest, SemaphoreReleaseGoesToTheWaiterNotToANewcomer) {
  IOLoop loop;
  Semaphore semaphore(1);
  Log log;
  loop.run_sync([&]() -> Task<> {
    auto guard = co_await semaphore.acquire();
    auto waiter = to_future(hold_semaphore(&semaphore, &log, "waiter"));
    guard.release();
    // The unit now belongs to the waiter, although it has not resumed yet.
    EXPECT_EQ(semaphore.value(), 0);
    auto newcomer = to_future(hold_semaphore(&semaphore, &log, "newcomer"));
    co_await waiter;
    co_await newcomer;
  });
  EXPECT_EQ(log, (Log{"waiter", "newcomer"}));
}

TEST(LocksTest, SemaphoreAcquireTimesOut) {
  IOLoop loop;
  Semaphore semaphore(0);
  EXPECT_THROW(loop.run_sync([&]() -> Task<> { auto guard = co_await semaphore.acquire(5ms); }),
               TimeoutError);
  EXPECT_EQ(semaphore.value(), 0);
}

TEST(LocksTest, SemaphoreTimedOutWaiterDoesNotTakeALaterRelease) {
  IOLoop loop;
  Semaphore semaphore(0);
  Log log;
  auto short_done = to_future(hold_semaphore(&semaphore, &log, "short", 5ms));
  auto patient = to_future(hold_semaphore(&semaphore, &log, "patient"));
  loop.run_sync([&]() -> Task<> {
    co_await short_done;
    semaphore.release();
    co_await patient;
  });
  EXPECT_EQ(log, (Log{"short timeout", "patient"}));
  EXPECT_EQ(semaphore.value(), 1);
}

TEST(LocksTest, SemaphoreReleaseWithOnlyTimedOutWaitersIsKept) {
  IOLoop loop;
  Semaphore semaphore(0);
  Log log;
  auto short_done = to_future(hold_semaphore(&semaphore, &log, "short", 1ms));
  loop.run_sync([&]() -> Task<> {
    co_await short_done;
    semaphore.release();
  });
  EXPECT_EQ(log, (Log{"short timeout"}));
  EXPECT_EQ(semaphore.value(), 1);
}

TEST(LocksTest, SemaphoreRejectsANegativeValue) {
  EXPECT_THROW(Semaphore(-1), std::invalid_argument);
  EXPECT_THROW(BoundedSemaphore(-1), std::invalid_argument);
}

TEST(LocksTest, SemaphoreMayGrowPastItsInitialValue) {
  Semaphore semaphore(1);
  semaphore.release();
  EXPECT_EQ(semaphore.value(), 2);
}

TEST(LocksTest, BoundedSemaphoreRefusesToBeReleasedTooOften) {
  IOLoop loop;
  BoundedSemaphore semaphore(2);
  EXPECT_THROW(semaphore.release(), std::invalid_argument);
  loop.run_sync([&]() -> Task<> {
    auto first = co_await semaphore.acquire();
    auto second = co_await semaphore.acquire();
    EXPECT_EQ(semaphore.value(), 0);
    first.release();
    second.release();
  });
  EXPECT_EQ(semaphore.value(), 2);
  EXPECT_THROW(semaphore.release(), std::invalid_argument);
}

TEST(LocksTest, GuardOverReleasedByHandIsLoggedNotThrown) {
  IOLoop loop;
  BoundedSemaphore semaphore(1);
  tornado::testing::ExpectLog expected(tornado::log::gen, "released too many times");
  loop.run_sync([&]() -> Task<> {
    auto guard = co_await semaphore.acquire();
    semaphore.release();
  });
  EXPECT_EQ(semaphore.value(), 1);
}

TEST(LocksTest, GuardReleasesOnceAndMoves) {
  IOLoop loop;
  Semaphore semaphore(2);
  loop.run_sync([&]() -> Task<> {
    Guard guard = co_await semaphore.acquire();
    EXPECT_TRUE(guard.owns());
    EXPECT_EQ(semaphore.value(), 1);
    Guard moved = std::move(guard);
    EXPECT_FALSE(guard.owns());  // a moved-from guard is empty
    EXPECT_TRUE(moved);
    moved.release();
    EXPECT_EQ(semaphore.value(), 2);
    EXPECT_THROW(moved.release(), std::logic_error);
    Guard other = co_await semaphore.acquire();
    other = co_await semaphore.acquire();  // the first unit is given back
    EXPECT_EQ(semaphore.value(), 1);
  });
  EXPECT_EQ(semaphore.value(), 2);
}

// Lock

TEST(LocksTest, LockGuardUnlocksAtScopeExit) {
  IOLoop loop;
  Lock lock;
  EXPECT_FALSE(lock.locked());
  loop.run_sync([&]() -> Task<> {
    {
      auto guard = co_await lock.acquire();
      EXPECT_TRUE(lock.locked());
    }
    EXPECT_FALSE(lock.locked());
  });
}

TEST(LocksTest, LockSerializesCriticalSections) {
  IOLoop loop;
  Lock lock;
  Log log;
  loop.run_sync([&]() -> Task<> {
    std::vector<Task<>> tasks;
    for (auto name : {"a", "b", "c"}) tasks.push_back(hold_lock(&lock, &log, name));
    co_await tornado::gather(std::move(tasks));
  });
  EXPECT_EQ(log, (Log{"a in", "a out", "b in", "b out", "c in", "c out"}));
  EXPECT_FALSE(lock.locked());
}

TEST(LocksTest, LockReleaseWhenUnlockedThrows) {
  Lock lock;
  EXPECT_THROW(lock.release(), std::logic_error);
}

TEST(LocksTest, LockAcquireTimesOutWithoutTakingTheLock) {
  IOLoop loop;
  Lock lock;
  Log log;
  loop.run_sync([&]() -> Task<> {
    auto guard = co_await lock.acquire();
    co_await hold_lock(&lock, &log, "impatient", 5ms);
    EXPECT_TRUE(lock.locked());
  });
  EXPECT_EQ(log, (Log{"impatient timeout"}));
  EXPECT_FALSE(lock.locked());
}

TEST(LocksTest, LockWaitersAreServedInFifoOrderPastTimedOutOnes) {
  IOLoop loop;
  Lock lock;
  Log log;
  loop.run_sync([&]() -> Task<> {
    std::vector<Future<>> holders;
    {
      auto guard = co_await lock.acquire();
      holders.push_back(to_future(hold_lock(&lock, &log, "a")));
      auto short_done = to_future(hold_lock(&lock, &log, "short", 5ms));
      holders.push_back(to_future(hold_lock(&lock, &log, "b")));
      holders.push_back(to_future(hold_lock(&lock, &log, "c")));
      co_await short_done;  // it times out while the lock is still held
    }
    co_await await_all(std::move(holders));
  });
  EXPECT_EQ(log, (Log{"short timeout", "a in", "a out", "b in", "b out", "c in", "c out"}));
}

// Teardown: a loop destroyed with coroutines still waiting must neither leak
// (LeakSanitizer) nor touch freed memory (AddressSanitizer), whatever order
// the primitives and the loop go away in.

TEST(LocksTest, LoopDestroyedWithWaitersIsClean) {
  Log log;
  {
    Guard held;  // outlives the loop and the lock
    IOLoop loop;
    auto lock = std::make_unique<Lock>();
    auto condition = std::make_unique<Condition>();
    auto event = std::make_unique<Event>();
    loop.run_sync([&]() -> Task<> {
      held = co_await lock->acquire();
      IOLoop::current().spawn(hold_lock(lock.get(), &log, "a"));
      IOLoop::current().spawn(hold_lock(lock.get(), &log, "b", 1h));
      IOLoop::current().spawn(wait_condition(condition.get(), &log, "c", 1h));
      IOLoop::current().spawn(wait_event(event.get(), &log, "d"));
      co_await settle();
    });
    lock.reset();
    condition.reset();
    event.reset();
  }
  EXPECT_TRUE(log.empty());
}

TEST(LocksTest, UnitHandedToADestroyedWaiterIsGivenBack) {
  Semaphore semaphore(0);
  Log log;
  {
    IOLoop loop;
    loop.spawn(hold_semaphore(&semaphore, &log, "never resumed"));
    semaphore.release();  // woken, but the loop never runs again
    EXPECT_EQ(semaphore.value(), 0);
  }
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(semaphore.value(), 1);
}

// Cancellation: a cancelled waiter resumes with CancelledError and leaves no
// trace in the primitive (no waiter counted, no timer armed, nothing it was
// owed lost).

TEST(LocksTest, CancelledConditionWaitLeavesNoWaiter) {
  IOLoop loop;
  Condition condition;
  Log log;
  auto cancelled = to_future(condition.wait(1h));
  loop.spawn(wait_condition(&condition, &log, "patient"));
  loop.run_sync([&]() -> Task<> {
    co_await settle();
    EXPECT_EQ(condition.waiter_count(), 2u);
    EXPECT_EQ(active_timers(IOLoop::current()), 1);
    EXPECT_TRUE(cancelled.cancel());
    EXPECT_THROW(co_await cancelled, tornado::CancelledError);
    EXPECT_EQ(condition.waiter_count(), 1u);
    EXPECT_EQ(active_timers(IOLoop::current()), 0);
    condition.notify(1);  // goes to the patient waiter, not to the cancelled one
    co_await settle();
  });
  EXPECT_EQ(log, (Log{"patient"}));
  EXPECT_EQ(condition.waiter_count(), 0u);
}

TEST(LocksTest, CancelledEventWaitLeavesNoWaiter) {
  IOLoop loop;
  Event event;
  auto waiting = to_future(event.wait());
  loop.run_sync([&]() -> Task<> {
    co_await settle();
    EXPECT_EQ(event.waiter_count(), 1u);
    waiting.cancel();
    EXPECT_THROW(co_await waiting, tornado::CancelledError);
    EXPECT_EQ(event.waiter_count(), 0u);
  });
}

TEST(LocksTest, CancelledLockAcquireNeitherTakesNorLosesTheLock) {
  IOLoop loop;
  Lock lock;
  Log log;
  loop.run_sync([&]() -> Task<> {
    Future<> after;
    {
      auto guard = co_await lock.acquire();
      // Captures as parameters: a lambda coroutine outlives its closure.
      auto cancelled =
          to_future([](Lock* lock) -> Task<> { auto held = co_await lock->acquire(1h); }(&lock));
      after = to_future(hold_lock(&lock, &log, "after"));
      co_await settle();
      EXPECT_EQ(lock.waiter_count(), 2u);
      cancelled.cancel();
      EXPECT_THROW(co_await cancelled, tornado::CancelledError);
      EXPECT_EQ(lock.waiter_count(), 1u);
      EXPECT_EQ(active_timers(IOLoop::current()), 0);
    }
    co_await after;  // the release went to the next waiter
  });
  EXPECT_EQ(log, (Log{"after in", "after out"}));
  EXPECT_FALSE(lock.locked());
}

TEST(LocksTest, CancellingAWaiterAlreadyHandedAUnitKeepsTheUnit) {
  IOLoop loop;
  Semaphore semaphore(0);
  loop.run_sync([&]() -> Task<> {
    bool got_unit = false;
    auto waiter = to_future([](Semaphore* semaphore, bool* got_unit) -> Task<> {
      auto guard = co_await semaphore->acquire();
      *got_unit = true;
      co_await tornado::moment();  // the pending cancellation cannot stop a moment
    }(&semaphore, &got_unit));
    co_await settle();
    semaphore.release();  // the unit now belongs to the waiter
    waiter.cancel();      // too late to cancel the wait itself
    // The task is resumed with its guard; dropping it returns the unit.
    co_await waiter;
    EXPECT_TRUE(got_unit);
  });
  EXPECT_EQ(semaphore.value(), 1);
  EXPECT_EQ(semaphore.waiter_count(), 0u);
}

TEST(LocksTest, CancelledSemaphoreWaiterIsSkippedByRelease) {
  IOLoop loop;
  Semaphore semaphore(0);
  Log log;
  loop.run_sync([&]() -> Task<> {
    auto cancelled = to_future(hold_semaphore(&semaphore, &log, "cancelled"));
    auto patient = to_future(hold_semaphore(&semaphore, &log, "patient"));
    co_await settle();
    cancelled.cancel();
    EXPECT_THROW(co_await cancelled, tornado::CancelledError);
    EXPECT_EQ(semaphore.waiter_count(), 1u);
    semaphore.release();
    co_await patient;
  });
  EXPECT_EQ(log, (Log{"patient"}));
  EXPECT_EQ(semaphore.value(), 1);
}
