// bench_ceiling: the upper bound of a server on libuv, for tools/bench/run.
//
// It does the least work a correct-looking server can do, so that every
// framework figure can be read as a fraction of what the loop, the kernel and
// the loopback device allow on this machine:
//
//   HTTP       each request is found by its "\r\n\r\n" and answered with a fixed
//              response ("Hello, World!", or the JSON body when the request
//              line starts with "GET /json"); there is no parsing, so request
//              bodies are not supported.
//   WebSocket  a request carrying Sec-WebSocket-Key gets the 101 handshake;
//              after that each read is unmasked and re-framed into one write,
//              frame by frame as it streams, never buffering a message.
//
// Each read produces at most one write, tried with uv_try_write first; only
// what the socket does not take at once is copied for uv_write. Small answers
// are held until the loop has handled every read of its poll (a check
// handle), as tornado-cpp's streams hold them, so that a load generator
// waiting on many connections is woken once per burst, not once per answer.
//
// With --certfile and --keyfile every connection is TLS (tls.h: OpenSSL on
// memory BIOs): each read's ciphertext is decrypted and handled as above, and
// each write is encrypted as one record, so what it adds to the plain ceiling
// is only what OpenSSL costs.
//
//   bench_ceiling --port 9000 [--address 127.0.0.1] [--backlog 4096]
//                 [--certfile cert.pem --keyfile key.pem [--tls-port 9443]]
//
// With --tls-port, --port stays plain and only the TLS port's connections
// are TLS.

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tls.h"
#include "tornado/detail/uv_handle.h"

namespace {

using tornado::detail::UvHandle;

constexpr std::size_t kReadBufferSize = 64 * 1024;
// Above this much unsent data a connection stops reading until it drains.
constexpr std::size_t kHighWater = 4 * 1024 * 1024;
constexpr std::size_t kLowWater = 1024 * 1024;
// Answers up to this size are held to the end of the poll; a larger one goes
// at once, after what its connection had held.
constexpr std::size_t kHoldLimit = 16 * 1024;
constexpr std::size_t kKeepHeld = 64;

constexpr std::string_view kHeaderEnd = "\r\n\r\n";
constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

struct Options {
  std::string address = "127.0.0.1";
  int port = 8888;
  int backlog = 4096;
  std::string certfile;
  std::string keyfile;
  int tls_port = 0;  // with a certificate: TLS here only, --port plain
};

class Server;

// One accepted connection. The uv_tcp_t is the first member so that libuv's
// handle pointer and the Connection are the same allocation; the close
// callback frees it.
struct Connection {
  uv_tcp_t tcp{};
  Server* server = nullptr;
  bool websocket = false;
  bool reading = false;
  bool close_after_flush = false;
  // HTTP: an incomplete request. WebSocket: an incomplete frame header.
  std::string pending;
  // WebSocket frame being streamed through.
  std::uint64_t payload_left = 0;
  std::array<unsigned char, 4> mask{};
  unsigned mask_phase = 0;
  bool drop_payload = false;
  bool close_frame = false;
  // Answers held until the poll is handled, and whether it is queued for that.
  std::string held;
  bool queued = false;
  bench::TlsConnection tls;  // with --certfile only
};

// A uv_write whose bytes the request owns.
struct OwnedWrite {
  uv_write_t req{};
  std::string data;
};

struct OwnedShutdown {
  uv_shutdown_t req{};
};

void on_connection_closed(uv_handle_t* handle) noexcept {
  std::unique_ptr<Connection> owner(static_cast<Connection*>(handle->data));
}

void close_connection(Connection* c) noexcept {
  auto* handle = reinterpret_cast<uv_handle_t*>(&c->tcp);
  if (!uv_is_closing(handle)) uv_close(handle, on_connection_closed);
}

// Copies n bytes from src to dst, XOR-ing them with the mask starting at
// mask byte `phase`, eight bytes at a time.
void unmask_copy(unsigned char* dst, const unsigned char* src, std::size_t n,
                 const std::array<unsigned char, 4>& mask, unsigned phase) {
  std::array<unsigned char, 8> key8{};
  for (unsigned i = 0; i < 8; ++i) key8[i] = mask[(phase + i) & 3];
  std::uint64_t key;
  std::memcpy(&key, key8.data(), 8);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t word;
    std::memcpy(&word, src + i, 8);
    word ^= key;
    std::memcpy(dst + i, &word, 8);
  }
  for (; i < n; ++i) dst[i] = src[i] ^ key8[i & 7];
}

bool iequals_prefix(std::string_view text, std::string_view lower_prefix) {
  if (text.size() < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != lower_prefix[i]) return false;
  }
  return true;
}

// The Sec-WebSocket-Key value of a request's header block, or empty.
std::string_view websocket_key(std::string_view request) {
  constexpr std::string_view kName = "sec-websocket-key:";
  std::size_t pos = 0;
  while ((pos = request.find('\n', pos)) != std::string_view::npos) {
    ++pos;
    std::string_view line = request.substr(pos);
    if (!iequals_prefix(line, kName)) continue;
    line.remove_prefix(kName.size());
    line = line.substr(0, line.find('\r'));
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    return line;
  }
  return {};
}

std::string accept_key(std::string_view key) {
  std::string input(key);
  input += kWebSocketGuid;
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> encoded{};
  int n = EVP_EncodeBlock(encoded.data(), digest.data(), SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<std::size_t>(n));
}

class Server {
 public:
  Server(uv_loop_t* loop, Options options) : loop_(loop), options_(std::move(options)) {
    read_buffer_.resize(kReadBufferSize);
    // A frame header completed in this read may add up to 10 bytes of output
    // beyond the bytes read.
    out_.resize(kReadBufferSize + 16);
    refresh_responses();
    check_ = UvHandle<uv_check_t>(std::make_unique<uv_check_t>());
    uv_check_init(loop_, check_.get());
    check_->data = this;
  }

  int start() {
    if (!options_.certfile.empty()) {
      std::string error;
      tls_context_ = bench::make_server_context(options_.certfile, options_.keyfile, error);
      if (!tls_context_) {
        std::fprintf(stderr, "bench_ceiling: %s\n", error.c_str());
        return UV_EINVAL;
      }
      plain_.resize(kReadBufferSize);
    }
    if (int rc = listen_on(listener_, options_.port); rc != 0) return rc;
    if (tls_context_ && options_.tls_port != 0) {
      if (int rc = listen_on(tls_listener_, options_.tls_port); rc != 0) return rc;
    }

    date_timer_ = UvHandle<uv_timer_t>(std::make_unique<uv_timer_t>());
    uv_timer_init(loop_, date_timer_.get());
    date_timer_->data = this;
    uv_timer_start(
        date_timer_.get(),
        [](uv_timer_t* t) noexcept { static_cast<Server*>(t->data)->refresh_responses(); }, 1000,
        1000);
    uv_unref(reinterpret_cast<uv_handle_t*>(date_timer_.get()));

    for (int signum : {SIGINT, SIGTERM}) {
      auto& sig = signals_.emplace_back(std::make_unique<uv_signal_t>());
      uv_signal_init(loop_, sig.get());
      sig->data = this;
      uv_signal_start(
          sig.get(), [](uv_signal_t* s, int) noexcept { static_cast<Server*>(s->data)->stop(); },
          signum);
    }
    std::fprintf(stderr, "bench_ceiling: listening on %s:%d\n", options_.address.c_str(),
                 options_.port);
    return 0;
  }

  int listen_on(UvHandle<uv_tcp_t>& listener, int port) {
    sockaddr_in addr{};
    if (int rc = uv_ip4_addr(options_.address.c_str(), port, &addr); rc != 0) return rc;
    listener = UvHandle<uv_tcp_t>(std::make_unique<uv_tcp_t>());
    uv_tcp_init(loop_, listener.get());
    listener->data = this;
    if (int rc = uv_tcp_bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), 0)) {
      return rc;
    }
    return uv_listen(reinterpret_cast<uv_stream_t*>(listener.get()), options_.backlog,
                     on_connection);
  }

  // Stops listening and closes every connection; the loop then runs dry.
  void stop() noexcept {
    listener_.close();
    tls_listener_.close();
    date_timer_.close();
    signals_.clear();
    check_.close();
    uv_walk(
        loop_,
        [](uv_handle_t* h, void*) noexcept {
          if (h->type == UV_TCP && h->data != nullptr && !uv_is_closing(h)) {
            close_connection(static_cast<Connection*>(h->data));
          }
        },
        nullptr);
  }

 private:
  static void on_connection(uv_stream_t* listener, int status) noexcept {
    auto* self = static_cast<Server*>(listener->data);
    if (status < 0) return;
    auto owned = std::make_unique<Connection>();
    Connection* c = owned.get();
    uv_tcp_init(self->loop_, &c->tcp);
    c->tcp.data = owned.release();
    c->server = self;
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      close_connection(c);
      return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    bool tls = self->tls_context_ &&
               (self->options_.tls_port == 0 ||
                listener == reinterpret_cast<uv_stream_t*>(self->tls_listener_.get()));
    if (tls && !c->tls.start(self->tls_context_.get())) {
      close_connection(c);
      return;
    }
    self->start_reading(c);
  }

  void start_reading(Connection* c) noexcept {
    c->reading = true;
    uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp), on_alloc, on_read);
  }

  static void on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) noexcept {
    // One loop, one thread: every read is consumed before the next one, so all
    // connections share the same read buffer.
    auto* self = static_cast<Connection*>(handle->data)->server;
    *buf = uv_buf_init(self->read_buffer_.data(), static_cast<unsigned>(kReadBufferSize));
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) noexcept {
    auto* c = static_cast<Connection*>(stream->data);
    if (nread < 0) {
      close_connection(c);
      return;
    }
    if (nread == 0) return;
    std::string_view data(buf->base, static_cast<std::size_t>(nread));
    Server* self = c->server;
    self->in_read_ = true;
    if (c->tls.ssl) {
      self->feed_tls(c, data);
    } else {
      self->feed_plain(c, data);
    }
    self->in_read_ = false;
  }

  void feed_plain(Connection* c, std::string_view data) {
    if (c->websocket) {
      feed_websocket(c, data);
    } else {
      feed_http(c, data);
    }
  }

  // Ciphertext in: the handshake's answers go out as they are; plaintext is
  // handled as a plain connection's bytes, up to a read buffer at a time.
  void feed_tls(Connection* c, std::string_view cipher) {
    bool was_done = c->tls.handshake_done;
    if (!c->tls.feed(cipher)) {
      close_connection(c);
      return;
    }
    if (!was_done && !send_tls_output(c)) return;
    if (!c->tls.handshake_done) return;
    while (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->tcp))) {
      long n = c->tls.read(plain_.data(), plain_.size());
      if (n < 0) {
        close_connection(c);
        return;
      }
      if (n == 0) break;
      feed_plain(c, std::string_view(plain_.data(), static_cast<std::size_t>(n)));
    }
  }

  // Sends what OpenSSL has written to the output BIO.
  bool send_tls_output(Connection* c) noexcept {
    std::string_view out = c->tls.output();
    if (out.empty()) return true;
    uv_buf_t buf = uv_buf_init(const_cast<char*>(out.data()), static_cast<unsigned>(out.size()));
    bool ok = send_raw(c, std::span<const uv_buf_t>(&buf, 1));
    if (c->tls.ssl) c->tls.discard_output();
    return ok;
  }

  // Writes bufs_, or holds it to the end of the poll when it is small.
  bool write_bufs(Connection* c) noexcept {
    std::size_t total = 0;
    for (const uv_buf_t& b : bufs_) total += b.len;
    if (!in_read_ || c->held.size() + total > kHoldLimit) {
      if (!c->held.empty() && !send_held(c)) return false;
      return send_bufs(c, bufs_);
    }
    for (const uv_buf_t& b : bufs_) c->held.append(b.base, b.len);
    if (!c->queued) {
      if (queued_.empty()) uv_check_start(check_.get(), on_check);
      c->queued = true;
      queued_.push_back(c);
    }
    return true;
  }

  bool send_held(Connection* c) noexcept {
    uv_buf_t held = uv_buf_init(c->held.data(), static_cast<unsigned>(c->held.size()));
    bool ok = send_bufs(c, std::span<const uv_buf_t>(&held, 1));
    // A small echo's buffer is kept for the next one; the handshake's is not,
    // so an idle connection holds none.
    if (c->held.capacity() > kKeepHeld) {
      std::string().swap(c->held);
    } else {
      c->held.clear();
    }
    return ok;
  }

  static void on_check(uv_check_t* check) noexcept {
    auto* self = static_cast<Server*>(check->data);
    for (Connection* c : self->queued_) {
      c->queued = false;
      if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->tcp)) || c->held.empty()) continue;
      self->send_held(c);
    }
    self->queued_.clear();
    uv_check_stop(check);
  }

  void feed_http(Connection* c, std::string_view data) {
    if (!c->pending.empty()) {
      c->pending.append(data);
      std::string held;
      held.swap(c->pending);
      feed_http_bytes(c, held);
    } else {
      feed_http_bytes(c, data);
    }
  }

  void feed_http_bytes(Connection* c, std::string_view data) {
    bufs_.clear();
    std::size_t pos = 0;
    while (true) {
      std::size_t end = data.find(kHeaderEnd, pos);
      if (end == std::string_view::npos) break;
      std::string_view request = data.substr(pos, end + kHeaderEnd.size() - pos);
      pos = end + kHeaderEnd.size();
      if (std::string_view key = websocket_key(request); !key.empty()) {
        handshake_ =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Accept: ";
        handshake_ += accept_key(key);
        handshake_ += kHeaderEnd;
        bufs_.push_back(uv_buf_init(handshake_.data(), static_cast<unsigned>(handshake_.size())));
        if (!write_bufs(c)) return;
        c->websocket = true;
        if (pos < data.size()) feed_websocket(c, data.substr(pos));
        return;
      }
      std::string& response = request.starts_with("GET /json") ? json_ : plaintext_;
      bufs_.push_back(uv_buf_init(response.data(), static_cast<unsigned>(response.size())));
    }
    if (pos < data.size()) c->pending.assign(data.substr(pos));
    if (!bufs_.empty()) write_bufs(c);
  }

  // Streams frames through: each client frame becomes the same server frame,
  // unmasked; a ping becomes a pong, a pong is dropped, a close is echoed and
  // ends the connection.
  void feed_websocket(Connection* c, std::string_view data) {
    auto* in = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t n = data.size();
    std::size_t i = 0;
    auto* out = reinterpret_cast<unsigned char*>(out_.data());
    std::size_t o = 0;
    while (i < n) {
      if (c->payload_left == 0 && !c->close_frame) {
        // The header is read in place, or gathered into pending when it
        // straddles two reads.
        auto header_size = [](const unsigned char* h, std::size_t size) -> std::size_t {
          if (size < 2) return 2;
          unsigned len7 = h[1] & 0x7f;
          return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
        };
        const unsigned char* h = in + i;
        if (c->pending.empty() && n - i >= header_size(h, n - i)) {
          i += header_size(h, n - i);
        } else {
          auto pending_size = [&] {
            return header_size(reinterpret_cast<const unsigned char*>(c->pending.data()),
                               c->pending.size());
          };
          while (i < n && c->pending.size() < pending_size()) {
            c->pending.push_back(static_cast<char>(in[i++]));
          }
          if (c->pending.size() < pending_size()) break;
          std::memcpy(header_.data(), c->pending.data(), c->pending.size());
          c->pending.clear();
          h = header_.data();
        }
        unsigned first = h[0];
        unsigned opcode = first & 0x0f;
        if ((h[1] & 0x80) == 0 || (first & 0x70) != 0) {
          close_connection(c);  // unmasked client frame or RSV bits: protocol error
          return;
        }
        unsigned len7 = h[1] & 0x7f;
        std::uint64_t len = len7;
        std::size_t p = 2;
        if (len7 == 126) {
          len = (std::uint64_t{h[2]} << 8) | h[3];
          p = 4;
        } else if (len7 == 127) {
          len = 0;
          for (int k = 0; k < 8; ++k) len = (len << 8) | h[2 + k];
          p = 10;
        }
        std::memcpy(c->mask.data(), h + p, 4);
        c->mask_phase = 0;
        c->payload_left = len;
        c->drop_payload = opcode == 0xA;
        c->close_frame = opcode == 0x8;
        if (!c->drop_payload) {
          out[o++] = static_cast<unsigned char>((first & 0x80) | (opcode == 0x9 ? 0xA : opcode));
          if (len < 126) {
            out[o++] = static_cast<unsigned char>(len);
          } else if (len < 65536) {
            out[o++] = 126;
            out[o++] = static_cast<unsigned char>(len >> 8);
            out[o++] = static_cast<unsigned char>(len);
          } else {
            out[o++] = 127;
            for (int k = 7; k >= 0; --k) out[o++] = static_cast<unsigned char>(len >> (8 * k));
          }
        }
      }
      std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(c->payload_left, n - i));
      if (!c->drop_payload) unmask_copy(out + o, in + i, chunk, c->mask, c->mask_phase);
      if (!c->drop_payload) o += chunk;
      c->mask_phase = (c->mask_phase + static_cast<unsigned>(chunk)) & 3;
      c->payload_left -= chunk;
      i += chunk;
      if (c->payload_left == 0 && c->close_frame) {
        c->close_after_flush = true;
        break;
      }
    }
    if (o > 0) {
      bufs_.clear();
      bufs_.push_back(uv_buf_init(out_.data(), static_cast<unsigned>(o)));
      if (!write_bufs(c)) return;
    }
    if (c->close_after_flush) finish_close(c);
  }

  // Writes bufs, encrypted as one record (up to 16 KiB) with TLS.
  bool send_bufs(Connection* c, std::span<const uv_buf_t> bufs) noexcept {
    if (!c->tls.ssl) return send_raw(c, bufs);
    bool ok = true;
    if (bufs.size() == 1) {
      ok = c->tls.write(std::string_view(bufs[0].base, bufs[0].len));
    } else {
      tls_scratch_.clear();
      for (const uv_buf_t& b : bufs) tls_scratch_.append(b.base, b.len);
      ok = c->tls.write(tls_scratch_);
    }
    if (!ok) {
      close_connection(c);
      return false;
    }
    return send_tls_output(c);
  }

  // Writes bufs: as much as the socket takes now, the rest copied and queued.
  bool send_raw(Connection* c, std::span<const uv_buf_t> bufs) noexcept {
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
    int written = uv_try_write(stream, bufs.data(), static_cast<unsigned>(bufs.size()));
    if (written == UV_EAGAIN) written = 0;
    if (written < 0) {
      close_connection(c);
      return false;
    }
    std::size_t skip = static_cast<std::size_t>(written);
    std::size_t total = 0;
    for (const uv_buf_t& b : bufs) total += b.len;
    if (skip == total) return true;

    auto write = std::make_unique<OwnedWrite>();
    write->data.reserve(total - skip);
    for (const uv_buf_t& b : bufs) {
      if (skip >= b.len) {
        skip -= b.len;
        continue;
      }
      write->data.append(b.base + skip, b.len - skip);
      skip = 0;
    }
    uv_buf_t rest = uv_buf_init(write->data.data(), static_cast<unsigned>(write->data.size()));
    write->req.data = write.get();
    if (uv_write(&write->req, stream, &rest, 1, on_written) != 0) {
      close_connection(c);
      return false;
    }
    write.release();  // on_written owns it now
    if (stream->write_queue_size > kHighWater && c->reading) {
      uv_read_stop(stream);
      c->reading = false;
    }
    return true;
  }

  static void on_written(uv_write_t* req, int status) noexcept {
    std::unique_ptr<OwnedWrite> owner(static_cast<OwnedWrite*>(req->data));
    auto* stream = req->handle;
    if (status < 0 || uv_is_closing(reinterpret_cast<uv_handle_t*>(stream))) return;
    auto* c = static_cast<Connection*>(stream->data);
    if (!c->reading && !c->close_after_flush && stream->write_queue_size < kLowWater) {
      c->server->start_reading(c);
    }
  }

  // Sends FIN once queued bytes are out, then closes.
  void finish_close(Connection* c) noexcept {
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
    if (!c->held.empty() && !send_held(c)) return;
    if (c->reading) {
      uv_read_stop(stream);
      c->reading = false;
    }
    auto shutdown = std::make_unique<OwnedShutdown>();
    shutdown->req.data = shutdown.get();
    if (uv_shutdown(&shutdown->req, stream, [](uv_shutdown_t* req, int) noexcept {
          std::unique_ptr<OwnedShutdown> owner(static_cast<OwnedShutdown*>(req->data));
          auto* handle = reinterpret_cast<uv_handle_t*>(req->handle);
          if (!uv_is_closing(handle)) close_connection(static_cast<Connection*>(handle->data));
        }) != 0) {
      close_connection(c);
      return;
    }
    shutdown.release();
  }

  // Rebuilds the two fixed responses with the current Date (once a second).
  void refresh_responses() noexcept {
    std::array<char, 64> date{};
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::size_t n = std::strftime(date.data(), date.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    std::string_view date_view(date.data(), n);
    auto build = [&](std::string& out, std::string_view type, std::string_view body) {
      out.clear();
      out += "HTTP/1.1 200 OK\r\nServer: bench_ceiling\r\nDate: ";
      out += date_view;
      out += "\r\nContent-Type: ";
      out += type;
      out += "\r\nContent-Length: ";
      std::array<char, 24> digits{};
      auto [end, ec] = std::to_chars(digits.begin(), digits.end(), body.size());
      out.append(digits.data(), end);
      out += kHeaderEnd;
      out += body;
    };
    build(plaintext_, "text/plain", "Hello, World!");
    build(json_, "application/json", R"({"message":"Hello, World!"})");
  }

  uv_loop_t* loop_;
  Options options_;
  UvHandle<uv_tcp_t> listener_;
  UvHandle<uv_tcp_t> tls_listener_;
  UvHandle<uv_timer_t> date_timer_;
  std::vector<UvHandle<uv_signal_t>> signals_;
  std::vector<char> read_buffer_;
  std::vector<char> out_;
  std::vector<uv_buf_t> bufs_;
  std::string plaintext_;
  std::string json_;
  std::string handshake_;
  std::array<unsigned char, 14> header_{};
  UvHandle<uv_check_t> check_;
  std::vector<Connection*> queued_;
  bool in_read_ = false;
  bench::SslContextPtr tls_context_{nullptr, SSL_CTX_free};
  std::vector<char> plain_;  // decrypted bytes of the current read (TLS)
  std::string tls_scratch_;  // several answers joined into one record
};

bool parse_int(std::string_view text, int low, int high, int& out) {
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < low || value > high) {
    return false;
  }
  out = value;
  return true;
}

// Accepts "--flag value" and "--flag=value"; --logging and --workers are
// taken and ignored so that the ceiling starts like the apps.
int parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: bench_ceiling [--port N (8888)] [--address A (127.0.0.1)] "
          "[--backlog N (4096)] [--certfile PEM --keyfile PEM [--tls-port N]]\n");
      return 0;
    }
    std::string_view name = arg;
    std::string_view value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name != "--port" && name != "--address" && name != "--backlog" && name != "--logging" &&
        name != "--workers" && name != "--certfile" && name != "--keyfile" &&
        name != "--tls-port") {
      std::fprintf(stderr, "bench_ceiling: unknown flag %s\n", argv[i]);
      return 2;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_ceiling: %s needs a value\n", argv[i]);
        return 2;
      }
      value = argv[++i];
    }
    bool ok = true;
    if (name == "--port") ok = parse_int(value, 0, 65535, options.port);
    if (name == "--tls-port") ok = parse_int(value, 0, 65535, options.tls_port);
    if (name == "--backlog") ok = parse_int(value, 1, 1 << 20, options.backlog);
    if (name == "--address") options.address = std::string(value);
    if (name == "--certfile") options.certfile = std::string(value);
    if (name == "--keyfile") options.keyfile = std::string(value);
    if (!ok) {
      std::fprintf(stderr, "bench_ceiling: bad value for %.*s: %.*s\n",
                   static_cast<int>(name.size()), name.data(), static_cast<int>(value.size()),
                   value.data());
      return 2;
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (int rc = parse_options(argc, argv, options); rc >= 0) return rc;
  if (options.certfile.empty() != options.keyfile.empty()) {
    std::fprintf(stderr, "bench_ceiling: --certfile and --keyfile go together\n");
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = 0;
  {
    Server server(&loop, options);
    if (int err = server.start(); err != 0) {
      std::fprintf(stderr, "bench_ceiling: cannot listen on %s:%d: %s\n", options.address.c_str(),
                   options.port, uv_strerror(err));
      rc = 1;
      server.stop();
    } else {
      uv_run(&loop, UV_RUN_DEFAULT);
    }
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // lets the close callbacks free everything
  uv_loop_close(&loop);
  return rc;
}
