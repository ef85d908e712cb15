// The expression language of tornado::template_: a safe subset of Python's
// expressions evaluated over nlohmann::json values. Parsing happens once when
// a template is compiled; evaluation walks the tree without copying the JSON
// the template was given (values are referenced, not cloned).
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "tornado/template.h"

namespace tornado::detail {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------
// Syntax tree

enum class ExprKind : std::uint8_t {
  literal,             // literal
  name,                // name
  attribute,           // children[0].name
  subscript,           // children[0][children[1]]
  slice,               // children[0][c1:c2:c3], missing parts are null
  call,                // children[0](children[1..], keywords for the trailing ones)
  logical_not,         // not children[0]
  negate,              // -children[0]
  plus,                // +children[0]
  invert,              // ~children[0]
  binary,              // children[0] op children[1]
  compare,             // children[0] compare_ops[i] children[i+1] ...
  logical_and,         // children[0] and children[1] and ...
  logical_or,          // children[0] or children[1] or ...
  conditional,         // children[0] if children[1] else children[2]
  list,                // [children...]
  tuple,               // (children...)
  dict,                // {children[0]: children[1], ...}
  comprehension,       // [children[0] for ... in ... if ...] (clauses)
  dict_comprehension,  // {children[0]: children[1] for ... in ... if ...} (clauses)
  fstring,             // concatenation of children (literals and format_value)
  format_value,        // format(children[0] converted by name, children[1] spec)
};

enum class BinaryOp : std::uint8_t { add, sub, mul, div, floordiv, mod, pow };
enum class CompareOp : std::uint8_t { eq, ne, lt, le, gt, ge, in, not_in, is, is_not };

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

/// An assignment target: a name, or a (possibly nested) tuple of targets.
struct Target {
  std::string name;
  std::vector<Target> elements;
  bool is_tuple = false;
};

struct ComprehensionClause {
  Target target;
  ExprPtr iterable;
  std::vector<ExprPtr> conditions;
};

struct Expr {
  ExprKind kind = ExprKind::literal;
  BinaryOp op = BinaryOp::add;
  Json literal;
  std::string name;
  std::vector<ExprPtr> children;
  std::vector<CompareOp> compare_ops;
  std::vector<std::string> keywords;  // call: names of the last keywords.size() arguments
  std::vector<ComprehensionClause> clauses;
};

/// Thrown by the parsers below; the template compiler adds file and line.
class SyntaxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses a whole expression; `allow_tuple` accepts `a, b` as a tuple.
ExprPtr parse_expression(std::string_view text, bool allow_tuple = true);

/// `{% for TARGET in ITERABLE %}`: the text after "for".
struct ForHeader {
  Target target;
  ExprPtr iterable;
};
ForHeader parse_for_header(std::string_view text);

/// `{% set TARGET = VALUE %}` or `{% set NAME += VALUE %}`: the text after "set".
struct Assignment {
  Target target;
  std::optional<BinaryOp> augmented;
  ExprPtr value;
};
Assignment parse_assignment(std::string_view text);

/// `{% except [TYPES] [as NAME] %}`: the text after "except".
struct ExceptHeader {
  std::vector<std::string> types;  // empty: catches everything
  std::string bind;
};
ExceptHeader parse_except_header(std::string_view text);

/// True if `text` is a Python identifier.
bool is_identifier(std::string_view text);

/// A key for looking up JSON object members: compares inline, byte by byte,
/// where std::string's comparison calls memcmp. Member lookups are most of a
/// template's work, and keys are short.
struct Key {
  std::string_view text;
};
inline int compare_keys(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size() < b.size() ? a.size() : b.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != b[i])
      return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]) ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : a.size() > b.size() ? 1 : 0;
}
inline bool operator<(const std::string& a, const Key& b) noexcept {
  return compare_keys(a, b.text) < 0;
}
inline bool operator<(const Key& a, const std::string& b) noexcept {
  return compare_keys(a.text, b) < 0;
}
inline bool same_name(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && compare_keys(a, b) == 0;
}

// ---------------------------------------------------------------------------
// Values

class Value;
struct EvalContext;

/// A JSON value owned elsewhere: in the values given to generate(), in a
/// literal of the syntax tree, or in `keep` (shared, immutable).
struct JsonRef {
  const Json* ptr;
  std::shared_ptr<const void> keep;
};
struct Builtin;
struct FunctionValue {
  const Builtin* builtin = nullptr;
  const template_::Function* external = nullptr;
  std::string_view name;
};
struct RangeValue {
  std::int64_t start, stop, step;
};
enum class ViewKind : std::uint8_t { keys, values, items };
struct ViewValue {
  JsonRef object;
  ViewKind kind;
};
/// A tuple, or a list holding values JSON cannot (tuples, ranges...).
struct SequenceValue {
  std::shared_ptr<const std::vector<Value>> items;
  bool is_list = false;
};
struct EnumerateValue {
  std::shared_ptr<const Value> inner;
  std::int64_t start;
};
/// A C++ object (template_::Object): handler, request, datetime, bound types.
struct ObjectValue {
  std::shared_ptr<const template_::Object> ptr;
};

/// A value during evaluation: JSON (owned or referenced), a function, or one
/// of Python's lazy objects (range, dict views, enumerate, tuple).
class Value {
 public:
  Value() : v_(Json()) {}
  Value(Json owned) : v_(std::move(owned)) {}  // NOLINT: implicit on purpose
  static Value ref(const Json* ptr, std::shared_ptr<const void> keep = {}) {
    Value v;
    v.v_ = JsonRef{ptr, std::move(keep)};
    return v;
  }
  template <class T>
  static Value of(T alternative) {
    Value v;
    v.v_ = std::move(alternative);
    return v;
  }

  /// The JSON value, or nullptr for functions and lazy objects.
  const Json* json() const {
    if (const auto* owned = std::get_if<Json>(&v_)) return owned;
    if (const auto* r = std::get_if<JsonRef>(&v_)) return r->ptr;
    return nullptr;
  }
  template <class T>
  const T* get_if() const {
    return std::get_if<T>(&v_);
  }
  /// Moves an owned JSON value to shared storage so copies are cheap.
  Value& share();
  /// A reference to a part of this value's JSON that stays valid with it.
  Value element(const Json& part) const&;
  Value element(const Json& part) &&;

 private:
  std::variant<Json, JsonRef, FunctionValue, RangeValue, ViewValue, SequenceValue, EnumerateValue,
               ObjectValue>
      v_;
};

/// An evaluation failure; `type` is the Python exception class it stands for
/// (NameError, KeyError, TypeError...), so `{% except KeyError %}` works.
class EvalError : public std::runtime_error {
 public:
  EvalError(std::string type, const std::string& message)
      : std::runtime_error(message), type_(std::move(type)) {}
  const std::string& type() const noexcept { return type_; }

 private:
  std::string type_;
};

/// Local variables of a template (or of an apply block / comprehension,
/// which see their parent's variables as Python closures do).
struct Scope {
  Scope* parent = nullptr;
  std::vector<std::pair<std::string, Value>> variables;

  const Value* find(std::string_view name) const;
  void set(std::string_view name, Value value);
};

struct EvalContext {
  const Json* values = nullptr;  // an object, or nullptr
  // Names bound to objects and lists, consulted after `values`.
  const std::vector<std::pair<std::string, template_::Value>>* objects = nullptr;
  const template_::Functions* functions = nullptr;
  const template_::Functions* loader_functions = nullptr;
  Scope* scope = nullptr;
};

Value evaluate(const Expr& expr, EvalContext& context);
bool truthy(const Value& value);
bool truthy(const Json& value);
/// The JSON a name / attribute / subscript path denotes, or nullptr when the
/// expression is not such a path or a step fails (evaluate() then reports).
/// The pointer is valid until the template's variables change.
const Json* resolve_json(const Expr& expr, EvalContext& context);
/// Binds `value` to `target` in the current scope (unpacking tuples).
void assign(const Target& target, Value value, EvalContext& context);
/// Python's `a op b`, used by `{% set x += y %}`.
Value binary_operation(BinaryOp op, const Value& left, const Value& right);
/// Appends Python's str(value).
void append_str(std::string& out, const Value& value);
/// Looks a name up as the template would (locals, values, functions, built-ins).
Value lookup_name(std::string_view name, EvalContext& context);
/// Python's datetime module, which Tornado puts in every template's namespace.
const template_::Value& datetime_module();
/// Calls a function value with positional arguments.
Value call_value(const Value& function, std::vector<Value> args, EvalContext& context);
/// Converts to JSON (tuples and ranges become arrays).
Json to_json(const Value& value);
/// A public value as the evaluator sees it; `from_public_ref` refers to the
/// JSON of `value`, which must outlive the result.
Value from_public(template_::Value value);
Value from_public_ref(const template_::Value& value);
/// An evaluator value for functions and objects: JSON copied, objects shared.
template_::Value to_public(const Value& value);

/// Bounds the work of renders on this thread: each rendered node and loop
/// iteration costs one step, and an exhausted budget fails the render with a
/// RuntimeError. 0 (the default) means unlimited. The fuzz target sets it so
/// that `{% while True %}` terminates.
void set_render_budget(std::uint64_t steps) noexcept;
extern thread_local constinit std::uint64_t render_budget_limit;
void spend_render_budget();
/// Spends one step of the budget; throws EvalError when none is left.
inline void charge_render_budget() {
  if (render_budget_limit != 0) spend_render_budget();
}

/// The max_value_size of the render running on this thread (see
/// template_::TemplateOptions): generate() sets it for the time of a render
/// with a MaxValueSizeScope, which restores the previous limit afterwards, so
/// that a template rendered from within another (a UI module) keeps its own.
extern thread_local constinit std::size_t max_value_size;
class MaxValueSizeScope {
 public:
  explicit MaxValueSizeScope(std::size_t limit) noexcept : saved_(max_value_size) {
    max_value_size = limit;
  }
  ~MaxValueSizeScope() { max_value_size = saved_; }
  MaxValueSizeScope(const MaxValueSizeScope&) = delete;
  MaxValueSizeScope& operator=(const MaxValueSizeScope&) = delete;

 private:
  std::size_t saved_;
};
/// What a value weighs against max_value_size: a string its bytes, a number
/// 8, each list item or dict entry 16 more than its contents (and its key).
/// Lazy values (ranges, views) weigh 8. Saturates instead of overflowing.
std::size_t value_size(const Json& value);
std::size_t value_size(const Value& value);
/// Bytes a list item or dict entry adds beside its contents.
inline constexpr std::size_t kItemOverhead = 16;
/// Throws EvalError (MemoryError) for a value of `bytes`.
[[noreturn]] void value_too_large(std::size_t bytes);
/// Refuses a value of `bytes` when it is past the limit.
inline void check_value_size(std::size_t bytes) {
  if (bytes > max_value_size) value_too_large(bytes);
}
/// How deep values may nest where str(), repr(), ==, JSON conversion and
/// sizing walk them, as Python's recursion limit: deeper is a RecursionError
/// rather than a stack overflow. Each of those walks holds a NestingGuard.
inline constexpr int kMaxValueNesting = 1000;
extern thread_local constinit int value_nesting;
[[noreturn]] void nesting_too_deep();
class NestingGuard {
 public:
  NestingGuard() {
    if (++value_nesting > kMaxValueNesting) {
      --value_nesting;
      nesting_too_deep();
    }
  }
  ~NestingGuard() { --value_nesting; }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;
};

/// a + b and a * b for sizes, saturating at SIZE_MAX.
inline std::size_t size_add(std::size_t a, std::size_t b) noexcept {
  return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}
inline std::size_t size_mul(std::size_t a, std::size_t b) noexcept {
  return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

// Helpers shared by the evaluator, the formatter and the renderer.
std::string type_name(const Value& value);
std::string to_str(const Value& value);
void append_repr(std::string& out, const Value& value);
bool compare(CompareOp op, const Value& left, const Value& right);
/// A list of `items`: a JSON array when every item is JSON, else a SequenceValue.
Value make_list(std::vector<Value> items);
/// True if `function` is the built-in xhtml_escape (the renderer inlines it).
bool is_xhtml_escape(const Value& function);
/// Evaluates the arguments of `call` (a call expression) and calls `function`.
Value call_expression_with(const Value& function, const Expr& call, EvalContext& context);
/// Evaluates the arguments of `call` (whose callee is a name) and calls the
/// method of that name on `receiver`.
Value call_method_expression(Value receiver, const Expr& call, EvalContext& context);

/// Iterates as Python's `for` does: list items, dict keys, string characters,
/// ranges, views, enumerate and tuples.
class Iterator {
 public:
  explicit Iterator(Value iterable);
  bool next(Value& out);

 private:
  Value iterable_;
  std::size_t index_ = 0;
  std::int64_t counter_ = 0;
  const Json* json_ = nullptr;
  Json::object_t::const_iterator object_it_;
  std::unique_ptr<Iterator> inner_;
};

}  // namespace tornado::detail
