#include "chat_text.h"

namespace lesson5 {
namespace {

// One character of `text` starting at `pos`: its code point and its length in
// bytes. A byte that does not start a well-formed sequence is a character of
// its own (code point U+FFFD), so nothing is ever split.
struct Char {
  char32_t code;
  std::size_t size;
};

Char char_at(std::string_view text, std::size_t pos) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(pos);
  if (lead < 0x80) return {lead, 1};
  std::size_t size = lead >= 0xF0 && lead <= 0xF4   ? 4
                     : lead >= 0xE0                 ? 3
                     : lead >= 0xC2 && lead <= 0xDF ? 2
                                                    : 0;
  if (lead >= 0xF5) size = 0;
  if (size == 0 || pos + size > text.size()) return {0xFFFD, 1};
  char32_t code = lead & (0xFF >> (size + 1));
  for (std::size_t i = 1; i < size; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return {0xFFFD, 1};
    code = (code << 6) | (byte(pos + i) & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not characters.
  static constexpr char32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kSmallest[size] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
    return {0xFFFD, 1};
  }
  return {code, size};
}

}  // namespace

bool is_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool is_blank(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    Char c = char_at(text, pos);
    if (!is_space(c.code)) return false;
    pos += c.size;
  }
  return true;
}

std::string first_chars(std::string_view text, std::size_t max_chars) {
  std::size_t pos = 0;
  for (std::size_t count = 0; pos < text.size() && count < max_chars; ++count) {
    pos += char_at(text, pos).size;
  }
  return std::string(text.substr(0, pos));
}

std::string one_line(std::string_view text, std::size_t max_chars) {
  std::string out;
  std::size_t count = 0;
  bool pending_space = false;
  for (std::size_t pos = 0; pos < text.size() && count < max_chars;) {
    Char c = char_at(text, pos);
    if (is_space(c.code)) {
      pending_space = !out.empty();
    } else {
      if (pending_space) {
        out.push_back(' ');
        ++count;
        pending_space = false;
      }
      // A space that used up the last place would end the line: drop it.
      if (count == max_chars) {
        out.pop_back();
        break;
      }
      out.append(text.substr(pos, c.size));
      ++count;
    }
    pos += c.size;
  }
  return out;
}

}  // namespace lesson5
