#include "tornado/httputil.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "tornado/detail/ascii.h"
#include "tornado/detail/http1_strict.h"
#include "tornado/escape.h"

namespace tornado::httputil {
namespace {

using detail::ascii_lower;
using detail::ascii_upper;
using detail::iequals;

bool istarts_with(std::string_view text, std::string_view prefix) noexcept {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

// HTTP's optional whitespace is space and tab only (RFC 7230 OWS); other
// bytes that look like whitespace are content.
constexpr bool is_ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

std::string_view strip_ows(std::string_view text) noexcept {
  while (!text.empty() && is_ows(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ows(text.back())) text.remove_suffix(1);
  return text;
}

// Python's str.strip(): any ASCII whitespace.
constexpr bool is_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view strip(std::string_view text) noexcept {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

// A field value may hold visible bytes, obs-text (0x80-0xFF), space and tab;
// every other control byte is refused (a CR or NUL could split the header
// differently in another parser along the way).
bool is_forbidden_value_byte(unsigned char c) noexcept {
  return (c < 0x20 && c != '\t') || c == 0x7f;
}

bool is_clean_header_value(std::string_view value) noexcept {
  return std::none_of(value.begin(), value.end(), [](char c) {
    return is_forbidden_value_byte(static_cast<unsigned char>(c));
  });
}

// Splits `text` at each occurrence of `separator`; calls fn(piece) and stops
// early when fn returns false.
template <class Fn>
void for_each_piece(std::string_view text, char separator, Fn&& fn) {
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find(separator, start);
    std::string_view piece =
        text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (!fn(piece)) return;
    if (end == std::string_view::npos) return;
    start = end + 1;
  }
}

// The fields of a query string as (name, value) pairs in order, as Python's
// parse_qsl with strict_parsing off.
template <class Fn>
void for_each_query_field(std::string_view query, bool keep_blank_values, std::size_t max_fields,
                          Fn&& fn) {
  if (max_fields != static_cast<std::size_t>(-1)) {
    std::size_t fields = 1 + static_cast<std::size_t>(std::count(query.begin(), query.end(), '&'));
    if (fields > max_fields) {
      throw HTTPInputError(
          fmt::format("too many fields in form data ({} > {})", fields, max_fields));
    }
  }
  for_each_piece(query, '&', [&](std::string_view field) {
    if (field.empty()) return true;
    std::size_t eq = field.find('=');
    std::string_view name = field.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view{} : field.substr(eq + 1);
    if (eq == std::string_view::npos && !keep_blank_values) return true;
    if (value.empty() && !keep_blank_values) return true;
    // Values stay bytes, as Tornado's parse_qs_bytes keeps them:
    // get_argument decodes them and answers 400 when they are not UTF-8.
    fn(escape::url_unescape(name, true), escape::url_unescape_bytes(value, true));
    return true;
  });
}

// Undoes a quoted-string: drops the quotes and resolves backslash escapes.
std::string unquote_quoted_string(std::string_view quoted) {
  std::string out;
  out.reserve(quoted.size());
  for (std::size_t i = 1; i + 1 < quoted.size(); ++i) {
    if (quoted[i] == '\\' && i + 2 < quoted.size()) ++i;
    out.push_back(quoted[i]);
  }
  return out;
}

// Rewrites percent-encoded ISO-8859-1 as percent-encoded UTF-8 ("%E1" ->
// "%C3%A1"), so url_unescape (which yields UTF-8) decodes it to the same text.
std::string latin1_escapes_to_utf8(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  constexpr std::string_view digits = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 2);
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool escaped =
        text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0;
    unsigned code = escaped ? static_cast<unsigned>(hex(text[i + 1]) * 16 + hex(text[i + 2]))
                            : static_cast<unsigned char>(text[i]);
    if (code < 0x80) {
      out.push_back(text[i]);
      continue;
    }
    for (unsigned part : {0xc0u | (code >> 6), 0x80u | (code & 0x3fu)}) {
      out.push_back('%');
      out.push_back(digits[part >> 4]);
      out.push_back(digits[part & 0xf]);
    }
    if (escaped) i += 2;
  }
  return out;
}

// Decodes an RFC 2231 extended value: charset'language'percent-encoded.
std::string decode_extended_value(std::string_view value) {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    value = value.substr(1, value.size() - 2);
  }
  std::size_t first = value.find('\'');
  std::size_t second = first == std::string_view::npos ? first : value.find('\'', first + 1);
  if (second == std::string_view::npos) return escape::url_unescape(value, false);
  std::string_view charset = value.substr(0, first);
  std::string_view encoded = value.substr(second + 1);
  if (iequals(charset, "iso-8859-1") || iequals(charset, "latin-1") || iequals(charset, "latin1")) {
    return escape::url_unescape(latin1_escapes_to_utf8(encoded), false);
  }
  return escape::url_unescape(encoded, false);
}

// Splits "main; a=1; b=\"x;y\"" at the semicolons outside quoted strings.
std::vector<std::string_view> split_parameters(std::string_view value) {
  std::vector<std::string_view> pieces;
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (quoted && c == '\\') {
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ';' && !quoted) {
      pieces.push_back(strip(value.substr(start, i - start)));
      start = i + 1;
    }
  }
  pieces.push_back(strip(value.substr(start)));
  return pieces;
}

// Python's SimpleCookie accepts these bytes in a cookie name.
constexpr bool is_legal_cookie_name_char(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~:").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_legal_cookie_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  if (!std::all_of(name.begin(), name.end(), [](char c) {
        return is_legal_cookie_name_char(static_cast<unsigned char>(c));
      })) {
    return false;
  }
  // Morsel attribute names cannot be cookie names in SimpleCookie.
  for (std::string_view reserved : {"expires", "path", "comment", "domain", "max-age", "secure",
                                    "httponly", "version", "samesite"}) {
    if (iequals(name, reserved)) return false;
  }
  return true;
}

// Undoes the quoting of a cookie value: "..." with \" and \ooo escapes.
std::string unquote_cookie(std::string_view value) {
  if (value.size() < 2 || value.front() != '"' || value.back() != '"') return std::string(value);
  value = value.substr(1, value.size() - 2);
  std::string out;
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '\\' || i + 1 >= value.size()) {
      out.push_back(value[i]);
      continue;
    }
    if (i + 3 < value.size() && value[i + 1] >= '0' && value[i + 1] <= '3' && value[i + 2] >= '0' &&
        value[i + 2] <= '7' && value[i + 3] >= '0' && value[i + 3] <= '7') {
      out.push_back(static_cast<char>((value[i + 1] - '0') * 64 + (value[i + 2] - '0') * 8 +
                                      (value[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(value[i + 1]);
      ++i;
    }
  }
  return out;
}

constexpr std::array<std::string_view, 7> kWeekdays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// A small cursor for the fixed-format date grammars.
struct DateScanner {
  std::string_view text;
  std::size_t pos = 0;

  bool literal(std::string_view expected) {
    if (text.substr(pos, expected.size()) != expected) return false;
    pos += expected.size();
    return true;
  }
  bool spaces() {
    std::size_t start = pos;
    while (pos < text.size() && text[pos] == ' ') ++pos;
    return pos > start;
  }
  // Exactly `min_digits`..`max_digits` digits.
  bool number(int min_digits, int max_digits, int& out) {
    int count = 0;
    out = 0;
    while (pos < text.size() && count < max_digits && text[pos] >= '0' && text[pos] <= '9') {
      out = out * 10 + (text[pos] - '0');
      ++pos;
      ++count;
    }
    return count >= min_digits;
  }
  bool month(int& out) {
    for (std::size_t i = 0; i < kMonths.size(); ++i) {
      if (iequals(text.substr(pos, 3), kMonths[i])) {
        pos += 3;
        out = static_cast<int>(i) + 1;
        return true;
      }
    }
    return false;
  }
  bool word() {
    std::size_t start = pos;
    while (pos < text.size() &&
           ((text[pos] >= 'a' && text[pos] <= 'z') || (text[pos] >= 'A' && text[pos] <= 'Z'))) {
      ++pos;
    }
    return pos > start;
  }
  bool time(int& hour, int& minute, int& second) {
    return number(2, 2, hour) && literal(":") && number(2, 2, minute) && literal(":") &&
           number(2, 2, second);
  }
  bool at_end() const { return pos == text.size(); }
};

std::optional<std::chrono::system_clock::time_point> make_time(int year, int month, int day,
                                                               int hour, int minute, int second) {
  using namespace std::chrono;
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  // system_clock counts nanoseconds in 64 bits: years 1678-2262 fit.
  if (year < 1700 || year > 2261) return std::nullopt;
  year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                      std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return std::nullopt;
  return system_clock::time_point{sys_days{date} + hours{hour} + minutes{minute} + seconds{second}};
}

}  // namespace

// ---------------------------------------------------------------- headers

namespace {
void normalize_in_place(std::string& name) {
  bool word_start = true;
  for (char& c : name) {
    c = word_start ? ascii_upper(c) : ascii_lower(c);
    word_start = c == '-';
  }
}
}  // namespace

std::string normalize_header_name(std::string_view name) {
  std::string out(name);
  normalize_in_place(out);
  return out;
}

bool is_valid_header_name(std::string_view name) noexcept {
  return tornado::detail::is_token(name);
}

bool is_valid_header_value(std::string_view value) noexcept {
  return detail::http1::is_safe_field_value(value);
}

HTTPHeaders::HTTPHeaders(
    std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  fields_.reserve(fields.size());
  for (const auto& [name, value] : fields) add(name, value);
}

HTTPHeaders HTTPHeaders::parse(std::string_view block) {
  HTTPHeaders headers;
  headers.fields_.reserve(static_cast<std::size_t>(std::count(block.begin(), block.end(), '\n')) +
                          1);
  // RFC 7230 section 3.5: a recipient may take a bare LF as a line end and
  // ignore a CR before it. A CR anywhere else is a control byte in a value.
  for_each_piece(block, '\n', [&](std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) headers.parse_line(line);
    return true;
  });
  return headers;
}

void HTTPHeaders::parse_line(std::string_view line) {
  if (line.empty()) return;
  if (is_ows(line.front())) {
    // obs-fold: the line continues the previous field's value.
    if (!last_field_) throw HTTPInputError("first header line cannot start with whitespace");
    std::string_view part = strip_ows(line);
    if (!is_clean_header_value(part)) throw HTTPInputError("invalid header value");
    if (!part.empty()) {
      // The fold becomes one space; an empty value gains no leading space
      // (a field value never starts with whitespace).
      std::string& value = fields_[*last_field_].second;
      if (!value.empty()) value.push_back(' ');
      value.append(part);
    }
    return;
  }
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) throw HTTPInputError("no colon in header line");
  std::string_view name = line.substr(0, colon);
  if (!is_valid_header_name(name)) {
    throw HTTPInputError(fmt::format("invalid header name {:?}", name.substr(0, 64)));
  }
  std::string_view value = strip_ows(line.substr(colon + 1));
  if (!is_clean_header_value(value)) {
    throw HTTPInputError(fmt::format("invalid header value for {}", name.substr(0, 64)));
  }
  add(name, value);
}

void HTTPHeaders::add(std::string_view name, std::string_view value) {
  add_owned(std::string(name), std::string(value));
}

void HTTPHeaders::add_owned(std::string&& name, std::string&& value) {
  // Most messages carry a handful of fields: one allocation instead of four.
  if (fields_.capacity() == 0) fields_.reserve(8);
  normalize_in_place(name);
  fields_.emplace_back(std::move(name), std::move(value));
  last_field_ = fields_.size() - 1;
}

void HTTPHeaders::set(std::string_view name, std::string_view value) {
  // Replace the first value in place so the field keeps its position.
  auto first = std::find_if(fields_.begin(), fields_.end(),
                            [&](const Field& f) { return iequals(f.first, name); });
  if (first == fields_.end()) {
    add(name, value);
    return;
  }
  first->second.assign(value);
  auto rest = std::remove_if(std::next(first), fields_.end(),
                             [&](const Field& f) { return iequals(f.first, name); });
  fields_.erase(rest, fields_.end());
  last_field_ = static_cast<std::size_t>(first - fields_.begin());
}

std::string_view HTTPHeaders::get(std::string_view name,
                                  std::string_view default_value) const noexcept {
  for (const Field& field : fields_) {
    if (iequals(field.first, name)) return field.second;
  }
  return default_value;
}

std::string HTTPHeaders::get_joined(std::string_view name, std::string_view default_value) const {
  std::string joined;
  bool found = false;
  for (const Field& field : fields_) {
    if (!iequals(field.first, name)) continue;
    if (found) joined.push_back(',');
    joined.append(field.second);
    found = true;
  }
  return found ? joined : std::string(default_value);
}

std::vector<std::string_view> HTTPHeaders::get_list(std::string_view name) const {
  std::vector<std::string_view> values;
  for (const Field& field : fields_) {
    if (iequals(field.first, name)) values.emplace_back(field.second);
  }
  return values;
}

bool HTTPHeaders::contains(std::string_view name) const noexcept {
  return std::any_of(fields_.begin(), fields_.end(),
                     [&](const Field& f) { return iequals(f.first, name); });
}

std::size_t HTTPHeaders::remove(std::string_view name) {
  auto rest = std::remove_if(fields_.begin(), fields_.end(),
                             [&](const Field& f) { return iequals(f.first, name); });
  auto removed = static_cast<std::size_t>(fields_.end() - rest);
  fields_.erase(rest, fields_.end());
  if (removed != 0) last_field_.reset();
  return removed;
}

std::string HTTPHeaders::to_string() const {
  std::size_t size = 0;
  for (const Field& field : fields_) size += field.first.size() + field.second.size() + 4;
  std::string out;
  out.reserve(size);
  for (const Field& field : fields_) {
    out.append(field.first).append(": ").append(field.second).append("\r\n");
  }
  return out;
}

// ---------------------------------------------------------------- start lines

namespace {
bool is_http1_version(std::string_view version) noexcept {
  return version.size() == 8 && version.substr(0, 7) == "HTTP/1." && version[7] >= '0' &&
         version[7] <= '9';
}
}  // namespace

RequestStartLine parse_request_start_line(std::string_view line) {
  std::size_t first = line.find(' ');
  std::size_t second = first == std::string_view::npos ? first : line.find(' ', first + 1);
  if (second == std::string_view::npos || line.find(' ', second + 1) != std::string_view::npos ||
      first == 0 || second == first + 1) {
    // RFC 7230 section 3.1.1: an invalid request-line deserves a 400.
    throw HTTPInputError("Malformed HTTP request line");
  }
  std::string_view version = line.substr(second + 1);
  if (!is_http1_version(version)) {
    throw HTTPInputError(
        fmt::format("Malformed HTTP version in HTTP Request-Line: {:?}", version.substr(0, 32)));
  }
  return {std::string(line.substr(0, first)),
          std::string(line.substr(first + 1, second - first - 1)), std::string(version)};
}

ResponseStartLine parse_response_start_line(std::string_view line) {
  auto bad = [] { return HTTPInputError("Error parsing response start line"); };
  if (line.size() < 12 || !is_http1_version(line.substr(0, 8)) || line[8] != ' ') throw bad();
  int code = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') throw bad();
    code = code * 10 + (line[i] - '0');
  }
  std::string_view reason;
  if (line.size() > 12) {
    if (line[12] != ' ') throw bad();
    reason = line.substr(13);
    reason = reason.substr(0, reason.find('\r'));
  }
  return {std::string(line.substr(0, 8)), code, std::string(reason)};
}

// ---------------------------------------------------------------- arguments

Arguments parse_qs_bytes(std::string_view query, bool keep_blank_values, std::size_t max_fields) {
  Arguments arguments;
  for_each_query_field(query, keep_blank_values, max_fields,
                       [&](std::string name, std::string value) {
                         arguments[std::move(name)].push_back(std::move(value));
                       });
  return arguments;
}

std::pair<std::string, std::map<std::string, std::string, std::less<>>> parse_header_value(
    std::string_view value) {
  std::vector<std::string_view> pieces = split_parameters(value);
  std::pair<std::string, std::map<std::string, std::string, std::less<>>> result;
  result.first = std::string(pieces.front());
  std::vector<std::pair<std::string, std::string_view>> extended;
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    std::string_view piece = pieces[i];
    std::size_t eq = piece.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name = ascii_lower(strip(piece.substr(0, eq)));
    std::string_view raw = strip(piece.substr(eq + 1));
    if (!name.empty() && name.back() == '*') {
      name.pop_back();
      extended.emplace_back(std::move(name), raw);
      continue;
    }
    if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
      result.second[name] = unquote_quoted_string(raw);
    } else {
      result.second[name] = std::string(raw);
    }
  }
  // An RFC 2231 `name*=` value wins over a plain `name=`, whatever the order.
  for (auto& [name, raw] : extended) result.second[name] = decode_extended_value(raw);
  return result;
}

void parse_multipart_form_data(std::string_view boundary, std::string_view body,
                               Arguments& arguments, Files& files, const BodyLimits& limits) {
  // The boundary may be quoted in the Content-Type header (RFC 2046 allows it).
  if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"') {
    boundary = boundary.substr(1, boundary.size() - 2);
  }
  if (boundary.empty()) throw HTTPInputError("Invalid multipart/form-data: empty boundary");
  std::string delimiter = "--";
  delimiter.append(boundary);
  std::string final_delimiter = delimiter + "--";
  std::size_t final_index = body.rfind(final_delimiter);
  if (final_index == std::string_view::npos) {
    throw HTTPInputError("Invalid multipart/form-data: no final boundary found");
  }
  std::string part_delimiter = delimiter + "\r\n";
  std::string_view data = body.substr(0, final_index);
  std::size_t parts = 0;
  std::size_t start = 0;
  while (start <= data.size()) {
    std::size_t end = data.find(part_delimiter, start);
    std::string_view part =
        data.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    start = end == std::string_view::npos ? data.size() + 1 : end + part_delimiter.size();
    if (part.empty()) continue;
    if (++parts > limits.max_parts) {
      throw HTTPInputError(
          fmt::format("Invalid multipart/form-data: more than {} parts", limits.max_parts));
    }
    std::size_t end_of_headers = part.find("\r\n\r\n");
    if (end_of_headers == std::string_view::npos) {
      throw HTTPInputError("multipart/form-data missing headers");
    }
    if (end_of_headers > limits.max_part_header_size) {
      throw HTTPInputError(fmt::format("multipart/form-data part header too large (> {} bytes)",
                                       limits.max_part_header_size));
    }
    HTTPHeaders headers = HTTPHeaders::parse(part.substr(0, end_of_headers));
    auto [disposition, params] = parse_header_value(headers.get("Content-Disposition"));
    if (disposition != "form-data" || !part.ends_with("\r\n")) {
      throw HTTPInputError("Invalid multipart/form-data");
    }
    // The CRLF before the next delimiter belongs to the delimiter. A part
    // that ends right after its blank line has an empty value.
    std::string_view value = part.size() >= end_of_headers + 6
                                 ? part.substr(end_of_headers + 4, part.size() - end_of_headers - 6)
                                 : std::string_view{};
    auto name = params.find("name");
    if (name == params.end() || name->second.empty()) {
      throw HTTPInputError("multipart/form-data missing name");
    }
    auto filename = params.find("filename");
    if (filename != params.end() && !filename->second.empty()) {
      files[name->second].push_back(HTTPFile{
          std::move(filename->second),
          std::string(headers.get("Content-Type", "application/unknown")), std::string(value)});
    } else {
      arguments[name->second].emplace_back(value);
    }
  }
}

void parse_body_arguments(std::string_view content_type, std::string_view body,
                          Arguments& arguments, Files& files, const HTTPHeaders* headers,
                          const BodyLimits& limits) {
  bool form = istarts_with(content_type, "application/x-www-form-urlencoded");
  bool multipart = !form && istarts_with(content_type, "multipart/form-data");
  if (!form && !multipart) return;
  if (headers != nullptr && headers->contains("Content-Encoding")) {
    throw HTTPInputError(
        fmt::format("Unsupported Content-Encoding: {}", headers->get_joined("Content-Encoding")));
  }
  if (form) {
    for_each_query_field(body, true, limits.max_fields, [&](std::string name, std::string value) {
      arguments[std::move(name)].push_back(std::move(value));
    });
    return;
  }
  if (!limits.multipart_enabled) throw HTTPInputError("multipart/form-data parsing is disabled");
  bool found = false;
  for_each_piece(content_type, ';', [&](std::string_view field) {
    field = strip(field);
    std::size_t eq = field.find('=');
    if (eq == std::string_view::npos || field.substr(0, eq) != "boundary" ||
        eq + 1 == field.size()) {
      return true;
    }
    parse_multipart_form_data(field.substr(eq + 1), body, arguments, files, limits);
    found = true;
    return false;
  });
  if (!found) throw HTTPInputError("Invalid multipart/form-data: multipart boundary not found");
}

std::string url_concat(std::string_view url,
                       const std::vector<std::pair<std::string, std::string>>& args) {
  std::string_view fragment;
  if (std::size_t hash = url.find('#'); hash != std::string_view::npos) {
    fragment = url.substr(hash);
    url = url.substr(0, hash);
  }
  std::string_view query;
  if (std::size_t question = url.find('?'); question != std::string_view::npos) {
    query = url.substr(question + 1);
    url = url.substr(0, question);
  }
  std::string out(url);
  bool first = true;
  auto append = [&](std::string_view name, std::string_view value) {
    out.push_back(first ? '?' : '&');
    first = false;
    out.append(escape::url_escape(name, true)).push_back('=');
    out.append(escape::url_escape(value, true));
  };
  for_each_query_field(
      query, true, static_cast<std::size_t>(-1),
      [&](const std::string& name, const std::string& value) { append(name, value); });
  for (const auto& [name, value] : args) append(name, value);
  out.append(fragment);
  return out;
}

// ---------------------------------------------------------------- dates

std::string format_timestamp(std::time_t seconds) {
  // Every response carries a Date header, usually for the same second as the
  // previous one: remember the last formatted second per thread.
  thread_local std::time_t cached_seconds = -1;
  thread_local std::array<char, 30> cached{};
  if (seconds != cached_seconds) {
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    auto result = fmt::format_to_n(cached.data(), cached.size(),
                                   "{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} GMT",
                                   kWeekdays[static_cast<std::size_t>(tm.tm_wday) % 7], tm.tm_mday,
                                   kMonths[static_cast<std::size_t>(tm.tm_mon) % 12],
                                   tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (result.size != 29) {
      // Years past 9999 do not fit the fixed format; do not cache them.
      return fmt::format("{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} GMT",
                         kWeekdays[static_cast<std::size_t>(tm.tm_wday) % 7], tm.tm_mday,
                         kMonths[static_cast<std::size_t>(tm.tm_mon) % 12], tm.tm_year + 1900,
                         tm.tm_hour, tm.tm_min, tm.tm_sec);
    }
    cached_seconds = seconds;
  }
  return std::string(cached.data(), 29);
}

std::string format_timestamp(std::chrono::system_clock::time_point when) {
  return format_timestamp(std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::seconds>(when)));
}

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
  text = strip(text);
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    DateScanner s{text};
    if (s.word() && s.pos == 3 && s.literal(",") && s.spaces() && s.number(1, 2, day) &&
        s.spaces() && s.month(month) && s.spaces() && s.number(4, 4, year) && s.spaces() &&
        s.time(hour, minute, second) && s.spaces() && s.literal("GMT") && s.at_end()) {
      return make_time(year, month, day, hour, minute, second);
    }
  }
  {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    DateScanner s{text};
    if (s.word() && s.literal(",") && s.spaces() && s.number(2, 2, day) && s.literal("-") &&
        s.month(month) && s.literal("-") && s.number(2, 4, year) && s.spaces() &&
        s.time(hour, minute, second) && s.spaces() && s.literal("GMT") && s.at_end()) {
      // Two-digit years: 69-99 are the 1900s, 00-68 the 2000s (as Python's
      // email.utils reads them).
      if (year < 100) year += year > 68 ? 1900 : 2000;
      return make_time(year, month, day, hour, minute, second);
    }
  }
  {
    // asctime: "Sun Nov  6 08:49:37 1994"
    DateScanner s{text};
    if (s.word() && s.pos == 3 && s.spaces() && s.month(month) && s.spaces() &&
        s.number(1, 2, day) && s.spaces() && s.time(hour, minute, second) && s.spaces() &&
        s.number(4, 4, year) && s.at_end()) {
      return make_time(year, month, day, hour, minute, second);
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- cookies

Cookies parse_cookie(std::string_view header) {
  Cookies cookies;
  for_each_piece(header, ';', [&](std::string_view chunk) {
    std::size_t eq = chunk.find('=');
    std::string_view name = eq == std::string_view::npos ? std::string_view{} : chunk.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? chunk : chunk.substr(eq + 1);
    name = strip(name);
    value = strip(value);
    if (!name.empty() || !value.empty()) {
      cookies.insert_or_assign(std::string(name), unquote_cookie(value));
    }
    return true;
  });
  return cookies;
}

// ---------------------------------------------------------------- status codes

std::string_view reason_phrase(int code) noexcept {
  switch (code) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 208:
      return "Already Reported";
    case 226:
      return "IM Used";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 305:
      return "Use Proxy";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Requested Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 418:
      return "I'm a Teapot";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Entity";
    case 423:
      return "Locked";
    case 424:
      return "Failed Dependency";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 506:
      return "Variant Also Negotiates";
    case 507:
      return "Insufficient Storage";
    case 508:
      return "Loop Detected";
    case 510:
      return "Not Extended";
    case 511:
      return "Network Authentication Required";
    default:
      return "Unknown";
  }
}

bool is_known_status(int code) noexcept {
  return reason_phrase(code) != "Unknown";
}

std::pair<std::string_view, std::optional<int>> split_host_and_port(std::string_view netloc) {
  std::size_t colon = netloc.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == netloc.size() ||
      netloc.size() - colon - 1 > 9) {
    return {netloc, std::nullopt};
  }
  int port = 0;
  for (char c : netloc.substr(colon + 1)) {
    if (c < '0' || c > '9') return {netloc, std::nullopt};
    port = port * 10 + (c - '0');
  }
  return {netloc.substr(0, colon), port};
}

// ---------------------------------------------------------------- request

HTTPServerRequest::HTTPServerRequest(std::string method, std::string uri, std::string version,
                                     HTTPHeaders headers, std::string body, std::string remote_ip,
                                     std::string protocol)
    : method(std::move(method)),
      uri(std::move(uri)),
      version(std::move(version)),
      headers(std::move(headers)),
      body(std::move(body)),
      remote_ip(std::move(remote_ip)),
      protocol(std::move(protocol)),
      start_time(std::chrono::steady_clock::now()) {
  // Tornado reads headers["Host"], which joins repeated values with ','.
  host = this->headers.get_joined("Host");
  if (host.empty()) host = "127.0.0.1";
  host_name = std::string(split_host_and_port(ascii_lower(host)).first);
  std::size_t question = this->uri.find('?');
  path = this->uri.substr(0, question);
  if (question != std::string::npos) {
    query = this->uri.substr(question + 1);
    arguments = parse_qs_bytes(query, true);
    query_arguments = arguments;
  }
}

void HTTPServerRequest::parse_body(const BodyLimits& limits) {
  parse_body_arguments(headers.get("Content-Type"), body, body_arguments, files, &headers, limits);
  for (const auto& [name, values] : body_arguments) {
    auto& merged = arguments[name];
    merged.insert(merged.end(), values.begin(), values.end());
  }
}

const Cookies& HTTPServerRequest::cookies() const {
  if (cookies_) return *cookies_;
  Cookies& result = cookies_.emplace();
  // Several Cookie fields (as HTTP/2 splits them) are one list of pairs.
  std::string header;
  for (std::string_view value : headers.get_list("Cookie")) {
    if (!header.empty()) header.push_back(';');
    header.append(value);
  }
  for (auto& [name, value] : parse_cookie(header)) {
    if (!is_legal_cookie_name(name)) continue;
    // Tornado hands parse_cookie's values to SimpleCookie, which unquotes
    // them once more; do the same so values read identically.
    result.emplace(name, unquote_cookie(value));
  }
  return *cookies_;
}

double HTTPServerRequest::request_time() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
}

std::string HTTPServerRequest::full_url() const {
  return protocol + "://" + host + uri;
}

}  // namespace tornado::httputil
