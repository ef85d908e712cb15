// Tests for tornado/detail/utf8.h: the one-shot and incremental validators,
// against the case list in tests/data/websocket/utf8.txt and against an
// independent decoder over every short byte sequence.
#include "tornado/detail/utf8.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace {

using tornado::detail::is_valid_utf8;
using tornado::detail::Utf8Validator;

struct Utf8Case {
  bool valid;
  std::string bytes;
  std::string description;
};

std::string from_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::vector<Utf8Case> load_cases() {
  std::ifstream in(std::string(TORNADO_TEST_DATA) + "/websocket/utf8.txt");
  std::vector<Utf8Case> cases;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.find(' ');
    const auto hash = line.find('#');
    std::string hex = line.substr(space + 1, hash - space - 1);
    while (!hex.empty() && hex.back() == ' ') hex.pop_back();
    cases.push_back({line.substr(0, space) == "valid", from_hex(hex), line.substr(hash + 2)});
  }
  return cases;
}

// An independent reference: decodes code point by code point, the way the
// Unicode standard defines well-formedness, instead of running an automaton.
// Returns the length of the longest prefix that is made of whole valid
// code points; `truncated` is set when the rest is a valid but unfinished
// sequence.
std::size_t reference_valid_prefix(std::string_view s, bool* truncated) {
  *truncated = false;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int length;
    std::uint32_t cp;
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      length = 2;
      cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      length = 3;
      cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      length = 4;
      cp = b & 0x07;
    } else {
      return i;
    }
    int have = 1;
    for (; have < length && i + have < s.size(); ++have) {
      const auto c = static_cast<unsigned char>(s[i + have]);
      if ((c & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (c & 0x3F);
      // Check what the bytes so far already decide.
      const int remaining = length - have - 1;
      const std::uint32_t low = cp << (6 * remaining);
      const std::uint32_t high = low | ((1u << (6 * remaining)) - 1);
      const std::uint32_t min = length == 2 ? 0x80 : length == 3 ? 0x800 : 0x10000;
      if (high < min) return i;                       // overlong
      if (low > 0x10FFFF) return i;                   // beyond Unicode
      if (low >= 0xD800 && high <= 0xDFFF) return i;  // a surrogate
    }
    if (have < length) {
      *truncated = true;
      return i;
    }
    i += length;
  }
  return i;
}

bool reference_valid(std::string_view s) {
  bool truncated;
  return reference_valid_prefix(s, &truncated) == s.size();
}

// Whether the reference accepts `s` as the start of valid UTF-8.
bool reference_valid_start(std::string_view s) {
  bool truncated;
  const std::size_t n = reference_valid_prefix(s, &truncated);
  return n == s.size() || truncated;
}

TEST(Utf8Test, DataFileCasesOneShot) {
  const auto cases = load_cases();
  ASSERT_GT(cases.size(), 80u);
  for (const auto& c : cases) {
    EXPECT_EQ(is_valid_utf8(c.bytes), c.valid) << c.description;
    EXPECT_EQ(reference_valid(c.bytes), c.valid) << "reference: " << c.description;
    // In the middle of longer text, where the fast loop sees them.
    EXPECT_EQ(is_valid_utf8("text before " + c.bytes + " and after"), c.valid) << c.description;
  }
}

TEST(Utf8Test, DataFileCasesSplitAtEveryPosition) {
  for (const auto& c : load_cases()) {
    for (std::size_t split = 0; split <= c.bytes.size(); ++split) {
      Utf8Validator v;
      const bool first = v.feed(std::string_view(c.bytes).substr(0, split));
      const bool second = v.feed(std::string_view(c.bytes).substr(split));
      EXPECT_EQ(first && second && v.complete(), c.valid) << c.description << " split " << split;
    }
  }
}

TEST(Utf8Test, FailsAtTheFirstBadByte) {
  // Fed one byte at a time, the validator must fail exactly when the input
  // stops being the start of valid UTF-8: never later (fail fast), never
  // earlier (a sequence may be split anywhere).
  for (const auto& c : load_cases()) {
    Utf8Validator v;
    for (std::size_t i = 0; i < c.bytes.size(); ++i) {
      const bool expected = reference_valid_start(std::string_view(c.bytes).substr(0, i + 1));
      ASSERT_EQ(v.feed(std::string_view(c.bytes).substr(i, 1)), expected)
          << c.description << " at byte " << i;
      if (!expected) break;
    }
  }
}

TEST(Utf8Test, AutobahnIncrementalDetection) {
  Utf8Validator v;
  EXPECT_TRUE(v.feed("\x65\x64\x69\x74\x65\x64"));
  EXPECT_FALSE(v.feed("\xED\xA0\x80"));
  EXPECT_TRUE(v.failed());

  v.reset();
  EXPECT_TRUE(v.feed("\x65\x64\x69\x74\x65\x64\xED"));
  EXPECT_FALSE(v.complete());
  EXPECT_FALSE(v.feed("\xA0\x80"));

  v.reset();
  EXPECT_FALSE(v.feed("\xF5"));
}

TEST(Utf8Test, EmptyInput) {
  EXPECT_TRUE(is_valid_utf8(std::string_view()));
  Utf8Validator v;
  EXPECT_TRUE(v.feed(std::string_view()));
  EXPECT_TRUE(v.feed("\xc3"));
  EXPECT_TRUE(v.feed(std::string_view()));
  EXPECT_FALSE(v.complete());
  EXPECT_TRUE(v.feed("\xa9"));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8Test, FailureIsSticky) {
  Utf8Validator v;
  EXPECT_FALSE(v.feed("\xff"));
  EXPECT_FALSE(v.feed("valid ascii"));
  EXPECT_TRUE(v.failed());
  EXPECT_FALSE(v.complete());
  v.reset();
  EXPECT_TRUE(v.feed("valid ascii"));
  EXPECT_TRUE(v.complete());
}

TEST(Utf8Test, EveryCodePoint) {
  std::string all;
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    std::string s;
    if (cp < 0x80) {
      s = {static_cast<char>(cp)};
    } else if (cp < 0x800) {
      s = {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    } else if (cp < 0x10000) {
      s = {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
           static_cast<char>(0x80 | (cp & 0x3F))};
    } else {
      s = {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
           static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    ASSERT_EQ(is_valid_utf8(s), !surrogate) << std::hex << cp;
    if (!surrogate) all += s;
  }
  EXPECT_TRUE(is_valid_utf8(all));
  Utf8Validator v;
  for (std::size_t i = 0; i < all.size(); i += 4093) v.feed(std::string_view(all).substr(i, 4093));
  EXPECT_TRUE(v.complete());
}

// Checks `bytes` alone (short input: the automaton alone) and padded with
// ASCII on both sides (long input: the per-code-point fast loop).
void expect_matches_reference(std::string_view bytes) {
  ASSERT_EQ(is_valid_utf8(bytes), reference_valid(bytes)) << testing::PrintToString(bytes);
  std::string padded = "abcdefgh";
  padded.append(bytes);
  padded.append("ijklmnop");
  ASSERT_EQ(is_valid_utf8(padded), reference_valid(padded)) << testing::PrintToString(bytes);
}

TEST(Utf8Test, MatchesReferenceOnEveryShortSequence) {
  std::array<char, 3> buf;
  for (int a = 0; a < 256; ++a) {
    buf[0] = static_cast<char>(a);
    expect_matches_reference({buf.data(), 1});
    for (int b = 0; b < 256; ++b) {
      buf[1] = static_cast<char>(b);
      expect_matches_reference({buf.data(), 2});
      if (a < 0xC0) continue;  // only lead bytes start a longer sequence
      for (int c = 0; c < 256; ++c) {
        buf[2] = static_cast<char>(c);
        expect_matches_reference({buf.data(), 3});
      }
    }
  }
}

TEST(Utf8Test, MatchesReferenceOnFourByteSequences) {
  const int thirds[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
  std::array<char, 4> buf;
  for (int a = 0xE0; a < 0x100; ++a) {
    for (int b = 0; b < 256; ++b) {
      for (int c : thirds) {
        for (int d : thirds) {
          buf = {static_cast<char>(a), static_cast<char>(b), static_cast<char>(c),
                 static_cast<char>(d)};
          expect_matches_reference({buf.data(), 4});
        }
      }
    }
  }
}

TEST(Utf8Test, AsciiFastPathFindsABadByteAnywhere) {
  // The fast path skips ASCII a word at a time; a bad byte at any offset,
  // in any alignment, must still be found.
  for (std::size_t length = 1; length < 70; ++length) {
    for (std::size_t bad = 0; bad < length; ++bad) {
      std::string s(length, 'a');
      s[bad] = '\x80';
      ASSERT_FALSE(is_valid_utf8(s)) << length << " " << bad;
      s[bad] = '\xc3';  // a lead byte: valid only if followed by a continuation
      ASSERT_FALSE(is_valid_utf8(s)) << length << " " << bad;
      if (bad + 1 < length) {
        s[bad + 1] = '\xa9';
        ASSERT_TRUE(is_valid_utf8(s)) << length << " " << bad;
      }
    }
  }
}

TEST(Utf8Test, LongMixedText) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "Příliš žluťoučký kůň úpěl ďábelské ódy. 😀 ";
  EXPECT_TRUE(is_valid_utf8(text));
  text[text.size() / 2 + 1] = '\xff';
  EXPECT_FALSE(is_valid_utf8(text));
}

}  // namespace
