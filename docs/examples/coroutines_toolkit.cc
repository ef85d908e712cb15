// The concurrency toolkit of docs/coroutines.md as one program: a long poll
// cancelled when its client leaves, blocking work on a thread pool, tasks
// run together (multi, WaitIterator), a timeout, a jittered timer.
// Build: part of the test build (docs/examples/*.cc); run: no arguments.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/ioloop.h"
#include "tornado/locks.h"
#include "tornado/web.h"

using namespace std::chrono_literals;
using tornado::Task;

// --- cancellation: Tornado's long-polling chat (demos/chat) ---
tornado::locks::Condition new_messages;
std::vector<std::string> cache;

class MessageUpdatesHandler : public tornado::web::RequestHandler {
 public:
  Task<> post() {
    while (cache.empty()) {
      // Kept, so that on_connection_close can cancel it.
      wait_future_ = tornado::to_future(new_messages.wait());
      try {
        co_await wait_future_;
      } catch (const tornado::CancelledError&) {
        co_return;  // the client left: no answer, no access-log line
      }
    }
    write(cache.back());
  }
  void on_connection_close() override { wait_future_.cancel(); }

 private:
  tornado::Future<bool> wait_future_;
};

// --- executors: blocking work off the loop ---
std::string slow_hash(const std::string& password) {
  return std::to_string(std::hash<std::string>{}(password));  // stands in for bcrypt
}

Task<std::string> hash_password(std::string password) {
  auto& loop = tornado::ioloop::IOLoop::current();
  co_return co_await loop.run_in_executor(nullptr, [password] { return slow_hash(password); });
}

// --- composition ---
Task<int> fetch_count(int n) {
  co_await tornado::sleep(std::chrono::milliseconds(10 * n));
  co_return n;
}

Task<> compose() {
  std::vector<Task<int>> tasks;
  for (int n : {3, 1, 2}) tasks.push_back(fetch_count(n));
  std::vector<int> in_order = co_await tornado::multi(std::move(tasks));

  std::map<std::string, Task<int>> named;
  named.emplace("a", fetch_count(1));
  named.emplace("b", fetch_count(2));
  std::map<std::string, int> by_key = co_await tornado::multi(std::move(named));

  std::vector<Task<int>> racing;
  for (int n : {3, 1, 2}) racing.push_back(fetch_count(n));
  tornado::WaitIterator<int> it(std::move(racing));
  while (!it.done()) {
    int value = co_await it.next();
    std::printf("task %zu finished with %d\n", it.current_index(), value);
  }
  std::printf("multi: %d %d %d, a=%d b=%d\n", in_order[0], in_order[1], in_order[2], by_key["a"],
              by_key["b"]);
}

// --- timeouts and cancelling a task ---
Task<> timeouts() {
  tornado::Future<int> never;
  try {
    co_await tornado::with_timeout(50ms, never);
  } catch (const tornado::TimeoutError&) {
    std::printf("timed out; the work was not cancelled: %s\n", never.done() ? "no" : "yes");
  }
  auto sleeping = tornado::to_future(tornado::sleep(1h));
  sleeping.cancel();
  try {
    co_await sleeping;
  } catch (const tornado::CancelledError&) {
    std::printf("the sleep was cancelled\n");
  }
}

int main() {
  tornado::ioloop::IOLoop loop;
  tornado::ioloop::PeriodicCallback heartbeat([] { std::printf("tick\n"); }, 20ms, 0.1);
  heartbeat.start();
  tornado::web::Application app(
      {{"/a/message/updates", tornado::web::handler<MessageUpdatesHandler>()}});
  app.listen(0, "127.0.0.1");
  loop.run_sync([]() -> Task<> {
    std::printf("hash: %s\n", (co_await hash_password("secret")).c_str());
    co_await compose();
    co_await timeouts();
  });
  heartbeat.stop();
}
