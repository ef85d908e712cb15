// tornado::process: running one server on several cores, mirroring
// tornado.process.
//
// Two ways, both with one event loop per worker and nothing shared between
// loops unless the app shares it on purpose:
//
// - `run_workers(n, worker)`: n threads in this process, each with its own
//   IOLoop; every worker binds the port with SO_REUSEPORT and the kernel
//   spreads connections across them. The default for the apps' `--workers`.
// - `fork_processes(n)`: Tornado's model, n child processes that inherit the
//   listening sockets (or bind with SO_REUSEPORT), supervised and restarted
//   by the parent. `tcpserver::TCPServer::start(n)` uses it.
//
//   tornado::process::run_workers(2, [](int task_id) {
//     auto app = make_app();
//     app->listen(8888, "", {}, {.reuse_port = true});
//     tornado::ioloop::IOLoop::current().start();
//   });
#pragma once

#include <functional>
#include <optional>

namespace tornado::process {

/// The number of processors this process may run on (`os.cpu_count`),
/// at least 1.
int cpu_count();

/// The id (0 .. n-1) of the worker this thread belongs to, set by
/// `run_workers` and `fork_processes`; empty outside them, as
/// `tornado.process.task_id()`.
std::optional<int> task_id();

/// Runs `worker(task_id)` on `n` event loops (n <= 0: `cpu_count()`), each
/// on its own thread with a fresh `IOLoop` current; worker 0 runs on the
/// calling thread and its current loop. Returns when every worker has
/// returned. If one throws, the others' loops are stopped and the first
/// exception is rethrown here.
void run_workers(int n, const std::function<void(int task_id)>& worker);

/// Forks `n` child processes (n <= 0: `cpu_count()`) and returns the child's
/// task id in each of them, as `tornado.process.fork_processes`. The parent
/// never returns: it restarts a child that dies from a signal or exits
/// non-zero (up to `max_restarts` times, then throws in the parent), forwards
/// SIGINT/SIGTERM to the children, and exits 0 once they all have exited.
/// Call it before any IOLoop exists in the process.
int fork_processes(int n, int max_restarts = 100);

}  // namespace tornado::process
