// A real redis-server for tests: started on a free port, without
// persistence, killed when the object goes (or on demand, to test outages).
// Tests skip themselves when redis-server is not installed.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tornado/netutil.h"

extern char** environ;

namespace tornado::testing {

/// Finds a free TCP port on 127.0.0.1 (bound, read, released), never the
/// same one twice in this process, so that servers started one after the
/// other cannot be handed the same port.
inline int free_port() {
  static std::set<int> given;
  for (;;) {
    auto sockets = netutil::bind_sockets(0, "127.0.0.1");
    int port = sockets.at(0).port();
    if (given.insert(port).second) return port;
  }
}

/// True if something accepts TCP connections on 127.0.0.1:`port`.
inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return open;
}

/// Waits up to `timeout` for `port` to accept connections.
inline bool wait_for_port(int port, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (port_open(port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

/// Starts `argv` as a child process with stdout/stderr sent to `log_path`
/// (or /dev/null); returns its pid, or -1.
inline pid_t spawn_process(const std::vector<std::string>& argv, const std::string& log_path = "") {
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const char* out = log_path.empty() ? "/dev/null" : log_path.c_str();
  posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int status = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return status == 0 ? pid : -1;
}

/// Sends `signal` and reaps the child.
inline void stop_process(pid_t& pid, int signal = SIGKILL) {
  if (pid <= 0) return;
  ::kill(pid, signal);
  int status = 0;
  ::waitpid(pid, &status, 0);
  pid = -1;
}

/// True if `program` is on PATH.
inline bool have_program(const std::string& program) {
  std::string command = "command -v " + program + " > /dev/null 2>&1";
  return std::system(command.c_str()) == 0;
}

class RedisServer {
 public:
  RedisServer() : port_(free_port()) {}
  ~RedisServer() { stop(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  static bool available() { return have_program("redis-server"); }

  /// Starts (again, on the same port); false if it did not come up.
  bool start() {
    pid_ = spawn_process({"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no"});
    return pid_ > 0 && wait_for_port(port_, std::chrono::seconds(5));
  }
  /// Kills it (SIGKILL: as abrupt as a crash).
  void stop() { stop_process(pid_); }

  int port() const { return port_; }
  std::string url(int db = 0) const {
    return "redis://127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }

 private:
  int port_;
  pid_t pid_ = -1;
};

}  // namespace tornado::testing
