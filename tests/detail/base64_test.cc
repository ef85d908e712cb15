// tornado::detail base64 (detail/base64.h), against RFC 4648's test vectors.
#include "tornado/detail/base64.h"

#include <gtest/gtest.h>

namespace tornado::detail {
namespace {

TEST(Base64Test, EncodesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string_view("\0\xff\xfe", 3)), "AP/+");
}

TEST(Base64Test, DecodeRoundTripsAndKeepsNulBytes) {
  for (std::string_view text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(base64_decode(base64_encode(text)), std::string(text));
  }
  EXPECT_EQ(base64_decode("AP/+"), std::string("\0\xff\xfe", 3));
}

TEST(Base64Test, DecodeRefusesWhatIsNotPaddedBase64) {
  EXPECT_EQ(base64_decode("Zm9"), std::nullopt);   // not a multiple of four
  EXPECT_EQ(base64_decode("Zm9*"), std::nullopt);  // outside the alphabet
  EXPECT_EQ(base64_decode("Zg"), std::nullopt);    // padding left out
}

}  // namespace
}  // namespace tornado::detail
