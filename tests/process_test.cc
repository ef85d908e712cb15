// tornado::process: workers on threads (one IOLoop each, one port shared with
// SO_REUSEPORT), and forked workers supervised by their parent (through
// apps/echo's --workers N --fork, a real server process).
#include "tornado/process.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "tornado/httpserver.h"
#include "tornado/ioloop.h"
#include "tornado/netutil.h"
#include "tornado/web.h"

namespace {

using namespace std::chrono_literals;
using tornado::ioloop::IOLoop;

// One blocking HTTP/1.0 request on a fresh connection; the whole response.
std::string http_get(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
    if (write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<std::size_t>(n));
    }
  }
  close(fd);
  return response;
}

std::string body_of(const std::string& response) {
  auto at = response.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : response.substr(at + 4);
}

int free_port() {
  auto sockets = tornado::netutil::bind_sockets(0, "127.0.0.1");
  return sockets.front().port();
}

class WhoHandler : public tornado::web::RequestHandler {
 public:
  void get() { write(std::to_string(tornado::process::task_id().value_or(-1))); }
};

TEST(RunWorkers, EachWorkerHasItsOwnLoopThreadAndId) {
  std::mutex mutex;
  std::set<int> ids;
  std::set<IOLoop*> loops;
  std::set<std::thread::id> threads;
  tornado::process::run_workers(3, [&](int id) {
    {
      std::lock_guard lock(mutex);
      ids.insert(id);
      loops.insert(&IOLoop::current());
      threads.insert(std::this_thread::get_id());
    }
    EXPECT_EQ(tornado::process::task_id(), id);
    auto& loop = IOLoop::current();
    loop.call_later(10ms, [&loop] { loop.stop(); });
    loop.start();
  });
  EXPECT_EQ(ids, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(loops.size(), 3u);
  EXPECT_EQ(threads.size(), 3u);
  EXPECT_TRUE(threads.contains(std::this_thread::get_id()));  // worker 0 runs here
  EXPECT_FALSE(tornado::process::task_id().has_value());
}

TEST(RunWorkers, OnePortIsServedByEveryLoop) {
  int port = free_port();
  std::atomic<int> listening{0};
  std::mutex mutex;
  std::set<std::string> answered_by;
  tornado::process::run_workers(2, [&](int id) {
    auto& loop = IOLoop::current();
    auto app = std::make_shared<tornado::web::Application>(
        std::vector<tornado::web::URLSpec>{{"/who", tornado::web::handler<WhoHandler>()}});
    app->listen(port, "127.0.0.1", {}, {.reuse_port = true});
    ++listening;
    std::thread client;
    if (id == 0) {
      // The kernel spreads connections over the two sockets by their
      // addresses; 200 fresh connections reach both loops.
      client = std::thread([&] {
        while (listening.load() < 2) std::this_thread::sleep_for(1ms);
        for (int i = 0; i < 200; ++i) {
          std::string who = body_of(http_get(port, "/who"));
          std::lock_guard lock(mutex);
          answered_by.insert(who);
        }
        raise(SIGUSR2);
      });
    }
    // A signal reaches every loop that asked for it: both stop.
    loop.add_signal_handler(SIGUSR2, [&loop] { loop.stop(); });
    loop.start();
    if (client.joinable()) client.join();
  });
  EXPECT_EQ(answered_by, (std::set<std::string>{"0", "1"}));
}

TEST(RunWorkers, AFailingWorkerStopsTheOthersAndItsErrorIsRethrown) {
  auto run = [] {
    tornado::process::run_workers(3, [](int id) {
      if (id == 2) throw std::runtime_error("worker 2 cannot bind");
      IOLoop::current().start();  // stopped by run_workers
    });
  };
  EXPECT_THROW(run(), std::runtime_error);
}

TEST(TCPServer, BindThenStartAcceptsOnTheBoundSockets) {
  auto app = std::make_shared<tornado::web::Application>(
      std::vector<tornado::web::URLSpec>{{"/who", tornado::web::handler<WhoHandler>()}});
  tornado::httpserver::HTTPServer server(app);
  int port = free_port();
  server.bind(port, "127.0.0.1");
  server.start(1);
  std::string response;
  std::atomic<bool> done{false};
  std::thread client([&] {
    response = http_get(port, "/who");
    done = true;
  });
  auto& loop = IOLoop::current();
  tornado::ioloop::PeriodicCallback poll(
      [&] {
        if (done) loop.stop();
      },
      5ms);
  poll.start();
  loop.start();
  poll.stop();
  client.join();
  EXPECT_EQ(body_of(response), "-1");  // not under run_workers: no task id
}

// apps/echo with --workers 2 --fork: a supervising parent and two children.
class ForkedServer {
 public:
  explicit ForkedServer(int port)
      : log_(std::filesystem::temp_directory_path() /
             ("process_test_" + std::to_string(getpid()) + ".log")) {
    std::string binary = TORNADO_BINARY_DIR "/apps/echo/echo_server";
    std::string port_flag = "--port=" + std::to_string(port);
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = std::freopen(log_.c_str(), "w", stderr);
      (void)out;
      execl(binary.c_str(), binary.c_str(), port_flag.c_str(), "--workers=2", "--fork",
            static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~ForkedServer() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::filesystem::remove(log_);
  }
  pid_t pid() const { return pid_; }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  // The children's pids, from the kernel's list of the parent's children.
  std::vector<pid_t> children() const {
    std::vector<pid_t> out;
    std::ifstream in("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) +
                     "/children");
    pid_t child;
    while (in >> child) out.push_back(child);
    return out;
  }
  // Waits for the parent to exit; its exit status, or -1 past the deadline.
  int wait_exit(std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds deadline = 5000ms) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

TEST(ForkProcesses, ChildrenServeAreRestartedAndStopWithTheParent) {
  int port = free_port();
  ForkedServer server(port);
  ASSERT_TRUE(eventually([&] { return server.children().size() == 2; }));
  ASSERT_TRUE(eventually([&] { return body_of(http_get(port, "/plaintext")) == "Hello, World!"; }));

  // A child killed by a signal is replaced; the port keeps answering.
  pid_t victim = server.children().front();
  kill(victim, SIGKILL);
  ASSERT_TRUE(eventually([&] {
    auto now = server.children();
    return now.size() == 2 && std::find(now.begin(), now.end(), victim) == now.end();
  }));
  EXPECT_TRUE(eventually([&] { return body_of(http_get(port, "/plaintext")) == "Hello, World!"; }));
  EXPECT_NE(server.log().find("killed by signal 9, restarting"), std::string::npos);

  // SIGTERM to the parent reaches the children; all exit cleanly.
  auto children = server.children();
  kill(server.pid(), SIGTERM);
  EXPECT_EQ(server.wait_exit(5000ms), 0);
  for (pid_t child : children) EXPECT_NE(kill(child, 0), 0) << "child " << child << " still runs";
  EXPECT_NE(server.log().find("exited normally"), std::string::npos);
}

}  // namespace
