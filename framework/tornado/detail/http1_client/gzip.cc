#include "tornado/detail/http1_client/gzip.h"

#include <zlib.h>

#include <stdexcept>

#include "tornado/httputil.h"

namespace tornado::detail {

GzipDecompressor::GzipDecompressor(std::size_t max_output)
    // A gzip header and trailer, not a raw zlib stream.
    : stream_(zlib::inflate_stream(zlib::kGzipWindowBits)), max_output_(max_output) {
  if (!stream_) throw std::runtime_error("inflateInit2 failed");
}

GzipDecompressor::~GzipDecompressor() = default;

void GzipDecompressor::decompress(std::string_view input, std::string& output) {
  constexpr std::size_t kStep = 64 * 1024;
  z_stream& z = *stream_;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(input.data()));
  z.avail_in = static_cast<uInt>(input.size());
  while (!finished_ && !input.empty()) {
    std::size_t before = output.size();
    output.resize(before + kStep);
    z.next_out = reinterpret_cast<Bytef*>(output.data() + before);
    z.avail_out = static_cast<uInt>(kStep);
    int status = inflate(&z, Z_NO_FLUSH);
    std::size_t produced = kStep - z.avail_out;
    output.resize(before + produced);
    total_output_ += produced;
    if (total_output_ > max_output_) {
      throw httputil::HTTPInputError("Decompressed response body too large");
    }
    if (status == Z_STREAM_END) {
      finished_ = true;
    } else if (status == Z_BUF_ERROR) {
      break;  // no progress possible: all input consumed, more must arrive
    } else if (status != Z_OK) {
      throw httputil::HTTPInputError(std::string("Corrupt gzip response body: ") +
                                     (z.msg ? z.msg : "inflate failed"));
    }
    // A full output step may leave inflated bytes pending inside zlib.
    if (z.avail_in == 0 && z.avail_out != 0) break;
  }
  z.next_in = nullptr;
  z.avail_in = 0;
}

}  // namespace tornado::detail
