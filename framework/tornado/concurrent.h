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
//
// Cancellation follows asyncio (which Tornado 6 builds on). `Task::cancel()`
// and `Future::cancel()` make the coroutine's innermost wait end with a
// `CancelledError`, thrown at that suspension point and propagating through
// every `co_await` above it like any exception; a coroutine may catch it to
// clean up (or to carry on). Waits that can be cancelled: `Future`, `sleep`,
// everything in tornado::locks and tornado::queues, `with_timeout`, the HTTP
// client's `fetch` and WebSocket `read_message`. A task cancelled while it
// waits on something that cannot be cancelled (a raw stream read) keeps the
// request and gets the `CancelledError` at its next cancellable wait.
//
//   auto waiting = tornado::to_future(condition.wait());
//   ...
//   waiting.cancel();   // the awaiting coroutine resumes with CancelledError
//
// Cancel from the loop's thread; from another thread `Future::cancel()` hands
// itself to the future's loop (see there).
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
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

/// Raised inside a coroutine whose wait was cancelled, as
/// `asyncio.CancelledError`. Like Python's (a BaseException since 3.8), it is
/// not a `std::exception`: a handler's `catch (const std::exception&)` does
/// not swallow a cancellation by accident.
class CancelledError {
 public:
  /// "CancelledError", as Python prints the exception's name.
  const char* what() const noexcept { return "CancelledError"; }
};

namespace detail {

struct TaskPromiseBase;

/// An awaiter that can give up its wait: `cancel()` takes the waiter out of
/// whatever it waits on and has the loop resume it with `CancelledError`.
/// Returns false when it is too late (the result is already on its way).
class CancelHook {
 public:
  CancelHook() = default;
  // Awaiters are moved only before they are awaited, never while attached.
  CancelHook(CancelHook&&) noexcept {}
  CancelHook& operator=(CancelHook&&) = delete;
  virtual bool cancel() noexcept = 0;

 protected:
  ~CancelHook() { detach(); }
  /// Makes this the wait that cancelling `h`'s task reaches. True when a
  /// cancellation was already pending: the caller must not wait at all.
  template <class P>
  bool attach(std::coroutine_handle<P> h) noexcept;
  void detach() noexcept;
  TaskPromiseBase* owner_ = nullptr;
};

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

  /// Cancels the innermost wait below this task (see `Task::cancel`).
  void request_cancel() noexcept {
    TaskPromiseBase* p = this;
    for (;;) {
      if (p->on_cancel_) {
        // This level knows how to end what it waits on (close a stream).
        auto fn = std::exchange(p->on_cancel_, nullptr);
        (*fn)();
        return;
      }
      if (!p->awaiting_task_) break;
      p = p->awaiting_task_;
    }
    if (auto* hook = std::exchange(p->awaiting_, nullptr); hook && hook->cancel()) return;
    p->cancel_pending_ = true;
  }

  std::coroutine_handle<> continuation_ = std::noop_coroutine();
  std::exception_ptr exception_;
  TaskPromiseBase* awaiting_task_ = nullptr;          // the Task this one awaits
  CancelHook* awaiting_ = nullptr;                    // the cancellable wait it is in
  const std::function<void()>* on_cancel_ = nullptr;  // see `on_cancel`
  bool cancel_pending_ = false;                       // cancelled while in a wait that cannot be
};

template <class P>
bool CancelHook::attach(std::coroutine_handle<P> h) noexcept {
  if constexpr (std::is_base_of_v<TaskPromiseBase, P>) {
    TaskPromiseBase& promise = h.promise();
    if (promise.cancel_pending_) {
      promise.cancel_pending_ = false;
      return true;
    }
    owner_ = &promise;
    promise.awaiting_ = this;
  }
  return false;
}

inline void CancelHook::detach() noexcept {
  if (owner_ && owner_->awaiting_ == this) owner_->awaiting_ = nullptr;
  owner_ = nullptr;
}

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

  /// Cancels the task's innermost wait: the body resumes there with
  /// `CancelledError` (asyncio's `Task.cancel`). A task not started yet
  /// gets it at its first cancellable wait. Loop thread only.
  void cancel() noexcept {
    if (handle_ && !handle_.done()) handle_.promise().request_cancel();
  }

  /// Internal: the promise, for `to_future`'s cancellation.
  detail::TaskPromiseBase* promise_base() noexcept {
    return handle_ ? &handle_.promise() : nullptr;
  }

  /// What `co_await task` uses: starts the task and resumes the caller
  /// when it ends (the result or the exception comes back through it).
  struct Awaiter {
    /// The awaited task's coroutine.
    Handle handle;
    /// The caller's promise, when the caller is a Task (for cancellation).
    detail::TaskPromiseBase* caller_promise = nullptr;
    /// Ready when there is nothing left to run.
    bool await_ready() const noexcept { return !handle || handle.done(); }
    /// Runs the task; the caller resumes when it is done.
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> caller) noexcept {
      if constexpr (std::is_base_of_v<detail::TaskPromiseBase, P>) {
        // Cancelling the caller must reach the wait inside this task.
        caller_promise = &caller.promise();
        caller_promise->awaiting_task_ = &handle.promise();
        if (std::exchange(caller_promise->cancel_pending_, false)) {
          handle.promise().cancel_pending_ = true;
        }
      }
      handle.promise().continuation_ = caller;
      return handle;
    }
    /// The task's result, or its exception rethrown.
    T await_resume() {
      if (!handle) throw std::logic_error("awaiting an empty Task");
      if (caller_promise) {
        caller_promise->awaiting_task_ = nullptr;
        // A cancellation that found no cancellable wait in the task
        // carries on to the caller's next one.
        if (handle.promise().cancel_pending_) caller_promise->cancel_pending_ = true;
      }
      return handle.promise().take_result();
    }
  };
  /// Starts the task and suspends the caller until it finishes; yields its value or rethrows.
  Awaiter operator co_await() noexcept { return Awaiter{handle_}; }

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

namespace detail {
/// See `on_cancel`.
class [[nodiscard]] CancelScope {
 public:
  CancelScope(TaskPromiseBase* promise, std::function<void()> fn)
      : promise_(promise), fn_(std::make_unique<std::function<void()>>(std::move(fn))) {
    if (!promise_) return;
    if (std::exchange(promise_->cancel_pending_, false)) {
      (*fn_)();
      promise_ = nullptr;
      return;
    }
    previous_ = std::exchange(promise_->on_cancel_, fn_.get());
  }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;
  ~CancelScope() {
    if (promise_ && promise_->on_cancel_ == fn_.get()) promise_->on_cancel_ = previous_;
  }

 private:
  TaskPromiseBase* promise_;
  std::unique_ptr<std::function<void()>> fn_;
  const std::function<void()>* previous_ = nullptr;
};

struct OnCancelAwaiter {
  std::function<void()> fn;
  TaskPromiseBase* promise = nullptr;
  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> h) noexcept {
    if constexpr (std::is_base_of_v<TaskPromiseBase, P>) promise = &h.promise();
    return false;  // never suspends: it only learns whose task this is
  }
  CancelScope await_resume() { return CancelScope(promise, std::move(fn)); }
};
}  // namespace detail

/// Inside a `Task` coroutine: while the returned scope lives, cancelling the
/// task calls `fn` (once) instead of reaching into what the coroutine awaits.
/// For waits with their own way to end, such as closing a stream that a read
/// is pending on; `fn` runs at once if a cancellation was already pending.
///
///   auto scope = co_await tornado::on_cancel([&] { stream->close(); });
inline detail::OnCancelAwaiter on_cancel(std::function<void()> fn) {
  return detail::OnCancelAwaiter{std::move(fn)};
}

/// Raised by `with_timeout` (and `IOLoop::run_sync` with a timeout), as
/// `tornado.util.TimeoutError`.
class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
/// The calling thread's IOLoop, or null (defined in ioloop.cc; opaque here
/// because ioloop.h includes this header).
void* current_loop_token() noexcept;
/// `IOLoop::add_callback` on the loop behind `token`: the thread-safe way in.
void post_to_loop(void* token, std::function<void()> fn);
}  // namespace detail

/// A result that will be set later, from a callback. Copies share one state.
template <class T = void>
class Future {
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

  struct State {
    std::optional<Stored> value;
    std::exception_ptr exception;
    std::vector<std::pair<std::uint64_t, std::function<void()>>> callbacks;
    std::uint64_t next_callback = 1;
    std::function<void()> canceller;  // set when a task produces the value
    void* loop = detail::current_loop_token();
    bool cancelled = false;
    bool done() const { return value.has_value() || exception != nullptr; }
  };

 public:
  Future() : state_(std::make_shared<State>()) {}

  /// True once a result or an exception is set.
  bool done() const { return state_->done(); }

  /// Sets the value and schedules every waiter on the IOLoop. Setting a done
  /// future again is a logic error, as in Tornado; setting a cancelled one is
  /// ignored (Tornado's `future_set_result_unless_cancelled`), so whoever
  /// produces the value need not know that nobody wants it any more.
  template <class U = Stored>
  void set_result(U&& value = {}) {
    if (state_->cancelled) return;
    if (done()) throw std::logic_error("Future already done");
    state_->value.emplace(std::forward<U>(value));
    schedule_callbacks();
  }
  /// Sets the exception that awaiters will see thrown; waiters are scheduled on the IOLoop.
  void set_exception(std::exception_ptr error) {
    if (state_->cancelled) return;
    if (done()) throw std::logic_error("Future already done");
    state_->exception = std::move(error);
    schedule_callbacks();
  }

  /// Cancels the future, as `asyncio.Future.cancel`: a future made by
  /// `to_future` cancels its task (which ends with `CancelledError`, unless
  /// it catches it); any other is done at once with `CancelledError`, and a
  /// later `set_result` is ignored. False if it was already done. Called off
  /// the future's loop thread, it goes to that loop with `add_callback` and
  /// returns true (the request is on its way, the loop decides).
  bool cancel() {
    void* here = detail::current_loop_token();
    if (state_->loop && here != state_->loop) {
      detail::post_to_loop(state_->loop, [future = *this]() mutable { future.cancel(); });
      return true;
    }
    if (done()) return false;
    if (state_->canceller) {
      auto canceller = state_->canceller;
      canceller();
      return true;
    }
    state_->exception = std::make_exception_ptr(CancelledError());
    state_->cancelled = true;
    schedule_callbacks();
    return true;
  }
  /// True if the future ended with `CancelledError`.
  bool cancelled() const {
    if (state_->cancelled) return true;
    if (!state_->exception) return false;
    try {
      std::rethrow_exception(state_->exception);
    } catch (const CancelledError&) {
      return true;
    } catch (...) {
      return false;
    }
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
  /// Returns a ticket for `remove_done_callback`.
  std::uint64_t add_done_callback(std::function<void()> fn) {
    if (done()) {
      detail::call_soon(std::move(fn));
      return 0;
    }
    auto id = state_->next_callback++;
    state_->callbacks.emplace_back(id, std::move(fn));
    return id;
  }
  /// Forgets a callback that has not run yet (asyncio's
  /// `remove_done_callback`); true if it was there.
  bool remove_done_callback(std::uint64_t ticket) {
    return std::erase_if(state_->callbacks,
                         [ticket](const auto& entry) { return entry.first == ticket; }) > 0;
  }
  /// Callbacks and awaiters still waiting: what a cancelled waiter must not
  /// leave behind.
  std::size_t waiter_count() const noexcept { return state_->callbacks.size(); }

  /// Internal, for `to_future`: how to cancel the task behind this future.
  void set_canceller(std::function<void()> canceller) { state_->canceller = std::move(canceller); }

  /// What `co_await future` uses: resumes the caller when the future is done.
  class Awaiter : public detail::CancelHook {
   public:
    /// Waits on `future`.
    explicit Awaiter(Future future) : future_(std::move(future)) {}
    /// Moves the wait (before it starts).
    Awaiter(Awaiter&&) noexcept = default;
    /// Ready when the future is already done.
    bool await_ready() const { return future_.done(); }
    /// Registers the caller to resume when the future completes.
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
      if (attach(h)) {
        // Cancelled before it could wait: as asyncio, cancel the future.
        future_.cancel();
        if (future_.done()) return false;
      }
      future_.state_->callbacks.emplace_back(future_.state_->next_callback++, [h] { h.resume(); });
      return true;
    }
    /// The future's result, or its exception rethrown.
    T await_resume() {
      detach();
      return future_.result();
    }
    // As asyncio, cancelling a task cancels the future it waits on; the
    // future's completion (with CancelledError, or the task's own ending)
    // then resumes the awaiter through its callback.
    /// Cancels the awaited future (the caller was cancelled).
    bool cancel() noexcept override {
      detach();
      try {
        return future_.cancel();
      } catch (...) {
        return false;
      }
    }

   private:
    Future future_;
  };
  /// Suspends until the future is done; yields the value or rethrows the exception.
  Awaiter operator co_await() const { return Awaiter{*this}; }

 private:
  void schedule_callbacks() {
    auto callbacks = std::move(state_->callbacks);
    state_->callbacks.clear();
    state_->canceller = nullptr;
    for (auto& entry : callbacks) detail::call_soon(std::move(entry.second));
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

/// An object with its own close path (a stream), in its loop's intrusive list
/// of what to close if the loop is destroyed first: two pointers in the
/// object instead of a hash map entry and a std::function per connection.
/// The object derives from the link; the loop keeps the one function that
/// closes the objects of its list (a static_cast finds the object).
struct CloserLink {
  CloserLink* prev = nullptr;
  CloserLink* next = nullptr;

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

namespace detail {
template <class A>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};
template <class A>
struct is_future : std::false_type {};
template <class T>
struct is_future<Future<T>> : std::true_type {};

/// Clears a future's canceller when the task behind it goes away, so that a
/// late `cancel()` (the loop destroyed the frame) touches nothing freed.
template <class T>
struct CancellerScope {
  Future<T> future;
  ~CancellerScope() { future.set_canceller(nullptr); }
};

template <class T>
Detached run_to_future(Task<T> task, Future<T> future) {
  CancellerScope<T> scope{future};
  std::exception_ptr error;
  if constexpr (std::is_void_v<T>) {
    try {
      co_await task;
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      future.set_exception(error);
    } else {
      future.set_result();
    }
  } else {
    std::optional<T> value;
    try {
      value.emplace(co_await task);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      future.set_exception(error);
    } else {
      future.set_result(std::move(*value));
    }
  }
}
}  // namespace detail

template <class T>
Future<T> to_future(Task<T> task) {
  Future<T> future;
  if (auto* promise = task.promise_base()) {
    future.set_canceller([promise] { promise->request_cancel(); });
  }
  detail::run_to_future(std::move(task), future);
  return future;
}

/// Starts any awaitable (a lock's `acquire()`, a condition's `wait()`, a
/// queue's `get()`) and reports through a `Future`, so that it can be held
/// and cancelled as in Python: `wait_future = to_future(cond.wait())`.
template <class Awaitable>
requires(!detail::is_task<Awaitable>::value &&
         !detail::is_future<Awaitable>::value) auto to_future(Awaitable awaitable) {
  using R = decltype(std::declval<Awaitable&>().await_resume());
  static_assert(std::is_void_v<R> || std::is_copy_constructible_v<R>,
                "a Future hands out copies: wrap a move-only result (a Guard) in a Task");
  return to_future(
      [](Awaitable a) -> Task<R> { co_return co_await std::move(a); }(std::move(awaitable)));
}

/// Exception types that `multi` does not log when they come after the first
/// failure, as `gen.multi(..., quiet_exceptions=(...))`.
template <class... E>
struct QuietExceptions {
  /// True if `error` is one of the quiet types.
  static bool matches(std::exception_ptr error) {
    if constexpr (sizeof...(E) == 0) {
      return false;
    } else {
      return (is<E>(error) || ...);
    }
  }

 private:
  template <class X>
  static bool is(std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const X&) {
      return true;
    } catch (...) {
      return false;
    }
  }
};
/// The exception types `multi` keeps quiet about: `multi(tasks, quiet_exceptions<E...>)`.
template <class... E>
inline constexpr QuietExceptions<E...> quiet_exceptions{};

namespace detail {
/// Logs a failure of `multi` after its first one (defined in ioloop.cc).
void log_multi_exception(std::exception_ptr error) noexcept;

template <class Quiet>
void note_failure(std::exception_ptr& first, std::exception_ptr error) {
  if (!first) {
    first = error;
  } else if (!Quiet::matches(error)) {
    log_multi_exception(error);
  }
}
}  // namespace detail

namespace detail {
/// Keeps quiet about every failure after the first: `gather`, as
/// `asyncio.gather`, reports only the one it raises.
struct QuietAll {
  /// Every failure is quiet.
  static bool matches(std::exception_ptr) noexcept { return true; }
};

/// The loop behind `multi` and `gather`: starts every task, awaits them in
/// order, hands each value to `keep(index, value)`, and once all have
/// finished rethrows the first failure (the later ones go to
/// `note_failure<Quiet>`). Cancelling it cancels every task.
template <class Quiet, class T, class Keep>
Task<> await_all(std::vector<Task<T>> tasks, Keep keep) {
  std::vector<Future<T>> futures;
  futures.reserve(tasks.size());
  for (auto& task : tasks) futures.push_back(to_future(std::move(task)));
  auto scope = co_await on_cancel([&futures] {
    for (auto& future : futures) future.cancel();
  });
  std::exception_ptr first;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    try {
      if constexpr (std::is_void_v<T>) {
        co_await futures[i];
      } else {
        keep(i, co_await futures[i]);
      }
    } catch (...) {
      note_failure<Quiet>(first, std::current_exception());
    }
  }
  if (first) std::rethrow_exception(first);
}
}  // namespace detail

/// Runs the tasks concurrently and yields their results in order, as
/// `tornado.gen.multi` over a list: once every task has finished, the first
/// exception (in list order) is rethrown and the later ones are logged on
/// the `gen` logger, unless their type is listed in `quiet_exceptions`.
/// Cancelling it cancels every task.
template <class T, class Quiet = QuietExceptions<>>
Task<std::vector<T>> multi(std::vector<Task<T>> tasks, Quiet = {}) {
  std::vector<T> results;
  results.reserve(tasks.size());
  co_await detail::await_all<Quiet>(
      std::move(tasks), [&results](std::size_t, T value) { results.push_back(std::move(value)); });
  co_return results;
}

/// `multi` over a map, as `gen.multi` over a dict: the results under the
/// same keys.
template <class K, class T, class Quiet = QuietExceptions<>>
Task<std::map<K, T>> multi(std::map<K, Task<T>> tasks, Quiet = {}) {
  std::vector<K> keys;
  std::vector<Task<T>> list;
  keys.reserve(tasks.size());
  list.reserve(tasks.size());
  for (auto& [key, task] : tasks) {
    keys.push_back(key);
    list.push_back(std::move(task));
  }
  std::map<K, T> results;
  co_await detail::await_all<Quiet>(std::move(list), [&](std::size_t i, T value) {
    results.emplace(std::move(keys[i]), std::move(value));
  });
  co_return results;
}

/// Runs all tasks concurrently and returns their results in order, as
/// `asyncio.gather`: `multi` that logs nothing; the first exception is
/// rethrown after every task has finished.
template <class T>
Task<std::vector<T>> gather(std::vector<Task<T>> tasks) {
  return multi(std::move(tasks), detail::QuietAll{});
}

/// `gather` for tasks without a value.
inline Task<> gather(std::vector<Task<>> tasks) {
  return detail::await_all<detail::QuietAll>(std::move(tasks), [](std::size_t) {});
}

/// Yields the results of several tasks in the order they finish, as
/// `tornado.gen.WaitIterator`; `current_index()` says whose result the last
/// `next()` gave.
///
///   tornado::WaitIterator<int> it(std::move(tasks));
///   while (!it.done()) {
///     try {
///       int value = co_await it.next();
///       use(it.current_index(), value);
///     } catch (const std::exception& e) { ... }  // that task's exception
///   }
template <class T>
class WaitIterator {
 public:
  /// Starts every task and yields their results as they finish.
  explicit WaitIterator(std::vector<Task<T>> tasks) : state_(std::make_shared<State>()) {
    for (auto& task : tasks) state_->futures.push_back(to_future(std::move(task)));
    watch();
  }
  /// Yields the futures' results as they complete.
  explicit WaitIterator(std::vector<Future<T>> futures) : state_(std::make_shared<State>()) {
    state_->futures = std::move(futures);
    watch();
  }

  /// True once every result has been handed out.
  bool done() const noexcept { return state_->handed_out == state_->futures.size(); }
  /// The position (in the constructor's list) of the last result handed out.
  std::size_t current_index() const noexcept { return current_index_; }

  /// The next result to finish, or its exception rethrown.
  Task<T> next() {
    if (done()) throw std::logic_error("WaitIterator has no more results");
    auto state = state_;
    while (state->finished.empty()) {
      state->arrived = Future<>();
      co_await state->arrived;
    }
    std::size_t index = state->finished.front();
    state->finished.erase(state->finished.begin());
    ++state->handed_out;
    current_index_ = index;
    co_return state->futures[index].result();
  }

 private:
  struct State {
    std::vector<Future<T>> futures;
    std::vector<std::size_t> finished;  // indexes, in the order they finished
    std::size_t handed_out = 0;
    Future<> arrived;
  };

  void watch() {
    for (std::size_t i = 0; i < state_->futures.size(); ++i) {
      // Weak: a future that never finishes must not keep the state alive.
      state_->futures[i].add_done_callback([weak = std::weak_ptr<State>(state_), i] {
        auto state = weak.lock();
        if (!state) return;
        state->finished.push_back(i);
        if (!state->arrived.done()) state->arrived.set_result();
      });
    }
  }

  std::shared_ptr<State> state_;
  std::size_t current_index_ = 0;
};

namespace detail {
/// Arms a one-shot timer on the current loop; returns a function that
/// cancels it (defined in ioloop.cc).
std::function<void()> arm_timer(std::chrono::steady_clock::duration delay,
                                std::function<void()> fn);
}  // namespace detail

/// Awaits `future`, throwing `TimeoutError` if it is not done within
/// `timeout`. Semantics picked (documented in docs/coroutines.md): on a
/// timeout the underlying work is NOT cancelled, as Tornado's
/// `gen.with_timeout` (not `asyncio.wait_for`), so it may still finish; when
/// the coroutine awaiting `with_timeout` is itself cancelled, the work is
/// cancelled with it, as awaiting it directly would. Either way no timer or
/// callback is left behind.
template <class T>
Task<T> with_timeout(std::chrono::steady_clock::duration timeout, Future<T> future) {
  // Which came first: a loop that stalled past both deadlines runs the timer
  // and the work's completion in one turn, before this coroutine resumes.
  Future<bool> either;
  struct Cleanup {
    std::function<void()> disarm;
    Future<T> future;
    std::uint64_t ticket;
    ~Cleanup() {
      disarm();
      future.remove_done_callback(ticket);
    }
  };
  Cleanup cleanup{detail::arm_timer(timeout,
                                    [either]() mutable {
                                      if (!either.done()) either.set_result(true);
                                    }),
                  future, future.add_done_callback([either]() mutable {
                    if (!either.done()) either.set_result(false);
                  })};
  bool timed_out;
  try {
    timed_out = co_await either;
  } catch (const CancelledError&) {
    future.cancel();
    throw;
  }
  if (timed_out) throw TimeoutError("Timeout");
  co_return future.result();
}

/// Where blocking work runs, as Python's `concurrent.futures.Executor`:
/// `submit` runs `work` later on some other thread. Used through
/// `IOLoop::run_in_executor`, which brings the result back to the loop.
class Executor {
 public:
  virtual ~Executor() = default;
  /// Runs `work` on one of the executor's threads. Thread-safe.
  virtual void submit(std::function<void()> work) = 0;
};

/// A pool of worker threads, as `concurrent.futures.ThreadPoolExecutor`:
/// threads start as work arrives, up to `max_workers`; the destructor lets
/// the queued work finish and joins them.
///
/// What a worker may touch: its own arguments and whatever the program
/// guards with its own locks. Nothing of an IOLoop's (streams, handlers,
/// futures, timers, locks:: and queues:: objects) but `IOLoop::add_callback`:
/// the loop is single-threaded. `run_in_executor` does that hop for you.
class ThreadPoolExecutor final : public Executor {
 public:
  /// `max_workers` 0 picks Python's default: min(32, cores + 4).
  explicit ThreadPoolExecutor(std::size_t max_workers = 0);
  ~ThreadPoolExecutor() override;
  ThreadPoolExecutor(const ThreadPoolExecutor&) = delete;
  ThreadPoolExecutor& operator=(const ThreadPoolExecutor&) = delete;

  void submit(std::function<void()> work) override;
  /// Stops taking work; with `wait`, returns once the queued work is done.
  void shutdown(bool wait = true);
  /// The most threads the pool starts.
  std::size_t max_workers() const noexcept;
  /// Threads started so far (never more than `max_workers`).
  std::size_t worker_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Starts `task` and awaits it for at most `timeout`.
template <class T>
Task<T> with_timeout(std::chrono::steady_clock::duration timeout, Task<T> task) {
  return with_timeout(timeout, to_future(std::move(task)));
}

}  // namespace tornado
