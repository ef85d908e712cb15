// tornado::detail ASCII helpers (detail/ascii.h).
#include "tornado/detail/ascii.h"

#include <gtest/gtest.h>

namespace tornado::detail {
namespace {

TEST(AsciiTest, LowerChangesOnlyAsciiLetters) {
  EXPECT_EQ(ascii_lower("Content-TYPE: Text/HTML 42"), "content-type: text/html 42");
  // UTF-8 bytes (here "É") are not letters to ASCII and stay as they are.
  EXPECT_EQ(ascii_lower("\xc3\x89T\xc3\xa9"), "\xc3\x89t\xc3\xa9");
  EXPECT_EQ(ascii_upper('q'), 'Q');
  EXPECT_EQ(ascii_upper('['), '[');
}

TEST(AsciiTest, UpperChangesOnlyAsciiLetters) {
  EXPECT_EQ(ascii_upper("post en_us 42"), "POST EN_US 42");
  EXPECT_EQ(ascii_upper("\xc3\xa9t"), "\xc3\xa9T");
}

TEST(AsciiTest, IequalsIgnoresAsciiCaseOnly) {
  EXPECT_TRUE(iequals("Upgrade", "uPGRADE"));
  EXPECT_FALSE(iequals("Upgrade", "Upgrades"));
  EXPECT_FALSE(iequals("\xc3\x89", "\xc3\xa9"));  // É and é differ outside ASCII
  EXPECT_TRUE(iequals("", ""));
}

TEST(AsciiTest, TokenIsRfc9110Tchars) {
  EXPECT_TRUE(is_token("GET"));
  EXPECT_TRUE(is_token("x-custom_header.v1!#$%&'*+^`|~"));
  EXPECT_FALSE(is_token(""));
  for (char delimiter : std::string_view("\"(),/:;<=>?@[\\]{} \t")) {
    EXPECT_FALSE(is_tchar(delimiter)) << delimiter;
  }
  EXPECT_FALSE(is_token("GET\x7f"));
  EXPECT_FALSE(is_token("caf\xc3\xa9"));
}

}  // namespace
}  // namespace tornado::detail
