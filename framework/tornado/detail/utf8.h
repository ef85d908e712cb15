// UTF-8: validation (one-shot and incremental), decoding and encoding, and
// Python's Unicode whitespace (str.isspace, str.strip).
//
// WebSocket text messages and close reasons must be valid UTF-8 (RFC 6455
// 8.1), and a server should fail a connection as soon as a bad sequence
// arrives rather than after the whole message (Tornado decodes each
// message with `bytes.decode("utf-8")`; tornado-cpp checks as bytes come).
// The validator accepts exactly the well-formed sequences of the Unicode
// standard (table 3-7): no overlong forms, no UTF-16 surrogates
// (U+D800..U+DFFF), nothing above U+10FFFF, no stray continuation bytes.
//
//   tornado::detail::Utf8Validator v;
//   v.feed("caf\xc3");   // true: a sequence may be split between chunks
//   v.feed("\xa9");      // true
//   v.complete();        // true: the input ends on a code point boundary
//   tornado::detail::is_valid_utf8("\xed\xa0\x80");  // false: a surrogate
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tornado::detail {

/// An incremental UTF-8 validator: feed chunks split anywhere, even inside a
/// multi-byte sequence. Once a chunk fails, the validator stays failed.
class Utf8Validator {
 public:
  /// Validates the next chunk; returns false as soon as the input so far
  /// cannot be the prefix of valid UTF-8.
  bool feed(std::string_view chunk) noexcept;

  /// True when no invalid byte was seen and the input ends on a code point
  /// boundary (not inside a multi-byte sequence).
  bool complete() const noexcept { return state_ == kAccept; }
  /// True once an invalid sequence was seen.
  bool failed() const noexcept { return state_ == kReject; }
  /// Forgets everything fed so far.
  void reset() noexcept { state_ = kAccept; }

  // States of the automaton; public so the transition table in utf8.cc can
  // be built from them.
  static constexpr std::uint8_t kAccept = 0;
  static constexpr std::uint8_t kReject = 8;

 private:
  std::uint8_t state_ = kAccept;
};

/// One-shot check that `text` is complete, well-formed UTF-8.
bool is_valid_utf8(std::string_view text) noexcept;

/// One decoded UTF-8 character. Malformed input yields U+FFFD with `valid`
/// false and `size` covering the maximal ill-formed subpart (as Python's
/// "replace" error handler does), so a decoder always advances.
struct Utf8Char {
  char32_t code_point;
  std::size_t size;
  bool valid;
};

/// Decodes the character starting at `text[pos]` (pos < text.size()).
Utf8Char decode_utf8(std::string_view text, std::size_t pos) noexcept;

/// Appends `code_point` encoded as UTF-8.
void append_utf8(std::string& out, char32_t code_point);

/// Replaces each ill-formed UTF-8 subsequence by U+FFFD.
std::string sanitize_utf8(std::string_view text);

/// Number of code points (ill-formed subparts count as one each).
std::size_t utf8_length(std::string_view text) noexcept;

/// True for the characters Python's `str.isspace()` accepts.
bool is_python_space(char32_t code_point) noexcept;

/// Python's `str.strip()` (or lstrip/rstrip): removes Unicode whitespace, as
/// `str.isspace()` sees it, from the chosen ends. Ill-formed bytes stop it.
std::string_view python_strip(std::string_view text, bool left = true, bool right = true) noexcept;

}  // namespace tornado::detail
