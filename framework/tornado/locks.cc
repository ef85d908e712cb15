#include "tornado/locks.h"

#include "tornado/log.h"

namespace tornado::detail {

void park(std::shared_ptr<WaitNode> node, std::coroutine_handle<> h,
          std::optional<ioloop::Duration> timeout) {
  node->handle = h;
  if (!timeout) return;
  auto& loop = ioloop::IOLoop::current();
  node->loop = &loop;
  node->timer = loop.call_later(*timeout, [node] {
    if (node->state != WaitNode::State::waiting) return;
    node->state = WaitNode::State::timed_out;
    node->timer = {};
    node->unlink();
    // A timer callback already runs from the loop, so resuming here keeps
    // the rule that waiters are resumed by the loop.
    if (node->handle) node->handle.resume();
  });
}

void wake(std::shared_ptr<WaitNode> node) {
  node->state = WaitNode::State::woken;
  if (node->timer && node->loop) node->loop->remove_timeout(node->timer);
  node->timer = {};
  call_soon([node = std::move(node)] {
    if (node->handle) node->handle.resume();
  });
}

bool abandon(WaitNode& node, bool resumed) noexcept {
  // The frame holding the coroutine is going away: nothing may resume it.
  node.handle = {};
  switch (node.state) {
    case WaitNode::State::waiting:
      node.state = WaitNode::State::abandoned;
      node.unlink();
      if (node.timer && node.loop) node.loop->remove_timeout(node.timer);
      node.timer = {};
      return false;
    case WaitNode::State::woken:
      return !resumed;
    case WaitNode::State::timed_out:
    case WaitNode::State::abandoned:
    case WaitNode::State::cancelled:
      return false;
  }
  return false;
}

bool cancel_node(const std::shared_ptr<WaitNode>& node) noexcept {
  if (node->state != WaitNode::State::waiting) return false;
  node->state = WaitNode::State::cancelled;
  node->unlink();
  if (node->timer && node->loop) node->loop->remove_timeout(node->timer);
  node->timer = {};
  call_soon([node] {
    if (node->handle) node->handle.resume();
  });
  return true;
}

bool SemaphoreState::release() {
  if (bound >= 0 && value >= bound) return false;
  if (auto node = waiters.pop()) {
    wake(std::move(node));
  } else {
    ++value;
  }
  return true;
}

void EventWaiter::await_resume() {
  resuming();
  if (timed_out()) throw TimeoutError("Timeout waiting for Event");
}

AcquireAwaiter::~AcquireAwaiter() {
  // Woken with a unit the coroutine never received (its frame was destroyed
  // before the loop resumed it): pass the unit on instead of losing it.
  if (take_undelivered()) state_->release();
}

locks::Guard AcquireAwaiter::await_resume() {
  resuming();
  if (timed_out()) throw TimeoutError("Timeout acquiring semaphore");
  return locks::Guard(state_);
}

}  // namespace tornado::detail

namespace tornado::locks {

Event::Event() : state_(std::make_shared<detail::EventState>()) {}

bool Event::is_set() const noexcept {
  return state_->value;
}

void Event::set() {
  if (state_->value) return;
  state_->value = true;
  while (auto node = state_->waiters.pop()) detail::wake(std::move(node));
}

void Event::clear() noexcept {
  state_->value = false;
}

detail::EventWaiter Event::wait(std::optional<Duration> timeout) const {
  return detail::EventWaiter(state_, timeout);
}

Condition::Condition() : waiters_(std::make_shared<detail::WaitList<detail::WaitNode>>()) {}

detail::ConditionWaiter Condition::wait(std::optional<Duration> timeout) {
  return detail::ConditionWaiter(waiters_, timeout);
}

void Condition::notify(int n) {
  for (; n > 0; --n) {
    auto node = waiters_->pop();
    if (!node) break;
    detail::wake(std::move(node));
  }
}

void Condition::notify_all() {
  while (auto node = waiters_->pop()) detail::wake(std::move(node));
}

Guard& Guard::operator=(Guard&& other) noexcept {
  if (this != &other) {
    Guard old(std::move(*this));
    state_ = std::move(other.state_);
  }
  return *this;
}

Guard::~Guard() {
  if (state_ && !state_->release()) {
    // Someone released this unit by hand as well; throwing from a destructor
    // would terminate, so the misuse is reported instead.
    log::gen.error("Semaphore released too many times (by a Guard)");
  }
}

void Guard::release() {
  if (!state_) throw std::logic_error("Guard already released");
  auto state = std::move(state_);
  if (!state->release()) throw std::invalid_argument("Semaphore released too many times");
}

Semaphore::Semaphore(int value) : Semaphore(value, -1) {}

Semaphore::Semaphore(int value, int bound) : state_(std::make_shared<detail::SemaphoreState>()) {
  if (value < 0) throw std::invalid_argument("semaphore initial value must be >= 0");
  state_->value = value;
  state_->bound = bound;
}

detail::AcquireAwaiter Semaphore::acquire(std::optional<Duration> timeout) {
  return detail::AcquireAwaiter(state_, timeout);
}

void Semaphore::release() {
  if (!state_->release()) throw std::invalid_argument("Semaphore released too many times");
}

int Semaphore::value() const noexcept {
  return state_->value;
}

BoundedSemaphore::BoundedSemaphore(int value) : Semaphore(value, value < 0 ? 0 : value) {}

Lock::Lock() : state_(std::make_shared<detail::SemaphoreState>()) {
  state_->value = 1;
  state_->bound = 1;
}

detail::AcquireAwaiter Lock::acquire(std::optional<Duration> timeout) {
  return detail::AcquireAwaiter(state_, timeout);
}

void Lock::release() {
  if (!state_->release()) throw std::logic_error("release unlocked lock");
}

bool Lock::locked() const noexcept {
  return state_->value == 0;
}

}  // namespace tornado::locks
