// tlsload: the TLS load generator of tools/bench/run (libuv and OpenSSL on
// memory BIOs, one loop on one core).
//
//   --mode wss        N connections upgrade to WebSocket at --path and echo
//                     messages of --size bytes, one in flight each; every
//                     echoed byte is checked. Figure: messages per second.
//   --mode handshake  N connections at a time each open a TLS connection, ask
//                     GET --path, read the whole answer and close; then open
//                     the next. With --resume each offers the session (ticket)
//                     its previous connection got, and a connection the server
//                     did not resume counts as an error. Figure: connections
//                     per second.
//   --mode wss --idle the connections are opened, upgraded and held until
//                     SIGINT or --duration ("tlsload: ready, N connections
//                     open" on stdout once they all are): a server's memory
//                     per idle TLS WebSocket.
//
//   tlsload --port 9443 --mode wss --connections 100 --size 20 --duration 10
//           --warmup 1 --json out.json
//   tlsload --port 9443 --mode handshake --resume --connections 50 --duration 10
//
// The target is 127.0.0.1; certificates are not verified (the server's
// signature in the handshake is, as TLS requires). Exit status: 0 clean, 1 any
// error, 2 bad usage.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/detail/uv_handle.h"

namespace {

using tornado::detail::UvHandle;

constexpr std::size_t kReadBufferSize = 64 * 1024;
// RFC 6455's example key and its accept value.
constexpr std::string_view kKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

struct Options {
  int port = 0;
  std::string path;
  std::string mode = "wss";
  bool resume = false;
  bool idle = false;
  int connections = 1;
  std::size_t size = 20;
  double duration = 10;
  double warmup = 0;
  double connect_timeout = 60;
  int concurrent_connects = 100;
  std::string json_file;
};

using SessionPtr = std::unique_ptr<SSL_SESSION, void (*)(SSL_SESSION*)>;

class Load;

enum class State { kConnecting, kHandshake, kUpgrading, kOpen, kRequesting, kDone };

struct Connection {
  uv_tcp_t tcp{};
  uv_connect_t connect{};
  Load* load = nullptr;
  int slot = 0;
  State state = State::kConnecting;
  std::unique_ptr<SSL, void (*)(SSL*)> ssl{nullptr, SSL_free};
  std::string plain;  // plaintext read and not yet consumed
  std::uint64_t started_ns = 0;
};

struct OwnedWrite {
  uv_write_t req{};
  std::string data;
};

std::uint64_t now_ns() {
  return uv_hrtime();
}

class Load {
 public:
  Load(uv_loop_t* loop, Options options) : loop_(loop), o_(std::move(options)) {
    uv_ip4_addr("127.0.0.1", o_.port, &target_);
    context_.reset(SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_verify(context_.get(), SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_mode(context_.get(), SSL_MODE_RELEASE_BUFFERS);
    read_buffer_.resize(kReadBufferSize);
    plain_buffer_.resize(kReadBufferSize);
    sessions_.reserve(static_cast<std::size_t>(o_.connections));
    for (int i = 0; i < o_.connections; ++i) sessions_.emplace_back(nullptr, SSL_SESSION_free);
    for (std::size_t i = 0; i < o_.size; ++i) payload_.push_back(static_cast<char>('a' + i % 26));
    request_ =
        "GET " + o_.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(o_.port) + "\r\n";
    if (o_.mode == "wss") {
      request_ += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
      request_ += kKey;
      request_ += "\r\nSec-WebSocket-Version: 13\r\n";
    }
    request_ += "\r\n";
    frame_ = make_frame();
  }

  void start() {
    timer_ = UvHandle<uv_timer_t>(std::make_unique<uv_timer_t>());
    uv_timer_init(loop_, timer_.get());
    timer_->data = this;
    signal_ = UvHandle<uv_signal_t>(std::make_unique<uv_signal_t>());
    uv_signal_init(loop_, signal_.get());
    signal_->data = this;
    uv_signal_start(
        signal_.get(), [](uv_signal_t* s, int) noexcept { static_cast<Load*>(s->data)->finish(); },
        SIGINT);
    start_ns_ = now_ns();
    if (o_.mode == "handshake") {
      for (int i = 0; i < o_.connections; ++i) open(i);
      begin_measuring_after(o_.warmup);
    } else {
      // Upgrades first (at most --concurrent-connects at a time), then the echo.
      uv_timer_start(
          timer_.get(),
          [](uv_timer_t* t) noexcept {
            auto* self = static_cast<Load*>(t->data);
            self->error("connect_timeout");
            self->finish();
          },
          static_cast<std::uint64_t>(o_.connect_timeout * 1000), 0);
      for (int i = 0; i < std::min(o_.connections, o_.concurrent_connects); ++i) open(next_slot_++);
    }
  }

  int report() const {
    double seconds = static_cast<double>(measured_ns_) / 1e9;
    std::vector<std::uint32_t> lat = latencies_;
    auto pct = [&](double p) -> double {
      if (lat.empty()) return 0;
      auto k = static_cast<std::size_t>(p * static_cast<double>(lat.size() - 1));
      std::nth_element(lat.begin(), lat.begin() + static_cast<long>(k), lat.end());
      return lat[k];
    };
    double rate = seconds > 0 ? static_cast<double>(completed_) / seconds : 0;
    std::string kinds;
    for (const auto& [name, n] : error_kinds_) {
      kinds += (kinds.empty() ? "" : ", ") + ("\"" + name + "\": " + std::to_string(n));
    }
    char text[1024];
    std::snprintf(text, sizeof text,
                  "{\"mode\": \"%s\", \"resume\": %s, \"connections\": %d, \"connected\": %d, "
                  "\"completed\": %llu, \"resumed\": %llu, \"seconds\": %.3f, \"per_s\": %.1f, "
                  "\"latency_us\": {\"p50\": %.0f, \"p99\": %.0f}, \"errors\": %llu, "
                  "\"error_kinds\": {%s}}\n",
                  o_.mode.c_str(), o_.resume ? "true" : "false", o_.connections, max_connected_,
                  static_cast<unsigned long long>(completed_),
                  static_cast<unsigned long long>(resumed_), seconds, rate, pct(0.5), pct(0.99),
                  static_cast<unsigned long long>(errors_), kinds.c_str());
    std::fputs(text, stderr);
    if (!o_.json_file.empty()) {
      if (std::FILE* f = std::fopen(o_.json_file.c_str(), "w")) {
        std::fputs(text, f);
        std::fclose(f);
      }
    }
    return errors_ || (completed_ == 0 && !o_.idle) ? 1 : 0;
  }

 private:
  std::string make_frame() const {
    std::string f;
    f.push_back(static_cast<char>(0x82));
    if (o_.size < 126) {
      f.push_back(static_cast<char>(0x80 | o_.size));
    } else {
      f.push_back(static_cast<char>(0x80 | 126));
      f.push_back(static_cast<char>(o_.size >> 8));
      f.push_back(static_cast<char>(o_.size & 0xff));
    }
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    f.append(reinterpret_cast<const char*>(mask), 4);
    for (std::size_t i = 0; i < o_.size; ++i) {
      f.push_back(static_cast<char>(payload_[i] ^ static_cast<char>(mask[i & 3])));
    }
    return f;
  }

  void error(const std::string& kind) {
    ++errors_;
    ++error_kinds_[kind];
  }

  void begin_measuring_after(double seconds) {
    uv_timer_start(
        timer_.get(),
        [](uv_timer_t* t) noexcept {
          auto* self = static_cast<Load*>(t->data);
          self->measuring_ = true;
          self->measure_start_ns_ = now_ns();
          uv_timer_start(
              t, [](uv_timer_t* t2) noexcept { static_cast<Load*>(t2->data)->finish(); },
              static_cast<std::uint64_t>(self->o_.duration * 1000), 0);
        },
        static_cast<std::uint64_t>(seconds * 1000), 0);
  }

  void open(int slot) {
    auto owned = std::make_unique<Connection>();
    Connection* c = owned.get();
    c->load = this;
    c->slot = slot;
    c->started_ns = now_ns();
    uv_tcp_init(loop_, &c->tcp);
    c->tcp.data = owned.release();
    c->connect.data = c;
    ++open_;
    int rc = uv_tcp_connect(&c->connect, &c->tcp, reinterpret_cast<const sockaddr*>(&target_),
                            [](uv_connect_t* req, int status) noexcept {
                              auto* conn = static_cast<Connection*>(req->data);
                              conn->load->on_connected(conn, status);
                            });
    if (rc != 0) fail(c, "connect");
  }

  void on_connected(Connection* c, int status) {
    if (status != 0) {
      if (status != UV_ECANCELED) fail(c, "connect");
      return;
    }
    if (stopping_) return close(c);
    uv_tcp_nodelay(&c->tcp, 1);
    c->ssl.reset(SSL_new(context_.get()));
    SSL_set_bio(c->ssl.get(), BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
    SSL_set_connect_state(c->ssl.get());
    if (o_.resume && sessions_[static_cast<std::size_t>(c->slot)]) {
      SSL_set_session(c->ssl.get(), sessions_[static_cast<std::size_t>(c->slot)].get());
    }
    c->state = State::kHandshake;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
          auto* self = static_cast<Connection*>(h->data)->load;
          *buf = uv_buf_init(self->read_buffer_.data(), kReadBufferSize);
        },
        [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
          auto* conn = static_cast<Connection*>(s->data);
          conn->load->on_read(conn, nread, buf);
        });
    handshake(c);
  }

  void handshake(Connection* c) {
    int rc = SSL_do_handshake(c->ssl.get());
    if (rc != 1) {
      int e = SSL_get_error(c->ssl.get(), rc);
      ERR_clear_error();
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return fail(c, "handshake");
      flush(c);
      return;
    }
    c->state = o_.mode == "wss" ? State::kUpgrading : State::kRequesting;
    send(c, request_);
  }

  void on_read(Connection* c, ssize_t nread, const uv_buf_t* buf) {
    if (nread == 0) return;
    if (nread < 0) return fail(c, nread == UV_EOF ? "eof" : "read");
    BIO_write(SSL_get_rbio(c->ssl.get()), buf->base, static_cast<int>(nread));
    if (c->state == State::kHandshake) {
      handshake(c);
      if (c->state == State::kHandshake) return;
    }
    while (c->state != State::kDone) {
      std::size_t got = 0;
      if (SSL_read_ex(c->ssl.get(), plain_buffer_.data(), plain_buffer_.size(), &got) != 1) {
        int e = SSL_get_error(c->ssl.get(), 0);
        ERR_clear_error();
        if (e != SSL_ERROR_WANT_READ) return fail(c, "tls_read");
        break;
      }
      c->plain.append(plain_buffer_.data(), got);
    }
    if (c->state != State::kDone) consume(c);
  }

  void consume(Connection* c) {
    switch (c->state) {
      case State::kUpgrading: {
        std::size_t end = c->plain.find("\r\n\r\n");
        if (end == std::string::npos) return;
        std::string_view head(c->plain.data(), end);
        if (!head.starts_with("HTTP/1.1 101") || head.find(kAccept) == std::string_view::npos) {
          return fail(c, "upgrade");
        }
        c->plain.erase(0, end + 4);
        c->state = State::kOpen;
        if (++connected_ > max_connected_) max_connected_ = connected_;
        if (next_slot_ < o_.connections) open(next_slot_++);
        if (connected_ == o_.connections) all_connected();
        return;
      }
      case State::kOpen:
        while (true) {
          if (c->plain.size() < 2) return;
          auto* h = reinterpret_cast<const unsigned char*>(c->plain.data());
          std::size_t len = h[1] & 0x7f, header = 2;
          if (len == 126) {
            if (c->plain.size() < 4) return;
            len = (std::size_t{h[2]} << 8) | h[3];
            header = 4;
          } else if (len == 127) {
            return fail(c, "frame_too_big");
          }
          if (c->plain.size() < header + len) return;
          if (h[0] != 0x82 || std::string_view(c->plain).substr(header, len) != payload_) {
            return fail(c, "wrong_echo");
          }
          c->plain.erase(0, header + len);
          if (measuring_) {
            ++completed_;
            latencies_.push_back(static_cast<std::uint32_t>((now_ns() - c->started_ns) / 1000));
          }
          if (stopping_) return;
          c->started_ns = now_ns();
          send(c, frame_);
        }
      case State::kRequesting: {
        std::size_t end = c->plain.find("\r\n\r\n");
        if (end == std::string::npos) return;
        std::string lower = c->plain.substr(0, end);
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        std::size_t at = lower.find("\r\ncontent-length:");
        if (!lower.starts_with("http/1.1 200") || at == std::string::npos) {
          return fail(c, "response");
        }
        std::size_t length = 0;
        std::string_view digits = std::string_view(lower).substr(at + 17);
        while (!digits.empty() && digits.front() == ' ') digits.remove_prefix(1);
        std::from_chars(digits.data(), digits.data() + digits.size(), length);
        if (c->plain.size() < end + 4 + length) return;
        bool reused = SSL_session_reused(c->ssl.get()) == 1;
        if (measuring_) {
          ++completed_;
          if (reused) ++resumed_;
          if (o_.resume && !reused) error("not_resumed");
          latencies_.push_back(static_cast<std::uint32_t>((now_ns() - c->started_ns) / 1000));
        }
        if (o_.resume) {
          sessions_[static_cast<std::size_t>(c->slot)].reset(SSL_get1_session(c->ssl.get()));
        }
        int slot = c->slot;
        // close_notify: a connection freed without it would have its session
        // dropped from resumption (as OpenSSL treats an unclean end).
        SSL_shutdown(c->ssl.get());
        flush(c);
        close(c);
        if (!stopping_) open(slot);
        return;
      }
      default:
        return;
    }
  }

  void all_connected() {
    uv_timer_stop(timer_.get());
    if (o_.idle) {
      std::printf("tlsload: ready, %d connections open\n", connected_);
      std::fflush(stdout);
      uv_timer_start(
          timer_.get(), [](uv_timer_t* t) noexcept { static_cast<Load*>(t->data)->finish(); },
          static_cast<std::uint64_t>(o_.duration * 1000), 0);
      return;
    }
    begin_measuring_after(o_.warmup);
    uv_walk(
        loop_,
        [](uv_handle_t* h, void* self) noexcept {
          if (h->type != UV_TCP || h->data == nullptr || uv_is_closing(h)) return;
          auto* c = static_cast<Connection*>(h->data);
          if (c->state != State::kOpen) return;
          c->started_ns = now_ns();
          static_cast<Load*>(self)->send(c, static_cast<Load*>(self)->frame_);
        },
        this);
  }

  // Encrypts and sends.
  void send(Connection* c, std::string_view plain) {
    std::size_t written = 0;
    if (SSL_write_ex(c->ssl.get(), plain.data(), plain.size(), &written) != 1) {
      ERR_clear_error();
      return fail(c, "tls_write");
    }
    flush(c);
  }

  void flush(Connection* c) {
    BIO* out = SSL_get_wbio(c->ssl.get());
    char* data = nullptr;
    long size = BIO_get_mem_data(out, &data);
    if (size <= 0) return;
    uv_buf_t buf = uv_buf_init(data, static_cast<unsigned>(size));
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp);
    int n = uv_try_write(stream, &buf, 1);
    if (n == UV_EAGAIN) n = 0;
    if (n < 0) {
      (void)BIO_reset(out);
      return fail(c, "write");
    }
    if (n < size) {
      auto w = std::make_unique<OwnedWrite>();
      w->data.assign(data + n, static_cast<std::size_t>(size - n));
      uv_buf_t rest = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
      w->req.data = w.get();
      if (uv_write(&w->req, stream, &rest, 1, [](uv_write_t* req, int) noexcept {
            std::unique_ptr<OwnedWrite> owner(static_cast<OwnedWrite*>(req->data));
          }) == 0) {
        w.release();
      }
    }
    (void)BIO_reset(out);
  }

  void fail(Connection* c, const char* kind) {
    if (!stopping_) error(kind);
    close(c);
    if (!stopping_ && o_.mode == "wss") finish();  // the echo figure would be wrong
  }

  void close(Connection* c) {
    if (c->state == State::kOpen) --connected_;
    c->state = State::kDone;
    auto* h = reinterpret_cast<uv_handle_t*>(&c->tcp);
    if (uv_is_closing(h)) return;
    uv_close(h, [](uv_handle_t* handle) noexcept {
      std::unique_ptr<Connection> owner(static_cast<Connection*>(handle->data));
      --owner->load->open_;
    });
  }

  void finish() {
    if (stopping_) return;
    stopping_ = true;
    if (measuring_) measured_ns_ = now_ns() - measure_start_ns_;
    measuring_ = false;
    timer_.close();
    signal_.close();
    uv_walk(
        loop_,
        [](uv_handle_t* h, void* self) noexcept {
          if (h->type == UV_TCP && h->data != nullptr && !uv_is_closing(h)) {
            static_cast<Load*>(self)->close(static_cast<Connection*>(h->data));
          }
        },
        this);
  }

  uv_loop_t* loop_;
  Options o_;
  sockaddr_in target_{};
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> context_{nullptr, SSL_CTX_free};
  std::vector<SessionPtr> sessions_;
  std::vector<char> read_buffer_;
  std::vector<char> plain_buffer_;
  std::string payload_;
  std::string frame_;
  std::string request_;
  UvHandle<uv_timer_t> timer_;
  UvHandle<uv_signal_t> signal_;
  int next_slot_ = 0;
  int open_ = 0;
  int connected_ = 0;
  int max_connected_ = 0;
  bool measuring_ = false;
  bool stopping_ = false;
  std::uint64_t start_ns_ = 0;
  std::uint64_t measure_start_ns_ = 0;
  std::uint64_t measured_ns_ = 0;
  std::uint64_t completed_ = 0;
  std::uint64_t resumed_ = 0;
  std::uint64_t errors_ = 0;
  std::map<std::string, std::uint64_t> error_kinds_;
  std::vector<std::uint32_t> latencies_;
};

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

int usage() {
  std::fprintf(stderr,
               "usage: tlsload --port N [--path /echo] [--mode wss|handshake] [--resume]\n"
               "               [--idle] [--connections N (1)] [--size BYTES (20)]\n"
               "               [--duration S (10)] [--warmup S (0)] [--connect-timeout S (60)]\n"
               "               [--concurrent-connects N (100)] [--json FILE]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--resume") {
      o.resume = true;
      continue;
    }
    if (arg == "--idle") {
      o.idle = true;
      continue;
    }
    if (i + 1 >= argc) return usage();
    std::string_view value = argv[++i];
    bool ok = true;
    if (arg == "--port") {
      ok = parse_number(value, 1, 65535, o.port);
    } else if (arg == "--path") {
      o.path = std::string(value);
    } else if (arg == "--mode") {
      o.mode = std::string(value);
      ok = o.mode == "wss" || o.mode == "handshake";
    } else if (arg == "--connections") {
      ok = parse_number(value, 1, 1000000, o.connections);
    } else if (arg == "--size") {
      ok = parse_number(value, std::size_t{1}, std::size_t{65535}, o.size);
    } else if (arg == "--duration") {
      ok = parse_number(value, 0.01, 1e6, o.duration);
    } else if (arg == "--warmup") {
      ok = parse_number(value, 0.0, 1e6, o.warmup);
    } else if (arg == "--connect-timeout") {
      ok = parse_number(value, 0.1, 1e6, o.connect_timeout);
    } else if (arg == "--concurrent-connects") {
      ok = parse_number(value, 1, 100000, o.concurrent_connects);
    } else if (arg == "--json") {
      o.json_file = std::string(value);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "tlsload: bad argument %s %.*s\n", argv[i - 1],
                   static_cast<int>(value.size()), value.data());
      return usage();
    }
  }
  if (o.port == 0) return usage();
  if (o.path.empty()) o.path = o.mode == "wss" ? "/echo" : "/plaintext";
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  uv_loop_init(&loop);
  int rc = 0;
  {
    Load load(&loop, o);
    load.start();
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = load.report();
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return rc;
}
