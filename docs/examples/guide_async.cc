// User's Guide, chapter 2 (docs/guide/02-async.*.md): one HTTP fetch written
// three ways: blocking, with a callback, and as a coroutine. Its Python twin
// is docs/guide/python/async_fetch.py.
//
//   ./guide_async http://127.0.0.1:8888/
#include <fmt/core.h>

#include <functional>
#include <string>
#include <utility>

#include "tornado/concurrent.h"
#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/options.h"

// Blocking: the calling thread waits for the answer and does nothing else.
std::string synchronous_fetch(const std::string& url) {
  tornado::httpclient::HTTPClient http_client;
  auto response = http_client.fetch(url);
  return response.body;
}

// A callback: the fetch starts, the function returns at once, and `callback`
// runs on the IOLoop once the answer is there.
void callback_fetch(const std::string& url, std::function<void(std::string)> callback) {
  tornado::httpclient::AsyncHTTPClient http_client;
  auto future = tornado::to_future(http_client.fetch(url));
  future.add_done_callback([future, callback] { callback(future.result().body); });
}

// A coroutine: reads like the blocking version, yet the loop serves others
// while it waits at `co_await`.
tornado::Task<std::string> asynchronous_fetch(std::string url) {
  tornado::httpclient::AsyncHTTPClient http_client;
  auto response = co_await http_client.fetch(url);
  co_return response.body;
}

tornado::Task<> demo(std::string url) {
  // A Future turns the callback back into something a coroutine can await.
  tornado::Future<std::string> got;
  callback_fetch(url, [got](std::string body) mutable { got.set_result(std::move(body)); });
  fmt::print("callback: {} bytes\n", (co_await got).size());
  fmt::print("coroutine: {} bytes\n", (co_await asynchronous_fetch(url)).size());
}

int main(int argc, char** argv) {
  auto args = tornado::options::parse_command_line(argc, argv);
  std::string url = args.empty() ? "http://127.0.0.1:8888/" : args[0];
  fmt::print("synchronous: {} bytes\n", synchronous_fetch(url).size());
  tornado::ioloop::IOLoop::current().run_sync([&] { return demo(url); });
}
