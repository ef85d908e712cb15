// tornado::testing: helpers for testing asynchronous code with GoogleTest,
// mirroring tornado.testing.
//
// `ExpectLog` says that a test expects a log record, as Tornado's
// `ExpectLog`; the project's test main fails any test that logs an error it
// did not expect, so a swallowed failure cannot hide behind a green test.
//
//   {
//     tornado::testing::ExpectLog expected(tornado::log::app, "Uncaught exception");
//     ... code that logs it ...
//   }  // fails the test if nothing matched
#pragma once

#include <string>
#include <string_view>

#include "tornado/log.h"

namespace tornado::testing {

/// Absorbs log records of `logger` containing `substring` while alive; if
/// `required`, fails the current test when none arrived.
class ExpectLog {
 public:
  ExpectLog(const log::Logger& logger, std::string substring, bool required = true);
  ~ExpectLog();
  ExpectLog(const ExpectLog&) = delete;
  ExpectLog& operator=(const ExpectLog&) = delete;

  /// How many records matched so far.
  int matched() const noexcept { return matched_; }

 private:
  friend bool absorb_expected(std::string_view logger, std::string_view message) noexcept;
  std::string_view logger_;
  std::string substring_;
  bool required_;
  int matched_ = 0;
  ExpectLog* previous_;
};

/// Called by the test sink: true if an active ExpectLog on this thread takes
/// the record.
bool absorb_expected(std::string_view logger, std::string_view message) noexcept;

/// Installs the test log sink on this thread: expected records are absorbed,
/// errors fail the current test, everything is echoed to stderr.
void install_test_log_sink();

}  // namespace tornado::testing
