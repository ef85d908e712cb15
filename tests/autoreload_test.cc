// Tests for tornado::autoreload: a real server process (tests/autoreload_server.cc)
// is started, one of its files is touched, and the same process (same PID:
// an exec, as Tornado's) comes back on the same port as a new image.
#include "tornado/autoreload.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tornado/httpclient.h"
#include "tornado/ioloop.h"
#include "tornado/web.h"

#ifndef AUTORELOAD_SERVER
#error "AUTORELOAD_SERVER must name the test server binary"
#endif

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Sets `path`'s modification time 7 s past its current one: a change no
// file system timestamp granularity can hide.
void touch(const fs::path& path) {
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  times[1].tv_sec += 7;
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

class ServerProcess {
 public:
  ServerProcess(const fs::path& binary, std::vector<std::string> args) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::unsetenv("AUTORELOAD_TEST_GENERATION");
      ::unsetenv("AUTORELOAD_TEST_PORT");
      std::vector<char*> argv{const_cast<char*>(binary.c_str())};
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    out_ = fds[0];
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  pid_t pid() const { return pid_; }

  /// The next line the server prints that starts with `prefix` (its log
  /// lines interleave), waiting at most 15 s; "" if none.
  std::string next(std::string_view prefix) {
    while (true) {
      std::string line = next_line();
      if (line.empty() || line.starts_with(prefix)) return line;
      skipped.push_back(line);
    }
  }
  std::string next_line() { return next_line(15s); }
  /// Lines `next()` passed over.
  std::vector<std::string> skipped;

  /// The next line the server prints, waiting at most `timeout`; "" if none.
  std::string next_line(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return {};
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
      char chunk[512];
      ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return {};
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffer_;
};

std::string get(int port, const std::string& path) {
  tornado::ioloop::IOLoop loop;
  return loop.run_sync(
      [&]() -> tornado::Task<std::string> {
        tornado::httpclient::AsyncHTTPClient client;
        auto response = co_await client.fetch("http://127.0.0.1:" + std::to_string(port) + path);
        co_return std::string(response.body);
      },
      10s);
}

class AutoreloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tornado_autoreload_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "templates");
    // A copy of the server, so touching "its executable" leaves the build alone.
    binary_ = dir_ / "autoreload_server";
    fs::copy_file(AUTORELOAD_SERVER, binary_);
    fs::permissions(binary_, fs::perms::owner_all);
    std::ofstream(dir_ / "templates" / "page.html") << "generation {{ generation }}";
    std::ofstream(dir_ / "watched.txt") << "x";
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_, binary_;
};

struct Start {
  int port = 0, generation = 0, pid = 0;
};

Start parse_listening(const std::string& line) {
  std::istringstream in(line);
  std::string word;
  Start s;
  in >> word >> s.port >> s.generation >> s.pid;
  EXPECT_EQ(word, "listening") << line;
  return s;
}

TEST_F(AutoreloadTest, RestartsOnItsPortWhenAWatchedFileTemplateOrExecutableChanges) {
  ServerProcess server(binary_, {"--template-path", (dir_ / "templates").string(), "--watch",
                                 (dir_ / "watched.txt").string()});
  Start first = parse_listening(server.next("listening"));
  ASSERT_EQ(first.generation, 1);
  ASSERT_EQ(first.pid, server.pid());
  EXPECT_EQ(get(first.port, "/"), "1 " + std::to_string(first.pid));

  // A file given to watch().
  touch(dir_ / "watched.txt");
  EXPECT_EQ(server.next("hook"), "hook 1");
  Start second = parse_listening(server.next("listening"));
  EXPECT_EQ(second.generation, 2);
  EXPECT_EQ(second.port, first.port);
  EXPECT_EQ(second.pid, first.pid);
  EXPECT_EQ(get(second.port, "/"), "2 " + std::to_string(first.pid));

  // A template it rendered.
  EXPECT_EQ(get(second.port, "/page"), "generation 2");
  touch(dir_ / "templates" / "page.html");
  EXPECT_EQ(server.next("hook"), "hook 2");
  Start third = parse_listening(server.next("listening"));
  EXPECT_EQ(third.generation, 3);
  EXPECT_EQ(get(third.port, "/page"), "generation 3");

  // Its own executable (a rebuild).
  touch(binary_);
  EXPECT_EQ(server.next("hook"), "hook 3");
  Start fourth = parse_listening(server.next("listening"));
  EXPECT_EQ(fourth.generation, 4);
  EXPECT_EQ(fourth.port, first.port);
  EXPECT_EQ(get(fourth.port, "/"), "4 " + std::to_string(first.pid));
}

TEST_F(AutoreloadTest, UnwatchedFilesDoNotRestart) {
  ServerProcess server(binary_, {"--template-path", (dir_ / "templates").string(), "--watch",
                                 (dir_ / "watched.txt").string()});
  Start first = parse_listening(server.next("listening"));
  // The template is not watched until it is rendered; the restart that
  // follows must name the watched file, which was touched after it.
  touch(dir_ / "templates" / "page.html");
  touch(dir_ / "watched.txt");
  std::string reason = server.next("[I");
  while (!reason.empty() && reason.find("modified; restarting") == std::string::npos) {
    reason = server.next("[I");
  }
  EXPECT_TRUE(reason.ends_with((dir_ / "watched.txt").string() + " modified; restarting server"))
      << reason;
  EXPECT_EQ(server.next("hook"), "hook 1");
  Start second = parse_listening(server.next("listening"));
  EXPECT_EQ(second.generation, 2);
  EXPECT_EQ(second.port, first.port);
}

TEST(Autoreload, WatchAndStartedInThisProcess) {
  tornado::ioloop::IOLoop loop;
  EXPECT_FALSE(tornado::autoreload::started());
  tornado::autoreload::watch("/nonexistent/file");
  auto files = tornado::autoreload::watched_files();
  EXPECT_NE(std::find(files.begin(), files.end(), fs::path("/nonexistent/file")), files.end());
  tornado::autoreload::start(std::chrono::milliseconds(10));
  EXPECT_TRUE(tornado::autoreload::started());
}

// The watcher belongs to its loop: the files, hooks and checks of a closed
// loop are gone with it, so nothing of it can run on (or be found by) the
// next loop.
TEST(Autoreload, EverythingIsFreedWithTheLoop) {
  {
    tornado::ioloop::IOLoop loop;
    tornado::autoreload::watch("/nonexistent/first");
    tornado::autoreload::add_reload_hook([] { ADD_FAILURE() << "no reload expected"; });
    tornado::autoreload::start(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(tornado::ioloop::IOLoop::current_or_null(), nullptr);
  EXPECT_TRUE(tornado::autoreload::watched_files().empty());
  EXPECT_FALSE(tornado::autoreload::started());
  tornado::ioloop::IOLoop loop;
  EXPECT_TRUE(tornado::autoreload::watched_files().empty());
  EXPECT_FALSE(tornado::autoreload::started());
}

// Without a loop, asking creates none.
TEST(Autoreload, QueriesWithoutALoopCreateNone) {
  EXPECT_FALSE(tornado::autoreload::started());
  EXPECT_TRUE(tornado::autoreload::watched_files().empty());
  EXPECT_EQ(tornado::ioloop::IOLoop::current_or_null(), nullptr);
}

// An Application with the autoreload setting keeps its loop's checks running
// while it lives, and they stop with it.
TEST(Autoreload, AnApplicationsWatcherStopsWithIt) {
  tornado::ioloop::IOLoop loop;
  {
    tornado::web::Settings settings;
    settings.autoreload = true;
    tornado::web::Application app({}, settings);
    EXPECT_TRUE(tornado::autoreload::started());
    {
      tornado::web::Application second({}, settings);
      EXPECT_TRUE(tornado::autoreload::started());
    }
    EXPECT_TRUE(tornado::autoreload::started()) << "the first application still runs";
  }
  EXPECT_FALSE(tornado::autoreload::started());
  // start() itself keeps the checks until the loop closes.
  tornado::autoreload::start();
  {
    tornado::web::Settings settings;
    settings.debug = true;
    tornado::web::Application app({}, settings);
  }
  EXPECT_TRUE(tornado::autoreload::started());
}

// An Application built before any loop exists starts its watcher on the loop
// it listens on.
TEST(Autoreload, AnApplicationBuiltBeforeItsLoopStartsWhenItListens) {
  tornado::web::Settings settings;
  settings.autoreload = true;
  auto app =
      std::make_unique<tornado::web::Application>(std::vector<tornado::web::URLSpec>{}, settings);
  EXPECT_EQ(tornado::ioloop::IOLoop::current_or_null(), nullptr);
  tornado::ioloop::IOLoop loop;
  EXPECT_FALSE(tornado::autoreload::started());
  app->listen(0, "127.0.0.1");
  EXPECT_TRUE(tornado::autoreload::started());
  app.reset();
  EXPECT_FALSE(tornado::autoreload::started());
}

}  // namespace
