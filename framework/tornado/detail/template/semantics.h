// Python's semantics shared by the four parts of the template expression
// evaluator: values.cc (the value model: budget and size limit,
// types, truthiness, str()/repr(), iteration, items and attributes),
// operators.cc (arithmetic, equality and ordering),
// builtins.cc (calls, the built-in functions, methods of str, dict
// and list) and eval.cc (the tree walk). Internal to them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tornado/detail/template/expr.h"
#include "tornado/detail/template/format.h"

namespace tornado::detail {

// 128-bit arithmetic for exact range lengths and digits; GCC's -Wpedantic
// accepts the type only behind __extension__.
__extension__ using Int128 = __int128;
__extension__ using Uint128 = unsigned __int128;

[[noreturn]] inline void type_error(const std::string& message) {
  throw EvalError("TypeError", message);
}

inline bool is_none(const Value& value) {
  return value.json() && value.json()->is_null();
}
[[noreturn]] inline void value_error(const std::string& message) {
  throw EvalError("ValueError", message);
}

inline const template_::Object* object_of(const Value& value) {
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

// values.cc
std::int64_t range_length(const RangeValue& r);
/// What a list of `items` weighs against max_value_size.
std::size_t items_size(const std::vector<Value>& items);
double to_double(const Number& n);
Value make_number(const Number& n);
/// Python's len(); a TypeError for values without one.
std::int64_t length_of(const Value& value);
Value get_slice(const Value& container, const Value* start, const Value* stop, const Value* step);

// operators.cc
const std::string* as_string(const Value& value);
[[noreturn]] void overflow();
std::int64_t checked_sub(std::int64_t a, std::int64_t b);
std::int64_t checked_mul(std::int64_t a, std::int64_t b);
std::int64_t floor_div(std::int64_t a, std::int64_t b);
/// 1 for lists, 2 for tuples, 0 otherwise (see operators.cc).
int sequence_kind(const Value& value);
/// The items of an iterable, materialised (a long range is a MemoryError).
std::vector<Value> collect(const Value& iterable);
bool python_equal(const Value& left, const Value& right);

// builtins.cc
/// The arguments of a call as the evaluator passes them to built-ins.
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
/// Calls `function` (a built-in, a registered function or a callable object).
Value call_args(const Value& function, Args& args, EvalContext& context);
/// `receiver.name(args)`: methods of str, dict, list and objects.
Value call_method(Value receiver, std::string_view name, Args& args, EvalContext& context);

}  // namespace tornado::detail
