// tornado::concurrent: coroutines and futures, mirroring tornado.concurrent
// and tornado.gen.
//
// Tornado 6 handlers are `async def` functions that `await` futures. In
// tornado-cpp they are C++20 coroutines returning `tornado::Task<T>`:
//
//   tornado::Task<int> answer() {
//     co_await tornado::sleep(std::chrono::milliseconds(10));
//     co_return 42;
//   }
//   tornado::Task<> caller() { int x = co_await answer(); ... }
//
// A `Task` is lazy: its body starts when it is awaited (or handed to
// `IOLoop::spawn`, Tornado's `IOLoop.spawn_callback`). Exceptions thrown inside
// propagate to whoever awaits it, as in Python.
//
// A `Future<T>` is the bridge from callbacks to coroutines, like
// `tornado.concurrent.Future`: one side calls `set_result`, the other side
// `co_await`s it. Awaiters are resumed from the IOLoop, never from inside
// `set_result`, as Tornado schedules future callbacks on the loop.
#pragma once

#include <chrono>
#include <coroutine>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tornado {

template <class T = void>
class Task;

namespace detail {

struct TaskPromiseBase {
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) const noexcept {
      return h.promise().continuation_;
    }
    void await_resume() const noexcept {}
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }
  void rethrow_if_failed() const {
    if (exception_) std::rethrow_exception(exception_);
  }

  std::coroutine_handle<> continuation_ = std::noop_coroutine();
  std::exception_ptr exception_;
};

template <class T>
struct TaskPromise : TaskPromiseBase {
  Task<T> get_return_object() noexcept;
  template <class U = T>
  void return_value(U&& value) {
    value_.emplace(std::forward<U>(value));
  }
  T take_result() {
    rethrow_if_failed();
    return std::move(*value_);
  }
  std::optional<T> value_;
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  Task<void> get_return_object() noexcept;
  void return_void() const noexcept {}
  void take_result() const { rethrow_if_failed(); }
};

}  // namespace detail

/// A lazily started coroutine producing a `T` (or throwing). Await it once.
template <class T>
class [[nodiscard]] Task {
 public:
  /// The coroutine machinery behind `Task` (C++ looks it up by this name).
  using promise_type = detail::TaskPromise<T>;
  /// The handle of the coroutine frame a Task owns.
  using Handle = std::coroutine_handle<promise_type>;
  /// What `co_await` on the task produces.
  using value_type = T;

  Task() noexcept = default;
  /// Takes ownership of a coroutine frame (used by the promise).
  explicit Task(Handle h) noexcept : handle_(h) {}
  /// Moves the frame; `other` is left empty.
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  /// Destroys this task's frame (if not started, it never runs) and takes `other`'s.
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  /// True once the body has run to completion (value or exception).
  bool done() const noexcept { return !handle_ || handle_.done(); }
  /// False for a default-constructed or moved-from task.
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  /// Starts the task and suspends the caller until it finishes; yields its value or rethrows.
  auto operator co_await() noexcept {
    struct Awaiter {
      Handle handle;
      bool await_ready() const noexcept { return !handle || handle.done(); }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> caller) noexcept {
        handle.promise().continuation_ = caller;
        return handle;
      }
      T await_resume() {
        if (!handle) throw std::logic_error("awaiting an empty Task");
        return handle.promise().take_result();
      }
    };
    return Awaiter{handle_};
  }

 private:
  void reset() noexcept {
    if (handle_) handle_.destroy();
    handle_ = {};
  }
  Handle handle_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

/// Runs `fn` on the current thread's IOLoop soon (defined in ioloop.cc).
void call_soon(std::function<void()> fn);
}  // namespace detail

/// Raised by `with_timeout` (and `IOLoop::run_sync` with a timeout), as
/// `tornado.util.TimeoutError`.
class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A result that will be set later, from a callback. Copies share one state.
template <class T = void>
class Future {
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

  struct State {
    std::optional<Stored> value;
    std::exception_ptr exception;
    std::vector<std::function<void()>> callbacks;
    bool done() const { return value.has_value() || exception != nullptr; }
  };

 public:
  Future() : state_(std::make_shared<State>()) {}

  /// True once a result or an exception is set.
  bool done() const { return state_->done(); }

  /// Sets the value and schedules every waiter on the IOLoop. Setting a done
  /// future again is a logic error, as in Tornado.
  template <class U = Stored>
  void set_result(U&& value = {}) {
    if (done()) throw std::logic_error("Future already done");
    state_->value.emplace(std::forward<U>(value));
    schedule_callbacks();
  }
  /// Sets the exception that awaiters will see thrown; waiters are scheduled on the IOLoop.
  void set_exception(std::exception_ptr error) {
    if (done()) throw std::logic_error("Future already done");
    state_->exception = std::move(error);
    schedule_callbacks();
  }

  /// The value, or the stored exception rethrown. Only once `done()`.
  T result() const {
    if (!done()) throw std::logic_error("Future not done");
    if (state_->exception) std::rethrow_exception(state_->exception);
    if constexpr (!std::is_void_v<T>) return *state_->value;
  }
  /// The stored exception, or null.
  std::exception_ptr exception() const { return state_->exception; }

  /// Runs `fn` on the IOLoop once the future is done (at once if it is).
  void add_done_callback(std::function<void()> fn) {
    if (done()) {
      detail::call_soon(std::move(fn));
    } else {
      state_->callbacks.push_back(std::move(fn));
    }
  }

  /// Suspends until the future is done; yields the value or rethrows the exception.
  auto operator co_await() const {
    struct Awaiter {
      Future future;
      bool await_ready() const { return future.done(); }
      void await_suspend(std::coroutine_handle<> h) {
        future.state_->callbacks.push_back([h] { h.resume(); });
      }
      T await_resume() const { return future.result(); }
    };
    return Awaiter{*this};
  }

 private:
  void schedule_callbacks() {
    auto callbacks = std::move(state_->callbacks);
    state_->callbacks.clear();
    for (auto& fn : callbacks) detail::call_soon(std::move(fn));
  }
  std::shared_ptr<State> state_;
};

/// Starts `task` now and reports its outcome through a `Future`, as
/// `asyncio.ensure_future` / `gen.convert_yielded` do.
template <class T>
Future<T> to_future(Task<T> task);

/// Sleeps without blocking the loop, as `tornado.gen.sleep`.
Task<> sleep(std::chrono::steady_clock::duration duration);

/// Lets other callbacks run once, as `tornado.gen.moment`.
Task<> moment();

namespace detail {

/// One live detached coroutine in its loop's list. The list is intrusive so
/// that starting a request's coroutine costs two pointer writes, not a
/// hash-set node.
struct DetachedLink {
  DetachedLink* prev = nullptr;
  DetachedLink* next = nullptr;
  std::coroutine_handle<> frame;

  /// Leaves the list; a no-op when not in one.
  void unlink() noexcept {
    if (!next) return;
    prev->next = next;
    next->prev = prev;
    prev = next = nullptr;
  }
};

/// A coroutine that starts eagerly and owns itself; the IOLoop keeps track of
/// the live ones so they are destroyed with it, never leaked.
struct Detached {
  struct promise_type {
    DetachedLink link;
    ~promise_type();
    Detached get_return_object() noexcept;
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    void unhandled_exception() const noexcept { std::terminate(); }
  };
};

/// Logs an exception that escaped a spawned task (defined in ioloop.cc).
void log_spawned_exception(std::exception_ptr error) noexcept;

template <class T, class OnDone>
Detached run_detached(Task<T> task, OnDone on_done) {
  std::exception_ptr error;
  if constexpr (std::is_void_v<T>) {
    try {
      co_await task;
    } catch (...) {
      error = std::current_exception();
    }
    on_done(error);
  } else {
    std::optional<T> value;
    try {
      value.emplace(co_await task);
    } catch (...) {
      error = std::current_exception();
    }
    on_done(std::move(value), error);
  }
}

}  // namespace detail

/// Runs `task` in the background; an exception it throws is logged on the
/// `gen` logger, never silently lost (Tornado's `IOLoop.spawn_callback`).
inline void spawn(Task<> task) {
  detail::run_detached(std::move(task), [](std::exception_ptr error) {
    if (error) detail::log_spawned_exception(error);
  });
}

template <class T>
Future<T> to_future(Task<T> task) {
  Future<T> future;
  if constexpr (std::is_void_v<T>) {
    detail::run_detached(std::move(task), [future](std::exception_ptr error) mutable {
      if (error) {
        future.set_exception(error);
      } else {
        future.set_result();
      }
    });
  } else {
    detail::run_detached(std::move(task),
                         [future](std::optional<T> value, std::exception_ptr error) mutable {
                           if (error) {
                             future.set_exception(error);
                           } else {
                             future.set_result(std::move(*value));
                           }
                         });
  }
  return future;
}

/// Runs all tasks concurrently and returns their results in order, as
/// `tornado.gen.multi` / `asyncio.gather`. The first exception is rethrown
/// after every task has finished.
template <class T>
Task<std::vector<T>> gather(std::vector<Task<T>> tasks) {
  std::vector<Future<T>> futures;
  futures.reserve(tasks.size());
  for (auto& task : tasks) futures.push_back(to_future(std::move(task)));
  std::vector<T> results;
  results.reserve(futures.size());
  std::exception_ptr first_error;
  for (auto& future : futures) {
    try {
      results.push_back(co_await future);
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
  co_return results;
}

/// `gather` for tasks without a value.
Task<> gather(std::vector<Task<>> tasks);

namespace detail {
/// Arms a one-shot timer on the current loop; returns a function that
/// cancels it (defined in ioloop.cc).
std::function<void()> arm_timer(std::chrono::steady_clock::duration delay,
                                std::function<void()> fn);
}  // namespace detail

/// Awaits `future`, throwing `TimeoutError` if it is not done within
/// `timeout`. The underlying work is not cancelled, as in Tornado.
template <class T>
Task<T> with_timeout(std::chrono::steady_clock::duration timeout, Future<T> future) {
  Future<> timer_fired;
  auto cancel = detail::arm_timer(timeout, [timer_fired]() mutable {
    if (!timer_fired.done()) timer_fired.set_result();
  });
  Future<> either;
  future.add_done_callback([either]() mutable {
    if (!either.done()) either.set_result();
  });
  timer_fired.add_done_callback([either]() mutable {
    if (!either.done()) either.set_result();
  });
  co_await either;
  cancel();
  if (!future.done()) throw TimeoutError("Timeout");
  co_return future.result();
}

/// Starts `task` and awaits it for at most `timeout`.
template <class T>
Task<T> with_timeout(std::chrono::steady_clock::duration timeout, Task<T> task) {
  return with_timeout(timeout, to_future(std::move(task)));
}

}  // namespace tornado
