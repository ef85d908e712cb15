// tornado::concurrent: the thread pool behind IOLoop::run_in_executor (the
// coroutine machinery itself is in concurrent.h and ioloop.cc).
#include "tornado/concurrent.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace tornado {

struct ThreadPoolExecutor::Impl {
  std::size_t max_workers;
  mutable std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::function<void()>> queue;
  std::vector<std::thread> threads;
  std::size_t idle = 0;
  bool stopping = false;

  void run() {
    std::unique_lock lock(mutex);
    for (;;) {
      ++idle;
      wake.wait(lock, [this] { return stopping || !queue.empty(); });
      --idle;
      if (queue.empty()) return;  // stopping, and nothing left to do
      auto work = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      // Work that throws outside run_in_executor (which catches) has nowhere
      // to report to; it must not take the worker down with it.
      try {
        work();
      } catch (...) {
      }
      work = nullptr;  // its captures die here, on the worker, unlocked
      lock.lock();
    }
  }
};

ThreadPoolExecutor::ThreadPoolExecutor(std::size_t max_workers) : impl_(std::make_unique<Impl>()) {
  if (max_workers == 0) {
    max_workers = std::min<std::size_t>(32, std::max(1u, std::thread::hardware_concurrency()) + 4);
  }
  impl_->max_workers = max_workers;
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  shutdown(true);
}

void ThreadPoolExecutor::submit(std::function<void()> work) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->stopping) throw std::logic_error("submit() after ThreadPoolExecutor::shutdown()");
  impl_->queue.push_back(std::move(work));
  // A new thread only when no idle one will pick the work up.
  if (impl_->idle < impl_->queue.size() && impl_->threads.size() < impl_->max_workers) {
    impl_->threads.emplace_back([impl = impl_.get()] { impl->run(); });
  }
  impl_->wake.notify_one();
}

void ThreadPoolExecutor::shutdown(bool wait) {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    if (wait) threads.swap(impl_->threads);
  }
  impl_->wake.notify_all();
  for (auto& thread : threads) thread.join();
}

std::size_t ThreadPoolExecutor::max_workers() const noexcept {
  return impl_->max_workers;
}

std::size_t ThreadPoolExecutor::worker_count() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->threads.size();
}

}  // namespace tornado
