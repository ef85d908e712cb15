// tornado::log: the framework's loggers, mirroring tornado.log.
//
// Tornado logs through three named loggers: `tornado.access` (one line per
// request), `tornado.application` (errors from application code) and
// `tornado.general` (everything else). tornado-cpp keeps the same three, plus
// `gen` for coroutine failures, and prints Tornado's line format:
//
//   [I 261125 11:42:53 access] 200 GET / (127.0.0.1) 0.52ms
//
// (the logger's short name, "access", where Python prints the module, "web")
//
// Example:
//   tornado::log::app.info("WebSocket opened from {}", ip);
//   tornado::log::set_level(tornado::log::Level::warning);
#pragma once

#include <fmt/format.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tornado::log {

/// Severity, ordered as Python's logging levels.
enum class Level { debug = 10, info = 20, warning = 30, error = 40, none = 100 };

/// Parses "debug", "info", "warning", "error" or "none".
std::optional<Level> parse_level(std::string_view name);
/// "debug", "info", "warning", "error" or "none".
std::string_view level_name(Level level);

/// Sets the process-wide threshold (the `--logging` option).
void set_level(Level level);
/// The process-wide threshold.
Level level();

/// Receives every record logged on this thread while installed; tests use it
/// to assert on log output and to fail on unexpected errors.
using Sink = std::function<void(Level, std::string_view logger, std::string_view message)>;

/// Installs `sink` for the current thread for the lifetime of this object.
class ScopedSink {
 public:
  /// Routes this thread's records to `sink` until destroyed.
  explicit ScopedSink(Sink sink);
  ~ScopedSink();
  ScopedSink(const ScopedSink&) = delete;
  ScopedSink& operator=(const ScopedSink&) = delete;

 private:
  Sink previous_;
};

/// A named logger. Cheap to copy; the format string is checked at compile time.
class Logger {
 public:
  /// A logger printing `name` in its lines ("web", "app"...).
  constexpr explicit Logger(std::string_view name) : name_(name) {}

  /// The logger's name.
  std::string_view name() const { return name_; }
  /// True if a record at `at` would be printed.
  bool enabled(Level at) const { return at >= level() && at != Level::none; }
  /// Logs a preformatted message at `at`.
  void log(Level at, std::string_view message) const;

  template <class... Args>
  /// Logs at debug level; `format` uses fmt's `{}` syntax.
  void debug(fmt::format_string<Args...> format, Args&&... args) const {
    emit(Level::debug, format, std::forward<Args>(args)...);
  }
  template <class... Args>
  /// Logs at info level.
  void info(fmt::format_string<Args...> format, Args&&... args) const {
    emit(Level::info, format, std::forward<Args>(args)...);
  }
  template <class... Args>
  /// Logs at warning level.
  void warning(fmt::format_string<Args...> format, Args&&... args) const {
    emit(Level::warning, format, std::forward<Args>(args)...);
  }
  template <class... Args>
  /// Logs at error level.
  void error(fmt::format_string<Args...> format, Args&&... args) const {
    emit(Level::error, format, std::forward<Args>(args)...);
  }

 private:
  template <class... Args>
  void emit(Level at, fmt::format_string<Args...> format, Args&&... args) const {
    if (enabled(at)) log(at, fmt::format(format, std::forward<Args>(args)...));
  }

  std::string_view name_;
};

/// tornado.access: one line per finished request.
inline constexpr Logger access{"access"};
/// tornado.application: uncaught errors from handlers and user code.
inline constexpr Logger app{"app"};
/// tornado.general: protocol errors, connection trouble.
inline constexpr Logger general{"general"};
/// Coroutine failures nobody awaited (spawned tasks).
inline constexpr Logger gen{"gen"};

}  // namespace tornado::log
