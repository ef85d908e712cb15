// pubsub_bench: what tornado::pubsub and lesson5's shared room cost.
//
//   pubsub_bench inprocess [N]          N publishes from one loop to two
//                                       subscribed loops on other threads
//   pubsub_bench redis URL [N]          publish -> delivery latency one at a
//                                       time, then N publishes in flight at once
//   pubsub_bench chat PORT_A PORT_B     a lesson5 chat message from a client on
//                                       127.0.0.1:PORT_A to one on PORT_B
//
// Build in Release (cmake -DCMAKE_BUILD_TYPE=Release); figures are in
// docs/deployment.md.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/pubsub.h"
#include "tornado/websocket.h"

namespace {

using Clock = std::chrono::steady_clock;
using tornado::Task;
using tornado::ioloop::IOLoop;

const std::string kPayload(40, 'x');

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

void report_latency(const char* what, std::vector<double> micros) {
  std::sort(micros.begin(), micros.end());
  std::printf("%s (%zu): p50 %.0f us, p99 %.0f us\n", what, micros.size(),
              micros[micros.size() / 2], micros[micros.size() * 99 / 100]);
}

void in_process(int n) {
  tornado::pubsub::InProcessBroker broker;
  constexpr int kLoops = 2;
  std::latch subscribed(kLoops);
  std::vector<std::thread> threads;
  for (int i = 0; i < kLoops; ++i) {
    threads.emplace_back([&] {
      IOLoop loop;
      int count = 0;
      auto subscription = broker.subscribe("bench", [&](auto, auto) {
        if (++count == n) IOLoop::current().stop();
      });
      subscribed.count_down();
      loop.start();
    });
  }
  subscribed.wait();
  IOLoop loop;
  auto started = Clock::now();
  loop.run_sync([&]() -> Task<> {
    for (int i = 0; i < n; ++i) co_await broker.publish("bench", kPayload);
  });
  for (auto& thread : threads) thread.join();
  double took = seconds(Clock::now() - started);
  std::printf(
      "in-process: %d publishes to %d loops in %.3f s: %.0f publishes/s, %.0f deliveries/s\n", n,
      kLoops, took, n / took, kLoops * n / took);
}

void redis(const std::string& url, int n) {
  IOLoop loop;
  tornado::pubsub::RedisBroker publisher(url);
  tornado::pubsub::RedisBroker subscriber(url);
  loop.run_sync([&]() -> Task<> {
    co_await publisher.wait_connected();
    co_await subscriber.wait_connected();
    int received = 0;
    tornado::Future<> arrived;
    auto subscription = subscriber.subscribe("bench", [&](auto, auto) {
      ++received;
      if (!arrived.done()) arrived.set_result();
    });
    co_await subscription.ready();
    std::vector<double> micros;
    for (int i = 0; i < 2000; ++i) {
      arrived = tornado::Future<>();
      auto sent = Clock::now();
      co_await publisher.publish("bench", kPayload);
      co_await arrived;
      micros.push_back(seconds(Clock::now() - sent) * 1e6);
    }
    report_latency("redis: publish -> delivery, one at a time", micros);
    received = 0;
    auto started = Clock::now();
    std::vector<tornado::Future<std::size_t>> in_flight;
    in_flight.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      in_flight.push_back(tornado::to_future(publisher.publish("bench", kPayload)));
    }
    for (auto& publish : in_flight) co_await publish;
    while (received < n) co_await tornado::sleep(std::chrono::milliseconds(1));
    double took = seconds(Clock::now() - started);
    std::printf("redis: %d publishes in flight at once, all delivered in %.3f s: %.0f messages/s\n",
                n, took, n / took);
  });
}

void chat(int port_a, int port_b) {
  IOLoop loop;
  loop.run_sync([&]() -> Task<> {
    auto url = [](int port) {
      return "ws://127.0.0.1:" + std::to_string(port) + "/chatsocket?nick=bench";
    };
    tornado::websocket::ConnectOptions options;  // named: see tests/lesson5_scaleout_test.cc
    auto connect_a = tornado::websocket::websocket_connect(url(port_a), options);
    auto a = co_await connect_a;
    auto connect_b = tornado::websocket::websocket_connect(url(port_b), options);
    auto b = co_await connect_b;
    // Until B has sent its join, a message may arrive inside B's history
    // instead of on its own.
    for (;;) {
      auto text = co_await b->read_message();
      if (!text) co_return;
      if (nlohmann::json::parse(*text, nullptr, false).value("type", "") == "join") break;
    }
    std::vector<double> micros;
    for (int i = 0; i < 500; ++i) {
      std::string body = "message " + std::to_string(i);
      auto sent = Clock::now();
      a->write_message(nlohmann::json{{"body", body}}.dump());
      for (;;) {
        auto text = co_await b->read_message();
        if (!text) co_return;
        auto frame = nlohmann::json::parse(*text, nullptr, false);
        if (frame.is_object() && frame.value("body", "") == body) break;
      }
      micros.push_back(seconds(Clock::now() - sent) * 1e6);
    }
    report_latency("chat: a message from a client on A to one on B", micros);
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 1 && args[0] == "inprocess") {
    in_process(args.size() > 1 ? std::stoi(args[1]) : 200000);
  } else if (args.size() >= 2 && args[0] == "redis") {
    redis(args[1], args.size() > 2 ? std::stoi(args[2]) : 100000);
  } else if (args.size() == 3 && args[0] == "chat") {
    chat(std::stoi(args[1]), std::stoi(args[2]));
  } else {
    std::fprintf(stderr,
                 "usage: pubsub_bench inprocess [N] | redis URL [N] | chat PORT_A PORT_B\n");
    return 2;
  }
  return 0;
}
