// Python's three ways of formatting values, for template expressions:
// format(value, spec) / f-strings, str.format(), and the `%` operator.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tornado/detail/template/expr.h"

namespace tornado::detail {

/// A number as Python sees it: bools are ints.
struct Number {
  bool is_int;
  std::int64_t i;
  double d;
};
std::optional<Number> as_number(const Value& value);

Value get_item(Value container, const Value& key);
Value get_attribute(Value object, std::string_view name);

/// format(value, spec): the format-spec mini-language.
std::string format_with_spec(const Value& value, std::string_view spec);

/// format % args: printf-style formatting of str.
std::string percent_format(const std::string& format, const Value& args);

/// format.format(*positional, **keywords).
std::string str_format(const std::string& format, const std::vector<Value>& positional,
                       const std::vector<std::pair<std::string, Value>>& keywords);

}  // namespace tornado::detail
