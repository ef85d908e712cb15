// Evaluation of template expressions with Python's semantics: truthiness,
// numeric tower (bool < int < float), str()/repr(), floor division and
// modulo, comparisons, and the built-in functions of Tornado's namespace.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "tornado/detail/ascii.h"
#include "tornado/detail/template_expr.h"
#include "tornado/detail/template_format.h"
#include "tornado/detail/template_text.h"
#include "tornado/escape.h"

namespace tornado::detail {

// 128-bit arithmetic for exact range lengths and digits; GCC's -Wpedantic
// accepts the type only behind __extension__.
__extension__ using Int128 = __int128;
__extension__ using Uint128 = unsigned __int128;

namespace {

[[noreturn]] void type_error(const std::string& message) {
  throw EvalError("TypeError", message);
}

bool is_none(const Value& value) {
  return value.json() && value.json()->is_null();
}
[[noreturn]] void value_error(const std::string& message) {
  throw EvalError("ValueError", message);
}

const template_::Object* object_of(const Value& value) {
  const auto* o = value.get_if<ObjectValue>();
  return o ? o->ptr.get() : nullptr;
}

// Runs application code (an Object's hook, a registered function): its
// exceptions become TemplateErrors, which the renderer locates.
template <class F>
auto user_code(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const template_::TemplateError&) {
    throw;
  } catch (const EvalError&) {
    throw;
  } catch (const std::exception& e) {
    throw template_::TemplateError({}, 0, e.what(), {}, "Exception", std::current_exception());
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Work budget

thread_local constinit std::uint64_t render_budget_limit = 0;
namespace {
thread_local std::uint64_t render_budget_left = 0;
}  // namespace

void set_render_budget(std::uint64_t steps) noexcept {
  render_budget_limit = steps;
  render_budget_left = steps;
}

// Only reached while a budget is set, so unlimited renders pay one test.
void spend_render_budget() {
  if (render_budget_left == 0) throw EvalError("RuntimeError", "render budget exhausted");
  --render_budget_left;
}

// ---------------------------------------------------------------------------
// Value plumbing

Value& Value::share() {
  if (auto* owned = std::get_if<Json>(&v_)) {
    auto shared = std::make_shared<const Json>(std::move(*owned));
    const Json* ptr = shared.get();
    v_ = JsonRef{ptr, std::move(shared)};
  }
  return *this;
}

Value Value::element(const Json& part) const& {
  if (const auto* r = std::get_if<JsonRef>(&v_)) return Value::ref(&part, r->keep);
  return Value(part);
}

Value Value::element(const Json& part) && {
  if (auto* r = std::get_if<JsonRef>(&v_)) return Value::ref(&part, std::move(r->keep));
  // The part lives inside our own JSON, which is about to go away: take it.
  return Value(std::move(const_cast<Json&>(part)));
}

const Value* Scope::find(std::string_view name) const {
  for (const Scope* s = this; s; s = s->parent) {
    for (const auto& [n, v] : s->variables) {
      if (same_name(n, name)) return &v;
    }
  }
  return nullptr;
}

void Scope::set(std::string_view name, Value value) {
  value.share();
  for (auto& [n, v] : variables) {
    if (n == name) {
      v = std::move(value);
      return;
    }
  }
  variables.emplace_back(std::string(name), std::move(value));
}

// ---------------------------------------------------------------------------
// Types, truthiness, numbers

std::string type_name(const Value& value) {
  if (const Json* j = value.json()) {
    switch (j->type()) {
      case Json::value_t::null:
        return "NoneType";
      case Json::value_t::boolean:
        return "bool";
      case Json::value_t::number_integer:
      case Json::value_t::number_unsigned:
        return "int";
      case Json::value_t::number_float:
        return "float";
      case Json::value_t::string:
        return "str";
      case Json::value_t::array:
        return "list";
      case Json::value_t::object:
        return "dict";
      default:
        return "object";
    }
  }
  if (value.get_if<FunctionValue>()) {
    return value.get_if<FunctionValue>()->builtin ? "builtin_function_or_method" : "function";
  }
  if (value.get_if<RangeValue>()) return "range";
  if (const auto* view = value.get_if<ViewValue>()) {
    return view->kind == ViewKind::keys     ? "dict_keys"
           : view->kind == ViewKind::values ? "dict_values"
                                            : "dict_items";
  }
  if (const auto* seq = value.get_if<SequenceValue>()) return seq->is_list ? "list" : "tuple";
  if (const template_::Object* o = object_of(value)) return o->type_name();
  return "enumerate";
}

namespace {

std::int64_t range_length(const RangeValue& r) {
  if (r.step > 0 && r.start < r.stop) {
    return static_cast<std::int64_t>((static_cast<Uint128>(r.stop - r.start) - 1) /
                                     static_cast<Uint128>(r.step)) +
           1;
  }
  if (r.step < 0 && r.start > r.stop) {
    return static_cast<std::int64_t>((static_cast<Uint128>(r.start - r.stop) - 1) /
                                     static_cast<Uint128>(-static_cast<Int128>(r.step))) +
           1;
  }
  return 0;
}

}  // namespace

bool truthy(const Json& json) {
  const Json* j = &json;
  switch (j->type()) {
    case Json::value_t::null:
      return false;
    case Json::value_t::boolean:
      return j->get<bool>();
    case Json::value_t::number_integer:
      return j->get<std::int64_t>() != 0;
    case Json::value_t::number_unsigned:
      return j->get<std::uint64_t>() != 0;
    case Json::value_t::number_float:
      return j->get<double>() != 0.0;
    case Json::value_t::string:
      return !j->get_ref<const std::string&>().empty();
    case Json::value_t::array:
    case Json::value_t::object:
      return !j->empty();
    default:
      return true;
  }
}

bool truthy(const Value& value) {
  if (const Json* j = value.json()) return truthy(*j);
  if (const auto* r = value.get_if<RangeValue>()) return range_length(*r) > 0;
  if (const auto* view = value.get_if<ViewValue>()) return !view->object.ptr->empty();
  if (const auto* t = value.get_if<SequenceValue>()) return !t->items->empty();
  if (const template_::Object* o = object_of(value)) return user_code([&] { return o->truthy(); });
  return true;
}

std::optional<Number> as_number(const Value& value) {
  const Json* j = value.json();
  if (!j) return std::nullopt;
  switch (j->type()) {
    case Json::value_t::boolean:
      return Number{true, j->get<bool>() ? 1 : 0, 0};
    case Json::value_t::number_integer:
      return Number{true, j->get<std::int64_t>(), 0};
    case Json::value_t::number_unsigned: {
      const auto u = j->get<std::uint64_t>();
      if (u <= static_cast<std::uint64_t>(INT64_MAX)) {
        return Number{true, static_cast<std::int64_t>(u), 0};
      }
      return Number{false, 0, static_cast<double>(u)};
    }
    case Json::value_t::number_float:
      return Number{false, 0, j->get<double>()};
    default:
      return std::nullopt;
  }
}

double to_double(const Number& n) {
  return n.is_int ? static_cast<double>(n.i) : n.d;
}

Value make_number(const Number& n) {
  return n.is_int ? Value(Json(n.i)) : Value(Json(n.d));
}

namespace {

const std::string* as_string(const Value& value) {
  const Json* j = value.json();
  return j && j->is_string() ? &j->get_ref<const std::string&>() : nullptr;
}

[[noreturn]] void overflow() {
  throw EvalError("OverflowError", "integer result too large");
}

std::int64_t checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}
std::int64_t checked_sub(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) overflow();
  return r;
}
std::int64_t checked_mul(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) overflow();
  return r;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  if (b == 0) throw EvalError("ZeroDivisionError", "integer division or modulo by zero");
  if (a == INT64_MIN && b == -1) overflow();
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
  if (b == 0) throw EvalError("ZeroDivisionError", "integer division or modulo by zero");
  if (b == -1) return 0;
  std::int64_t m = a % b;
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  return m;
}

// Python's float divmod.
std::pair<double, double> float_divmod(double a, double b) {
  if (b == 0.0) throw EvalError("ZeroDivisionError", "float divmod()");
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0) {
    if ((b < 0) != (mod < 0)) {
      mod += b;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, b);
  }
  double floordiv;
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, a / b);
  }
  return {floordiv, mod};
}

std::int64_t int_pow(std::int64_t base, std::int64_t exp) {
  std::int64_t result = 1;
  while (exp > 0) {
    if (exp & 1) result = checked_mul(result, base);
    exp >>= 1;
    if (exp) base = checked_mul(base, base);
  }
  return result;
}

std::string_view op_symbol(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
      return "+";
    case BinaryOp::sub:
      return "-";
    case BinaryOp::mul:
      return "*";
    case BinaryOp::div:
      return "/";
    case BinaryOp::floordiv:
      return "//";
    case BinaryOp::mod:
      return "%";
    case BinaryOp::pow:
      return "** or pow()";
  }
  return "?";
}

[[noreturn]] void unsupported(BinaryOp op, const Value& a, const Value& b) {
  type_error("unsupported operand type(s) for " + std::string(op_symbol(op)) + ": '" +
             type_name(a) + "' and '" + type_name(b) + "'");
}

// 1 for lists (JSON arrays and list sequences), 2 for tuples, 0 otherwise:
// Python compares and concatenates only sequences of the same kind.
int sequence_kind(const Value& value) {
  if (const Json* j = value.json()) return j->is_array() ? 1 : 0;
  if (const auto* seq = value.get_if<SequenceValue>()) return seq->is_list ? 1 : 2;
  return 0;
}

std::vector<Value> collect(const Value& iterable) {
  std::vector<Value> items;
  if (const auto* r = iterable.get_if<RangeValue>(); r && range_length(*r) > (1 << 24)) {
    throw EvalError("MemoryError", "range too large to materialize");
  }
  Iterator it(iterable);
  Value item;
  while (it.next(item)) items.push_back(std::move(item));
  return items;
}

Json repeat(const Json& sequence, std::int64_t times) {
  if (sequence.is_string()) {
    std::string out;
    const auto& s = sequence.get_ref<const std::string&>();
    if (times > 0 &&
        static_cast<std::uint64_t>(times) > (1u << 28) / std::max<std::size_t>(s.size(), 1)) {
      throw EvalError("MemoryError", "result too large");
    }
    for (std::int64_t i = 0; i < times; ++i) out += s;
    return out;
  }
  Json out = Json::array();
  if (times > 0 &&
      static_cast<std::uint64_t>(times) > (1u << 22) / std::max<std::size_t>(sequence.size(), 1)) {
    throw EvalError("MemoryError", "result too large");
  }
  for (std::int64_t i = 0; i < times; ++i) {
    for (const auto& item : sequence) out.push_back(item);
  }
  return out;
}

}  // namespace

Value make_list(std::vector<Value> items) {
  bool all_json = true;
  for (const Value& item : items) all_json = all_json && item.json();
  if (!all_json) {
    for (Value& item : items) item.share();
    return Value::of(
        SequenceValue{std::make_shared<const std::vector<Value>>(std::move(items)), true});
  }
  Json out = Json::array();
  for (const Value& item : items) out.push_back(*item.json());
  return Value(std::move(out));
}

namespace {

template_::Operator public_operator(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
      return template_::Operator::add;
    case BinaryOp::sub:
      return template_::Operator::sub;
    case BinaryOp::mul:
      return template_::Operator::mul;
    case BinaryOp::div:
      return template_::Operator::div;
    case BinaryOp::floordiv:
      return template_::Operator::floordiv;
    case BinaryOp::mod:
      return template_::Operator::mod;
    case BinaryOp::pow:
      return template_::Operator::pow;
  }
  return template_::Operator::add;
}

// `left op right` when one side is an Object: its operate() hooks, as
// Python's __op__ then __rop__.
std::optional<Value> object_operation(template_::Operator op, const Value& left,
                                      const Value& right) {
  return user_code([&]() -> std::optional<Value> {
    if (const template_::Object* o = object_of(left)) {
      if (auto result = o->operate(op, to_public(right))) return from_public(std::move(*result));
    }
    if (const template_::Object* o = object_of(right)) {
      if (auto result = o->operate_reflected(op, to_public(left))) {
        return from_public(std::move(*result));
      }
    }
    return std::nullopt;
  });
}

}  // namespace

// Kept out of line so that the JSON paths of the operators stay as small as
// they were before objects existed.
[[gnu::noinline, gnu::cold]] Value object_binary(BinaryOp op, const Value& left,
                                                 const Value& right) {
  if (auto result = object_operation(public_operator(op), left, right)) return *result;
  unsupported(op, left, right);
}

Value binary_operation(BinaryOp op, const Value& left, const Value& right) {
  if (!left.json() || !right.json()) [[unlikely]] {
    if (object_of(left) || object_of(right)) return object_binary(op, left, right);
  }
  const auto a = as_number(left);
  const auto b = as_number(right);
  if (a && b) {
    if (a->is_int && b->is_int) {
      switch (op) {
        case BinaryOp::add:
          return Value(Json(checked_add(a->i, b->i)));
        case BinaryOp::sub:
          return Value(Json(checked_sub(a->i, b->i)));
        case BinaryOp::mul:
          return Value(Json(checked_mul(a->i, b->i)));
        case BinaryOp::div:
          if (b->i == 0) throw EvalError("ZeroDivisionError", "division by zero");
          return Value(Json(static_cast<double>(a->i) / static_cast<double>(b->i)));
        case BinaryOp::floordiv:
          return Value(Json(floor_div(a->i, b->i)));
        case BinaryOp::mod:
          return Value(Json(floor_mod(a->i, b->i)));
        case BinaryOp::pow:
          if (b->i >= 0) return Value(Json(int_pow(a->i, b->i)));
          if (a->i == 0) {
            throw EvalError("ZeroDivisionError", "0.0 cannot be raised to a negative power");
          }
          return Value(Json(std::pow(static_cast<double>(a->i), static_cast<double>(b->i))));
      }
    }
    const double x = to_double(*a), y = to_double(*b);
    switch (op) {
      case BinaryOp::add:
        return Value(Json(x + y));
      case BinaryOp::sub:
        return Value(Json(x - y));
      case BinaryOp::mul:
        return Value(Json(x * y));
      case BinaryOp::div:
        if (y == 0.0) throw EvalError("ZeroDivisionError", "float division by zero");
        return Value(Json(x / y));
      case BinaryOp::floordiv:
        if (y == 0.0) throw EvalError("ZeroDivisionError", "float floor division by zero");
        return Value(Json(float_divmod(x, y).first));
      case BinaryOp::mod:
        if (y == 0.0) throw EvalError("ZeroDivisionError", "float modulo");
        return Value(Json(float_divmod(x, y).second));
      case BinaryOp::pow:
        if (x == 0.0 && y < 0) {
          throw EvalError("ZeroDivisionError", "0.0 cannot be raised to a negative power");
        }
        if (x < 0 && y != std::floor(y)) {
          value_error("negative number cannot be raised to a fractional power");
        }
        return Value(Json(std::pow(x, y)));
    }
  }
  const Json* lj = left.json();
  const Json* rj = right.json();
  const auto* lt = left.get_if<SequenceValue>();
  const auto* rt = right.get_if<SequenceValue>();
  switch (op) {
    case BinaryOp::add:
      if (lj && rj && lj->is_string() && rj->is_string()) {
        if (lj->get_ref<const std::string&>().size() + rj->get_ref<const std::string&>().size() >
            (1u << 28)) {
          throw EvalError("MemoryError", "string too large");
        }
        std::string s = lj->get_ref<const std::string&>();
        s += rj->get_ref<const std::string&>();
        return Value(Json(std::move(s)));
      }
      if (lj && rj && lj->is_array() && rj->is_array()) {
        if (lj->size() + rj->size() > (1u << 22)) throw EvalError("MemoryError", "list too large");
        Json out = *lj;
        for (const auto& item : *rj) out.push_back(item);
        return Value(std::move(out));
      }
      if (sequence_kind(left) != 0 && sequence_kind(left) == sequence_kind(right)) {
        std::vector<Value> items = collect(left);
        for (Value& item : collect(right)) items.push_back(std::move(item));
        if (sequence_kind(left) == 1) return make_list(std::move(items));
        return Value::of(
            SequenceValue{std::make_shared<const std::vector<Value>>(std::move(items))});
      }
      if (lj && lj->is_string()) {
        type_error("can only concatenate str (not \"" + type_name(right) + "\") to str");
      }
      if (lj && lj->is_array()) {
        type_error("can only concatenate list (not \"" + type_name(right) + "\") to list");
      }
      break;
    case BinaryOp::mul:
      if (lj && (lj->is_string() || lj->is_array()) && b && b->is_int) return repeat(*lj, b->i);
      if (rj && (rj->is_string() || rj->is_array()) && a && a->is_int) return repeat(*rj, a->i);
      if ((lt && b && b->is_int) || (rt && a && a->is_int)) {
        const std::vector<Value> once = collect(lt ? left : right);
        const std::int64_t times = lt ? b->i : a->i;
        if (times > 0 && static_cast<std::uint64_t>(times) >
                             (1u << 22) / std::max<std::size_t>(once.size(), 1)) {
          throw EvalError("MemoryError", "result too large");
        }
        std::vector<Value> items;
        for (std::int64_t i = 0; i < times; ++i)
          items.insert(items.end(), once.begin(), once.end());
        if ((lt ? lt : rt)->is_list) return make_list(std::move(items));
        return Value::of(
            SequenceValue{std::make_shared<const std::vector<Value>>(std::move(items))});
      }
      break;
    case BinaryOp::mod:
      if (lj && lj->is_string()) {
        return Value(Json(percent_format(lj->get_ref<const std::string&>(), right)));
      }
      break;
    default:
      break;
  }
  unsupported(op, left, right);
}

// ---------------------------------------------------------------------------
// Equality and ordering

namespace {

[[gnu::noinline, gnu::cold]] bool object_equal(const Value& left, const Value& right) {
  if (auto result = object_operation(template_::Operator::eq, left, right)) {
    return truthy(*result);
  }
  const template_::Object* l = object_of(left);
  return l && l == object_of(right);
}

}  // namespace

bool python_equal(const Value& left, const Value& right) {
  if (!left.json() || !right.json()) [[unlikely]] {
    if (object_of(left) || object_of(right)) return object_equal(left, right);
  }
  const auto a = as_number(left);
  const auto b = as_number(right);
  if (a || b) {
    if (!a || !b) return false;
    if (a->is_int && b->is_int) return a->i == b->i;
    return to_double(*a) == to_double(*b);
  }
  const Json* lj = left.json();
  const Json* rj = right.json();
  if (lj && rj) {
    if (lj->type() != rj->type()) return false;
    if (lj->is_array()) {
      if (lj->size() != rj->size()) return false;
      for (std::size_t i = 0; i < lj->size(); ++i) {
        if (!python_equal(Value::ref(&(*lj)[i]), Value::ref(&(*rj)[i]))) return false;
      }
      return true;
    }
    if (lj->is_object()) {
      if (lj->size() != rj->size()) return false;
      for (const auto& [key, item] : lj->items()) {
        const auto it = rj->find(key);
        if (it == rj->end() || !python_equal(Value::ref(&item), Value::ref(&*it))) return false;
      }
      return true;
    }
    return *lj == *rj;
  }
  if (sequence_kind(left) != 0 && sequence_kind(left) == sequence_kind(right)) {
    const std::vector<Value> xs = collect(left), ys = collect(right);
    if (xs.size() != ys.size()) return false;
    for (std::size_t i = 0; i < xs.size(); ++i) {
      if (!python_equal(xs[i], ys[i])) return false;
    }
    return true;
  }
  const auto* lr = left.get_if<RangeValue>();
  const auto* rr = right.get_if<RangeValue>();
  if (lr && rr) return to_json(left) == to_json(right);
  const auto* lf = left.get_if<FunctionValue>();
  const auto* rf = right.get_if<FunctionValue>();
  if (lf && rf) return lf->builtin == rf->builtin && lf->external == rf->external;
  return false;
}

namespace {

// Negative, zero or positive as `left` sorts before, with or after `right`;
// a TypeError for types Python will not order.
// Objects answer lt and eq; the three-way result is built from them.
[[gnu::noinline, gnu::cold]] int object_compare(const Value& left, const Value& right,
                                                std::string_view op) {
  const auto lt = object_operation(template_::Operator::lt, left, right);
  if (lt) {
    if (truthy(*lt)) return -1;
    const auto gt = object_operation(template_::Operator::lt, right, left);
    if (gt && truthy(*gt)) return 1;
    return python_equal(left, right) ? 0 : 2;
  }
  type_error("'" + std::string(op) + "' not supported between instances of '" + type_name(left) +
             "' and '" + type_name(right) + "'");
}

int python_compare(const Value& left, const Value& right, std::string_view op) {
  if (!left.json() || !right.json()) [[unlikely]] {
    if (object_of(left) || object_of(right)) return object_compare(left, right, op);
  }
  const auto a = as_number(left);
  const auto b = as_number(right);
  if (a && b) {
    if (a->is_int && b->is_int) return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
    const double x = to_double(*a), y = to_double(*b);
    if (std::isnan(x) || std::isnan(y)) return 2;  // every comparison false
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const Json* lj = left.json();
  const Json* rj = right.json();
  if (lj && rj && lj->is_string() && rj->is_string()) {
    const int c = lj->get_ref<const std::string&>().compare(rj->get_ref<const std::string&>());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (sequence_kind(left) != 0 && sequence_kind(left) == sequence_kind(right)) {
    const std::vector<Value> xs = collect(left), ys = collect(right);
    for (std::size_t i = 0; i < xs.size() && i < ys.size(); ++i) {
      if (!python_equal(xs[i], ys[i])) return python_compare(xs[i], ys[i], op);
    }
    return xs.size() < ys.size() ? -1 : xs.size() > ys.size() ? 1 : 0;
  }
  type_error("'" + std::string(op) + "' not supported between instances of '" + type_name(left) +
             "' and '" + type_name(right) + "'");
}

bool contains(const Value& container, const Value& item) {
  if (const Json* j = container.json()) {
    if (j->is_string()) {
      const std::string* needle = as_string(item);
      if (!needle) {
        type_error("'in <string>' requires string as left operand, not " + type_name(item));
      }
      return j->get_ref<const std::string&>().find(*needle) != std::string::npos;
    }
    if (j->is_object()) {
      const std::string* key = as_string(item);
      return key && j->get_ref<const Json::object_t&>().count(Key{*key}) > 0;
    }
    if (j->is_array()) {
      for (const auto& element : *j) {
        if (python_equal(Value::ref(&element), item)) return true;
      }
      return false;
    }
    type_error("argument of type '" + type_name(container) + "' is not iterable");
  }
  if (const auto* r = container.get_if<RangeValue>()) {
    const auto n = as_number(item);
    if (!n) return false;
    double v = to_double(*n);
    if (v != std::floor(v)) return false;
    const auto x = static_cast<std::int64_t>(v);
    if (r->step > 0 ? (x < r->start || x >= r->stop) : (x > r->start || x <= r->stop)) {
      return false;
    }
    return (x - r->start) % r->step == 0;
  }
  if (const auto* view = container.get_if<ViewValue>()) {
    if (view->kind == ViewKind::keys) return contains(Value::ref(view->object.ptr), item);
  }
  if (container.get_if<FunctionValue>()) {
    type_error("argument of type '" + type_name(container) + "' is not iterable");
  }
  Iterator it(container);
  Value element;
  while (it.next(element)) {
    if (python_equal(element, item)) return true;
  }
  return false;
}

bool identical(const Value& left, const Value& right) {
  const Json* lj = left.json();
  const Json* rj = right.json();
  if (lj && rj) {
    if (lj == rj) return true;
    if (lj->is_null() && rj->is_null()) return true;
    if (lj->is_boolean() && rj->is_boolean()) return lj->get<bool>() == rj->get<bool>();
    // CPython shares the objects of the integers -5..256, so `x is 0` holds.
    if (lj->is_number_integer() && rj->is_number_integer() && !lj->is_boolean() &&
        !rj->is_boolean()) {
      const auto a = lj->get<std::int64_t>(), b = rj->get<std::int64_t>();
      return a == b && a >= -5 && a <= 256;
    }
    return false;
  }
  return python_equal(left, right) && left.get_if<FunctionValue>();
}

}  // namespace

bool compare(CompareOp op, const Value& left, const Value& right) {
  switch (op) {
    case CompareOp::eq:
      return python_equal(left, right);
    case CompareOp::ne:
      return !python_equal(left, right);
    case CompareOp::lt:
      return python_compare(left, right, "<") == -1;
    case CompareOp::le: {
      const int c = python_compare(left, right, "<=");
      return c == -1 || c == 0;
    }
    case CompareOp::gt:
      return python_compare(left, right, ">") == 1;
    case CompareOp::ge: {
      const int c = python_compare(left, right, ">=");
      return c == 1 || c == 0;
    }
    case CompareOp::in:
      return contains(right, left);
    case CompareOp::not_in:
      return !contains(right, left);
    case CompareOp::is:
      return identical(left, right);
    case CompareOp::is_not:
      return !identical(left, right);
  }
  return false;
}

// ---------------------------------------------------------------------------
// str() and repr()

void append_repr(std::string& out, const Value& value) {
  if (const Json* j = value.json()) {
    append_python_repr(out, *j);
    return;
  }
  if (const auto* t = value.get_if<SequenceValue>()) {
    out += t->is_list ? '[' : '(';
    for (std::size_t i = 0; i < t->items->size(); ++i) {
      if (i) out += ", ";
      append_repr(out, (*t->items)[i]);
    }
    if (t->items->size() == 1 && !t->is_list) out += ',';
    out += t->is_list ? ']' : ')';
    return;
  }
  if (const auto* r = value.get_if<RangeValue>()) {
    out += "range(" + std::to_string(r->start) + ", " + std::to_string(r->stop);
    if (r->step != 1) out += ", " + std::to_string(r->step);
    out += ')';
    return;
  }
  if (value.get_if<ViewValue>() != nullptr) {
    out += type_name(value);
    out += "([";
    bool first = true;
    Iterator it(value);
    Value item;
    while (it.next(item)) {
      if (!first) out += ", ";
      first = false;
      append_repr(out, item);
    }
    out += "])";
    return;
  }
  if (const auto* f = value.get_if<FunctionValue>()) {
    out += f->builtin ? "<built-in function " : "<function ";
    out += f->name;
    out += '>';
    return;
  }
  if (const template_::Object* o = object_of(value)) {
    out += user_code([&] { return o->repr(); });
    return;
  }
  out += "<enumerate object>";
}

void append_str(std::string& out, const Value& value) {
  if (const Json* j = value.json()) {
    append_python_str(out, *j);
  } else if (const template_::Object* o = object_of(value)) {
    out += user_code([&] { return o->str(); });
  } else {
    append_repr(out, value);
  }
}

std::string to_str(const Value& value) {
  std::string out;
  append_str(out, value);
  return out;
}

Json to_json(const Value& value) {
  if (const Json* j = value.json()) return *j;
  if (const template_::Object* o = object_of(value)) return user_code([&] { return o->to_json(); });
  if (value.get_if<FunctionValue>()) {
    type_error("Object of type " + type_name(value) + " is not JSON serializable");
  }
  if (const auto* view = value.get_if<ViewValue>()) {
    if (view->kind == ViewKind::keys || view->kind == ViewKind::values) {
      Json out = Json::array();
      for (const auto& [key, item] : view->object.ptr->items()) {
        out.push_back(view->kind == ViewKind::keys ? Json(key) : item);
      }
      return out;
    }
  }
  Json out = Json::array();
  Iterator it(value);
  Value item;
  while (it.next(item)) out.push_back(to_json(item));
  return out;
}

// ---------------------------------------------------------------------------
// Iteration

Iterator::Iterator(Value iterable) : iterable_(std::move(iterable)) {
  iterable_.share();
  json_ = iterable_.json();
  if (json_) {
    if (json_->is_object()) {
      object_it_ = json_->get_ref<const Json::object_t&>().begin();
    } else if (!json_->is_array() && !json_->is_string()) {
      type_error("'" + type_name(iterable_) + "' object is not iterable");
    }
    return;
  }
  if (const auto* view = iterable_.get_if<ViewValue>()) {
    object_it_ = view->object.ptr->get_ref<const Json::object_t&>().begin();
  } else if (const auto* r = iterable_.get_if<RangeValue>()) {
    counter_ = r->start;
  } else if (const auto* e = iterable_.get_if<EnumerateValue>()) {
    inner_ = std::make_unique<Iterator>(*e->inner);
    counter_ = e->start;
  } else if (iterable_.get_if<FunctionValue>()) {
    type_error("'" + type_name(iterable_) + "' object is not iterable");
  } else if (const template_::Object* o = object_of(iterable_)) {
    auto items = user_code([&] { return o->iterate(); });
    if (!items) type_error("'" + type_name(iterable_) + "' object is not iterable");
    auto converted = std::make_shared<std::vector<Value>>();
    converted->reserve(items->size());
    for (auto& item : *items) converted->push_back(from_public(std::move(item)));
    iterable_ = Value::of(SequenceValue{std::move(converted), true});
  }
}

bool Iterator::next(Value& out) {
  charge_render_budget();
  if (json_) {
    if (json_->is_array()) {
      if (index_ >= json_->size()) return false;
      out = iterable_.element((*json_)[index_++]);
      return true;
    }
    if (json_->is_object()) {
      if (object_it_ == json_->get_ref<const Json::object_t&>().end()) return false;
      out = Value(Json(object_it_->first));
      ++object_it_;
      return true;
    }
    const auto& s = json_->get_ref<const std::string&>();
    if (index_ >= s.size()) return false;
    const auto c = decode_utf8(s, index_);
    out = Value(Json(s.substr(index_, c.size)));
    index_ += c.size;
    return true;
  }
  if (const auto* view = iterable_.get_if<ViewValue>()) {
    const auto& object = view->object.ptr->get_ref<const Json::object_t&>();
    if (object_it_ == object.end()) return false;
    const auto& [key, item] = *object_it_++;
    switch (view->kind) {
      case ViewKind::keys:
        out = Value(Json(key));
        break;
      case ViewKind::values:
        out = Value::ref(&item, view->object.keep);
        break;
      case ViewKind::items: {
        auto pair = std::make_shared<std::vector<Value>>();
        pair->reserve(2);
        pair->push_back(Value(Json(key)));
        pair->push_back(Value::ref(&item, view->object.keep));
        out = Value::of(SequenceValue{std::move(pair)});
        break;
      }
    }
    return true;
  }
  if (const auto* r = iterable_.get_if<RangeValue>()) {
    if (r->step > 0 ? counter_ >= r->stop : counter_ <= r->stop) return false;
    out = Value(Json(counter_));
    if (__builtin_add_overflow(counter_, r->step, &counter_)) counter_ = r->stop;
    return true;
  }
  if (const auto* t = iterable_.get_if<SequenceValue>()) {
    if (index_ >= t->items->size()) return false;
    out = (*t->items)[index_++];
    return true;
  }
  if (inner_) {
    Value item;
    if (!inner_->next(item)) return false;
    auto pair = std::make_shared<std::vector<Value>>();
    pair->reserve(2);
    pair->push_back(Value(Json(counter_++)));
    pair->push_back(std::move(item));
    out = Value::of(SequenceValue{std::move(pair)});
    return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Names, attributes, items

namespace {

std::int64_t length_of(const Value& value) {
  if (const Json* j = value.json()) {
    if (j->is_string()) {
      return static_cast<std::int64_t>(utf8_length(j->get_ref<const std::string&>()));
    }
    if (j->is_array() || j->is_object()) return static_cast<std::int64_t>(j->size());
  } else if (const auto* t = value.get_if<SequenceValue>()) {
    return static_cast<std::int64_t>(t->items->size());
  } else if (const auto* r = value.get_if<RangeValue>()) {
    return range_length(*r);
  } else if (const auto* view = value.get_if<ViewValue>()) {
    return static_cast<std::int64_t>(view->object.ptr->size());
  } else if (const template_::Object* o = object_of(value)) {
    if (const auto n = user_code([&] { return o->length(); })) return *n;
  }
  type_error("object of type '" + type_name(value) + "' has no len()");
}

std::int64_t index_number(const Value& index, std::string_view what) {
  const auto n = as_number(index);
  if (!n || !n->is_int) {
    type_error(std::string(what) + " indices must be integers or slices, not " + type_name(index));
  }
  return n->i;
}

// Byte offsets of each code point of a UTF-8 string (plus the end).
std::vector<std::size_t> code_point_offsets(const std::string& s) {
  std::vector<std::size_t> offsets;
  offsets.reserve(s.size() + 1);
  for (std::size_t i = 0; i < s.size();) {
    offsets.push_back(i);
    i += decode_utf8(s, i).size;
  }
  offsets.push_back(s.size());
  return offsets;
}

}  // namespace

Value get_item(Value container, const Value& key) {
  if (const Json* j = container.json()) {
    if (j->is_object()) {
      const std::string* k = as_string(key);
      if (k) {
        const auto& object = j->get_ref<const Json::object_t&>();
        const auto it = object.find(Key{*k});
        if (it != object.end()) return std::move(container).element(it->second);
      }
      std::string repr;
      append_repr(repr, key);
      throw EvalError("KeyError", repr);
    }
    if (j->is_array()) {
      std::int64_t i = index_number(key, "list");
      const auto size = static_cast<std::int64_t>(j->size());
      if (i < 0) i += size;
      if (i < 0 || i >= size) throw EvalError("IndexError", "list index out of range");
      return std::move(container).element((*j)[static_cast<std::size_t>(i)]);
    }
    if (j->is_string()) {
      std::int64_t i = index_number(key, "string");
      const auto& s = j->get_ref<const std::string&>();
      const auto offsets = code_point_offsets(s);
      const auto size = static_cast<std::int64_t>(offsets.size() - 1);
      if (i < 0) i += size;
      if (i < 0 || i >= size) throw EvalError("IndexError", "string index out of range");
      const auto u = static_cast<std::size_t>(i);
      return Value(Json(s.substr(offsets[u], offsets[u + 1] - offsets[u])));
    }
  } else if (const auto* t = container.get_if<SequenceValue>()) {
    std::int64_t i = index_number(key, "tuple");
    const auto size = static_cast<std::int64_t>(t->items->size());
    if (i < 0) i += size;
    if (i < 0 || i >= size) throw EvalError("IndexError", "tuple index out of range");
    return (*t->items)[static_cast<std::size_t>(i)];
  } else if (const auto* r = container.get_if<RangeValue>()) {
    std::int64_t i = index_number(key, "range");
    const std::int64_t size = range_length(*r);
    if (i < 0) i += size;
    if (i < 0 || i >= size) throw EvalError("IndexError", "range object index out of range");
    return Value(Json(r->start + i * r->step));
  } else if (const template_::Object* o = object_of(container)) {
    auto item = user_code([&] { return o->item(to_public(key)); });
    if (item) return from_public(std::move(*item));
    std::string repr;
    append_repr(repr, key);
    throw EvalError("KeyError", repr);
  }
  type_error("'" + type_name(container) + "' object is not subscriptable");
}

namespace {

// Python's slice.indices(): clamps start/stop for a sequence of `length`.
std::vector<std::size_t> slice_positions(const Value* start_v, const Value* stop_v,
                                         const Value* step_v, std::int64_t length) {
  std::int64_t step = 1;
  if (step_v && !is_none(*step_v)) step = index_number(*step_v, "slice");
  if (step == 0) value_error("slice step cannot be zero");
  auto bound = [&](const Value* v, std::int64_t fallback) {
    if (!v || is_none(*v)) return fallback;
    std::int64_t i = index_number(*v, "slice");
    if (i < 0) {
      i += length;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= length) {
      i = step < 0 ? length - 1 : length;
    }
    return i;
  };
  const std::int64_t start = bound(start_v, step < 0 ? length - 1 : 0);
  const std::int64_t stop = bound(stop_v, step < 0 ? -1 : length);
  std::vector<std::size_t> positions;
  if (step > 0) {
    for (std::int64_t i = start; i < stop; i += step)
      positions.push_back(static_cast<std::size_t>(i));
  } else {
    for (std::int64_t i = start; i > stop; i += step)
      positions.push_back(static_cast<std::size_t>(i));
  }
  return positions;
}

}  // namespace

Value get_slice(const Value& container, const Value* start, const Value* stop, const Value* step) {
  for (const Value* v : {start, stop, step}) {
    if (v && !v->json()) type_error("slice indices must be integers or None");
  }
  if (const Json* j = container.json()) {
    if (j->is_string()) {
      const auto& s = j->get_ref<const std::string&>();
      const auto offsets = code_point_offsets(s);
      std::string out;
      for (std::size_t i :
           slice_positions(start, stop, step, static_cast<std::int64_t>(offsets.size() - 1))) {
        out.append(s, offsets[i], offsets[i + 1] - offsets[i]);
      }
      return Value(Json(std::move(out)));
    }
    if (j->is_array()) {
      Json out = Json::array();
      for (std::size_t i :
           slice_positions(start, stop, step, static_cast<std::int64_t>(j->size()))) {
        out.push_back((*j)[i]);
      }
      return Value(std::move(out));
    }
  }
  if (container.get_if<SequenceValue>() || container.get_if<RangeValue>()) {
    const std::vector<Value> items = collect(container);
    auto out = std::make_shared<std::vector<Value>>();
    for (std::size_t i :
         slice_positions(start, stop, step, static_cast<std::int64_t>(items.size()))) {
      out->push_back(items[i]);
    }
    if (container.get_if<RangeValue>()) return Value(to_json(Value::of(SequenceValue{out})));
    if (container.get_if<SequenceValue>()->is_list) return make_list(std::move(*out));
    return Value::of(SequenceValue{std::move(out)});
  }
  type_error("'" + type_name(container) + "' object is not subscriptable");
}

Value get_attribute(Value object, std::string_view name) {
  if (const Json* j = object.json(); j && j->is_object()) {
    const auto& map = j->get_ref<const Json::object_t&>();
    const auto it = map.find(Key{name});
    if (it != map.end()) return std::move(object).element(it->second);
  } else if (const template_::Object* o = object_of(object)) {
    auto attribute = user_code([&] { return o->attribute(name); });
    if (attribute) return from_public(std::move(*attribute));
  }
  throw EvalError("AttributeError", "'" + type_name(object) + "' object has no attribute '" +
                                        std::string(name) + "'");
}

// ---------------------------------------------------------------------------
// Calls

namespace {

struct Args {
  std::string_view function;
  std::vector<Value> positional;
  std::vector<std::pair<std::string_view, Value>> keywords;

  // The argument at `index` or named `keyword`; nullptr if absent.
  const Value* get(std::size_t index, std::string_view keyword) const {
    if (index < positional.size()) return &positional[index];
    for (const auto& [k, v] : keywords) {
      if (k == keyword) return &v;
    }
    return nullptr;
  }
  const Value& require(std::size_t index, std::string_view keyword) const {
    const Value* v = get(index, keyword);
    if (!v) {
      type_error(std::string(function) + "() missing required argument '" + std::string(keyword) +
                 "'");
    }
    return *v;
  }
  // Refuses surplus positional arguments and unknown keywords.
  void check(std::size_t max_positional, std::initializer_list<std::string_view> names) const {
    if (positional.size() > max_positional) {
      type_error(std::string(function) + "() takes at most " + std::to_string(max_positional) +
                 " positional arguments (" + std::to_string(positional.size()) + " given)");
    }
    for (const auto& [k, v] : keywords) {
      if (std::find(names.begin(), names.end(), k) == names.end()) {
        type_error(std::string(function) + "() got an unexpected keyword argument '" +
                   std::string(k) + "'");
      }
    }
  }
};

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

Value str_result(std::string s) {
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
  return str_result(escape::json_encode(to_json(v)));
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
  Json out = Json::object();
  if (const Value* v = a.get(0, "mapping")) {
    if (const Json* j = v->json(); j && j->is_object()) {
      out = *j;
    } else {
      for (const Value& pair : collect(*v)) {
        const std::vector<Value> kv = collect(pair);
        if (kv.size() != 2) {
          value_error("dictionary update sequence element has length " + std::to_string(kv.size()) +
                      "; 2 is required");
        }
        const std::string* key = as_string(kv[0]);
        if (!key) type_error("template dict keys must be strings");
        out[*key] = to_json(kv[1]);
      }
    }
  }
  for (const auto& [k, v] : a.keywords) out[std::string(k)] = to_json(v);
  return Value(std::move(out));
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
  throw EvalError("NameError", "name '" + std::string(name) + "' is not defined");
}

namespace {

template_::Arguments public_arguments(std::string_view name, const Args& args) {
  template_::Arguments out;
  out.function = name;
  out.positional.reserve(args.positional.size());
  for (const Value& v : args.positional) out.positional.push_back(to_public(v));
  out.keywords.reserve(args.keywords.size());
  for (const auto& [k, v] : args.keywords) out.keywords.emplace_back(std::string(k), to_public(v));
  return out;
}

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

}  // namespace

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
  if (!sep_v || is_none(*sep_v)) {
    std::size_t i = 0;
    while (true) {
      while (i < s.size() && is_ascii_space(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit == 0) {
        std::string_view rest(s);
        rest = rest.substr(i);
        while (!rest.empty() && is_ascii_space(rest.back())) rest.remove_suffix(1);
        out.push_back(std::string(rest));
        break;
      }
      std::size_t j = i;
      while (j < s.size() && !is_ascii_space(s[j])) ++j;
      out.push_back(s.substr(i, j - i));
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
    out.push_back(s.substr(start, hit - start));
    start = hit + sep.size();
    if (maxsplit > 0) --maxsplit;
  }
  out.push_back(s.substr(start));
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
      }
      return str_result(std::move(out));
    }
    for (const Value& item : collect(a.require(0, "iterable"))) {
      const std::string* part = as_string(item);
      if (!part) type_error("sequence item: expected str instance, " + type_name(item) + " found");
      if (!first) out += s;
      first = false;
      out += *part;
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
    if (width > (1 << 24)) throw EvalError("MemoryError", "width too large");
    const std::int64_t pad = width - length;
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

Args evaluate_args(const Expr& call, EvalContext& context) {
  Args args;
  const std::size_t total = call.children.size() - 1;
  const std::size_t keyword_count = call.keywords.size();
  args.positional.reserve(total - keyword_count);
  for (std::size_t i = 1; i <= total - keyword_count; ++i) {
    args.positional.push_back(evaluate(*call.children[i], context));
  }
  for (std::size_t k = 0; k < keyword_count; ++k) {
    args.keywords.emplace_back(call.keywords[k],
                               evaluate(*call.children[1 + total - keyword_count + k], context));
  }
  return args;
}

void comprehension(const Expr& e, std::size_t clause, EvalContext& context,
                   std::vector<Value>& out) {
  if (clause == e.clauses.size()) {
    out.push_back(evaluate(*e.children[0], context).share());
    return;
  }
  const ComprehensionClause& c = e.clauses[clause];
  Iterator it(evaluate(*c.iterable, context));
  Value item;
  while (it.next(item)) {
    assign(c.target, std::move(item), context);
    bool keep = true;
    for (const auto& condition : c.conditions) {
      if (!truthy(evaluate(*condition, context))) {
        keep = false;
        break;
      }
    }
    if (keep) comprehension(e, clause + 1, context, out);
  }
}

}  // namespace

Value call_expression_with(const Value& function, const Expr& call, EvalContext& context) {
  Args args = evaluate_args(call, context);
  return call_args(function, args, context);
}

Value call_method_expression(Value receiver, const Expr& call, EvalContext& context) {
  Args args = evaluate_args(call, context);
  return call_method(std::move(receiver), call.children[0]->name, args, context);
}

// ---------------------------------------------------------------------------
// The evaluator

namespace {

struct Resolved {
  const Json* ptr = nullptr;
  const std::shared_ptr<const void>* keep = nullptr;
};

const std::shared_ptr<const void> kNoKeep;

// Follows a name, attribute or subscript chain straight to the JSON it
// denotes, without building Values: most template expressions are such
// paths. Empty when the expression is anything else or a step fails; the
// general evaluator then computes the value or reports the error.
Resolved resolve(const Expr& e, EvalContext& context) {
  switch (e.kind) {
    case ExprKind::literal:
      return {&e.literal, &kNoKeep};
    case ExprKind::name: {
      if (context.scope) {
        if (const Value* local = context.scope->find(e.name)) {
          if (const auto* r = local->get_if<JsonRef>()) return {r->ptr, &r->keep};
          return {};
        }
      }
      if (context.values) {
        const auto& object = context.values->get_ref<const Json::object_t&>();
        const auto it = object.find(Key{e.name});
        if (it != object.end()) return {&it->second, &kNoKeep};
      }
      return {};
    }
    case ExprKind::attribute: {
      const Resolved object = resolve(*e.children[0], context);
      if (!object.ptr || !object.ptr->is_object()) return {};
      const auto& map = object.ptr->get_ref<const Json::object_t&>();
      const auto it = map.find(Key{e.name});
      if (it == map.end()) return {};
      return {&it->second, object.keep};
    }
    case ExprKind::subscript: {
      const Resolved container = resolve(*e.children[0], context);
      if (!container.ptr) return {};
      const Resolved key = resolve(*e.children[1], context);
      if (!key.ptr) return {};
      if (container.ptr->is_object() && key.ptr->is_string()) {
        const auto& map = container.ptr->get_ref<const Json::object_t&>();
        const auto it = map.find(Key{key.ptr->get_ref<const std::string&>()});
        if (it == map.end()) return {};
        return {&it->second, container.keep};
      }
      if (container.ptr->is_array() && key.ptr->is_number_integer()) {
        std::int64_t i = key.ptr->get<std::int64_t>();
        const auto size = static_cast<std::int64_t>(container.ptr->size());
        if (i < 0) i += size;
        if (i < 0 || i >= size) return {};
        return {&(*container.ptr)[static_cast<std::size_t>(i)], container.keep};
      }
      return {};
    }
    default:
      return {};
  }
}

}  // namespace

const Json* resolve_json(const Expr& expr, EvalContext& context) {
  return resolve(expr, context).ptr;
}

Value evaluate(const Expr& e, EvalContext& context) {
  switch (e.kind) {
    case ExprKind::literal:
      return Value::ref(&e.literal);
    case ExprKind::name:
      return lookup_name(e.name, context);
    case ExprKind::attribute:
      if (const Resolved r = resolve(e, context); r.ptr) return Value::ref(r.ptr, *r.keep);
      return get_attribute(evaluate(*e.children[0], context), e.name);
    case ExprKind::subscript: {
      if (const Resolved r = resolve(e, context); r.ptr) return Value::ref(r.ptr, *r.keep);
      Value container = evaluate(*e.children[0], context);
      return get_item(std::move(container), evaluate(*e.children[1], context));
    }
    case ExprKind::slice: {
      Value container = evaluate(*e.children[0], context);
      std::optional<Value> parts[3];
      for (int i = 0; i < 3; ++i) {
        if (e.children[static_cast<std::size_t>(i) + 1]) {
          parts[i] = evaluate(*e.children[static_cast<std::size_t>(i) + 1], context);
        }
      }
      return get_slice(container, parts[0] ? &*parts[0] : nullptr, parts[1] ? &*parts[1] : nullptr,
                       parts[2] ? &*parts[2] : nullptr);
    }
    case ExprKind::call: {
      const Expr& callee = *e.children[0];
      if (callee.kind == ExprKind::attribute) {
        Value receiver = evaluate(*callee.children[0], context);
        Args args = evaluate_args(e, context);
        return call_method(std::move(receiver), callee.name, args, context);
      }
      Value function = evaluate(callee, context);
      Args args = evaluate_args(e, context);
      return call_args(function, args, context);
    }
    case ExprKind::logical_not:
      return Value(Json(!truthy(evaluate(*e.children[0], context))));
    case ExprKind::negate:
    case ExprKind::plus:
    case ExprKind::invert: {
      Value operand = evaluate(*e.children[0], context);
      const auto n = as_number(operand);
      const char* symbol = e.kind == ExprKind::negate ? "-" : e.kind == ExprKind::plus ? "+" : "~";
      if (!n || (e.kind == ExprKind::invert && !n->is_int)) {
        type_error(std::string("bad operand type for unary ") + symbol + ": '" +
                   type_name(operand) + "'");
      }
      if (e.kind == ExprKind::invert) return Value(Json(~n->i));
      if (e.kind == ExprKind::plus) return make_number(*n);
      if (n->is_int) return Value(Json(checked_sub(0, n->i)));
      return Value(Json(-n->d));
    }
    case ExprKind::binary: {
      Value left = evaluate(*e.children[0], context);
      return binary_operation(e.op, left, evaluate(*e.children[1], context));
    }
    case ExprKind::compare: {
      Value left = evaluate(*e.children[0], context);
      for (std::size_t i = 0; i < e.compare_ops.size(); ++i) {
        Value right = evaluate(*e.children[i + 1], context);
        if (!compare(e.compare_ops[i], left, right)) return Value(Json(false));
        left = std::move(right);
      }
      return Value(Json(true));
    }
    case ExprKind::logical_and:
    case ExprKind::logical_or: {
      const bool stop_when = e.kind == ExprKind::logical_or;
      Value result;
      for (const auto& child : e.children) {
        result = evaluate(*child, context);
        if (truthy(result) == stop_when) return result;
      }
      return result;
    }
    case ExprKind::conditional:
      return truthy(evaluate(*e.children[1], context)) ? evaluate(*e.children[0], context)
                                                       : evaluate(*e.children[2], context);
    case ExprKind::list: {
      std::vector<Value> items;
      items.reserve(e.children.size());
      for (const auto& child : e.children) items.push_back(evaluate(*child, context));
      return make_list(std::move(items));
    }
    case ExprKind::tuple: {
      auto items = std::make_shared<std::vector<Value>>();
      items->reserve(e.children.size());
      for (const auto& child : e.children) items->push_back(evaluate(*child, context).share());
      return Value::of(SequenceValue{std::move(items)});
    }
    case ExprKind::dict: {
      Json out = Json::object();
      for (std::size_t i = 0; i + 1 < e.children.size(); i += 2) {
        Value key = evaluate(*e.children[i], context);
        const std::string* k = as_string(key);
        if (!k) type_error("template dict keys must be strings, not " + type_name(key));
        out[*k] = to_json(evaluate(*e.children[i + 1], context));
      }
      return Value(std::move(out));
    }
    case ExprKind::comprehension: {
      // Python 3 gives comprehensions their own scope.
      Scope scope{context.scope, {}};
      Scope* saved = context.scope;
      context.scope = &scope;
      std::vector<Value> out;
      try {
        comprehension(e, 0, context, out);
      } catch (...) {
        context.scope = saved;
        throw;
      }
      context.scope = saved;
      return make_list(std::move(out));
    }
    case ExprKind::fstring: {
      std::string out;
      for (const auto& child : e.children) append_str(out, evaluate(*child, context));
      return Value(Json(std::move(out)));
    }
    case ExprKind::format_value: {
      Value v = evaluate(*e.children[0], context);
      if (e.name == "r" || e.name == "a") {
        std::string repr;
        append_repr(repr, v);
        v = Value(Json(std::move(repr)));
      } else if (e.name == "s") {
        v = Value(Json(to_str(v)));
      }
      std::string spec;
      if (e.children[1]) spec = to_str(evaluate(*e.children[1], context));
      return Value(Json(format_with_spec(v, spec)));
    }
  }
  return Value();
}

void assign(const Target& target, Value value, EvalContext& context) {
  if (!target.is_tuple) {
    context.scope->set(target.name, std::move(value));
    return;
  }
  std::vector<Value> items;
  if (const auto* t = value.get_if<SequenceValue>()) {
    items = *t->items;
  } else if (const Json* j = value.json(); j && j->is_array()) {
    items.reserve(j->size());
    for (const auto& element : *j) items.push_back(value.element(element));
  } else {
    if (value.get_if<FunctionValue>() ||
        (value.json() && !value.json()->is_string() && !value.json()->is_object())) {
      type_error("cannot unpack non-iterable " + type_name(value) + " object");
    }
    items = collect(value);
  }
  const std::size_t expected = target.elements.size();
  if (items.size() < expected) {
    value_error("not enough values to unpack (expected " + std::to_string(expected) + ", got " +
                std::to_string(items.size()) + ")");
  }
  if (items.size() > expected) {
    value_error("too many values to unpack (expected " + std::to_string(expected) + ")");
  }
  for (std::size_t i = 0; i < expected; ++i)
    assign(target.elements[i], std::move(items[i]), context);
}

}  // namespace tornado::detail

namespace tornado::detail {

// ---------------------------------------------------------------------------
// Public values

Value from_public(template_::Value value) {
  if (value.object()) return Value::of(ObjectValue{value.object_ptr()});
  if (const auto* items = value.items()) {
    auto converted = std::make_shared<std::vector<Value>>();
    converted->reserve(items->size());
    for (const auto& item : *items) converted->push_back(from_public(item).share());
    return Value::of(SequenceValue{std::move(converted), true});
  }
  return Value(std::move(*const_cast<Json*>(value.json())));
}

Value from_public_ref(const template_::Value& value) {
  if (value.object()) return Value::of(ObjectValue{value.object_ptr()});
  if (const auto* items = value.items()) {
    auto converted = std::make_shared<std::vector<Value>>();
    converted->reserve(items->size());
    for (const auto& item : *items) converted->push_back(from_public_ref(item));
    return Value::of(SequenceValue{std::move(converted), true});
  }
  return Value::ref(value.json());
}

template_::Value to_public(const Value& value) {
  if (const Json* j = value.json()) return template_::Value(*j);
  if (const auto* o = value.get_if<ObjectValue>()) return template_::Value(o->ptr);
  if (const auto* t = value.get_if<SequenceValue>()) {
    std::vector<template_::Value> items;
    items.reserve(t->items->size());
    bool plain = true;
    for (const auto& item : *t->items) {
      items.push_back(to_public(item));
      if (!items.back().json()) plain = false;
    }
    if (plain) return template_::Value(to_json(value));
    return template_::Value::list(std::move(items));
  }
  return template_::Value(to_json(value));
}

}  // namespace tornado::detail
