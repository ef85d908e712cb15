// tornado::detail digests, HMAC, hex and random tokens (detail/crypto.h).
#include "tornado/detail/crypto.h"

#include <gtest/gtest.h>

namespace tornado::detail {
namespace {

TEST(CryptoTest, HexRoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  const std::string hex = hex_encode(all);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(hex.size() - 4), "feff");
  EXPECT_EQ(hex_decode(hex), all);
  EXPECT_EQ(hex_decode("DEADbeef"), std::string("\xde\xad\xbe\xef"));
}

TEST(CryptoTest, HexDecodeRejectsOddLengthsAndNonDigits) {
  EXPECT_EQ(hex_decode("abc"), std::nullopt);
  EXPECT_EQ(hex_decode("zz"), std::nullopt);
  EXPECT_EQ(hex_decode("+1"), std::nullopt);
  EXPECT_EQ(hex_decode(""), std::string());
}

TEST(CryptoTest, DigestsMatchKnownVectors) {
  // FIPS 180 "abc" and RFC 4231 test case 2.
  EXPECT_EQ(digest_hex(EVP_sha1(), "abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hmac_hex(EVP_sha256(), "Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoTest, RandomBytesHaveTheLengthAsked) {
  EXPECT_EQ(random_bytes(16).size(), 16u);
  EXPECT_NE(random_bytes(16), random_bytes(16));
}

TEST(CryptoTest, ConstantTimeEqualComparesLengthAndBytes) {
  EXPECT_TRUE(constant_time_equal("token", "token"));
  EXPECT_FALSE(constant_time_equal("token", "tokem"));
  EXPECT_FALSE(constant_time_equal("token", "token2"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

}  // namespace
}  // namespace tornado::detail
