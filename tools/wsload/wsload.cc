// wsload: the WebSocket echo load generator of tools/bench/run.
//
// One libuv loop on one core opens N connections to a WebSocket echo server
// (handshake verified, Sec-WebSocket-Accept included), keeps D messages of S
// bytes in flight on each, checks every echoed byte against what was sent, and
// reports messages per second and latency percentiles. Everything a read
// triggers (the next messages, pongs) goes out in one write per read.
//
//   wsload --url ws://127.0.0.1:9000/echo --connections 100 --size 20
//          --depth 1 --duration 10 --warmup 1 --json out.json
//   wsload --url ws://127.0.0.1:9000/echo --connections 10000 --idle
//          --duration 60 --source-addresses 127.0.0.1,127.0.0.2
//
// With --idle the connections are only opened and held (for a server's memory
// per connection) until SIGINT or --duration; "wsload: ready ..." is printed on
// stdout once they are all open.
//
// With --deflate every connection offers permessage-deflate (RFC 7692, as
// browsers do: "permessage-deflate; client_max_window_bits"), sends JSON-like
// text compressed (zlib level 1, context taken over unless the server said
// client_no_context_takeover) and inflates compressed echoes before checking
// them. With --idle too, each connection sends one message and "ready" waits
// for every echo, so the server's compression state exists; the client then
// frees its own. Targets and source addresses must be loopback
// (127.0.0.0/8). Exit status: 0 clean, 1 any error (a wrong echo byte, a
// failed connection or handshake, a connection lost), 2 bad usage.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/detail/uv_handle.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24  // Linux 4.2+; older C libraries lack the name
#endif

namespace {

using tornado::detail::UvHandle;

constexpr std::size_t kReadBufferSize = 256 * 1024;
constexpr std::size_t kPatternSpan = 4096;
// --deflate: far more text than a 32 KiB window, so that an echo cannot be
// compressed as a reference to an earlier message of the same text.
constexpr std::size_t kDeflatePatternSpan = 4u << 20;
constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// ---------------------------------------------------------------------------
// Options

struct Options {
  std::string url;
  std::string host;
  int port = 0;
  std::string path;
  sockaddr_in target{};
  int connections = 1;
  std::size_t size = 20;
  int depth = 1;
  double duration = 10;
  double warmup = 0;
  std::string json_file;
  std::vector<sockaddr_in> sources;
  bool idle = false;
  bool binary = false;
  bool deflate = false;
  int concurrent_connects = 100;
  double connect_timeout = 60;
};

void usage(std::FILE* out) {
  std::fprintf(out,
               "usage: wsload --url ws://127.0.0.1:PORT/PATH [--connections N (1)]\n"
               "              [--size BYTES (20)] [--depth D (1)] [--duration S (10)]\n"
               "              [--warmup S (0)] [--binary] [--deflate] [--json FILE] [--idle]\n"
               "              [--source-addresses A,B,...] [--concurrent-connects N (100)]\n"
               "              [--connect-timeout S (60)]\n");
}

bool is_loopback(const sockaddr_in& addr) {
  return (ntohl(addr.sin_addr.s_addr) >> 24) == 127;
}

bool parse_ipv4(std::string_view text, int port, sockaddr_in& out) {
  std::string host(text == "localhost" ? "127.0.0.1" : text);
  return uv_ip4_addr(host.c_str(), port, &out) == 0;
}

template <class T>
bool parse_number(std::string_view text, T low, T high, T& out) {
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < low || value > high) {
    return false;
  }
  out = value;
  return true;
}

bool parse_url(Options& o) {
  constexpr std::string_view kScheme = "ws://";
  std::string_view url = o.url;
  if (!url.starts_with(kScheme)) return false;
  url.remove_prefix(kScheme.size());
  std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  o.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return false;
  o.host = std::string(authority.substr(0, colon));
  if (!parse_number(authority.substr(colon + 1), 1, 65535, o.port)) return false;
  return parse_ipv4(o.host, o.port, o.target);
}

// Returns an exit status to stop with, or nothing to go on.
std::optional<int> parse_options(int argc, char** argv, Options& o) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "wsload: %s\n", message.c_str());
    return std::optional<int>(2);
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(stdout);
      return 0;
    }
    if (arg == "--idle") {
      o.idle = true;
      continue;
    }
    if (arg == "--binary") {
      o.binary = true;
      continue;
    }
    if (arg == "--deflate") {
      o.deflate = true;
      continue;
    }
    std::string_view name = arg;
    std::string_view value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return fail(std::string(arg) + " needs a value");
    }
    bool ok = true;
    if (name == "--url") {
      o.url = std::string(value);
    } else if (name == "--connections") {
      ok = parse_number(value, 1, 1'000'000, o.connections);
    } else if (name == "--size") {
      ok = parse_number<std::size_t>(value, 0, 256u << 20, o.size);
    } else if (name == "--depth") {
      ok = parse_number(value, 1, 100'000, o.depth);
    } else if (name == "--duration") {
      ok = parse_number(value, 0.0, 86400.0, o.duration);
    } else if (name == "--warmup") {
      ok = parse_number(value, 0.0, 3600.0, o.warmup);
    } else if (name == "--json") {
      o.json_file = std::string(value);
    } else if (name == "--concurrent-connects") {
      ok = parse_number(value, 1, 100'000, o.concurrent_connects);
    } else if (name == "--connect-timeout") {
      ok = parse_number(value, 0.1, 3600.0, o.connect_timeout);
    } else if (name == "--source-addresses") {
      std::string_view list = value;
      while (!list.empty()) {
        std::size_t comma = list.find(',');
        sockaddr_in addr{};
        if (!parse_ipv4(list.substr(0, comma), 0, addr)) {
          return fail("bad source address: " + std::string(list.substr(0, comma)));
        }
        if (!is_loopback(addr)) {
          return fail("source addresses must be loopback (127.0.0.0/8)");
        }
        o.sources.push_back(addr);
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      }
    } else {
      return fail("unknown flag " + std::string(name));
    }
    if (!ok) return fail("bad value for " + std::string(name) + ": " + std::string(value));
  }
  if (o.url.empty()) return fail("--url is required");
  if (o.deflate && o.binary) return fail("--deflate sends JSON-like text: no --binary");
  if (!parse_url(o)) return fail("bad --url (want ws://IPV4:PORT/PATH): " + o.url);
  if (!is_loopback(o.target)) return fail("the target must be loopback (127.0.0.0/8)");
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Latency histogram: log-linear buckets of nanoseconds, 64 per power of two
// (under 1.6% error), a fixed 30 KiB whatever the number of samples.

class Histogram {
 public:
  void record(std::uint64_t ns) {
    ++counts_[index(ns)];
    ++total_;
    sum_ += ns;
    max_ = std::max(max_, ns);
  }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return total_ ? static_cast<double>(sum_) / total_ : 0.0; }

  // The value under which a fraction q of the samples fall.
  std::uint64_t percentile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_));
    if (rank >= total_) rank = total_ - 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return std::min(midpoint(i), max_);
    }
    return max_;
  }

 private:
  static constexpr unsigned kSubBits = 6;
  static constexpr std::size_t kLinear = 2u << kSubBits;  // values below are exact

  static std::size_t index(std::uint64_t v) {
    if (v < kLinear) return static_cast<std::size_t>(v);
    unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
    unsigned shift = msb - kSubBits;
    std::uint64_t sub = (v >> shift) - (1u << kSubBits);
    return kLinear + (shift - 1) * (1u << kSubBits) + static_cast<std::size_t>(sub);
  }
  static std::uint64_t midpoint(std::size_t i) {
    if (i < kLinear) return i;
    std::size_t k = i - kLinear;
    unsigned shift = static_cast<unsigned>(k >> kSubBits) + 1;
    std::uint64_t sub = (k & ((1u << kSubBits) - 1)) + (1u << kSubBits);
    return (sub << shift) + ((std::uint64_t{1} << shift) >> 1);
  }

  std::array<std::uint64_t, kLinear + 58 * (1u << kSubBits)> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
};

// ---------------------------------------------------------------------------
// Frames

// xorshift64*: masking keys and payload patterns need speed, not secrecy.
class FastRandom {
 public:
  explicit FastRandom(std::uint64_t seed) : state_(seed ? seed : 0x9e3779b97f4a7c15u) {}
  std::uint64_t next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1du;
  }

 private:
  std::uint64_t state_;
};

void mask_copy(char* dst, const char* src, std::size_t n, std::uint32_t key) {
  std::uint64_t key8 = (std::uint64_t{key} << 32) | key;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, src + i, 8);
    word ^= key8;
    std::memcpy(dst + i, &word, 8);
  }
  std::array<char, 8> bytes;
  std::memcpy(bytes.data(), &key8, 8);
  for (; i < n; ++i) dst[i] = static_cast<char>(src[i] ^ bytes[i & 7]);
}

// Appends one masked client frame (FIN set) to out.
void append_frame(std::string& out, unsigned opcode, std::string_view payload, FastRandom& rng) {
  std::size_t len = payload.size();
  std::size_t at = out.size();
  std::size_t header = 2 + (len < 126 ? 0 : len < 65536 ? 2 : 8) + 4;
  out.resize(at + header + len);
  char* p = out.data() + at;
  *p++ = static_cast<char>(0x80 | opcode);
  if (len < 126) {
    *p++ = static_cast<char>(0x80 | len);
  } else if (len < 65536) {
    *p++ = static_cast<char>(0x80 | 126);
    *p++ = static_cast<char>(len >> 8);
    *p++ = static_cast<char>(len);
  } else {
    *p++ = static_cast<char>(0x80 | 127);
    for (int k = 7; k >= 0; --k) *p++ = static_cast<char>(std::uint64_t{len} >> (8 * k));
  }
  auto key = static_cast<std::uint32_t>(rng.next());
  std::memcpy(p, &key, 4);
  p += 4;
  mask_copy(p, payload.data(), len, key);
}

std::string accept_key(std::string_view key) {
  std::string input(key);
  input += kWebSocketGuid;
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  std::array<unsigned char, 32> encoded{};
  int n = EVP_EncodeBlock(encoded.data(), digest.data(), SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(n));
}

std::string base64(const unsigned char* data, int n) {
  std::array<unsigned char, 64> encoded{};
  int m = EVP_EncodeBlock(encoded.data(), data, n);
  return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(m));
}

// The value of header `lower_name` (given in lower case, with its colon) in
// an HTTP head, or nothing.
std::optional<std::string_view> header_value(std::string_view head, std::string_view lower_name) {
  std::size_t pos = 0;
  while ((pos = head.find('\n', pos)) != std::string_view::npos) {
    ++pos;
    std::string_view line = head.substr(pos);
    if (line.size() < lower_name.size()) break;
    bool match = true;
    for (std::size_t i = 0; i < lower_name.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(line[i])) == lower_name[i];
    }
    if (!match) continue;
    line.remove_prefix(lower_name.size());
    line = line.substr(0, line.find('\r'));
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    return line;
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// permessage-deflate (--deflate)

struct DeflateEnd {
  void operator()(z_stream* z) const noexcept {
    deflateEnd(z);
    std::default_delete<z_stream>()(z);
  }
};
struct InflateEnd {
  void operator()(z_stream* z) const noexcept {
    inflateEnd(z);
    std::default_delete<z_stream>()(z);
  }
};
using DeflateStream = std::unique_ptr<z_stream, DeflateEnd>;
using InflateStream = std::unique_ptr<z_stream, InflateEnd>;

constexpr std::string_view kDeflateTail("\x00\x00\xff\xff", 4);

// The agreed parameters the client needs from the server's
// Sec-WebSocket-Extensions answer, or nothing if it did not accept.
struct DeflateAnswer {
  bool client_no_context_takeover = false;
  int client_max_window_bits = 15;
};
std::optional<DeflateAnswer> parse_deflate_answer(std::string_view value) {
  if (!value.starts_with("permessage-deflate")) return std::nullopt;
  DeflateAnswer answer;
  if (value.find("client_no_context_takeover") != std::string_view::npos) {
    answer.client_no_context_takeover = true;
  }
  constexpr std::string_view kBits = "client_max_window_bits=";
  if (auto at = value.find(kBits); at != std::string_view::npos) {
    std::string_view digits = value.substr(at + kBits.size());
    if (!digits.empty() && digits.front() == '"') digits.remove_prefix(1);
    if (digits.empty()) return std::nullopt;
    digits = digits.substr(0, digits[0] == '1' ? 2 : 1);
    if (!parse_number(digits, 8, 15, answer.client_max_window_bits)) return std::nullopt;
  }
  return answer;
}

// Text like a JSON event stream: repeated keys, varying values.
std::string json_like_pattern(std::size_t size) {
  constexpr std::array<std::string_view, 6> kEvents = {"price_update", "order_filled", "login",
                                                       "heartbeat",    "chat_message", "logout"};
  constexpr std::array<std::string_view, 5> kSymbols = {"ACME", "GLOBEX", "INITECH", "UMBRELLA",
                                                        "HOOLI"};
  FastRandom rng(0x7f4a7c15u);
  std::string out;
  out.reserve(size + 256);
  while (out.size() < size) {
    auto pick = [&](std::uint64_t n) { return static_cast<std::size_t>(rng.next() % n); };
    out += "{\"id\":" + std::to_string(100000 + pick(900000)) + ",\"user\":\"user" +
           std::to_string(pick(10000)) + "\",\"event\":\"" + std::string(kEvents[pick(6)]) +
           "\",\"symbol\":\"" + std::string(kSymbols[pick(5)]) +
           "\",\"bid\":" + std::to_string(pick(100000)) + "." + std::to_string(10 + pick(90)) +
           ",\"size\":" + std::to_string(pick(5000)) +
           ",\"ts\":" + std::to_string(1765000000000u + pick(100000000)) + "},";
  }
  out.resize(size);
  return out;
}

// ---------------------------------------------------------------------------
// The load

enum class Phase { Connecting, Warmup, Measuring, Idle, Done };

enum ErrorKind { kConnect, kHandshake, kMismatch, kProtocol, kLost, kErrorKinds };
constexpr std::array<const char*, kErrorKinds> kErrorNames = {"connect", "handshake", "mismatch",
                                                              "protocol", "lost"};

class Load;

struct Connection {
  uv_tcp_t tcp{};  // first: the handle and the Connection are one allocation
  Load* load = nullptr;
  std::uint32_t id = 0;
  enum class State { Connecting, Handshaking, Open, Closing } state = State::Connecting;
  uv_connect_t connect_req{};
  std::string head;  // the handshake response so far
  std::string expected_accept;
  // Messages: seq numbers sent and echoed, and when each in flight was sent.
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::vector<std::uint64_t> sent_at;
  // The server frame being read.
  std::array<unsigned char, 10> header{};
  unsigned header_len = 0;
  std::uint64_t payload_left = 0;
  unsigned opcode = 0;
  bool fin = false;
  bool in_message = false;
  std::uint64_t message_offset = 0;
  std::string control;  // a control frame's payload (<= 125 bytes)
  // permessage-deflate, once the server agreed (--deflate).
  bool deflate = false;
  bool client_no_context_takeover = false;
  DeflateStream compressor;
  InflateStream decompressor;
  bool compressed = false;         // the message being read has RSV1 set
  std::string compressed_payload;  // its payload so far
};

struct OwnedWrite {
  uv_write_t req{};
  std::string data;
};

class Load {
 public:
  Load(uv_loop_t* loop, Options options)
      : loop_(loop), o_(std::move(options)), rng_(uv_hrtime() ^ 0x5bd1e995u) {
    read_buffer_.resize(kReadBufferSize);
    // Payloads are windows into one pattern; consecutive messages start at
    // different offsets, so an echo of the wrong message does not compare equal.
    constexpr std::string_view kText =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;-_!?";
    FastRandom pattern_rng(0x1234567u);
    pattern_.resize(o_.size + kPatternSpan);
    for (char& ch : pattern_) {
      std::uint64_t r = pattern_rng.next();
      ch = o_.binary ? static_cast<char>(r >> 56) : kText[(r >> 32) % kText.size()];
    }
    // Random letters barely compress: compressed echoes carry JSON-like text.
    if (o_.deflate) pattern_ = json_like_pattern(o_.size + kDeflatePatternSpan);
    opcode_ = o_.binary ? 2 : 1;
  }

  void start() {
    raise_fd_limit();
    for (int signum : {SIGINT, SIGTERM}) {
      auto& sig = signals_.emplace_back(std::make_unique<uv_signal_t>());
      uv_signal_init(loop_, sig.get());
      sig->data = this;
      uv_signal_start(
          sig.get(), [](uv_signal_t* s, int) noexcept { static_cast<Load*>(s->data)->on_signal(); },
          signum);
    }
    phase_timer_ = make_timer();
    // A hard bound on the whole run, whatever happens.
    deadline_timer_ = make_timer();
    double bound = o_.connect_timeout + o_.warmup + o_.duration + 10;
    uv_timer_start(
        deadline_timer_.get(),
        [](uv_timer_t* t) noexcept {
          auto* self = static_cast<Load*>(t->data);
          std::fprintf(stderr, "wsload: deadline reached, stopping\n");
          self->finish();
        },
        static_cast<std::uint64_t>(bound * 1000), 0);

    conns_.reserve(static_cast<std::size_t>(o_.connections));
    start_ns_ = uv_hrtime();
    uv_timer_start(
        phase_timer_.get(),
        [](uv_timer_t* t) noexcept { static_cast<Load*>(t->data)->connect_timed_out(); },
        static_cast<std::uint64_t>(o_.connect_timeout * 1000), 0);
    while (launched_ < o_.connections && launched_ - open_ - failed_ < o_.concurrent_connects) {
      launch();
    }
  }

  int report() const {
    std::uint64_t errors = 0;
    for (auto e : errors_) errors += e;
    double measured_s = static_cast<double>(measure_end_ns_ - measure_start_ns_) / 1e9;
    double rate = measured_s > 0 ? static_cast<double>(messages_) / measured_s : 0.0;
    auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
    double connect_s = static_cast<double>(connected_ns_ - start_ns_) / 1e9;

    std::printf("wsload: %s  connections %d/%d  size %zu B %s  depth %d\n", o_.url.c_str(),
                max_open_, o_.connections, o_.size, o_.binary ? "binary" : "text", o_.depth);
    std::printf("  connect     %.2f s\n", connect_s);
    if (!o_.idle) {
      std::printf("  measured    %.2f s, %llu messages\n", measured_s,
                  static_cast<unsigned long long>(messages_));
      std::printf("  messages/s  %.0f  (%.1f MiB/s each way)\n", rate,
                  rate * static_cast<double>(o_.size) / (1024.0 * 1024.0));
      if (o_.deflate && messages_ > 0) {
        std::printf("  compressed  %.0f B per echoed message\n",
                    static_cast<double>(compressed_in_) / static_cast<double>(messages_));
      }
      std::printf("  latency us  p50 %.0f  p90 %.0f  p99 %.0f  p999 %.0f  max %.0f  mean %.0f\n",
                  us(hist_.percentile(0.5)), us(hist_.percentile(0.9)), us(hist_.percentile(0.99)),
                  us(hist_.percentile(0.999)), us(hist_.max()), hist_.mean() / 1000.0);
    }
    std::printf("  errors      %llu", static_cast<unsigned long long>(errors));
    for (int k = 0; k < kErrorKinds; ++k) {
      if (errors_[k]) {
        std::printf("  %s %llu", kErrorNames[k], static_cast<unsigned long long>(errors_[k]));
      }
    }
    std::printf("\n");
    std::fflush(stdout);

    if (!o_.json_file.empty()) {
      std::FILE* f = std::fopen(o_.json_file.c_str(), "w");
      if (!f) {
        std::fprintf(stderr, "wsload: cannot write %s\n", o_.json_file.c_str());
        return 1;
      }
      std::fprintf(f,
                   "{\n  \"url\": \"%s\",\n  \"mode\": \"%s\",\n  \"connections\": %d,\n"
                   "  \"connected\": %d,\n  \"size\": %zu,\n  \"depth\": %d,\n"
                   "  \"binary\": %s,\n  \"connect_s\": %.3f,\n",
                   o_.url.c_str(), o_.idle ? "idle" : "echo", o_.connections, max_open_, o_.size,
                   o_.depth, o_.binary ? "true" : "false", connect_s);
      if (!o_.idle) {
        std::fprintf(f,
                     "  \"duration_s\": %.3f,\n  \"warmup_s\": %.3f,\n  \"messages\": %llu,\n"
                     "  \"messages_per_s\": %.1f,\n  \"bytes_per_s\": %.1f,\n"
                     "  \"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, "
                     "\"p999\": %.1f, \"max\": %.1f, \"mean\": %.1f},\n",
                     measured_s, o_.warmup, static_cast<unsigned long long>(messages_), rate,
                     rate * static_cast<double>(o_.size), us(hist_.percentile(0.5)),
                     us(hist_.percentile(0.9)), us(hist_.percentile(0.99)),
                     us(hist_.percentile(0.999)), us(hist_.max()), hist_.mean() / 1000.0);
      }
      if (o_.deflate && messages_ > 0) {
        std::fprintf(f, "  \"compressed_bytes_per_message\": %.1f,\n",
                     static_cast<double>(compressed_in_) / static_cast<double>(messages_));
      }
      std::fprintf(f, "  \"errors\": %llu,\n  \"error_kinds\": {",
                   static_cast<unsigned long long>(errors));
      for (int k = 0; k < kErrorKinds; ++k) {
        std::fprintf(f, "%s\"%s\": %llu", k ? ", " : "", kErrorNames[k],
                     static_cast<unsigned long long>(errors_[k]));
      }
      std::fprintf(f, "}\n}\n");
      std::fclose(f);
    }
    bool ok = errors == 0 && max_open_ == o_.connections && (o_.idle || messages_ > 0);
    return ok ? 0 : 1;
  }

 private:
  UvHandle<uv_timer_t> make_timer() {
    UvHandle<uv_timer_t> timer(std::make_unique<uv_timer_t>());
    uv_timer_init(loop_, timer.get());
    timer->data = this;
    return timer;
  }

  static void raise_fd_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
  }

  // --- connecting ---

  void launch() {
    auto owned = std::make_unique<Connection>();
    Connection* c = owned.get();
    c->load = this;
    c->id = static_cast<std::uint32_t>(launched_++);
    c->sent_at.resize(static_cast<std::size_t>(o_.depth));
    if (int rc = uv_tcp_init_ex(loop_, &c->tcp, AF_INET); rc != 0) {
      std::fprintf(stderr, "wsload: socket: %s\n", uv_strerror(rc));
      c->tcp.data = nullptr;
      connection_failed(nullptr, kConnect);
      return;
    }
    c->tcp.data = owned.get();
    conns_.push_back(std::move(owned));
    if (!o_.sources.empty()) {
      // The port is picked at connect time, per destination, so that 10,000
      // connections do not run out of ephemeral ports at bind time.
      uv_os_fd_t fd;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      }
      const sockaddr_in& src = o_.sources[c->id % o_.sources.size()];
      if (int rc = uv_tcp_bind(&c->tcp, reinterpret_cast<const sockaddr*>(&src), 0); rc != 0) {
        note_error(kConnect, c, uv_strerror(rc));
        connection_failed(c, kErrorKinds);
        return;
      }
    }
    c->connect_req.data = c;
    if (int rc = uv_tcp_connect(&c->connect_req, &c->tcp,
                                reinterpret_cast<const sockaddr*>(&o_.target), on_connect);
        rc != 0) {
      note_error(kConnect, c, uv_strerror(rc));
      connection_failed(c, kErrorKinds);
    }
  }

  static void on_connect(uv_connect_t* req, int status) noexcept {
    auto* c = static_cast<Connection*>(req->data);
    Load* self = c->load;
    if (status == UV_ECANCELED) return;
    if (status < 0) {
      self->note_error(kConnect, c, uv_strerror(status));
      self->connection_failed(c, kErrorKinds);
      return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    std::array<unsigned char, 16> nonce{};
    RAND_bytes(nonce.data(), static_cast<int>(nonce.size()));
    std::string key = base64(nonce.data(), static_cast<int>(nonce.size()));
    c->expected_accept = accept_key(key);
    std::string request = "GET " + self->o_.path + " HTTP/1.1\r\nHost: " + self->o_.host + ":" +
                          std::to_string(self->o_.port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: " +
                          key + "\r\nSec-WebSocket-Version: 13\r\n" +
                          (self->o_.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
                                              "client_max_window_bits\r\n"
                                            : "") +
                          "\r\n";
    c->state = Connection::State::Handshaking;
    self->batch_ = std::move(request);
    if (!self->flush(c)) return;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
  }

  // The client's zlib streams, as the server's answer allows.
  bool start_deflate(Connection* c, std::optional<std::string_view> answer_header) {
    auto answer = answer_header ? parse_deflate_answer(*answer_header) : std::nullopt;
    if (!answer) {
      note_error(kHandshake, c, "permessage-deflate was not accepted");
      connection_failed(c, kErrorKinds);
      return false;
    }
    c->deflate = true;
    c->client_no_context_takeover = answer->client_no_context_takeover;
    // zlib has no raw 8-bit window: 9 bits with distance-1 matches only.
    int bits = answer->client_max_window_bits;
    c->compressor.reset(std::make_unique<z_stream>().release());
    c->decompressor.reset(std::make_unique<z_stream>().release());
    if (deflateInit2(c->compressor.get(), 1, Z_DEFLATED, -std::max(bits, 9), 8,
                     bits == 8 ? Z_RLE : Z_DEFAULT_STRATEGY) != Z_OK ||
        inflateInit2(c->decompressor.get(), -15) != Z_OK) {
      note_error(kHandshake, c, "zlib could not start");
      connection_failed(c, kErrorKinds);
      return false;
    }
    return true;
  }

  // Appends the compressed form of `message` (tail removed) to out.
  bool compress(Connection* c, std::string_view message, std::string& out) {
    z_stream* z = c->compressor.get();
    std::size_t start = out.size();
    out.resize(start + deflateBound(z, static_cast<uLong>(message.size())) + 16);
    z->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(message.data()));
    z->avail_in = static_cast<uInt>(message.size());
    z->next_out = reinterpret_cast<Bytef*>(out.data() + start);
    z->avail_out = static_cast<uInt>(out.size() - start);
    int rc = deflate(z, Z_SYNC_FLUSH);
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || z->avail_in != 0 || z->avail_out == 0) return false;
    out.resize(out.size() - z->avail_out);
    if (std::string_view(out).substr(start).ends_with(kDeflateTail)) out.resize(out.size() - 4);
    if (out.size() == start) out.push_back('\0');  // an empty stored block's header
    if (c->client_no_context_takeover) deflateReset(z);
    return true;
  }

  // Inflates the compressed message just read into inflated_ (at most one
  // byte more than was sent, so a longer echo is caught without growing).
  bool inflate_message(Connection* c) {
    if (phase_ == Phase::Measuring) compressed_in_ += c->compressed_payload.size();
    c->compressed_payload.append(kDeflateTail);
    z_stream* z = c->decompressor.get();
    inflated_.resize(o_.size + 1);
    z->next_in = reinterpret_cast<Bytef*>(c->compressed_payload.data());
    z->avail_in = static_cast<uInt>(c->compressed_payload.size());
    z->next_out = reinterpret_cast<Bytef*>(inflated_.data());
    z->avail_out = static_cast<uInt>(inflated_.size());
    while (z->avail_in > 0 && z->avail_out > 0) {
      int rc = inflate(z, Z_SYNC_FLUSH);
      if (rc == Z_STREAM_END) {
        inflateReset(z);  // a final block: what follows is the tail
        break;
      }
      if (rc == Z_BUF_ERROR) break;
      if (rc != Z_OK) return false;
    }
    inflated_.resize(inflated_.size() - z->avail_out);
    c->compressed_payload.clear();
    return true;
  }

  void connection_open(Connection* c) {
    c->state = Connection::State::Open;
    ++open_;
    max_open_ = std::max(max_open_, open_);
    if (o_.idle && c->deflate) {
      // One message, so that the server's compression state exists.
      send_initial(c);
      if (c->state != Connection::State::Open) return;
    }
    if (phase_ == Phase::Connecting) {
      next_launch();
    } else if (phase_ == Phase::Warmup || phase_ == Phase::Measuring) {
      send_initial(c);  // opened after the timeout: it still joins in
    }
  }

  // A connection that never opened (kind counts it) or was lost (kind is
  // kErrorKinds when the caller already counted it).
  void connection_failed(Connection* c, ErrorKind kind) {
    if (kind != kErrorKinds) ++errors_[kind];
    if (c == nullptr) {
      ++failed_;
      if (phase_ == Phase::Connecting) next_launch();
      return;
    }
    bool was_open = c->state == Connection::State::Open;
    bool closing = c->state == Connection::State::Closing;
    close(c);
    if (was_open) {
      --open_;
      if (c->deflate && c->received > 0) --idle_echoed_;
      idle_ready();
    } else if (!closing) {
      ++failed_;
      if (phase_ == Phase::Connecting) next_launch();
    }
    if (open_ == 0 && phase_ != Phase::Connecting && phase_ != Phase::Done) finish();
  }

  void next_launch() {
    while (launched_ < o_.connections && launched_ - open_ - failed_ < o_.concurrent_connects) {
      launch();
    }
    if (open_ + failed_ == o_.connections) connect_phase_over();
  }

  // Connections still opening are given up and counted as errors.
  void connect_timed_out() {
    std::fprintf(stderr, "wsload: connect timeout with %d of %d open\n", open_, o_.connections);
    errors_[kConnect] += static_cast<std::uint64_t>(o_.connections - launched_);
    launched_ = o_.connections;
    for (auto& c : conns_) {
      if (c && (c->state == Connection::State::Connecting ||
                c->state == Connection::State::Handshaking)) {
        ++errors_[kConnect];
        ++failed_;
        close(c.get());
      }
    }
    connect_phase_over();
  }

  void connect_phase_over() {
    if (phase_ != Phase::Connecting) return;
    connected_ns_ = uv_hrtime();
    uv_timer_stop(phase_timer_.get());
    if (open_ == 0) {
      std::fprintf(stderr, "wsload: no connection could be opened\n");
      finish();
      return;
    }
    if (o_.idle) {
      phase_ = Phase::Idle;
      idle_ready();
      return;
    }
    phase_ = o_.warmup > 0 ? Phase::Warmup : Phase::Measuring;
    measure_start_ns_ = uv_hrtime();
    for (auto& c : conns_) {
      if (c && c->state == Connection::State::Open) send_initial(c.get());
    }
    if (phase_ == Phase::Warmup) {
      start_phase_timer(o_.warmup, [](Load* self) {
        self->phase_ = Phase::Measuring;
        self->measure_start_ns_ = uv_hrtime();
        self->start_phase_timer(self->o_.duration, [](Load* s) { s->finish(); });
      });
    } else {
      start_phase_timer(o_.duration, [](Load* self) { self->finish(); });
    }
  }

  // Idle connections are ready once open and, with --deflate, echoed once.
  void idle_ready() {
    if (phase_ != Phase::Idle || idle_announced_) return;
    if (o_.deflate && idle_echoed_ < open_) return;
    idle_announced_ = true;
    std::printf("wsload: ready, %d connections open\n", open_);
    std::fflush(stdout);
    measure_start_ns_ = uv_hrtime();
    start_phase_timer(o_.duration, [](Load* self) { self->finish(); });
  }

  void start_phase_timer(double seconds, void (*then)(Load*)) {
    phase_then_ = then;
    uv_timer_start(
        phase_timer_.get(),
        [](uv_timer_t* t) noexcept {
          auto* self = static_cast<Load*>(t->data);
          self->phase_then_(self);
        },
        static_cast<std::uint64_t>(seconds * 1000), 0);
  }

  void on_signal() {
    if (phase_ == Phase::Done) return;
    std::fprintf(stderr, "wsload: interrupted\n");
    finish();
  }

  // Ends the run: figures are frozen, every connection gets a close frame and
  // the socket is closed shortly after.
  void finish() {
    if (phase_ == Phase::Done) return;
    if (phase_ == Phase::Connecting) connected_ns_ = uv_hrtime();
    measure_end_ns_ = uv_hrtime();
    if (phase_ == Phase::Warmup || phase_ == Phase::Connecting) measure_start_ns_ = measure_end_ns_;
    phase_ = Phase::Done;
    for (auto& c : conns_) {
      if (!c) continue;
      if (c->state == Connection::State::Open) {
        c->state = Connection::State::Closing;
        constexpr std::array<char, 2> kNormalClosure = {0x03, static_cast<char>(0xe8)};  // 1000
        batch_.clear();
        append_frame(batch_, 8, std::string_view(kNormalClosure.data(), 2), rng_);
        flush(c.get());
      } else if (c->state == Connection::State::Connecting) {
        close(c.get());  // cancels the connect request
      } else {
        c->state = Connection::State::Closing;
      }
    }
    uv_timer_stop(deadline_timer_.get());
    uv_timer_start(
        phase_timer_.get(),
        [](uv_timer_t* t) noexcept { static_cast<Load*>(t->data)->shut_down(); }, 300, 0);
  }

  void shut_down() {
    for (auto& c : conns_) {
      if (c) close(c.get());
    }
    phase_timer_.close();
    deadline_timer_.close();
    signals_.clear();
  }

  void close(Connection* c) {
    auto* handle = reinterpret_cast<uv_handle_t*>(&c->tcp);
    if (uv_is_closing(handle)) return;
    c->state = Connection::State::Closing;
    // The Connection outlives its handle's close callback: conns_ owns it.
    uv_close(handle, nullptr);
  }

  void note_error(ErrorKind kind, const Connection* c, const std::string& what) {
    ++errors_[kind];
    if (++error_lines_ <= 10) {
      std::fprintf(stderr, "wsload: connection %u: %s: %s\n", c ? c->id : 0u, kErrorNames[kind],
                   what.c_str());
    }
  }

  // --- messages ---

  std::string_view expected(const Connection* c, std::uint64_t seq) const {
    std::size_t start = static_cast<std::size_t>((seq * 131 + c->id * 17) % kPatternSpan);
    if (o_.deflate) {
      // Scattered over the whole text: no two recent messages overlap.
      std::uint64_t h = seq * 0x9e3779b97f4a7c15u + c->id * 0xc2b2ae3d27d4eb4fu;
      start = static_cast<std::size_t>((h >> 16) % kDeflatePatternSpan);
    }
    return std::string_view(pattern_.data() + start, o_.size);
  }

  void queue_message(Connection* c) {
    c->sent_at[c->sent % c->sent_at.size()] = now_;
    if (c->deflate) {
      compressed_.clear();
      if (!compress(c, expected(c, c->sent), compressed_)) {
        note_error(kProtocol, c, "deflate failed");
        connection_failed(c, kErrorKinds);
        return;
      }
      append_frame(batch_, opcode_ | 0x40, compressed_, rng_);  // RSV1: compressed
    } else {
      append_frame(batch_, opcode_, expected(c, c->sent), rng_);
    }
    ++c->sent;
  }

  void send_initial(Connection* c) {
    now_ = uv_hrtime();
    batch_.clear();
    while (c->state == Connection::State::Open &&
           c->sent - c->received < static_cast<std::uint64_t>(o_.depth)) {
      queue_message(c);
    }
    if (c->state != Connection::State::Open) return;
    flush(c);
  }

  void message_done(Connection* c) {
    std::uint64_t sent_at = c->sent_at[c->received % c->sent_at.size()];
    ++c->received;
    if (phase_ == Phase::Measuring) {
      ++messages_;
      hist_.record(now_ - sent_at);
    }
    if (phase_ == Phase::Warmup || phase_ == Phase::Measuring) queue_message(c);
    if (o_.idle && c->deflate) {
      // The client sends nothing more: its own zlib state can go.
      c->compressor.reset();
      c->decompressor.reset();
      ++idle_echoed_;
      idle_ready();
    }
  }

  // Writes batch_ to c and empties it: what the socket takes now, the rest
  // copied and queued.
  bool flush(Connection* c) {
    if (batch_.empty()) return true;
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
    uv_buf_t buf = uv_buf_init(batch_.data(), static_cast<unsigned>(batch_.size()));
    int written = uv_try_write(stream, &buf, 1);
    if (written == UV_EAGAIN) written = 0;
    if (written < 0) {
      batch_.clear();
      if (c->state != Connection::State::Closing) note_error(kLost, c, uv_strerror(written));
      connection_failed(c, kErrorKinds);
      return false;
    }
    if (static_cast<std::size_t>(written) == batch_.size()) {
      batch_.clear();
      return true;
    }
    auto write = std::make_unique<OwnedWrite>();
    write->data.assign(batch_, static_cast<std::size_t>(written));
    batch_.clear();
    uv_buf_t rest = uv_buf_init(write->data.data(), static_cast<unsigned>(write->data.size()));
    write->req.data = write.get();
    if (uv_write(&write->req, stream, &rest, 1, [](uv_write_t* req, int) noexcept {
          std::unique_ptr<OwnedWrite> owner(static_cast<OwnedWrite*>(req->data));
        }) != 0) {
      connection_failed(c, kLost);
      return false;
    }
    write.release();
    return true;
  }

  static void on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) noexcept {
    // One loop, one thread: each read is consumed before the next.
    auto* self = static_cast<Connection*>(handle->data)->load;
    *buf = uv_buf_init(self->read_buffer_.data(), static_cast<unsigned>(kReadBufferSize));
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
    auto* c = static_cast<Connection*>(stream->data);
    Load* self = c->load;
    if (nread == 0) return;
    if (nread < 0) {
      if (c->state == Connection::State::Handshaking) {
        self->note_error(kHandshake, c, "closed during the handshake");
        self->connection_failed(c, kErrorKinds);
      } else if (c->state == Connection::State::Open) {
        self->note_error(kLost, c, uv_strerror(static_cast<int>(nread)));
        self->connection_failed(c, kErrorKinds);
      } else {
        self->close(c);
      }
      return;
    }
    std::string_view data(buf->base, static_cast<std::size_t>(nread));
    self->batch_.clear();
    self->now_ = uv_hrtime();
    if (c->state == Connection::State::Handshaking) {
      data = self->read_handshake(c, data);
      if (c->state != Connection::State::Open) return;
    }
    if (c->state == Connection::State::Closing) return;
    if (!self->read_frames(c, data)) return;
    self->flush(c);
  }

  // Consumes the 101 response; returns what follows it.
  std::string_view read_handshake(Connection* c, std::string_view data) {
    std::size_t before = c->head.size();
    c->head.append(data);
    std::size_t end = c->head.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c->head.size() > 16384) {
        note_error(kHandshake, c, "response head too long");
        connection_failed(c, kErrorKinds);
      }
      return {};
    }
    std::string_view head(c->head.data(), end + 2);
    if (!head.starts_with("HTTP/1.1 101")) {
      note_error(kHandshake, c, std::string(head.substr(0, head.find('\r'))));
      connection_failed(c, kErrorKinds);
      return {};
    }
    auto accept = header_value(head, "sec-websocket-accept:");
    if (!accept || *accept != c->expected_accept) {
      note_error(kHandshake, c, "wrong Sec-WebSocket-Accept");
      connection_failed(c, kErrorKinds);
      return {};
    }
    if (o_.deflate && !start_deflate(c, header_value(head, "sec-websocket-extensions:"))) {
      return {};
    }
    std::size_t consumed = end + 4 - before;
    std::string().swap(c->head);
    connection_open(c);
    return data.substr(consumed);
  }

  // Parses server frames, verifying data against what was sent; false when
  // the connection was dropped.
  bool read_frames(Connection* c, std::string_view data) {
    auto* in = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t n = data.size();
    std::size_t i = 0;
    while (i < n) {
      if (c->payload_left == 0) {
        // Gather the header (2, 4 or 10 bytes) byte by byte only when split.
        auto need = [&]() -> unsigned {
          if (c->header_len < 2) return 2;
          unsigned len7 = c->header[1] & 0x7f;
          return 2u + (len7 == 126 ? 2u : len7 == 127 ? 8u : 0u);
        };
        while (i < n && c->header_len < need()) c->header[c->header_len++] = in[i++];
        if (c->header_len < need()) break;
        if (!start_frame(c)) return false;
        if (c->payload_left == 0 && !finish_frame(c)) return false;
        continue;
      }
      std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(c->payload_left, n - i));
      std::string_view bytes(data.data() + i, chunk);
      i += chunk;
      c->payload_left -= chunk;
      if (c->opcode >= 8) {
        c->control.append(bytes);
      } else if (c->compressed) {
        c->compressed_payload.append(bytes);
      } else {
        std::string_view want = expected(c, c->received);
        if (c->message_offset + chunk > want.size() ||
            std::memcmp(want.data() + c->message_offset, bytes.data(), chunk) != 0) {
          return mismatch(c, bytes);
        }
        c->message_offset += chunk;
      }
      if (c->payload_left == 0 && !finish_frame(c)) return false;
    }
    return true;
  }

  bool start_frame(Connection* c) {
    const auto& h = c->header;
    c->fin = (h[0] & 0x80) != 0;
    c->opcode = h[0] & 0x0f;
    unsigned len7 = h[1] & 0x7f;
    std::uint64_t len = len7;
    if (len7 == 126) len = (std::uint64_t{h[2]} << 8) | h[3];
    if (len7 == 127) {
      len = 0;
      for (int k = 0; k < 8; ++k) len = (len << 8) | h[2 + k];
    }
    const char* problem = nullptr;
    if ((h[1] & 0x80) != 0) problem = "masked server frame";
    bool rsv1 = (h[0] & 0x40) != 0;
    bool compressed_start = rsv1 && c->deflate && (c->opcode == 1 || c->opcode == 2);
    if ((h[0] & 0x70) != 0 && !compressed_start) problem = "RSV bits set";
    if (c->opcode >= 8 && (len > 125 || !c->fin)) problem = "bad control frame";
    if (c->opcode == 0 && !c->in_message) problem = "continuation without a message";
    if ((c->opcode == 1 || c->opcode == 2) && c->in_message) problem = "new message inside one";
    if ((c->opcode >= 3 && c->opcode <= 7) || c->opcode > 10) problem = "reserved opcode";
    if (problem) {
      note_error(kProtocol, c, problem);
      connection_failed(c, kErrorKinds);
      return false;
    }
    if (c->opcode == 1 || c->opcode == 2) {
      if (c->opcode != opcode_) {
        note_error(kMismatch, c,
                   o_.binary ? "text echo of a binary message" : "binary echo of a text message");
        connection_failed(c, kErrorKinds);
        return false;
      }
      if (c->received == c->sent) {
        note_error(kProtocol, c, "a message nobody sent");
        connection_failed(c, kErrorKinds);
        return false;
      }
      c->in_message = true;
      c->message_offset = 0;
      c->compressed = compressed_start;
    }
    c->payload_left = len;
    c->header_len = 0;
    c->control.clear();
    return true;
  }

  bool finish_frame(Connection* c) {
    if (c->opcode == 9) {
      append_frame(batch_, 10, c->control, rng_);
    } else if (c->opcode == 8) {
      if (phase_ != Phase::Done) {
        note_error(kLost, c, "closed by the server");
        connection_failed(c, kErrorKinds);
      } else {
        close(c);
      }
      return false;
    } else if (c->opcode <= 2 && c->fin) {
      if (c->compressed) {
        if (!inflate_message(c)) {
          note_error(kProtocol, c, "corrupt compressed echo");
          connection_failed(c, kErrorKinds);
          return false;
        }
        std::string_view want = expected(c, c->received);
        if (inflated_ != want) {
          c->message_offset = 0;
          return mismatch(c, inflated_);
        }
        c->message_offset = want.size();
        c->compressed = false;
      }
      if (c->message_offset != o_.size) {
        note_error(kMismatch, c,
                   "echo of " + std::to_string(c->message_offset) + " bytes, sent " +
                       std::to_string(o_.size));
        connection_failed(c, kErrorKinds);
        return false;
      }
      c->in_message = false;
      message_done(c);
    }
    return true;
  }

  bool mismatch(Connection* c, std::string_view got) {
    std::string_view want = expected(c, c->received);
    std::size_t at = 0;
    while (at < got.size() && c->message_offset + at < want.size() &&
           got[at] == want[c->message_offset + at]) {
      ++at;
    }
    std::string what = "message " + std::to_string(c->received) + " differs at byte " +
                       std::to_string(c->message_offset + at);
    if (c->message_offset + at >= want.size()) what += " (echo longer than sent)";
    note_error(kMismatch, c, what);
    connection_failed(c, kErrorKinds);
    return false;
  }

  uv_loop_t* loop_;
  Options o_;
  FastRandom rng_;
  Phase phase_ = Phase::Connecting;
  std::vector<std::unique_ptr<Connection>> conns_;
  int launched_ = 0;
  int open_ = 0;
  int max_open_ = 0;
  int failed_ = 0;
  std::vector<char> read_buffer_;
  std::string pattern_;
  std::string batch_;
  std::string compressed_;           // --deflate: one outgoing message's payload
  std::string inflated_;             // --deflate: one echo, inflated
  int idle_echoed_ = 0;              // --idle --deflate: connections whose echo came
  std::uint64_t compressed_in_ = 0;  // --deflate: compressed echo bytes measured
  bool idle_announced_ = false;
  unsigned opcode_ = 1;
  std::uint64_t now_ = 0;
  std::uint64_t start_ns_ = 0;
  std::uint64_t connected_ns_ = 0;
  std::uint64_t measure_start_ns_ = 0;
  std::uint64_t measure_end_ns_ = 0;
  std::uint64_t messages_ = 0;
  std::array<std::uint64_t, kErrorKinds> errors_{};
  int error_lines_ = 0;
  Histogram hist_;
  UvHandle<uv_timer_t> phase_timer_;
  UvHandle<uv_timer_t> deadline_timer_;
  std::vector<UvHandle<uv_signal_t>> signals_;
  void (*phase_then_)(Load*) = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (auto rc = parse_options(argc, argv, options)) return *rc;
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc;
  {
    auto load = std::make_unique<Load>(&loop, options);
    load->start();
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = load->report();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}
