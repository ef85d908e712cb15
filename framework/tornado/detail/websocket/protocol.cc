// RFC 6455 framing, the streaming reader and the handshake helpers.
#include "tornado/detail/websocket/protocol.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "tornado/detail/ascii.h"
#include "tornado/detail/base64.h"
#include "tornado/detail/websocket/permessage_deflate.h"

namespace tornado::detail::ws {
namespace {

// A buffer larger than this is freed once its message has been handled, so
// an idle connection does not keep the memory of its largest message.
constexpr std::size_t kRetainedBuffer = 64 * 1024;
// Large text payloads are unmasked and validated in blocks of this size.
constexpr std::size_t kCacheBlock = 16 * 1024;

std::uint16_t load_be16(const char* p) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint16_t>((u[0] << 8) | u[1]);
}

std::uint64_t load_be64(const char* p) noexcept {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | u[i];
  return v;
}

// Header length implied by the second header byte.
std::size_t header_size(std::uint8_t b1) noexcept {
  std::size_t size = 2;
  std::uint8_t len7 = b1 & 0x7F;
  if (len7 == 126)
    size += 2;
  else if (len7 == 127)
    size += 8;
  if (b1 & 0x80) size += 4;
  return size;
}

}  // namespace

// ---------------------------------------------------------------------------
// Close codes and encoding

bool is_valid_close_code(std::uint16_t code) noexcept {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

std::size_t encode_frame_header(std::span<char, kMaxFrameHeaderSize> out, Opcode opcode,
                                std::uint64_t payload_size, const FrameOptions& options) noexcept {
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  p[0] = static_cast<unsigned char>((options.fin ? 0x80 : 0) | (options.rsv1 ? 0x40 : 0) |
                                    static_cast<std::uint8_t>(opcode));
  const unsigned char mask_bit = options.mask ? 0x80 : 0;
  std::size_t n;
  if (payload_size < 126) {
    p[1] = static_cast<unsigned char>(mask_bit | payload_size);
    n = 2;
  } else if (payload_size <= 0xFFFF) {
    p[1] = mask_bit | 126;
    p[2] = static_cast<unsigned char>(payload_size >> 8);
    p[3] = static_cast<unsigned char>(payload_size);
    n = 4;
  } else {
    p[1] = mask_bit | 127;
    for (int i = 0; i < 8; ++i) p[2 + i] = static_cast<unsigned char>(payload_size >> (56 - 8 * i));
    n = 10;
  }
  if (options.mask) {
    std::memcpy(p + n, options.mask->data(), 4);
    n += 4;
  }
  return n;
}

void mask_payload(std::span<char> data, MaskingKey key, std::uint64_t offset) noexcept {
  // Eight key bytes rotated to `offset`: byte i of the data takes k8[i % 8].
  std::array<unsigned char, 8> k8;
  for (std::size_t i = 0; i < 8; ++i) k8[i] = key[(offset + i) & 3];
  std::uint64_t k;
  std::memcpy(&k, k8.data(), 8);
  char* p = data.data();
  const std::size_t n = data.size();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    std::uint64_t w[4];
    std::memcpy(w, p + i, 32);
    w[0] ^= k;
    w[1] ^= k;
    w[2] ^= k;
    w[3] ^= k;
    std::memcpy(p + i, w, 32);
  }
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    w ^= k;
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i) p[i] = static_cast<char>(p[i] ^ k8[i & 7]);
}

void append_frame(std::string& out, Opcode opcode, std::string_view payload,
                  const FrameOptions& options) {
  std::array<char, kMaxFrameHeaderSize> header;
  const std::size_t n = encode_frame_header(header, opcode, payload.size(), options);
  const std::size_t start = out.size();
  out.append(header.data(), n);
  out.append(payload);
  if (options.mask) mask_payload({out.data() + start + n, payload.size()}, *options.mask);
}

std::string make_close_payload(std::optional<std::uint16_t> code, std::string_view reason) {
  if (!code && reason.empty()) return {};
  const std::uint16_t c = code.value_or(close_code::normal);
  constexpr std::size_t kMaxReason = kMaxControlPayload - 2;
  if (reason.size() > kMaxReason) {
    std::size_t cut = kMaxReason;
    // reason[cut] is the first byte dropped; drop the whole code point it is in.
    while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80) --cut;
    reason = reason.substr(0, cut);
  }
  std::string payload;
  payload.reserve(2 + reason.size());
  payload.push_back(static_cast<char>(c >> 8));
  payload.push_back(static_cast<char>(c & 0xFF));
  payload.append(reason);
  return payload;
}

MaskingKey generate_masking_key() {
  // A RAND_bytes call costs microseconds whatever its size, so keys are
  // drawn from a per-thread pool refilled 1024 keys at a time.
  struct Pool {
    std::array<unsigned char, 4096> bytes;
    std::size_t used = 4096;
  };
  thread_local Pool pool;
  if (pool.used + 4 > pool.bytes.size()) {
    if (RAND_bytes(pool.bytes.data(), static_cast<int>(pool.bytes.size())) != 1) {
      throw std::runtime_error("RAND_bytes failed");
    }
    pool.used = 0;
  }
  MaskingKey key;
  std::memcpy(key.data(), pool.bytes.data() + pool.used, 4);
  pool.used += 4;
  return key;
}

// ---------------------------------------------------------------------------
// ByteBuffer

void ByteBuffer::reserve_more(std::size_t extra, std::size_t cap) {
  if (extra > SIZE_MAX - size_) throw std::length_error("ByteBuffer overflow");
  const std::size_t need = size_ + extra;
  if (need <= capacity_) return;
  std::size_t grown =
      capacity_ > SIZE_MAX / 2 ? SIZE_MAX : std::max<std::size_t>(capacity_ * 2, 256);
  grown = std::min(grown, std::max(cap, need));
  grown = std::max(grown, need);
  auto bigger = std::make_unique_for_overwrite<char[]>(grown);
  if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_);
  data_ = std::move(bigger);
  capacity_ = grown;
}

void ByteBuffer::append(std::string_view bytes, std::size_t cap) {
  if (bytes.empty()) return;
  reserve_more(bytes.size(), cap);
  std::memcpy(data_.get() + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
}

void ByteBuffer::clear(std::size_t keep) {
  size_ = 0;
  if (capacity_ > keep) {
    data_.reset();
    capacity_ = 0;
  }
}

// ---------------------------------------------------------------------------
// MessageReader

// The frame whose header was just read.
struct MessageReader::Frame {
  std::uint64_t length = 0;
  MaskingKey mask{};
  Opcode opcode = Opcode::text;
  bool fin = false;
  bool masked = false;
  bool rsv1 = false;
};

// What the reader keeps between reads while a frame or message is in
// progress: made when one spans reads, released at the next frame boundary.
struct MessageReader::Partial {
  // The frame being read.
  std::uint64_t frame_remaining = 0;
  std::uint64_t frame_offset = 0;
  MaskingKey frame_mask{};
  Opcode frame_opcode = Opcode::text;
  bool frame_fin = false;
  bool frame_masked = false;
  std::uint8_t header_have = 0;  // bytes of a split header gathered so far
  std::array<char, kMaxFrameHeaderSize> header{};

  // The data message being assembled.
  bool message_compressed = false;
  Opcode message_opcode = Opcode::text;
  Utf8Validator utf8;
  std::uint8_t control_size = 0;
  std::uint64_t message_wire_size = 0;
  std::size_t inflated_checked = 0;  // inflated bytes already UTF-8 checked
  ByteBuffer message;

  // A control frame that arrived in pieces.
  std::array<char, kMaxControlPayload> control;

  // permessage-deflate's receiving side: the block is kept while it is set.
  std::unique_ptr<Inflater> inflater;
  // Repeated by read() once failed.
  std::string_view error_reason;
};

MessageReader::MessageReader(ReaderOptions options, std::unique_ptr<Inflater> inflater)
    : max_message_size_(options.max_message_size), role_(options.role) {
  if (inflater) partial().inflater = std::move(inflater);
}
MessageReader::~MessageReader() = default;
MessageReader::MessageReader(MessageReader&&) noexcept = default;
MessageReader& MessageReader::operator=(MessageReader&&) noexcept = default;

std::unique_ptr<MessageReader::Partial>& MessageReader::spare_partial() noexcept {
  // One released block per thread, taken by the next frame that spans
  // reads: connections whose messages are all split (large ones) reuse it
  // and its buffer instead of allocating both per message.
  thread_local std::unique_ptr<Partial> spare;
  return spare;
}

MessageReader::Partial& MessageReader::partial() {
  if (!partial_) {
    auto& spare = spare_partial();
    partial_ = spare ? std::move(spare) : std::make_unique<Partial>();
  }
  return *partial_;
}

void MessageReader::release_partial() noexcept {
  // A compressed connection reads every message through the block: kept.
  if (!partial_ || in_message_ || partial_->inflater) return;
  partial_->message.clear(kRetainedBuffer);
  auto& spare = spare_partial();
  if (!spare) {
    spare = std::move(partial_);
  } else {
    partial_.reset();
  }
}

std::uint64_t MessageReader::wire_limit() const noexcept {
  const std::uint64_t max = max_message_size_;
  if (!partial_->message_compressed) return max;
  // Compressed bytes are streamed into the inflater, never stored, so their
  // limit only stops a message that never ends; incompressible data grows a
  // little under DEFLATE, hence the slack.
  const std::uint64_t slack = max / 8 + 1024;
  return max > UINT64_MAX - slack ? UINT64_MAX : max + slack;
}

ReadResult MessageReader::fail(std::size_t consumed, std::uint16_t code, std::string_view reason) {
  state_ = State::failed;
  in_message_ = false;
  error_code_ = code;
  partial().error_reason = reason;
  ReadResult result;
  result.status = ReadStatus::error;
  result.consumed = consumed;
  result.error_code = code;
  result.error_reason = reason;
  return result;
}

ReadResult MessageReader::fail_inflate(std::size_t consumed, InflateStatus status) {
  switch (status) {
    case InflateStatus::too_big:
      return fail(consumed, close_code::message_too_big, "message too big");
    case InflateStatus::no_memory:
      return fail(consumed, close_code::internal_error, "out of memory");
    default:
      return fail(consumed, close_code::invalid_payload, "invalid compressed data");
  }
}

std::string_view MessageReader::check_first_bytes(std::uint8_t b0, std::uint8_t b1) const noexcept {
  const bool fin = (b0 & 0x80) != 0;
  const bool rsv1 = (b0 & 0x40) != 0;
  if (b0 & 0x30) return "reserved bits set";
  const std::uint8_t op = b0 & 0x0F;
  switch (op) {
    case 0x0:
    case 0x1:
    case 0x2:
    case 0x8:
    case 0x9:
    case 0xA:
      break;
    default:
      return "reserved opcode";
  }
  if (op & 0x8) {
    if (!fin) return "fragmented control frame";
    if ((b1 & 0x7F) > kMaxControlPayload) return "control frame payload over 125 bytes";
    if (rsv1) return "RSV1 set on a control frame";
  } else if (op == 0x0) {
    if (!in_message_) return "continuation frame outside a fragmented message";
    if (rsv1) return "RSV1 set on a continuation frame";
  } else {
    if (in_message_) return "new data frame inside a fragmented message";
    if (rsv1 && !(partial_ && partial_->inflater)) return "RSV1 set without permessage-deflate";
  }
  const bool masked = (b1 & 0x80) != 0;
  if (role_ == Role::server && !masked) return "unmasked frame from a client";
  if (role_ == Role::client && masked) return "masked frame from a server";
  return {};
}

std::optional<ReadResult> MessageReader::begin_frame(const Frame& frame, std::size_t consumed) {
  Partial& p = partial();
  p.frame_opcode = frame.opcode;
  p.frame_fin = frame.fin;
  p.frame_masked = frame.masked;
  p.frame_mask = frame.mask;
  p.frame_remaining = frame.length;
  p.frame_offset = 0;
  if (is_control(frame.opcode)) {
    p.control_size = 0;
  } else {
    if (frame.opcode != Opcode::continuation) {
      in_message_ = true;
      p.message_opcode = frame.opcode;
      p.message_compressed = frame.rsv1;
      p.message_wire_size = 0;
      p.inflated_checked = 0;
      p.utf8.reset();
    }
    if (frame.length > wire_limit() - p.message_wire_size) {
      return fail(consumed, close_code::message_too_big, "message too big");
    }
    p.message_wire_size += frame.length;
  }
  state_ = State::payload;
  return std::nullopt;
}

std::optional<ReadResult> MessageReader::take_payload(std::span<char> chunk, std::size_t consumed) {
  Partial& p = *partial_;
  const std::string_view bytes(chunk.data(), chunk.size());
  if (is_control(p.frame_opcode)) {
    if (bytes.empty()) return std::nullopt;
    std::memcpy(p.control.data() + p.control_size, bytes.data(), bytes.size());
    p.control_size = static_cast<std::uint8_t>(p.control_size + bytes.size());
    return std::nullopt;
  }
  if (bytes.empty()) return std::nullopt;
  if (p.message_compressed) {
    const InflateStatus status = p.inflater->feed(bytes, max_message_size_);
    if (status != InflateStatus::ok) return fail_inflate(consumed, status);
    if (p.message_opcode == Opcode::text) {
      const std::string_view out = p.inflater->output();
      if (!p.utf8.feed(out.substr(p.inflated_checked))) {
        return fail(consumed, close_code::invalid_payload, "invalid UTF-8 in a text message");
      }
      p.inflated_checked = out.size();
    }
    return std::nullopt;
  }
  if (p.message_opcode == Opcode::text && !p.utf8.feed(bytes)) {
    return fail(consumed, close_code::invalid_payload, "invalid UTF-8 in a text message");
  }
  // On a frame's first piece its length is known: size the buffer once when
  // the message stays within what is kept between messages, rather than
  // growing past it (a copy, then a large block freed after every message).
  const std::uint64_t frame_size = p.frame_offset + p.frame_remaining;
  if (p.frame_offset == bytes.size() && p.message.size() + frame_size <= kRetainedBuffer) {
    p.message.reserve_more(static_cast<std::size_t>(frame_size), max_message_size_);
  }
  p.message.append(bytes, max_message_size_);
  return std::nullopt;
}

ReadResult MessageReader::deliver_control(std::size_t consumed, Opcode opcode,
                                          std::string_view payload) {
  ReadResult result;
  result.status = ReadStatus::message;
  result.consumed = consumed;
  result.message.opcode = opcode;
  if (opcode != Opcode::close) {
    result.message.payload = payload;
    return result;
  }
  if (payload.size() == 1) {
    return fail(consumed, close_code::protocol_error, "close frame with a 1-byte payload");
  }
  result.message.close_code = close_code::no_status;
  if (payload.size() >= 2) {
    const std::uint16_t code = load_be16(payload.data());
    if (!is_valid_close_code(code)) {
      return fail(consumed, close_code::protocol_error, "invalid close code");
    }
    const std::string_view reason = payload.substr(2);
    if (!is_valid_utf8(reason)) {
      return fail(consumed, close_code::invalid_payload, "invalid UTF-8 in the close reason");
    }
    result.message.close_code = code;
    result.message.payload = reason;
  }
  state_ = State::closed;
  in_message_ = false;
  return result;
}

ReadResult MessageReader::deliver_data(std::size_t consumed) {
  Partial& p = *partial_;
  std::string_view payload;
  if (p.message_compressed) {
    const InflateStatus status = p.inflater->finish(max_message_size_);
    if (status != InflateStatus::ok) return fail_inflate(consumed, status);
    if (p.message_opcode == Opcode::text &&
        !p.utf8.feed(p.inflater->output().substr(p.inflated_checked))) {
      return fail(consumed, close_code::invalid_payload, "invalid UTF-8 in a text message");
    }
    payload = p.inflater->output();
  } else {
    payload = p.message.view();
  }
  if (p.message_opcode == Opcode::text && !p.utf8.complete()) {
    return fail(consumed, close_code::invalid_payload, "invalid UTF-8 in a text message");
  }
  in_message_ = false;
  release_buffers_ = true;
  ReadResult result;
  result.status = ReadStatus::message;
  result.consumed = consumed;
  result.message.opcode = p.message_opcode;
  result.message.payload = payload;
  return result;
}

ReadResult MessageReader::read(std::span<char> input) {
  if (release_buffers_) {
    if (partial_) {
      partial_->message.clear(kRetainedBuffer);
      if (partial_->inflater) partial_->inflater->clear_output();
    }
    release_buffers_ = false;
  }
  const std::size_t n = input.size();
  if (state_ == State::closed) return {ReadStatus::need_more, n};
  if (state_ == State::failed) {
    ReadResult result;
    result.status = ReadStatus::error;
    result.consumed = n;
    result.error_code = error_code_;
    result.error_reason = partial_->error_reason;
    return result;
  }
  std::size_t pos = 0;
  for (;;) {
    if (state_ == State::header) {
      const char* header = nullptr;
      const bool gathering = partial_ && partial_->header_have > 0;
      if (!gathering && n - pos >= 2) {
        const auto b0 = static_cast<std::uint8_t>(input[pos]);
        const auto b1 = static_cast<std::uint8_t>(input[pos + 1]);
        if (auto reason = check_first_bytes(b0, b1); !reason.empty()) {
          return fail(pos, close_code::protocol_error, reason);
        }
        const std::size_t size = header_size(b1);
        if (n - pos >= size) {
          header = input.data() + pos;
          pos += size;
        }
      }
      if (!header) {
        if (pos == n && !gathering) {
          // At a frame boundary with nothing left: nothing is in progress.
          release_partial();
          return {ReadStatus::need_more, n};
        }
        // The header is split across calls: gather it (at most 14 bytes).
        Partial& p = partial();
        std::size_t need = p.header_have < 2 ? 2 : header_size(p.header[1]);
        while (p.header_have < need) {
          if (pos == n) return {ReadStatus::need_more, n};
          p.header[p.header_have++] = input[pos++];
          if (p.header_have == 2) {
            const auto b0 = static_cast<std::uint8_t>(p.header[0]);
            const auto b1 = static_cast<std::uint8_t>(p.header[1]);
            if (auto reason = check_first_bytes(b0, b1); !reason.empty()) {
              return fail(pos, close_code::protocol_error, reason);
            }
            need = header_size(b1);
          }
        }
        header = p.header.data();
        p.header_have = 0;
      }

      const auto b0 = static_cast<std::uint8_t>(header[0]);
      const auto b1 = static_cast<std::uint8_t>(header[1]);
      Frame frame;
      frame.opcode = static_cast<Opcode>(b0 & 0x0F);
      frame.fin = (b0 & 0x80) != 0;
      frame.rsv1 = (b0 & 0x40) != 0;
      frame.masked = (b1 & 0x80) != 0;
      const std::uint8_t len7 = b1 & 0x7F;
      const char* p = header + 2;
      frame.length = len7;
      if (len7 == 126) {
        frame.length = load_be16(p);
        p += 2;
      } else if (len7 == 127) {
        frame.length = load_be64(p);
        p += 8;
        if (frame.length >> 63) {
          return fail(pos, close_code::protocol_error,
                      "64-bit payload length with the top bit set");
        }
      }
      if (frame.masked) std::memcpy(frame.mask.data(), p, 4);

      // Zero-copy: a control frame, or a whole unfragmented uncompressed
      // message, that is entirely in `input` is unmasked there and returned,
      // without touching the in-progress block.
      const bool control = is_control(frame.opcode);
      const bool whole_message =
          frame.fin && frame.opcode != Opcode::continuation && !control && !frame.rsv1;
      if (frame.length <= n - pos && (whole_message || control)) {
        if (!control && frame.length > max_message_size_) {
          return fail(pos, close_code::message_too_big, "message too big");
        }
        const std::size_t length = static_cast<std::size_t>(frame.length);
        std::span<char> payload = input.subspan(pos, length);
        pos += length;
        const std::string_view view(payload.data(), payload.size());
        if (frame.opcode != Opcode::text) {
          if (frame.masked) mask_payload(payload, frame.mask);
          if (control) return deliver_control(pos, frame.opcode, view);
        } else {
          // Unmask and validate a block at a time, while it is in cache.
          Utf8Validator utf8;
          for (std::size_t done = 0; done < length; done += kCacheBlock) {
            const std::size_t size = std::min(kCacheBlock, length - done);
            if (frame.masked) mask_payload(payload.subspan(done, size), frame.mask, done);
            if (!utf8.feed(view.substr(done, size))) break;
          }
          if (!utf8.complete()) {
            return fail(pos, close_code::invalid_payload, "invalid UTF-8 in a text message");
          }
        }
        ReadResult result;
        result.status = ReadStatus::message;
        result.consumed = pos;
        result.message.opcode = frame.opcode;
        result.message.payload = view;
        return result;
      }
      if (auto error = begin_frame(frame, pos)) return *error;
    }

    // Payload, possibly a piece of it.
    Partial& p = *partial_;
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(p.frame_remaining, n - pos));
    std::span<char> chunk = input.subspan(pos, take);
    if (p.frame_masked) mask_payload(chunk, p.frame_mask, p.frame_offset);
    p.frame_offset += take;
    p.frame_remaining -= take;
    pos += take;
    if (auto error = take_payload(chunk, pos)) return *error;
    if (p.frame_remaining > 0) return {ReadStatus::need_more, pos};
    state_ = State::header;
    if (is_control(p.frame_opcode)) {
      return deliver_control(pos, p.frame_opcode, {p.control.data(), p.control_size});
    }
    if (p.frame_fin) return deliver_data(pos);
    if (pos == n) return {ReadStatus::need_more, n};
  }
}

// ---------------------------------------------------------------------------
// Handshake

namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

struct EvpMdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const noexcept { EVP_MD_CTX_free(ctx); }
};

// A cursor over a header value, for the list grammars of RFC 7230 7.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}
  bool done() const noexcept { return pos_ == text_.size(); }
  char peek() const noexcept { return text_[pos_]; }
  void skip() noexcept { ++pos_; }
  void skip_ows() noexcept {
    while (!done() && (peek() == ' ' || peek() == '\t')) ++pos_;
  }
  std::string_view token() noexcept {
    const std::size_t start = pos_;
    while (!done() && is_tchar(peek())) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // A quoted-string, unescaped; nothing if unterminated or malformed.
  std::optional<std::string> quoted() {
    if (done() || peek() != '"') return std::nullopt;
    ++pos_;
    std::string out;
    while (!done()) {
      char c = text_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (done()) return std::nullopt;
        c = text_[pos_++];
      }
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 && c != '\t') return std::nullopt;
      if (u == 0x7F) return std::nullopt;
      out.push_back(c);
    }
    return std::nullopt;
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

bool is_valid_websocket_key(std::string_view key) noexcept {
  // 16 bytes encode to 22 significant characters and "==".
  if (key.size() != 24 || key[22] != '=' || key[23] != '=') return false;
  return std::all_of(key.begin(), key.begin() + 22,
                     [](char c) { return kBase64Alphabet.find(c) != std::string_view::npos; });
}

std::string compute_accept_key(std::string_view key) {
  std::unique_ptr<EVP_MD_CTX, EvpMdCtxDeleter> ctx(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_size = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), key.data(), key.size()) != 1 ||
      EVP_DigestUpdate(ctx.get(), kWebSocketGuid.data(), kWebSocketGuid.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest, &digest_size) != 1) {
    throw std::runtime_error("SHA-1 failed");
  }
  return base64_encode({reinterpret_cast<const char*>(digest), digest_size});
}

std::string generate_websocket_key() {
  unsigned char nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) throw std::runtime_error("RAND_bytes failed");
  return base64_encode({reinterpret_cast<const char*>(nonce), sizeof nonce});
}

std::optional<std::vector<Extension>> parse_extensions(std::string_view header) {
  std::vector<Extension> extensions;
  Scanner s(header);
  while (true) {
    s.skip_ows();
    if (s.done()) break;
    if (s.peek() == ',') {  // empty list elements are allowed (RFC 7230 7)
      s.skip();
      continue;
    }
    Extension extension;
    const std::string_view name = s.token();
    if (name.empty()) return std::nullopt;
    extension.name = ascii_lower(name);
    s.skip_ows();
    while (!s.done() && s.peek() == ';') {
      s.skip();
      s.skip_ows();
      const std::string_view param = s.token();
      if (param.empty()) return std::nullopt;
      ExtensionParam p{ascii_lower(param), std::nullopt};
      s.skip_ows();
      if (!s.done() && s.peek() == '=') {
        s.skip();
        s.skip_ows();
        if (!s.done() && s.peek() == '"') {
          auto value = s.quoted();
          // RFC 6455 9.1: a quoted value must still be a token once unquoted.
          if (!value || !is_token(*value)) return std::nullopt;
          p.value = std::move(*value);
        } else {
          const std::string_view value = s.token();
          if (value.empty()) return std::nullopt;
          p.value = std::string(value);
        }
        s.skip_ows();
      }
      extension.params.push_back(std::move(p));
    }
    if (!s.done() && s.peek() != ',') return std::nullopt;
    extensions.push_back(std::move(extension));
  }
  return extensions;
}

std::string format_extension(const Extension& extension) {
  std::string out = extension.name;
  for (const auto& param : extension.params) {
    out += "; ";
    out += param.name;
    if (param.value) {
      out += '=';
      out += *param.value;
    }
  }
  return out;
}

std::optional<std::vector<std::string>> parse_subprotocols(std::string_view header) {
  std::vector<std::string> protocols;
  Scanner s(header);
  while (true) {
    s.skip_ows();
    if (s.done()) break;
    if (s.peek() == ',') {
      s.skip();
      continue;
    }
    const std::string_view name = s.token();
    if (name.empty()) return std::nullopt;
    protocols.emplace_back(name);
    s.skip_ows();
    if (!s.done() && s.peek() != ',') return std::nullopt;
  }
  return protocols;
}

}  // namespace tornado::detail::ws
