// libFuzzer target for tornado::httputil: the input is read as an HTTP
// request (start line, header block, body) and pushed through every parser a
// request meets after llhttp: HTTPHeaders::parse, the request object's
// derived fields, cookies, form and multipart bodies, dates, hosts.
//
// Malformed input may only ever raise HTTPInputError; any other exception,
// a crash or a sanitizer report is a bug. It also checks that a parsed header
// block survives a round trip through to_string().
//
// Seeds: tests/fuzz/corpus/httputil/ (raw requests, CRLF line ends).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tornado/httputil.h"

namespace httputil = tornado::httputil;

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

void fuzz_headers(std::string_view block) {
  httputil::HTTPHeaders headers;
  try {
    headers = httputil::HTTPHeaders::parse(block);
  } catch (const httputil::HTTPInputError&) {
    return;
  }
  for (const auto& [name, value] : headers) {
    check(httputil::is_valid_header_name(name));
    check(httputil::is_valid_header_value(value));
    check(headers.contains(name));
  }
  check(httputil::HTTPHeaders::parse(headers.to_string()) == headers);
}

void fuzz_request(std::string_view data) {
  std::size_t line_end = data.find("\r\n");
  if (line_end == std::string_view::npos) return;
  std::size_t head_end = data.find("\r\n\r\n", line_end);
  std::string_view head = head_end == std::string_view::npos
                              ? data.substr(line_end + 2)
                              : data.substr(line_end + 2, head_end - line_end - 2);
  std::string_view body =
      head_end == std::string_view::npos ? std::string_view{} : data.substr(head_end + 4);

  fuzz_headers(head);
  try {
    auto start = httputil::parse_request_start_line(data.substr(0, line_end));
    auto headers = httputil::HTTPHeaders::parse(head);
    httputil::HTTPServerRequest request(start.method, start.path, start.version, headers,
                                        std::string(body), "127.0.0.1");
    check(request.uri.starts_with(request.path));
    (void)request.cookies();
    (void)request.full_url();
    (void)httputil::parse_http_date(request.headers.get("If-Modified-Since"));
    (void)httputil::split_host_and_port(request.headers.get("Host"));
    (void)httputil::parse_header_value(request.headers.get("Content-Type"));
    // Small limits reach the limit paths quickly.
    httputil::Arguments arguments;
    httputil::Files files;
    httputil::parse_body_arguments(request.headers.get("Content-Type"), body, arguments, files,
                                   nullptr,
                                   {.max_parts = 4, .max_part_header_size = 256, .max_fields = 16});
    request.parse_body();
  } catch (const httputil::HTTPInputError&) {
  }
}

void fuzz_misc(std::string_view data) {
  (void)httputil::parse_cookie(data);
  (void)httputil::parse_http_date(data);
  (void)httputil::split_host_and_port(data);
  (void)httputil::parse_header_value(data);
  (void)httputil::url_concat(data, {{"a", "b"}});
  try {
    (void)httputil::parse_response_start_line(data);
  } catch (const httputil::HTTPInputError&) {
  }
  try {
    (void)httputil::parse_qs_bytes(data, true, 64);
  } catch (const httputil::HTTPInputError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  fuzz_request(input);
  fuzz_misc(input.substr(0, 512));
  return 0;
}
