// Python's operators over template values: the numeric tower (bool < int <
// float) with checked 64-bit integers, floor division and modulo, sequence
// concatenation and repetition, and equality, ordering and `in`.
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

const std::string* as_string(const Value& value) {
  const Json* j = value.json();
  return j && j->is_string() ? &j->get_ref<const std::string&>() : nullptr;
}

[[noreturn]] void overflow() {
  throw EvalError("OverflowError", "integer result too large");
}

namespace {

std::int64_t checked_add(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (__builtin_add_overflow(a, b, &r)) overflow();
  return r;
}

}  // namespace

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

namespace {

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

}  // namespace

// 1 for lists (JSON arrays and list sequences), 2 for tuples, 0 otherwise:
// Python compares and concatenates only sequences of the same kind.
int sequence_kind(const Value& value) {
  if (const Json* j = value.json()) return j->is_array() ? 1 : 0;
  if (const auto* seq = value.get_if<SequenceValue>()) return seq->is_list ? 1 : 2;
  return 0;
}

std::vector<Value> collect(const Value& iterable) {
  std::vector<Value> items;
  if (const auto* r = iterable.get_if<RangeValue>()) {
    check_value_size(size_mul(static_cast<std::size_t>(range_length(*r)), kItemOverhead + 8));
  }
  Iterator it(iterable);
  Value item;
  while (it.next(item)) items.push_back(std::move(item));
  return items;
}

namespace {

Json repeat(const Json& sequence, std::int64_t times) {
  // Refused before building: `s * 4000 * 4000` must not allocate first.
  if (sequence.is_string()) {
    std::string out;
    const auto& s = sequence.get_ref<const std::string&>();
    if (times <= 0 || s.empty()) return out;
    check_value_size(size_mul(s.size(), static_cast<std::uint64_t>(times)));
    out.reserve(s.size() * static_cast<std::size_t>(times));
    for (std::int64_t i = 0; i < times; ++i) out += s;
    return out;
  }
  Json out = Json::array();
  if (times <= 0 || sequence.empty()) return out;
  check_value_size(size_mul(value_size(sequence), static_cast<std::uint64_t>(times)));
  for (std::int64_t i = 0; i < times; ++i) {
    for (const auto& item : sequence) out.push_back(item);
  }
  return out;
}

}  // namespace

Value make_list(std::vector<Value> items) {
  check_value_size(items_size(items));
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
  if (op == BinaryOp::mod && as_string(left) && as_dict(right)) {
    // `"%(k)s" % d` reads a dict as the JSON object it would be given.
    return binary_operation(op, left, Value(to_json(right)));
  }
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
        check_value_size(size_add(lj->get_ref<const std::string&>().size(),
                                  rj->get_ref<const std::string&>().size()));
        std::string s = lj->get_ref<const std::string&>();
        s += rj->get_ref<const std::string&>();
        return Value(Json(std::move(s)));
      }
      if (lj && rj && lj->is_array() && rj->is_array()) {
        check_value_size(size_add(value_size(*lj), value_size(*rj)));
        Json out = *lj;
        for (const auto& item : *rj) out.push_back(item);
        return Value(std::move(out));
      }
      if (sequence_kind(left) != 0 && sequence_kind(left) == sequence_kind(right)) {
        std::vector<Value> items = collect(left);
        for (Value& item : collect(right)) items.push_back(std::move(item));
        if (sequence_kind(left) == 1) return make_list(std::move(items));
        check_value_size(items_size(items));
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
        std::vector<Value> items;
        if (times > 0 && !once.empty()) {
          check_value_size(size_mul(items_size(once), static_cast<std::uint64_t>(times)));
        }
        for (std::int64_t i = 0; i < times; ++i)
          items.insert(items.end(), once.begin(), once.end());
        if ((lt ? lt : rt)->is_list) return make_list(std::move(items));
        return Value::of(
            SequenceValue{std::make_shared<const std::vector<Value>>(std::move(items))});
      }
      break;
    case BinaryOp::mod:
      if (lj && lj->is_string()) {
        std::string out = percent_format(lj->get_ref<const std::string&>(), right);
        check_value_size(out.size());
        return Value(Json(std::move(out)));
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
  const NestingGuard guard;
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
  const NestingGuard guard;
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

}  // namespace tornado::detail
