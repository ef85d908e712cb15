// HTTP/1.1 message syntax that llhttp 8.1 (Debian 12) lets through and
// RFC 9112 forbids, checked on the raw bytes before and beside llhttp, for
// the server and the client alike; and the one writer of header lines.
//
// A lenient parser reads some malformed messages differently from the proxy
// in front of it, and the difference is where a second request hides
// (request smuggling). So the head of every message is scanned byte by byte
// before llhttp sees it, and after each chunk of a chunked body the two bytes
// that follow the chunk's data must be CRLF.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tornado::detail::http1 {

/// A field value that is safe to write: no CR, LF, NUL or other control
/// byte except HTAB (RFC 9110 §5.5).
bool is_safe_field_value(std::string_view value) noexcept;

/// Appends "name: value\r\n" to `out`: the only way header lines are
/// written. Throws std::invalid_argument if the name is not a token or the
/// value could end the line early (header injection).
void append_field(std::string& out, std::string_view name, std::string_view value);

/// Checks a message head (start line and field lines, up to the empty line)
/// as it arrives. `scan` is given the bytes from the start of the message,
/// the same prefix each time and longer as more arrives; it resumes where it
/// stopped.
class HeadScanner {
 public:
  enum class Result { need_more, complete, invalid };
  /// `response`: the start line is a status line (its reason may hold HTAB).
  explicit HeadScanner(bool response = false) noexcept : response_(response) {}

  Result scan(std::string_view message) noexcept;
  /// Bytes of the head, its final empty line included (after `complete`).
  std::size_t head_size() const noexcept { return pos_; }
  /// How far `scan` has read (for a limit on an unfinished head).
  std::size_t scanned() const noexcept { return pos_; }
  /// What was wrong (after `invalid`).
  std::string_view error() const noexcept { return error_; }
  /// Ready for the next message.
  void reset() noexcept;

 private:
  enum class State {
    leading,     // empty lines before the start line (RFC 9112 §2.2)
    start_line,  // the request or status line
    line_begin,  // first byte of a field line, or the empty line
    name,        // a field name, up to its colon
    value,       // a field value, up to CR
    cr,          // a CR was read: LF must follow
    done,
  };
  Result fail(const char* why) noexcept;

  bool response_;
  State state_ = State::leading;
  State after_cr_ = State::line_begin;  // where the CRLF leads
  bool empty_line_ = false;             // the CR ends an empty line
  std::size_t pos_ = 0;
  std::size_t name_start_ = 0;
  const char* error_ = "";
};

/// The bytes after each chunk's data: exactly CRLF (RFC 9112 §7.1). Fed the
/// same bytes as llhttp; told by the body callback where a chunk's data ends.
class ChunkGuard {
 public:
  /// A chunk's data ended at `end` within the buffer [`begin`, `limit`).
  /// Returns false if the bytes seen so far after it are not CRLF.
  bool data_ended(const char* end, const char* limit) noexcept;
  /// The next buffer, when the CRLF was not all in the previous one.
  /// Returns false if its first bytes do not complete the CRLF.
  bool next_buffer(std::string_view data) noexcept;
  void reset() noexcept { expect_ = 0; }

 private:
  // How many of "\r\n" are still to be checked: 2, 1 or 0 (only "\n").
  int expect_ = 0;
};

}  // namespace tornado::detail::http1
