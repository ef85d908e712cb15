// fanout_bench: WebSocket topics, 1 publisher to N subscribers on one loop.
//
//   fanout_bench [--subscribers N] [--size BYTES] [--seconds S] [--server-cpu C]
//                [--client-cpu C] [--burst K] [--server topics|ceiling]
//
// Forks a server process (one loop; taskset it, or give --server-cpu) whose
// publisher coroutine publishes SIZE-byte messages on one topic as fast as
// the subscribers take them (policy `wait`, high-water mark 256 KiB); this
// process opens N WebSocket connections that subscribe, counts what they
// receive over S seconds after a one-second warm-up, and reads the server's
// VmRSS from /proc. The publisher lets the loop turn every K publishes
// (default 32): the bytes of one turn leave in one system call per socket. Prints one JSON line:
// deliveries per second, server RSS with the subscribers connected and at the end.
//
// Build in Release (cmake -DCMAKE_BUILD_TYPE=Release); figures and the
// caveats of a shared machine are in docs/performance.md.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "fanout_ceiling.h"
#include "tornado/ioloop.h"
#include "tornado/web.h"
#include "tornado/websocket.h"

namespace {

using Clock = std::chrono::steady_clock;
using tornado::Task;
using tornado::ioloop::IOLoop;

struct Options {
  int subscribers = 1000;
  std::size_t size = 20;
  double seconds = 5;
  int server_cpu = -1;
  int client_cpu = -1;
  int burst = 32;        // publishes between two turns of the loop
  bool ceiling = false;  // --server ceiling: fanout_ceiling.cc instead of topics
  // --external PORT PID: load a server started elsewhere (Node's ws,
  // Tornado; see node_fanout.js and tornado_fanout.py) instead of forking one.
  int external_port = 0;
  pid_t external_pid = 0;
};

int subscribed_count = 0;  // server process only

class Subscriber : public tornado::websocket::WebSocketHandler {
 public:
  void open() {
    subscribe("bench");
    ++subscribed_count;
  }
  void on_message(std::string_view) {}
  tornado::websocket::Backpressure get_backpressure() override {
    return {.high_water_mark = 256 * 1024,
            .policy = tornado::websocket::Overflow::wait,
            .deadline = std::chrono::seconds(30)};
  }
};

// Publishes until killed, once every subscriber is there.
Task<> publisher(const Options& options) {
  while (subscribed_count < options.subscribers) {
    co_await tornado::sleep(std::chrono::milliseconds(10));
  }
  std::string message(options.size, 'x');
  for (std::uint64_t n = 0;; ++n) {
    co_await tornado::websocket::publish("bench", message);
    // Lets the loop flush and read between bursts.
    if (n % static_cast<std::uint64_t>(options.burst) == 0) co_await tornado::moment();
  }
}

void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

// CPU seconds (user + system) a process has used, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  // Fields 3.. follow the name; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::size_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    std::string value = argv[i + 1];
    if (flag == "--subscribers") {
      options.subscribers = std::stoi(value);
    } else if (flag == "--size") {
      options.size = std::stoul(value);
    } else if (flag == "--seconds") {
      options.seconds = std::stod(value);
    } else if (flag == "--server-cpu") {
      options.server_cpu = std::stoi(value);
    } else if (flag == "--external" && i + 2 < argc) {
      options.external_port = std::stoi(value);
      options.external_pid = static_cast<pid_t>(std::stoi(argv[i + 2]));
      ++i;
    } else if (flag == "--burst") {
      options.burst = std::max(1, std::stoi(value));
    } else if (flag == "--server" && (value == "topics" || value == "ceiling")) {
      options.ceiling = value == "ceiling";
    } else if (flag == "--client-cpu") {
      options.client_cpu = std::stoi(value);
    } else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  int ports[2];
  if (::pipe(ports) != 0) return 1;
  pid_t server = options.external_port ? options.external_pid : ::fork();
  if (server == 0) {
    pin(options.server_cpu);
    if (options.ceiling) {
      return fanout::run_ceiling(options.subscribers, options.size, options.burst, ports[1]);
    }
    IOLoop loop;
    tornado::web::Application app({{"/sub", tornado::web::handler<Subscriber>()}});
    int port = app.listen(0, "127.0.0.1").port();
    (void)!::write(ports[1], &port, sizeof port);
    tornado::spawn(publisher(options));
    loop.start();  // until the parent kills it
    return 0;
  }
  int port = options.external_port;
  if (!port && ::read(ports[0], &port, sizeof port) != sizeof port) return 1;
  pin(options.client_cpu);
  IOLoop loop;
  std::uint64_t received = 0;
  std::size_t rss_connected = 0, rss_end = 0;
  double seconds = 0, server_cpu = 0, client_cpu = 0;
  loop.run_sync([&]() -> Task<> {
    std::vector<std::unique_ptr<tornado::websocket::WebSocketClientConnection>> clients;
    tornado::websocket::ConnectOptions connect;
    connect.on_message_callback = [&](std::optional<std::string_view> m) {
      if (m) ++received;
    };
    std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/sub";
    for (int i = 0; i < options.subscribers; ++i) {
      clients.push_back(co_await tornado::websocket::websocket_connect(url, connect));
    }
    co_await tornado::sleep(std::chrono::seconds(1));  // warm-up
    rss_connected = rss_kib(server);
    std::uint64_t start_count = received;
    double server_cpu_start = cpu_seconds(server), client_cpu_start = cpu_seconds(::getpid());
    auto start = Clock::now();
    co_await tornado::sleep(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options.seconds)));
    seconds = std::chrono::duration<double>(Clock::now() - start).count();
    received -= start_count;
    server_cpu = cpu_seconds(server) - server_cpu_start;
    client_cpu = cpu_seconds(::getpid()) - client_cpu_start;
    rss_end = rss_kib(server);
  });
  if (!options.external_port) {
    ::kill(server, SIGKILL);
    ::waitpid(server, nullptr, 0);
  }
  std::printf(
      "{\"subscribers\": %d, \"size\": %zu, \"seconds\": %.2f, \"deliveries_per_s\": %.0f, "
      "\"server_rss_kib_connected\": %zu, \"server_rss_kib_end\": %zu, "
      "\"server_cpu_share\": %.2f, \"client_cpu_share\": %.2f, "
      "\"deliveries_per_server_cpu_s\": %.0f}\n",
      options.subscribers, options.size, seconds, static_cast<double>(received) / seconds,
      rss_connected, rss_end, server_cpu / seconds, client_cpu / seconds,
      server_cpu > 0 ? static_cast<double>(received) / server_cpu : 0.0);
  return 0;
}
