#include "tornado/locale.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

#include "tornado/detail/ascii.h"
#include "tornado/detail/locale_names.h"
#include "tornado/detail/utf8.h"
#include "tornado/log.h"

namespace tornado::locale {

namespace {

// ---------------------------------------------------------------------------
// The loaded translations. Tornado keeps them in module globals; here they
// are one immutable snapshot per load, swapped under a mutex, so handlers on
// several worker threads read a consistent set while a reload happens.

struct Registry {
  std::string default_locale = "en_US";
  bool use_gettext = false;
  std::map<std::string, CSVLocale::Table, std::less<>> csv;
  std::map<std::string, std::shared_ptr<const GettextCatalog>, std::less<>> gettext;
  std::set<std::string, std::less<>> supported{"en_US"};

  mutable std::mutex cache_mutex;
  mutable std::map<std::string, std::shared_ptr<const Locale>, std::less<>> cache;

  void update_supported() {
    supported.clear();
    supported.insert(default_locale);
    for (const auto& [code, table] : csv) supported.insert(code);
    for (const auto& [code, catalog] : gettext) supported.insert(code);
  }
};

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::shared_ptr<const Registry>& registry_slot() {
  static std::shared_ptr<const Registry> r = std::make_shared<Registry>();
  return r;
}

std::shared_ptr<const Registry> current_registry() {
  std::lock_guard lock(registry_mutex());
  return registry_slot();
}

void install_registry(std::shared_ptr<Registry> r) {
  r->update_supported();
  std::lock_guard lock(registry_mutex());
  registry_slot() = std::move(r);
}

using tornado::detail::ascii_lower;
using tornado::detail::ascii_upper;

std::string_view strip(std::string_view s) {
  constexpr std::string_view ws = " \t\n\r\v\f";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::shared_ptr<const Locale> locale_from(const Registry& r, std::string_view code) {
  std::lock_guard lock(r.cache_mutex);
  if (auto it = r.cache.find(code); it != r.cache.end()) return it->second;
  if (!r.supported.contains(code)) {
    throw std::invalid_argument(fmt::format("locale '{}' is not supported", code));
  }
  std::shared_ptr<const Locale> made;
  if (auto g = r.gettext.find(code); r.use_gettext && g != r.gettext.end()) {
    made = std::make_shared<GettextLocale>(std::string(code), g->second);
  } else if (auto c = r.csv.find(code); !r.use_gettext && c != r.csv.end()) {
    made = std::make_shared<CSVLocale>(std::string(code), c->second);
  } else {
    made = std::make_shared<CSVLocale>(std::string(code), CSVLocale::Table{});
  }
  r.cache.emplace(std::string(code), made);
  return made;
}

std::shared_ptr<const Locale> closest_from(const Registry& r,
                                           const std::vector<std::string_view>& codes) {
  for (std::string_view raw : codes) {
    if (raw.empty()) continue;
    std::string code(raw);
    std::replace(code.begin(), code.end(), '-', '_');
    std::vector<std::string_view> parts;
    std::string_view rest = code;
    while (true) {
      auto pos = rest.find('_');
      parts.push_back(rest.substr(0, pos));
      if (pos == std::string_view::npos) break;
      rest.remove_prefix(pos + 1);
    }
    if (parts.size() > 2) continue;
    std::string candidate =
        parts.size() == 2 ? ascii_lower(parts[0]) + "_" + ascii_upper(parts[1]) : code;
    if (r.supported.contains(candidate)) return locale_from(r, candidate);
    std::string language = ascii_lower(parts[0]);
    if (r.supported.contains(language)) return locale_from(r, language);
  }
  return locale_from(r, r.default_locale);
}

// ---------------------------------------------------------------------------
// Python's str % mapping.

std::string python_str(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_null()) return "None";
  if (v.is_number_integer()) return v.dump();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (d == std::floor(d) && std::fabs(d) < 1e16) return fmt::format("{:.1f}", d);
    return fmt::format("{}", d);
  }
  return v.dump();
}

// ---------------------------------------------------------------------------
// Dates: Python's datetime arithmetic on microseconds since the epoch.

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t micros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

struct Civil {
  int year;
  unsigned month;    // 1..12
  unsigned day;      // 1..31
  unsigned weekday;  // Monday = 0, as Python's
  int hour;
  int minute;
};

Civil civil(std::int64_t us) {
  using namespace std::chrono;
  std::int64_t day_number = floor_div(us, kMicrosPerDay);
  std::int64_t in_day = us - day_number * kMicrosPerDay;
  sys_days d{days{day_number}};
  year_month_day ymd{d};
  weekday wd{d};
  Civil c{};
  c.year = static_cast<int>(ymd.year());
  c.month = static_cast<unsigned>(ymd.month());
  c.day = static_cast<unsigned>(ymd.day());
  c.weekday = (wd.c_encoding() + 6) % 7;
  auto secs = in_day / kMicrosPerSecond;
  c.hour = static_cast<int>(secs / 3600);
  c.minute = static_cast<int>((secs / 60) % 60);
  return c;
}

// A timedelta's (days, seconds) normal form.
std::pair<std::int64_t, std::int64_t> days_seconds(std::int64_t us) {
  std::int64_t days = floor_div(us, kMicrosPerDay);
  std::int64_t rest = us - days * kMicrosPerDay;
  return {days, rest / kMicrosPerSecond};
}

// ---------------------------------------------------------------------------
// CSV in Excel's dialect, as Python's csv module reads it (non-strict).

std::vector<std::vector<std::string>> read_csv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    std::vector<std::string> row;
    std::string field;
    bool in_quotes = false, was_quoted = false, any = false;
    for (;;) {
      if (i >= n) {
        if (any || !field.empty() || was_quoted || !row.empty()) row.push_back(field);
        break;
      }
      char c = text[i];
      if (in_quotes) {
        ++i;
        if (c == '"') {
          if (i < n && text[i] == '"') {
            field += '"';
            ++i;
          } else {
            in_quotes = false;
          }
        } else {
          field += c;
        }
        continue;
      }
      if (c == ',') {
        row.push_back(std::move(field));
        field.clear();
        was_quoted = false;
        any = true;
        ++i;
      } else if (c == '\r' || c == '\n') {
        ++i;
        if (c == '\r' && i < n && text[i] == '\n') ++i;
        if (any || !field.empty() || was_quoted || !row.empty()) row.push_back(std::move(field));
        break;
      } else if (c == '"' && field.empty() && !was_quoted) {
        in_quotes = true;
        was_quoted = true;
        any = true;
        ++i;
      } else {
        field += c;
        any = true;
        ++i;
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string utf16_to_utf8(std::string_view data, const std::string& name) {
  bool big = false;
  if (data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0xFE &&
      static_cast<unsigned char>(data[1]) == 0xFF) {
    big = true;
    data.remove_prefix(2);
  } else if (data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0xFF &&
             static_cast<unsigned char>(data[1]) == 0xFE) {
    data.remove_prefix(2);
  }
  if (data.size() % 2 != 0) throw TranslationError(name + ": truncated UTF-16 data");
  std::string out;
  auto unit = [&](std::size_t k) -> std::uint32_t {
    auto a = static_cast<unsigned char>(data[k]), b = static_cast<unsigned char>(data[k + 1]);
    return big ? (a << 8 | b) : (b << 8 | a);
  };
  for (std::size_t k = 0; k < data.size(); k += 2) {
    std::uint32_t u = unit(k);
    if (u >= 0xD800 && u < 0xDC00) {
      if (k + 2 >= data.size()) throw TranslationError(name + ": unpaired UTF-16 surrogate");
      std::uint32_t lo = unit(k + 2);
      if (lo < 0xDC00 || lo >= 0xE000) throw TranslationError(name + ": unpaired UTF-16 surrogate");
      detail::append_utf8(out, 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
      k += 2;
    } else if (u >= 0xDC00 && u < 0xE000) {
      throw TranslationError(name + ": unpaired UTF-16 surrogate");
    } else {
      detail::append_utf8(out, u);
    }
  }
  return out;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw TranslationError(path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

bool valid_csv_locale(std::string_view code) {
  std::size_t i = 0;
  while (i < code.size() && code[i] >= 'a' && code[i] <= 'z') ++i;
  if (i == 0) return false;
  if (i == code.size()) return true;
  if (code[i] != '_') return false;
  std::size_t j = ++i;
  while (i < code.size() && code[i] >= 'A' && code[i] <= 'Z') ++i;
  return i > j && i == code.size();
}

}  // namespace

// ---------------------------------------------------------------------------
// format

std::string format(std::string_view fmt, const nlohmann::json& values) {
  std::string out;
  out.reserve(fmt.size());
  for (std::size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c != '%') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '%') {
      out += '%';
      ++i;
      continue;
    }
    if (i + 1 >= fmt.size() || fmt[i + 1] != '(') {
      throw std::invalid_argument(fmt::format(
          "format string '{}': only named placeholders like %(name)s are supported", fmt));
    }
    auto close = fmt.find(')', i + 2);
    if (close == std::string_view::npos) {
      throw std::invalid_argument(fmt::format("format string '{}': unclosed %(", fmt));
    }
    std::string key(fmt.substr(i + 2, close - i - 2));
    std::size_t k = close + 1;
    bool left = false, zero = false;
    while (k < fmt.size() && (fmt[k] == '-' || fmt[k] == '0')) {
      (fmt[k] == '-' ? left : zero) = true;
      ++k;
    }
    std::size_t width = 0;
    while (k < fmt.size() && fmt[k] >= '0' && fmt[k] <= '9') {
      width = width * 10 + static_cast<std::size_t>(fmt[k] - '0');
      ++k;
    }
    if (k >= fmt.size()) {
      throw std::invalid_argument(fmt::format("format string '{}': incomplete placeholder", fmt));
    }
    char conv = fmt[k];
    if (!values.is_object() || !values.contains(key)) {
      throw std::invalid_argument(fmt::format("format string '{}': no value for '{}'", fmt, key));
    }
    const auto& v = values.at(key);
    std::string text;
    if (conv == 's') {
      text = python_str(v);
    } else if (conv == 'd' || conv == 'i') {
      if (v.is_number_integer()) {
        text = v.dump();
      } else if (v.is_number_float()) {
        text = fmt::format("{}", static_cast<long long>(std::trunc(v.get<double>())));
      } else if (v.is_boolean()) {
        text = v.get<bool>() ? "1" : "0";
      } else {
        throw std::invalid_argument(
            fmt::format("format string '{}': %{} needs a number for '{}'", fmt, conv, key));
      }
    } else {
      throw std::invalid_argument(
          fmt::format("format string '{}': unsupported conversion %{}", fmt, conv));
    }
    if (text.size() < width) {
      std::size_t pad = width - text.size();
      if (left) {
        text.append(pad, ' ');
      } else if (zero && conv != 's') {
        std::size_t sign = (!text.empty() && text[0] == '-') ? 1 : 0;
        text.insert(sign, pad, '0');
      } else {
        text.insert(0, pad, ' ');
      }
    }
    out += text;
    i = k;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Locale

Locale::Locale(std::string code) : code_(std::move(code)) {
  name_ = std::string(detail::locale_name(code_));
  for (std::string_view prefix : {"fa", "ar", "he"}) {
    if (code_.starts_with(prefix)) rtl_ = true;
  }
}

Locale::~Locale() = default;

void Locale::init_names() {
  for (const char* m : {"January", "February", "March", "April", "May", "June", "July", "August",
                        "September", "October", "November", "December"}) {
    months_.push_back(translate(m));
  }
  for (const char* d :
       {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}) {
    weekdays_.push_back(translate(d));
  }
}

std::shared_ptr<const Locale> Locale::get_closest(const std::vector<std::string>& codes) {
  return locale::get(codes);
}

std::shared_ptr<const Locale> Locale::get(std::string_view code) {
  auto r = current_registry();
  return locale_from(*r, code);
}

std::string Locale::format_date(TimePoint date_tp, int gmt_offset, bool relative, bool shorter,
                                bool full_format, std::optional<TimePoint> now_tp) const {
  std::int64_t date = micros(date_tp);
  std::int64_t now = micros(now_tp.value_or(std::chrono::system_clock::now()));
  if (date > now) {
    // Clocks disagree by a few seconds: a time just ahead of now reads as now.
    if (relative && days_seconds(date - now).second < 60) {
      date = now;
    } else {
      full_format = true;
    }
  }
  const std::int64_t offset = static_cast<std::int64_t>(gmt_offset) * 60 * kMicrosPerSecond;
  Civil local_date = civil(date - offset);
  Civil local_yesterday = civil(now - offset - kMicrosPerDay);
  auto [days, seconds] = days_seconds(now - date);

  auto tr = [this](const char* s) { return translate(s); };
  std::string fmt_string;
  bool have_format = false;
  if (!full_format) {
    if (relative && days == 0) {
      if (seconds < 50) {
        return locale::format(translate("1 second ago", "%(seconds)d seconds ago", seconds),
                              {{"seconds", seconds}});
      }
      if (seconds < 50 * 60) {
        auto minutes = static_cast<long long>(std::nearbyint(static_cast<double>(seconds) / 60.0));
        return locale::format(translate("1 minute ago", "%(minutes)d minutes ago", minutes),
                              {{"minutes", minutes}});
      }
      auto hours = static_cast<long long>(std::nearbyint(static_cast<double>(seconds) / 3600.0));
      return locale::format(translate("1 hour ago", "%(hours)d hours ago", hours),
                            {{"hours", hours}});
    }
    have_format = true;
    if (days == 0) {
      fmt_string = tr("%(time)s");
    } else if (days == 1 && local_date.day == local_yesterday.day && relative) {
      fmt_string = shorter ? tr("yesterday") : tr("yesterday at %(time)s");
    } else if (days < 5) {
      fmt_string = shorter ? tr("%(weekday)s") : tr("%(weekday)s at %(time)s");
    } else if (days < 334) {  // 11 months: "March 3" could be last year's March
      fmt_string =
          shorter ? tr("%(month_name)s %(day)s") : tr("%(month_name)s %(day)s at %(time)s");
    } else {
      have_format = false;
    }
  }
  if (!have_format) {
    fmt_string = shorter ? tr("%(month_name)s %(day)s, %(year)s")
                         : tr("%(month_name)s %(day)s, %(year)s at %(time)s");
  }
  std::string str_time;
  if (code_ != "en" && code_ != "en_US" && code_ != "zh_CN") {
    str_time = fmt::format("{}:{:02}", local_date.hour, local_date.minute);
  } else if (code_ == "zh_CN") {
    str_time =
        fmt::format("{}{}:{:02}",
                    local_date.hour >= 12 ? "\xe4\xb8\x8b\xe5\x8d\x88" : "\xe4\xb8\x8a\xe5\x8d\x88",
                    local_date.hour % 12 == 0 ? 12 : local_date.hour % 12, local_date.minute);
  } else {
    str_time = fmt::format("{}:{:02} {}", local_date.hour % 12 == 0 ? 12 : local_date.hour % 12,
                           local_date.minute, local_date.hour >= 12 ? "pm" : "am");
  }
  return locale::format(fmt_string, {{"month_name", months_.at(local_date.month - 1)},
                                     {"weekday", weekdays_.at(local_date.weekday)},
                                     {"day", std::to_string(local_date.day)},
                                     {"year", std::to_string(local_date.year)},
                                     {"time", str_time}});
}

std::string Locale::format_day(TimePoint date, int gmt_offset, bool dow) const {
  Civil local_date =
      civil(micros(date) - static_cast<std::int64_t>(gmt_offset) * 60 * kMicrosPerSecond);
  if (dow) {
    return locale::format(translate("%(weekday)s, %(month_name)s %(day)s"),
                          {{"month_name", months_.at(local_date.month - 1)},
                           {"weekday", weekdays_.at(local_date.weekday)},
                           {"day", std::to_string(local_date.day)}});
  }
  return locale::format(
      translate("%(month_name)s %(day)s"),
      {{"month_name", months_.at(local_date.month - 1)}, {"day", std::to_string(local_date.day)}});
}

std::string Locale::list(const std::vector<std::string>& parts) const {
  if (parts.empty()) return {};
  if (parts.size() == 1) return parts[0];
  std::string_view comma = code_.starts_with("fa") ? " \xd9\x88 " : ", ";
  std::string commas;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (i) commas += comma;
    commas += parts[i];
  }
  return locale::format(translate("%(commas)s and %(last)s"),
                        {{"commas", commas}, {"last", parts.back()}});
}

std::string Locale::friendly_number(long long value) const {
  std::string s = std::to_string(value);
  if (code_ != "en" && code_ != "en_US") return s;
  // Groups of three from the right, the sign counting as a digit (Tornado's
  // grouping of str(value): -123456 gives "-,123,456").
  std::vector<std::string> groups;
  while (!s.empty()) {
    std::size_t take = std::min<std::size_t>(3, s.size());
    groups.push_back(s.substr(s.size() - take));
    s.resize(s.size() - take);
  }
  std::string out;
  for (auto it = groups.rbegin(); it != groups.rend(); ++it) {
    if (!out.empty()) out += ',';
    out += *it;
  }
  return out;
}

// ---------------------------------------------------------------------------
// CSVLocale

CSVLocale::CSVLocale(std::string code, Table translations)
    : Locale(std::move(code)), translations_(std::move(translations)) {
  init_names();
}

std::string CSVLocale::lookup(std::string_view kind, std::string_view message) const {
  if (auto t = translations_.find(kind); t != translations_.end()) {
    if (auto m = t->second.find(message); m != t->second.end()) return m->second;
  }
  return std::string(message);
}

std::string CSVLocale::translate(std::string_view message) const {
  return lookup("unknown", message);
}

std::string CSVLocale::translate(std::string_view message, std::string_view plural_message,
                                 long long count) const {
  if (count != 1) return lookup("plural", plural_message);
  return lookup("singular", message);
}

std::string CSVLocale::pgettext(std::string_view, std::string_view message) const {
  if (!translations_.empty()) log::general.warning("pgettext is not supported by CSVLocale");
  return translate(message);
}

std::string CSVLocale::pgettext(std::string_view, std::string_view message,
                                std::string_view plural_message, long long count) const {
  if (!translations_.empty()) log::general.warning("pgettext is not supported by CSVLocale");
  return translate(message, plural_message, count);
}

// ---------------------------------------------------------------------------
// GettextLocale

GettextLocale::GettextLocale(std::string code, std::shared_ptr<const GettextCatalog> catalog)
    : Locale(std::move(code)), catalog_(std::move(catalog)) {
  init_names();
}

std::string GettextLocale::translate(std::string_view message) const {
  return catalog_->gettext(message);
}

std::string GettextLocale::translate(std::string_view message, std::string_view plural_message,
                                     long long count) const {
  return catalog_->ngettext(message, plural_message, count);
}

std::string GettextLocale::pgettext(std::string_view context, std::string_view message) const {
  std::string key = fmt::format("{}{}{}", context, CONTEXT_SEPARATOR, message);
  std::string result = catalog_->gettext(key);
  if (result.find(CONTEXT_SEPARATOR) != std::string::npos) return std::string(message);
  return result;
}

std::string GettextLocale::pgettext(std::string_view context, std::string_view message,
                                    std::string_view plural_message, long long count) const {
  std::string result =
      catalog_->ngettext(fmt::format("{}{}{}", context, CONTEXT_SEPARATOR, message),
                         fmt::format("{}{}{}", context, CONTEXT_SEPARATOR, plural_message), count);
  if (result.find(CONTEXT_SEPARATOR) != std::string::npos) {
    return catalog_->ngettext(message, plural_message, count);
  }
  return result;
}

// ---------------------------------------------------------------------------
// GettextCatalog: the .mo format (GNU gettext's "MO files" layout), read the
// way Python's gettext module reads it, so lookups agree with Tornado's.

// A Plural-Forms expression: C syntax, evaluated as Python's gettext does
// (`/` and `%` floor towards minus infinity, && and || yield an operand).
struct GettextCatalog::PluralExpr {
  enum class Op { number, n, not_, binary, ternary };
  Op op = Op::number;
  std::string binop;
  long long value = 0;
  std::unique_ptr<PluralExpr> a, b, c;

  long long eval(long long n) const {
    switch (op) {
      case Op::number:
        return value;
      case Op::n:
        return n;
      case Op::not_:
        return a->eval(n) == 0 ? 1 : 0;
      case Op::ternary:
        return a->eval(n) != 0 ? b->eval(n) : c->eval(n);
      case Op::binary:
        break;
    }
    long long x = a->eval(n);
    if (binop == "||") return x != 0 ? x : b->eval(n);
    if (binop == "&&") return x == 0 ? x : b->eval(n);
    long long y = b->eval(n);
    if (binop == "==") return x == y;
    if (binop == "!=") return x != y;
    if (binop == "<") return x < y;
    if (binop == ">") return x > y;
    if (binop == "<=") return x <= y;
    if (binop == ">=") return x >= y;
    if (binop == "+") return x + y;
    if (binop == "-") return x - y;
    if (binop == "*") return x * y;
    if (y == 0) throw TranslationError("plural form expression divides by zero");
    if (binop == "/") return floor_div(x, y);
    return x - floor_div(x, y) * y;  // "%"
  }
};

namespace {

using PluralExpr = GettextCatalog::PluralExpr;

class PluralParser {
 public:
  explicit PluralParser(std::string_view text) : text_(text) { advance(); }

  std::unique_ptr<PluralExpr> parse_all() {
    auto e = ternary(0);
    if (!tok_.empty()) fail("unexpected '" + tok_ + "'");
    return e;
  }

 private:
  static int priority(std::string_view op) {
    if (op == "||") return 1;
    if (op == "&&") return 2;
    if (op == "==" || op == "!=") return 3;
    if (op == "<" || op == ">" || op == "<=" || op == ">=") return 4;
    if (op == "+" || op == "-") return 5;
    if (op == "*" || op == "/" || op == "%") return 6;
    return 0;
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw TranslationError("invalid plural form expression '" + std::string(text_) + "': " + why);
  }

  void advance() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
    tok_.clear();
    if (pos_ >= text_.size()) return;
    char c = text_[pos_];
    if (c >= '0' && c <= '9') {
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') tok_ += text_[pos_++];
      return;
    }
    if (c == 'n' &&
        (pos_ + 1 >= text_.size() || !std::isalnum(static_cast<unsigned char>(text_[pos_ + 1])))) {
      tok_ = "n";
      ++pos_;
      return;
    }
    for (std::string_view two : {"==", "!=", "<=", ">=", "&&", "||"}) {
      if (text_.substr(pos_, 2) == two) {
        tok_ = std::string(two);
        pos_ += 2;
        return;
      }
    }
    if (std::strchr("()+-*/%?:<>!", c) != nullptr) {
      tok_ = std::string(1, c);
      ++pos_;
      return;
    }
    fail(fmt::format("unexpected character '{}'", c));
  }

  std::unique_ptr<PluralExpr> primary() {
    if (++depth_ > 40) fail("nested too deeply");
    auto e = std::make_unique<PluralExpr>();
    if (tok_ == "!") {
      advance();
      e->op = PluralExpr::Op::not_;
      e->a = primary();
    } else if (tok_ == "(") {
      advance();
      e = ternary(0);
      if (tok_ != ")") fail("unbalanced parenthesis");
      advance();
    } else if (tok_ == "n") {
      e->op = PluralExpr::Op::n;
      advance();
    } else if (!tok_.empty() && tok_[0] >= '0' && tok_[0] <= '9') {
      if (tok_.size() > 18) fail("number too large");
      e->value = std::stoll(tok_);
      advance();
    } else {
      fail(tok_.empty() ? "unexpected end" : "unexpected '" + tok_ + "'");
    }
    --depth_;
    return e;
  }

  std::unique_ptr<PluralExpr> binary(int min_priority) {
    auto left = primary();
    for (int p = priority(tok_); p >= min_priority && p > 0; p = priority(tok_)) {
      auto node = std::make_unique<PluralExpr>();
      node->op = PluralExpr::Op::binary;
      node->binop = tok_;
      advance();
      node->a = std::move(left);
      node->b = binary(p + 1);
      left = std::move(node);
    }
    return left;
  }

  std::unique_ptr<PluralExpr> ternary(int) {
    if (++depth_ > 40) fail("nested too deeply");
    auto cond = binary(1);
    if (tok_ == "?") {
      advance();
      auto node = std::make_unique<PluralExpr>();
      node->op = PluralExpr::Op::ternary;
      node->a = std::move(cond);
      node->b = ternary(0);
      if (tok_ != ":") fail("expected ':'");
      advance();
      node->c = ternary(0);
      cond = std::move(node);
    }
    --depth_;
    return cond;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::string tok_;
  int depth_ = 0;
};

std::uint32_t read_u32(std::string_view data, std::size_t at, bool big) {
  auto b = [&](std::size_t k) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(data[at + k]));
  };
  return big ? (b(0) << 24 | b(1) << 16 | b(2) << 8 | b(3))
             : (b(3) << 24 | b(2) << 16 | b(1) << 8 | b(0));
}

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80         ? 1
                      : (c >> 5) == 6  ? 2
                      : (c >> 4) == 14 ? 3
                      : (c >> 3) == 30 ? 4
                                       : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

GettextCatalog::~GettextCatalog() = default;

std::shared_ptr<const GettextCatalog> GettextCatalog::load(const std::filesystem::path& path) {
  return parse(read_file(path), path.string());
}

std::shared_ptr<const GettextCatalog> GettextCatalog::parse(std::string_view data,
                                                            std::string name) {
  auto corrupt = [&](std::string_view why) {
    return TranslationError(fmt::format("{}: {}", name, why));
  };
  if (data.size() < 20) throw corrupt("too short for a gettext catalogue");
  bool big;
  if (read_u32(data, 0, false) == 0x950412deu) {
    big = false;
  } else if (read_u32(data, 0, true) == 0x950412deu) {
    big = true;
  } else {
    throw corrupt("bad magic number (not a compiled .mo catalogue)");
  }
  std::uint32_t version = read_u32(data, 4, big);
  if ((version >> 16) > 1) throw corrupt(fmt::format("bad version number {}", version >> 16));
  std::uint32_t count = read_u32(data, 8, big);
  std::uint64_t originals = read_u32(data, 12, big);
  std::uint64_t translations = read_u32(data, 16, big);

  std::shared_ptr<GettextCatalog> cat(new GettextCatalog());
  std::string charset;
  for (std::uint32_t i = 0; i < count; ++i) {
    std::uint64_t mi = originals + 8ull * i, ti = translations + 8ull * i;
    if (mi + 8 > data.size() || ti + 8 > data.size()) throw corrupt("file is corrupt");
    std::uint64_t mlen = read_u32(data, mi, big), moff = read_u32(data, mi + 4, big);
    std::uint64_t tlen = read_u32(data, ti, big), toff = read_u32(data, ti + 4, big);
    if (moff + mlen >= data.size() || toff + tlen >= data.size()) throw corrupt("file is corrupt");
    std::string_view msg = data.substr(moff, mlen), tmsg = data.substr(toff, tlen);
    if (mlen == 0) {
      std::string last_key;
      std::string_view rest = tmsg;
      while (true) {
        auto nl = rest.find('\n');
        std::string_view item = strip(rest.substr(0, nl));
        if (!item.empty() && !(item.starts_with("#-#-#-#-#") && item.ends_with("#-#-#-#-#"))) {
          if (auto colon = item.find(':'); colon != std::string_view::npos) {
            std::string key = ascii_lower(strip(item.substr(0, colon)));
            std::string value(strip(item.substr(colon + 1)));
            cat->info_[key] = value;
            last_key = key;
            if (key == "content-type") {
              auto cs = value.find("charset=");
              if (cs != std::string::npos) charset = ascii_lower(strip(value.substr(cs + 8)));
            } else if (key == "plural-forms") {
              auto semi = value.find(';');
              auto pl = value.find("plural=", semi == std::string::npos ? 0 : semi);
              if (semi == std::string::npos || pl == std::string::npos) {
                throw corrupt("Plural-Forms header without plural=");
              }
              std::string_view expr = std::string_view(value).substr(pl + 7);
              expr = expr.substr(0, expr.find(';'));
              cat->plural_ = PluralParser(strip(expr)).parse_all();
            }
          } else if (!last_key.empty()) {
            cat->info_[last_key] += "\n" + std::string(item);
          }
        }
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
      }
    }
    if (charset.empty() || charset == "ascii" || charset == "us-ascii") {
      auto ascii = [](std::string_view s) {
        return std::all_of(s.begin(), s.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x80; });
      };
      if (!ascii(msg) || !ascii(tmsg)) {
        throw corrupt("non-ASCII text without a charset in the Content-Type header");
      }
    } else if (charset == "utf-8" || charset == "utf8") {
      if (!valid_utf8(msg) || !valid_utf8(tmsg)) throw corrupt("invalid UTF-8 text");
    } else {
      throw corrupt(fmt::format("unsupported charset '{}' (use UTF-8)", charset));
    }
    if (auto nul = msg.find('\0'); nul != std::string_view::npos) {
      auto& forms = cat->plurals_[std::string(msg.substr(0, nul))];
      forms.clear();
      std::string_view rest = tmsg;
      while (true) {
        auto z = rest.find('\0');
        forms.emplace_back(rest.substr(0, z));
        if (z == std::string_view::npos) break;
        rest.remove_prefix(z + 1);
      }
    } else {
      cat->messages_[std::string(msg)] = std::string(tmsg);
    }
  }
  return cat;
}

long long GettextCatalog::plural_index(long long count) const {
  if (!plural_) return count != 1 ? 1 : 0;
  return plural_->eval(count);
}

std::string GettextCatalog::gettext(std::string_view message) const {
  if (auto it = messages_.find(message); it != messages_.end()) return it->second;
  return std::string(message);
}

std::string GettextCatalog::ngettext(std::string_view message, std::string_view plural_message,
                                     long long count) const {
  if (auto it = plurals_.find(message); it != plurals_.end()) {
    long long index = plural_index(count);
    if (index >= 0 && static_cast<std::size_t>(index) < it->second.size()) {
      return it->second[static_cast<std::size_t>(index)];
    }
  }
  return std::string(count == 1 ? message : plural_message);
}

// ---------------------------------------------------------------------------
// Module functions

std::shared_ptr<const Locale> get(const std::vector<std::string>& codes) {
  auto r = current_registry();
  std::vector<std::string_view> views(codes.begin(), codes.end());
  return closest_from(*r, views);
}

std::shared_ptr<const Locale> get(std::initializer_list<std::string_view> codes) {
  auto r = current_registry();
  return closest_from(*r, std::vector<std::string_view>(codes));
}

void set_default_locale(std::string code) {
  auto old = current_registry();
  auto r = std::make_shared<Registry>();
  r->default_locale = std::move(code);
  r->use_gettext = old->use_gettext;
  r->csv = old->csv;
  r->gettext = old->gettext;
  install_registry(std::move(r));
}

void load_translations(const std::filesystem::path& directory, std::string_view encoding) {
  std::string forced = ascii_lower(encoding);
  if (!forced.empty() && forced != "utf-8" && forced != "utf8" && forced != "utf-8-sig" &&
      forced != "utf-16") {
    throw std::invalid_argument(
        fmt::format("load_translations: unsupported encoding '{}' (utf-8 or utf-16)", encoding));
  }
  auto r = std::make_shared<Registry>();
  r->default_locale = current_registry()->default_locale;
  std::error_code ec;
  std::filesystem::directory_iterator it(directory, ec);
  if (ec) {
    throw TranslationError(
        fmt::format("load_translations: cannot list {}: {}", directory.string(), ec.message()));
  }
  for (const auto& entry : it) {
    std::string file = entry.path().filename().string();
    if (!file.ends_with(".csv")) continue;
    std::string full = entry.path().string();
    std::string code = file.substr(0, file.size() - 4);
    if (!valid_csv_locale(code)) {
      log::general.error("Unrecognized locale '{}' (path: {})", code, full);
      continue;
    }
    std::string data = read_file(entry.path());
    bool utf16 = forced == "utf-16";
    if (forced.empty() && data.size() >= 2) {
      auto b0 = static_cast<unsigned char>(data[0]), b1 = static_cast<unsigned char>(data[1]);
      utf16 = (b0 == 0xFF && b1 == 0xFE) || (b0 == 0xFE && b1 == 0xFF);
    }
    if (utf16) {
      data = utf16_to_utf8(data, full);
    } else if (forced != "utf-8" && forced != "utf8" && data.starts_with("\xef\xbb\xbf")) {
      data.erase(0, 3);
    }
    auto& table = r->csv[code];
    auto rows = read_csv(data);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      auto& row = rows[i];
      if (row.size() < 2) continue;
      std::string english(strip(row[0])), translation(strip(row[1]));
      std::string plural = row.size() > 2 ? std::string(strip(row[2])) : std::string();
      if (plural.empty()) plural = "unknown";
      if (plural != "plural" && plural != "singular" && plural != "unknown") {
        log::general.error("Unrecognized plural indicator '{}' in {} line {}", plural, file, i + 1);
        continue;
      }
      table[plural][english] = translation;
    }
  }
  install_registry(r);
  log::general.debug("Supported locales: {}", fmt::join(get_supported_locales(), ", "));
}

void load_gettext_translations(const std::filesystem::path& directory, std::string_view domain) {
  auto r = std::make_shared<Registry>();
  r->default_locale = current_registry()->default_locale;
  r->use_gettext = true;
  std::error_code ec;
  std::filesystem::directory_iterator it(directory, ec);
  // Tornado globs DIR/*/LC_MESSAGES/DOMAIN.mo, so a folder that is missing
  // or unreadable leaves only the default locale; the warning says why.
  if (ec) {
    log::general.warning("load_gettext_translations: cannot list {}: {}", directory.string(),
                         ec.message());
  }
  for (const auto& entry : ec ? std::filesystem::directory_iterator() : it) {
    auto mo = entry.path() / "LC_MESSAGES" / (std::string(domain) + ".mo");
    if (!std::filesystem::is_regular_file(mo, ec)) continue;
    std::string lang = entry.path().filename().string();
    try {
      r->gettext[lang] = GettextCatalog::load(mo);
    } catch (const std::exception& e) {
      log::general.error("Cannot load translation for '{}': {}", lang, e.what());
    }
  }
  install_registry(r);
  log::general.debug("Supported locales: {}", fmt::join(get_supported_locales(), ", "));
}

std::vector<std::string> accept_language_codes(std::string_view header) {
  std::vector<std::pair<std::string, double>> scored;
  std::string_view rest = header;
  while (true) {
    auto comma = rest.find(',');
    std::string_view language = strip(rest.substr(0, comma));
    auto semi = language.find(';');
    std::string_view code = language.substr(0, semi);
    double score = 1.0;
    if (semi != std::string_view::npos) {
      std::string_view param = language.substr(semi + 1);
      param = param.substr(0, param.find(';'));
      param = strip(param);
      if (param.starts_with("q=")) {
        std::string number(strip(param.substr(2)));
        char* end = nullptr;
        score = number.empty() ? 0.0 : std::strtod(number.c_str(), &end);
        if (number.empty() || end != number.c_str() + number.size() || score < 0) score = 0.0;
      }
    }
    if (score > 0) scored.emplace_back(std::string(code), score);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> codes;
  for (auto& [code, score] : scored) codes.push_back(std::move(code));
  return codes;
}

std::vector<std::string> get_supported_locales() {
  auto r = current_registry();
  return {r->supported.begin(), r->supported.end()};
}

}  // namespace tornado::locale
