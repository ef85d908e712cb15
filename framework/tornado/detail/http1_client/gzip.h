// Incremental gzip decoding for response bodies (Content-Encoding: gzip),
// as Tornado's `GzipDecompressor`, with a bound on the inflated size so a
// small hostile body cannot expand into gigabytes.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "tornado/detail/zlib.h"

namespace tornado::detail {

class GzipDecompressor {
 public:
  /// `max_output`: most inflated bytes over the whole stream.
  explicit GzipDecompressor(std::size_t max_output);
  ~GzipDecompressor();
  GzipDecompressor(const GzipDecompressor&) = delete;
  GzipDecompressor& operator=(const GzipDecompressor&) = delete;

  /// Inflates `input` and appends the result to `output`. Throws
  /// httputil::HTTPInputError for corrupt data or past `max_output`. Bytes
  /// after the end of the gzip member are ignored, as Python's zlib does.
  void decompress(std::string_view input, std::string& output);
  /// True once the gzip trailer has been read.
  bool finished() const noexcept { return finished_; }

 private:
  zlib::Stream stream_;
  std::size_t max_output_;
  std::size_t total_output_ = 0;
  bool finished_ = false;
};

}  // namespace tornado::detail
