// tornado::autoreload: restart the server when its files change, mirroring
// tornado.autoreload.
//
// The development loop: rebuild, and the running server notices its new
// executable and re-executes itself with the same arguments. It also
// restarts when a template it rendered, or any file given to `watch()`,
// changes. An Application turns it on with the `debug` or `autoreload`
// setting, as Tornado's:
//
//   tornado::web::Settings settings;
//   settings.debug = true;                        // or settings.autoreload = true
//   tornado::web::Application app(routes, settings);
//   tornado::autoreload::watch("config.json");    // restart when it changes too
//   tornado::autoreload::add_reload_hook([] { flush_caches(); });
//
// The restart is an exec of the same program file (the path it was started
// from, so a rebuilt binary is the one that runs), in the same process: the
// PID stays, as under Tornado on POSIX. Every descriptor but stdin, stdout
// and stderr is closed by the exec, so the listening sockets are released
// and the new image can bind the same port. Linux only (it reads /proc).
//
// Unlike Tornado's module-wide lists, everything here belongs to one IOLoop:
// the watched files, the hooks and the periodic check live as long as that
// loop and are freed with it, and an Application's checks stop when the
// Application is destroyed. Nothing of a closed loop can run later.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

namespace tornado::autoreload {

/// Internal: one loop's files, hooks and checks (defined in autoreload.cc).
struct LoopWatch;

/// Starts checking the watched files every `check_time` on the current
/// IOLoop until that loop is destroyed (once per loop; later calls do
/// nothing). Does nothing in a worker started by `process::fork_processes`
/// or `run_workers`, as Tornado's.
void start(std::chrono::milliseconds check_time = std::chrono::milliseconds(500));
/// Whether the current IOLoop checks its files (`start()` or a live
/// `Watcher`); false, creating no loop, when the thread has none.
bool started();
/// Adds `path` to the files whose change restarts the process (on the
/// current IOLoop, which is created if the thread has none).
void watch(const std::filesystem::path& path);
/// The files the current IOLoop watches besides the executable; empty,
/// creating no loop, when the thread has none.
std::vector<std::filesystem::path> watched_files();
/// Adds `fn`, called just before the process re-executes itself (on the
/// current IOLoop, which is created if the thread has none).
void add_reload_hook(std::function<void()> fn);

/// Keeps the current IOLoop checking its files while it lives: what an
/// Application with `debug` or `autoreload` holds, so the checks stop with
/// the last such Application (or with the loop, if it goes first) unless
/// `start()` was called. Destroy it on its loop's thread.
class Watcher {
 public:
  /// Starts the checks on the current IOLoop if they are not running.
  explicit Watcher(std::chrono::milliseconds check_time = std::chrono::milliseconds(500));
  /// Stops the checks if nothing else keeps them.
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

 private:
  std::weak_ptr<LoopWatch> watch_;
};

}  // namespace tornado::autoreload
