// fanout_bench: WebSocket topics, 1 publisher to N subscribers on one loop.
//
//   fanout_bench [--subscribers N] [--size BYTES] [--seconds S] [--server-cpu C]
//                [--client-cpu C] [--burst K] [--server topics|ceiling] [--compare R]
//
// Forks a server process (one loop; taskset it, or give --server-cpu) whose
// publisher coroutine publishes SIZE-byte messages on one topic as fast as
// the subscribers take them (policy `wait`, high-water mark 256 KiB); this
// process opens N WebSocket connections that subscribe, counts what they
// receive over S seconds after a one-second warm-up, and reads the server's
// VmRSS and CPU time from /proc. The publisher lets the loop turn every K
// publishes (default 32): the bytes of one turn leave in one system call per
// socket. Prints one JSON line: deliveries per second and per server
// CPU-second, server RSS with the subscribers connected and at the end.
// --server ceiling measures a bare libuv server instead (fanout_ceiling.cc);
// --compare R runs topics and the ceiling in turn R times and prints the
// medians and their ratios, both measured under the same load.
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
#include <cstdlib>
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
  int compare = 0;       // --compare R: R rounds of topics and the ceiling in turn
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

struct Result {
  bool ceiling = false;
  double seconds = 0;
  std::uint64_t received = 0;
  std::size_t rss_connected = 0, rss_end = 0;
  double server_cpu = 0, client_cpu = 0;
  double per_second() const { return seconds > 0 ? static_cast<double>(received) / seconds : 0; }
  double per_server_cpu_second() const {
    return server_cpu > 0 ? static_cast<double>(received) / server_cpu : 0;
  }
};

cpu_set_t initial_cpus;  // restored in a server without --server-cpu

// One run: forks the server (topics or the ceiling) unless it is external,
// connects the subscribers, counts over the window, kills the server.
bool measure(const Options& options, Result& result) {
  result.ceiling = options.ceiling;
  int ports[2];
  if (::pipe(ports) != 0) return false;
  pid_t server = options.external_port ? options.external_pid : ::fork();
  if (server == 0) {
    if (options.server_cpu >= 0) {
      pin(options.server_cpu);
    } else {
      sched_setaffinity(0, sizeof initial_cpus, &initial_cpus);
    }
    if (options.ceiling) {
      std::_Exit(fanout::run_ceiling(options.subscribers, options.size, options.burst, ports[1]));
    }
    {
      IOLoop loop;
      tornado::web::Application app({{"/sub", tornado::web::handler<Subscriber>()}});
      int port = app.listen(0, "127.0.0.1").port();
      (void)!::write(ports[1], &port, sizeof port);
      tornado::spawn(publisher(options));
      loop.start();  // until the parent kills it
    }
    std::_Exit(0);
  }
  int port = options.external_port;
  bool ok = port || ::read(ports[0], &port, sizeof port) == sizeof port;
  ::close(ports[0]);
  ::close(ports[1]);
  if (ok) {
    pin(options.client_cpu);
    IOLoop loop;
    loop.run_sync([&]() -> Task<> {
      std::vector<std::unique_ptr<tornado::websocket::WebSocketClientConnection>> clients;
      tornado::websocket::ConnectOptions connect;
      std::uint64_t received = 0;
      connect.on_message_callback = [&](std::optional<std::string_view> m) {
        if (m) ++received;
      };
      std::string url = "ws://127.0.0.1:" + std::to_string(port) + "/sub";
      for (int i = 0; i < options.subscribers; ++i) {
        clients.push_back(co_await tornado::websocket::websocket_connect(url, connect));
      }
      co_await tornado::sleep(std::chrono::seconds(1));  // warm-up
      result.rss_connected = rss_kib(server);
      std::uint64_t start_count = received;
      double server_cpu_start = cpu_seconds(server), client_cpu_start = cpu_seconds(::getpid());
      auto start = Clock::now();
      co_await tornado::sleep(std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(options.seconds)));
      result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
      result.received = received - start_count;
      result.server_cpu = cpu_seconds(server) - server_cpu_start;
      result.client_cpu = cpu_seconds(::getpid()) - client_cpu_start;
      result.rss_end = rss_kib(server);
    });
  }
  if (!options.external_port) {
    ::kill(server, SIGKILL);
    ::waitpid(server, nullptr, 0);
  }
  return ok;
}

void print(const Result& r, const Options& options) {
  std::printf(
      "{\"server\": \"%s\", \"subscribers\": %d, \"size\": %zu, \"burst\": %d, "
      "\"seconds\": %.2f, \"deliveries_per_s\": %.0f, "
      "\"server_rss_kib_connected\": %zu, \"server_rss_kib_end\": %zu, "
      "\"server_cpu_share\": %.2f, \"client_cpu_share\": %.2f, "
      "\"deliveries_per_server_cpu_s\": %.0f}\n",
      options.external_port ? "external" : (r.ceiling ? "ceiling" : "topics"), options.subscribers,
      options.size, options.burst, r.seconds, r.per_second(), r.rss_connected, r.rss_end,
      r.seconds > 0 ? r.server_cpu / r.seconds : 0, r.seconds > 0 ? r.client_cpu / r.seconds : 0,
      r.per_server_cpu_second());
  std::fflush(stdout);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// --compare R: R rounds of topics then the ceiling, one line per run, then
// the medians and the ratios, so that both are measured under the same load.
int compare(Options options) {
  std::vector<double> topics_wall, topics_cpu, ceiling_wall, ceiling_cpu;
  for (int round = 0; round < options.compare; ++round) {
    for (bool ceiling : {false, true}) {
      options.ceiling = ceiling;
      Result r;
      if (!measure(options, r)) return 1;
      print(r, options);
      (ceiling ? ceiling_wall : topics_wall).push_back(r.per_second());
      (ceiling ? ceiling_cpu : topics_cpu).push_back(r.per_server_cpu_second());
    }
  }
  double tw = median(topics_wall), tc = median(topics_cpu);
  double cw = median(ceiling_wall), cc = median(ceiling_cpu);
  std::printf(
      "{\"rounds\": %d, \"topics_deliveries_per_s\": %.0f, \"ceiling_deliveries_per_s\": %.0f, "
      "\"topics_per_server_cpu_s\": %.0f, \"ceiling_per_server_cpu_s\": %.0f, "
      "\"ratio_per_s\": %.2f, \"ratio_per_server_cpu_s\": %.2f}\n",
      options.compare, tw, cw, tc, cc, cw > 0 ? tw / cw : 0, cc > 0 ? tc / cc : 0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  sched_getaffinity(0, sizeof initial_cpus, &initial_cpus);
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
    } else if (flag == "--compare") {
      options.compare = std::max(1, std::stoi(value));
    } else if (flag == "--client-cpu") {
      options.client_cpu = std::stoi(value);
    } else {
      std::fprintf(stderr, "unknown option %s\n", flag.c_str());
      return 2;
    }
  }
  if (options.compare > 0) return compare(options);
  Result result;
  if (!measure(options, result)) return 1;
  print(result, options);
  return 0;
}
