// The chat's text rules (apps/lesson5/chat_text.h): characters are code
// points, whitespace is Python's, and the results match what the Python twin
// (docs/lessons/python/lesson5.py) computes for the same input.
#include "chat_text.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using lesson5::first_chars;
using lesson5::is_blank;
using lesson5::one_line;

std::string repeat(std::string_view piece, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) out += piece;
  return out;
}

TEST(Lesson5ChatText, BlankIsPythonWhitespaceOnly) {
  EXPECT_TRUE(is_blank(""));
  EXPECT_TRUE(is_blank(" \t\r\n\v\f"));
  // NO-BREAK SPACE, IDEOGRAPHIC SPACE, LINE SEPARATOR, NARROW NO-BREAK SPACE.
  EXPECT_TRUE(is_blank("\u00a0\u3000\u2028\u202f"));
  EXPECT_FALSE(is_blank("\u00a0x\u3000"));
  // ZERO WIDTH SPACE is not whitespace for Python either.
  EXPECT_FALSE(is_blank("\u200b"));
  EXPECT_FALSE(is_blank("😀"));
}

TEST(Lesson5ChatText, FirstCharsCountsCodePointsNotBytes) {
  // 1500 emoji are 6000 bytes; the first 2000 characters keep all of them.
  std::string emoji = repeat("😀", 1500);
  EXPECT_EQ(first_chars(emoji, 2000), emoji);
  EXPECT_EQ(first_chars(repeat("😀", 2001), 2000), repeat("😀", 2000));
  EXPECT_EQ(first_chars("Čeněk", 4), "Čeně");
  EXPECT_EQ(first_chars("abc", 0), "");
}

TEST(Lesson5ChatText, FirstCharsNeverSplitsInvalidBytes) {
  // A lone continuation byte and a truncated sequence count one byte each.
  EXPECT_EQ(first_chars("\x80\x80z", 2), "\x80\x80");
  EXPECT_EQ(first_chars("a\xC4", 5), "a\xC4");
  EXPECT_EQ(first_chars("\xE2\x82x", 1), "\xE2");
}

TEST(Lesson5ChatText, OneLineMatchesPythonSplitJoinSliceRstrip) {
  // " ".join("Čeněk Žluťoučký Příliš Dlouhé Jméno".split())[:32]
  EXPECT_EQ(one_line("Čeněk Žluťoučký Příliš Dlouhé Jméno", 32),
            "Čeněk Žluťoučký Příliš Dlouhé Jm");
  EXPECT_EQ(one_line("  Eva \t\n Nováková\u3000", 32), "Eva Nováková");
  EXPECT_EQ(one_line("\u00a0\u3000 ", 32), "");
  // A cut right after a space does not leave the space at the end.
  EXPECT_EQ(one_line("abcd efgh", 5), "abcd");
  EXPECT_EQ(one_line("abcd efgh", 6), "abcd e");
  EXPECT_EQ(one_line(repeat("ž", 40), 32), repeat("ž", 32));
}

}  // namespace
