// Calls from template expressions: the built-in functions of Tornado's
// template namespace (and a few side-effect-free Python ones), registered
// functions and objects, and the methods of str, dict and list.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "tornado/detail/ascii.h"
#include "tornado/detail/template/dict.h"
#include "tornado/detail/template/semantics.h"
#include "tornado/detail/template/text.h"
#include "tornado/escape.h"

namespace tornado::detail {

// ---------------------------------------------------------------------------
// Calls

namespace {

using BuiltinFn = Value (*)(Args&, EvalContext&);

const std::string& require_str(const Value& v, std::string_view function) {
  const std::string* s = as_string(v);
  if (!s) {
    type_error(std::string(function) + "() expected str, got " + type_name(v));
  }
  return *s;
}

std::int64_t require_int(const Value& v, std::string_view function) {
  const auto n = as_number(v);
  if (!n || !n->is_int) {
    type_error("'" + type_name(v) + "' object cannot be interpreted as an integer (in " +
               std::string(function) + "())");
  }
  return n->i;
}

// Every built-in that returns a string returns through here.
Value str_result(std::string s) {
  check_value_size(s.size());
  return Value(Json(std::move(s)));
}

Value builtin_xhtml_escape(Args& a, EvalContext&) {
  a.check(1, {"value"});
  return str_result(escape::xhtml_escape(require_str(a.require(0, "value"), a.function)));
}

Value builtin_url_escape(Args& a, EvalContext&) {
  a.check(2, {"value", "plus"});
  const Value* plus = a.get(1, "plus");
  return str_result(escape::url_escape(require_str(a.require(0, "value"), a.function),
                                       plus ? truthy(*plus) : true));
}

Value builtin_json_encode(Args& a, EvalContext&) {
  a.check(1, {"value"});
  const Value& v = a.require(0, "value");
  if (v.get_if<RangeValue>() || v.get_if<ViewValue>() || v.get_if<EnumerateValue>()) {
    type_error("Object of type " + type_name(v) + " is not JSON serializable");
  }
  return str_result(escape::json_encode(to_ordered_json(v)));
}

Value builtin_squeeze(Args& a, EvalContext&) {
  a.check(1, {"value"});
  return str_result(escape::squeeze(require_str(a.require(0, "value"), a.function)));
}

Value builtin_linkify(Args& a, EvalContext& context) {
  a.check(5, {"text", "shorten", "extra_params", "require_protocol", "permitted_protocols"});
  escape::LinkifyOptions options;
  if (const Value* v = a.get(1, "shorten")) options.shorten = truthy(*v);
  if (const Value* v = a.get(2, "extra_params")) {
    if (v->get_if<FunctionValue>()) {
      const Value function = *v;
      options.extra_params_fn = [function, &context](std::string_view href) {
        return to_str(call_value(function, {Value(Json(std::string(href)))}, context));
      };
    } else if (truthy(*v)) {
      options.extra_params = require_str(*v, a.function);
    }
  }
  if (const Value* v = a.get(3, "require_protocol")) options.require_protocol = truthy(*v);
  if (const Value* v = a.get(4, "permitted_protocols")) {
    options.permitted_protocols.clear();
    for (const Value& p : collect(*v)) {
      if (const std::string* s = as_string(p)) options.permitted_protocols.push_back(*s);
    }
  }
  return str_result(escape::linkify(require_str(a.require(0, "text"), a.function), options));
}

Value builtin_len(Args& a, EvalContext&) {
  a.check(1, {});
  return Value(Json(length_of(a.require(0, "obj"))));
}

Value builtin_range(Args& a, EvalContext&) {
  a.check(3, {});
  if (a.positional.empty()) type_error("range expected at least 1 argument, got 0");
  RangeValue r{0, 0, 1};
  if (a.positional.size() == 1) {
    r.stop = require_int(a.positional[0], "range");
  } else {
    r.start = require_int(a.positional[0], "range");
    r.stop = require_int(a.positional[1], "range");
    if (a.positional.size() == 3) r.step = require_int(a.positional[2], "range");
  }
  if (r.step == 0) value_error("range() arg 3 must not be zero");
  return Value::of(r);
}

Value builtin_str(Args& a, EvalContext&) {
  a.check(1, {"object"});
  const Value* v = a.get(0, "object");
  return str_result(v ? to_str(*v) : std::string());
}

Value builtin_repr(Args& a, EvalContext&) {
  a.check(1, {});
  std::string out;
  append_repr(out, a.require(0, "obj"));
  return str_result(std::move(out));
}

std::string_view python_strip_ascii(std::string_view s) {
  while (!s.empty() && is_python_space(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && is_python_space(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Value builtin_int(Args& a, EvalContext&) {
  a.check(2, {"base"});
  const Value* v = a.get(0, "x");
  if (!v) return Value(Json(0));
  const Value* base_v = a.get(1, "base");
  if (const std::string* s = as_string(*v)) {
    const int base = base_v ? static_cast<int>(require_int(*base_v, "int")) : 10;
    if (base < 2 || base > 36) value_error("int() base must be >= 2 and <= 36, or 0");
    std::string_view text = python_strip_ascii(*s);
    std::string digits;
    bool negative = false;
    if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
      negative = text[0] == '-';
      text.remove_prefix(1);
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '_' && i > 0 && i + 1 < text.size() && text[i - 1] != '_') continue;
      digits += text[i];
    }
    std::int64_t value = 0;
    const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    if (digits.empty() || r.ptr != digits.data() + digits.size() || r.ec != std::errc()) {
      if (r.ec == std::errc::result_out_of_range) overflow();
      std::string repr;
      append_python_string_repr(repr, *s);
      value_error("invalid literal for int() with base " + std::to_string(base) + ": " + repr);
    }
    return Value(Json(negative ? -value : value));
  }
  if (base_v) type_error("int() can't convert non-string with explicit base");
  const auto n = as_number(*v);
  if (!n) {
    type_error("int() argument must be a string or a number, not '" + type_name(*v) + "'");
  }
  if (n->is_int) return Value(Json(n->i));
  if (std::isnan(n->d)) value_error("cannot convert float NaN to integer");
  if (std::isinf(n->d))
    throw EvalError("OverflowError", "cannot convert float infinity to integer");
  const double t = std::trunc(n->d);
  if (t >= 9.2233720368547758e18 || t < -9.2233720368547758e18) overflow();
  return Value(Json(static_cast<std::int64_t>(t)));
}

Value builtin_float(Args& a, EvalContext&) {
  a.check(1, {});
  const Value* v = a.get(0, "x");
  if (!v) return Value(Json(0.0));
  if (const std::string* s = as_string(*v)) {
    std::string text(python_strip_ascii(*s));
    const std::string lower = ascii_lower(text);
    const std::string_view unsigned_part = !lower.empty() && (lower[0] == '+' || lower[0] == '-')
                                               ? std::string_view(lower).substr(1)
                                               : std::string_view(lower);
    const double sign = !lower.empty() && lower[0] == '-' ? -1.0 : 1.0;
    if (unsigned_part == "inf" || unsigned_part == "infinity") {
      return Value(Json(sign * std::numeric_limits<double>::infinity()));
    }
    if (unsigned_part == "nan") return Value(Json(std::nan("")));
    std::string digits;
    for (char c : text) {
      if (c != '_') digits += c;
    }
    double value = 0;
    const char* begin = digits.data();
    if (!digits.empty() && digits[0] == '+') ++begin;
    const auto r = std::from_chars(begin, digits.data() + digits.size(), value);
    if (digits.empty() || r.ptr != digits.data() + digits.size() ||
        (r.ec != std::errc() && r.ec != std::errc::result_out_of_range)) {
      std::string repr;
      append_python_string_repr(repr, *s);
      value_error("could not convert string to float: " + repr);
    }
    if (r.ec == std::errc::result_out_of_range) value = std::strtod(digits.c_str(), nullptr);
    return Value(Json(value));
  }
  const auto n = as_number(*v);
  if (!n) type_error("float() argument must be a string or a number, not '" + type_name(*v) + "'");
  return Value(Json(to_double(*n)));
}

Value builtin_bool(Args& a, EvalContext&) {
  a.check(1, {});
  const Value* v = a.get(0, "x");
  return Value(Json(v ? truthy(*v) : false));
}

Value builtin_abs(Args& a, EvalContext&) {
  a.check(1, {});
  const Value& v = a.require(0, "x");
  const auto n = as_number(v);
  if (!n) type_error("bad operand type for abs(): '" + type_name(v) + "'");
  if (n->is_int) {
    if (n->i == INT64_MIN) overflow();
    return Value(Json(n->i < 0 ? -n->i : n->i));
  }
  return Value(Json(std::fabs(n->d)));
}

Value min_max(Args& a, bool want_max) {
  a.check(SIZE_MAX, {"default"});
  std::vector<Value> items =
      a.positional.size() == 1 ? collect(a.positional[0]) : std::move(a.positional);
  if (items.empty()) {
    if (const Value* d = a.get(SIZE_MAX, "default")) return *d;
    value_error(std::string(a.function) + "() arg is an empty sequence");
  }
  std::size_t best = 0;
  for (std::size_t i = 1; i < items.size(); ++i) {
    if (compare(want_max ? CompareOp::gt : CompareOp::lt, items[i], items[best])) best = i;
  }
  return items[best];
}

Value builtin_min(Args& a, EvalContext&) {
  return min_max(a, false);
}
Value builtin_max(Args& a, EvalContext&) {
  return min_max(a, true);
}

Value builtin_sum(Args& a, EvalContext&) {
  a.check(2, {"start"});
  Value total = Value(Json(0));
  if (const Value* start = a.get(1, "start")) {
    if (as_string(*start)) type_error("sum() can't sum strings [use ''.join(seq) instead]");
    total = *start;
  }
  Iterator it(a.require(0, "iterable"));
  Value item;
  while (it.next(item)) total = binary_operation(BinaryOp::add, total, item);
  return total;
}

Value builtin_sorted(Args& a, EvalContext&) {
  a.check(1, {"reverse"});
  std::vector<Value> items = collect(a.require(0, "iterable"));
  const Value* reverse = a.get(SIZE_MAX, "reverse");
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse && truthy(*reverse) ? compare(CompareOp::lt, y, x)
                                       : compare(CompareOp::lt, x, y);
  });
  return make_list(std::move(items));
}

Value builtin_reversed(Args& a, EvalContext&) {
  a.check(1, {});
  const Value& seq = a.require(0, "sequence");
  if (const Json* j = seq.json(); j && j->is_object()) {
    type_error("'dict' object is not reversible");
  }
  std::vector<Value> items = collect(seq);
  std::reverse(items.begin(), items.end());
  return make_list(std::move(items));
}

Value builtin_enumerate(Args& a, EvalContext&) {
  a.check(2, {"start"});
  const Value& iterable = a.require(0, "iterable");
  Iterator check(iterable);  // fails now, as Python does, if not iterable
  const Value* start = a.get(1, "start");
  return Value::of(EnumerateValue{std::make_shared<const Value>(Value(iterable).share()),
                                  start ? require_int(*start, "enumerate") : 0});
}

Value builtin_zip(Args& a, EvalContext&) {
  a.check(SIZE_MAX, {});
  std::vector<std::vector<Value>> columns;
  std::size_t rows = SIZE_MAX;
  for (const Value& v : a.positional) {
    columns.push_back(collect(v));
    rows = std::min(rows, columns.back().size());
  }
  if (columns.empty()) rows = 0;
  std::vector<Value> out;
  for (std::size_t r = 0; r < rows; ++r) {
    auto row = std::make_shared<std::vector<Value>>();
    for (const auto& column : columns) row->push_back(column[r]);
    out.push_back(Value::of(SequenceValue{std::move(row)}));
  }
  return make_list(std::move(out));
}

Value builtin_list(Args& a, EvalContext&) {
  a.check(1, {});
  const Value* v = a.get(0, "iterable");
  if (!v) return Value(Json::array());
  return make_list(collect(*v));
}

Value builtin_tuple(Args& a, EvalContext&) {
  a.check(1, {});
  const Value* v = a.get(0, "iterable");
  auto items = std::make_shared<std::vector<Value>>(v ? collect(*v) : std::vector<Value>{});
  return Value::of(SequenceValue{std::move(items)});
}

Value builtin_dict(Args& a, EvalContext&) {
  if (a.positional.size() > 1) type_error("dict expected at most 1 argument");
  std::vector<std::pair<std::string, Value>> entries;
  if (const Value* v = a.get(0, "mapping")) {
    if (const Json* j = v->json(); j && j->is_object()) {
      for (const auto& [key, item] : j->items()) entries.emplace_back(key, v->element(item));
    } else if (const OrderedDict* d = as_dict(*v)) {
      for (const auto& [key, item] : d->entries()) entries.emplace_back(key, from_public_ref(item));
    } else {
      for (const Value& pair : collect(*v)) {
        std::vector<Value> kv = collect(pair);
        if (kv.size() != 2) {
          value_error("dictionary update sequence element has length " + std::to_string(kv.size()) +
                      "; 2 is required");
        }
        const std::string* key = as_string(kv[0]);
        if (!key) type_error("template dict keys must be strings");
        entries.emplace_back(*key, std::move(kv[1]));
      }
    }
  }
  for (const auto& [k, v] : a.keywords) entries.emplace_back(std::string(k), v);
  return make_dict(std::move(entries));
}

Value builtin_round(Args& a, EvalContext&) {
  a.check(2, {"number", "ndigits"});
  const Value& v = a.require(0, "number");
  const auto n = as_number(v);
  if (!n) type_error("type " + type_name(v) + " doesn't define __round__ method");
  const Value* nd = a.get(1, "ndigits");
  if (!nd || is_none(*nd)) {
    if (n->is_int) return Value(Json(n->i));
    if (std::isnan(n->d)) value_error("cannot convert float NaN to integer");
    if (std::isinf(n->d))
      throw EvalError("OverflowError", "cannot convert float infinity to integer");
    const double r = std::nearbyint(n->d);  // ties to even, as Python
    if (r >= 9.2233720368547758e18 || r < -9.2233720368547758e18) overflow();
    return Value(Json(static_cast<std::int64_t>(r)));
  }
  const std::int64_t digits = require_int(*nd, "round");
  if (n->is_int) {
    if (digits >= 0) return Value(Json(n->i));
    std::int64_t scale = 1;
    for (std::int64_t i = 0; i < -digits && scale <= INT64_MAX / 10; ++i) scale *= 10;
    const std::int64_t q = floor_div(n->i, scale), r = n->i - q * scale;
    std::int64_t rounded = q;
    if (r * 2 > scale || (r * 2 == scale && (q & 1))) ++rounded;
    return Value(Json(checked_mul(rounded, scale)));
  }
  if (!std::isfinite(n->d) || digits > 300) return Value(Json(n->d));
  if (digits < -308) return Value(Json(std::copysign(0.0, n->d)));
  // printf rounds the exact binary value correctly, as Python's round does.
  char buf[512];
  if (digits >= 0) {
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(digits), n->d);
    return Value(Json(std::strtod(buf, nullptr)));
  }
  const double scale = std::pow(10.0, static_cast<double>(-digits));
  std::snprintf(buf, sizeof buf, "%.0f", n->d / scale);
  return Value(Json(std::strtod(buf, nullptr) * scale));
}

Value builtin_any(Args& a, EvalContext&) {
  a.check(1, {});
  Iterator it(a.require(0, "iterable"));
  Value item;
  while (it.next(item)) {
    if (truthy(item)) return Value(Json(true));
  }
  return Value(Json(false));
}

Value builtin_all(Args& a, EvalContext&) {
  a.check(1, {});
  Iterator it(a.require(0, "iterable"));
  Value item;
  while (it.next(item)) {
    if (!truthy(item)) return Value(Json(false));
  }
  return Value(Json(true));
}

Value builtin_chr(Args& a, EvalContext&) {
  a.check(1, {});
  const std::int64_t cp = require_int(a.require(0, "i"), "chr");
  if (cp < 0 || cp > 0x10FFFF) value_error("chr() arg not in range(0x110000)");
  if (cp >= 0xD800 && cp <= 0xDFFF) value_error("chr() of a surrogate cannot be encoded");
  std::string out;
  append_utf8(out, static_cast<char32_t>(cp));
  return str_result(std::move(out));
}

Value builtin_ord(Args& a, EvalContext&) {
  a.check(1, {});
  const std::string& s = require_str(a.require(0, "c"), "ord");
  if (s.empty() || decode_utf8(s, 0).size != s.size()) {
    type_error("ord() expected a character, but string of length " +
               std::to_string(utf8_length(s)) + " found");
  }
  return Value(Json(static_cast<std::int64_t>(decode_utf8(s, 0).code_point)));
}

Value builtin_format(Args& a, EvalContext&) {
  a.check(2, {});
  const Value* spec = a.get(1, "format_spec");
  return str_result(
      format_with_spec(a.require(0, "value"), spec ? require_str(*spec, "format") : std::string()));
}

}  // namespace

struct Builtin {
  std::string_view name;
  BuiltinFn fn;
};

namespace {

// Tornado's template namespace plus a few side-effect-free Python built-ins;
// sorted by name for binary search.
constexpr Builtin kBuiltins[] = {
    {"abs", builtin_abs},
    {"all", builtin_all},
    {"any", builtin_any},
    {"bool", builtin_bool},
    {"chr", builtin_chr},
    {"dict", builtin_dict},
    {"enumerate", builtin_enumerate},
    {"escape", builtin_xhtml_escape},
    {"float", builtin_float},
    {"format", builtin_format},
    {"int", builtin_int},
    {"json_encode", builtin_json_encode},
    {"len", builtin_len},
    {"linkify", builtin_linkify},
    {"list", builtin_list},
    {"max", builtin_max},
    {"min", builtin_min},
    {"ord", builtin_ord},
    {"range", builtin_range},
    {"repr", builtin_repr},
    {"reversed", builtin_reversed},
    {"round", builtin_round},
    {"sorted", builtin_sorted},
    {"squeeze", builtin_squeeze},
    {"str", builtin_str},
    {"sum", builtin_sum},
    {"tuple", builtin_tuple},
    {"url_escape", builtin_url_escape},
    {"xhtml_escape", builtin_xhtml_escape},
    {"zip", builtin_zip},
};

const Builtin* find_builtin(std::string_view name) {
  const auto* end = std::end(kBuiltins);
  const auto* it =
      std::lower_bound(std::begin(kBuiltins), end, name,
                       [](const Builtin& b, std::string_view n) { return b.name < n; });
  return it != end && it->name == name ? it : nullptr;
}

}  // namespace

namespace {

// `tornado.escape` for the templates that import it, as Tornado's websocket
// demo does: its functions are the ones the namespace already has.
class EscapeModule final : public template_::Object {
 public:
  std::string type_name() const override { return "module"; }
  std::string repr() const override { return "<module 'tornado.escape'>"; }
  static const Builtin* function(std::string_view name) {
    for (std::string_view carried :
         {"json_encode", "linkify", "squeeze", "url_escape", "xhtml_escape"}) {
      if (name == carried) return find_builtin(name);
    }
    return nullptr;
  }
};

class TornadoPackage final : public template_::Object {
 public:
  std::string type_name() const override { return "module"; }
  std::string repr() const override { return "<module 'tornado'>"; }
  std::optional<template_::Value> attribute(std::string_view name) const override {
    if (name == "escape") return template_::Value(std::make_shared<const EscapeModule>());
    return std::nullopt;
  }
};

const template_::Value& tornado_package() {
  static const template_::Value package(std::make_shared<const TornadoPackage>());
  return package;
}

}  // namespace

bool is_xhtml_escape(const Value& function) {
  const auto* f = function.get_if<FunctionValue>();
  return f && f->builtin && f->builtin->fn == builtin_xhtml_escape;
}

Value lookup_name(std::string_view name, EvalContext& context) {
  if (context.scope) {
    if (const Value* local = context.scope->find(name)) return *local;
  }
  if (context.values) {
    const auto& object = context.values->get_ref<const Json::object_t&>();
    const auto it = object.find(Key{name});
    if (it != object.end()) return Value::ref(&it->second);
  }
  if (context.objects) {
    for (const auto& [n, v] : *context.objects) {
      if (same_name(n, name)) return from_public_ref(v);
    }
  }
  for (const template_::Functions* functions : {context.functions, context.loader_functions}) {
    if (!functions) continue;
    const auto it = functions->find(name);
    if (it != functions->end()) return Value::of(FunctionValue{nullptr, &it->second, it->first});
  }
  if (const Builtin* builtin = find_builtin(name)) {
    return Value::of(FunctionValue{builtin, nullptr, builtin->name});
  }
  if (name == "datetime") return from_public_ref(datetime_module());
  if (name == "tornado") return from_public_ref(tornado_package());
  throw EvalError("NameError", "name '" + std::string(name) + "' is not defined");
}

namespace {

template_::Arguments public_arguments(std::string_view name, const Args& args) {
  template_::Arguments out;
  out.function = name;
  out.positional.reserve(args.positional.size());
  for (const Value& v : args.positional) out.positional.push_back(to_function_argument(v));
  out.keywords.reserve(args.keywords.size());
  for (const auto& [k, v] : args.keywords) {
    out.keywords.emplace_back(std::string(k), to_function_argument(v));
  }
  return out;
}

}  // namespace

Value call_args(const Value& function, Args& args, EvalContext& context) {
  if (const template_::Object* o = object_of(function)) {
    const template_::Arguments arguments = public_arguments(o->type_name(), args);
    return from_public(user_code([&] { return o->call(arguments); }));
  }
  const auto* f = function.get_if<FunctionValue>();
  if (!f) type_error("'" + type_name(function) + "' object is not callable");
  if (f->builtin) {
    args.function = f->builtin->name;
    return f->builtin->fn(args, context);
  }
  const template_::Arguments arguments = public_arguments(f->name, args);
  return from_public(user_code([&] { return (*f->external)(arguments); }));
}

Value call_value(const Value& function, std::vector<Value> positional, EvalContext& context) {
  Args args{{}, std::move(positional), {}};
  return call_args(function, args, context);
}

// ---------------------------------------------------------------------------
// Methods of str, dict and list

namespace {

bool is_ascii_space(char c) {
  return is_python_space(static_cast<unsigned char>(c));
}

std::string_view strip_chars(std::string_view s, const Value* chars, bool left, bool right) {
  if (chars && !is_none(*chars)) {
    const std::string& set = require_str(*chars, "strip");
    while (left && !s.empty() && set.find(s.front()) != std::string::npos) s.remove_prefix(1);
    while (right && !s.empty() && set.find(s.back()) != std::string::npos) s.remove_suffix(1);
    return s;
  }
  return python_strip(s, left, right);
}

Value split(const std::string& s, Args& a) {
  a.check(2, {"sep", "maxsplit"});
  const Value* sep_v = a.get(0, "sep");
  const Value* max_v = a.get(1, "maxsplit");
  std::int64_t maxsplit = max_v ? require_int(*max_v, "split") : -1;
  Json out = Json::array();
  // Many empty pieces weigh far more than the string: counted as they come.
  std::size_t size = 0;
  auto add = [&](std::string piece) {
    size = size_add(size, kItemOverhead + piece.size());
    check_value_size(size);
    out.push_back(std::move(piece));
  };
  if (!sep_v || is_none(*sep_v)) {
    std::size_t i = 0;
    while (true) {
      while (i < s.size() && is_ascii_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit == 0) {
        std::string_view rest(s);
        rest = rest.substr(i);
        while (!rest.empty() && is_ascii_space(rest.back())) rest.remove_suffix(1);
        add(std::string(rest));
        break;
      }
      std::size_t j = i;
      while (j < s.size() && !is_ascii_space(s[j])) ++j;
      add(s.substr(i, j - i));
      if (maxsplit > 0) --maxsplit;
      i = j;
    }
    return Value(std::move(out));
  }
  const std::string& sep = require_str(*sep_v, "split");
  if (sep.empty()) value_error("empty separator");
  std::size_t start = 0;
  while (maxsplit != 0) {
    const std::size_t hit = s.find(sep, start);
    if (hit == std::string::npos) break;
    add(s.substr(start, hit - start));
    start = hit + sep.size();
    if (maxsplit > 0) --maxsplit;
  }
  add(s.substr(start));
  return Value(std::move(out));
}

std::string ascii_transform(std::string s, int mode) {
  // mode 0 lower, 1 upper, 2 title, 3 capitalize; ASCII letters only.
  bool previous_cased = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char& c = s[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool upper = false;
    switch (mode) {
      case 0:
        upper = false;
        break;
      case 1:
        upper = true;
        break;
      case 2:
        upper = !previous_cased;
        break;
      case 3:
        upper = i == 0;
        break;
    }
    if (letter) c = upper ? static_cast<char>(std::toupper(c)) : static_cast<char>(std::tolower(c));
    previous_cased = letter;
  }
  return s;
}

std::optional<Value> string_method(const std::string& s, std::string_view name, Args& a) {
  a.function = name;
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    a.check(0, {});
    const int mode = name == "lower" ? 0 : name == "upper" ? 1 : name == "title" ? 2 : 3;
    return str_result(ascii_transform(s, mode));
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    a.check(1, {});
    return str_result(
        std::string(strip_chars(s, a.get(0, "chars"), name != "rstrip", name != "lstrip")));
  }
  if (name == "startswith" || name == "endswith") {
    a.check(1, {});
    const Value& arg = a.require(0, "prefix");
    std::vector<Value> options = sequence_kind(arg) == 2 ? collect(arg) : std::vector<Value>{arg};
    for (const Value& o : options) {
      const std::string& p = require_str(o, name);
      const bool hit = name == "startswith" ? s.compare(0, p.size(), p) == 0
                                            : s.size() >= p.size() &&
                                                  s.compare(s.size() - p.size(), p.size(), p) == 0;
      if (hit) return Value(Json(true));
    }
    return Value(Json(false));
  }
  if (name == "replace") {
    a.check(3, {});
    const std::string& from = require_str(a.require(0, "old"), name);
    const std::string& to = require_str(a.require(1, "new"), name);
    const Value* count_v = a.get(2, "count");
    std::int64_t count = count_v ? require_int(*count_v, name) : -1;
    std::string out;
    std::size_t i = 0;
    if (from.empty()) {
      // Python inserts `to` between characters and at both ends.
      for (std::size_t k = 0; k <= s.size();) {
        if (count != 0) {
          out += to;
          check_value_size(out.size());
          if (count > 0) --count;
        }
        if (k == s.size()) break;
        const std::size_t n = decode_utf8(s, k).size;
        out.append(s, k, n);
        k += n;
      }
      return str_result(std::move(out));
    }
    while (count != 0) {
      const std::size_t hit = s.find(from, i);
      if (hit == std::string::npos) break;
      out.append(s, i, hit - i);
      out += to;
      check_value_size(out.size());
      i = hit + from.size();
      if (count > 0) --count;
    }
    out.append(s, i);
    return str_result(std::move(out));
  }
  if (name == "split") return split(s, a);
  if (name == "join") {
    a.check(1, {});
    std::string out;
    bool first = true;
    if (const Json* j = a.require(0, "iterable").json(); j && j->is_array()) {
      for (const Json& item : *j) {
        if (!item.is_string()) {
          type_error("sequence item: expected str instance, " + type_name(Value::ref(&item)) +
                     " found");
        }
        if (!first) out += s;
        first = false;
        out += item.get_ref<const std::string&>();
        check_value_size(out.size());
      }
      return str_result(std::move(out));
    }
    for (const Value& item : collect(a.require(0, "iterable"))) {
      const std::string* part = as_string(item);
      if (!part) type_error("sequence item: expected str instance, " + type_name(item) + " found");
      if (!first) out += s;
      first = false;
      out += *part;
      check_value_size(out.size());
    }
    return str_result(std::move(out));
  }
  if (name == "find" || name == "count" || name == "index") {
    a.check(1, {});
    const std::string& sub = require_str(a.require(0, "sub"), name);
    if (name == "count") {
      if (sub.empty()) return Value(Json(static_cast<std::int64_t>(utf8_length(s) + 1)));
      std::int64_t n = 0;
      for (std::size_t i = s.find(sub); i != std::string::npos; i = s.find(sub, i + sub.size()))
        ++n;
      return Value(Json(n));
    }
    const std::size_t hit = s.find(sub);
    if (hit == std::string::npos) {
      if (name == "index") value_error("substring not found");
      return Value(Json(-1));
    }
    return Value(Json(static_cast<std::int64_t>(utf8_length(std::string_view(s).substr(0, hit)))));
  }
  if (name == "format") {
    std::vector<std::pair<std::string, Value>> keywords;
    for (auto& [k, v] : a.keywords) keywords.emplace_back(std::string(k), v);
    return str_result(str_format(s, a.positional, keywords));
  }
  if (name == "zfill" || name == "ljust" || name == "rjust" || name == "center") {
    a.check(2, {});
    const std::int64_t width = require_int(a.require(0, "width"), name);
    std::string fill = " ";
    if (const Value* f = a.get(1, "fillchar")) fill = require_str(*f, name);
    const auto length = static_cast<std::int64_t>(utf8_length(s));
    if (width <= length) return str_result(s);
    const std::int64_t pad = width - length;
    check_value_size(size_add(
        s.size(), size_mul(static_cast<std::size_t>(pad), std::max<std::size_t>(fill.size(), 1))));
    auto repeat_fill = [&](std::int64_t n) {
      std::string out;
      for (std::int64_t i = 0; i < n; ++i) out += fill;
      return out;
    };
    if (name == "ljust") return str_result(s + repeat_fill(pad));
    if (name == "rjust") return str_result(repeat_fill(pad) + s);
    if (name == "center") {
      const std::int64_t left = pad / 2 + (pad & width & 1);
      return str_result(repeat_fill(left) + s + repeat_fill(pad - left));
    }
    // zfill keeps a sign in front.
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
      return str_result(s.substr(0, 1) + std::string(static_cast<std::size_t>(pad), '0') +
                        s.substr(1));
    }
    return str_result(std::string(static_cast<std::size_t>(pad), '0') + s);
  }
  if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" ||
      name == "islower" || name == "isupper") {
    a.check(0, {});
    if (s.empty()) return Value(Json(false));
    bool cased = false, result = true;
    for (char c : s) {
      const bool digit = c >= '0' && c <= '9';
      const bool lower = c >= 'a' && c <= 'z';
      const bool upper = c >= 'A' && c <= 'Z';
      if (lower || upper) cased = true;
      if (name == "isdigit") result = result && digit;
      if (name == "isalpha") result = result && (lower || upper);
      if (name == "isalnum") result = result && (lower || upper || digit);
      if (name == "isspace") result = result && is_ascii_space(c);
      if (name == "islower") result = result && !upper;
      if (name == "isupper") result = result && !lower;
    }
    if (name == "islower" || name == "isupper") result = result && cased;
    return Value(Json(result));
  }
  return std::nullopt;
}

std::optional<Value> dict_method(const Value& object, std::string_view name, Args& a) {
  a.function = name;
  const JsonRef ref = [&] {
    Value shared = object;
    shared.share();
    return *shared.get_if<JsonRef>();
  }();
  if (name == "items" || name == "keys" || name == "values") {
    a.check(0, {});
    const ViewKind kind = name == "items"  ? ViewKind::items
                          : name == "keys" ? ViewKind::keys
                                           : ViewKind::values;
    return Value::of(ViewValue{ref, kind});
  }
  if (name == "get") {
    a.check(2, {});
    const Value& key = a.require(0, "key");
    if (const std::string* k = as_string(key)) {
      const auto& map = ref.ptr->get_ref<const Json::object_t&>();
      const auto it = map.find(Key{*k});
      if (it != map.end()) return Value::ref(&it->second, ref.keep);
    }
    if (const Value* fallback = a.get(1, "default")) return *fallback;
    return Value(Json());
  }
  return std::nullopt;
}

std::optional<Value> sequence_method(const Value& sequence, std::string_view name, Args& a) {
  a.function = name;
  if (name == "index" || name == "count") {
    a.check(1, {});
    const Value& needle = a.require(0, "value");
    std::int64_t position = 0, count = 0;
    Iterator it(sequence);
    Value item;
    while (it.next(item)) {
      if (python_equal(item, needle)) {
        if (name == "index") return Value(Json(position));
        ++count;
      }
      ++position;
    }
    if (name == "index") value_error("value is not in " + type_name(sequence));
    return Value(Json(count));
  }
  return std::nullopt;
}

}  // namespace

Value call_method(Value receiver, std::string_view name, Args& args, EvalContext& context) {
  std::optional<Value> result;
  if (const Json* j = receiver.json()) {
    if (j->is_string()) {
      result = string_method(j->get_ref<const std::string&>(), name, args);
    } else if (j->is_object()) {
      result = dict_method(receiver, name, args);
    } else if (j->is_array()) {
      result = sequence_method(receiver, name, args);
    }
  } else if (receiver.get_if<SequenceValue>()) {
    result = sequence_method(receiver, name, args);
  } else if (const auto* module = dynamic_cast<const EscapeModule*>(object_of(receiver))) {
    if (const Builtin* function = module->function(name)) return function->fn(args, context);
  } else if (const template_::Object* o = object_of(receiver)) {
    const template_::Arguments arguments = public_arguments(name, args);
    auto answer = user_code([&] { return o->call_method(name, arguments); });
    if (answer) return from_public(std::move(*answer));
  }
  if (result) return std::move(*result);
  // An object's key holding a function cannot exist (JSON), so this fails
  // with Python's message either as a missing attribute or as not callable.
  Value attribute = get_attribute(std::move(receiver), name);
  return call_args(attribute, args, context);
}

}  // namespace tornado::detail
