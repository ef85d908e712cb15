// tornado::httputil: HTTP utilities shared by the server and the client,
// mirroring tornado.httputil.
//
// `HTTPHeaders` is the header map every request and response carries: names
// are case-insensitive and kept in Tornado's `Http-Header-Case`, a name may
// have several values, and the order the fields arrived in is kept.
// `HTTPServerRequest` is the request object a handler sees as `request()`:
// method, uri, path, query, headers, body, the parsed `arguments` and the
// uploaded `files`. The free functions parse and format the small grammars
// of HTTP: query strings, form bodies, dates, cookies, start lines.
//
//   auto headers = tornado::httputil::HTTPHeaders::parse(
//       "Content-Type: text/html\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n");
//   headers.get("content-type");       // "text/html"
//   headers.get_list("Set-Cookie");    // {"a=1", "b=2"}
//   headers.get_joined("Set-Cookie");  // "a=1,b=2"  (Tornado's headers[name])
//
//   tornado::httputil::HTTPServerRequest request("GET", "/search?q=tornado", "HTTP/1.1",
//                                                 std::move(headers));
//   request.path;                      // "/search"
//   request.arguments["q"];            // {"tornado"}
//
// Bodies and uploaded file contents are bytes, kept as received. Argument
// names and values are percent-decoded with tornado::escape::url_unescape,
// which yields UTF-8 (a byte sequence that is not UTF-8 becomes U+FFFD), so
// handlers get text, as Tornado's get_argument gives them.
#pragma once

#include <chrono>
#include <cstddef>
#include <ctime>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tornado::httputil {

/// Malformed HTTP input from a remote peer (a request or a response). The
/// server answers it with 400 Bad Request, as Tornado does.
class HTTPInputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Misuse of the HTTP output API (e.g. writing more than Content-Length said).
class HTTPOutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Maps a header name to Tornado's `Http-Header-Case` ("coNtent-TYPE" ->
/// "Content-Type"): each '-'-separated word capitalized, ASCII only.
std::string normalize_header_name(std::string_view name);

/// True if `name` is a non-empty RFC 7230 token (what a header name may be).
bool is_valid_header_name(std::string_view name) noexcept;
/// True if `value` holds no CR, LF, NUL or other control byte but HTAB, so it
/// cannot inject a header line (Tornado refuses the same in `set_header`).
bool is_valid_header_value(std::string_view value) noexcept;

/// A case-insensitive, multi-valued, insertion-ordered header map, as
/// Tornado's `HTTPHeaders`.
///
/// Storage is one small vector of (name, value) fields; lookups compare
/// names case-insensitively without allocating. A request has about ten
/// headers, where a linear scan beats any hash table.
class HTTPHeaders {
 public:
  /// One header line: name and value.
  using Field = std::pair<std::string, std::string>;
  /// Iterates the lines in the order they were added.
  using const_iterator = std::vector<Field>::const_iterator;

  HTTPHeaders() = default;
  /// `HTTPHeaders({{"Content-Type", "text/html"}, {"Set-Cookie", "a=1"}})`;
  /// repeated names add values.
  HTTPHeaders(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

  /// Parses a header block ("Name: value" lines separated by CRLF or LF;
  /// the blank line that ends a header block is optional).
  ///
  /// A line starting with space or tab continues the previous value (RFC
  /// 7230 obs-fold) and is joined to it with one space, as Tornado does
  /// (but an empty value gains no leading space, so `parse(to_string())`
  /// gives back the same headers).
  /// Throws HTTPInputError on a line without a colon, an invalid name (not a
  /// token; this also refuses whitespace before the colon), a value with a
  /// control character (NUL, a bare CR, ...), or a continuation line first.
  static HTTPHeaders parse(std::string_view block);

  /// Parses one header line (no line terminator) into this map, continuing
  /// the last header if the line starts with whitespace. Throws
  /// HTTPInputError as `parse`.
  void parse_line(std::string_view line);

  /// Adds a value for `name`, after any existing ones.
  void add(std::string_view name, std::string_view value);
  /// Same, taking over the strings (a parser's buffers): the bytes are not
  /// copied again.
  void add_owned(std::string&& name, std::string&& value);
  /// Replaces every value of `name` with `value` (Tornado's `headers[name] = v`).
  void set(std::string_view name, std::string_view value);

  /// The first value of `name`, or `default_value`. The view stays valid
  /// until this map is modified (and `default_value` must outlive it).
  std::string_view get(std::string_view name, std::string_view default_value = {}) const noexcept;
  /// Every value of `name` joined with "," (Tornado's `headers[name]`), or
  /// `default_value` if absent.
  std::string get_joined(std::string_view name, std::string_view default_value = {}) const;
  /// Every value of `name`, in order; empty if absent.
  std::vector<std::string_view> get_list(std::string_view name) const;
  /// True if `name` has at least one value.
  bool contains(std::string_view name) const noexcept;
  /// Removes every value of `name`; returns how many were removed.
  std::size_t remove(std::string_view name);
  /// Removes everything.
  void clear() noexcept { fields_.clear(); }

  /// Number of (name, value) fields, counting a repeated name once per value.
  std::size_t size() const noexcept { return fields_.size(); }
  /// True when there are no headers.
  bool empty() const noexcept { return fields_.empty(); }

  /// Iterates (name, value) fields in insertion order, a repeated name once
  /// per value (Tornado's `get_all()`).
  const_iterator begin() const noexcept { return fields_.begin(); }
  /// Past the last header line.
  const_iterator end() const noexcept { return fields_.end(); }
  /// Every header line, in order, repeated names included.
  const std::vector<Field>& all() const noexcept { return fields_; }

  /// "Name: value\r\n" per field: the header block as sent on the wire.
  std::string to_string() const;

  /// Same fields in the same order.
  friend bool operator==(const HTTPHeaders& a, const HTTPHeaders& b) {
    return a.fields_ == b.fields_;
  }

 private:
  std::vector<Field> fields_;
  // Index of the field an obs-fold continuation line extends.
  std::optional<std::size_t> last_field_;
};

/// The first line of a request: "GET /path HTTP/1.1".
struct RequestStartLine {
  /// "GET", "POST", ...
  std::string method;
  /// The request target as sent (path and query).
  std::string path;
  /// "HTTP/1.1" or "HTTP/1.0".
  std::string version;
  /// Field-by-field equality.
  friend bool operator==(const RequestStartLine&, const RequestStartLine&) = default;
};

/// The first line of a response: "HTTP/1.1 200 OK".
struct ResponseStartLine {
  /// "HTTP/1.1" or "HTTP/1.0".
  std::string version;
  /// The status code.
  int code = 0;
  /// The reason phrase.
  std::string reason;
  /// Field-by-field equality.
  friend bool operator==(const ResponseStartLine&, const ResponseStartLine&) = default;
};

/// Parses "METHOD target HTTP/1.x" (exactly three parts separated by single
/// spaces, version HTTP/1.0 - HTTP/1.9); throws HTTPInputError otherwise.
RequestStartLine parse_request_start_line(std::string_view line);
/// Parses "HTTP/1.x CODE reason" (a three-digit code; the reason may be
/// empty or missing); throws HTTPInputError otherwise.
ResponseStartLine parse_response_start_line(std::string_view line);

/// A file uploaded through a multipart/form-data form.
struct HTTPFile {
  /// The file name the browser sent.
  std::string filename;
  /// The part's Content-Type.
  std::string content_type;
  /// The file's bytes.
  std::string body;
  /// Field-by-field equality.
  friend bool operator==(const HTTPFile&, const HTTPFile&) = default;
};

/// Argument name -> values, in the order they appeared. Values are bytes.
using Arguments = std::map<std::string, std::vector<std::string>, std::less<>>;
/// Form field name -> uploaded files.
using Files = std::map<std::string, std::vector<HTTPFile>, std::less<>>;
/// Cookie name -> value.
using Cookies = std::map<std::string, std::string, std::less<>>;

/// Limits applied while parsing a request body, so a hostile body cannot
/// make the parser count or allocate without bound. Tornado's
/// `ParseMultipartConfig` (`enabled`, `max_parts`, `max_part_header_size`)
/// plus a field limit for urlencoded bodies (Python's `max_num_fields`).
struct BodyLimits {
  /// If false, a multipart/form-data body is refused (HTTPInputError).
  bool multipart_enabled = true;
  /// Most parts a multipart/form-data body may have.
  std::size_t max_parts = 100;
  /// Most bytes of one part's header block.
  std::size_t max_part_header_size = 10 * 1024;
  /// Most name=value fields of an application/x-www-form-urlencoded body.
  std::size_t max_fields = 10000;
};

/// Parses a query string ("a=1&b=2&a=3") into `Arguments`, as Tornado's
/// `parse_qs_bytes`: '&' separates fields, '+' is a space, %XX is decoded
/// to UTF-8 by escape::url_unescape (invalid escapes are kept as they are). Fields without a value
/// ("flag" or "flag=") are kept with an empty value only if
/// `keep_blank_values`. Throws HTTPInputError past `max_fields` fields.
Arguments parse_qs_bytes(std::string_view query, bool keep_blank_values = false,
                         std::size_t max_fields = static_cast<std::size_t>(-1));

/// Parses a form body into `arguments` and `files` (which are added to, not
/// replaced), as Tornado's `parse_body_arguments`: for
/// application/x-www-form-urlencoded and multipart/form-data; any other
/// content type is left alone.
///
/// Malformed bodies throw HTTPInputError, as Tornado 6.5 does (it used to log
/// a warning per problem and carry on, which let one request log without
/// bound); `RequestHandler` turns the error into 400 Bad Request. A body with
/// a Content-Encoding in `headers` is refused: decompression happens before.
///
/// Multipart: the boundary parameter may be quoted; each part needs
/// `Content-Disposition: form-data; name="..."`, and a part with a non-empty
/// `filename` (or RFC 5987 `filename*=UTF-8''...`, which wins) becomes an
/// HTTPFile (Content-Type defaulting to application/unknown), others become
/// arguments. A body without its final `--boundary--` is refused.
void parse_body_arguments(std::string_view content_type, std::string_view body,
                          Arguments& arguments, Files& files, const HTTPHeaders* headers = nullptr,
                          const BodyLimits& limits = {});

/// Parses a multipart/form-data body with the given boundary (unquoted or
/// quoted), as Tornado's `parse_multipart_form_data`.
void parse_multipart_form_data(std::string_view boundary, std::string_view body,
                               Arguments& arguments, Files& files, const BodyLimits& limits = {});

/// Splits a header value like Content-Type or Content-Disposition into its
/// main value and its parameters ("form-data; name=\"a\"" -> "form-data",
/// {{"name", "a"}}). Parameter names are lower-cased, quoted values
/// unquoted, RFC 2231/5987 `name*=charset'lang'value` decoded to UTF-8
/// (from UTF-8 or ISO-8859-1; other charsets are read as UTF-8).
std::pair<std::string, std::map<std::string, std::string, std::less<>>> parse_header_value(
    std::string_view value);

/// Appends `args` to the query of `url`, whether or not it already has one
/// ("http://a/b?x=1" + {{"y", "2"}} -> "http://a/b?x=1&y=2"). Like
/// Tornado's `url_concat`, the existing query is re-encoded.
std::string url_concat(std::string_view url,
                       const std::vector<std::pair<std::string, std::string>>& args);

/// Formats a time as HTTP wants it: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_timestamp(std::time_t seconds);
/// The same for a system_clock time.
std::string format_timestamp(std::chrono::system_clock::time_point when);

/// Parses an HTTP date in any of RFC 7231's three formats (IMF-fixdate,
/// RFC 850, asctime), e.g. an If-Modified-Since value; nullopt if it is
/// none, or outside the years 1700-2261 that system_clock can represent.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text);

/// Parses a Cookie header into name -> value, as Tornado's `parse_cookie`:
/// browser-like, not RFC-strict. Pairs are split on ';', a pair without '='
/// has the empty name, surrounding whitespace is stripped, double-quoted
/// values are unquoted (with `\"` and `\ooo` escapes), and a later name wins.
Cookies parse_cookie(std::string_view header);

/// The standard reason phrase of a status code ("Not Found"), or
/// "Unknown" for a code nobody registered (Tornado's `httputil.responses`).
std::string_view reason_phrase(int code) noexcept;
/// True if `code` has a registered reason phrase.
bool is_known_status(int code) noexcept;

/// Splits "host:port" into host and port, as Tornado's
/// `split_host_and_port`: the port is the digits after the last ':' (so
/// "[::1]:80" -> "[::1]", 80); no port if there are none or they overflow.
std::pair<std::string_view, std::optional<int>> split_host_and_port(std::string_view netloc);

/// A single HTTP request as a handler sees it, as Tornado's
/// `HTTPServerRequest`. The HTTP/1 connection builds one per request; tests
/// and tools may build one by hand.
class HTTPServerRequest {
 public:
  /// Splits `uri` into `path` and `query`, fills `query_arguments` and
  /// `arguments` from the query (blank values kept), and takes `host` from
  /// the Host header (default "127.0.0.1") and `host_name` from it.
  HTTPServerRequest(std::string method, std::string uri, std::string version = "HTTP/1.0",
                    HTTPHeaders headers = {}, std::string body = {}, std::string remote_ip = {},
                    std::string protocol = "http");

  /// Parses `body` according to its Content-Type into `body_arguments` and
  /// `files`, and adds the body arguments to `arguments`. Throws
  /// HTTPInputError on a malformed body (a 400).
  void parse_body(const BodyLimits& limits = {});

  /// The cookies sent in the Cookie header, parsed on first use. Cookies
  /// whose names Python's SimpleCookie would refuse (empty, characters
  /// outside its legal set, or a cookie attribute name such as "path") are
  /// dropped, as Tornado drops them.
  const Cookies& cookies() const;

  /// Seconds since the request started (its headers were parsed).
  double request_time() const;
  /// protocol + "://" + host + uri.
  std::string full_url() const;

  std::string method;         ///< "GET", "POST", ...
  std::string uri;            ///< the request target as sent: path and query
  std::string version;        ///< "HTTP/1.1"
  HTTPHeaders headers;        ///< the request headers
  std::string body;           ///< the request body (bytes)
  std::string remote_ip;      ///< the peer's address (or X-Real-Ip with xheaders)
  std::string protocol;       ///< "http" or "https"
  std::string host;           ///< the Host header, or "127.0.0.1"
  std::string host_name;      ///< `host` lower-cased, without its port
  std::string path;           ///< `uri` before '?'
  std::string query;          ///< `uri` after '?' (empty if none)
  Arguments arguments;        ///< query and body arguments together
  Arguments query_arguments;  ///< arguments from the query string
  Arguments body_arguments;   ///< arguments from a form body
  Files files;                ///< files from a multipart/form-data body
  /// When the request started; `request_time()` counts from here.
  std::chrono::steady_clock::time_point start_time;

  // connection: set by http1connection

 private:
  mutable std::optional<Cookies> cookies_;
};

}  // namespace tornado::httputil
