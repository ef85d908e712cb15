#include "tornado/autoreload.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/process.h"

namespace tornado::autoreload {

namespace {

// What a restart needs is process-wide by nature (an exec replaces every
// thread), so this state is too, as Tornado's module globals; the mutex lets
// worker threads register files and hooks.
// Each watched file keeps the modification time it had when it was first
// seen, so a change made right after `watch()` returns is not missed.
struct ProcessState {
  std::mutex mutex;
  std::map<std::filesystem::path, std::optional<struct timespec>> watched;
  std::vector<std::function<void()>> hooks;
  std::string executable;         // resolved when start() first runs
  std::vector<std::string> argv;  // from /proc/self/cmdline, at the same time
  std::atomic<bool> reload_attempted{false};
};

ProcessState& process_state() {
  static ProcessState state;
  return state;
}

// The loops this thread started checking on; a loop's closer removes it.
thread_local std::set<ioloop::IOLoop*> started_loops;

std::optional<struct timespec> mtime_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return st.st_mtim;
}

std::string read_link(const char* path) {
  std::string buffer(4096, '\0');
  ssize_t n = ::readlink(path, buffer.data(), buffer.size());
  if (n <= 0) return {};
  buffer.resize(static_cast<std::size_t>(n));
  return buffer;
}

std::vector<std::string> read_cmdline() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string all = std::move(ss).str();
  std::vector<std::string> args;
  std::size_t pos = 0;
  while (pos < all.size()) {
    auto end = all.find('\0', pos);
    if (end == std::string::npos) end = all.size();
    args.push_back(all.substr(pos, end - pos));
    pos = end + 1;
  }
  return args;
}

// Marks every descriptor above stderr close-on-exec, so listening sockets
// (and connections, files) are released by the exec itself; if the exec
// fails the process keeps running with them intact.
void close_on_exec_all() noexcept {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return;
  int own = ::dirfd(dir);
  while (dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd <= 2 || fd == own) continue;
    int flags = ::fcntl(static_cast<int>(fd), F_GETFD);
    if (flags >= 0) ::fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC);
  }
  ::closedir(dir);
}

void reload() {
  auto& state = process_state();
  state.reload_attempted = true;
  std::vector<std::function<void()>> hooks;
  std::string executable;
  std::vector<std::string> argv;
  {
    std::lock_guard lock(state.mutex);
    hooks = state.hooks;
    executable = state.executable;
    argv = state.argv;
  }
  for (auto& hook : hooks) {
    try {
      hook();
    } catch (const std::exception& e) {
      log::general.error("autoreload: reload hook failed: {}", e.what());
    }
  }
  close_on_exec_all();
  // The new image inherits the signal mask; it must start with none blocked.
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  ::execv(executable.c_str(), args.data());
  log::general.error("autoreload: cannot re-execute {}: {}", executable, std::strerror(errno));
  state.reload_attempted = false;
}

// The first watched file whose modification time differs from the one
// recorded, if any. A file that cannot be stat'ed is skipped, as Tornado
// does (an editor may be replacing it); its time is recorded when it is back.
std::optional<std::filesystem::path> first_changed() {
  auto& state = process_state();
  std::lock_guard lock(state.mutex);
  for (auto& [path, recorded] : state.watched) {
    auto now = mtime_of(path);
    if (!now) continue;
    if (!recorded) {
      recorded = now;
      continue;
    }
    if (recorded->tv_sec != now->tv_sec || recorded->tv_nsec != now->tv_nsec) return path;
  }
  return std::nullopt;
}

void check() {
  auto& state = process_state();
  if (state.reload_attempted || process::task_id()) return;
  if (auto path = first_changed()) {
    log::general.info("{} modified; restarting server", path->string());
    reload();
  }
}

void schedule(ioloop::IOLoop& loop, std::chrono::milliseconds every) {
  loop.call_later(every, [&loop, every] {
    if (!started_loops.contains(&loop)) return;
    check();
    schedule(loop, every);
  });
}

}  // namespace

void start(std::chrono::milliseconds check_time) {
  auto& loop = ioloop::IOLoop::current();
  if (started_loops.contains(&loop)) return;
  auto& state = process_state();
  {
    std::lock_guard lock(state.mutex);
    if (state.executable.empty()) {
      state.executable = read_link("/proc/self/exe");
      state.argv = read_cmdline();
      state.watched.try_emplace(state.executable, mtime_of(state.executable));
    }
  }
  started_loops.insert(&loop);
  loop.add_closer(&started_loops, [&loop] { started_loops.erase(&loop); });
  schedule(loop, check_time);
}

bool started() {
  auto* loop = ioloop::IOLoop::current_or_null();
  return loop != nullptr && started_loops.contains(loop);
}

void watch(const std::filesystem::path& path) {
  auto& state = process_state();
  auto mtime = mtime_of(path);
  std::lock_guard lock(state.mutex);
  state.watched.try_emplace(path, mtime);
}

std::vector<std::filesystem::path> watched_files() {
  auto& state = process_state();
  std::lock_guard lock(state.mutex);
  std::vector<std::filesystem::path> files;
  for (const auto& [path, mtime] : state.watched) {
    if (path != state.executable) files.push_back(path);
  }
  return files;
}

void add_reload_hook(std::function<void()> fn) {
  auto& state = process_state();
  std::lock_guard lock(state.mutex);
  state.hooks.push_back(std::move(fn));
}

}  // namespace tornado::autoreload
