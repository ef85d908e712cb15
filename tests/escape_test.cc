// Tests for tornado::escape. Expected strings were produced by Tornado's own
// tornado.escape for the same input, so both implementations agree.
#include "tornado/escape.h"

#include <gtest/gtest.h>

namespace {

using namespace tornado::escape;

TEST(XhtmlEscape, EscapesTheFiveSpecialCharacters) {
  EXPECT_EQ(xhtml_escape("<b>\"Tom & Jerry's\"</b>"),
            "&lt;b&gt;&quot;Tom &amp; Jerry&#39;s&quot;&lt;/b&gt;");
  EXPECT_EQ(xhtml_escape("plain text é"), "plain text é");
  EXPECT_EQ(xhtml_escape(""), "");
}

TEST(XhtmlUnescape, DecodesNamedAndNumericEntities) {
  EXPECT_EQ(xhtml_unescape("&lt;a&gt; &amp;amp; &#39; &#x41; &#X42; &#1_0; &nbsp; &eacute;"),
            "<a> &amp; ' A B \n \xc2\xa0 \xc3\xa9");
}

TEST(XhtmlUnescape, LeavesUnknownAndInvalidEntitiesAlone) {
  EXPECT_EQ(xhtml_unescape("&bogus; &#xZZ; &#; & &&amp; &#1114112;"),
            "&bogus; &#xZZ; &#; & && &#1114112;");
  EXPECT_EQ(xhtml_unescape("&amp"), "&amp");
  EXPECT_EQ(xhtml_unescape("&#0;"), std::string(1, '\0'));
}

TEST(XhtmlUnescape, RoundTripsEscape) {
  const std::string text = "<script>alert('x' + \"y\") && 1</script>";
  EXPECT_EQ(xhtml_unescape(xhtml_escape(text)), text);
}

TEST(UrlEscape, QueryStyleByDefault) {
  EXPECT_EQ(url_escape("a b/c?d=\xc3\xa9&e~_.-"), "a+b%2Fc%3Fd%3D%C3%A9%26e~_.-");
}

TEST(UrlEscape, PathStyleWithoutPlus) {
  EXPECT_EQ(url_escape("a b/c", false), "a%20b/c");
}

TEST(UrlUnescape, DecodesAndKeepsInvalidPercentSequences) {
  EXPECT_EQ(url_unescape("a+b%2Fc%zz%4%C3%A9%E2%82x%"), "a b/c%zz%4\xc3\xa9\xef\xbf\xbdx%");
  EXPECT_EQ(url_unescape("a+b%20", false), "a+b ");
}

TEST(UrlUnescape, RoundTripsEscape) {
  for (bool plus : {true, false}) {
    const std::string text = "x = 1 & y/z ~ \xe2\x82\xac";
    EXPECT_EQ(url_unescape(url_escape(text, plus), plus), text);
  }
}

TEST(JsonEncode, MatchesPythonJsonDumps) {
  const nlohmann::json value = {
      {"a", "</script>"},
      {"b", {1, 2.5, nullptr, true, 1e20, 1e-5, "\xc3\xa9\xf0\x9f\x98\x80\x7f\n"}}};
  EXPECT_EQ(json_encode(value),
            "{\"a\": \"<\\/script>\", \"b\": [1, 2.5, null, true, 1e+20, 1e-05, "
            "\"\\u00e9\\ud83d\\ude00\\u007f\\n\"]}");
  EXPECT_EQ(json_encode(nlohmann::json::array()), "[]");
  EXPECT_EQ(json_encode(nlohmann::json::object()), "{}");
  EXPECT_EQ(json_encode(2.0), "2.0");
  EXPECT_EQ(json_encode(-0.0), "-0.0");
}

TEST(JsonDecode, ParsesAndRejects) {
  EXPECT_EQ(json_decode(R"({"a": [1, "x"]})"), (nlohmann::json{{"a", {1, "x"}}}));
  EXPECT_THROW(json_decode("{"), nlohmann::json::parse_error);
  EXPECT_EQ(json_decode(json_encode({{"s", "</b>"}})), (nlohmann::json{{"s", "</b>"}}));
}

TEST(Squeeze, CollapsesWhitespaceAndControlCharacters) {
  EXPECT_EQ(squeeze(std::string(" \t a \n\n b \0 c  \xc2\xa0", 17)), "a b c");
  EXPECT_EQ(squeeze(""), "");
  EXPECT_EQ(squeeze("   "), "");
}

TEST(Linkify, LinksUrlsInEscapedText) {
  EXPECT_EQ(linkify("Hello http://tornadoweb.org!"),
            "Hello <a href=\"http://tornadoweb.org\">http://tornadoweb.org</a>!");
  EXPECT_EQ(linkify("www.example.com/x?a=1&b=2."),
            "<a href=\"http://www.example.com/x?a=1&amp;b=2\">www.example.com/x?a=1&amp;b=2</a>.");
  EXPECT_EQ(linkify("(see http://a.com/b_(c))"),
            "(see <a href=\"http://a.com/b_(c)\">http://a.com/b_(c)</a>)");
  EXPECT_EQ(linkify("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
}

TEST(Linkify, RespectsProtocolsAndWordBoundaries) {
  EXPECT_EQ(linkify("javascript:alert(1) ftp://x.org"), "javascript:alert(1) ftp://x.org");
  EXPECT_EQ(linkify("awww.x.com -http://x.y"), "awww.x.com -<a href=\"http://x.y\">http://x.y</a>");
  EXPECT_EQ(linkify("\xc3\x9cnicode http://ex.com/p\xc3\xa4th"),
            "\xc3\x9cnicode <a href=\"http://ex.com/p\xc3\xa4th\">http://ex.com/p\xc3\xa4th</a>");
}

TEST(Linkify, Options) {
  EXPECT_EQ(
      linkify("http://www.example.com/this/is/a/very/long/url/that/needs/shortening?a=1&b=2",
              {.shorten = true}),
      "<a "
      "href=\"http://www.example.com/this/is/a/very/long/url/that/needs/shortening?a=1&amp;b=2\" "
      "title=\"http://www.example.com/this/is/a/very/long/url/that/needs/shortening?a=1&amp;b=2\">"
      "http://www.example.com/this...</a>");
  EXPECT_EQ(linkify("www.x.com http://y.com",
                    {.extra_params = " rel=\"nofollow\" ", .require_protocol = true}),
            "www.x.com <a href=\"http://y.com\" rel=\"nofollow\">http://y.com</a>");
  EXPECT_EQ(linkify("http://y.com mailto:a@b.c",
                    {.extra_params_fn = [](std::string_view) { return "class=\"x\""; },
                     .permitted_protocols = {"http", "mailto"}}),
            "<a href=\"http://y.com\" class=\"x\">http://y.com</a> mailto:a@b.c");
}

}  // namespace
