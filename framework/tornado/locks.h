// tornado::locks: coordination between coroutines, mirroring tornado.locks.
//
// Coroutines on one IOLoop never run at the same time, so these are not
// thread locks: they order coroutines that interleave at each `co_await`.
// `Event` lets coroutines wait until it is set, `Condition` until another
// coroutine notifies them, `Semaphore` and `BoundedSemaphore` count units of a
// resource, and `Lock` is a semaphore of one. Like everything on a loop they
// are single-threaded: use them from their loop's thread only.
//
//   tornado::locks::Lock lock;
//
//   tornado::Task<> update() {
//     auto guard = co_await lock.acquire();   // released when guard goes away
//     co_await write_record();                // no other update() interleaves
//   }
//
//   tornado::locks::Condition condition;
//   tornado::Task<> waiter() {
//     if (!co_await condition.wait(std::chrono::seconds(1))) { /* timed out */ }
//   }
//   void notifier() { condition.notify(); }
//
// Waiters are served in the order they started waiting. A unit released or a
// notification sent goes to the oldest waiter still waiting: one whose
// timeout has expired is skipped, never handed what a later waiter needs.
// The awaitables register their waiter when they are `co_await`ed (not when
// `wait()` or `acquire()` is called), and a waiter is always resumed from the
// IOLoop, never from inside `set()`, `notify()` or `release()`.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"

namespace tornado::detail {

/// One coroutine suspended on a lock, condition or queue. It is shared by
/// the primitive's FIFO and the awaiter living in the coroutine's frame, so
/// either may go away first.
struct WaitNode {
  enum class State : std::uint8_t { waiting, woken, timed_out, abandoned, cancelled };
  std::coroutine_handle<> handle;
  ioloop::IOLoop* loop = nullptr;
  ioloop::TimeoutHandle timer;
  State state = State::waiting;
  // Where the node sits in its FIFO while it waits, so that a waiter that
  // stops waiting (timeout, cancellation, frame destroyed) leaves at once.
  std::list<std::shared_ptr<WaitNode>>* list = nullptr;
  std::list<std::shared_ptr<WaitNode>>::iterator position;

  /// Leaves the FIFO; a no-op when not in one. The caller holds its own
  /// reference, as the list's may be the last but one.
  void unlink() noexcept {
    if (auto* l = std::exchange(list, nullptr)) l->erase(position);
  }
};

/// Suspends `h` on `node`. With a timeout, a timer marks the node timed out
/// and resumes it, unless it was woken first.
void park(std::shared_ptr<WaitNode> node, std::coroutine_handle<> h,
          std::optional<ioloop::Duration> timeout);

/// Marks a waiting node woken, cancels its timer and resumes its coroutine
/// from the loop.
void wake(std::shared_ptr<WaitNode> node);

/// For an awaiter going away: a node still waiting is abandoned (its timer
/// cancelled). Returns true when the node had been woken but its coroutine
/// never resumed, so whatever it was handed must be given back.
bool abandon(WaitNode& node, bool resumed) noexcept;

/// Cancels a node still waiting: it leaves its FIFO, its timer is disarmed
/// and the loop resumes it (to throw CancelledError). False when the node
/// was already woken, timed out or abandoned.
bool cancel_node(const std::shared_ptr<WaitNode>& node) noexcept;

/// The FIFO of waiters. Only nodes still waiting are in it: one that stops
/// waiting unlinks itself in O(1).
template <class Node>
class WaitList {
 public:
  WaitList() = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;
  ~WaitList() {
    for (auto& node : nodes_) node->list = nullptr;
  }

  void push(std::shared_ptr<Node> node) {
    nodes_.push_back(node);
    node->list = &nodes_;
    node->position = std::prev(nodes_.end());
  }

  /// Removes and returns the oldest waiting node, or null.
  std::shared_ptr<Node> pop() {
    if (nodes_.empty()) return nullptr;
    auto node = std::static_pointer_cast<Node>(nodes_.front());
    node->unlink();
    return node;
  }

  /// True if some node is waiting.
  bool has_waiters() const noexcept { return !nodes_.empty(); }
  /// How many coroutines wait here (a cancelled one is not counted).
  std::size_t size() const noexcept { return nodes_.size(); }

 private:
  std::list<std::shared_ptr<WaitNode>> nodes_;
};

/// The part every awaiter shares: its node, once it has suspended, and its
/// cancellation.
template <class Node>
class Parked : public CancelHook {
 public:
  Parked() = default;
  Parked(Parked&&) noexcept = default;
  Parked& operator=(Parked&&) = delete;
  ~Parked() { take_undelivered(); }

  bool cancel() noexcept override {
    detach();
    if (!node_ || !cancel_node(node_)) return false;
    cancelled_ = true;
    return true;
  }

 protected:
  template <class P>
  void park_on(WaitList<Node>& list, std::coroutine_handle<P> h,
               std::optional<ioloop::Duration> timeout) {
    if (attach(h)) {
      // Cancelled before it could wait: never join the FIFO.
      cancelled_ = true;
      call_soon([h] { h.resume(); });
      return;
    }
    node_ = std::make_shared<Node>();
    list.push(node_);
    park(node_, h, timeout);
  }
  /// Called first by every await_resume: throws if the wait was cancelled.
  void resuming() {
    resumed_ = true;
    detach();
    if (cancelled_) throw CancelledError();
  }
  bool timed_out() const noexcept { return node_ && node_->state == WaitNode::State::timed_out; }
  /// Lets go of the node (see `abandon`); returns it when what it was handed
  /// never reached the coroutine and must be given back.
  std::shared_ptr<Node> take_undelivered() noexcept {
    auto node = std::move(node_);
    if (node && abandon(*node, resumed_)) return node;
    return nullptr;
  }

  std::shared_ptr<Node> node_;
  bool resumed_ = false;
  bool cancelled_ = false;
};

struct EventState {
  bool value = false;
  WaitList<WaitNode> waiters;
};

struct SemaphoreState {
  int value = 0;
  int bound = -1;  // BoundedSemaphore's initial value; -1 when unbounded
  WaitList<WaitNode> waiters;

  /// Hands a unit to the oldest waiter, or keeps it. False when a bounded
  /// semaphore is already at its bound.
  bool release();
};

class EventWaiter : public Parked<WaitNode> {
 public:
  EventWaiter(std::shared_ptr<EventState> state, std::optional<ioloop::Duration> timeout)
      : state_(std::move(state)), timeout_(timeout) {}
  bool await_ready() const noexcept { return state_->value; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) {
    park_on(state_->waiters, h, timeout_);
  }
  void await_resume();

 private:
  std::shared_ptr<EventState> state_;
  std::optional<ioloop::Duration> timeout_;
};

class ConditionWaiter : public Parked<WaitNode> {
 public:
  ConditionWaiter(std::shared_ptr<WaitList<WaitNode>> waiters,
                  std::optional<ioloop::Duration> timeout)
      : waiters_(std::move(waiters)), timeout_(timeout) {}
  bool await_ready() const noexcept { return false; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) {
    park_on(*waiters_, h, timeout_);
  }
  bool await_resume() {
    resuming();
    return !timed_out();
  }

 private:
  std::shared_ptr<WaitList<WaitNode>> waiters_;
  std::optional<ioloop::Duration> timeout_;
};

class AcquireAwaiter;

}  // namespace tornado::detail

namespace tornado::locks {

/// Timeouts of `wait` and `acquire`.
using Duration = ioloop::Duration;

/// An event that coroutines can wait for, as `tornado.locks.Event`. Starts
/// cleared; `set()` releases every waiter, and later waits return at once
/// until `clear()`.
class Event {
 public:
  Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  /// True if the flag is set.
  bool is_set() const noexcept;
  /// Sets the flag and wakes every waiting coroutine.
  void set();
  /// Resets the flag; coroutines that wait afterwards block until `set()`.
  void clear() noexcept;
  /// Coroutines waiting now (a cancelled or timed-out one is gone at once).
  std::size_t waiter_count() const noexcept { return state_->waiters.size(); }
  /// Awaitable completing when the flag is set; throws `TimeoutError` if that
  /// does not happen within `timeout`.
  [[nodiscard]] detail::EventWaiter wait(std::optional<Duration> timeout = std::nullopt) const;

 private:
  std::shared_ptr<detail::EventState> state_;
};

/// Lets coroutines wait until notified, as `tornado.locks.Condition`. A
/// notification with nobody waiting is not remembered.
class Condition {
 public:
  Condition();
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  /// Awaitable yielding true when notified, or false once `timeout` passes.
  [[nodiscard]] detail::ConditionWaiter wait(std::optional<Duration> timeout = std::nullopt);
  /// Wakes the `n` oldest waiters (fewer if fewer are waiting).
  void notify(int n = 1);
  /// Wakes every waiter.
  void notify_all();
  /// Coroutines waiting now (a cancelled or timed-out one is gone at once).
  std::size_t waiter_count() const noexcept { return waiters_->size(); }

 private:
  std::shared_ptr<detail::WaitList<detail::WaitNode>> waiters_;
};

/// One unit of a `Semaphore` (or the `Lock`) held by its owner and given
/// back when the guard is destroyed: what `async with sem:` does in Tornado.
class [[nodiscard]] Guard {
 public:
  Guard() noexcept = default;
  /// Takes over `other`'s unit.
  Guard(Guard&& other) noexcept = default;
  /// Gives back the unit held (if any) and takes over `other`'s.
  Guard& operator=(Guard&& other) noexcept;
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  ~Guard();

  /// Gives the unit back now rather than at destruction.
  void release();
  /// True while the guard still holds its unit.
  bool owns() const noexcept { return state_ != nullptr; }
  /// The same as `owns()`.
  explicit operator bool() const noexcept { return owns(); }

 private:
  friend class detail::AcquireAwaiter;
  explicit Guard(std::shared_ptr<detail::SemaphoreState> state) noexcept
      : state_(std::move(state)) {}
  std::shared_ptr<detail::SemaphoreState> state_;
};

/// A counter of available units, as `tornado.locks.Semaphore`: `acquire()`
/// takes one, waiting while there are none; `release()` returns one.
class Semaphore {
 public:
  /// Starts with `value` units; throws `std::invalid_argument` (Tornado's
  /// ValueError) if `value` is negative.
  explicit Semaphore(int value = 1);
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// Awaitable yielding a `Guard` once a unit is free; throws `TimeoutError`
  /// if none is within `timeout`.
  [[nodiscard]] detail::AcquireAwaiter acquire(std::optional<Duration> timeout = std::nullopt);
  /// Returns a unit, waking the oldest waiter. A plain `Semaphore` accepts
  /// more releases than acquires and grows.
  void release();
  /// Units available now.
  int value() const noexcept;
  /// Coroutines waiting in `acquire()` now.
  std::size_t waiter_count() const noexcept { return state_->waiters.size(); }

 protected:
  /// For BoundedSemaphore: at most `bound` units.
  Semaphore(int value, int bound);
  /// The units and the waiting coroutines, shared with pending awaiters.
  std::shared_ptr<detail::SemaphoreState> state_;
};

/// A semaphore that refuses to grow past its initial value, as
/// `tornado.locks.BoundedSemaphore`: `release()` throws
/// `std::invalid_argument` (Tornado's ValueError) when released too often.
class BoundedSemaphore : public Semaphore {
 public:
  /// A semaphore with `value` units that never grows past them.
  explicit BoundedSemaphore(int value = 1);
};

/// A lock for coroutines, as `tornado.locks.Lock`: one holder at a time,
/// others wait in order.
///
///   auto guard = co_await lock.acquire();
class Lock {
 public:
  Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  /// Awaitable yielding a `Guard` once the lock is held; throws
  /// `TimeoutError` if it is not within `timeout`.
  [[nodiscard]] detail::AcquireAwaiter acquire(std::optional<Duration> timeout = std::nullopt);
  /// Unlocks, handing the lock to the oldest waiter. Throws
  /// `std::logic_error` if it is not locked (Tornado's RuntimeError).
  void release();
  /// True while some coroutine holds the lock.
  bool locked() const noexcept;
  /// Coroutines waiting in `acquire()` now.
  std::size_t waiter_count() const noexcept { return state_->waiters.size(); }

 private:
  std::shared_ptr<detail::SemaphoreState> state_;
};

}  // namespace tornado::locks

namespace tornado::detail {

class AcquireAwaiter : public Parked<WaitNode> {
 public:
  AcquireAwaiter(std::shared_ptr<SemaphoreState> state, std::optional<ioloop::Duration> timeout)
      : state_(std::move(state)), timeout_(timeout) {}
  AcquireAwaiter(AcquireAwaiter&&) noexcept = default;
  ~AcquireAwaiter();

  // A free unit implies nobody is waiting: release() hands units to waiters
  // directly, so a newcomer cannot overtake them.
  bool await_ready() noexcept {
    if (state_->value <= 0) return false;
    --state_->value;
    return true;
  }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) {
    park_on(state_->waiters, h, timeout_);
  }
  locks::Guard await_resume();

 private:
  std::shared_ptr<SemaphoreState> state_;
  std::optional<ioloop::Duration> timeout_;
};

}  // namespace tornado::detail
