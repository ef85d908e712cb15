// The value model of template expressions: the work budget and the size
// limit, how values are shared, Python's types and truthiness, str() and
// repr(), iteration, items, slices and attributes, and the conversion to and
// from the public template_::Value.
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
// Size limit

thread_local constinit std::size_t max_value_size = template_::kDefaultMaxValueSize;

std::size_t value_size(const Json& value) {
  // Walked with an explicit stack of iterators: templates can nest lists
  // deeper than recursion allows, and the stack stays as small as the depth.
  struct Frame {
    Json::const_iterator it, end;
    bool object;
  };
  std::vector<Frame> stack;
  std::size_t total = 0;
  auto visit = [&](const Json& j) {
    if (j.is_string()) {
      total = size_add(total, j.get_ref<const std::string&>().size());
    } else if (j.is_array() || j.is_object()) {
      stack.push_back({j.cbegin(), j.cend(), j.is_object()});
    } else {
      total = size_add(total, 8);
    }
  };
  visit(value);
  while (!stack.empty()) {
    Frame& frame = stack.back();
    if (frame.it == frame.end) {
      stack.pop_back();
      continue;
    }
    const Json& item = *frame.it;
    total = size_add(total, kItemOverhead + (frame.object ? frame.it.key().size() : 0));
    ++frame.it;
    visit(item);  // may grow the stack: `frame` is not used after this
  }
  return total;
}

std::size_t items_size(const std::vector<Value>& items) {
  std::size_t total = 0;
  for (const Value& item : items)
    total = size_add(total, size_add(kItemOverhead, value_size(item)));
  return total;
}

std::size_t value_size(const Value& value) {
  const NestingGuard guard;
  if (const Json* j = value.json()) return value_size(*j);
  if (const auto* seq = value.get_if<SequenceValue>()) return items_size(*seq->items);
  if (const OrderedDict* d = as_dict(value)) return d->weight();
  return 8;
}

thread_local constinit int value_nesting = 0;

void nesting_too_deep() {
  throw EvalError("RecursionError", "maximum recursion depth exceeded (values nested deeper than " +
                                        std::to_string(kMaxValueNesting) + ")");
}

void value_too_large(std::size_t bytes) {
  throw EvalError("MemoryError", "a value of " + std::to_string(bytes) +
                                     " bytes exceeds max_value_size (" +
                                     std::to_string(max_value_size) + " bytes)");
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

// str() and repr()

void append_repr(std::string& out, const Value& value) {
  const NestingGuard guard;
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
  const NestingGuard guard;
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

namespace {

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
// Public values

Value from_public(template_::Value value) {
  const NestingGuard guard;
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
  const NestingGuard guard;
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
  const NestingGuard guard;
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
