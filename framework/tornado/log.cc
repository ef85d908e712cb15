#include "tornado/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace tornado::log {
namespace {

// The level is process-wide configuration set once from the command line,
// read by every loop thread; an atomic keeps the reads race-free.
std::atomic<Level>& threshold() {
  static std::atomic<Level> value{Level::info};
  return value;
}

thread_local Sink current_sink;

char level_letter(Level at) {
  switch (at) {
    case Level::debug:
      return 'D';
    case Level::info:
      return 'I';
    case Level::warning:
      return 'W';
    case Level::error:
      return 'E';
    case Level::none:
      break;
  }
  return '?';
}

const char* level_colour(Level at) {
  switch (at) {
    case Level::debug:
      return "\033[34m";
    case Level::info:
      return "\033[32m";
    case Level::warning:
      return "\033[33m";
    default:
      return "\033[31m";
  }
}

}  // namespace

std::optional<Level> parse_level(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warning") return Level::warning;
  if (name == "error") return Level::error;
  if (name == "none") return Level::none;
  return std::nullopt;
}

std::string_view level_name(Level at) {
  switch (at) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warning:
      return "warning";
    case Level::error:
      return "error";
    case Level::none:
      return "none";
  }
  return "none";
}

void set_level(Level at) {
  threshold().store(at, std::memory_order_relaxed);
}
Level level() {
  return threshold().load(std::memory_order_relaxed);
}

ScopedSink::ScopedSink(Sink sink) : previous_(std::move(current_sink)) {
  current_sink = std::move(sink);
}
ScopedSink::~ScopedSink() {
  current_sink = std::move(previous_);
}

void Logger::log(Level at, std::string_view message) const {
  if (current_sink) {
    current_sink(at, name_, message);
    return;
  }
  if (!enabled(at)) return;
  static const bool colour = isatty(STDERR_FILENO) == 1;
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%y%m%d %H:%M:%S", &local);
  std::string line = colour
                         ? fmt::format("{}[{} {} {}]\033[0m {}\n", level_colour(at),
                                       level_letter(at), stamp, name_, message)
                         : fmt::format("[{} {} {}] {}\n", level_letter(at), stamp, name_, message);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace tornado::log
