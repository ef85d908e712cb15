// User's Guide, chapter 3 (docs/guide/03-coroutines.*.md): coroutines one
// after another and side by side, a timeout, a task in the background, and
// blocking work handed to a thread. Its Python twin is
// docs/guide/python/coroutines.py; both print the same lines.
//
//   ./guide_coroutines
#include <fmt/core.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"

using namespace std::chrono_literals;

// A coroutine returns a Task, waits with co_await and ends with co_return.
tornado::Task<int> slow_square(int x) {
  co_await tornado::sleep(x * 10ms);
  co_return x* x;
}

// One after the other: the second starts when the first is done (~30 ms).
tornado::Task<int> sequential() {
  int a = co_await slow_square(1);
  int b = co_await slow_square(2);
  co_return a + b;
}

// Side by side: gather starts both and waits for both (~20 ms).
tornado::Task<int> parallel() {
  std::vector<tornado::Task<int>> tasks;
  tasks.push_back(slow_square(1));
  tasks.push_back(slow_square(2));
  std::vector<int> squares = co_await tornado::gather(std::move(tasks));
  co_return squares[0] + squares[1];
}

// A deadline: with_timeout throws TimeoutError; the work itself goes on.
tornado::Task<> impatient() {
  try {
    co_await tornado::with_timeout(5ms, slow_square(3));
  } catch (const tornado::TimeoutError&) {
    fmt::print("slow_square(3) took too long\n");
  }
}

// Parameters are copied into the coroutine's frame, so `name` stays valid
// however long the coroutine waits, even after the caller's string is gone.
tornado::Task<> greet_later(std::string name, tornado::Future<> done) {
  co_await tornado::sleep(1ms);
  fmt::print("hello, {}\n", name);
  done.set_result();
}

tornado::Task<> background() {
  tornado::Future<> done;
  {
    std::string name = "world";
    tornado::spawn(greet_later(name, done));  // runs on without us awaiting it
  }                                           // `name` ends here; greet_later has its own copy
  co_await done;
}

// Wrong: a capturing lambda coroutine keeps a pointer to the lambda object,
// which is destroyed at the end of the statement while the coroutine sleeps:
//
//   std::string name = "world";
//   tornado::spawn([&name]() -> tornado::Task<> {
//     co_await tornado::sleep(1ms);
//     fmt::print("hello, {}\n", name);  // the lambda (and maybe name) is gone
//   }());
//
// Right: pass what the coroutine needs as parameters.
tornado::Task<> lambda_right() {
  std::string name = "lambda";
  tornado::Future<> done;
  tornado::spawn([](std::string who, tornado::Future<> finished) -> tornado::Task<> {
    co_await tornado::sleep(1ms);
    fmt::print("hello, {}\n", who);
    finished.set_result();
  }(name, done));
  co_await done;
}

// Blocking work belongs on another thread; the result comes back to the loop
// through add_callback, the one IOLoop method other threads may call.
tornado::Task<long> sum_on_thread(long n) {
  auto& loop = tornado::ioloop::IOLoop::current();
  tornado::Future<long> result;
  std::thread worker([&loop, result, n] {
    long sum = 0;
    for (long i = 1; i <= n; ++i) sum += i;
    loop.add_callback([result, sum]() mutable { result.set_result(sum); });
  });
  long sum = co_await result;
  worker.join();
  co_return sum;
}

tornado::Task<> main_coroutine() {
  fmt::print("sequential: {}\n", co_await sequential());
  fmt::print("parallel: {}\n", co_await parallel());
  co_await impatient();
  co_await background();
  co_await lambda_right();
  fmt::print("sum on a thread: {}\n", co_await sum_on_thread(1000000));
}

int main() {
  tornado::ioloop::IOLoop::current().run_sync(main_coroutine);
}
