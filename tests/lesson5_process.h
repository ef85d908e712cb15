// The built apps/lesson5 as a test starts it: a process on a free port, its
// output in a log file shown when the test fails. Used by the tests that
// check the app from outside (lesson5_scaleout_test, lesson5_locale_test).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "redis_support.h"

namespace lesson5_testing {

using namespace std::chrono_literals;

const std::string kLesson5 = std::string(TORNADO_BINARY_DIR) + "/apps/lesson5/lesson5";

// One lesson5 process on a free port, its output kept in
// TORNADO_BINARY_DIR/lesson5_<name>.log.
class Lesson5 {
 public:
  Lesson5(std::string name, std::vector<std::string> flags)
      : port_(tornado::testing::free_port()),
        log_path_(std::string(TORNADO_BINARY_DIR) + "/lesson5_" + name + ".log") {
    std::vector<std::string> argv{kLesson5, "--port", std::to_string(port_)};
    argv.insert(argv.end(), flags.begin(), flags.end());
    pid_ = tornado::testing::spawn_process(argv, log_path_);
  }
  ~Lesson5() {
    tornado::testing::stop_process(pid_);
    // A failing test shows what the server said.
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "--- %s:\n%s", log_path_.c_str(), log().c_str());
    }
  }

  /// Waits until this process (not some other) listens on its port.
  bool wait_listening() const {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pid_ <= 0 || ::waitpid(pid_, nullptr, WNOHANG) != 0) return false;  // it exited
      if (log().find("Serving the lesson") != std::string::npos &&
          tornado::testing::port_open(port_)) {
        return true;
      }
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  int port() const { return port_; }
  std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  /// True if the process is still running.
  bool alive() const {
    return pid_ > 0 && ::kill(pid_, 0) == 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0;
  }
  /// SIGTERM; returns the exit status (or -1 if killed by a signal).
  int terminate() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  void kill() { tornado::testing::stop_process(pid_, SIGKILL); }

 private:
  int port_;
  std::string log_path_;
  pid_t pid_ = -1;
};

}  // namespace lesson5_testing
