// Tests for tornado::httputil: headers, start lines, request fields, query
// and body arguments (with data-file cases in tests/data/http), cookies,
// dates and URL helpers.
#include "tornado/httputil.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace httputil = tornado::httputil;
using httputil::HTTPHeaders;
using httputil::HTTPInputError;
using httputil::HTTPServerRequest;

namespace {

std::vector<std::string> to_strings(const std::vector<std::string_view>& views) {
  return {views.begin(), views.end()};
}

// Asserts that `fn` throws HTTPInputError mentioning `substring`.
template <class Fn>
void expect_input_error(Fn&& fn, std::string_view substring) {
  try {
    fn();
    ADD_FAILURE() << "expected HTTPInputError containing '" << substring << "'";
  } catch (const HTTPInputError& e) {
    EXPECT_NE(std::string_view(e.what()).find(substring), std::string_view::npos)
        << "message: " << e.what();
  }
}

}  // namespace

// ---------------------------------------------------------------- HTTPHeaders

TEST(HTTPHeaders, NamesAreCaseInsensitiveAndNormalized) {
  HTTPHeaders h;
  h.add("coNtent-TYPE", "text/html");
  h.add("x-REQUEST-id", "42");
  EXPECT_EQ(h.get("content-type"), "text/html");
  EXPECT_EQ(h.get("CONTENT-TYPE"), "text/html");
  EXPECT_TRUE(h.contains("X-Request-Id"));
  EXPECT_FALSE(h.contains("X-Request"));
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.all()[0].first, "Content-Type");
  EXPECT_EQ(h.all()[1].first, "X-Request-Id");
  EXPECT_EQ(httputil::normalize_header_name("www-authenticate"), "Www-Authenticate");
  EXPECT_EQ(httputil::normalize_header_name("-x--y-"), "-X--Y-");
  h.add_owned(std::string("user-AGENT"), std::string(40, 'a'));  // past the small-string size
  EXPECT_EQ(h.all()[2].first, "User-Agent");
  EXPECT_EQ(h.get("user-agent"), std::string(40, 'a'));
}

TEST(HTTPHeaders, MultipleValuesKeepOrder) {
  HTTPHeaders h;
  h.add("Set-Cookie", "A=B");
  h.add("Content-Type", "text/plain");
  h.add("set-cookie", "C=D");
  EXPECT_EQ(h.get("Set-Cookie"), "A=B");
  EXPECT_EQ(h.get_joined("set-cookie"), "A=B,C=D");
  EXPECT_EQ(to_strings(h.get_list("SET-COOKIE")), (std::vector<std::string>{"A=B", "C=D"}));
  std::vector<std::pair<std::string, std::string>> seen(h.begin(), h.end());
  EXPECT_EQ(seen,
            (std::vector<std::pair<std::string, std::string>>{
                {"Set-Cookie", "A=B"}, {"Content-Type", "text/plain"}, {"Set-Cookie", "C=D"}}));
  EXPECT_EQ(h.to_string(), "Set-Cookie: A=B\r\nContent-Type: text/plain\r\nSet-Cookie: C=D\r\n");
}

TEST(HTTPHeaders, GetDefaultsAndMissingNames) {
  HTTPHeaders h{{"Host", "example.com"}};
  EXPECT_EQ(h.get("Missing"), "");
  EXPECT_EQ(h.get("Missing", "fallback"), "fallback");
  EXPECT_EQ(h.get_joined("Missing", "x"), "x");
  EXPECT_TRUE(h.get_list("Missing").empty());
  HTTPHeaders empty_value{{"X-Empty", ""}};
  EXPECT_TRUE(empty_value.contains("x-empty"));
  EXPECT_EQ(empty_value.get("X-Empty", "default"), "");
}

TEST(HTTPHeaders, SetReplacesAllValuesInPlace) {
  HTTPHeaders h{{"A", "1"}, {"B", "2"}, {"a", "3"}};
  h.set("a", "9");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.all()[0], (HTTPHeaders::Field{"A", "9"}));
  EXPECT_EQ(h.all()[1], (HTTPHeaders::Field{"B", "2"}));
  h.set("C", "new");
  EXPECT_EQ(h.all()[2], (HTTPHeaders::Field{"C", "new"}));
}

TEST(HTTPHeaders, RemoveAndClear) {
  HTTPHeaders h{{"A", "1"}, {"B", "2"}, {"a", "3"}};
  EXPECT_EQ(h.remove("A"), 2u);
  EXPECT_EQ(h.remove("A"), 0u);
  EXPECT_FALSE(h.contains("a"));
  EXPECT_EQ(h.size(), 1u);
  h.clear();
  EXPECT_TRUE(h.empty());
}

TEST(HTTPHeaders, EqualityComparesFieldsInOrder) {
  EXPECT_EQ((HTTPHeaders{{"a", "1"}, {"b", "2"}}), (HTTPHeaders{{"A", "1"}, {"B", "2"}}));
  EXPECT_NE((HTTPHeaders{{"a", "1"}, {"b", "2"}}), (HTTPHeaders{{"b", "2"}, {"a", "1"}}));
}

TEST(HTTPHeaders, ParseBlock) {
  auto h = HTTPHeaders::parse(
      "Content-Type: text/html\r\n"
      "content-length:42\r\n"
      "X-Multi: a\r\n"
      "X-Multi:   b  \t\r\n"
      "X-Empty:\r\n"
      "\r\n");
  EXPECT_EQ(h.get("Content-Type"), "text/html");
  EXPECT_EQ(h.get("Content-Length"), "42");
  EXPECT_EQ(to_strings(h.get_list("X-Multi")), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(h.contains("X-Empty"));
  EXPECT_EQ(h.size(), 5u);
}

TEST(HTTPHeaders, ParseAcceptsBareLineFeeds) {
  auto h = HTTPHeaders::parse("A: 1\nB: 2\n");
  EXPECT_EQ(h.get("a"), "1");
  EXPECT_EQ(h.get("b"), "2");
}

TEST(HTTPHeaders, ParseKeepsValueBytes) {
  // Colons in values, obs-text (bytes >= 0x80) and inner whitespace stay.
  auto h = HTTPHeaders::parse(
      "Referer: http://x/a b:c\r\nX-Name: Jan \xc5\xa0t\xc4\x9bp\xc3\xa1nek\r\n");
  EXPECT_EQ(h.get("Referer"), "http://x/a b:c");
  EXPECT_EQ(h.get("X-Name"), "Jan \xc5\xa0t\xc4\x9bp\xc3\xa1nek");
}

TEST(HTTPHeaders, ParseObsoleteLineFolding) {
  auto h = HTTPHeaders::parse(
      "Foo: bar\r\n"
      " baz\r\n"
      "\tqux  \r\n"
      "Asdf: qwer\r\n"
      "\t zxcv\r\n"
      "Empty:\r\n"
      " continued\r\n");
  EXPECT_EQ(h.get("Foo"), "bar baz qux");
  EXPECT_EQ(h.get("Asdf"), "qwer zxcv");
  EXPECT_EQ(h.get("Empty"), "continued");
  // Folding continues the last value of a repeated name, not the first.
  auto repeated = HTTPHeaders::parse("A: 1\r\nA: 2\r\n 3\r\n");
  EXPECT_EQ(to_strings(repeated.get_list("A")), (std::vector<std::string>{"1", "2 3"}));
}

TEST(HTTPHeaders, ParseRefusesMalformedLines) {
  expect_input_error([] { HTTPHeaders::parse(" Foo: bar\r\n"); }, "cannot start with whitespace");
  expect_input_error([] { HTTPHeaders::parse("Foo bar\r\n"); }, "no colon");
  expect_input_error([] { HTTPHeaders::parse("Foo : bar\r\n"); }, "invalid header name");
  expect_input_error([] { HTTPHeaders::parse(": bar\r\n"); }, "invalid header name");
  expect_input_error([] { HTTPHeaders::parse("Fo\x01o: bar\r\n"); }, "invalid header name");
  expect_input_error([] { HTTPHeaders::parse("Foo: b\rar\r\n"); }, "invalid header value");
  expect_input_error([] { HTTPHeaders::parse(std::string_view("Foo: b\0r\r\n", 11)); },
                     "invalid header value");
  expect_input_error([] { HTTPHeaders::parse("Foo: bar\r\n b\x7f\r\n"); }, "invalid header value");
  expect_input_error([] { HTTPHeaders::parse("Foo: bar\r\n\x0b: x\r\n"); }, "invalid header name");
}

TEST(HTTPHeaders, ValidityHelpers) {
  EXPECT_TRUE(httputil::is_valid_header_name("X-Custom_Header.1!#$%&'*+^`|~"));
  EXPECT_FALSE(httputil::is_valid_header_name(""));
  EXPECT_FALSE(httputil::is_valid_header_name("Bad Name"));
  EXPECT_FALSE(httputil::is_valid_header_name("Bad:Name"));
  EXPECT_FALSE(httputil::is_valid_header_name("Bad\r\nName"));
  EXPECT_FALSE(httputil::is_valid_header_name("Na\xc3\xafve"));
  EXPECT_TRUE(httputil::is_valid_header_value("text/html; charset=UTF-8"));
  EXPECT_TRUE(httputil::is_valid_header_value(""));
  EXPECT_FALSE(httputil::is_valid_header_value("a\r\nSet-Cookie: evil=1"));
  EXPECT_FALSE(httputil::is_valid_header_value("a\nb"));
  EXPECT_FALSE(httputil::is_valid_header_value("a\rb"));
  EXPECT_FALSE(httputil::is_valid_header_value(std::string_view("a\0b", 3)));
}

// ---------------------------------------------------------------- start lines

TEST(StartLine, ParseRequestStartLine) {
  EXPECT_EQ(httputil::parse_request_start_line("GET /foo?a=1 HTTP/1.1"),
            (httputil::RequestStartLine{"GET", "/foo?a=1", "HTTP/1.1"}));
  EXPECT_EQ(httputil::parse_request_start_line("OPTIONS * HTTP/1.0").path, "*");
  for (std::string_view bad :
       {"GET /foo", "GET  /foo HTTP/1.1", "GET /foo HTTP/1.1 x", "GET /foo HTTP/2.0",
        "GET /foo HTTP/1.x", "GET /foo http/1.1", " /foo HTTP/1.1", "", "GET /foo HTTP/1.10"}) {
    EXPECT_THROW(httputil::parse_request_start_line(bad), HTTPInputError) << bad;
  }
}

TEST(StartLine, ParseResponseStartLine) {
  EXPECT_EQ(httputil::parse_response_start_line("HTTP/1.1 200 OK"),
            (httputil::ResponseStartLine{"HTTP/1.1", 200, "OK"}));
  EXPECT_EQ(httputil::parse_response_start_line("HTTP/1.0 404 Not Found"),
            (httputil::ResponseStartLine{"HTTP/1.0", 404, "Not Found"}));
  EXPECT_EQ(httputil::parse_response_start_line("HTTP/1.1 204").reason, "");
  EXPECT_EQ(httputil::parse_response_start_line("HTTP/1.1 599 ").reason, "");
  EXPECT_EQ(httputil::parse_response_start_line("HTTP/1.1 200 OK\r\n").reason, "OK");
  for (std::string_view bad : {"HTTP/1.1 2000 OK", "HTTP/1.1 20 OK", "HTTP/2 200 OK",
                               "HTTP/1.1 abc OK", "HTTP/1.1  200 OK", "200 OK", "HTTP/1.1 200OK"}) {
    EXPECT_THROW(httputil::parse_response_start_line(bad), HTTPInputError) << bad;
  }
}

// ---------------------------------------------------------------- HTTPServerRequest

TEST(HTTPServerRequest, SplitsUriAndParsesQuery) {
  HTTPServerRequest request("GET", "/a/b%20c?x=1&y=2&x=3&blank=&flag&sp=a+b", "HTTP/1.1",
                            HTTPHeaders{{"Host", "Example.COM:8080"}}, "", "10.0.0.1", "https");
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.uri, "/a/b%20c?x=1&y=2&x=3&blank=&flag&sp=a+b");
  EXPECT_EQ(request.version, "HTTP/1.1");
  EXPECT_EQ(request.path, "/a/b%20c");  // the path is not unescaped; routing does that
  EXPECT_EQ(request.query, "x=1&y=2&x=3&blank=&flag&sp=a+b");
  EXPECT_EQ(request.remote_ip, "10.0.0.1");
  EXPECT_EQ(request.protocol, "https");
  EXPECT_EQ(request.host, "Example.COM:8080");
  EXPECT_EQ(request.host_name, "example.com");
  httputil::Arguments expected{
      {"x", {"1", "3"}}, {"y", {"2"}}, {"blank", {""}}, {"flag", {""}}, {"sp", {"a b"}}};
  EXPECT_EQ(request.query_arguments, expected);
  EXPECT_EQ(request.arguments, expected);
  EXPECT_TRUE(request.body_arguments.empty());
  EXPECT_TRUE(request.files.empty());
  EXPECT_EQ(request.full_url(), "https://Example.COM:8080/a/b%20c?x=1&y=2&x=3&blank=&flag&sp=a+b");
}

TEST(HTTPServerRequest, DefaultsWithoutQueryOrHost) {
  HTTPServerRequest request("GET", "/");
  EXPECT_EQ(request.version, "HTTP/1.0");
  EXPECT_EQ(request.path, "/");
  EXPECT_EQ(request.query, "");
  EXPECT_TRUE(request.arguments.empty());
  EXPECT_EQ(request.host, "127.0.0.1");
  EXPECT_EQ(request.host_name, "127.0.0.1");
  EXPECT_EQ(request.protocol, "http");
  EXPECT_EQ(request.full_url(), "http://127.0.0.1/");
  HTTPServerRequest empty_query("GET", "/p?");
  EXPECT_EQ(empty_query.path, "/p");
  EXPECT_EQ(empty_query.query, "");
}

TEST(HTTPServerRequest, HostNameVariants) {
  auto host_name = [](std::string host) {
    return HTTPServerRequest("GET", "/", "HTTP/1.1", HTTPHeaders{{"Host", host}}).host_name;
  };
  EXPECT_EQ(host_name("LOCALHOST"), "localhost");
  EXPECT_EQ(host_name("[::1]:8888"), "[::1]");
  EXPECT_EQ(host_name("[::1]"), "[::1]");
  EXPECT_EQ(host_name("example.com:"), "example.com:");
  EXPECT_EQ(host_name(""), "127.0.0.1");
}

TEST(HTTPServerRequest, ParseBodyMergesArguments) {
  HTTPServerRequest request("POST", "/form?a=q", "HTTP/1.1",
                            HTTPHeaders{{"Content-Type", "application/x-www-form-urlencoded"}},
                            "a=b1&c=d&a=b2");
  request.parse_body();
  EXPECT_EQ(request.query_arguments, (httputil::Arguments{{"a", {"q"}}}));
  EXPECT_EQ(request.body_arguments, (httputil::Arguments{{"a", {"b1", "b2"}}, {"c", {"d"}}}));
  EXPECT_EQ(request.arguments, (httputil::Arguments{{"a", {"q", "b1", "b2"}}, {"c", {"d"}}}));
}

TEST(HTTPServerRequest, ParseBodyFiles) {
  std::string body =
      "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.txt\"\r\n"
      "Content-Type: text/plain\r\n\r\nhello\r\n--B--\r\n";
  HTTPServerRequest request("POST", "/upload", "HTTP/1.1",
                            HTTPHeaders{{"Content-Type", "multipart/form-data; boundary=B"}}, body);
  request.parse_body();
  ASSERT_EQ(request.files.count("f"), 1u);
  EXPECT_EQ(request.files["f"][0], (httputil::HTTPFile{"a.txt", "text/plain", "hello"}));
  EXPECT_TRUE(request.arguments.empty());
}

TEST(HTTPServerRequest, ParseBodyRefusesMalformedBody) {
  HTTPServerRequest request("POST", "/", "HTTP/1.1",
                            HTTPHeaders{{"Content-Type", "multipart/form-data; boundary=B"}},
                            "--B\r\nno end");
  expect_input_error([&] { request.parse_body(); }, "no final boundary");
}

TEST(HTTPServerRequest, ParseBodyIgnoresOtherContentTypes) {
  HTTPServerRequest request("POST", "/", "HTTP/1.1",
                            HTTPHeaders{{"Content-Type", "application/json"}}, "a=b");
  request.parse_body();
  EXPECT_TRUE(request.body_arguments.empty());
  HTTPServerRequest untyped("POST", "/", "HTTP/1.1", {}, "a=b");
  untyped.parse_body();
  EXPECT_TRUE(untyped.body_arguments.empty());
}

TEST(HTTPServerRequest, Cookies) {
  HTTPHeaders headers{{"Cookie",
                       "a=1; b = \"quoted\\\"value\" ;c=x=y; =nameless; path=/; bad,name=1; "
                       "junk; d=\"\\101\\102\""}};
  HTTPServerRequest request("GET", "/", "HTTP/1.1", headers);
  const auto& cookies = request.cookies();
  EXPECT_EQ(cookies,
            (httputil::Cookies{{"a", "1"}, {"b", "quoted\"value"}, {"c", "x=y"}, {"d", "AB"}}));
  // Parsed once and cached.
  EXPECT_EQ(&request.cookies(), &cookies);
}

TEST(HTTPServerRequest, CookiesFromSeveralHeaders) {
  HTTPHeaders headers{{"Cookie", "a=1"}, {"Cookie", "b=2"}};
  HTTPServerRequest request("GET", "/", "HTTP/1.1", headers);
  EXPECT_EQ(request.cookies(), (httputil::Cookies{{"a", "1"}, {"b", "2"}}));
  HTTPServerRequest none("GET", "/");
  EXPECT_TRUE(none.cookies().empty());
}

TEST(HTTPServerRequest, RequestTimeGrows) {
  HTTPServerRequest request("GET", "/");
  double first = request.request_time();
  EXPECT_GE(first, 0.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  double second = request.request_time();
  EXPECT_GE(second - first, 0.015);
  EXPECT_LT(second, 5.0);
}

// ---------------------------------------------------------------- query strings

TEST(ParseQs, KeepBlankValues) {
  EXPECT_EQ(httputil::parse_qs_bytes("a=1&b=&c&&a=2"), (httputil::Arguments{{"a", {"1", "2"}}}));
  EXPECT_EQ(httputil::parse_qs_bytes("a=1&b=&c&&a=2", true),
            (httputil::Arguments{{"a", {"1", "2"}}, {"b", {""}}, {"c", {""}}}));
}

TEST(ParseQs, DecodesEscapesAndPlus) {
  auto args = httputil::parse_qs_bytes("n%61me=v%C3%A1l+ue&x=%zz%4&y=a%2Bb&%3D=%26", true);
  EXPECT_EQ(args["name"], (std::vector<std::string>{"v\xc3\xa1l ue"}));
  EXPECT_EQ(args["x"], (std::vector<std::string>{"%zz%4"}));
  EXPECT_EQ(args["y"], (std::vector<std::string>{"a+b"}));
  EXPECT_EQ(args["="], (std::vector<std::string>{"&"}));
  // Values are bytes, as Tornado's parse_qs_bytes keeps them (get_argument
  // refuses what is not UTF-8); names are decoded as UTF-8.
  EXPECT_EQ(httputil::parse_qs_bytes("b=%FF%00")["b"][0], std::string("\xff\0", 2));
  EXPECT_EQ(httputil::parse_qs_bytes("%FF=1").begin()->first, "\xef\xbf\xbd");
  // ';' is not a separator (as in Python 3.10+).
  EXPECT_EQ(httputil::parse_qs_bytes("a=1;b=2")["a"][0], "1;b=2");
}

TEST(ParseQs, FieldLimit) {
  EXPECT_EQ(httputil::parse_qs_bytes("a=1&a=2&a=3", false, 3)["a"].size(), 3u);
  expect_input_error([] { httputil::parse_qs_bytes("a=1&a=2&a=3&a=4", false, 3); },
                     "too many fields");
}

// ---------------------------------------------------------------- body arguments

namespace {

struct BodyCase {
  std::string name;
  std::string content_type;
  std::string body;
  std::optional<nlohmann::json> expect;
  std::string error;
};

BodyCase load_body_case(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  BodyCase result{path.filename().string(), "", "", std::nullopt, ""};
  std::string line;
  bool in_body = false;
  bool first_body_line = true;
  while (std::getline(in, line)) {
    if (!in_body && line.starts_with("#")) {
      std::string_view meta = std::string_view(line).substr(1);
      while (!meta.empty() && meta.front() == ' ') meta.remove_prefix(1);
      std::size_t colon = meta.find(':');
      std::string_view key = meta.substr(0, colon);
      std::string_view value = meta.substr(colon + 2);
      if (key == "content-type") result.content_type = value;
      if (key == "expect") result.expect = nlohmann::json::parse(value);
      if (key == "error") result.error = value;
      continue;
    }
    in_body = true;
    if (!first_body_line) result.body += "\r\n";
    first_body_line = false;
    result.body += line;
  }
  return result;
}

nlohmann::json to_json(const httputil::Arguments& arguments, const httputil::Files& files) {
  nlohmann::json out = {{"arguments", nlohmann::json::object()},
                        {"files", nlohmann::json::object()}};
  for (const auto& [name, values] : arguments) out["arguments"][name] = values;
  for (const auto& [name, list] : files) {
    for (const auto& file : list) {
      out["files"][name].push_back(
          {{"filename", file.filename}, {"content_type", file.content_type}, {"body", file.body}});
    }
  }
  return out;
}

}  // namespace

TEST(ParseBodyArguments, DataFileCases) {
  std::filesystem::path dir = std::filesystem::path(TORNADO_TEST_DATA) / "http";
  int cases = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".txt") continue;
    BodyCase c = load_body_case(entry.path());
    SCOPED_TRACE(c.name);
    ++cases;
    httputil::Arguments arguments;
    httputil::Files files;
    if (!c.error.empty()) {
      expect_input_error(
          [&] { httputil::parse_body_arguments(c.content_type, c.body, arguments, files); },
          c.error);
      continue;
    }
    ASSERT_TRUE(c.expect.has_value()) << "case has neither expect nor error";
    httputil::parse_body_arguments(c.content_type, c.body, arguments, files);
    EXPECT_EQ(to_json(arguments, files), *c.expect);
  }
  EXPECT_GE(cases, 20);
}

TEST(ParseBodyArguments, AddsToExistingArguments) {
  httputil::Arguments arguments{{"a", {"0"}}};
  httputil::Files files;
  httputil::parse_body_arguments("application/x-www-form-urlencoded", "a=1", arguments, files);
  EXPECT_EQ(arguments["a"], (std::vector<std::string>{"0", "1"}));
}

TEST(ParseBodyArguments, RefusesContentEncoding) {
  httputil::Arguments arguments;
  httputil::Files files;
  HTTPHeaders headers{{"Content-Encoding", "gzip"}};
  expect_input_error(
      [&] {
        httputil::parse_body_arguments("application/x-www-form-urlencoded", "a=1", arguments, files,
                                       &headers);
      },
      "Unsupported Content-Encoding: gzip");
  expect_input_error(
      [&] {
        httputil::parse_body_arguments("multipart/form-data; boundary=B", "--B--", arguments, files,
                                       &headers);
      },
      "Unsupported Content-Encoding");
}

namespace {
std::string multipart_body(int parts, std::string_view header_padding = "") {
  std::string body;
  for (int i = 0; i < parts; ++i) {
    body += "--B\r\nContent-Disposition: form-data; name=\"f" + std::to_string(i) + "\"\r\n";
    body += header_padding;
    body += "\r\nv\r\n";
  }
  return body + "--B--";
}
}  // namespace

TEST(ParseBodyArguments, PartLimit) {
  httputil::Arguments arguments;
  httputil::Files files;
  httputil::parse_body_arguments("multipart/form-data; boundary=B", multipart_body(100), arguments,
                                 files);
  EXPECT_EQ(arguments.size(), 100u);
  expect_input_error(
      [&] {
        httputil::parse_body_arguments("multipart/form-data; boundary=B", multipart_body(101),
                                       arguments, files);
      },
      "more than 100 parts");
  httputil::Arguments more;
  httputil::parse_body_arguments("multipart/form-data; boundary=B", multipart_body(101), more,
                                 files, nullptr, {.max_parts = 200});
  EXPECT_EQ(more.size(), 101u);
}

TEST(ParseBodyArguments, PartHeaderLimit) {
  httputil::Arguments arguments;
  httputil::Files files;
  std::string padding = "X-Pad: " + std::string(10 * 1024, 'p') + "\r\n";
  expect_input_error(
      [&] {
        httputil::parse_body_arguments("multipart/form-data; boundary=B",
                                       multipart_body(1, padding), arguments, files);
      },
      "header too large");
  httputil::parse_body_arguments("multipart/form-data; boundary=B", multipart_body(1, padding),
                                 arguments, files, nullptr, {.max_part_header_size = 20000});
  EXPECT_EQ(arguments["f0"], (std::vector<std::string>{"v"}));
}

TEST(ParseBodyArguments, MultipartCanBeDisabled) {
  httputil::Arguments arguments;
  httputil::Files files;
  expect_input_error(
      [&] {
        httputil::parse_body_arguments("multipart/form-data; boundary=B", multipart_body(1),
                                       arguments, files, nullptr, {.multipart_enabled = false});
      },
      "disabled");
}

TEST(ParseBodyArguments, FieldLimit) {
  httputil::Arguments arguments;
  httputil::Files files;
  std::string body;
  for (int i = 0; i < 10001; ++i) body += "a=1&";
  expect_input_error(
      [&] {
        httputil::parse_body_arguments("application/x-www-form-urlencoded", body, arguments, files);
      },
      "too many fields");
  httputil::parse_body_arguments("application/x-www-form-urlencoded", body, arguments, files,
                                 nullptr, {.max_fields = 20000});
  EXPECT_EQ(arguments["a"].size(), 10001u);
}

TEST(ParseBodyArguments, PartWithBareCarriageReturnInHeaders) {
  httputil::Arguments arguments;
  httputil::Files files;
  std::string body =
      "--B\r\nContent-Disposition: form-data; name=\"a\"\rX-Evil: 1\r\n\r\nv\r\n--B--";
  expect_input_error(
      [&] {
        httputil::parse_body_arguments("multipart/form-data; boundary=B", body, arguments, files);
      },
      "invalid header value");
}

TEST(ParseHeaderValue, ParametersAndQuoting) {
  auto [value, params] = httputil::parse_header_value(
      "form-data; name=\"a;b\"; FileName=\"x\\\"y\"; empty=\"\"; flag; token=abc");
  EXPECT_EQ(value, "form-data");
  EXPECT_EQ(params["name"], "a;b");
  EXPECT_EQ(params["filename"], "x\"y");
  EXPECT_EQ(params["empty"], "");
  EXPECT_EQ(params["token"], "abc");
  EXPECT_EQ(params.count("flag"), 0u);
  auto [plain, none] = httputil::parse_header_value("text/html");
  EXPECT_EQ(plain, "text/html");
  EXPECT_TRUE(none.empty());
}

// ---------------------------------------------------------------- URLs, dates, cookies

TEST(UrlConcat, AppendsArguments) {
  EXPECT_EQ(httputil::url_concat("http://example.com/foo", {{"c", "d"}}),
            "http://example.com/foo?c=d");
  EXPECT_EQ(httputil::url_concat("http://example.com/foo?a=b", {{"c", "d"}}),
            "http://example.com/foo?a=b&c=d");
  EXPECT_EQ(httputil::url_concat("http://example.com/foo?a=b", {{"c", "d"}, {"c", "d2"}}),
            "http://example.com/foo?a=b&c=d&c=d2");
  EXPECT_EQ(httputil::url_concat("http://example.com/foo?a=b&", {{"c", "d"}}),
            "http://example.com/foo?a=b&c=d");
  EXPECT_EQ(httputil::url_concat("http://example.com/foo?", {{"c", "d"}}),
            "http://example.com/foo?c=d");
  EXPECT_EQ(httputil::url_concat("http://example.com/foo?", {}), "http://example.com/foo");
  EXPECT_EQ(httputil::url_concat("http://example.com/foo?r=1&t=2", {}),
            "http://example.com/foo?r=1&t=2");
  EXPECT_EQ(httputil::url_concat("/p?a=&b", {{"q", "x y&z=é"}}), "/p?a=&b=&q=x+y%26z%3D%C3%A9");
  EXPECT_EQ(httputil::url_concat("/p?a=1#frag", {{"b", "2"}}), "/p?a=1&b=2#frag");
}

TEST(Dates, FormatTimestamp) {
  EXPECT_EQ(httputil::format_timestamp(std::time_t{1359312200}), "Sun, 27 Jan 2013 18:43:20 GMT");
  EXPECT_EQ(httputil::format_timestamp(std::time_t{784111777}), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(httputil::format_timestamp(std::time_t{0}), "Thu, 01 Jan 1970 00:00:00 GMT");
  // The per-thread cache must not return the previous second's text.
  EXPECT_EQ(httputil::format_timestamp(std::time_t{1359312201}), "Sun, 27 Jan 2013 18:43:21 GMT");
  auto when = std::chrono::system_clock::time_point{std::chrono::seconds{1359312200}} +
              std::chrono::milliseconds{999};
  EXPECT_EQ(httputil::format_timestamp(when), "Sun, 27 Jan 2013 18:43:20 GMT");
}

TEST(Dates, ParseHttpDateThreeFormats) {
  auto expected = std::chrono::system_clock::time_point{std::chrono::seconds{784111777}};
  EXPECT_EQ(httputil::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
  EXPECT_EQ(httputil::parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
  EXPECT_EQ(httputil::parse_http_date("Sun Nov  6 08:49:37 1994"), expected);
  EXPECT_EQ(httputil::parse_http_date("Sun Nov 6 08:49:37 1994"), expected);
  EXPECT_EQ(httputil::parse_http_date("  Sun, 06 Nov 1994 08:49:37 GMT "), expected);
  EXPECT_EQ(httputil::parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT"),
            std::chrono::system_clock::time_point{});
  EXPECT_EQ(httputil::parse_http_date("Monday, 01-Jan-01 00:00:00 GMT"),
            std::chrono::system_clock::time_point{std::chrono::seconds{978307200}});
}

TEST(Dates, ParseHttpDateRefusesJunk) {
  for (std::string_view bad : {"", "yesterday", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994",
                               "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                               "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT x",
                               "Sun, 06 Nov 94 08:49:37 GMT", "\"Sun, 06 Nov 1994 08:49:37 GMT\"",
                               "Sun, 06 Nov 0997 08:49:37 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"}) {
    EXPECT_FALSE(httputil::parse_http_date(bad).has_value()) << bad;
  }
}

TEST(Dates, RoundTrip) {
  auto now = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  for (auto when : {now, now - std::chrono::hours(24 * 400), now + std::chrono::hours(24 * 3000)}) {
    EXPECT_EQ(httputil::parse_http_date(httputil::format_timestamp(when)), when);
  }
}

TEST(Cookies, ParseCookieLikeBrowsers) {
  EXPECT_EQ(httputil::parse_cookie("chips=ahoy; vienna=finger"),
            (httputil::Cookies{{"chips", "ahoy"}, {"vienna", "finger"}}));
  EXPECT_EQ(httputil::parse_cookie("keebler=\"E=mc2; L=\\\"Loves\\\"; fudge=\\012;\""),
            (httputil::Cookies{
                {"keebler", "\"E=mc2"}, {"L", "\\\"Loves\\\""}, {"fudge", "\\012"}, {"", "\""}}));
  EXPECT_EQ(httputil::parse_cookie("a=\"\\012b\\\"c\""), (httputil::Cookies{{"a", "\nb\"c"}}));
  EXPECT_EQ(httputil::parse_cookie("  ; ;"), httputil::Cookies{});
  EXPECT_EQ(httputil::parse_cookie("noequals"), (httputil::Cookies{{"", "noequals"}}));
  EXPECT_EQ(httputil::parse_cookie("a=1; a=2"), (httputil::Cookies{{"a", "2"}}));
  EXPECT_EQ(httputil::parse_cookie("a=\"unterminated"),
            (httputil::Cookies{{"a", "\"unterminated"}}));
  EXPECT_EQ(httputil::parse_cookie("=\"\""), (httputil::Cookies{{"", ""}}));
}

TEST(Misc, ReasonPhrases) {
  EXPECT_EQ(httputil::reason_phrase(200), "OK");
  EXPECT_EQ(httputil::reason_phrase(404), "Not Found");
  EXPECT_EQ(httputil::reason_phrase(418), "I'm a Teapot");
  EXPECT_EQ(httputil::reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(httputil::reason_phrase(599), "Unknown");
  EXPECT_TRUE(httputil::is_known_status(308));
  EXPECT_FALSE(httputil::is_known_status(299));
  int known = 0;
  for (int code = 0; code < 1000; ++code) known += httputil::is_known_status(code) ? 1 : 0;
  EXPECT_EQ(known, 62);
}

TEST(Misc, SplitHostAndPort) {
  using Result = std::pair<std::string_view, std::optional<int>>;
  EXPECT_EQ(httputil::split_host_and_port("example.com:8080"), (Result{"example.com", 8080}));
  EXPECT_EQ(httputil::split_host_and_port("example.com"), (Result{"example.com", std::nullopt}));
  EXPECT_EQ(httputil::split_host_and_port("[::1]:80"), (Result{"[::1]", 80}));
  EXPECT_EQ(httputil::split_host_and_port("a:1:2"), (Result{"a:1", 2}));
  EXPECT_EQ(httputil::split_host_and_port(":80"), (Result{":80", std::nullopt}));
  EXPECT_EQ(httputil::split_host_and_port("a:"), (Result{"a:", std::nullopt}));
  EXPECT_EQ(httputil::split_host_and_port("a:8x"), (Result{"a:8x", std::nullopt}));
  EXPECT_EQ(httputil::split_host_and_port("a:99999999999"),
            (Result{"a:99999999999", std::nullopt}));
}
