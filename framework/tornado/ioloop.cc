#include "tornado/ioloop.h"

#include <uv.h>

#include <cassert>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "tornado/detail/ioloop_streams.h"
#include "tornado/detail/uv_handle.h"
#include "tornado/log.h"

namespace tornado::ioloop {
namespace {

thread_local IOLoop* current_loop = nullptr;
thread_local std::unique_ptr<IOLoop> owned_loop;

void check(int status, const char* what) {
  if (status < 0) {
    log::general.error("{}: {}", what, uv_strerror(status));
    std::abort();
  }
}

}  // namespace

struct IOLoop::Impl {
  // First, so that it outlives the handles below.
  uv_loop_t loop{};
  struct Timer {
    detail::UvHandle<uv_timer_t> handle;
    std::function<void()> callback;
  };
  struct Signal {
    detail::UvHandle<uv_signal_t> handle;
    std::function<void()> callback;
  };

  detail::UvHandle<uv_async_t> async;
  detail::UvHandle<uv_idle_t> idle;
  detail::UvHandle<uv_check_t> check;
  detail::UvHandle<uv_idle_t> after_io_idle;  // keeps the poll from blocking
  std::vector<std::pair<void (*)(void*), void*>> after_io;
  std::mutex threadsafe_mutex;
  std::vector<std::function<void()>> threadsafe_queue;
  std::vector<std::function<void()>> soon_queue;
  std::unordered_map<std::uint64_t, Timer> timers;
  std::uint64_t next_timer_id = 1;
  std::unordered_map<int, Signal> signals;
  detail::DetachedLink detached;                                 // the list's head; never a frame
  detail::CloserLink linked_closers;                             // the list's head
  void (*close_linked)(detail::CloserLink*) noexcept = nullptr;  // closes each of them
  std::unordered_map<void*, std::function<void()>> closers;
  detail::StreamBuffers stream_buffers;
  std::shared_ptr<Mailbox> mailbox;
  std::shared_ptr<Executor> default_executor;
};

struct IOLoop::Mailbox {
  std::mutex mutex;
  IOLoop* loop;  // null once the loop is gone
};

IOLoop::IOLoop() : impl_(std::make_unique<Impl>()), loop_(&impl_->loop) {
  impl_->detached.next = impl_->detached.prev = &impl_->detached;
  impl_->linked_closers.next = impl_->linked_closers.prev = &impl_->linked_closers;
  // A peer that goes away mid-write must cost an EPIPE error on that stream,
  // not the process: ignore SIGPIPE, as Python (and so Tornado) does.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
  check(uv_loop_init(loop_), "uv_loop_init");
  loop_->data = this;
  auto async = std::make_unique<uv_async_t>();
  check(uv_async_init(
            loop_, async.get(),
            [](uv_async_t* h) noexcept { static_cast<IOLoop*>(h->data)->drain_threadsafe(); }),
        "uv_async_init");
  async->data = this;
  impl_->async = detail::UvHandle<uv_async_t>(std::move(async));
  auto idle = std::make_unique<uv_idle_t>();
  check(uv_idle_init(loop_, idle.get()), "uv_idle_init");
  idle->data = this;
  impl_->idle = detail::UvHandle<uv_idle_t>(std::move(idle));
  auto check_handle = std::make_unique<uv_check_t>();
  check(uv_check_init(loop_, check_handle.get()), "uv_check_init");
  check_handle->data = this;
  impl_->check = detail::UvHandle<uv_check_t>(std::move(check_handle));
  auto after_io_idle = std::make_unique<uv_idle_t>();
  check(uv_idle_init(loop_, after_io_idle.get()), "uv_idle_init");
  impl_->after_io_idle = detail::UvHandle<uv_idle_t>(std::move(after_io_idle));
  if (!current_loop) current_loop = this;
}

IOLoop::~IOLoop() {
  closing_ = true;
  if (impl_->mailbox) {
    std::lock_guard lock(impl_->mailbox->mutex);
    impl_->mailbox->loop = nullptr;
  }
  // Work still running on the default pool finishes (its results go
  // nowhere) before the loop's memory does.
  impl_->default_executor.reset();
  // Coroutines still suspended own streams and futures; destroying their
  // frames releases those before the handles are closed.
  auto& head = impl_->detached;
  while (head.next != &head) {
    detail::DetachedLink* link = head.next;
    link->unlink();
    link->frame.destroy();
  }
  auto closers = std::move(impl_->closers);
  impl_->closers.clear();
  for (auto& [owner, close] : closers) close();
  auto& linked = impl_->linked_closers;
  while (linked.next != &linked) {
    detail::CloserLink* link = linked.next;
    link->unlink();
    impl_->close_linked(link);
  }
  impl_->timers.clear();
  impl_->signals.clear();
  impl_->soon_queue.clear();
  impl_->async.close();
  impl_->idle.close();
  impl_->after_io.clear();
  impl_->check.close();
  impl_->after_io_idle.close();
  // Whatever else is open (streams, servers) is closed through its owner's
  // close path when the owner goes away; close the rest so the loop can end.
  uv_walk(
      loop_,
      [](uv_handle_t* h, void*) noexcept {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  uv_run(loop_, UV_RUN_DEFAULT);
  uv_loop_close(loop_);
  if (current_loop == this) current_loop = nullptr;
}

IOLoop& IOLoop::current() {
  if (!current_loop) owned_loop = std::make_unique<IOLoop>();
  return *current_loop;
}

IOLoop* IOLoop::current_or_null() noexcept {
  return current_loop;
}

void IOLoop::start() {
  // A running loop is its thread's current one, as in Tornado: what runs on
  // it (call_soon, sleep, run_on_executor) must find it, not some other.
  CurrentScope current(this);
  running_ = true;
  uv_run(loop_, UV_RUN_DEFAULT);
  running_ = false;
}

IOLoop::CurrentScope::CurrentScope(IOLoop* loop) noexcept
    : previous_(std::exchange(current_loop, loop)) {}

IOLoop::CurrentScope::~CurrentScope() {
  current_loop = previous_;
}

void IOLoop::stop() {
  uv_stop(loop_);
}

void IOLoop::add_callback(std::function<void()> callback) {
  {
    std::lock_guard lock(impl_->threadsafe_mutex);
    impl_->threadsafe_queue.push_back(std::move(callback));
  }
  uv_async_send(impl_->async.get());
}

void IOLoop::call_soon(std::function<void()> callback) {
  if (impl_->soon_queue.empty()) {
    uv_idle_start(impl_->idle.get(),
                  [](uv_idle_t* h) noexcept { static_cast<IOLoop*>(h->data)->drain_soon(); });
  }
  impl_->soon_queue.push_back(std::move(callback));
}

namespace {

// Every callback runs under libuv's C frames: an exception must stop here,
// logged as Tornado's loop logs it, and the loop goes on.
void run_callback(const std::function<void()>& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    log::app.error("Exception in callback: {}", e.what());
  } catch (...) {
    log::app.error("Exception in callback: unknown exception");
  }
}

}  // namespace

void IOLoop::drain_soon() {
  auto batch = std::move(impl_->soon_queue);
  impl_->soon_queue.clear();
  for (auto& fn : batch) run_callback(fn);
  if (impl_->soon_queue.empty() && impl_->idle) uv_idle_stop(impl_->idle.get());
}

}  // namespace tornado::ioloop

namespace tornado::detail {

void IOLoopStreams::after_io(ioloop::IOLoop& loop, void (*fn)(void*), void* arg) {
  auto& impl = *loop.impl_;
  if (impl.after_io.empty()) {
    uv_check_start(impl.check.get(), [](uv_check_t* h) noexcept {
      static_cast<ioloop::IOLoop*>(h->data)->run_after_io();
    });
    // Registered outside a poll (from a timer, say), the calls must not wait
    // for the next I/O event: an active idle handle makes the poll return at once.
    uv_idle_start(impl.after_io_idle.get(), [](uv_idle_t*) noexcept {});
  }
  impl.after_io.emplace_back(fn, arg);
}

void IOLoopStreams::cancel_after_io(ioloop::IOLoop& loop, void (*fn)(void*), void* arg) noexcept {
  auto& calls = loop.impl_->after_io;
  for (auto it = calls.rbegin(); it != calls.rend(); ++it) {
    if (it->first == fn && it->second == arg) {
      it->first = nullptr;
      return;
    }
  }
}

StreamBuffers& IOLoopStreams::buffers(ioloop::IOLoop& loop) noexcept {
  return loop.impl_->stream_buffers;
}

}  // namespace tornado::detail

namespace tornado::ioloop {

void IOLoop::run_after_io() {
  // By index: a call may cancel a later entry, or (never from a poll's own
  // reads) add one, which then runs in this same pass.
  auto& calls = impl_->after_io;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    if (auto [fn, arg] = calls[i]; fn) fn(arg);
  }
  calls.clear();
  uv_check_stop(impl_->check.get());
  uv_idle_stop(impl_->after_io_idle.get());
}

void IOLoop::drain_threadsafe() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(impl_->threadsafe_mutex);
    batch.swap(impl_->threadsafe_queue);
  }
  for (auto& fn : batch) run_callback(fn);
}

TimeoutHandle IOLoop::call_later(Duration delay, std::function<void()> callback) {
  std::uint64_t id = impl_->next_timer_id++;
  auto timer = std::make_unique<uv_timer_t>();
  check(uv_timer_init(loop_, timer.get()), "uv_timer_init");
  timer->data = reinterpret_cast<void*>(static_cast<std::uintptr_t>(id));
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(delay).count();
  uv_timer_start(
      timer.get(),
      [](uv_timer_t* h) noexcept {
        auto* loop = static_cast<IOLoop*>(h->loop->data);
        auto id = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(h->data));
        auto it = loop->impl_->timers.find(id);
        if (it == loop->impl_->timers.end()) return;
        auto callback = std::move(it->second.callback);
        loop->impl_->timers.erase(it);
        run_callback(callback);
      },
      ms < 0 ? 0 : static_cast<std::uint64_t>(ms), 0);
  impl_->timers.emplace(
      id, Impl::Timer{detail::UvHandle<uv_timer_t>(std::move(timer)), std::move(callback)});
  return TimeoutHandle{id};
}

TimeoutHandle IOLoop::call_at(Clock::time_point when, std::function<void()> callback) {
  return call_later(when - Clock::now(), std::move(callback));
}

void IOLoop::remove_timeout(TimeoutHandle handle) {
  impl_->timers.erase(handle.id);
}

void IOLoop::spawn(Task<> task) {
  tornado::spawn(std::move(task));
}

std::shared_ptr<IOLoop::Mailbox> IOLoop::mailbox() {
  if (!impl_->mailbox) {
    impl_->mailbox = std::make_shared<Mailbox>();
    impl_->mailbox->loop = this;
  }
  return impl_->mailbox;
}

void IOLoop::post(const std::shared_ptr<Mailbox>& mailbox, std::function<void()> fn) {
  std::lock_guard lock(mailbox->mutex);
  if (mailbox->loop) mailbox->loop->add_callback(std::move(fn));
}

void IOLoop::set_default_executor(std::shared_ptr<Executor> executor) {
  impl_->default_executor = std::move(executor);
}

Executor& IOLoop::default_executor() {
  if (!impl_->default_executor) impl_->default_executor = std::make_shared<ThreadPoolExecutor>();
  return *impl_->default_executor;
}

void IOLoop::add_signal_handler(int signum, std::function<void()> handler) {
  remove_signal_handler(signum);
  auto sig = std::make_unique<uv_signal_t>();
  check(uv_signal_init(loop_, sig.get()), "uv_signal_init");
  sig->data = this;
  uv_signal_start(
      sig.get(),
      [](uv_signal_t* h, int number) noexcept {
        auto* loop = static_cast<IOLoop*>(h->data);
        auto it = loop->impl_->signals.find(number);
        if (it != loop->impl_->signals.end()) {
          auto callback = it->second.callback;
          run_callback(callback);
        }
      },
      signum);
  // A signal watcher alone must not keep start() from returning.
  uv_unref(reinterpret_cast<uv_handle_t*>(sig.get()));
  impl_->signals.emplace(
      signum, Impl::Signal{detail::UvHandle<uv_signal_t>(std::move(sig)), std::move(handler)});
}

void IOLoop::remove_signal_handler(int signum) {
  impl_->signals.erase(signum);
}

void IOLoop::add_closer(void* owner, std::function<void()> close) {
  impl_->closers[owner] = std::move(close);
}
void IOLoop::remove_closer(void* owner) noexcept {
  if (!closing_) impl_->closers.erase(owner);
}

void IOLoop::add_closer(detail::CloserLink& link,
                        void (*close)(detail::CloserLink*) noexcept) noexcept {
  // One function for the whole list (only streams link themselves): a
  // pointer in the loop instead of one in every stream.
  assert(!impl_->close_linked || impl_->close_linked == close);
  impl_->close_linked = close;
  auto& head = impl_->linked_closers;
  link.prev = &head;
  link.next = head.next;
  head.next->prev = &link;
  head.next = &link;
}

void IOLoop::track(detail::DetachedLink& link) noexcept {
  auto& head = impl_->detached;
  link.prev = &head;
  link.next = head.next;
  head.next->prev = &link;
  head.next = &link;
}

PeriodicCallback::PeriodicCallback(std::function<void()> callback, Duration interval, double jitter)
    : callback_(std::move(callback)), interval_(interval), jitter_(jitter) {
  if (interval <= Duration::zero())
    throw std::invalid_argument("PeriodicCallback interval must be > 0");
  if (jitter < 0 || jitter > 1)
    throw std::invalid_argument("PeriodicCallback jitter must be in [0, 1]");
}

Duration PeriodicCallback::next_interval() {
  if (jitter_ == 0) return interval_;
  // One generator per thread: no shared state between loops.
  thread_local std::mt19937_64 random{std::random_device{}()};
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(random);
  return std::chrono::duration_cast<Duration>(interval_ * (1 + jitter_ * (u - 0.5)));
}

PeriodicCallback::~PeriodicCallback() {
  stop();
}

void PeriodicCallback::start() {
  if (running_) return;
  running_ = true;
  next_ = Clock::now() + next_interval();
  schedule_next();
}

void PeriodicCallback::stop() {
  if (!running_) return;
  running_ = false;
  if (auto* loop = IOLoop::current_or_null()) loop->remove_timeout(timeout_);
  timeout_ = {};
}

void PeriodicCallback::schedule_next() {
  timeout_ = IOLoop::current().call_at(next_, [this] {
    try {
      callback_();
    } catch (const std::exception& e) {
      log::app.error("Exception in PeriodicCallback: {}", e.what());
    }
    if (!running_) return;
    // Skip the beats that were missed instead of running them back to back.
    auto now = Clock::now();
    auto interval = next_interval();
    next_ += interval;
    if (next_ <= now) next_ = now + interval;
    schedule_next();
  });
}

}  // namespace tornado::ioloop

namespace tornado {
namespace detail {

void call_soon(std::function<void()> fn) {
  ioloop::IOLoop::current().call_soon(std::move(fn));
}

void* current_loop_token() noexcept {
  return ioloop::IOLoop::current_or_null();
}

void post_to_loop(void* token, std::function<void()> fn) {
  static_cast<ioloop::IOLoop*>(token)->add_callback(std::move(fn));
}

std::function<void()> arm_timer(std::chrono::steady_clock::duration delay,
                                std::function<void()> fn) {
  auto& loop = ioloop::IOLoop::current();
  auto handle = loop.call_later(delay, std::move(fn));
  return [&loop, handle] { loop.remove_timeout(handle); };
}

void log_multi_exception(std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const CancelledError&) {
    log::gen.error("Multiple exceptions in yield list: CancelledError");
  } catch (const std::exception& e) {
    log::gen.error("Multiple exceptions in yield list: {}", e.what());
  } catch (...) {
    log::gen.error("Multiple exceptions in yield list: unknown exception");
  }
}

void log_spawned_exception(std::exception_ptr error) noexcept {
  try {
    std::rethrow_exception(error);
  } catch (const CancelledError&) {
    // A task that was cancelled ended as asked: nothing went wrong.
    log::gen.debug("Spawned task cancelled");
  } catch (const std::exception& e) {
    log::gen.error("Exception in spawned task: {}", e.what());
  } catch (...) {
    log::gen.error("Exception in spawned task: unknown exception");
  }
}

Detached Detached::promise_type::get_return_object() noexcept {
  link.frame = std::coroutine_handle<promise_type>::from_promise(*this);
  ioloop::IOLoop::current().track(link);
  return {};
}

Detached::promise_type::~promise_type() {
  link.unlink();  // ~IOLoop unlinks a frame before destroying it
}

}  // namespace detail

namespace {
// A timer the coroutine waits on; cancelled, it disarms the timer.
class SleepAwaiter : public detail::CancelHook {
 public:
  explicit SleepAwaiter(std::chrono::steady_clock::duration duration) : duration_(duration) {}
  ~SleepAwaiter() {
    if (timer_) loop_->remove_timeout(timer_);
  }
  bool await_ready() const noexcept { return false; }
  template <class P>
  void await_suspend(std::coroutine_handle<P> h) {
    loop_ = &ioloop::IOLoop::current();
    handle_ = h;
    if (attach(h)) {
      cancel();
      return;
    }
    timer_ = loop_->call_later(duration_, [this] {
      timer_ = {};
      handle_.resume();
    });
  }
  void await_resume() {
    detach();
    if (cancelled_) throw CancelledError();
  }
  bool cancel() noexcept override {
    detach();
    if (timer_) loop_->remove_timeout(std::exchange(timer_, {}));
    cancelled_ = true;
    loop_->call_soon([h = handle_] { h.resume(); });
    return true;
  }

 private:
  std::chrono::steady_clock::duration duration_;
  ioloop::IOLoop* loop_ = nullptr;
  ioloop::TimeoutHandle timer_;
  std::coroutine_handle<> handle_;
  bool cancelled_ = false;
};
}  // namespace

Task<> sleep(std::chrono::steady_clock::duration duration) {
  co_await SleepAwaiter(duration);
}

Task<> moment() {
  struct YieldToLoop {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) const {
      detail::call_soon([h] { h.resume(); });
    }
    void await_resume() const noexcept {}
  };
  co_await YieldToLoop{};
}

}  // namespace tornado
