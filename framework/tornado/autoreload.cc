#include "tornado/autoreload.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/process.h"

namespace tornado::autoreload {

// One loop's watch: its files, hooks and periodic check. The loop's closer
// owns it, so it is freed when the loop is destroyed; everything else refers
// to it weakly.
struct LoopWatch : std::enable_shared_from_this<LoopWatch> {
  ioloop::IOLoop* loop = nullptr;
  LoopWatch* next = nullptr;  // this thread's other watches
  // Each watched file keeps the modification time it had when first seen,
  // so a change made right after `watch()` returns is not missed.
  std::map<std::filesystem::path, std::optional<struct timespec>> watched;
  std::vector<std::function<void()>> hooks;
  std::string executable;         // resolved when the checks first start
  std::vector<std::string> argv;  // from /proc/self/cmdline, at the same time
  std::chrono::milliseconds check_time{0};
  ioloop::TimeoutHandle timer;
  int watchers = 0;           // live Watcher objects
  bool until_closed = false;  // start() was called
  bool reload_attempted = false;

  bool running() const { return watchers > 0 || until_closed; }
};

namespace {

// This thread's watches, one per loop. A plain pointer (trivially
// destructible), because a loop may outlive the thread's other
// thread_locals: its closer still unlinks its watch at thread exit.
thread_local constinit LoopWatch* first_watch = nullptr;

LoopWatch* find_watch(ioloop::IOLoop* loop) {
  for (LoopWatch* w = first_watch; w != nullptr; w = w->next) {
    if (w->loop == loop) return w;
  }
  return nullptr;
}

void unlink_watch(LoopWatch* watch) noexcept {
  for (LoopWatch** w = &first_watch; *w != nullptr; w = &(*w)->next) {
    if (*w == watch) {
      *w = watch->next;
      return;
    }
  }
}

std::shared_ptr<LoopWatch> watch_of(ioloop::IOLoop& loop);

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

void reload(LoopWatch& watch) {
  watch.reload_attempted = true;
  // A hook may add files or hooks: run copies.
  auto hooks = watch.hooks;
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
  for (auto& a : watch.argv) args.push_back(a.data());
  args.push_back(nullptr);
  ::execv(watch.executable.c_str(), args.data());
  log::general.error("autoreload: cannot re-execute {}: {}", watch.executable,
                     std::strerror(errno));
  watch.reload_attempted = false;
}

// The first watched file whose modification time differs from the one
// recorded, if any. A file that cannot be stat'ed is skipped, as Tornado
// does (an editor may be replacing it); its time is recorded when it is back.
std::optional<std::filesystem::path> first_changed(LoopWatch& watch) {
  for (auto& [path, recorded] : watch.watched) {
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

void check(LoopWatch& watch) {
  if (watch.reload_attempted || process::task_id()) return;
  if (auto path = first_changed(watch)) {
    log::general.info("{} modified; restarting server", path->string());
    reload(watch);
  }
}

void schedule(const std::shared_ptr<LoopWatch>& watch) {
  watch->timer =
      watch->loop->call_later(watch->check_time, [weak = std::weak_ptr<LoopWatch>(watch)] {
        auto watch = weak.lock();
        if (!watch) return;
        watch->timer = {};
        if (!watch->running()) return;
        check(*watch);
        if (watch->running() && !watch->timer) schedule(watch);
      });
}

// Starts the checks of the current loop's watch if they are not running.
std::shared_ptr<LoopWatch> run_checks(std::chrono::milliseconds check_time) {
  auto watch = watch_of(ioloop::IOLoop::current());
  if (watch->executable.empty()) {
    watch->executable = read_link("/proc/self/exe");
    watch->argv = read_cmdline();
    watch->watched.try_emplace(watch->executable, mtime_of(watch->executable));
  }
  if (!watch->timer) {
    watch->check_time = check_time;
    schedule(watch);
  }
  return watch;
}

// Stops the checks once nothing keeps them running.
void stop_unless_kept(LoopWatch& watch) {
  if (watch.running() || !watch.timer) return;
  watch.loop->remove_timeout(watch.timer);
  watch.timer = {};
}

std::shared_ptr<LoopWatch> watch_of(ioloop::IOLoop& loop) {
  if (LoopWatch* found = find_watch(&loop)) {
    return found->shared_from_this();
  }
  auto watch = std::make_shared<LoopWatch>();
  watch->loop = &loop;
  watch->next = first_watch;
  first_watch = watch.get();
  loop.add_closer(watch.get(), [owned = watch]() mutable {
    unlink_watch(owned.get());
    owned.reset();
  });
  return watch;
}

}  // namespace

void start(std::chrono::milliseconds check_time) {
  run_checks(check_time)->until_closed = true;
}

bool started() {
  LoopWatch* watch = find_watch(ioloop::IOLoop::current_or_null());
  return watch != nullptr && watch->running();
}

void watch(const std::filesystem::path& path) {
  auto mtime = mtime_of(path);
  watch_of(ioloop::IOLoop::current())->watched.try_emplace(path, mtime);
}

std::vector<std::filesystem::path> watched_files() {
  std::vector<std::filesystem::path> files;
  LoopWatch* watch = find_watch(ioloop::IOLoop::current_or_null());
  if (watch == nullptr) return files;
  for (const auto& [path, mtime] : watch->watched) {
    if (path != watch->executable) files.push_back(path);
  }
  return files;
}

void add_reload_hook(std::function<void()> fn) {
  watch_of(ioloop::IOLoop::current())->hooks.push_back(std::move(fn));
}

Watcher::Watcher(std::chrono::milliseconds check_time) {
  auto watch = run_checks(check_time);
  ++watch->watchers;
  watch_ = watch;
}

Watcher::~Watcher() {
  if (auto watch = watch_.lock()) {
    --watch->watchers;
    stop_unless_kept(*watch);
  }
}

}  // namespace tornado::autoreload
