#include "tornado/process.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace tornado::process {

namespace {

thread_local std::optional<int> t_task_id;

// The loops of one run_workers call, so that a failing worker can stop the
// others. A loop is listed only while it exists.
class LoopSet {
 public:
  void add(ioloop::IOLoop* loop) {
    std::lock_guard lock(mutex_);
    loops_.push_back(loop);
    if (failed_) loop->add_callback([loop] { loop->stop(); });
  }
  void remove(ioloop::IOLoop* loop) {
    std::lock_guard lock(mutex_);
    std::erase(loops_, loop);
  }
  void fail(std::exception_ptr error) {
    std::lock_guard lock(mutex_);
    if (!error_) error_ = error;
    failed_ = true;
    for (auto* loop : loops_) loop->add_callback([loop] { loop->stop(); });
  }
  std::exception_ptr error() {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  std::mutex mutex_;
  std::vector<ioloop::IOLoop*> loops_;
  std::exception_ptr error_;
  bool failed_ = false;
};

void run_one(int id, ioloop::IOLoop& loop, LoopSet& loops, const std::function<void(int)>& worker) {
  t_task_id = id;
  loops.add(&loop);
  try {
    worker(id);
  } catch (...) {
    loops.fail(std::current_exception());
  }
  loops.remove(&loop);
}

}  // namespace

int cpu_count() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

std::optional<int> task_id() {
  return t_task_id;
}

void run_workers(int n, const std::function<void(int task_id)>& worker) {
  if (n <= 0) n = cpu_count();
  LoopSet loops;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n - 1));
  for (int id = 1; id < n; ++id) {
    threads.emplace_back([id, &loops, &worker] {
      ioloop::IOLoop loop;
      run_one(id, loop, loops, worker);
    });
  }
  run_one(0, ioloop::IOLoop::current(), loops, worker);
  for (auto& thread : threads) thread.join();
  t_task_id.reset();
  if (auto error = loops.error()) std::rethrow_exception(error);
}

namespace {

// The supervising parent of fork_processes: it owns the children's pids and
// waits for them and for SIGINT/SIGTERM, both taken synchronously with
// sigwaitinfo (blocked, so no handler and no global flag is needed).
class Supervisor {
 public:
  Supervisor(int n, int max_restarts) : n_(n), max_restarts_(max_restarts) {
    sigemptyset(&waited_);
    for (int sig : {SIGCHLD, SIGINT, SIGTERM}) sigaddset(&waited_, sig);
    pthread_sigmask(SIG_BLOCK, &waited_, &previous_);
  }

  // Returns a task id in a child; never returns in the parent.
  int run() {
    for (int id = 0; id < n_; ++id) {
      if (start_child(id)) return id;
    }
    while (!children_.empty()) {
      if (auto id = reap()) return *id;
      if (children_.empty()) break;
      siginfo_t info;
      int sig = sigwaitinfo(&waited_, &info);
      if (sig == SIGINT || sig == SIGTERM) forward(sig);
    }
    std::exit(0);
  }

 private:
  bool start_child(int id) {
    pid_t pid = fork();
    if (pid < 0) throw std::system_error(errno, std::generic_category(), "fork");
    if (pid == 0) {
      pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
      t_task_id = id;
      return true;
    }
    children_[pid] = id;
    return false;
  }

  void forward(int sig) {
    stopping_ = true;
    log::gen.info("Signal {}: passing it to {} child process(es)", sig, children_.size());
    for (auto& [pid, id] : children_) kill(pid, sig);
  }

  // Collects every child that has exited; restarts the ones that failed.
  // Returns a task id when this process is a freshly started child.
  std::optional<int> reap() {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      auto it = children_.find(pid);
      if (it == children_.end()) continue;
      int id = it->second;
      children_.erase(it);
      if (WIFSIGNALED(status)) {
        log::gen.warning("child {} (pid {}) killed by signal {}{}", id, pid, WTERMSIG(status),
                         stopping_ ? "" : ", restarting");
      } else if (WEXITSTATUS(status) != 0) {
        log::gen.warning("child {} (pid {}) exited with status {}{}", id, pid, WEXITSTATUS(status),
                         stopping_ ? "" : ", restarting");
      } else {
        log::gen.info("child {} (pid {}) exited normally", id, pid);
        continue;
      }
      if (stopping_) continue;
      if (++restarts_ > max_restarts_) {
        throw std::runtime_error("fork_processes: too many child restarts, giving up");
      }
      if (start_child(id)) return id;
    }
    return std::nullopt;
  }

  int n_;
  int max_restarts_;
  int restarts_ = 0;
  bool stopping_ = false;
  sigset_t waited_;
  sigset_t previous_;
  std::map<pid_t, int> children_;
};

}  // namespace

int fork_processes(int n, int max_restarts) {
  if (ioloop::IOLoop::current_or_null() != nullptr) {
    throw std::logic_error(
        "fork_processes: this process already has an IOLoop; fork before creating one");
  }
  if (n <= 0) n = cpu_count();
  log::gen.info("Starting {} processes", n);
  return Supervisor(n, max_restarts).run();
}

}  // namespace tornado::process
