// tornado::escape: escaping and unescaping for HTML, URLs and JSON, mirroring
// tornado.escape.
//
// These are the functions templates call (`{{ url_escape(q) }}`), that
// autoescaping applies to every `{{ expression }}`, and that handlers use to
// build safe output by hand. Each one produces the same bytes as its Tornado
// twin for the same input, so pages rendered by tornado-cpp and by Tornado
// can be compared byte for byte.
//
//   std::string safe = tornado::escape::xhtml_escape("<b>\"Tom & Jerry\"</b>");
//   // "&lt;b&gt;&quot;Tom &amp; Jerry&quot;&lt;/b&gt;"
//   std::string q = tornado::escape::url_escape("a b/c");           // "a+b%2Fc"
//   std::string js = tornado::escape::json_encode({{"end", "</script>"}});
//   // "{\"end\": \"<\\/script>\"}"
//   std::string html = tornado::escape::linkify("see http://example.com!");
//
// Strings are UTF-8 `std::string`s throughout; where Python would decode bytes
// with replacement (url_unescape), ill-formed UTF-8 becomes U+FFFD.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tornado::escape {

/// Escapes `& < > " '` so the text is safe inside HTML or XML, attribute
/// values included (when they are quoted).
std::string xhtml_escape(std::string_view value);

/// Un-escapes an XML/HTML-escaped string: `&amp;`, `&#39;`, `&#x27;` and the
/// HTML 4 named entities. Unknown or invalid entities are left as they are.
std::string xhtml_unescape(std::string_view value);

/// Returns a URL-encoded version of `value`. With `plus` (the default) a space
/// becomes "+" and "/" is encoded, as for a query string; without it a space
/// becomes "%20" and "/" is kept, as for a path.
std::string url_escape(std::string_view value, bool plus = true);

/// Decodes a URL-encoded value. With `plus` (the default) "+" means a space,
/// as in query strings and form bodies. Invalid `%xx` sequences stay as they
/// are; bytes that do not form UTF-8 become U+FFFD.
std::string url_unescape(std::string_view value, bool plus = true);
/// The bytes `value` encodes, without decoding them as UTF-8 (Tornado's
/// `url_unescape(value, encoding=None)`): how query and form values arrive
/// in `request.arguments`.
std::string url_unescape_bytes(std::string_view value, bool plus = true);

/// JSON-encodes `value` as Python's `json.dumps` does (", " and ": "
/// separators, non-ASCII as `\uXXXX`), and writes `</` as `<\/` so the result
/// can sit inside a `<script>` element.
std::string json_encode(const nlohmann::json& value);
/// As above, keeping the objects' keys in insertion order, as Python's
/// json.dumps does for a dict (nlohmann::json sorts them). A template only so
/// that `json_encode({{"k", 1}})` still means nlohmann::json.
template <class OrderedJson>
requires std::is_same_v<OrderedJson, nlohmann::ordered_json> std::string json_encode(
    const OrderedJson& value);

/// Parses a JSON document; throws nlohmann::json::parse_error when invalid.
nlohmann::json json_decode(std::string_view value);

/// Replaces each run of whitespace and control characters (0x00-0x20) by a
/// single space and trims both ends.
std::string squeeze(std::string_view value);

/// Options of `linkify`, named as Tornado's keyword arguments.
struct LinkifyOptions {
  /// Shortens long URLs in the link text (the full URL stays in href and title).
  bool shorten = false;
  /// Extra attributes for each <a> tag, e.g. `rel="nofollow" class="external"`.
  std::string extra_params;
  /// Computes the extra attributes from the link's href; wins over extra_params.
  std::function<std::string(std::string_view href)> extra_params_fn;
  /// Only links with an explicit protocol; otherwise "www.x.com" is linked too.
  bool require_protocol = false;
  /// Protocols that are linked. Never add "javascript".
  std::vector<std::string> permitted_protocols = {"http", "https"};
};

/// Converts plain text into HTML with links: the text is HTML-escaped first,
/// then each URL becomes `<a href="...">...</a>`.
std::string linkify(std::string_view text, const LinkifyOptions& options = {});

}  // namespace tornado::escape
