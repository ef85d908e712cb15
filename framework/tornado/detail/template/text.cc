#include "tornado/detail/template/text.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>

namespace tornado::detail {

namespace {

constexpr std::array<std::uint8_t, 256> make_escape_table() {
  std::array<std::uint8_t, 256> table{};
  table['&'] = 1;
  table['<'] = 2;
  table['>'] = 3;
  table['"'] = 4;
  table['\''] = 5;
  return table;
}
constexpr std::array<std::uint8_t, 256> kEscapeTable = make_escape_table();
constexpr std::string_view kEntities[] = {"", "&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};

}  // namespace

void append_xhtml_escaped(std::string& out, std::string_view text) {
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    const char* run = p;
    while (p < end && !kEscapeTable[static_cast<unsigned char>(*p)]) ++p;
    out.append(run, static_cast<std::size_t>(p - run));
    if (p == end) break;
    out.append(kEntities[kEscapeTable[static_cast<unsigned char>(*p)]]);
    ++p;
  }
}

void append_float_repr(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "nan";
    return;
  }
  if (std::isinf(value)) {
    out += value < 0 ? "-inf" : "inf";
    return;
  }
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<std::size_t>(result.ptr - buf));
  if (!sci.empty() && sci[0] == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const std::size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos)) {
    if (c != '.') digits += c;
  }
  int exponent = 0;
  std::string_view exp_text = sci.substr(e_pos + 1);
  if (!exp_text.empty() && exp_text[0] == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exponent);
  const int decpt = exponent + 1;  // value = 0.DIGITS * 10^decpt
  const int ndigits = static_cast<int>(digits.size());
  if (decpt > 16 || decpt < -3) {
    out += digits[0];
    if (ndigits > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += 'e';
    out += exponent < 0 ? '-' : '+';
    const int magnitude = exponent < 0 ? -exponent : exponent;
    if (magnitude < 10) out += '0';
    out += std::to_string(magnitude);
  } else if (decpt <= 0) {
    out += "0.";
    out.append(static_cast<std::size_t>(-decpt), '0');
    out += digits;
  } else if (decpt >= ndigits) {
    out += digits;
    out.append(static_cast<std::size_t>(decpt - ndigits), '0');
    out += ".0";
  } else {
    out.append(digits, 0, static_cast<std::size_t>(decpt));
    out += '.';
    out.append(digits, static_cast<std::size_t>(decpt));
  }
}

namespace {

// Python's str.isprintable() for the characters where it says no; the rest of
// Unicode's unassigned code points are treated as printable.
bool is_python_unprintable(char32_t c) noexcept {
  if (c < 0x20 || c == 0x7F) return true;
  if (c < 0x80) return false;
  return c <= 0xA0 || c == 0xAD || (c >= 0x600 && c <= 0x605) || c == 0x61C || c == 0x6DD ||
         c == 0x70F || c == 0x1680 || c == 0x180E || (c >= 0x2000 && c <= 0x200F) ||
         (c >= 0x2028 && c <= 0x202F) || (c >= 0x205F && c <= 0x2064) ||
         (c >= 0x2066 && c <= 0x206F) || c == 0x3000 || (c >= 0xD800 && c <= 0xF8FF) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB) || c == 0xFFFE || c == 0xFFFF || c >= 0xF0000;
}

void append_hex(std::string& out, char32_t value, int width) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int shift = (width - 1) * 4; shift >= 0; shift -= 4) out += kHex[(value >> shift) & 0xF];
}

}  // namespace

void append_python_string_repr(std::string& out, std::string_view text) {
  const bool has_single = text.find('\'') != std::string_view::npos;
  const bool has_double = text.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  out += quote;
  std::size_t i = 0;
  while (i < text.size()) {
    const Utf8Char c = decode_utf8(text, i);
    const char32_t cp = c.code_point;
    if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (c.valid && is_python_unprintable(cp)) {
      if (cp < 0x100) {
        out += "\\x";
        append_hex(out, cp, 2);
      } else if (cp < 0x10000) {
        out += "\\u";
        append_hex(out, cp, 4);
      } else {
        out += "\\U";
        append_hex(out, cp, 8);
      }
    } else if (c.valid) {
      out.append(text.substr(i, c.size));
    } else {
      append_utf8(out, 0xFFFD);
    }
    i += c.size;
  }
  out += quote;
}

void append_python_repr(std::string& out, const nlohmann::json& value) {
  using Type = nlohmann::json::value_t;
  switch (value.type()) {
    case Type::null:
    case Type::discarded:
      out += "None";
      break;
    case Type::boolean:
      out += value.get<bool>() ? "True" : "False";
      break;
    case Type::number_integer:
      out += std::to_string(value.get<std::int64_t>());
      break;
    case Type::number_unsigned:
      out += std::to_string(value.get<std::uint64_t>());
      break;
    case Type::number_float:
      append_float_repr(out, value.get<double>());
      break;
    case Type::string:
      append_python_string_repr(out, value.get_ref<const std::string&>());
      break;
    case Type::array:
    case Type::object:
      append_list_or_dict(out, value, append_python_string_repr, append_python_repr);
      break;
    case Type::binary:
      out += "b''";
      break;
  }
}

void append_python_str(std::string& out, const nlohmann::json& value) {
  if (value.is_string()) {
    out += value.get_ref<const std::string&>();
  } else {
    append_python_repr(out, value);
  }
}

}  // namespace tornado::detail
