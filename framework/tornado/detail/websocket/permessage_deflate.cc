// permessage-deflate: RFC 7692 negotiation and raw-DEFLATE streams on zlib.
#include "tornado/detail/websocket/permessage_deflate.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace tornado::detail::ws {
namespace {

// Output buffers larger than this are freed after their message.
constexpr std::size_t kRetainedOutput = 64 * 1024;
// The empty stored block that ends a sync flush (RFC 7692 7.2.1).
constexpr unsigned char kTail[4] = {0x00, 0x00, 0xFF, 0xFF};

constexpr std::string_view kServerNoContextTakeover = "server_no_context_takeover";
constexpr std::string_view kClientNoContextTakeover = "client_no_context_takeover";
constexpr std::string_view kServerMaxWindowBits = "server_max_window_bits";
constexpr std::string_view kClientMaxWindowBits = "client_max_window_bits";

void check_window_bits(std::optional<int> bits, const char* what) {
  if (bits && (*bits < 8 || *bits > 15)) {
    throw std::invalid_argument(std::string(what) + " must be between 8 and 15");
  }
}

// RFC 7692 7.1.2: 1*DIGIT without leading zeros, 8 to 15.
std::optional<int> parse_window_bits(std::string_view value) {
  if (value.size() == 1 && (value[0] == '8' || value[0] == '9')) return value[0] - '0';
  if (value.size() == 2 && value[0] == '1' && value[1] >= '0' && value[1] <= '5') {
    return 10 + (value[1] - '0');
  }
  return std::nullopt;
}

struct Params {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  std::optional<int> server_max_window_bits;
  bool has_client_max_window_bits = false;
  std::optional<int> client_max_window_bits;
};

// Parses the parameters of an offer (client_max_window_bits may lack a
// value there) or of a response (where it must have one). Unknown,
// duplicate or invalid parameters make the element unacceptable.
std::optional<Params> parse_params(const Extension& extension, bool offer) {
  Params p;
  bool seen[4] = {false, false, false, false};
  for (const auto& param : extension.params) {
    int index;
    if (param.name == kServerNoContextTakeover)
      index = 0;
    else if (param.name == kClientNoContextTakeover)
      index = 1;
    else if (param.name == kServerMaxWindowBits)
      index = 2;
    else if (param.name == kClientMaxWindowBits)
      index = 3;
    else
      return std::nullopt;
    if (seen[index]) return std::nullopt;
    seen[index] = true;
    switch (index) {
      case 0:
      case 1:
        if (param.value) return std::nullopt;
        (index == 0 ? p.server_no_context_takeover : p.client_no_context_takeover) = true;
        break;
      case 2:
        if (!param.value) return std::nullopt;
        p.server_max_window_bits = parse_window_bits(*param.value);
        if (!p.server_max_window_bits) return std::nullopt;
        break;
      default:
        p.has_client_max_window_bits = true;
        if (param.value) {
          p.client_max_window_bits = parse_window_bits(*param.value);
          if (!p.client_max_window_bits) return std::nullopt;
        } else if (!offer) {
          return std::nullopt;
        }
        break;
    }
  }
  return p;
}

std::string format_params(const DeflateParams& params, bool server_bits, bool client_bits,
                          bool client_bits_value = true) {
  std::string out(kPerMessageDeflate);
  if (params.server_no_context_takeover) (out += "; ") += kServerNoContextTakeover;
  if (params.client_no_context_takeover) (out += "; ") += kClientNoContextTakeover;
  if (server_bits) {
    ((out += "; ") += kServerMaxWindowBits) += "=" + std::to_string(params.server_max_window_bits);
  }
  if (client_bits) {
    (out += "; ") += kClientMaxWindowBits;
    if (client_bits_value) out += "=" + std::to_string(params.client_max_window_bits);
  }
  return out;
}

// The last `1 << bits` bytes a stream saw, which the next message may refer
// back to; nullopt when zlib cannot give them (then the stream must be kept,
// or the context would be lost). `get` is deflateGetDictionary or
// inflateGetDictionary.
std::optional<std::string> last_window(z_stream& stream, int bits,
                                       int (*get)(z_streamp, Bytef*, uInt*)) {
  std::string window(std::size_t{1} << bits, '\0');
  uInt size = 0;
  if (get(&stream, reinterpret_cast<Bytef*>(window.data()), &size) != Z_OK) return std::nullopt;
  window.resize(size);
  window.shrink_to_fit();
  return window;
}

}  // namespace

// ---------------------------------------------------------------------------
// Negotiation

std::optional<DeflateAgreement> negotiate_deflate(std::span<const Extension> offers,
                                                  const DeflateOptions& options) {
  check_window_bits(options.server_max_window_bits, "server_max_window_bits");
  check_window_bits(options.client_max_window_bits, "client_max_window_bits");
  for (const auto& offer : offers) {
    if (offer.name != kPerMessageDeflate) continue;
    const auto p = parse_params(offer, /*offer=*/true);
    if (!p) continue;  // RFC 7692 5: decline this offer, try the next one
    DeflateParams params;
    params.server_no_context_takeover =
        p->server_no_context_takeover || options.server_no_context_takeover;
    params.client_no_context_takeover =
        p->client_no_context_takeover || options.client_no_context_takeover;
    // Our window: at most what the client allows (7.1.2.1); we may name a
    // limit even when the client did not ask for one.
    params.server_max_window_bits = std::min(p->server_max_window_bits.value_or(15),
                                             options.server_max_window_bits.value_or(15));
    const bool send_server_bits =
        p->server_max_window_bits.has_value() || options.server_max_window_bits.has_value();
    // The client's window may only be limited if the offer names the
    // parameter (7.1.2.2); an offered value is the client's own promise.
    bool send_client_bits = false;
    if (p->has_client_max_window_bits) {
      params.client_max_window_bits = std::min(p->client_max_window_bits.value_or(15),
                                               options.client_max_window_bits.value_or(15));
      send_client_bits =
          p->client_max_window_bits.has_value() || options.client_max_window_bits.has_value();
    }
    return DeflateAgreement{params, format_params(params, send_server_bits, send_client_bits)};
  }
  return std::nullopt;
}

std::string make_deflate_offer(const DeflateOptions& options) {
  check_window_bits(options.server_max_window_bits, "server_max_window_bits");
  check_window_bits(options.client_max_window_bits, "client_max_window_bits");
  DeflateParams params;
  params.server_no_context_takeover = options.server_no_context_takeover;
  params.client_no_context_takeover = options.client_no_context_takeover;
  params.server_max_window_bits = options.server_max_window_bits.value_or(15);
  params.client_max_window_bits = options.client_max_window_bits.value_or(15);
  // client_max_window_bits is always offered: it tells the server that this
  // client can limit its window (down to 8, see the header).
  return format_params(params, options.server_max_window_bits.has_value(), true,
                       options.client_max_window_bits.has_value());
}

std::optional<DeflateParams> accept_deflate_response(const Extension& response,
                                                     const DeflateOptions& offered) {
  if (response.name != kPerMessageDeflate) return std::nullopt;
  const auto p = parse_params(response, /*offer=*/false);
  if (!p) return std::nullopt;
  if (offered.server_no_context_takeover && !p->server_no_context_takeover) return std::nullopt;
  if (offered.server_max_window_bits &&
      (!p->server_max_window_bits ||
       *p->server_max_window_bits > *offered.server_max_window_bits)) {
    return std::nullopt;
  }
  DeflateParams params;
  params.server_no_context_takeover = p->server_no_context_takeover;
  params.client_no_context_takeover =
      p->client_no_context_takeover || offered.client_no_context_takeover;
  params.server_max_window_bits = p->server_max_window_bits.value_or(15);
  params.client_max_window_bits =
      std::min(p->client_max_window_bits.value_or(15), offered.client_max_window_bits.value_or(15));
  return params;
}

Deflater make_deflater(Role role, const DeflateParams& params, const DeflateOptions& options) {
  if (role == Role::server) {
    return Deflater(params.server_max_window_bits, params.server_no_context_takeover,
                    options.compression_level, options.mem_level,
                    options.release_state_between_messages);
  }
  return Deflater(params.client_max_window_bits, params.client_no_context_takeover,
                  options.compression_level, options.mem_level,
                  options.release_state_between_messages);
}

std::unique_ptr<Inflater> make_inflater(Role role, const DeflateParams& params,
                                        const DeflateOptions& options) {
  const bool release = options.release_state_between_messages;
  if (role == Role::server) {
    return std::make_unique<Inflater>(params.client_max_window_bits,
                                      params.client_no_context_takeover, release);
  }
  return std::make_unique<Inflater>(params.server_max_window_bits,
                                    params.server_no_context_takeover, release);
}

// ---------------------------------------------------------------------------
// Deflater

Deflater::Deflater(int window_bits, bool no_context_takeover, int level, int mem_level,
                   bool release_state)
    : window_bits_(window_bits),
      level_(level),
      mem_level_(mem_level),
      no_context_takeover_(no_context_takeover),
      release_state_(release_state) {
  check_window_bits(window_bits, "window_bits");
  if (level < -1 || level > 9) throw std::invalid_argument("compression_level must be -1 to 9");
  if (mem_level < 1 || mem_level > 9) throw std::invalid_argument("mem_level must be 1 to 9");
}

Deflater::~Deflater() = default;
Deflater::Deflater(Deflater&&) noexcept = default;
Deflater& Deflater::operator=(Deflater&&) noexcept = default;

void Deflater::init() {
  // The stream is created lazily: a connection that never sends pays nothing
  // (a deflate state with a 32 KiB window takes about 256 KiB).
  // zlib refuses raw DEFLATE with an 8-bit window; a 9-bit window whose
  // matches all have distance 1 (Z_RLE) stays readable with 256 bytes.
  const int bits = window_bits_ == 8 ? 9 : window_bits_;
  const int strategy = window_bits_ == 8 ? Z_RLE : Z_DEFAULT_STRATEGY;
  auto stream = zlib::deflate_stream(level_, -bits, mem_level_, strategy);
  if (!stream) throw std::runtime_error("deflateInit2 failed");
  if (!window_.empty()) {
    // The peer's decoder still holds these bytes: matches may reach them.
    if (deflateSetDictionary(stream.get(), reinterpret_cast<const Bytef*>(window_.data()),
                             static_cast<uInt>(window_.size())) != Z_OK) {
      throw std::runtime_error("deflateSetDictionary failed");
    }
    std::string().swap(window_);
  }
  stream_ = std::move(stream);
}

void Deflater::release() {
  if (!no_context_takeover_) {
    // What the next message may refer back to: the last window of input.
    // After a sync flush zlib has no lookahead, so this is all of it.
    auto window = last_window(*stream_, window_bits_ == 8 ? 9 : window_bits_, deflateGetDictionary);
    if (!window) return;  // keep the stream: the context must not be lost
    window_ = std::move(*window);
  }
  stream_.reset();
}

void Deflater::compress(std::string_view message, std::string& out) {
  if (!stream_) init();
  z_stream& z = *stream_;
  const char* in = message.data();
  std::size_t left = message.size();
  std::size_t written = out.size();
  const std::size_t start = written;
  out.resize(written + deflateBound(&z, static_cast<uLong>(message.size())) + 16);
  z.avail_in = 0;
  for (;;) {
    if (z.avail_in == 0 && left > 0) {
      const std::size_t chunk = std::min<std::size_t>(left, 1u << 30);
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
      z.avail_in = static_cast<uInt>(chunk);
      in += chunk;
      left -= chunk;
    }
    if (written == out.size()) out.resize(out.size() + (out.size() - start) / 2 + 64);
    const std::size_t room = std::min<std::size_t>(out.size() - written, UINT_MAX);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + written);
    z.avail_out = static_cast<uInt>(room);
    const int flush = left == 0 ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    const int rc = deflate(&z, flush);
    written += room - z.avail_out;
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      out.resize(start);
      throw std::runtime_error("deflate failed");
    }
    // A sync flush is complete once zlib returns with output space to spare.
    if (flush == Z_SYNC_FLUSH && z.avail_in == 0 && z.avail_out != 0) break;
  }
  out.resize(written);
  if (written - start >= 4 && std::memcmp(out.data() + written - 4, kTail, 4) == 0) {
    out.resize(written - 4);
  }
  // After an earlier flush zlib emits nothing for an empty message. An
  // empty payload would make the peer inflate the bare 00 00 FF FF tail as
  // the start of a stored block and corrupt its stream, so send the header
  // of an empty stored block instead (RFC 7692 7.2.3.6).
  if (out.size() == start) out.push_back('\0');
  if (release_state_)
    release();
  else if (no_context_takeover_)
    deflateReset(&z);
}

// ---------------------------------------------------------------------------
// Inflater

Inflater::Inflater(int window_bits, bool no_context_takeover, bool release_state)
    : window_bits_(window_bits),
      no_context_takeover_(no_context_takeover),
      release_state_(release_state) {
  check_window_bits(window_bits, "window_bits");
}

Inflater::~Inflater() = default;
Inflater::Inflater(Inflater&&) noexcept = default;
Inflater& Inflater::operator=(Inflater&&) noexcept = default;

bool Inflater::init() {
  // At least 9 bits: see "Window bits 8" in the header.
  auto stream = zlib::inflate_stream(-std::max(window_bits_, 9));
  if (!stream) return false;
  if (!window_.empty()) {
    // Raw inflate takes a dictionary at any time before its first input.
    if (inflateSetDictionary(stream.get(), reinterpret_cast<const Bytef*>(window_.data()),
                             static_cast<uInt>(window_.size())) != Z_OK) {
      return false;
    }
    std::string().swap(window_);
  }
  stream_ = std::move(stream);
  return true;
}

void Inflater::release() {
  if (!no_context_takeover_) {
    auto window = last_window(*stream_, std::max(window_bits_, 9), inflateGetDictionary);
    if (!window) return;  // keep the stream: the context must not be lost
    window_ = std::move(*window);
  }
  stream_.reset();
}

void Inflater::clear_output() {
  // Released state means no buffer kept for the next message either.
  output_.clear(release_state_ ? 0 : kRetainedOutput);
}

void Inflater::restart_stream() {
  z_stream& z = *stream_;
  stream_ended_ = false;
  if (no_context_takeover_) {
    inflateReset(&z);
    return;
  }
  // The peer ended a DEFLATE stream (a block with BFINAL set) but may still
  // refer back to earlier messages: carry the window into the new stream.
  const std::size_t window = std::size_t{1} << std::max(window_bits_, 9);
  auto dictionary = std::make_unique_for_overwrite<unsigned char[]>(window);
  uInt size = 0;
  inflateGetDictionary(&z, dictionary.get(), &size);
  inflateReset(&z);
  if (size > 0) inflateSetDictionary(&z, dictionary.get(), size);
}

InflateStatus Inflater::run(std::size_t max_output) {
  z_stream& z = *stream_;
  const std::size_t cap = max_output == SIZE_MAX ? max_output : max_output + 1;
  for (;;) {
    std::span<char> spare = output_.spare();
    if (spare.empty()) {
      if (output_.size() >= cap) return InflateStatus::too_big;
      // Grow towards the likely size, never past the limit plus one byte.
      const std::size_t want =
          std::max<std::size_t>({4096, output_.size(), std::size_t{z.avail_in} * 4});
      try {
        output_.reserve_more(std::min(want, cap - output_.size()), cap);
      } catch (const std::bad_alloc&) {
        return InflateStatus::no_memory;
      }
      spare = output_.spare();
    }
    const auto room = static_cast<uInt>(std::min<std::size_t>(spare.size(), UINT_MAX));
    z.next_out = reinterpret_cast<Bytef*>(spare.data());
    z.avail_out = room;
    const int rc = inflate(&z, Z_SYNC_FLUSH);
    output_.commit(room - z.avail_out);
    if (output_.size() > max_output) return InflateStatus::too_big;
    switch (rc) {
      case Z_OK:
      case Z_BUF_ERROR:
        if (z.avail_in == 0 && z.avail_out != 0) return InflateStatus::ok;
        if (z.avail_out != 0 && rc == Z_BUF_ERROR) return InflateStatus::corrupt;  // no progress
        break;
      case Z_STREAM_END:
        // Input after a final block starts a new stream; the tail after one
        // is padding and is dropped by finish().
        stream_ended_ = true;
        if (z.avail_in == 0) return InflateStatus::ok;
        if (tail_) return InflateStatus::ok;
        restart_stream();
        break;
      case Z_MEM_ERROR:
        return InflateStatus::no_memory;
      default:  // Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR
        return InflateStatus::corrupt;
    }
  }
}

InflateStatus Inflater::feed(std::string_view compressed, std::size_t max_output) {
  if (compressed.empty()) return InflateStatus::ok;
  if (!stream_ && !init()) return InflateStatus::no_memory;
  if (stream_ended_) restart_stream();
  z_stream& z = *stream_;
  tail_ = false;
  message_fed_ = true;
  while (!compressed.empty()) {
    const std::size_t chunk = std::min<std::size_t>(compressed.size(), 1u << 30);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
    z.avail_in = static_cast<uInt>(chunk);
    compressed.remove_prefix(chunk);
    if (InflateStatus status = run(max_output); status != InflateStatus::ok) return status;
  }
  return InflateStatus::ok;
}

InflateStatus Inflater::finish(std::size_t max_output) {
  // A message sent as an empty payload carries no DEFLATE data: appending
  // the tail alone would start a stored block and corrupt the stream.
  if (!std::exchange(message_fed_, false)) return InflateStatus::ok;
  if (!stream_ended_) {
    z_stream& z = *stream_;
    z.next_in = const_cast<Bytef*>(kTail);
    z.avail_in = sizeof kTail;
    tail_ = true;
    const InflateStatus status = run(max_output);
    tail_ = false;
    if (status != InflateStatus::ok) return status;
  }
  if (stream_ended_)
    restart_stream();
  else if (no_context_takeover_ && !release_state_)
    inflateReset(stream_.get());
  if (release_state_) release();
  return InflateStatus::ok;
}

}  // namespace tornado::detail::ws
