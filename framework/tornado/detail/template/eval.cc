// The evaluator of template expressions: walks the syntax tree, following
// name/attribute/subscript paths straight to the JSON they denote, and
// assigns loop and `{% set %}` targets. Python's semantics live in
// values.cc, operators.cc and builtins.cc.
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

namespace {

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

// Runs `emit` once per item the clauses produce, in Python's order.
template <typename Emit>
void each_comprehension_item(const Expr& e, std::size_t clause, EvalContext& context, Emit& emit) {
  if (clause == e.clauses.size()) {
    emit();
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
    if (keep) each_comprehension_item(e, clause + 1, context, emit);
  }
}

// Python 3 gives comprehensions their own scope. `size` adds up the items'
// weight as they come: a comprehension over a long range is stopped at the
// limit, not when it is done.
template <typename Emit>
void in_comprehension_scope(const Expr& e, EvalContext& context, Emit emit) {
  Scope scope{context.scope, {}};
  Scope* saved = context.scope;
  context.scope = &scope;
  try {
    each_comprehension_item(e, 0, context, emit);
  } catch (...) {
    context.scope = saved;
    throw;
  }
  context.scope = saved;
}

Value list_comprehension(const Expr& e, EvalContext& context) {
  std::vector<Value> out;
  std::size_t size = 0;
  in_comprehension_scope(e, context, [&] {
    out.push_back(evaluate(*e.children[0], context).share());
    size = size_add(size, size_add(kItemOverhead, value_size(out.back())));
    check_value_size(size);
  });
  return make_list(std::move(out));
}

// A repeated key keeps its first place and its last value, as in Python.
Value dict_comprehension(const Expr& e, EvalContext& context) {
  std::vector<std::pair<std::string, Value>> entries;
  std::size_t size = 0;
  in_comprehension_scope(e, context, [&] {
    Value key = evaluate(*e.children[0], context);
    const std::string* k = as_string(key);
    if (!k) type_error("template dict keys must be strings, not " + type_name(key));
    Value value = evaluate(*e.children[1], context).share();
    size = size_add(size, size_add(kItemOverhead + k->size(), value_size(value)));
    check_value_size(size);
    entries.emplace_back(*k, std::move(value));
  });
  return make_dict(std::move(entries));
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
      std::vector<std::pair<std::string, Value>> entries;
      entries.reserve(e.children.size() / 2);
      std::size_t size = 0;
      for (std::size_t i = 0; i + 1 < e.children.size(); i += 2) {
        Value key = evaluate(*e.children[i], context);
        const std::string* k = as_string(key);
        if (!k) type_error("template dict keys must be strings, not " + type_name(key));
        Value value = evaluate(*e.children[i + 1], context);
        size = size_add(size, size_add(kItemOverhead + k->size(), value_size(value)));
        check_value_size(size);
        entries.emplace_back(*k, std::move(value));
      }
      return make_dict(std::move(entries));
    }
    case ExprKind::comprehension:
      return list_comprehension(e, context);
    case ExprKind::dict_comprehension:
      return dict_comprehension(e, context);
    case ExprKind::fstring: {
      std::string out;
      for (const auto& child : e.children) {
        append_str(out, evaluate(*child, context));
        check_value_size(out.size());
      }
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
      std::string out = format_with_spec(v, spec);
      check_value_size(out.size());
      return Value(Json(std::move(out)));
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
