// ASCII-only text helpers for protocol text: header names and tokens, URL
// schemes, option words. HTTP compares these case-insensitively in ASCII
// only (RFC 9110 5.1), whatever the locale, so <cctype> is not used.
//
//   tornado::detail::ascii_lower("Content-TYPE");          // "content-type"
//   tornado::detail::iequals("Upgrade", "upgrade");         // true
//   tornado::detail::is_token("GET");                       // true
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace tornado::detail {

constexpr char ascii_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
constexpr char ascii_upper(char c) noexcept {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

/// `text` with A-Z lowered; every other byte (UTF-8 included) unchanged.
inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

/// `text` with a-z raised; every other byte (UTF-8 included) unchanged.
inline std::string ascii_upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_upper(c);
  return out;
}

/// Equal but for the case of ASCII letters.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

namespace ascii_table {
// Header names are checked byte by byte on every request: one table look-up.
constexpr std::array<bool, 256> make_tchar() {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) table[static_cast<unsigned char>(c)] = true;
  return table;
}
inline constexpr std::array<bool, 256> kTchar = make_tchar();
}  // namespace ascii_table

/// A `tchar` of RFC 9110 5.6.2: a visible ASCII character that is not a
/// delimiter.
constexpr bool is_tchar(char c) noexcept {
  return ascii_table::kTchar[static_cast<unsigned char>(c)];
}

/// A `token` of RFC 9110 5.6.2 (method, header name, parameter name): one or
/// more tchars.
constexpr bool is_token(std::string_view text) noexcept {
  if (text.empty()) return false;
  for (char c : text) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

}  // namespace tornado::detail
