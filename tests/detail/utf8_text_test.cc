// tornado::detail UTF-8 decoding and Python's whitespace (detail/utf8.h);
// the validator has its own tests in tests/detail/utf8_test.cc.
#include <gtest/gtest.h>

#include "tornado/detail/utf8.h"

namespace tornado::detail {
namespace {

TEST(Utf8TextTest, DecodesAndReportsTheMaximalIllFormedSubpart) {
  const Utf8Char euro = decode_utf8("\xe2\x82\xac!", 0);
  EXPECT_EQ(euro.code_point, U'\u20ac');
  EXPECT_EQ(euro.size, 3u);
  EXPECT_TRUE(euro.valid);
  // E2 82 then '!': the two bytes are one ill-formed subpart.
  const Utf8Char broken = decode_utf8("\xe2\x82!", 0);
  EXPECT_FALSE(broken.valid);
  EXPECT_EQ(broken.code_point, U'\ufffd');
  EXPECT_EQ(broken.size, 2u);
  EXPECT_EQ(sanitize_utf8("a\xe2\x82!\xff"), "a\xef\xbf\xbd!\xef\xbf\xbd");
  EXPECT_EQ(utf8_length("a\xe2\x82\xac\xff"), 3u);
  std::string out;
  append_utf8(out, U'\U0001F600');
  EXPECT_EQ(out, "\xf0\x9f\x98\x80");
}

TEST(Utf8TextTest, PythonStripRemovesUnicodeWhitespace) {
  // U+3000 (ideographic space), U+00A0 (no-break space), U+2029 and ASCII.
  EXPECT_EQ(python_strip("\xe3\x80\x80 \tword\xc2\xa0\xe2\x80\xa9\n"), "word");
  EXPECT_EQ(python_strip("  left", true, false), "left");
  EXPECT_EQ(python_strip("right  ", false, true), "right");
  EXPECT_EQ(python_strip("  both  ", false, false), "  both  ");
  // U+200B (zero width space) is not whitespace to Python.
  EXPECT_EQ(python_strip("\xe2\x80\x8bx"), "\xe2\x80\x8bx");
  // An ill-formed byte stops the strip rather than being eaten.
  EXPECT_EQ(python_strip(" \xff "), "\xff");
  EXPECT_EQ(python_strip(""), "");
  EXPECT_EQ(python_strip("\xc2\xa0"), "");
}

}  // namespace
}  // namespace tornado::detail
