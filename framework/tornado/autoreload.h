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
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <vector>

namespace tornado::autoreload {

/// Starts checking the watched files every `check_time` on the current
/// IOLoop (once per loop; later calls do nothing). Does nothing in a worker
/// started by `process::fork_processes` or `run_workers`, as Tornado's.
void start(std::chrono::milliseconds check_time = std::chrono::milliseconds(500));
/// Whether `start()` was called on the current IOLoop.
bool started();
/// Adds `path` to the files whose change restarts the process.
void watch(const std::filesystem::path& path);
/// The files watched besides the executable.
std::vector<std::filesystem::path> watched_files();
/// Adds `fn`, called just before the process re-executes itself.
void add_reload_hook(std::function<void()> fn);

}  // namespace tornado::autoreload
