// The chat's rules for text, counted in characters as Python counts them:
// a character is one Unicode code point (one to four bytes of UTF-8), and
// whitespace is what Python's str.isspace() calls whitespace (the ASCII
// spaces, tabs and line breaks, but also U+00A0 NO-BREAK SPACE, U+3000
// IDEOGRAPHIC SPACE and the other Unicode spaces). The Python twin
// (docs/lessons/python/lesson5.py) applies the same rules with str.split(),
// str.strip() and slicing, so both servers keep the same nick and body.
//
// Text that is not valid UTF-8 (a nick from a hand-made query string) is
// never cut inside a sequence: each stray byte counts as one character.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lesson5 {

/// Whether code point `c` is whitespace in Python's sense (str.isspace()).
bool is_space(char32_t c);

/// Whether `text` is empty or whitespace only (Python: `not text.strip()`).
bool is_blank(std::string_view text);

/// The first `max_chars` characters of `text`, never cutting one in half
/// (Python: `text[:max_chars]`).
std::string first_chars(std::string_view text, std::size_t max_chars);

/// One line: runs of whitespace become one space, none at either end, at
/// most `max_chars` characters; empty if nothing is left (Python:
/// `" ".join(nick.split())[:max_chars].rstrip()`).
std::string one_line(std::string_view text, std::size_t max_chars);

}  // namespace lesson5
