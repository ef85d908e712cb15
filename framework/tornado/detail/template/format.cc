#include "tornado/detail/template/format.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tornado/detail/template/text.h"

namespace tornado::detail {

// 128-bit arithmetic for exact range lengths and digits; GCC's -Wpedantic
// accepts the type only behind __extension__.
__extension__ using Int128 = __int128;
__extension__ using Uint128 = unsigned __int128;

namespace {

[[noreturn]] void value_error(const std::string& message) {
  throw EvalError("ValueError", message);
}
[[noreturn]] void type_error(const std::string& message) {
  throw EvalError("TypeError", message);
}

constexpr std::int64_t kMaxWidth = 1 << 20;

struct Spec {
  std::string fill = " ";
  bool fill_given = false;
  char align = 0;
  char sign = 0;
  bool alternate = false;
  bool zero = false;
  std::int64_t width = -1;
  char grouping = 0;
  std::int64_t precision = -1;
  char type = 0;
};

std::int64_t parse_digits(std::string_view s, std::size_t& i) {
  std::int64_t value = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    value = value * 10 + (s[i] - '0');
    if (value > kMaxWidth) value_error("Too many decimal digits in format string");
    ++i;
  }
  return value;
}

bool is_align(char c) {
  return c == '<' || c == '>' || c == '=' || c == '^';
}

Spec parse_spec(std::string_view s) {
  Spec spec;
  std::size_t i = 0;
  if (!s.empty()) {
    const auto first = decode_utf8(s, 0);
    if (first.size < s.size() && is_align(s[first.size])) {
      spec.fill = std::string(s.substr(0, first.size));
      spec.fill_given = true;
      spec.align = s[first.size];
      i = first.size + 1;
    } else if (is_align(s[0])) {
      spec.align = s[0];
      i = 1;
    }
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) spec.sign = s[i++];
  if (i < s.size() && s[i] == 'z') ++i;
  if (i < s.size() && s[i] == '#') {
    spec.alternate = true;
    ++i;
  }
  if (i < s.size() && s[i] == '0') {
    spec.zero = true;
    ++i;
  }
  if (i < s.size() && s[i] >= '0' && s[i] <= '9') spec.width = parse_digits(s, i);
  if (i < s.size() && (s[i] == ',' || s[i] == '_')) spec.grouping = s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (i >= s.size() || s[i] < '0' || s[i] > '9')
      value_error("Format specifier missing precision");
    spec.precision = parse_digits(s, i);
  }
  if (i < s.size()) spec.type = s[i++];
  if (i != s.size()) value_error("Invalid format specifier");
  return spec;
}

std::string pad(const std::string& prefix, const std::string& body, const Spec& spec,
                char default_align) {
  char align = spec.align;
  std::string fill = spec.fill;
  if (spec.zero) {
    if (!spec.fill_given) fill = "0";
    if (!align) align = default_align == '<' ? '<' : '=';
  }
  if (!align) align = default_align;
  const auto length = static_cast<std::int64_t>(utf8_length(prefix) + utf8_length(body));
  if (spec.width <= length) return prefix + body;
  const std::int64_t padding = spec.width - length;
  auto fills = [&](std::int64_t n) {
    std::string out;
    for (std::int64_t k = 0; k < n; ++k) out += fill;
    return out;
  };
  switch (align) {
    case '<':
      return prefix + body + fills(padding);
    case '^':
      return fills(padding / 2) + prefix + body + fills(padding - padding / 2);
    case '=':
      return prefix + fills(padding) + body;
    default:
      return fills(padding) + prefix + body;
  }
}

std::string group_digits(const std::string& digits, char separator, std::size_t every) {
  std::string out;
  const std::size_t n = digits.size();
  for (std::size_t k = 0; k < n; ++k) {
    if (k > 0 && (n - k) % every == 0) out += separator;
    out += digits[k];
  }
  return out;
}

// With zero padding, Python puts the group separators in the padding too:
// format(1, "05,") is "0,001".
bool zero_padded(const Spec& spec) {
  return spec.zero && !spec.fill_given && (!spec.align || spec.align == '=');
}

std::string group_zero_padded(std::string digits, char separator, std::size_t every,
                              std::int64_t needed) {
  std::string grouped = group_digits(digits, separator, every);
  while (static_cast<std::int64_t>(grouped.size()) < needed) {
    digits.insert(0, 1, '0');
    grouped = group_digits(digits, separator, every);
  }
  return grouped;
}

std::string unsigned_digits(Uint128 magnitude, int base, bool upper) {
  const char* alphabet = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string digits;
  do {
    digits.insert(digits.begin(),
                  alphabet[static_cast<int>(magnitude % static_cast<unsigned>(base))]);
    magnitude /= static_cast<unsigned>(base);
  } while (magnitude > 0);
  return digits;
}

Uint128 magnitude_of(std::int64_t v) {
  return v < 0 ? static_cast<Uint128>(-(static_cast<Int128>(v))) : static_cast<Uint128>(v);
}

std::string sign_prefix(bool negative, char sign) {
  if (negative) return "-";
  if (sign == '+') return "+";
  if (sign == ' ') return " ";
  return "";
}

std::string format_int(std::int64_t value, const Spec& spec, std::string_view type_label) {
  if (spec.precision >= 0) value_error("Precision not allowed in integer format specifier");
  int base = 10;
  bool upper = false;
  std::string alt;
  switch (spec.type) {
    case 0:
    case 'd':
    case 'n':
      break;
    case 'b':
      base = 2;
      alt = "0b";
      break;
    case 'o':
      base = 8;
      alt = "0o";
      break;
    case 'x':
      base = 16;
      alt = "0x";
      break;
    case 'X':
      base = 16;
      alt = "0X";
      upper = true;
      break;
    case 'c': {
      if (spec.sign) value_error("Sign not allowed with integer format specifier 'c'");
      if (spec.grouping)
        value_error(std::string("Cannot specify '") + spec.grouping + "' with 'c'.");
      if (value < 0 || value > 0x10FFFF)
        throw EvalError("OverflowError", "%c arg not in range(0x110000)");
      std::string ch;
      append_utf8(ch, static_cast<char32_t>(value));
      return pad("", ch, spec, '>');
    }
    default:
      value_error("Unknown format code '" + std::string(1, spec.type) + "' for object of type '" +
                  std::string(type_label) + "'");
  }
  std::string digits = unsigned_digits(magnitude_of(value), base, upper);
  std::string prefix = sign_prefix(value < 0, spec.sign);
  if (spec.alternate) prefix += alt;
  if (spec.grouping) {
    if (spec.type == 'n' || (spec.grouping == ',' && base != 10)) {
      value_error(std::string("Cannot specify '") + spec.grouping + "' with '" + spec.type + "'.");
    }
    const std::size_t every = base == 10 ? 3 : 4;
    digits = zero_padded(spec)
                 ? group_zero_padded(digits, spec.grouping, every,
                                     spec.width - static_cast<std::int64_t>(prefix.size()))
                 : group_digits(digits, spec.grouping, every);
  }
  return pad(prefix, digits, spec, '>');
}

std::string c_format_double(double magnitude, char type, std::int64_t precision, bool alternate) {
  // std::to_chars formats as printf does, and several times faster.
  if (!alternate && (type == 'f' || type == 'e' || type == 'g')) {
    char fast[128];
    const auto format = type == 'f'   ? std::chars_format::fixed
                        : type == 'e' ? std::chars_format::scientific
                                      : std::chars_format::general;
    const auto result =
        std::to_chars(fast, fast + sizeof fast, magnitude, format, static_cast<int>(precision));
    if (result.ec == std::errc()) return std::string(fast, result.ptr);
  }
  char format[16];
  std::snprintf(format, sizeof format, "%%%s.*%c", alternate ? "#" : "", type);
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, format, static_cast<int>(precision), magnitude);
  if (n >= 0 && static_cast<std::size_t>(n) < sizeof buf)
    return std::string(buf, static_cast<std::size_t>(n));
  std::string big(static_cast<std::size_t>(n) + 1, '\0');
  std::snprintf(big.data(), big.size(), format, static_cast<int>(precision), magnitude);
  big.resize(static_cast<std::size_t>(n));
  return big;
}

// printf's %g; with `python_default`, Python's float format without a type
// but with a precision, which keeps a digit after the point and switches to
// an exponent one digit earlier.
std::string format_general(double magnitude, std::int64_t precision, bool alternate,
                           bool python_default, bool upper) {
  if (precision == 0) precision = 1;
  std::string sci(static_cast<std::size_t>(precision) + 32, '\0');
  const int n =
      std::snprintf(sci.data(), sci.size(), "%.*e", static_cast<int>(precision - 1), magnitude);
  sci.resize(static_cast<std::size_t>(n));
  const std::size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits += c;
  }
  const int exponent = std::atoi(sci.c_str() + e + 1);
  const std::int64_t decpt = exponent + 1;
  const bool use_exponent = decpt <= -4 || decpt > (python_default ? precision - 1 : precision);
  if (!alternate) {
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  }
  std::string out;
  if (use_exponent) {
    out += digits[0];
    if (digits.size() > 1 || alternate) out += '.';
    out.append(digits, 1);
    out += upper ? 'E' : 'e';
    out += exponent < 0 ? '-' : '+';
    const int magnitude_exp = exponent < 0 ? -exponent : exponent;
    if (magnitude_exp < 10) out += '0';
    out += std::to_string(magnitude_exp);
    return out;
  }
  const auto ndigits = static_cast<std::int64_t>(digits.size());
  if (decpt <= 0) {
    out = "0." + std::string(static_cast<std::size_t>(-decpt), '0') + digits;
  } else if (decpt >= ndigits) {
    out = digits + std::string(static_cast<std::size_t>(decpt - ndigits), '0');
    if (python_default) {
      out += ".0";
    } else if (alternate) {
      out += '.';
    }
  } else {
    out = digits.substr(0, static_cast<std::size_t>(decpt)) + "." +
          digits.substr(static_cast<std::size_t>(decpt));
  }
  return out;
}

std::string format_float(double value, const Spec& spec, std::string_view type_label) {
  char type = spec.type;
  if (type == 'n') type = 'g';
  if (type && type != 'e' && type != 'E' && type != 'f' && type != 'F' && type != 'g' &&
      type != 'G' && type != '%') {
    value_error("Unknown format code '" + std::string(1, type) + "' for object of type '" +
                std::string(type_label) + "'");
  }
  const bool negative = std::signbit(value) && !std::isnan(value);
  const double magnitude = std::fabs(value);
  std::string body;
  if (!std::isfinite(magnitude)) {
    body = std::isnan(magnitude) ? "nan" : "inf";
    if (type == 'E' || type == 'F' || type == 'G') body = std::isnan(magnitude) ? "NAN" : "INF";
    if (type == '%') body += '%';
  } else if (type == 0) {
    if (spec.precision < 0) {
      append_float_repr(body, magnitude);
      if (spec.alternate && body.find('.') == std::string::npos) {
        const std::size_t e = body.find('e');
        body.insert(e == std::string::npos ? body.size() : e, 1, '.');
      }
    } else {
      body = format_general(magnitude, spec.precision, spec.alternate, true, false);
    }
  } else if (type == 'g' || type == 'G') {
    body = format_general(magnitude, spec.precision < 0 ? 6 : spec.precision, spec.alternate, false,
                          type == 'G');
  } else if (type == '%') {
    body = c_format_double(magnitude * 100, 'f', spec.precision < 0 ? 6 : spec.precision,
                           spec.alternate) +
           "%";
  } else {
    std::int64_t precision = spec.precision < 0 ? 6 : spec.precision;
    if ((type == 'g' || type == 'G') && precision == 0) precision = 1;
    body = c_format_double(magnitude, type, precision, spec.alternate);
  }
  const std::string prefix = sign_prefix(negative, spec.sign);
  if (spec.grouping && spec.type == 'n') {
    value_error(std::string("Cannot specify '") + spec.grouping + "' with 'n'.");
  }
  if (spec.grouping && std::isfinite(magnitude)) {
    std::size_t int_end = 0;
    while (int_end < body.size() && body[int_end] >= '0' && body[int_end] <= '9') ++int_end;
    const std::string rest = body.substr(int_end);
    const std::string digits = body.substr(0, int_end);
    const std::int64_t needed = spec.width - static_cast<std::int64_t>(prefix.size() + rest.size());
    body = (zero_padded(spec) ? group_zero_padded(digits, spec.grouping, 3, needed)
                              : group_digits(digits, spec.grouping, 3)) +
           rest;
  }
  return pad(prefix, body, spec, '>');
}

}  // namespace

std::string format_with_spec(const Value& value, std::string_view spec_text) {
  if (spec_text.empty()) return to_str(value);
  const Spec spec = parse_spec(spec_text);
  const Json* j = value.json();
  if (j && j->is_string()) {
    if (spec.type && spec.type != 's') {
      value_error("Unknown format code '" + std::string(1, spec.type) +
                  "' for object of type 'str'");
    }
    if (spec.sign) value_error("Sign not allowed in string format specifier");
    if (spec.alternate) value_error("Alternate form (#) not allowed in string format specifier");
    if (spec.align == '=') value_error("'=' alignment not allowed in string format specifier");
    if (spec.grouping)
      value_error("Cannot specify '" + std::string(1, spec.grouping) + "' with 's'.");
    std::string body = j->get_ref<const std::string&>();
    if (spec.precision >= 0) {
      std::size_t i = 0;
      for (std::int64_t n = 0; n < spec.precision && i < body.size(); ++n) {
        i += decode_utf8(body, i).size;
      }
      body.resize(i);
    }
    return pad("", body, spec, '<');
  }
  if (const auto n = as_number(value)) {
    const std::string label = type_name(value);
    if (n->is_int) {
      if (spec.type && std::string_view("eEfFgG%").find(spec.type) != std::string_view::npos) {
        return format_float(static_cast<double>(n->i), spec, label);
      }
      return format_int(n->i, spec, label);
    }
    return format_float(n->d, spec, label);
  }
  type_error("unsupported format string passed to " + type_name(value) + ".__format__");
}

std::string percent_format(const std::string& format, const Value& args) {
  // The arguments: a tuple's items, or the one value.
  const Value* positional = &args;
  std::size_t positional_count = 1;
  const Json* mapping = nullptr;
  if (const auto* t = args.get_if<SequenceValue>(); t && !t->is_list) {
    positional = t->items->data();
    positional_count = t->items->size();
  } else if (const Json* j = args.json(); j && j->is_object()) {
    mapping = j;
  }
  std::size_t next = 0;
  bool used_mapping = false;
  auto next_arg = [&]() -> const Value& {
    if (next >= positional_count) type_error("not enough arguments for format string");
    return positional[next++];
  };
  std::string out;
  std::size_t i = 0;
  while (i < format.size()) {
    const std::size_t percent = format.find('%', i);
    if (percent == std::string::npos) {
      out.append(format, i);
      break;
    }
    out.append(format, i, percent - i);
    i = percent + 1;
    if (i >= format.size()) value_error("incomplete format");
    if (format[i] == '%') {
      out += '%';
      ++i;
      continue;
    }
    std::optional<Value> keyed;
    if (format[i] == '(') {
      if (!mapping) type_error("format requires a mapping");
      int depth = 1;
      const std::size_t start = ++i;
      while (i < format.size() && depth > 0) {
        if (format[i] == '(') ++depth;
        if (format[i] == ')') --depth;
        ++i;
      }
      if (depth > 0) value_error("incomplete format key");
      keyed = get_item(Value::ref(mapping), Value(Json(format.substr(start, i - 1 - start))));
      used_mapping = true;
    }
    bool left = false, plus = false, space = false, alternate = false, zero = false;
    for (; i < format.size(); ++i) {
      const char f = format[i];
      if (f == '-')
        left = true;
      else if (f == '+')
        plus = true;
      else if (f == ' ')
        space = true;
      else if (f == '#')
        alternate = true;
      else if (f == '0')
        zero = true;
      else
        break;
    }
    std::int64_t width = -1, precision = -1;
    if (i < format.size() && format[i] == '*') {
      const auto n = as_number(next_arg());
      if (!n || !n->is_int) type_error("* wants int");
      width = n->i;
      if (width < 0) {
        left = true;
        width = -width;
      }
      ++i;
    } else if (i < format.size() && format[i] >= '0' && format[i] <= '9') {
      width = parse_digits(format, i);
    }
    if (i < format.size() && format[i] == '.') {
      ++i;
      if (i < format.size() && format[i] == '*') {
        const auto n = as_number(next_arg());
        if (!n || !n->is_int) type_error("* wants int");
        precision = std::max<std::int64_t>(0, n->i);
        ++i;
      } else {
        precision = parse_digits(format, i);
      }
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) value_error("incomplete format");
    const char type = format[i++];
    if (width > kMaxWidth || precision > kMaxWidth) value_error("width too big");
    const Value& arg = keyed ? *keyed : next_arg();
    std::string sign, body;
    bool numeric = true;
    switch (type) {
      case 's':
      case 'r':
      case 'a': {
        numeric = false;
        if (type == 's') {
          body = to_str(arg);
        } else {
          append_repr(body, arg);
        }
        if (precision >= 0) {
          std::size_t k = 0;
          for (std::int64_t n = 0; n < precision && k < body.size(); ++n) {
            k += decode_utf8(body, k).size;
          }
          body.resize(k);
        }
        break;
      }
      case 'd':
      case 'i':
      case 'u':
      case 'o':
      case 'x':
      case 'X': {
        const auto n = as_number(arg);
        const bool integral_only = type == 'o' || type == 'x' || type == 'X';
        if (!n || (integral_only && !n->is_int)) {
          type_error(std::string("%") + type +
                     " format: " + (integral_only ? "an integer" : "a real number") +
                     " is required, not " + type_name(arg));
        }
        std::int64_t v = n->i;
        const int base = type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
        bool negative_float = false;
        if (!n->is_int) {
          if (!std::isfinite(n->d)) {
            throw EvalError("OverflowError", "cannot convert float infinity to integer");
          }
          const double t = std::trunc(n->d);
          if (std::fabs(t) < 9.2233720368547758e18) {
            v = static_cast<std::int64_t>(t);
          } else {
            // Beyond 64 bits the double is an integer, printed exactly.
            v = 0;
            negative_float = t < 0;
            body = c_format_double(std::fabs(t), 'f', 0, false);
          }
        }
        if (body.empty()) body = unsigned_digits(magnitude_of(v), base, type == 'X');
        if (precision >= 0 && static_cast<std::int64_t>(body.size()) < precision) {
          body.insert(0, static_cast<std::size_t>(precision) - body.size(), '0');
        }
        sign = v < 0 || negative_float ? "-" : plus ? "+" : space ? " " : "";
        if (alternate && base != 10) sign += type == 'o' ? "0o" : type == 'x' ? "0x" : "0X";
        break;
      }
      case 'e':
      case 'E':
      case 'f':
      case 'F':
      case 'g':
      case 'G': {
        const auto n = as_number(arg);
        if (!n) type_error("must be real number, not " + type_name(arg));
        const double d = n->is_int ? static_cast<double>(n->i) : n->d;
        const bool negative = std::signbit(d) && !std::isnan(d);
        const double magnitude = std::fabs(d);
        if (!std::isfinite(magnitude)) {
          body = std::isnan(magnitude) ? "nan" : "inf";
          if (type == 'E' || type == 'F' || type == 'G')
            body = std::isnan(magnitude) ? "NAN" : "INF";
        } else {
          std::int64_t p = precision < 0 ? 6 : precision;
          if ((type == 'g' || type == 'G') && p == 0) p = 1;
          body = c_format_double(magnitude, type, p, alternate);
        }
        sign = negative ? "-" : plus ? "+" : space ? " " : "";
        break;
      }
      case 'c': {
        numeric = false;
        if (const auto n = as_number(arg); n && n->is_int) {
          if (n->i < 0 || n->i > 0x10FFFF)
            throw EvalError("OverflowError", "%c arg not in range(0x110000)");
          append_utf8(body, static_cast<char32_t>(n->i));
        } else if (const Json* s = arg.json();
                   s && s->is_string() && utf8_length(s->get_ref<const std::string&>()) == 1) {
          body = s->get_ref<const std::string&>();
        } else {
          type_error("%c requires int or char");
        }
        break;
      }
      default:
        value_error("unsupported format character '" + std::string(1, type) + "'");
    }
    const auto length =
        width > 0 ? static_cast<std::int64_t>(utf8_length(sign) + utf8_length(body)) : 0;
    const auto padding = width > length ? static_cast<std::size_t>(width - length) : 0;
    if (padding && !left && !(zero && numeric)) out.append(padding, ' ');
    out += sign;
    if (padding && !left && zero && numeric) out.append(padding, '0');
    out += body;
    if (padding && left) out.append(padding, ' ');
    check_value_size(out.size());  // each field may add up to kMaxWidth bytes
  }
  // Python skips this check when the argument has __getitem__ (dict, list,
  // range): `"w" % [1]` is "w".
  const bool subscriptable =
      mapping || (args.json() && args.json()->is_array()) || args.get_if<RangeValue>() ||
      (args.get_if<SequenceValue>() && args.get_if<SequenceValue>()->is_list);
  if (next < positional_count && !used_mapping && !subscriptable) {
    type_error("not all arguments converted during string formatting");
  }
  return out;
}

std::string str_format(const std::string& format, const std::vector<Value>& positional,
                       const std::vector<std::pair<std::string, Value>>& keywords) {
  std::size_t auto_index = 0;
  bool manual = false, automatic = false;
  std::string out;
  std::size_t i = 0;
  auto resolve = [&](std::string_view field) -> Value {
    std::size_t k = 0;
    while (k < field.size() && field[k] != '.' && field[k] != '[') ++k;
    const std::string_view head = field.substr(0, k);
    Value value;
    if (head.empty()) {
      if (manual)
        value_error("cannot switch from manual field specification to automatic field numbering");
      automatic = true;
      if (auto_index >= positional.size()) {
        throw EvalError("IndexError", "Replacement index " + std::to_string(auto_index) +
                                          " out of range for positional args tuple");
      }
      value = positional[auto_index++];
    } else if (head.find_first_not_of("0123456789") == std::string_view::npos) {
      if (automatic)
        value_error("cannot switch from automatic field numbering to manual field specification");
      manual = true;
      std::size_t index = 0;
      for (char c : head) index = index * 10 + static_cast<std::size_t>(c - '0');
      if (head.size() > 9 || index >= positional.size()) {
        throw EvalError("IndexError", "Replacement index " + std::string(head) +
                                          " out of range for positional args tuple");
      }
      value = positional[index];
    } else {
      bool found = false;
      for (const auto& [name, v] : keywords) {
        if (name == head) {
          value = v;
          found = true;
          break;
        }
      }
      if (!found) {
        std::string repr;
        append_python_string_repr(repr, head);
        throw EvalError("KeyError", repr);
      }
    }
    while (k < field.size()) {
      if (field[k] == '.') {
        std::size_t end = k + 1;
        while (end < field.size() && field[end] != '.' && field[end] != '[') ++end;
        value = get_attribute(std::move(value), field.substr(k + 1, end - k - 1));
        k = end;
      } else {
        const std::size_t close = field.find(']', k);
        if (close == std::string_view::npos) value_error("Missing ']' in format string");
        const std::string_view key = field.substr(k + 1, close - k - 1);
        if (!key.empty() && key.find_first_not_of("0123456789") == std::string_view::npos &&
            key.size() < 18) {
          std::int64_t index = 0;
          for (char c : key) index = index * 10 + (c - '0');
          value = get_item(std::move(value), Value(Json(index)));
        } else {
          value = get_item(std::move(value), Value(Json(std::string(key))));
        }
        k = close + 1;
      }
    }
    return value;
  };
  while (i < format.size()) {
    const char c = format[i];
    if (c == '{' && i + 1 < format.size() && format[i + 1] == '{') {
      out += '{';
      i += 2;
      continue;
    }
    if (c == '}') {
      if (i + 1 < format.size() && format[i + 1] == '}') {
        out += '}';
        i += 2;
        continue;
      }
      value_error("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    // Find the matching '}', allowing one level of nested fields in the spec.
    std::size_t j = i + 1;
    int depth = 1;
    while (j < format.size()) {
      if (format[j] == '{') ++depth;
      if (format[j] == '}' && --depth == 0) break;
      ++j;
    }
    if (j >= format.size()) value_error("expected '}' before end of string");
    const std::string_view field_text(format.data() + i + 1, j - i - 1);
    std::size_t end = 0;
    int bracket = 0;
    while (end < field_text.size()) {
      const char f = field_text[end];
      if (f == '[') ++bracket;
      if (f == ']') --bracket;
      if (bracket == 0 && (f == '!' || f == ':')) break;
      ++end;
    }
    Value value = resolve(field_text.substr(0, end));
    if (end < field_text.size() && field_text[end] == '!') {
      if (end + 1 >= field_text.size())
        value_error("end of string while looking for conversion specifier");
      const char conversion = field_text[end + 1];
      if (conversion == 'r' || conversion == 'a') {
        std::string repr;
        append_repr(repr, value);
        value = Value(Json(std::move(repr)));
      } else if (conversion == 's') {
        value = Value(Json(to_str(value)));
      } else {
        value_error("Unknown conversion specifier " + std::string(1, conversion));
      }
      end += 2;
      if (end < field_text.size() && field_text[end] != ':') {
        value_error("expected ':' after conversion specifier");
      }
    }
    std::string spec;
    if (end < field_text.size() && field_text[end] == ':') {
      spec = str_format(std::string(field_text.substr(end + 1)), positional, keywords);
    }
    out += format_with_spec(value, spec);
    check_value_size(out.size());
    i = j + 1;
  }
  return out;
}

}  // namespace tornado::detail
