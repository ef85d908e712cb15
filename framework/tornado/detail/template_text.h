// Text helpers shared by tornado::escape and tornado::template_: UTF-8
// decoding, Python's notion of whitespace, and Python's str()/repr() of
// JSON values. Templates must print values exactly as Tornado does, and
// Tornado prints them with Python's own formatting rules.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace tornado::detail {

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

/// Appends `text` with & < > " ' replaced by their HTML entities (Tornado's
/// xhtml_escape); the renderer's hot loop, so it scans with a table.
void append_xhtml_escaped(std::string& out, std::string_view text);

/// Appends Python's `repr(float)`: the shortest round-trip digits, with an
/// exponent below 1e-4 and from 1e16 on ("1e-05", "1e+16", "2.0").
void append_float_repr(std::string& out, double value);

/// Appends Python's `repr()` of a value decoded from JSON: None, True,
/// 'quoted', [1, 2], {'k': 'v'}.
void append_python_repr(std::string& out, const nlohmann::json& value);

/// Appends Python's `str()`: strings unquoted, everything else as repr.
void append_python_str(std::string& out, const nlohmann::json& value);

/// Appends a string as Python's `repr(str)` would quote it.
void append_python_string_repr(std::string& out, std::string_view text);

}  // namespace tornado::detail
