// Python's dict for templates: the dicts a template builds (`{"b": 1, "a": 2}`,
// dict(...)) and the nlohmann::ordered_json objects an application gives it
// keep their insertion order, as Python's do, where nlohmann::json sorts its
// keys. A dict is a template_::Object, so the evaluator's object paths give it
// subscripts, methods, len(), iteration, `in` and `==`.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tornado/detail/template/expr.h"
#include "tornado/template.h"

namespace tornado::detail {

class OrderedDict final : public template_::Object {
 public:
  using Entries = std::vector<std::pair<std::string, template_::Value>>;
  /// `entries` with unique keys, in insertion order.
  explicit OrderedDict(Entries entries);
  OrderedDict(const OrderedDict&) = delete;  // the index refers to entries_
  OrderedDict& operator=(const OrderedDict&) = delete;

  const Entries& entries() const noexcept { return entries_; }
  /// The value of `key`, or nullptr.
  const template_::Value* find(std::string_view key) const;
  /// What the dict weighs against max_value_size (see value_size).
  std::size_t weight() const noexcept { return weight_; }
  /// 1 + how deep its values nest (at most kMaxValueNesting).
  int depth() const noexcept { return depth_; }

  std::string type_name() const override { return "dict"; }
  std::optional<template_::Value> attribute(std::string_view name) const override;
  std::optional<template_::Value> call_method(std::string_view name,
                                              const template_::Arguments& args) const override;
  std::optional<template_::Value> item(const template_::Value& key) const override;
  std::optional<std::vector<template_::Value>> iterate() const override;
  std::string str() const override { return repr(); }
  std::string repr() const override;
  bool truthy() const override { return !entries_.empty(); }
  std::optional<std::int64_t> length() const override {
    return static_cast<std::int64_t>(entries_.size());
  }
  std::optional<template_::Value> operate(template_::Operator op,
                                          const template_::Value& other) const override;
  std::optional<template_::Value> operate_reflected(template_::Operator op,
                                                    const template_::Value& other) const override;
  /// The dict as nlohmann::json (whose keys are sorted).
  nlohmann::json to_json() const override;

 private:
  Entries entries_;
  // Lookups in a long dict go through a hash index; a short one is scanned.
  std::unordered_map<std::string_view, std::size_t> index_;
  std::size_t weight_ = 0;
  int depth_ = 1;
};

/// The dict of `entries` in order; a repeated key keeps its first place and
/// takes its last value, as in Python. Refuses a dict past max_value_size.
Value make_dict(std::vector<std::pair<std::string, Value>> entries);
/// The dict `value` holds, or nullptr.
const OrderedDict* as_dict(const Value& value);
/// `value` as JSON keeping dicts' order, for json_encode.
nlohmann::ordered_json to_ordered_json(const Value& value);
/// `value` as a C++ function receives it: dicts (also inside lists) become
/// nlohmann::json objects, as they were before dicts kept their order.
template_::Value to_function_argument(const Value& value);

}  // namespace tornado::detail
