#include "tornado/detail/http1_strict.h"

#include <fmt/format.h>

#include <array>
#include <stdexcept>

#include "tornado/detail/ascii.h"

namespace tornado::detail::http1 {
namespace {

constexpr bool is_ctl(unsigned char c) noexcept {
  return c < 0x20 || c == 0x7f;
}

// The first byte at or after `i` that is a control byte (HTAB too unless
// `tab_ok`): the bytes of a start line or a field value that need no state
// change, skipped in a loop of their own rather than one trip through the
// scanner's switch per byte.
std::size_t skip_text(std::string_view m, std::size_t i, bool tab_ok) noexcept {
  const std::size_t n = m.size();
  while (i < n) {
    auto b = static_cast<unsigned char>(m[i]);
    if (is_ctl(b) && !(tab_ok && b == '\t')) break;
    ++i;
  }
  return i;
}

}  // namespace

bool is_safe_field_value(std::string_view value) noexcept {
  // No early exit: every response header goes through here, and a loop
  // without one is vectorised (unsafe values are rare and short anyway).
  bool unsafe = false;
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    unsafe |= (u < 0x20 && u != '\t') | (u == 0x7f);
  }
  return !unsafe;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  if (!is_token(name)) {
    // Quoted and cut: the name may hold the very bytes that must not reach a log.
    throw std::invalid_argument(fmt::format("invalid header name {:?}", name.substr(0, 64)));
  }
  if (!is_safe_field_value(value)) {
    throw std::invalid_argument(fmt::format(
        "unsafe header value (CR, LF, NUL or another control byte) in {:?}", name.substr(0, 64)));
  }
  out.append(name).append(": ").append(value).append("\r\n");
}

void HeadScanner::reset() noexcept {
  state_ = State::leading;
  after_cr_ = State::line_begin;
  pos_ = 0;
  name_start_ = 0;
  error_ = "";
}

HeadScanner::Result HeadScanner::fail(const char* why) noexcept {
  error_ = why;
  return Result::invalid;
}

HeadScanner::Result HeadScanner::scan(std::string_view message) noexcept {
  while (pos_ < message.size()) {
    auto c = static_cast<unsigned char>(message[pos_]);
    switch (state_) {
      case State::leading:
        if (c == '\r') {
          after_cr_ = State::leading;
          state_ = State::cr;
          ++pos_;
        } else if (c == '\n') {
          return fail("bare LF");
        } else {
          state_ = State::start_line;
        }
        break;
      case State::start_line:
        pos_ = skip_text(message, pos_, response_);
        if (pos_ == message.size()) continue;
        c = static_cast<unsigned char>(message[pos_]);
        if (c == '\r') {
          after_cr_ = State::line_begin;
          state_ = State::cr;
        } else if (c == '\n') {
          return fail("bare LF");
        } else if (is_ctl(c) && !(response_ && c == '\t')) {
          return fail("control byte in the start line");
        }
        ++pos_;
        break;
      case State::line_begin:
        if (c == '\r') {
          after_cr_ = State::done;
          state_ = State::cr;
          ++pos_;
        } else if (c == ' ' || c == '\t') {
          return fail("obsolete line folding (RFC 9112 5.2)");
        } else if (c == '\n') {
          return fail("bare LF");
        } else {
          name_start_ = pos_;
          state_ = State::name;
        }
        break;
      case State::name:
        while (pos_ < message.size() && is_tchar(message[pos_])) ++pos_;
        if (pos_ == message.size()) continue;
        c = static_cast<unsigned char>(message[pos_]);
        if (c == ':') {
          if (pos_ == name_start_) return fail("empty field name");
          state_ = State::value;
        } else if (c == ' ' || c == '\t') {
          return fail("whitespace between a field name and its colon (RFC 9112 5.1)");
        } else if (c == '\r' || c == '\n') {
          return fail("field line without a colon");
        } else if (!is_tchar(static_cast<char>(c))) {
          return fail("invalid byte in a field name");
        }
        ++pos_;
        break;
      case State::value:
        pos_ = skip_text(message, pos_, true);
        if (pos_ == message.size()) continue;
        c = static_cast<unsigned char>(message[pos_]);
        if (c == '\r') {
          after_cr_ = State::line_begin;
          state_ = State::cr;
        } else if (c == '\n') {
          return fail("bare LF");
        } else if (is_ctl(c) && c != '\t') {
          return fail("control byte in a field value");
        }
        ++pos_;
        break;
      case State::cr:
        if (c != '\n') return fail("bare CR");
        ++pos_;
        state_ = after_cr_;
        if (state_ == State::done) return Result::complete;
        break;
      case State::done:
        return Result::complete;
    }
  }
  return state_ == State::done ? Result::complete : Result::need_more;
}

bool ChunkGuard::data_ended(const char* end, const char* limit) noexcept {
  std::size_t available = static_cast<std::size_t>(limit - end);
  if (available == 0) {
    expect_ = 2;
    return true;
  }
  if (end[0] != '\r') return false;
  if (available == 1) {
    expect_ = 1;
    return true;
  }
  expect_ = 0;
  return end[1] == '\n';
}

bool ChunkGuard::next_buffer(std::string_view data) noexcept {
  if (expect_ == 0 || data.empty()) return true;
  if (expect_ == 2) {
    if (data[0] != '\r') return false;
    if (data.size() == 1) {
      expect_ = 1;
      return true;
    }
    expect_ = 0;
    return data[1] == '\n';
  }
  expect_ = 0;
  return data[0] == '\n';
}

}  // namespace tornado::detail::http1
