// The WebSocket protocol below the handler API (RFC 6455): frame encoding,
// a streaming message reader, close codes and the handshake helpers.
//
// This is the codec that Tornado keeps inside `tornado/websocket.py`
// (`WebSocketProtocol13`): `tornado::websocket::WebSocketHandler` and the
// client are built on it and never write protocol bytes themselves.
// permessage_deflate.h adds compression (RFC 7692) on top.
//
// Reading: feed bytes as they arrive, in any split, and take one event at a
// time (a whole data message, a ping, a pong or a close frame):
//
//   ws::MessageReader reader({.role = ws::Role::server, .max_message_size = 10 << 20});
//   std::span<char> input = ...;  // what the socket delivered, mutable
//   while (true) {
//     ws::ReadResult r = reader.read(input);
//     input = input.subspan(r.consumed);
//     if (r.status == ws::ReadStatus::need_more) break;    // all consumed
//     if (r.status == ws::ReadStatus::error) { fail(r.error_code); break; }
//     handle(r.message);  // r.message.payload is valid until the next read()
//   }
//
// Writing: encode a header into a small buffer and send it with the payload
// in one gather write, without copying the payload:
//
//   std::array<char, ws::kMaxFrameHeaderSize> header;
//   std::size_t n = ws::encode_frame_header(header, ws::Opcode::text, payload.size());
//   writev({header.data(), n}, payload);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/detail/utf8.h"

namespace tornado::detail::ws {

// ---------------------------------------------------------------------------
// Opcodes and close codes

/// Frame opcodes (RFC 6455 5.2). Other values are reserved and fail the
/// connection when received.
enum class Opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA,
};

/// True for close, ping and pong: frames that may arrive between the
/// fragments of a data message and carry at most 125 bytes.
constexpr bool is_control(Opcode opcode) noexcept {
  return (static_cast<std::uint8_t>(opcode) & 0x8) != 0;
}

/// Close status codes (RFC 6455 7.4.1), as sent in a close frame.
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
/// Never on the wire: reported when a close frame had no payload.
inline constexpr std::uint16_t no_status = 1005;
/// Never on the wire: reported when the connection dropped without a close.
inline constexpr std::uint16_t abnormal = 1006;
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t mandatory_extension = 1010;
inline constexpr std::uint16_t internal_error = 1011;
}  // namespace close_code

/// Whether `code` may appear in a close frame: 1000-1003, 1007-1014 and the
/// registered/private ranges 3000-4999. 1004-1006, 1015 and all others are
/// invalid on the wire and earn a 1002.
bool is_valid_close_code(std::uint16_t code) noexcept;

/// Which end of the connection this is. Clients mask every frame they send;
/// servers never do (RFC 6455 5.1).
enum class Role : std::uint8_t { server, client };

// ---------------------------------------------------------------------------
// Encoding

/// The 4-byte masking key of a client frame, in wire order.
using MaskingKey = std::array<std::uint8_t, 4>;

/// The largest frame header: 2 bytes, a 64-bit length and a masking key.
inline constexpr std::size_t kMaxFrameHeaderSize = 14;
/// The largest payload of a control frame.
inline constexpr std::size_t kMaxControlPayload = 125;

/// Per-frame flags, as a settings struct: `{.fin = false}`, `{.mask = key}`.
struct FrameOptions {
  /// Last frame of the message.
  bool fin = true;
  /// The permessage-deflate bit: set on the first frame of a compressed message.
  bool rsv1 = false;
  /// Set by clients: the key that the payload is (or will be) masked with.
  std::optional<MaskingKey> mask;
};

/// Writes the header of a frame carrying `payload_size` bytes into `out`
/// and returns its length (2 to 14). Uses the shortest length encoding.
/// Does not touch the payload: a client masks it with mask_payload().
std::size_t encode_frame_header(std::span<char, kMaxFrameHeaderSize> out, Opcode opcode,
                                std::uint64_t payload_size,
                                const FrameOptions& options = {}) noexcept;

/// XORs `data` with `key` in place (masking and unmasking are the same).
/// `offset` is the position of data[0] within the frame's payload, so a
/// payload can be processed in pieces.
void mask_payload(std::span<char> data, MaskingKey key, std::uint64_t offset = 0) noexcept;

/// Appends a whole frame (header, then the payload, masked if
/// `options.mask` is set) to `out`. Convenient for control frames and tests;
/// large payloads are better sent with encode_frame_header() and writev.
void append_frame(std::string& out, Opcode opcode, std::string_view payload,
                  const FrameOptions& options = {});

/// The payload of a close frame, as Tornado's `close(code, reason)` builds
/// it: empty when there is neither code nor reason, code 1000 when only a
/// reason is given. The reason is cut at a code point boundary so the
/// payload fits in 125 bytes. The code is not checked: callers that take
/// codes from users check is_valid_close_code() first.
std::string make_close_payload(std::optional<std::uint16_t> code, std::string_view reason = {});

/// A fresh, unpredictable masking key for a client frame (RFC 6455 5.3),
/// from OpenSSL's CSPRNG, drawn in batches per thread.
MaskingKey generate_masking_key();

// ---------------------------------------------------------------------------
// A growable byte buffer with an exact growth cap

/// A byte buffer that grows geometrically but never past a caller-given cap,
/// and without zero-filling: the reader and the inflater use it so a hostile
/// message can never make them allocate more than the message size limit.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(ByteBuffer&&) noexcept = default;
  ByteBuffer& operator=(ByteBuffer&&) noexcept = default;

  char* data() noexcept { return data_.get(); }
  const char* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  std::string_view view() const noexcept { return {data_.get(), size_}; }

  /// Makes room for `extra` more bytes; growth is capped at
  /// max(cap, size() + extra) bytes in total.
  void reserve_more(std::size_t extra, std::size_t cap);
  /// Appends `bytes`, growing as reserve_more(bytes.size(), cap).
  void append(std::string_view bytes, std::size_t cap);
  /// The writable space after the contents, to fill and then commit().
  std::span<char> spare() noexcept { return {data_.get() + size_, capacity_ - size_}; }
  void commit(std::size_t n) noexcept { size_ += n; }
  /// Empties the buffer; frees the memory when it holds more than `keep` bytes
  /// so one huge message does not pin memory for the connection's lifetime.
  void clear(std::size_t keep);

 private:
  std::unique_ptr<char[]> data_;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

// ---------------------------------------------------------------------------
// Reading

/// One event produced by the reader.
struct Message {
  /// text or binary (a whole message, fragments joined and inflated),
  /// ping, pong or close. Never continuation.
  Opcode opcode = Opcode::text;
  /// The message, the ping/pong data, or the close reason (valid UTF-8 for
  /// text and close). Lifetime: see MessageReader::read().
  std::string_view payload;
  /// Close frames only: the peer's code, or close_code::no_status when the
  /// frame had no payload.
  std::uint16_t close_code = 0;
};

enum class ReadStatus : std::uint8_t {
  /// Everything offered was consumed; no complete event yet.
  need_more,
  /// `message` holds an event; input after it was not consumed.
  message,
  /// The peer broke the protocol: send a close frame with `error_code` and
  /// drop the connection. The reader stays failed.
  error,
};

struct ReadResult {
  ReadStatus status = ReadStatus::need_more;
  /// Bytes of the input consumed by this call.
  std::size_t consumed = 0;
  Message message;
  /// For errors: the close code to send (1002 protocol error, 1007 invalid
  /// UTF-8 or compressed data, 1009 message too big, 1011 internal error).
  std::uint16_t error_code = 0;
  /// For errors: a short static description, for logs and the close reason.
  std::string_view error_reason;
};

class Inflater;  // permessage_deflate.h
enum class InflateStatus : std::uint8_t;

struct ReaderOptions {
  /// server: incoming frames must be masked; client: they must not be.
  Role role = Role::server;
  /// Largest data message accepted, across fragments and after inflation
  /// (Tornado's `websocket_max_message_size`, default 10 MiB).
  std::uint64_t max_message_size = 10 * 1024 * 1024;
};

/// Turns raw bytes into WebSocket events, enforcing RFC 6455 (and RFC 7692
/// when given an Inflater): masking by role, reserved bits and opcodes,
/// fragmentation rules, control frame limits, close payloads, UTF-8 of text
/// (checked incrementally, so a bad byte fails before the message ends) and
/// the message size limit (checked on each frame header, before its payload
/// arrives). Control frames may arrive between fragments of a data message
/// and are returned in wire order.
class MessageReader {
 public:
  /// `inflater` is set when permessage-deflate was negotiated; without it a
  /// frame with RSV1 is a protocol error.
  explicit MessageReader(ReaderOptions options = {}, std::unique_ptr<Inflater> inflater = nullptr);
  ~MessageReader();
  MessageReader(MessageReader&&) noexcept;
  MessageReader& operator=(MessageReader&&) noexcept;

  /// Consumes bytes from `input` until one event is complete, and returns it
  /// with the number of bytes consumed; bytes after the event are left for
  /// the next call. Splits may fall anywhere: partial headers and payloads
  /// are kept by the reader, so the caller may discard consumed bytes.
  ///
  /// Masked payloads are unmasked in place, which is why `input` is mutable.
  /// Lifetime of `message.payload`: an unfragmented, uncompressed data frame
  /// or a control frame that arrived whole inside `input` is returned as a
  /// view into `input` (zero-copy), valid while the caller keeps those bytes;
  /// any other message is a view into the reader's own buffers, valid until
  /// the next call to read(). Either way, handle the event before calling
  /// read() again or before discarding the consumed bytes.
  ///
  /// After a close frame has been returned, further input is consumed and
  /// ignored (RFC 6455 5.5.1: nothing follows a close frame).
  ReadResult read(std::span<char> input);

  /// True once a close frame has been returned.
  bool closed() const noexcept { return state_ == State::closed; }
  /// True once read() returned an error.
  bool failed() const noexcept { return state_ == State::failed; }
  /// True between the first and the last fragment of a data message.
  bool in_message() const noexcept { return in_message_; }
  /// True while the reader holds a frame or message in progress (a frame
  /// split across reads, a fragmented or compressed message). Whole frames
  /// read in one piece never need it; it is released at the next frame
  /// boundary with nothing pending (always kept while there is an Inflater).
  bool holds_partial() const noexcept { return partial_ != nullptr; }
  ReaderOptions options() const noexcept { return {role_, max_message_size_}; }
  /// Changes the limit for messages that have not started yet.
  void set_max_message_size(std::uint64_t size) noexcept { max_message_size_ = size; }

 private:
  enum class State : std::uint8_t { header, payload, closed, failed };
  struct Frame;
  struct Partial;

  ReadResult fail(std::size_t consumed, std::uint16_t code, std::string_view reason);
  ReadResult fail_inflate(std::size_t consumed, InflateStatus status);
  ReadResult deliver_control(std::size_t consumed, Opcode opcode, std::string_view payload);
  ReadResult deliver_data(std::size_t consumed);
  // Checks the first two header bytes; returns a reason on a protocol error.
  std::string_view check_first_bytes(std::uint8_t b0, std::uint8_t b1) const noexcept;
  // Starts a frame that does not end in this read, or belongs to a
  // fragmented or compressed message; returns an error result or nothing.
  std::optional<ReadResult> begin_frame(const Frame& frame, std::size_t consumed);
  std::optional<ReadResult> take_payload(std::span<char> chunk, std::size_t consumed);
  std::uint64_t wire_limit() const noexcept;
  Partial& partial();
  void release_partial() noexcept;
  static std::unique_ptr<Partial>& spare_partial() noexcept;

  // An idle reader is these three words: everything about a frame or a
  // message in progress, the Inflater and a failure's reason are in
  // `partial_`, made when one spans reads (or there is an Inflater).
  std::uint64_t max_message_size_;
  std::unique_ptr<Partial> partial_;
  std::uint16_t error_code_ = 0;  // repeated by read() once failed
  Role role_;
  State state_ = State::header;
  bool in_message_ = false;       // between the fragments of a data message
  bool release_buffers_ = false;  // the last event pointed into our buffers
};

// ---------------------------------------------------------------------------
// Handshake

/// The GUID that RFC 6455 4.2.2 appends to the key before hashing.
inline constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Whether a Sec-WebSocket-Key value is base64 of exactly 16 bytes (24
/// characters ending in "==").
bool is_valid_websocket_key(std::string_view key) noexcept;

/// The Sec-WebSocket-Accept value for a key: base64(SHA-1(key + GUID)).
std::string compute_accept_key(std::string_view key);

/// A fresh random Sec-WebSocket-Key for a client handshake.
std::string generate_websocket_key();

/// One `name` or `name=value` parameter of an extension.
struct ExtensionParam {
  std::string name;
  std::optional<std::string> value;
  bool operator==(const ExtensionParam&) const = default;
};

/// One element of a Sec-WebSocket-Extensions list.
struct Extension {
  std::string name;
  std::vector<ExtensionParam> params;
  bool operator==(const Extension&) const = default;
};

/// Parses a Sec-WebSocket-Extensions value (RFC 6455 9.1): a comma-separated
/// list of `token *(";" token ["=" (token / quoted-string)])`. Names are
/// lower-cased and quoted values unquoted. Returns nothing when the value is
/// malformed. Several header lines are parsed joined with ", ".
std::optional<std::vector<Extension>> parse_extensions(std::string_view header);

/// Formats one extension as a Sec-WebSocket-Extensions element.
std::string format_extension(const Extension& extension);

/// Parses a Sec-WebSocket-Protocol value: a comma-separated list of tokens,
/// in the client's order of preference. Returns nothing when malformed.
std::optional<std::vector<std::string>> parse_subprotocols(std::string_view header);

}  // namespace tornado::detail::ws
