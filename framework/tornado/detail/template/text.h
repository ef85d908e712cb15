// Text helpers shared by tornado::escape and tornado::template_: HTML
// escaping and Python's str()/repr() of JSON values (UTF-8 decoding and
// Python's whitespace are in detail/utf8.h). Templates must print values
// exactly as Tornado does, and Tornado prints them with Python's own
// formatting rules.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "tornado/detail/utf8.h"

namespace tornado::detail {

/// Appends `text` with & < > " ' replaced by their HTML entities (Tornado's
/// xhtml_escape); the renderer's hot loop, so it scans with a table.
void append_xhtml_escaped(std::string& out, std::string_view text);

/// Appends Python's `repr(float)`: the shortest round-trip digits, with an
/// exponent below 1e-4 and from 1e16 on ("1e-05", "1e+16", "2.0").
void append_float_repr(std::string& out, double value);

/// Appends a JSON array as `[a, b]` or an object as `{k: v}`, each key
/// through `key(out, name)` and each value through `item(out, value)`: the
/// layout Python's repr() and tornado-cpp's json_encode share.
template <class Json, class Key, class Item>
void append_list_or_dict(std::string& out, const Json& value, Key key, Item item) {
  const char* separator = "";
  if (value.is_array()) {
    out += '[';
    for (const auto& element : value) {
      out += std::exchange(separator, ", ");
      item(out, element);
    }
    out += ']';
    return;
  }
  out += '{';
  for (const auto& [name, element] : value.items()) {
    out += std::exchange(separator, ", ");
    key(out, name);
    out += ": ";
    item(out, element);
  }
  out += '}';
}

/// Appends Python's `repr()` of a value decoded from JSON: None, True,
/// 'quoted', [1, 2], {'k': 'v'}.
void append_python_repr(std::string& out, const nlohmann::json& value);

/// Appends Python's `str()`: strings unquoted, everything else as repr.
void append_python_str(std::string& out, const nlohmann::json& value);

/// Appends a string as Python's `repr(str)` would quote it.
void append_python_string_repr(std::string& out, std::string_view text);

}  // namespace tornado::detail
