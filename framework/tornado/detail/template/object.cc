// The public value model of tornado::template_: Value, Arguments, Function,
// Namespace, the Object protocol's defaults, and Python's datetime and
// timedelta as Objects.
#include <cmath>
#include <cstdio>
#include <ctime>

#include "tornado/detail/template/expr.h"
#include "tornado/detail/template/text.h"
#include "tornado/template.h"

namespace tornado::template_ {

namespace {

[[noreturn]] void fail(std::string type, std::string message) {
  throw TemplateError({}, 0, std::move(message), {}, std::move(type));
}

}  // namespace

// ---------------------------------------------------------------------------
// Value

Value::Value(std::chrono::system_clock::time_point time)
    : object_(std::make_shared<const DateTime>(time)) {}

Value Value::from_duration(std::chrono::microseconds d) {
  return Value(std::make_shared<const TimeDelta>(d));
}

Value Value::list(std::vector<Value> items) {
  Value v;
  v.list_ = std::make_shared<const std::vector<Value>>(std::move(items));
  return v;
}

nlohmann::json Value::to_json() const {
  if (object_) return object_->to_json();
  if (list_) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : *list_) out.push_back(item.to_json());
    return out;
  }
  return json_;
}

std::string Value::str() const {
  std::string out;
  detail::append_str(out, detail::from_public_ref(*this));
  return out;
}

// ---------------------------------------------------------------------------
// Arguments and functions

const Value* Arguments::get(std::size_t index, std::string_view keyword) const {
  if (index < positional.size()) return &positional[index];
  if (!keyword.empty()) {
    for (const auto& [k, v] : keywords) {
      if (k == keyword) return &v;
    }
  }
  return nullptr;
}

const Value& Arguments::at(std::size_t index, std::string_view keyword) const {
  if (const Value* v = get(index, keyword)) return *v;
  std::string what = keyword.empty() ? "argument " + std::to_string(index + 1)
                                     : "argument '" + std::string(keyword) + "'";
  fail("TypeError", std::string(function) + "() missing required " + what);
}

const std::string& Arguments::str(std::size_t index, std::string_view keyword) const {
  const Value& v = at(index, keyword);
  if (!v.json() || !v.json()->is_string()) {
    fail("TypeError", std::string(function) + "() expected str, got " +
                          (v.object() ? v.object()->type_name()
                           : v.json() ? "non-str"
                                      : "list"));
  }
  return v.json()->get_ref<const std::string&>();
}

Value Function::operator()(const Arguments& args) const {
  if (!call_) fail("TypeError", "'NoneType' object is not callable");
  return call_(args);
}

Function::Call Function::json_adaptor(
    std::function<nlohmann::json(const std::vector<nlohmann::json>&)> f) {
  return [f = std::move(f)](const Arguments& args) -> Value {
    std::vector<nlohmann::json> json_args;
    json_args.reserve(args.positional.size() + 1);
    for (const Value& v : args.positional) json_args.push_back(v.to_json());
    if (!args.keywords.empty()) {
      nlohmann::json keywords = nlohmann::json::object();
      for (const auto& [k, v] : args.keywords) keywords[k] = v.to_json();
      json_args.push_back(std::move(keywords));
    }
    return Value(f(json_args));
  };
}

// ---------------------------------------------------------------------------
// Object defaults: those of Python's `object`

std::optional<Value> Object::attribute(std::string_view) const {
  return std::nullopt;
}
std::optional<Value> Object::call_method(std::string_view, const Arguments&) const {
  return std::nullopt;
}
Value Object::call(const Arguments&) const {
  fail("TypeError", "'" + type_name() + "' object is not callable");
}
std::optional<Value> Object::item(const Value&) const {
  fail("TypeError", "'" + type_name() + "' object is not subscriptable");
}
std::optional<std::vector<Value>> Object::iterate() const {
  return std::nullopt;
}
std::string Object::str() const {
  return repr();
}
std::string Object::repr() const {
  return "<" + type_name() + " object>";
}
std::optional<Value> Object::operate(Operator, const Value&) const {
  return std::nullopt;
}
std::optional<Value> Object::operate_reflected(Operator, const Value&) const {
  return std::nullopt;
}
nlohmann::json Object::to_json() const {
  fail("TypeError", "Object of type " + type_name() + " is not JSON serializable");
}

namespace {

class CallableObject : public Object {
 public:
  CallableObject(std::string name, std::function<Value(const Arguments&)> function)
      : name_(std::move(name)), function_(std::move(function)) {}
  std::string type_name() const override { return "method"; }
  Value call(const Arguments& args) const override {
    Arguments named = args;
    named.function = name_;
    return function_(named);
  }
  std::string repr() const override { return "<bound method " + name_ + ">"; }

 private:
  std::string name_;
  std::function<Value(const Arguments&)> function_;
};

}  // namespace

std::shared_ptr<const Object> make_callable(std::string name,
                                            std::function<Value(const Arguments&)> function) {
  return std::make_shared<const CallableObject>(std::move(name), std::move(function));
}

// ---------------------------------------------------------------------------
// datetime and timedelta

namespace {

using std::chrono::microseconds;

struct Civil {
  int year;
  unsigned month, day;
  int hour, minute, second;
  long microsecond;
  unsigned weekday;  // Monday = 0, as Python's weekday()
  unsigned yearday;  // 1-based
};

Civil civil(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto us = time_point_cast<microseconds>(t);
  const auto day = floor<days>(us);
  const year_month_day ymd{day};
  const auto since_midnight = us - day;
  const hh_mm_ss<microseconds> hms{since_midnight};
  const weekday wd{day};
  const auto jan1 = sys_days{ymd.year() / January / 1};
  return Civil{static_cast<int>(ymd.year()),
               static_cast<unsigned>(ymd.month()),
               static_cast<unsigned>(ymd.day()),
               static_cast<int>(hms.hours().count()),
               static_cast<int>(hms.minutes().count()),
               static_cast<int>(hms.seconds().count()),
               static_cast<long>(hms.subseconds().count()),
               (wd.c_encoding() + 6) % 7,
               static_cast<unsigned>((day - jan1).count() + 1)};
}

std::string pad(long value, int width) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%0*ld", width, value);
  return buffer;
}

const TimeDelta* as_timedelta(const Value& v) {
  return dynamic_cast<const TimeDelta*>(v.object());
}
const DateTime* as_datetime(const Value& v) {
  return dynamic_cast<const DateTime*>(v.object());
}
std::optional<double> as_number(const Value& v) {
  const nlohmann::json* j = v.json();
  if (!j || !j->is_number() || j->is_boolean()) return std::nullopt;
  return j->get<double>();
}

}  // namespace

std::string DateTime::isoformat(std::string_view separator) const {
  const Civil c = civil(time_);
  std::string out = pad(c.year, 4) + "-" + pad(c.month, 2) + "-" + pad(c.day, 2);
  out += separator;
  out += pad(c.hour, 2) + ":" + pad(c.minute, 2) + ":" + pad(c.second, 2);
  if (c.microsecond != 0) out += "." + pad(c.microsecond, 6);
  return out;
}

std::string DateTime::strftime(std::string_view format) const {
  const Civil c = civil(time_);
  // %f, %z and %Z are Python's own (a naive datetime has no zone: empty);
  // the rest goes to the C library, as CPython does.
  std::string expanded;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      const char d = format[i + 1];
      if (d == 'f') {
        expanded += pad(c.microsecond, 6);
        ++i;
        continue;
      }
      if (d == 'z' || d == 'Z') {
        ++i;
        continue;
      }
      expanded += format.substr(i, 2);
      ++i;
      continue;
    }
    expanded += format[i];
  }
  std::tm tm{};
  tm.tm_year = c.year - 1900;
  tm.tm_mon = static_cast<int>(c.month) - 1;
  tm.tm_mday = static_cast<int>(c.day);
  tm.tm_hour = c.hour;
  tm.tm_min = c.minute;
  tm.tm_sec = c.second;
  tm.tm_wday = static_cast<int>((c.weekday + 1) % 7);
  tm.tm_yday = static_cast<int>(c.yearday) - 1;
  tm.tm_isdst = -1;
  if (expanded.empty()) return {};
  std::string out(expanded.size() * 4 + 64, '\0');
  for (;;) {
    const std::size_t n = std::strftime(out.data(), out.size(), expanded.c_str(), &tm);
    if (n != 0 || out.size() > 65536) {
      out.resize(n);
      return out;
    }
    out.resize(out.size() * 2);
  }
}

std::optional<Value> DateTime::attribute(std::string_view name) const {
  const Civil c = civil(time_);
  if (name == "year") return Value(c.year);
  if (name == "month") return Value(c.month);
  if (name == "day") return Value(c.day);
  if (name == "hour") return Value(c.hour);
  if (name == "minute") return Value(c.minute);
  if (name == "second") return Value(c.second);
  if (name == "microsecond") return Value(c.microsecond);
  return std::nullopt;
}

std::optional<Value> DateTime::call_method(std::string_view name, const Arguments& args) const {
  if (name == "strftime") return Value(strftime(args.str(0, "format")));
  if (name == "isoformat") {
    const Value* sep = args.get(0, "sep");
    return Value(isoformat(sep ? args.str(0, "sep") : std::string_view("T")));
  }
  if (name == "weekday") return Value(civil(time_).weekday);
  if (name == "isoweekday") return Value(civil(time_).weekday + 1);
  if (name == "timestamp") {
    const auto us = std::chrono::time_point_cast<microseconds>(time_).time_since_epoch();
    return Value(static_cast<double>(us.count()) / 1e6);
  }
  if (name == "replace") {
    // Datetimes here are naive UTC already: only the call that makes an
    // aware one naive (as the feed of Tornado's blog demo does) is a no-op.
    const Value* tzinfo = args.get(static_cast<std::size_t>(-1), "tzinfo");
    if (!args.positional.empty() || args.keywords.size() != 1 || !tzinfo ||
        !(tzinfo->json() && tzinfo->json()->is_null()))
      throw std::invalid_argument("datetime.replace() supports only tzinfo=None");
    return Value(time_);
  }
  return std::nullopt;
}

std::string DateTime::str() const {
  return isoformat(" ");
}

std::string DateTime::repr() const {
  const Civil c = civil(time_);
  std::string out = "datetime.datetime(" + std::to_string(c.year) + ", " + std::to_string(c.month) +
                    ", " + std::to_string(c.day) + ", " + std::to_string(c.hour) + ", " +
                    std::to_string(c.minute);
  if (c.second != 0 || c.microsecond != 0) out += ", " + std::to_string(c.second);
  if (c.microsecond != 0) out += ", " + std::to_string(c.microsecond);
  return out + ")";
}

std::optional<Value> DateTime::operate(Operator op, const Value& other) const {
  if (const TimeDelta* d = as_timedelta(other)) {
    if (op == Operator::add) return Value(time_ + d->duration());
    if (op == Operator::sub) return Value(time_ - d->duration());
    return std::nullopt;
  }
  const DateTime* t = as_datetime(other);
  if (!t) return op == Operator::eq ? std::optional<Value>(Value(false)) : std::nullopt;
  switch (op) {
    case Operator::sub:
      return Value(std::chrono::duration_cast<microseconds>(time_ - t->time_));
    case Operator::lt:
      return Value(time_ < t->time_);
    case Operator::le:
      return Value(time_ <= t->time_);
    case Operator::gt:
      return Value(time_ > t->time_);
    case Operator::ge:
      return Value(time_ >= t->time_);
    case Operator::eq:
      return Value(time_ == t->time_);
    default:
      return std::nullopt;
  }
}

nlohmann::json DateTime::to_json() const {
  return isoformat();
}

std::optional<Value> TimeDelta::attribute(std::string_view name) const {
  const std::int64_t us = duration_.count();
  constexpr std::int64_t kDay = 86400LL * 1000000;
  const std::int64_t days = us >= 0 ? us / kDay : -((-us + kDay - 1) / kDay);
  const std::int64_t rest = us - days * kDay;
  if (name == "days") return Value(days);
  if (name == "seconds") return Value(rest / 1000000);
  if (name == "microseconds") return Value(rest % 1000000);
  return std::nullopt;
}

std::optional<Value> TimeDelta::call_method(std::string_view name, const Arguments&) const {
  if (name == "total_seconds") return Value(static_cast<double>(duration_.count()) / 1e6);
  return std::nullopt;
}

std::string TimeDelta::str() const {
  const auto days = attribute("days")->json()->get<std::int64_t>();
  const auto seconds = attribute("seconds")->json()->get<std::int64_t>();
  const auto micro = attribute("microseconds")->json()->get<std::int64_t>();
  std::string out;
  if (days != 0) out = std::to_string(days) + (days == 1 || days == -1 ? " day, " : " days, ");
  out += std::to_string(seconds / 3600) + ":" + pad((seconds / 60) % 60, 2) + ":" +
         pad(seconds % 60, 2);
  if (micro != 0) out += "." + pad(static_cast<long>(micro), 6);
  return out;
}

std::string TimeDelta::repr() const {
  const auto days = attribute("days")->json()->get<std::int64_t>();
  const auto seconds = attribute("seconds")->json()->get<std::int64_t>();
  const auto micro = attribute("microseconds")->json()->get<std::int64_t>();
  std::string parts;
  auto add = [&](const char* name, std::int64_t v) {
    if (v == 0) return;
    if (!parts.empty()) parts += ", ";
    parts += std::string(name) + "=" + std::to_string(v);
  };
  add("days", days);
  add("seconds", seconds);
  add("microseconds", micro);
  return "datetime.timedelta(" + (parts.empty() ? std::string("0") : parts) + ")";
}

std::optional<Value> TimeDelta::operate(Operator op, const Value& other) const {
  if (const TimeDelta* d = as_timedelta(other)) {
    const auto a = duration_, b = d->duration_;
    switch (op) {
      case Operator::add:
        return Value(a + b);
      case Operator::sub:
        return Value(a - b);
      case Operator::div:
        if (b.count() == 0) fail("ZeroDivisionError", "division by zero");
        return Value(static_cast<double>(a.count()) / static_cast<double>(b.count()));
      case Operator::lt:
        return Value(a < b);
      case Operator::le:
        return Value(a <= b);
      case Operator::gt:
        return Value(a > b);
      case Operator::ge:
        return Value(a >= b);
      case Operator::eq:
        return Value(a == b);
      default:
        return std::nullopt;
    }
  }
  if (const DateTime* t = as_datetime(other); t && op == Operator::add) {
    return Value(t->time() + duration_);
  }
  if (const auto n = as_number(other)) {
    if (op == Operator::mul) {
      return Value(microseconds(
          static_cast<std::int64_t>(std::nearbyint(static_cast<double>(duration_.count()) * *n))));
    }
    if (op == Operator::div || op == Operator::floordiv) {
      if (*n == 0) fail("ZeroDivisionError", "division by zero");
      const double q = static_cast<double>(duration_.count()) / *n;
      return Value(microseconds(
          static_cast<std::int64_t>(op == Operator::div ? std::nearbyint(q) : std::floor(q))));
    }
  }
  if (op == Operator::eq) return Value(false);
  return std::nullopt;
}

std::optional<Value> TimeDelta::operate_reflected(Operator op, const Value& other) const {
  if (op == Operator::mul && as_number(other)) return operate(op, other);
  return std::nullopt;
}

nlohmann::json TimeDelta::to_json() const {
  return static_cast<double>(duration_.count()) / 1e6;
}

// ---------------------------------------------------------------------------
// Namespace

Namespace::Namespace(const nlohmann::json& values) : values_(&values) {}

Namespace::Namespace(nlohmann::json&& values) : owned_(std::move(values)), values_(&owned_) {}

Namespace::Namespace(std::initializer_list<std::pair<std::string, Value>> values) {
  for (const auto& [name, value] : values) set(name, value);
}

Namespace::Namespace(const Namespace& other)
    : owned_(other.values_ && other.values_ != &other.owned_ ? *other.values_ : other.owned_),
      values_(other.values_ ? &owned_ : nullptr),
      objects_(other.objects_) {}

Namespace::Namespace(Namespace&& other) noexcept
    : owned_(std::move(other.owned_)),
      values_(other.values_ == &other.owned_ ? &owned_ : other.values_),
      objects_(std::move(other.objects_)) {
  other.values_ = nullptr;
}

Namespace& Namespace::operator=(const Namespace& other) {
  if (this != &other) *this = Namespace(other);
  return *this;
}

Namespace& Namespace::operator=(Namespace&& other) noexcept {
  if (this != &other) {
    owned_ = std::move(other.owned_);
    values_ = other.values_ == &other.owned_ ? &owned_ : other.values_;
    objects_ = std::move(other.objects_);
    other.values_ = nullptr;
  }
  return *this;
}

Namespace::~Namespace() = default;

nlohmann::json& Namespace::own() {
  if (values_ != &owned_) {
    owned_ = values_ && values_->is_object() ? *values_ : nlohmann::json::object();
    values_ = &owned_;
  }
  if (!owned_.is_object()) owned_ = nlohmann::json::object();
  return owned_;
}

Namespace& Namespace::set(std::string_view name, Value value) {
  const std::string key(name);
  if (const nlohmann::json* j = value.json()) {
    std::erase_if(objects_, [&](const auto& entry) { return entry.first == key; });
    own()[key] = *j;
    return *this;
  }
  if (values_ && values_->is_object() && values_->contains(key)) own().erase(key);
  for (auto& [n, v] : objects_) {
    if (n == key) {
      v = std::move(value);
      return *this;
    }
  }
  objects_.emplace_back(key, std::move(value));
  return *this;
}

Namespace& Namespace::update(const Namespace& other) {
  if (other.values_ && other.values_->is_object()) {
    for (const auto& [k, v] : other.values_->items()) set(k, v);
  }
  for (const auto& [k, v] : other.objects_) set(k, v);
  return *this;
}

std::optional<Value> Namespace::get(std::string_view name) const {
  const std::string key(name);
  if (values_ && values_->is_object()) {
    if (const auto it = values_->find(key); it != values_->end()) return Value(*it);
  }
  for (const auto& [n, v] : objects_) {
    if (n == key) return v;
  }
  return std::nullopt;
}

bool Namespace::contains(std::string_view name) const {
  return get(name).has_value();
}

namespace {

// Python's datetime module as templates see it (Tornado puts it in every
// template's namespace): datetime.datetime.now()/utcnow() and
// datetime.timezone.utc, all in UTC as the rest of the datetimes here.
class UtcZone : public Object {
 public:
  std::string type_name() const override { return "datetime.timezone"; }
  std::string str() const override { return "UTC"; }
  std::string repr() const override { return "datetime.timezone.utc"; }
};

class TimezoneType : public Object {
 public:
  std::string type_name() const override { return "type"; }
  std::optional<Value> attribute(std::string_view name) const override {
    if (name == "utc") return Value(std::make_shared<const UtcZone>());
    return std::nullopt;
  }
  std::string repr() const override { return "<class 'datetime.timezone'>"; }
};

class DatetimeType : public Object {
 public:
  std::string type_name() const override { return "type"; }
  std::optional<Value> call_method(std::string_view name, const Arguments& args) const override {
    if (name == "utcnow" && args.positional.empty() && args.keywords.empty()) {
      return Value(std::chrono::system_clock::now());
    }
    if (name == "now") {
      // The one zone there is: UTC (naive datetimes are UTC here too).
      const Value* tz = args.get(0, "tz");
      if (tz && !(tz->json() && tz->json()->is_null()) &&
          !dynamic_cast<const UtcZone*>(tz->object()))
        throw std::invalid_argument("datetime.now() supports only tz=datetime.timezone.utc");
      return Value(std::chrono::system_clock::now());
    }
    return std::nullopt;
  }
  std::string repr() const override { return "<class 'datetime.datetime'>"; }
};

class DatetimeModule : public Object {
 public:
  std::string type_name() const override { return "module"; }
  std::optional<Value> attribute(std::string_view name) const override {
    if (name == "datetime") return Value(std::make_shared<const DatetimeType>());
    if (name == "timezone") return Value(std::make_shared<const TimezoneType>());
    return std::nullopt;
  }
  std::string repr() const override { return "<module 'datetime'>"; }
};

}  // namespace

}  // namespace tornado::template_

namespace tornado::detail {

const template_::Value& datetime_module() {
  static const template_::Value module(std::make_shared<const template_::DatetimeModule>());
  return module;
}

}  // namespace tornado::detail
