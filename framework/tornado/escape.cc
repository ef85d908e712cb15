#include "tornado/escape.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <optional>
#include <utility>

#include "tornado/detail/template/text.h"
#include "tornado/detail/utf8.h"

namespace tornado::escape {

namespace {

using detail::append_utf8;
using detail::decode_utf8;
using detail::python_strip;

constexpr char kHexUpper[] = "0123456789ABCDEF";

struct Entity {
  std::string_view name;
  char32_t code_point;
};

// The HTML 4 named character references, sorted by name (byte order).
constexpr Entity kEntities[] = {
    {"AElig", 198},   {"Aacute", 193},  {"Acirc", 194},   {"Agrave", 192},  {"Alpha", 913},
    {"Aring", 197},   {"Atilde", 195},  {"Auml", 196},    {"Beta", 914},    {"Ccedil", 199},
    {"Chi", 935},     {"Dagger", 8225}, {"Delta", 916},   {"ETH", 208},     {"Eacute", 201},
    {"Ecirc", 202},   {"Egrave", 200},  {"Epsilon", 917}, {"Eta", 919},     {"Euml", 203},
    {"Gamma", 915},   {"Iacute", 205},  {"Icirc", 206},   {"Igrave", 204},  {"Iota", 921},
    {"Iuml", 207},    {"Kappa", 922},   {"Lambda", 923},  {"Mu", 924},      {"Ntilde", 209},
    {"Nu", 925},      {"OElig", 338},   {"Oacute", 211},  {"Ocirc", 212},   {"Ograve", 210},
    {"Omega", 937},   {"Omicron", 927}, {"Oslash", 216},  {"Otilde", 213},  {"Ouml", 214},
    {"Phi", 934},     {"Pi", 928},      {"Prime", 8243},  {"Psi", 936},     {"Rho", 929},
    {"Scaron", 352},  {"Sigma", 931},   {"THORN", 222},   {"Tau", 932},     {"Theta", 920},
    {"Uacute", 218},  {"Ucirc", 219},   {"Ugrave", 217},  {"Upsilon", 933}, {"Uuml", 220},
    {"Xi", 926},      {"Yacute", 221},  {"Yuml", 376},    {"Zeta", 918},    {"aacute", 225},
    {"acirc", 226},   {"acute", 180},   {"aelig", 230},   {"agrave", 224},  {"alefsym", 8501},
    {"alpha", 945},   {"amp", 38},      {"and", 8743},    {"ang", 8736},    {"aring", 229},
    {"asymp", 8776},  {"atilde", 227},  {"auml", 228},    {"bdquo", 8222},  {"beta", 946},
    {"brvbar", 166},  {"bull", 8226},   {"cap", 8745},    {"ccedil", 231},  {"cedil", 184},
    {"cent", 162},    {"chi", 967},     {"circ", 710},    {"clubs", 9827},  {"cong", 8773},
    {"copy", 169},    {"crarr", 8629},  {"cup", 8746},    {"curren", 164},  {"dArr", 8659},
    {"dagger", 8224}, {"darr", 8595},   {"deg", 176},     {"delta", 948},   {"diams", 9830},
    {"divide", 247},  {"eacute", 233},  {"ecirc", 234},   {"egrave", 232},  {"empty", 8709},
    {"emsp", 8195},   {"ensp", 8194},   {"epsilon", 949}, {"equiv", 8801},  {"eta", 951},
    {"eth", 240},     {"euml", 235},    {"euro", 8364},   {"exist", 8707},  {"fnof", 402},
    {"forall", 8704}, {"frac12", 189},  {"frac14", 188},  {"frac34", 190},  {"frasl", 8260},
    {"gamma", 947},   {"ge", 8805},     {"gt", 62},       {"hArr", 8660},   {"harr", 8596},
    {"hearts", 9829}, {"hellip", 8230}, {"iacute", 237},  {"icirc", 238},   {"iexcl", 161},
    {"igrave", 236},  {"image", 8465},  {"infin", 8734},  {"int", 8747},    {"iota", 953},
    {"iquest", 191},  {"isin", 8712},   {"iuml", 239},    {"kappa", 954},   {"lArr", 8656},
    {"lambda", 955},  {"lang", 9001},   {"laquo", 171},   {"larr", 8592},   {"lceil", 8968},
    {"ldquo", 8220},  {"le", 8804},     {"lfloor", 8970}, {"lowast", 8727}, {"loz", 9674},
    {"lrm", 8206},    {"lsaquo", 8249}, {"lsquo", 8216},  {"lt", 60},       {"macr", 175},
    {"mdash", 8212},  {"micro", 181},   {"middot", 183},  {"minus", 8722},  {"mu", 956},
    {"nabla", 8711},  {"nbsp", 160},    {"ndash", 8211},  {"ne", 8800},     {"ni", 8715},
    {"not", 172},     {"notin", 8713},  {"nsub", 8836},   {"ntilde", 241},  {"nu", 957},
    {"oacute", 243},  {"ocirc", 244},   {"oelig", 339},   {"ograve", 242},  {"oline", 8254},
    {"omega", 969},   {"omicron", 959}, {"oplus", 8853},  {"or", 8744},     {"ordf", 170},
    {"ordm", 186},    {"oslash", 248},  {"otilde", 245},  {"otimes", 8855}, {"ouml", 246},
    {"para", 182},    {"part", 8706},   {"permil", 8240}, {"perp", 8869},   {"phi", 966},
    {"pi", 960},      {"piv", 982},     {"plusmn", 177},  {"pound", 163},   {"prime", 8242},
    {"prod", 8719},   {"prop", 8733},   {"psi", 968},     {"quot", 34},     {"rArr", 8658},
    {"radic", 8730},  {"rang", 9002},   {"raquo", 187},   {"rarr", 8594},   {"rceil", 8969},
    {"rdquo", 8221},  {"real", 8476},   {"reg", 174},     {"rfloor", 8971}, {"rho", 961},
    {"rlm", 8207},    {"rsaquo", 8250}, {"rsquo", 8217},  {"sbquo", 8218},  {"scaron", 353},
    {"sdot", 8901},   {"sect", 167},    {"shy", 173},     {"sigma", 963},   {"sigmaf", 962},
    {"sim", 8764},    {"spades", 9824}, {"sub", 8834},    {"sube", 8838},   {"sum", 8721},
    {"sup", 8835},    {"sup1", 185},    {"sup2", 178},    {"sup3", 179},    {"supe", 8839},
    {"szlig", 223},   {"tau", 964},     {"there4", 8756}, {"theta", 952},   {"thetasym", 977},
    {"thinsp", 8201}, {"thorn", 254},   {"tilde", 732},   {"times", 215},   {"trade", 8482},
    {"uArr", 8657},   {"uacute", 250},  {"uarr", 8593},   {"ucirc", 251},   {"ugrave", 249},
    {"uml", 168},     {"upsih", 978},   {"upsilon", 965}, {"uuml", 252},    {"weierp", 8472},
    {"xi", 958},      {"yacute", 253},  {"yen", 165},     {"yuml", 255},    {"zeta", 950},
    {"zwj", 8205},    {"zwnj", 8204}};

bool is_ascii_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Parses an integer the way Python's int(text, base) does for ASCII input:
// digits, optionally separated by single underscores.
std::optional<std::uint64_t> parse_python_int(std::string_view text, int base) {
  if (text.empty() || text.front() == '_' || text.back() == '_') return std::nullopt;
  std::uint64_t value = 0;
  bool previous_underscore = false;
  for (char c : text) {
    if (c == '_') {
      if (previous_underscore) return std::nullopt;
      previous_underscore = true;
      continue;
    }
    previous_underscore = false;
    int digit = -1;
    if (c >= '0' && c <= '9') digit = c - '0';
    if (c >= 'a' && c <= 'z') digit = c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') digit = c - 'A' + 10;
    if (digit < 0 || digit >= base) return std::nullopt;
    if (value >
        (UINT64_MAX - static_cast<std::uint64_t>(digit)) / static_cast<std::uint64_t>(base)) {
      value = UINT64_MAX;  // saturate: far outside Unicode anyway
    } else {
      value = value * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(digit);
    }
  }
  return value;
}

// Resolves the entity body between '&' and ';'; nullopt leaves it as written.
std::optional<char32_t> convert_entity(bool numeric, std::string_view body) {
  if (numeric) {
    std::optional<std::uint64_t> value;
    if (body[0] == 'x' || body[0] == 'X') {
      value = parse_python_int(body.substr(1), 16);
    } else {
      value = parse_python_int(body, 10);
    }
    // Surrogates cannot be encoded in UTF-8, so they stay as written.
    if (!value || *value > 0x10FFFF || (*value >= 0xD800 && *value <= 0xDFFF)) {
      return std::nullopt;
    }
    return static_cast<char32_t>(*value);
  }
  const auto* end = std::end(kEntities);
  const auto* it = std::lower_bound(std::begin(kEntities), end, body,
                                    [](const Entity& e, std::string_view n) { return e.name < n; });
  if (it == end || it->name != body) return std::nullopt;
  return it->code_point;
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto append_u = [&out](char32_t unit) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(unit >> shift) & 0xF];
  };
  out += '"';
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char b = static_cast<unsigned char>(text[i]);
    if (b >= 0x20 && b < 0x7F && b != '"' && b != '\\') {
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    const auto c = decode_utf8(text, i);
    i += c.size;
    switch (c.code_point) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c.code_point >= 0x10000) {
          const char32_t v = c.code_point - 0x10000;
          append_u(0xD800 + (v >> 10));
          append_u(0xDC00 + (v & 0x3FF));
        } else {
          append_u(c.code_point);
        }
    }
  }
  out += '"';
}

// For nlohmann::json (keys sorted) and nlohmann::ordered_json (insertion order).
template <class BasicJson>
void append_json(std::string& out, const BasicJson& value) {
  using Type = nlohmann::json::value_t;
  switch (value.type()) {
    case Type::null:
    case Type::discarded:
    case Type::binary:
      out += "null";
      break;
    case Type::boolean:
      out += value.template get<bool>() ? "true" : "false";
      break;
    case Type::number_integer:
      out += std::to_string(value.template get<std::int64_t>());
      break;
    case Type::number_unsigned:
      out += std::to_string(value.template get<std::uint64_t>());
      break;
    case Type::number_float: {
      const double d = value.template get<double>();
      if (std::isnan(d)) {
        out += "NaN";
      } else if (std::isinf(d)) {
        out += d < 0 ? "-Infinity" : "Infinity";
      } else {
        detail::append_float_repr(out, d);
      }
      break;
    }
    case Type::string:
      append_json_string(out, value.template get_ref<const std::string&>());
      break;
    case Type::array:
    case Type::object:
      detail::append_list_or_dict(out, value, append_json_string, append_json<BasicJson>);
      break;
  }
}

// Python's `\s` (Unicode) as the body of an RE2 character class.
constexpr std::string_view kSpaceClass =
    R"(\t\n\x{0b}\f\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029})"
    R"(\x{202f}\x{205f}\x{3000})";

// A URL: a scheme with one to three slashes, or "www."; then a run of
// characters that may not end in punctuation, where "&" may only appear as
// the entities xhtml_escape produces and parentheses must pair up.
std::string url_pattern() {
  const std::string space(kSpaceClass);
  const std::string chunk = "(?:[^" + space + "&()]|&amp;|&quot;)";
  const std::string tail = "[^!\"#$%&'()*+,.:;<=>?@\\[\\]^`{|}~" + space + "]";
  return "((?:([\\p{L}\\p{N}_-]+):(/{1,3})|www[.])(?:(?:" + chunk + "*" + tail + ")|(?:\\(" +
         chunk + "*\\)))+)";
}

bool is_word_char(std::string_view text, std::size_t pos) {
  const auto c = decode_utf8(text, pos);
  if (c.code_point < 0x80) return is_ascii_word(static_cast<char>(c.code_point));
  static const RE2 word("[\\p{L}\\p{N}]");
  return c.valid && RE2::FullMatch(text.substr(pos, c.size), word);
}

bool is_word_before(std::string_view text, std::size_t pos) {
  if (pos == 0) return false;
  std::size_t start = pos - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80 && pos - start < 4) {
    --start;
  }
  return is_word_char(text, start);
}

std::string shorten_url(const std::u32string& url, std::size_t proto_len, bool& shortened) {
  constexpr std::size_t kMaxLen = 30;
  std::u32string result = url;
  const std::u32string rest = url.substr(proto_len);
  const std::size_t slash = rest.find(U'/');
  if (slash != std::u32string::npos) {
    const std::size_t next_slash = rest.find(U'/', slash + 1);
    std::u32string second =
        rest.substr(slash + 1, next_slash == std::u32string::npos ? std::u32string::npos
                                                                  : next_slash - slash - 1);
    second = second.substr(0, 8);
    second = second.substr(0, second.find(U'?'));
    second = second.substr(0, second.find(U'.'));
    result = url.substr(0, proto_len) + rest.substr(0, slash) + U"/" + second;
  }
  if (result.size() > kMaxLen * 3 / 2) result = result.substr(0, kMaxLen);
  shortened = false;
  if (result != url) {
    const std::size_t amp = result.rfind(U'&');
    if (amp != std::u32string::npos && amp > kMaxLen - 5) result = result.substr(0, amp);
    result += U"...";
    if (result.size() >= url.size()) {
      result = url;
    } else {
      shortened = true;
    }
  }
  std::string out;
  for (char32_t c : result) append_utf8(out, c);
  return out;
}

std::u32string to_u32(std::string_view text) {
  std::u32string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = decode_utf8(text, i);
    out += c.code_point;
    i += c.size;
  }
  return out;
}

}  // namespace

std::string xhtml_escape(std::string_view value) {
  std::string out;
  out.reserve(value.size() + value.size() / 8);
  detail::append_xhtml_escaped(out, value);
  return out;
}

std::string xhtml_unescape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  std::size_t i = 0;
  while (i < value.size()) {
    const std::size_t amp = value.find('&', i);
    if (amp == std::string_view::npos) break;
    out.append(value.substr(i, amp - i));
    std::size_t pos = amp + 1;
    const bool numeric = pos < value.size() && value[pos] == '#';
    if (numeric) ++pos;
    std::size_t end = pos;
    while (end < value.size() && is_ascii_word(value[end])) ++end;
    std::optional<char32_t> converted;
    bool matched = end > pos && end < value.size() && value[end] == ';';
    if (matched) converted = convert_entity(numeric, value.substr(pos, end - pos));
    if (converted) {
      append_utf8(out, *converted);
      i = end + 1;
    } else if (matched) {
      out.append(value.substr(amp, end + 1 - amp));
      i = end + 1;
    } else {
      out += '&';
      i = amp + 1;
    }
  }
  if (i < value.size()) out.append(value.substr(i));
  return out;
}

std::string url_escape(std::string_view value, bool plus) {
  std::string out;
  out.reserve(value.size() * 3 / 2);
  for (char ch : value) {
    const auto b = static_cast<unsigned char>(ch);
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_' ||
        b == '.' || b == '-' || b == '~' || (b == '/' && !plus)) {
      out += ch;
    } else if (b == ' ' && plus) {
      out += '+';
    } else {
      out += '%';
      out += kHexUpper[b >> 4];
      out += kHexUpper[b & 0xF];
    }
  }
  return out;
}

std::string url_unescape_bytes(std::string_view value, bool plus) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string bytes;
  bytes.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c == '+' && plus) {
      bytes += ' ';
    } else if (c == '%' && i + 2 < value.size() && hex(value[i + 1]) >= 0 &&
               hex(value[i + 2]) >= 0) {
      bytes += static_cast<char>(hex(value[i + 1]) * 16 + hex(value[i + 2]));
      i += 2;
    } else {
      bytes += c;
    }
  }
  return bytes;
}

std::string url_unescape(std::string_view value, bool plus) {
  return detail::sanitize_utf8(url_unescape_bytes(value, plus));
}

namespace {
template <class BasicJson>
std::string encode_json(const BasicJson& value) {
  std::string encoded;
  append_json(encoded, value);
  // "</" is escaped so that "</script>" inside a string cannot end a script.
  std::string out;
  out.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    out += encoded[i];
    if (encoded[i] == '<' && i + 1 < encoded.size() && encoded[i + 1] == '/') out += '\\';
  }
  return out;
}
}  // namespace

std::string json_encode(const nlohmann::json& value) {
  return encode_json(value);
}

template <class OrderedJson>
requires std::is_same_v<OrderedJson, nlohmann::ordered_json> std::string json_encode(
    const OrderedJson& value) {
  return encode_json(value);
}
template std::string json_encode<nlohmann::ordered_json>(const nlohmann::ordered_json&);

nlohmann::json json_decode(std::string_view value) {
  return nlohmann::json::parse(value);
}

std::string squeeze(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool in_run = false;
  for (char c : value) {
    if (static_cast<unsigned char>(c) <= 0x20) {
      if (!in_run) out += ' ';
      in_run = true;
    } else {
      out += c;
      in_run = false;
    }
  }
  return std::string(python_strip(out));
}

std::string linkify(std::string_view text, const LinkifyOptions& options) {
  static const RE2 url_re(url_pattern());
  const std::string escaped = xhtml_escape(text);
  const std::string_view input(escaped);
  std::string extra;
  if (!options.extra_params.empty()) extra = " " + std::string(python_strip(options.extra_params));

  std::string out;
  out.reserve(input.size() + 64);
  std::size_t copied = 0, search_from = 0;
  std::array<re2::StringPiece, 4> groups;
  while (search_from < input.size() &&
         url_re.Match(input, search_from, input.size(), RE2::UNANCHORED, groups.data(), 4)) {
    const std::size_t start = static_cast<std::size_t>(groups[1].data() - input.data());
    // `\b` before the URL, with Python's Unicode idea of a word character.
    if (is_word_char(input, start) == is_word_before(input, start)) {
      search_from = start + 1;
      continue;
    }
    const std::string_view url(groups[1].data(), groups[1].size());
    const std::string_view proto =
        groups[2].data() ? std::string_view(groups[2].data(), groups[2].size()) : "";
    const std::string_view slashes =
        groups[3].data() ? std::string_view(groups[3].data(), groups[3].size()) : "";
    out.append(input.substr(copied, start - copied));
    copied = search_from = start + url.size();

    const bool permitted = proto.empty() ? !options.require_protocol
                                         : std::find(options.permitted_protocols.begin(),
                                                     options.permitted_protocols.end(),
                                                     proto) != options.permitted_protocols.end();
    if (!permitted) {
      out.append(url);
      continue;
    }
    const std::string href = proto.empty() ? "http://" + std::string(url) : std::string(url);
    std::string params = extra;
    if (options.extra_params_fn) {
      params = " " + std::string(python_strip(options.extra_params_fn(href)));
    }
    std::string shown(url);
    if (options.shorten && detail::utf8_length(url) > 30) {
      const std::size_t proto_len =
          proto.empty() ? 0 : detail::utf8_length(proto) + 1 + slashes.size();
      bool shortened = false;
      shown = shorten_url(to_u32(url), proto_len, shortened);
      if (shortened) params += " title=\"" + href + "\"";
    }
    out += "<a href=\"";
    out += href;
    out += '"';
    out += params;
    out += '>';
    out += shown;
    out += "</a>";
  }
  out.append(input.substr(copied));
  return out;
}

}  // namespace tornado::escape
