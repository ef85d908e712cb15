// permessage-deflate (RFC 7692): negotiation, and the zlib streams that
// compress outgoing and inflate incoming WebSocket messages.
//
// Tornado enables it when `get_compression_options()` returns a dict
// (`compression_level`, `mem_level`); tornado-cpp takes the same two and
// the four negotiation parameters of the RFC in DeflateOptions.
//
// Server side:
//
//   ws::DeflateOptions options{.compression_level = 6};
//   auto offers = ws::parse_extensions(request_header);      // the client's offers
//   auto agreed = offers ? ws::negotiate_deflate(*offers, options) : std::nullopt;
//   if (agreed) {
//     set_header("Sec-WebSocket-Extensions", agreed->response);
//     ws::Deflater deflater = ws::make_deflater(ws::Role::server, agreed->params, options);
//     ws::MessageReader reader({.role = ws::Role::server},
//                              ws::make_inflater(ws::Role::server, agreed->params));
//     std::string payload;
//     deflater.compress("You said: hi", payload);  // send with FrameOptions{.rsv1 = true}
//   }
//
// Client side: send make_deflate_offer(options), then check the server's
// answer with accept_deflate_response().
//
// Window bits 8: zlib refuses a raw deflate stream with a 256-byte window.
// When the peer limits our window to 8 bits, the Deflater compresses with a
// 512-byte window but only emits matches at distance 1 (zlib's Z_RLE
// strategy), which every decoder with a 256-byte window reads correctly.
// The Inflater always inflates with at least a 512-byte window, which also
// reads peers whose zlib quietly used 9 bits where 8 were agreed.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tornado/detail/websocket/protocol.h"
#include "tornado/detail/zlib.h"

namespace tornado::detail::ws {

/// The extension's name in Sec-WebSocket-Extensions.
inline constexpr std::string_view kPerMessageDeflate = "permessage-deflate";

/// What this end wants. On a server, the `*_no_context_takeover` flags and
/// `*_max_window_bits` are added to whatever the client offered; on a client
/// they form the offer.
struct DeflateOptions {
  /// zlib level, 0 (store) to 9; -1 is zlib's default (6).
  int compression_level = -1;
  /// zlib memory level, 1 to 9 (8 is zlib's default).
  int mem_level = 8;
  /// The server resets its compressor after every message.
  bool server_no_context_takeover = false;
  /// The client resets its compressor after every message.
  bool client_no_context_takeover = false;
  /// Upper bound (8 to 15) on the server's compression window.
  std::optional<int> server_max_window_bits;
  /// Upper bound (8 to 15) on the client's compression window.
  std::optional<int> client_max_window_bits;
  /// Free the zlib streams after every message and make them again for the
  /// next one, so that an idle connection holds no compression state: a
  /// direction without context takeover keeps nothing, one with context
  /// takeover keeps only its window (1 << window bits bytes) to prime the
  /// next stream with. Costs a stream set-up per message (see
  /// docs/websocket.md, "Compression and memory").
  bool release_state_between_messages = false;
};

/// The agreed parameters of a connection.
struct DeflateParams {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  int server_max_window_bits = 15;
  int client_max_window_bits = 15;
  bool operator==(const DeflateParams&) const = default;
};

/// A server's acceptance of one offer.
struct DeflateAgreement {
  DeflateParams params;
  /// The Sec-WebSocket-Extensions value to answer with.
  std::string response;
};

/// Server: picks the first permessage-deflate offer it can accept (RFC 7692
/// 5: offers with unknown, duplicate or invalid parameters are declined) and
/// returns the agreement, or nothing when no offer is acceptable. Other
/// extensions in `offers` are ignored.
std::optional<DeflateAgreement> negotiate_deflate(std::span<const Extension> offers,
                                                  const DeflateOptions& options);

/// Client: the Sec-WebSocket-Extensions offer for `options`.
std::string make_deflate_offer(const DeflateOptions& options);

/// Client: checks the server's permessage-deflate response against what
/// was offered; returns the agreed parameters, or nothing when the client
/// must fail the connection (unknown, duplicate or invalid parameters, a
/// window larger than the offer allowed, an offered
/// server_no_context_takeover that was not granted).
std::optional<DeflateParams> accept_deflate_response(const Extension& response,
                                                     const DeflateOptions& offered);

/// Compresses whole messages for one direction of a connection.
class Deflater {
 public:
  /// `window_bits` 8 to 15 as agreed for this direction; throws
  /// std::invalid_argument for values out of range. With `release_state`
  /// the zlib stream is freed after each message (its window saved first
  /// when the context is taken over).
  Deflater(int window_bits, bool no_context_takeover, int level = -1, int mem_level = 8,
           bool release_state = false);
  ~Deflater();
  Deflater(Deflater&&) noexcept;
  Deflater& operator=(Deflater&&) noexcept;

  /// Appends the compressed form of `message` to `out`: the payload of a
  /// frame sent with RSV1 (trailing 00 00 FF FF removed, RFC 7692 7.2.1).
  /// Never empty: an empty message is sent as the single byte 00.
  /// Throws std::runtime_error if zlib fails (it only can on memory).
  void compress(std::string_view message, std::string& out);

  /// Whether a zlib stream is held now (between messages: false when the
  /// state is released).
  bool holds_stream() const noexcept { return stream_ != nullptr; }
  /// Bytes of window kept between messages to prime the next stream.
  std::size_t saved_window() const noexcept { return window_.size(); }

 private:
  void init();
  void release();
  zlib::Stream stream_;  // created on first use
  std::string window_;   // the last window while the stream is released
  int window_bits_;
  int level_;
  int mem_level_;
  bool no_context_takeover_;
  bool release_state_;
};

enum class InflateStatus : std::uint8_t {
  ok,
  /// The output would exceed the limit (close with 1009).
  too_big,
  /// Not a valid DEFLATE stream (close with 1007).
  corrupt,
  /// zlib could not allocate (close with 1011).
  no_memory,
};

/// Inflates incoming messages for one direction of a connection. A message
/// is fed in pieces as its frames arrive; the output accumulates in the
/// inflater and never grows past the limit given to each call plus one
/// byte, so a compression bomb is refused without allocating more.
class Inflater {
 public:
  /// `window_bits` 8 to 15 as agreed for the peer's direction. With
  /// `release_state` the zlib stream and the output buffer are freed after
  /// each message (the window saved first when the context is taken over).
  Inflater(int window_bits, bool no_context_takeover, bool release_state = false);
  ~Inflater();
  Inflater(Inflater&&) noexcept;
  Inflater& operator=(Inflater&&) noexcept;

  /// Inflates the next piece of the current message's compressed payload.
  InflateStatus feed(std::string_view compressed, std::size_t max_output);
  /// Ends the current message (feeds the 00 00 FF FF tail, unless the
  /// message had no compressed bytes at all) and resets the stream when
  /// context takeover is off.
  InflateStatus finish(std::size_t max_output);
  /// The current message inflated so far.
  std::string_view output() const noexcept { return output_.view(); }
  /// Starts the next message's output (keeps a small buffer for reuse).
  void clear_output();
  /// Bytes allocated for output: bounded by the limit plus one.
  std::size_t output_capacity() const noexcept { return output_.capacity(); }
  /// Whether a zlib stream is held now (see Deflater::holds_stream).
  bool holds_stream() const noexcept { return stream_ != nullptr; }
  /// Bytes of window kept between messages to prime the next stream.
  std::size_t saved_window() const noexcept { return window_.size(); }

 private:
  bool init();
  InflateStatus run(std::size_t max_output);
  void restart_stream();
  void release();
  zlib::Stream stream_;  // created on first use
  std::string window_;   // the last window while the stream is released
  ByteBuffer output_;
  int window_bits_;
  bool no_context_takeover_;
  bool release_state_;
  bool stream_ended_ = false;  // the peer sent a block with BFINAL set
  bool tail_ = false;          // run() is reading the 00 00 FF FF tail
  bool message_fed_ = false;   // the current message had compressed bytes
};

/// The compressor for messages sent by `role` under `params`, with the
/// level and memory level of `options`.
Deflater make_deflater(Role role, const DeflateParams& params, const DeflateOptions& options);
/// The inflater for messages received by `role` under `params`, ready to
/// hand to MessageReader (`options` gives release_state_between_messages).
std::unique_ptr<Inflater> make_inflater(Role role, const DeflateParams& params,
                                        const DeflateOptions& options = {});

}  // namespace tornado::detail::ws
