// tornado::ioloop: the event loop, mirroring tornado.ioloop.
//
// One `IOLoop` runs per thread and wraps a libuv `uv_loop_t`. Everything a
// handler does (reading sockets, timers, resuming coroutines) happens on its
// loop's thread, so handler code never needs a lock. The only way in from
// another thread is `add_callback`.
//
//   auto& loop = tornado::ioloop::IOLoop::current();
//   loop.call_later(std::chrono::seconds(1), [] { tornado::log::app.info("tick"); });
//   loop.start();
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "tornado/concurrent.h"

/// libuv's loop type, named so that this header needs no libuv include
/// (`uv_loop()` hands it to code that includes <uv.h> itself).
using uv_loop_t = struct uv_loop_s;

namespace tornado::detail {
struct IOLoopStreams;
}

namespace tornado::ioloop {

/// The loop's clock: monotonic, unaffected by changes of the wall time.
using Clock = std::chrono::steady_clock;
/// Delays and timeouts (`std::chrono::milliseconds(10)` converts to it).
using Duration = Clock::duration;

/// Identifies a pending `call_later` / `call_at`; pass to `remove_timeout`.
struct TimeoutHandle {
  /// Which timeout; 0 for none.
  std::uint64_t id = 0;
  /// True for a handle returned by `call_later` / `call_at`.
  explicit operator bool() const { return id != 0; }
};

/// The event loop of one thread, as `tornado.ioloop.IOLoop`: runs callbacks, timers,
/// socket events and coroutines, all on its own thread.
class IOLoop {
 public:
  /// Creates a loop and makes it current for this thread if none is.
  IOLoop();
  /// Closes every handle still open and releases the libuv loop.
  ~IOLoop();
  IOLoop(const IOLoop&) = delete;
  IOLoop& operator=(const IOLoop&) = delete;

  /// This thread's loop; one is created on first use, as `IOLoop.current()`.
  static IOLoop& current();
  /// This thread's loop if it has one.
  static IOLoop* current_or_null() noexcept;

  /// Runs until `stop()` is called.
  void start();
  /// Makes `start()` return after the current iteration. Same thread only;
  /// from another thread use `add_callback([&] { loop.stop(); })`.
  void stop();
  /// True between `start()` and its return.
  bool running() const noexcept { return running_; }

  /// Runs `fn`'s task to completion and returns its result, as
  /// `IOLoop.run_sync`; throws `TimeoutError` past `timeout`.
  template <class Fn>
  auto run_sync(Fn&& fn, std::optional<Duration> timeout = std::nullopt)
      -> decltype(fn().operator co_await().await_resume());

  /// Runs `callback` on this loop's thread. The only thread-safe method.
  void add_callback(std::function<void()> callback);
  /// Same-thread version of `add_callback`: cheaper, no lock.
  void call_soon(std::function<void()> callback);

  /// Runs `callback` after `delay`.
  TimeoutHandle call_later(Duration delay, std::function<void()> callback);
  /// Runs `callback` at `when` (on `time()`'s clock).
  TimeoutHandle call_at(Clock::time_point when, std::function<void()> callback);
  /// Cancels a pending timeout; a handle that already ran is ignored.
  void remove_timeout(TimeoutHandle handle);
  /// The loop's monotonic clock, as `IOLoop.time()`.
  Clock::time_point time() const { return Clock::now(); }

  /// Runs `task` in the background (`IOLoop.spawn_callback`); exceptions are
  /// logged on the `gen` logger.
  void spawn(Task<> task);

  /// Runs `fn()` on `executor`'s thread (the loop's default pool when null)
  /// and returns a task that yields its result or rethrows its exception,
  /// resumed on this loop, as `IOLoop.run_in_executor`. The loop never
  /// blocks meanwhile. Cancelling the task stops the wait, not `fn`, which
  /// runs to its end (its result then goes nowhere), as in Python. `fn` may
  /// touch nothing of this loop's: see ThreadPoolExecutor.
  template <class Fn>
  Task<std::invoke_result_t<Fn&>> run_in_executor(Executor* executor, Fn fn);
  /// Replaces the pool that `run_in_executor(nullptr, ...)` uses, as
  /// `IOLoop.set_default_executor`; the loop keeps it alive.
  void set_default_executor(std::shared_ptr<Executor> executor);
  /// The default pool, a ThreadPoolExecutor started on first use.
  Executor& default_executor();

  /// Calls `handler` on this loop when signal `signum` arrives (SIGINT,
  /// SIGTERM for graceful shutdown). Replaces an earlier handler.
  void add_signal_handler(int signum, std::function<void()> handler);
  /// Stops handling `signum` here; its default action applies again.
  void remove_signal_handler(int signum);

  /// Internal: makes `loop` its thread's current loop while alive (start()
  /// and run_sync() do, as Tornado, so that what runs on a loop finds it).
  class CurrentScope {
   public:
    /// Makes `loop` current until the scope ends.
    explicit CurrentScope(IOLoop* loop) noexcept;
    ~CurrentScope();
    CurrentScope(const CurrentScope&) = delete;
    CurrentScope& operator=(const CurrentScope&) = delete;

   private:
    IOLoop* previous_;
  };

  /// The libuv loop underneath, for code that creates libuv handles itself.
  uv_loop_t* uv_loop() noexcept { return loop_; }
  /// True while the loop is being destroyed: nothing may be resumed then.
  bool closing() const noexcept { return closing_; }

  /// Internal: the eagerly started coroutines that this loop destroys when it
  /// is destroyed (see detail::Detached).
  void track(detail::DetachedLink& link) noexcept;
  /// Internal: objects owning handles with their own close path (streams)
  /// register how to close them, so a loop destroyed while they are open
  /// closes them through that path instead of leaking them.
  void add_closer(void* owner, std::function<void()> close);
  /// Internal: forgets `owner`'s close path (it closed by itself).
  void remove_closer(void* owner) noexcept;
  /// Internal: the same for an object carrying its own list link (a stream);
  /// every link of a loop is closed by the same `close`.
  void add_closer(detail::CloserLink& link, void (*close)(detail::CloserLink*) noexcept) noexcept;

 private:
  // Stream bookkeeping (shared buffers, after-I/O calls): detail/ioloop_streams.h.
  friend struct detail::IOLoopStreams;
  struct Impl;
  void drain_soon();
  void drain_threadsafe();
  void run_after_io();

  /// Posts `fn` to this loop from any thread, or drops it if the loop is
  /// gone by then: how a worker's result finds its way back.
  struct Mailbox;
  std::shared_ptr<Mailbox> mailbox();
  static void post(const std::shared_ptr<Mailbox>& mailbox, std::function<void()> fn);

  std::unique_ptr<Impl> impl_;
  uv_loop_t* loop_;  // lives in impl_
  bool running_ = false;
  bool closing_ = false;
};

/// Calls `callback` every `interval` until stopped, as
/// `tornado.ioloop.PeriodicCallback`. Runs late rather than twice when the
/// loop is busy. With `jitter` (0.1 = 10 %), each interval is picked at
/// random within jitter * interval around it, as Tornado does, so that many
/// processes started together do not all call at the same moment.
class PeriodicCallback {
 public:
  /// Calls `callback` every `interval` (jittered, see above) once started,
  /// on the current loop.
  PeriodicCallback(std::function<void()> callback, Duration interval, double jitter = 0);
  ~PeriodicCallback();
  PeriodicCallback(const PeriodicCallback&) = delete;
  PeriodicCallback& operator=(const PeriodicCallback&) = delete;

  /// Starts calling (the first call is one interval from now).
  void start();
  /// Stops calling; `start()` may resume later.
  void stop();
  /// True between `start()` and `stop()`.
  bool is_running() const noexcept { return running_; }
  /// The interval until the next call: `interval`, jittered if asked.
  Duration next_interval();

 private:
  void schedule_next();

  std::function<void()> callback_;
  Duration interval_;
  double jitter_;
  TimeoutHandle timeout_;
  Clock::time_point next_;
  bool running_ = false;
};

template <class Fn>
Task<std::invoke_result_t<Fn&>> IOLoop::run_in_executor(Executor* executor, Fn fn) {
  using R = std::invoke_result_t<Fn&>;
  if (!executor) executor = &default_executor();
  Future<R> future;
  auto mailbox = this->mailbox();
  // shared_ptr: std::function needs a copyable callable, and `fn` may not be.
  auto work = std::make_shared<Fn>(std::move(fn));
  executor->submit([work, future, mailbox]() mutable {
    std::exception_ptr error;
    if constexpr (std::is_void_v<R>) {
      try {
        (*work)();
      } catch (...) {
        error = std::current_exception();
      }
      post(mailbox, [future, error]() mutable {
        if (error) {
          future.set_exception(error);
        } else {
          future.set_result();
        }
      });
    } else {
      std::optional<R> value;
      try {
        value.emplace((*work)());
      } catch (...) {
        error = std::current_exception();
      }
      post(mailbox, [future, value = std::move(value), error]() mutable {
        if (error) {
          future.set_exception(error);
        } else {
          future.set_result(std::move(*value));
        }
      });
    }
    work.reset();  // the callable's captures die on the worker, not later on the loop
  });
  co_return co_await future;
}

/// `run_in_executor` on the current thread's loop, for an object that owns
/// its executor: Tornado's `@run_on_executor` as a call.
///
///   tornado::ThreadPoolExecutor executor_{4};
///   Task<std::string> hash(std::string password) {
///     return tornado::ioloop::run_on_executor(executor_, [password] { return bcrypt(password); });
///   }
template <class Fn>
Task<std::invoke_result_t<Fn&>> run_on_executor(Executor& executor, Fn fn) {
  return IOLoop::current().run_in_executor(&executor, std::move(fn));
}

template <class Fn>
auto IOLoop::run_sync(Fn&& fn, std::optional<Duration> timeout)
    -> decltype(fn().operator co_await().await_resume()) {
  using Result = decltype(fn().operator co_await().await_resume());
  CurrentScope current(this);
  auto task = fn();
  Future<Result> future =
      timeout ? to_future(with_timeout(*timeout, std::move(task))) : to_future(std::move(task));
  // The loop always starts: the stop callback is queued even when the task
  // finished synchronously, and must not be left behind for a later start().
  future.add_done_callback([this] { stop(); });
  start();
  if (!future.done()) throw std::logic_error("IOLoop stopped before run_sync's task finished");
  return future.result();
}

}  // namespace tornado::ioloop
