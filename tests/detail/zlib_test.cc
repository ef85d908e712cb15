// tornado::detail::zlib (detail/zlib.h): streams that end themselves, and
// the one-shot gzip of RequestHandler::finish.
#include "tornado/detail/zlib.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

namespace tornado::detail::zlib {
namespace {

// Inflates a whole input with a fresh stream of `window_bits`.
std::string inflate_all(std::string_view input, int window_bits) {
  Stream stream = inflate_stream(window_bits);
  EXPECT_TRUE(stream);
  std::string out(1 << 20, '\0');
  stream->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  stream->avail_in = static_cast<uInt>(input.size());
  stream->next_out = reinterpret_cast<Bytef*>(out.data());
  stream->avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(stream.get(), Z_FINISH), Z_STREAM_END);
  out.resize(stream->total_out);
  return out;
}

TEST(ZlibTest, GzipCompressMakesOneGzipMember) {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "tornado-cpp " + std::to_string(i) + "\n";
  auto gzipped = gzip_compress(text);
  ASSERT_TRUE(gzipped);
  ASSERT_GE(gzipped->size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>((*gzipped)[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>((*gzipped)[1]), 0x8b);
  EXPECT_LT(gzipped->size(), text.size() / 4);
  EXPECT_EQ(inflate_all(*gzipped, kGzipWindowBits), text);
  auto empty = gzip_compress("");
  ASSERT_TRUE(empty);
  EXPECT_EQ(inflate_all(*empty, kGzipWindowBits), "");
}

TEST(ZlibTest, RawDeflateStreamRoundTrips) {
  Stream deflater = deflate_stream(Z_BEST_COMPRESSION, -15, 9);
  ASSERT_TRUE(deflater);
  const std::string text(5000, 'x');
  std::string out(deflateBound(deflater.get(), text.size()), '\0');
  deflater->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  deflater->avail_in = static_cast<uInt>(text.size());
  deflater->next_out = reinterpret_cast<Bytef*>(out.data());
  deflater->avail_out = static_cast<uInt>(out.size());
  ASSERT_EQ(deflate(deflater.get(), Z_FINISH), Z_STREAM_END);
  out.resize(deflater->total_out);
  EXPECT_EQ(inflate_all(out, -15), text);
}

TEST(ZlibTest, RefusedParametersGiveNoStream) {
  EXPECT_FALSE(inflate_stream(99));
  EXPECT_FALSE(deflate_stream(42, -15));
}

}  // namespace
}  // namespace tornado::detail::zlib
