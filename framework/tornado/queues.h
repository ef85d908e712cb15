// tornado::queues: queues for coroutines, mirroring tornado.queues.
//
// A `Queue<T>` hands items from producer coroutines to consumer coroutines
// on one IOLoop. With a `maxsize`, `put` waits while the queue is full, which
// is how a fast producer is slowed down to its consumers' pace; `get` waits
// while it is empty. `task_done` and `join` let a producer wait until every
// item has been processed. `PriorityQueue` hands out the smallest item first,
// `LifoQueue` the most recent one. Like tornado.queues (and unlike a thread
// queue) they are single-threaded: use a queue from its loop's thread only.
//
//   tornado::queues::Queue<std::string> q(2);
//
//   tornado::Task<> consumer() {
//     for (;;) {
//       std::string item = co_await q.get();
//       co_await process(item);
//       q.task_done();
//     }
//   }
//
//   tornado::Task<> producer() {
//     for (auto& url : urls) co_await q.put(url);  // waits while 2 are queued
//     co_await q.join();                           // until all are task_done()
//   }
//
// Waiting getters and putters are served in the order they started waiting;
// one whose timeout expired is skipped, so it never takes an item (or a free
// slot) that a later waiter is owed. The awaitables act when they are
// `co_await`ed, not when `get()` or `put()` is called.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/locks.h"

namespace tornado::queues {

/// Raised by `get_nowait` on an empty queue, as `tornado.queues.QueueEmpty`.
class QueueEmpty : public std::runtime_error {
 public:
  QueueEmpty() : std::runtime_error("queue is empty") {}
};

/// Raised by `put_nowait` on a full queue, as `tornado.queues.QueueFull`.
class QueueFull : public std::runtime_error {
 public:
  QueueFull() : std::runtime_error("queue is full") {}
};

}  // namespace tornado::queues

namespace tornado::detail {

/// First in, first out: `Queue`'s order.
template <class T>
class FifoBuffer {
 public:
  std::size_t size() const noexcept { return items_.size(); }
  void push(T item) { items_.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

 private:
  std::deque<T> items_;
};

/// Last in, first out: `LifoQueue`'s order.
template <class T>
class LifoBuffer {
 public:
  std::size_t size() const noexcept { return items_.size(); }
  void push(T item) { items_.push_back(std::move(item)); }
  T pop() {
    T item = std::move(items_.back());
    items_.pop_back();
    return item;
  }

 private:
  std::vector<T> items_;
};

/// Smallest first by `Compare`: `PriorityQueue`'s order (a binary heap, as
/// Python's heapq).
template <class T, class Compare>
class HeapBuffer {
 public:
  std::size_t size() const noexcept { return items_.size(); }
  void push(T item) {
    items_.push_back(std::move(item));
    std::push_heap(items_.begin(), items_.end(), greater());
  }
  T pop() {
    std::pop_heap(items_.begin(), items_.end(), greater());
    T item = std::move(items_.back());
    items_.pop_back();
    return item;
  }

 private:
  // std's heap functions keep the largest on top; reversing the comparison
  // keeps the smallest there.
  auto greater() const {
    return [this](const T& a, const T& b) { return compare_(b, a); };
  }
  std::vector<T> items_;
  Compare compare_;
};

/// A waiting getter (receives its item in `item`) or putter (parks its item
/// there until there is room).
template <class T>
struct ItemNode : WaitNode {
  std::optional<T> item;
};

template <class T, class Buffer>
struct QueueState {
  explicit QueueState(std::size_t max) : maxsize(max) { finished.set(); }

  bool full() const noexcept { return maxsize > 0 && buffer.size() >= maxsize; }

  /// Hands `item` to the oldest waiting getter or stores it. Leaves `item`
  /// untouched and returns false when the queue is full.
  bool try_put(std::optional<T>& item) {
    if (auto getter = getters.pop()) {
      count_unfinished();
      getter->item = std::move(item);
      wake(std::move(getter));
      return true;
    }
    if (full()) return false;
    count_unfinished();
    buffer.push(std::move(*item));
    return true;
  }

  /// Takes the next item into `out`, letting the oldest waiting putter's item
  /// in; false when the queue is empty.
  bool try_get(std::optional<T>& out) {
    if (buffer.size() == 0) return false;
    // A putter only waits while the queue is full, so its item joins before
    // the next one is chosen, as in Tornado (it may be the one chosen).
    if (auto putter = putters.pop()) {
      count_unfinished();
      buffer.push(std::move(*putter->item));
      wake(std::move(putter));
    }
    out.emplace(buffer.pop());
    return true;
  }

  /// An item a woken getter never received goes to the next getter, or back
  /// into the queue (even past maxsize: it was already admitted once).
  void give_back(T item) {
    if (auto getter = getters.pop()) {
      getter->item.emplace(std::move(item));
      wake(std::move(getter));
    } else {
      buffer.push(std::move(item));
    }
  }

  void count_unfinished() {
    ++unfinished;
    finished.clear();
  }

  std::size_t maxsize;
  Buffer buffer;
  WaitList<ItemNode<T>> getters;
  WaitList<ItemNode<T>> putters;
  std::size_t unfinished = 0;
  locks::Event finished;
};

template <class T, class Buffer>
class GetAwaiter : public Parked<ItemNode<T>> {
 public:
  GetAwaiter(std::shared_ptr<QueueState<T, Buffer>> state, std::optional<ioloop::Duration> timeout)
      : state_(std::move(state)), timeout_(timeout) {}
  GetAwaiter(GetAwaiter&&) noexcept = default;
  ~GetAwaiter() {
    if (auto node = this->take_undelivered()) {
      if (node->item) state_->give_back(std::move(*node->item));
    }
  }

  bool await_ready() { return state_->try_get(item_); }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) {
    this->park_on(state_->getters, h, timeout_);
  }
  T await_resume() {
    this->resuming();
    if (!this->node_) return std::move(*item_);
    if (this->timed_out()) throw TimeoutError("Timeout waiting for a queue item");
    return std::move(*this->node_->item);
  }

 private:
  std::shared_ptr<QueueState<T, Buffer>> state_;
  std::optional<ioloop::Duration> timeout_;
  std::optional<T> item_;
};

template <class T, class Buffer>
class PutAwaiter : public Parked<ItemNode<T>> {
 public:
  PutAwaiter(std::shared_ptr<QueueState<T, Buffer>> state, T item,
             std::optional<ioloop::Duration> timeout)
      : state_(std::move(state)), timeout_(timeout), item_(std::move(item)) {}
  PutAwaiter(PutAwaiter&&) noexcept = default;

  bool await_ready() { return state_->try_put(item_); }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) {
    this->park_on(state_->putters, h, timeout_);
    if (this->node_) this->node_->item = std::move(item_);
  }
  void await_resume() {
    this->resuming();
    if (this->timed_out()) throw TimeoutError("Timeout putting a queue item");
  }

 private:
  std::shared_ptr<QueueState<T, Buffer>> state_;
  std::optional<ioloop::Duration> timeout_;
  std::optional<T> item_;
};

}  // namespace tornado::detail

namespace tornado::queues {

/// Timeouts of `put`, `get` and `join`.
using Duration = ioloop::Duration;

/// A first-in, first-out queue for coroutines, as `tornado.queues.Queue`.
/// `maxsize` 0 means unbounded. `Buffer` sets the order (see `PriorityQueue`
/// and `LifoQueue`).
template <class T, class Buffer = detail::FifoBuffer<T>>
class Queue {
 public:
  /// A queue holding at most `maxsize` items (0: unbounded).
  explicit Queue(std::size_t maxsize = 0)
      : state_(std::make_shared<detail::QueueState<T, Buffer>>(maxsize)) {}
  Queue(const Queue&) = delete;
  Queue& operator=(const Queue&) = delete;

  /// Number of items allowed in the queue; 0 for unbounded.
  std::size_t maxsize() const noexcept { return state_->maxsize; }
  /// Number of items in the queue.
  std::size_t qsize() const noexcept { return state_->buffer.size(); }
  /// True when no item is waiting.
  bool empty() const noexcept { return qsize() == 0; }
  /// True when `put` would wait.
  bool full() const noexcept { return state_->full(); }

  /// Awaitable that puts `item`, waiting while the queue is full; throws
  /// `TimeoutError` (and drops the item) if no room frees up within `timeout`.
  [[nodiscard]] detail::PutAwaiter<T, Buffer> put(T item,
                                                  std::optional<Duration> timeout = std::nullopt) {
    return detail::PutAwaiter<T, Buffer>(state_, std::move(item), timeout);
  }

  /// Puts `item` without waiting; throws `QueueFull` if there is no room.
  void put_nowait(T item) {
    std::optional<T> slot(std::move(item));
    if (!state_->try_put(slot)) throw QueueFull();
  }

  /// Awaitable yielding the next item, waiting while the queue is empty;
  /// throws `TimeoutError` if none arrives within `timeout`.
  [[nodiscard]] detail::GetAwaiter<T, Buffer> get(std::optional<Duration> timeout = std::nullopt) {
    return detail::GetAwaiter<T, Buffer>(state_, timeout);
  }

  /// Coroutines waiting in `get()` / `put()` (cancelled ones are gone).
  std::size_t getters_waiting() const noexcept { return state_->getters.size(); }
  /// Coroutines waiting in `put()` for room.
  std::size_t putters_waiting() const noexcept { return state_->putters.size(); }

  /// Takes the next item without waiting; throws `QueueEmpty` if there is none.
  T get_nowait() {
    std::optional<T> item;
    if (!state_->try_get(item)) throw QueueEmpty();
    return std::move(*item);
  }

  /// Says that an item taken from the queue has been processed; `join()`
  /// returns when every item put has been. Throws `std::invalid_argument`
  /// (Tornado's ValueError) when called more times than items were put.
  void task_done() {
    if (state_->unfinished == 0) throw std::invalid_argument("task_done() called too many times");
    if (--state_->unfinished == 0) state_->finished.set();
  }

  /// Awaitable completing when every item put has been marked `task_done()`;
  /// throws `TimeoutError` after `timeout`.
  [[nodiscard]] detail::EventWaiter join(std::optional<Duration> timeout = std::nullopt) const {
    return state_->finished.wait(timeout);
  }

 private:
  std::shared_ptr<detail::QueueState<T, Buffer>> state_;
};

/// A queue that hands out the smallest item first (by `Compare`), as
/// `tornado.queues.PriorityQueue`; items are often `std::pair{priority, value}`.
template <class T, class Compare = std::less<T>>
class PriorityQueue : public Queue<T, detail::HeapBuffer<T, Compare>> {
 public:
  using Queue<T, detail::HeapBuffer<T, Compare>>::Queue;
};

/// A queue that hands out the most recently put item first, as
/// `tornado.queues.LifoQueue`.
template <class T>
class LifoQueue : public Queue<T, detail::LifoBuffer<T>> {
 public:
  using Queue<T, detail::LifoBuffer<T>>::Queue;
};

}  // namespace tornado::queues
