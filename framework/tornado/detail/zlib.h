// zlib streams with one owner: every z_stream in tornado-cpp is made here
// and ended (inflateEnd / deflateEnd) when its pointer goes, whichever way
// the code using it leaves. Users: gzip request bodies (http1connection),
// gzip response bodies (the HTTP client), gzip responses
// (RequestHandler::finish) and permessage-deflate (WebSocket).
//
//   auto z = tornado::detail::zlib::inflate_stream(tornado::detail::zlib::kGzipWindowBits);
//   if (!z) throw std::runtime_error("out of memory");
//   z->next_in = ...; inflate(z.get(), Z_NO_FLUSH);
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct z_stream_s;  // zlib's z_stream; <zlib.h> stays out of the headers

namespace tornado::detail::zlib {

/// zlib's window_bits for a gzip member (header and trailer) with a 32 KiB
/// window; a negative value means raw DEFLATE (permessage-deflate).
inline constexpr int kGzipWindowBits = 16 + 15;

/// Ends and frees a stream: inflateEnd or deflateEnd, as it was made.
struct StreamEnd {
  bool deflate = false;
  void operator()(z_stream_s* stream) const noexcept;
};
using Stream = std::unique_ptr<z_stream_s, StreamEnd>;

/// A stream after inflateInit2(window_bits); empty if zlib refuses (memory).
Stream inflate_stream(int window_bits);
/// A stream after deflateInit2 (Z_DEFLATED with these parameters; strategy
/// 0 is Z_DEFAULT_STRATEGY); empty if zlib refuses.
Stream deflate_stream(int level, int window_bits, int mem_level = 8, int strategy = 0);

/// `data` compressed as one gzip member (Content-Encoding: gzip), or
/// nothing if zlib fails.
std::optional<std::string> gzip_compress(std::string_view data, int level = 6);

}  // namespace tornado::detail::zlib
