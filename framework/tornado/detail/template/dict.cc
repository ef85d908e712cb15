// Python's dict for templates (see dict.h).
#include "tornado/detail/template/dict.h"

#include <algorithm>
#include <memory>

namespace tornado::detail {

namespace {

// Past this many entries a dict gets a hash index; below, a scan is quicker.
constexpr std::size_t kIndexedSize = 16;

// How deep `value` nests dicts and lists of objects (plain JSON counts 0).
int nesting_of(const template_::Value& value) {
  if (const auto* d = dynamic_cast<const OrderedDict*>(value.object())) return d->depth();
  int depth = 0;
  if (const auto* items = value.items()) {
    const NestingGuard guard;
    for (const auto& item : *items) depth = std::max(depth, 1 + nesting_of(item));
  }
  return depth;
}

bool is_plain(const template_::Value& value) {
  return value.json() != nullptr;
}

bool equal(const template_::Value& a, const template_::Value& b) {
  return compare(CompareOp::eq, from_public_ref(a), from_public_ref(b));
}

// `other` as a dict's entries view: an OrderedDict's, or a JSON object's.
std::optional<bool> dict_equal(const OrderedDict& self, const template_::Value& other) {
  if (const auto* d = dynamic_cast<const OrderedDict*>(other.object())) {
    if (d->entries().size() != self.entries().size()) return false;
    for (const auto& [key, value] : self.entries()) {
      const template_::Value* theirs = d->find(key);
      if (!theirs || !equal(value, *theirs)) return false;
    }
    return true;
  }
  const nlohmann::json* j = other.json();
  if (!j || !j->is_object()) return std::nullopt;
  if (j->size() != self.entries().size()) return false;
  for (const auto& [key, value] : self.entries()) {
    const auto it = j->find(key);
    if (it == j->end() || !equal(value, template_::Value(*it))) return false;
  }
  return true;
}

}  // namespace

OrderedDict::OrderedDict(Entries entries) : entries_(std::move(entries)) {
  // Bounded depth keeps every walk over a dict (and its destruction) shallow:
  // a dict built in a loop around itself stops at kMaxValueNesting.
  for (const auto& entry : entries_) depth_ = std::max(depth_, 1 + nesting_of(entry.second));
  if (depth_ > kMaxValueNesting) nesting_too_deep();
  for (const auto& [key, value] : entries_) {
    weight_ =
        size_add(weight_, size_add(kItemOverhead + key.size(), value_size(from_public_ref(value))));
  }
  if (entries_.size() > kIndexedSize) {
    index_.reserve(entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].first, i);
  }
}

const template_::Value* OrderedDict::find(std::string_view key) const {
  if (!index_.empty()) {
    const auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries_[it->second].second;
  }
  for (const auto& [k, v] : entries_) {
    if (k == key) return &v;
  }
  return nullptr;
}

// `d.key` reads an entry, as it does for the JSON objects a template is given
// (Tornado's ObjectDict), and as dict literals did when they were JSON.
std::optional<template_::Value> OrderedDict::attribute(std::string_view name) const {
  if (const template_::Value* v = find(name)) return *v;
  return std::nullopt;
}

std::optional<template_::Value> OrderedDict::call_method(std::string_view name,
                                                         const template_::Arguments& args) const {
  auto no_arguments = [&] {
    if (!args.positional.empty() || !args.keywords.empty()) {
      throw template_::TemplateError(
          {}, 0,
          std::string(name) + "() takes no arguments (" +
              std::to_string(args.positional.size() + args.keywords.size()) + " given)",
          {}, "TypeError");
    }
  };
  if (name == "keys" || name == "values" || name == "items") {
    no_arguments();
    std::vector<template_::Value> out;
    out.reserve(entries_.size());
    for (const auto& [key, value] : entries_) {
      if (name == "keys") {
        out.emplace_back(key);
      } else if (name == "values") {
        out.push_back(value);
      } else {
        out.push_back(template_::Value::list({template_::Value(key), value}));
      }
    }
    return template_::Value::list(std::move(out));
  }
  if (name == "get") {
    const template_::Value& key = args.at(0, "key");
    const nlohmann::json* k = key.json();
    if (k && k->is_string()) {
      if (const template_::Value* v = find(k->get_ref<const std::string&>())) return *v;
    }
    if (const template_::Value* fallback = args.get(1, "default")) return *fallback;
    return template_::Value();
  }
  return std::nullopt;
}

std::optional<template_::Value> OrderedDict::item(const template_::Value& key) const {
  const nlohmann::json* k = key.json();
  if (!k || !k->is_string()) return std::nullopt;
  if (const template_::Value* v = find(k->get_ref<const std::string&>())) return *v;
  return std::nullopt;
}

std::optional<std::vector<template_::Value>> OrderedDict::iterate() const {
  std::vector<template_::Value> keys;
  keys.reserve(entries_.size());
  for (const auto& entry : entries_) keys.emplace_back(entry.first);
  return keys;
}

std::string OrderedDict::repr() const {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : entries_) {
    if (!first) out += ", ";
    first = false;
    append_repr(out, Value(Json(key)));
    out += ": ";
    append_repr(out, from_public_ref(value));
  }
  out += '}';
  return out;
}

std::optional<template_::Value> OrderedDict::operate(template_::Operator op,
                                                     const template_::Value& other) const {
  if (op != template_::Operator::eq) return std::nullopt;
  if (const auto result = dict_equal(*this, other)) return template_::Value(*result);
  return std::nullopt;
}

std::optional<template_::Value> OrderedDict::operate_reflected(
    template_::Operator op, const template_::Value& other) const {
  return operate(op, other);
}

nlohmann::json OrderedDict::to_json() const {
  const NestingGuard guard;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : entries_) out[key] = value.to_json();
  return out;
}

Value make_dict(std::vector<std::pair<std::string, Value>> entries) {
  OrderedDict::Entries unique;
  unique.reserve(entries.size());
  std::unordered_map<std::string_view, std::size_t> seen;
  for (auto& [key, value] : entries) {
    // Views into `entries`, which outlives `seen`.
    const auto [it, inserted] = seen.emplace(key, unique.size());
    if (inserted) {
      unique.emplace_back(key, to_public(value));
    } else {
      unique[it->second].second = to_public(value);
    }
  }
  auto dict = std::make_shared<const OrderedDict>(std::move(unique));
  check_value_size(dict->weight());
  return Value::of(ObjectValue{std::move(dict)});
}

const OrderedDict* as_dict(const Value& value) {
  const auto* o = value.get_if<ObjectValue>();
  return o ? dynamic_cast<const OrderedDict*>(o->ptr.get()) : nullptr;
}

nlohmann::ordered_json to_ordered_json(const Value& value) {
  const NestingGuard guard;
  if (const Json* j = value.json()) return nlohmann::ordered_json(*j);
  if (const OrderedDict* d = as_dict(value)) {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& [key, item] : d->entries()) {
      out[key] = to_ordered_json(from_public_ref(item));
    }
    return out;
  }
  if (value.get_if<SequenceValue>()) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    Iterator it(value);
    Value item;
    while (it.next(item)) out.push_back(to_ordered_json(item));
    return out;
  }
  return nlohmann::ordered_json(to_json(value));
}

template_::Value to_function_argument(const Value& value) {
  const NestingGuard guard;
  if (as_dict(value)) return template_::Value(to_json(value));
  if (const auto* seq = value.get_if<SequenceValue>()) {
    std::vector<template_::Value> items;
    items.reserve(seq->items->size());
    bool plain = true;
    for (const Value& item : *seq->items) {
      items.push_back(to_function_argument(item));
      plain = plain && is_plain(items.back());
    }
    if (plain) {
      nlohmann::json out = nlohmann::json::array();
      for (auto& item : items) out.push_back(std::move(*const_cast<nlohmann::json*>(item.json())));
      return template_::Value(std::move(out));
    }
    return template_::Value::list(std::move(items));
  }
  return to_public(value);
}

}  // namespace tornado::detail

namespace tornado::template_ {

Value::Value(const nlohmann::ordered_json& json) {
  if (json.is_object()) {
    detail::OrderedDict::Entries entries;
    entries.reserve(json.size());
    for (const auto& [key, item] : json.items()) entries.emplace_back(key, Value(item));
    object_ = std::make_shared<const detail::OrderedDict>(std::move(entries));
    return;
  }
  if (json.is_array()) {
    std::vector<Value> items;
    items.reserve(json.size());
    bool plain = true;
    for (const auto& item : json) {
      items.emplace_back(item);
      plain = plain && items.back().json();
    }
    if (!plain) {
      list_ = std::make_shared<const std::vector<Value>>(std::move(items));
      return;
    }
  }
  json_ = nlohmann::json(json);
}

}  // namespace tornado::template_
