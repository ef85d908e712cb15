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
  enum class State : std::uint8_t { waiting, woken, timed_out, abandoned };
  std::coroutine_handle<> handle;
  ioloop::IOLoop* loop = nullptr;
  ioloop::TimeoutHandle timer;
  State state = State::waiting;
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

/// The FIFO of waiters. Nodes that timed out or were abandoned stay until
/// they reach the front or a periodic sweep, so removal is O(1).
template <class Node>
class WaitList {
 public:
  void push(std::shared_ptr<Node> node) {
    if (nodes_.size() >= sweep_at_) sweep();
    nodes_.push_back(std::move(node));
  }

  /// Removes and returns the oldest node still waiting, or null.
  std::shared_ptr<Node> pop() {
    while (!nodes_.empty()) {
      auto node = std::move(nodes_.front());
      nodes_.pop_front();
      if (node->state == WaitNode::State::waiting) return node;
    }
    return nullptr;
  }

  /// True if some node is still waiting.
  bool has_waiters() {
    while (!nodes_.empty() && nodes_.front()->state != WaitNode::State::waiting) {
      nodes_.pop_front();
    }
    return !nodes_.empty();
  }

 private:
  // Waiters that time out without ever reaching the front would otherwise
  // accumulate; sweeping when the list doubles keeps push amortised O(1).
  void sweep() {
    std::erase_if(nodes_, [](const auto& node) { return node->state != WaitNode::State::waiting; });
    sweep_at_ = std::max<std::size_t>(kMinSweep, 2 * nodes_.size());
  }

  static constexpr std::size_t kMinSweep = 64;
  std::deque<std::shared_ptr<Node>> nodes_;
  std::size_t sweep_at_ = kMinSweep;
};

/// The part every awaiter shares: its node, once it has suspended.
template <class Node>
class Parked {
 public:
  Parked() = default;
  Parked(Parked&&) noexcept = default;
  Parked& operator=(Parked&&) = delete;
  ~Parked() { take_undelivered(); }

 protected:
  void park_on(WaitList<Node>& list, std::coroutine_handle<> h,
               std::optional<ioloop::Duration> timeout) {
    node_ = std::make_shared<Node>();
    list.push(node_);
    park(node_, h, timeout);
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
  void await_suspend(std::coroutine_handle<> h) { park_on(state_->waiters, h, timeout_); }
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
  void await_suspend(std::coroutine_handle<> h) { park_on(*waiters_, h, timeout_); }
  bool await_resume() noexcept {
    resumed_ = true;
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
  void await_suspend(std::coroutine_handle<> h) { park_on(state_->waiters, h, timeout_); }
  locks::Guard await_resume();

 private:
  std::shared_ptr<SemaphoreState> state_;
  std::optional<ioloop::Duration> timeout_;
};

}  // namespace tornado::detail
