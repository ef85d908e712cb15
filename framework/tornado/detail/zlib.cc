#include "tornado/detail/zlib.h"

#include <zlib.h>

namespace tornado::detail::zlib {

void StreamEnd::operator()(z_stream_s* stream) const noexcept {
  if (deflate) {
    deflateEnd(stream);
  } else {
    inflateEnd(stream);
  }
  delete stream;
}

Stream inflate_stream(int window_bits) {
  auto stream = std::make_unique<z_stream>();
  if (inflateInit2(stream.get(), window_bits) != Z_OK) return Stream(nullptr, StreamEnd{false});
  return Stream(stream.release(), StreamEnd{false});
}

Stream deflate_stream(int level, int window_bits, int mem_level, int strategy) {
  auto stream = std::make_unique<z_stream>();
  if (deflateInit2(stream.get(), level, Z_DEFLATED, window_bits, mem_level, strategy) != Z_OK) {
    return Stream(nullptr, StreamEnd{true});
  }
  return Stream(stream.release(), StreamEnd{true});
}

std::optional<std::string> gzip_compress(std::string_view data, int level) {
  Stream stream = deflate_stream(level, kGzipWindowBits);
  if (!stream) return std::nullopt;
  z_stream& z = *stream;
  // deflateBound is the most one Z_FINISH call can write.
  std::string out(deflateBound(&z, static_cast<uLong>(data.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) return std::nullopt;
  out.resize(z.total_out);
  return out;
}

}  // namespace tornado::detail::zlib
