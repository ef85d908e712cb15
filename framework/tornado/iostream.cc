#include "tornado/iostream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <uv.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "tornado/detail/ioloop_streams.h"
#include "tornado/detail/uv_handle.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace tornado::iostream {
namespace {

// The most one socket read takes (into one buffer per loop, not per stream):
// room for a 64 KiB WebSocket message with its header, so that one read,
// not two, brings it in.
constexpr std::size_t kReadChunk = 256 * 1024;
// An idle connection should cost little memory: a read buffer grown by a
// burst is released once drained if it grew beyond this.
constexpr std::size_t kKeepCapacity = 16 * 1024;

// A memory BIO keeps the largest buffer it ever held: without this the
// handshake's flight (the certificate chain, a large ClientHello) would stay
// with every idle TLS connection. Buffers up to this size (small messages)
// are kept and reused.
constexpr std::size_t kKeepBioBuffer = 1024;

// Swaps the BIO for a fresh one when it is empty and holds a large buffer.
void release_large_bio(SSL* ssl, bool input) noexcept {
  BIO* bio = input ? SSL_get_rbio(ssl) : SSL_get_wbio(ssl);
  BUF_MEM* mem = nullptr;
  if (BIO_ctrl_pending(bio) != 0 || BIO_get_mem_ptr(bio, &mem) != 1 || !mem ||
      mem->max <= kKeepBioBuffer) {
    return;
  }
  BIO* fresh = BIO_new(BIO_s_mem());
  if (!fresh) return;
  if (input) {
    SSL_set0_rbio(ssl, fresh);
  } else {
    SSL_set0_wbio(ssl, fresh);
  }
}

// Without a loop (never in practice) reads land in a small per-thread array.
thread_local std::array<char, 4096> fallback_read_buffer;

class UvCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "libuv"; }
  std::string message(int code) const override { return uv_strerror(-code); }
};

class SslCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int code) const override {
    char text[256];
    ERR_error_string_n(static_cast<unsigned long>(code), text, sizeof text);
    return text;
  }
};

const std::error_category& ssl_category() noexcept {
  static const SslCategory category;
  return category;
}

// An IPv4 peer is kept as its text, which fits the 16 bytes (with its NUL);
// an IPv6 one as its address bytes, formatted when asked for.
static_assert(INET_ADDRSTRLEN <= 16);

void peer_address(uv_tcp_t* tcp, std::array<char, 16>& address, std::uint8_t& family,
                  std::uint16_t& port) {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    if (uv_ip4_name(in, address.data(), address.size()) != 0) address = {};
    family = 4;
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    static_assert(sizeof in6->sin6_addr == 16);
    std::memcpy(address.data(), &in6->sin6_addr, 16);
    family = 6;
    port = ntohs(in6->sin6_port);
  }
}

// A limit as the stream keeps it: 32 bits, or a mark that the real one
// (4 GiB or more) is in the stream's pending block.
std::uint32_t small_limit(std::size_t limit, std::uint32_t large) noexcept {
  return limit < large ? static_cast<std::uint32_t>(limit) : large;
}

// A write's buffers, on the stack for the usual few parts.
class UvBufs {
 public:
  explicit UvBufs(std::span<const std::string_view> parts) {
    uv_buf_t* out = small_.data();
    if (parts.size() > small_.size()) {
      large_.resize(parts.size());
      out = large_.data();
    }
    data_ = out;
    for (auto part : parts) {
      if (part.empty()) continue;
      out[size_++] = uv_buf_init(const_cast<char*>(part.data()), part.size());
      total_ += part.size();
    }
  }
  UvBufs(const UvBufs&) = delete;
  UvBufs& operator=(const UvBufs&) = delete;
  uv_buf_t* data() noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t total() const noexcept { return total_; }
  uv_buf_t* begin() noexcept { return data_; }
  uv_buf_t* end() noexcept { return data_ + size_; }

 private:
  std::array<uv_buf_t, 8> small_;
  std::vector<uv_buf_t> large_;
  uv_buf_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t total_ = 0;
};

// Several small parts (a frame header and its payload) are copied into one
// buffer: one write() costs the kernel less than a writev of tiny pieces.
constexpr std::size_t kCoalesceLimit = 2048;

// Corked writes are gathered up to this size; a larger one is sent at once,
// together with what was gathered before it.
constexpr std::size_t kCorkLimit = 16 * 1024;

// The loop keeps the buffers corked streams gave back, for the next ones:
// with a thousand WebSockets each answering within one poll, a buffer per
// stream was allocated and freed for every message. Bounded, so that a burst
// of large writes does not leave memory behind.
constexpr std::size_t kCorkPoolBytes = 1024 * 1024;

// Buffers for the bytes a write leaves to libuv are recycled by the loop: a
// large block freed after every large write makes malloc give the heap top
// back to the kernel and take it again (brk, page faults) each time.
constexpr std::size_t kPooledBuffers = 4;
constexpr std::size_t kPooledBufferMax = 256 * 1024;

// The IOLoop a handle's libuv loop belongs to (none for a bare uv_loop_t).
ioloop::IOLoop* loop_of(uv_tcp_t* tcp) noexcept {
  return tcp ? static_cast<ioloop::IOLoop*>(tcp->loop->data) : nullptr;
}

tornado::detail::StreamBuffers* buffers_of(uv_tcp_t* tcp) noexcept {
  auto* loop = loop_of(tcp);
  return loop ? &tornado::detail::IOLoopStreams::buffers(*loop) : nullptr;
}

std::string take_write_buffer(uv_tcp_t* tcp) noexcept {
  auto* buffers = buffers_of(tcp);
  if (!buffers || buffers->write_buffers.empty()) return {};
  std::string buffer = std::move(buffers->write_buffers.back());
  buffers->write_buffers.pop_back();
  return buffer;
}

void give_back_write_buffer(uv_tcp_t* tcp, std::string&& buffer) noexcept {
  auto* buffers = buffers_of(tcp);
  if (!buffers || buffer.capacity() > kPooledBufferMax ||
      buffers->write_buffers.size() >= kPooledBuffers) {
    return;
  }
  buffer.clear();
  try {
    buffers->write_buffers.push_back(std::move(buffer));
  } catch (...) {
  }
}

}  // namespace

const std::error_category& uv_category() noexcept {
  static const UvCategory category;
  return category;
}

std::error_code make_uv_error(int status) noexcept {
  return {-status, uv_category()};
}

StreamClosedError::StreamClosedError(std::error_code error)
    : std::runtime_error(error ? "Stream is closed: " + error.message() : "Stream is closed"),
      real_error(error) {}

struct IOStream::WriteRequest {
  uv_write_t req{};
  IOStream* stream = nullptr;
  std::string data;
  // A shared write keeps its bytes alive here instead of copying them.
  std::shared_ptr<const std::string> shared;
  std::size_t bytes = 0;
  std::uint64_t seq = 0;
};

std::shared_ptr<IOStream> IOStream::create(std::unique_ptr<uv_tcp_t> tcp, StreamOptions options) {
  // One allocation for the stream and its reference counts.
  struct Shared final : IOStream {
    Shared(std::unique_ptr<uv_tcp_t> tcp, StreamOptions options)
        : IOStream(std::move(tcp), options) {}
  };
  std::shared_ptr<IOStream> stream = std::make_shared<Shared>(std::move(tcp), options);
  stream->self_ = stream;
  return stream;
}

IOStream::IOStream(std::unique_ptr<uv_tcp_t> tcp, StreamOptions options)
    : tcp_(tcp.release()),
      max_buffer_size_(small_limit(options.max_buffer_size, kLargeLimit)),
      max_write_buffer_size_(small_limit(options.max_write_buffer_size, kLargeLimit)) {
  tcp_->data = this;
  if (max_buffer_size_ == kLargeLimit || max_write_buffer_size_ == kLargeLimit) {
    auto& large = pending();
    large.large_options = options;
    large.has_large_options = true;
  }
  peer_address(tcp_, remote_address_, remote_family_, remote_port_);
  if (auto* loop = loop_of(tcp_)) {
    loop->add_closer(*this, [](CloserLink* link) noexcept {
      try {
        static_cast<IOStream*>(link)->close();
      } catch (...) {
      }
    });
  }
}

IOStream::~IOStream() {
  // Only reachable once the handle closed (self_ holds us until then), or
  // for a stream never handed out (a failed create).
  if (!handle_closed_ && tcp_) {
    unlink();
    tornado::detail::UvHandle<uv_tcp_t> closing(
        std::unique_ptr<uv_tcp_t>(std::exchange(tcp_, nullptr)));
  }
}

IOStream::Pending& IOStream::pending() {
  if (!pending_) pending_ = std::make_unique<Pending>();
  return *pending_;
}

void IOStream::release_pending_if_empty() noexcept {
  if (pending_ && pending_->empty()) pending_.reset();
}

void IOStream::set_close_callback(std::function<void()> callback) {
  if (callback) {
    pending().close_callback = std::move(callback);
  } else if (pending_) {
    pending_->close_callback = nullptr;
    release_pending_if_empty();
  }
}

std::string IOStream::remote_ip() const {
  if (remote_family_ == 4) {
    return std::string(remote_address_.data(),
                       strnlen(remote_address_.data(), remote_address_.size()));
  }
  if (remote_family_ == 6) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    std::memcpy(&in6.sin6_addr, remote_address_.data(), 16);
    char text[INET6_ADDRSTRLEN] = {};
    uv_ip6_name(&in6, text, sizeof text);
    return text;
  }
  return {};
}

void IOStream::set_nodelay(bool value) noexcept {
  if (!closed_) uv_tcp_nodelay(tcp_, value ? 1 : 0);
}

void IOStream::start_reading() {
  if (reading_ || closed_) return;
  reading_ = true;
  int status = uv_read_start(
      reinterpret_cast<uv_stream_t*>(tcp_),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) noexcept {
        // One buffer per loop: the reader parses in it, and only leftovers
        // are copied to the stream, so idle streams hold no read buffer.
        if (auto* buffers = buffers_of(reinterpret_cast<uv_tcp_t*>(h))) {
          if (!buffers->read_buffer) {
            try {
              buffers->read_buffer = std::make_unique_for_overwrite<char[]>(kReadChunk);
            } catch (const std::bad_alloc&) {
              *buf = uv_buf_init(nullptr, 0);  // libuv reports UV_ENOBUFS
              return;
            }
          }
          *buf = uv_buf_init(buffers->read_buffer.get(), kReadChunk);
        } else {
          *buf = uv_buf_init(fallback_read_buffer.data(), fallback_read_buffer.size());
        }
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
        if (auto* stream = static_cast<IOStream*>(s->data)) stream->on_read(nread, buf);
      });
  if (status < 0) close(make_uv_error(status));
}

void IOStream::on_read(ssize_t nread, const uv_buf_t* buf) noexcept {
  if (nread > 0) {
    auto* buffers = buffers_of(tcp_);
    if (buffers) ++buffers->reading;
    on_transport_data(buf->base, static_cast<std::size_t>(nread));
    if (buffers) --buffers->reading;
    if (!closed_ && buffered().size() > max_buffer_size()) {
      log::general.warning("Reached maximum read buffer size from {}", remote_ip());
      close(make_uv_error(UV_ENOBUFS));
    }
  } else if (nread == UV_EOF) {
    close();
  } else if (nread < 0) {
    close(make_uv_error(static_cast<int>(nread)));
  }
}

void IOStream::hold_until_io_done() noexcept {
  // The answers to every read of one poll leave after the last of them is
  // handled: the peer then gets them in one burst and handles them in one
  // wakeup, instead of being woken (by the kernel, at the writer's cost) for
  // each. Several writes to one stream in that poll share one system call.
  auto* loop = loop_of(tcp_);
  if (!loop) return;
  try {
    tornado::detail::IOLoopStreams::after_io(*loop, &IOStream::release_hold, this);
  } catch (const std::bad_alloc&) {
    return;  // then the answers simply leave at once
  }
  held_ = true;
  ++cork_depth_;
}

void IOStream::release_hold(void* raw) {
  auto* stream = static_cast<IOStream*>(raw);
  stream->held_ = false;
  stream->uncork();
}

void IOStream::on_transport_data(char* data, std::size_t size) {
  append_plain(data, size);
}

void IOStream::append_plain(char* data, std::size_t size) {
  if ((reader_waits_ ? size >= static_cast<BufferedAwaitable*>(reader_)->min_bytes_
                     : reader_ != nullptr) &&
      !lent_ && (!read_buffer_ || read_buffer_->start == read_buffer_->bytes.size())) {
    // The reader parses the bytes where they are; no copy and, for a
    // connection that consumes all it gets (a WebSocket), no buffer at all.
    if (read_buffer_) {
      read_buffer_->bytes.clear();
      read_buffer_->start = 0;
    }
    std::span<char> lent(data, size);
    lent_ = &lent;
    wake_reader();
    lent_ = nullptr;
    if (!lent.empty()) {
      if (!read_buffer_) read_buffer_ = std::make_unique<ReadBuffer>();
      read_buffer_->bytes.assign(lent.data(), lent.size());
    }
    return;
  }
  if (!read_buffer_) read_buffer_ = std::make_unique<ReadBuffer>();
  auto& buffer = *read_buffer_;
  if (buffer.start > 0 && buffer.start >= buffer.bytes.size() / 2) {
    buffer.bytes.erase(0, buffer.start);
    buffer.start = 0;
  }
  buffer.bytes.append(data, size);
  wake_reader();
}

void IOStream::wake_reader() noexcept {
  if (!reader_waits_) {
    auto* listener = static_cast<ReadListener*>(reader_);
    if (listener && (closed_ || !buffered().empty())) listener->on_readable();
    return;
  }
  auto* waiting = static_cast<BufferedAwaitable*>(reader_);
  if (!closed_ && buffered().size() < waiting->min_bytes_) return;
  auto waiter = waiting->waiter_;
  reader_ = nullptr;
  reader_waits_ = false;
  waiter.resume();
}

void IOStream::consume(std::size_t n) noexcept {
  if (lent_) {
    *lent_ = lent_->subspan(std::min(n, lent_->size()));
    return;
  }
  if (!read_buffer_) return;
  auto& buffer = *read_buffer_;
  buffer.start += std::min(n, buffer.bytes.size() - buffer.start);
  if (buffer.start == buffer.bytes.size()) {
    buffer.start = 0;
    if (buffer.bytes.capacity() > kKeepCapacity) {
      read_buffer_.reset();
    } else {
      buffer.bytes.clear();
    }
  }
}

void IOStream::set_read_listener(ReadListener* listener) {
  // One reader at a time: the stream keeps a single pointer for both kinds.
  if (reader_waits_) {
    if (listener) throw std::logic_error("Already reading");
    return;
  }
  reader_ = listener;
  if (listener) start_reading();
}

bool IOStream::BufferedAwaitable::await_ready() const noexcept {
  return stream_->closed_ || stream_->buffered().size() >= min_bytes_;
}

void IOStream::BufferedAwaitable::await_suspend(std::coroutine_handle<> h) {
  if (stream_->reader_) throw std::logic_error("Already reading");
  waiter_ = h;
  stream_->reader_ = this;
  stream_->reader_waits_ = true;
  stream_->start_reading();
}

std::string_view IOStream::BufferedAwaitable::await_resume() const {
  auto view = stream_->buffered();
  if (view.size() < min_bytes_ || (view.empty() && stream_->closed_)) {
    throw StreamClosedError(stream_->error_);
  }
  return view;
}

Task<std::string> IOStream::read_until(std::string delimiter, std::size_t max_bytes) {
  std::size_t searched = 0;
  while (true) {
    auto view = buffered();
    auto pos = view.find(delimiter, searched);
    if (pos != std::string_view::npos) {
      std::size_t end = pos + delimiter.size();
      if (max_bytes && end > max_bytes) throw UnsatisfiableReadError("delimiter not found");
      std::string result(view.substr(0, end));
      consume(end);
      co_return result;
    }
    if (max_bytes && view.size() > max_bytes) throw UnsatisfiableReadError("delimiter not found");
    searched = view.size() >= delimiter.size() ? view.size() - delimiter.size() + 1 : 0;
    co_await wait_for_bytes(view.size() + 1);
  }
}

Task<std::string> IOStream::read_bytes(std::size_t num_bytes, bool partial) {
  auto view = co_await wait_for_bytes(partial ? 1 : num_bytes);
  std::size_t take = std::min(view.size(), num_bytes);
  std::string result(view.substr(0, take));
  consume(take);
  co_return result;
}

Task<std::string> IOStream::read_until_close() {
  while (!closed_) {
    try {
      co_await wait_for_bytes(buffered().size() + 1);
    } catch (const StreamClosedError&) {
      break;
    }
  }
  std::string result(buffered());
  consume(result.size());
  co_return result;
}

IOStream::WriteAwaitable IOStream::write(std::string_view data) {
  return write(std::span<const std::string_view>(&data, 1));
}

IOStream::WriteAwaitable IOStream::write(std::span<const std::string_view> parts) {
  if (closed_) throw StreamClosedError(error_);
  std::size_t total = 0;
  for (auto part : parts) total += part.size();
  if (std::size_t limit = max_write_buffer_size(); limit && pending_write_bytes() + total > limit) {
    throw StreamBufferFullError("Reached maximum write buffer size");
  }
  std::uint64_t seq = ++write_seq_;
  write_plain(parts, seq);
  return WriteAwaitable(this, seq);
}

void IOStream::write_plain(std::span<const std::string_view> parts, std::uint64_t seq) {
  write_raw(parts, seq);
}

void IOStream::write_raw(std::span<const std::string_view> parts, std::uint64_t seq) {
  if (closed_) return;
  if (!held_) {
    // Written while the loop handles a read (an echo, or a broadcast to other
    // streams): held until the whole poll is handled, see hold_until_io_done.
    if (auto* buffers = buffers_of(tcp_); buffers && buffers->reading) hold_until_io_done();
  }
  if (cork_depth_ == 0 && (!corked_ || corked_->bytes.empty())) {
    write_out(parts, seq);
    return;
  }
  std::size_t total = 0;
  for (auto part : parts) total += part.size();
  if (cork_depth_ > 0 && (corked_ ? corked_->bytes.size() : 0) + total <= kCorkLimit) {
    if (!corked_) {
      // Borrow one of the loop's buffers (an idle stream holds none); when
      // every one is lent, the stream gets its own.
      auto* buffers = buffers_of(tcp_);
      if (buffers && !buffers->cork_buffers.empty()) {
        corked_ = std::move(buffers->cork_buffers.back());
        buffers->cork_buffers.pop_back();
        buffers->cork_pool_bytes -= sizeof(Cork) + corked_->bytes.capacity();
      } else {
        corked_ = std::make_unique<Cork>();
      }
    }
    for (auto part : parts) corked_->bytes.append(part);
    if (seq) corked_->seq = seq;
    return;
  }
  // Too large to hold: what was gathered goes first, in the same call.
  std::array<std::string_view, 8> small;
  std::vector<std::string_view> large;
  std::span<std::string_view> all;
  if (parts.size() < small.size()) {
    all = std::span<std::string_view>(small.data(), parts.size() + 1);
  } else {
    large.resize(parts.size() + 1);
    all = large;
  }
  all[0] = corked_ ? std::string_view(corked_->bytes) : std::string_view();
  std::copy(parts.begin(), parts.end(), all.begin() + 1);
  std::uint64_t held_seq = corked_ ? std::exchange(corked_->seq, 0) : 0;
  std::uint64_t last = seq ? seq : held_seq;
  write_out(all, last);
  release_corked();
}

void IOStream::uncork() {
  if (cork_depth_ > 0 && --cork_depth_ == 0) flush_corked();
}

void IOStream::flush_corked() {
  if (!corked_ || corked_->bytes.empty()) return;
  std::string_view part(corked_->bytes);
  std::uint64_t seq = std::exchange(corked_->seq, 0);
  if (!closed_) write_out(std::span<const std::string_view>(&part, 1), seq);
  release_corked();
}

void IOStream::release_corked() noexcept {
  // Called with the write number already taken: the whole block goes back.
  if (!corked_) return;
  std::unique_ptr<Cork> cork = std::move(corked_);
  cork->bytes.clear();
  cork->seq = 0;
  auto* buffers = buffers_of(tcp_);
  std::size_t bytes = sizeof(Cork) + cork->bytes.capacity();
  if (!buffers || buffers->cork_pool_bytes + bytes > kCorkPoolBytes) return;
  try {
    buffers->cork_buffers.push_back(std::move(cork));
    buffers->cork_pool_bytes += bytes;
  } catch (const std::bad_alloc&) {
  }
}

void IOStream::write_out(std::span<const std::string_view> parts, std::uint64_t seq) {
  write_now(parts, seq);
}

void IOStream::write_now(std::span<const std::string_view> parts, std::uint64_t seq) {
  UvBufs bufs(parts);
  const std::size_t total = bufs.total();
  std::size_t written = 0;
  if (!writes_in_flight() && !bufs.empty()) {
    int n;
    if (bufs.size() > 1 && total <= kCoalesceLimit) {
      std::array<char, kCoalesceLimit> joined;
      std::size_t at = 0;
      for (auto& b : bufs) {
        std::memcpy(joined.data() + at, b.base, b.len);
        at += b.len;
      }
      uv_buf_t one = uv_buf_init(joined.data(), static_cast<unsigned>(total));
      n = uv_try_write(reinterpret_cast<uv_stream_t*>(tcp_), &one, 1);
    } else {
      n = uv_try_write(reinterpret_cast<uv_stream_t*>(tcp_), bufs.data(),
                       static_cast<unsigned>(bufs.size()));
    }
    if (n < 0 && n != UV_EAGAIN) {
      close(make_uv_error(n));
      return;
    }
    written = n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  if (written == total) {
    mark_flushed(seq);
    return;
  }
  // Keep what the kernel did not take; its memory must outlive the write.
  auto request = std::make_unique<WriteRequest>();
  request->stream = this;
  request->seq = seq;
  request->data = take_write_buffer(tcp_);
  request->data.reserve(total - written);
  std::size_t skip = written;
  for (auto& b : bufs) {
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    request->data.append(b.base + skip, b.len - skip);
    skip = 0;
  }
  uv_buf_t buf = uv_buf_init(request->data.data(), request->data.size());
  pending();  // before libuv owns the request: queued() cannot fail
  request->req.data = request.get();
  int status = uv_write(&request->req, reinterpret_cast<uv_stream_t*>(tcp_), &buf, 1,
                        [](uv_write_t* req, int status) noexcept {
                          auto* r = static_cast<WriteRequest*>(req->data);
                          r->stream->on_write_done(r, status);
                        });
  if (status < 0) {
    close(make_uv_error(status));
    return;
  }
  request->bytes = request->data.size();
  queued(*request);
  request.release();  // owned by libuv until on_write_done
}

IOStream::WriteAwaitable IOStream::write_shared(std::shared_ptr<const std::string> data) {
  if (closed_) throw StreamClosedError(error_);
  if (is_ssl()) return write(*data);  // encrypted per stream anyway
  if (std::size_t limit = max_write_buffer_size();
      limit && pending_write_bytes() + data->size() > limit) {
    throw StreamBufferFullError("Reached maximum write buffer size");
  }
  std::uint64_t seq = ++write_seq_;
  if (!held_) {
    if (auto* buffers = buffers_of(tcp_); buffers && buffers->reading) hold_until_io_done();
  }
  if (cork_depth_ > 0 && (corked_ ? corked_->bytes.size() : 0) + data->size() <= kCorkLimit) {
    std::string_view part(*data);
    write_raw(std::span<const std::string_view>(&part, 1), seq);
    return WriteAwaitable(this, seq);
  }
  flush_corked();
  if (!closed_) write_now_shared(std::move(data), seq);
  return WriteAwaitable(this, seq);
}

void IOStream::write_now_shared(std::shared_ptr<const std::string> data, std::uint64_t seq) {
  std::size_t written = 0;
  if (!writes_in_flight() && !data->empty()) {
    uv_buf_t one = uv_buf_init(const_cast<char*>(data->data()), data->size());
    int n = uv_try_write(reinterpret_cast<uv_stream_t*>(tcp_), &one, 1);
    if (n < 0 && n != UV_EAGAIN) {
      close(make_uv_error(n));
      return;
    }
    written = n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  if (written == data->size()) {
    mark_flushed(seq);
    return;
  }
  auto request = std::make_unique<WriteRequest>();
  request->stream = this;
  request->seq = seq;
  request->bytes = data->size() - written;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data->data()) + written, request->bytes);
  request->shared = std::move(data);
  pending();  // before libuv owns the request: queued() cannot fail
  request->req.data = request.get();
  int status = uv_write(&request->req, reinterpret_cast<uv_stream_t*>(tcp_), &buf, 1,
                        [](uv_write_t* req, int status) noexcept {
                          auto* r = static_cast<WriteRequest*>(req->data);
                          r->stream->on_write_done(r, status);
                        });
  if (status < 0) {
    close(make_uv_error(status));
    return;
  }
  queued(*request);
  request.release();  // owned by libuv until on_write_done
}

void IOStream::queued(const WriteRequest& request) noexcept {
  // pending_ was made before the request was handed to libuv.
  ++pending_->writes_in_flight;
  pending_->write_bytes += request.bytes;
}

void IOStream::on_write_done(WriteRequest* raw, int status) noexcept {
  std::unique_ptr<WriteRequest> request(raw);
  --pending_->writes_in_flight;
  pending_->write_bytes -= request->bytes;
  if (!request->shared) give_back_write_buffer(tcp_, std::move(request->data));
  if (status < 0) {
    if (status != UV_ECANCELED) close(make_uv_error(status));
    return;
  }
  mark_flushed(request->seq);
  release_pending_if_empty();
}

void IOStream::mark_flushed(std::uint64_t seq) noexcept {
  if (seq > flushed_seq_) flushed_seq_ = seq;
  wake_writers();
}

void IOStream::wake_writers() noexcept {
  if (!pending_ || pending_->write_waiters.empty()) return;
  auto& waiters = pending_->write_waiters;
  std::vector<std::coroutine_handle<>> ready;
  auto it = std::remove_if(waiters.begin(), waiters.end(), [&](auto& waiter) {
    if (closed_ || waiter.first <= flushed_seq_) {
      ready.push_back(waiter.second);
      return true;
    }
    return false;
  });
  waiters.erase(it, waiters.end());
  release_pending_if_empty();
  for (auto h : ready) h.resume();
}

bool IOStream::WriteAwaitable::await_ready() const noexcept {
  return stream_->flushed_seq_ >= seq_ || stream_->closed_;
}

bool IOStream::WriteAwaitable::await_suspend(std::coroutine_handle<> h) {
  // Whoever waits for a write wants it sent, corked or not.
  if (stream_->corked_ && stream_->corked_->seq >= seq_) stream_->flush_corked();
  if (await_ready()) return false;
  stream_->pending().write_waiters.emplace_back(seq_, h);
  return true;
}

void IOStream::WriteAwaitable::await_resume() const {
  if (stream_->flushed_seq_ < seq_) throw StreamClosedError(stream_->error_);
}

void IOStream::close(std::error_code error) {
  if (closed_ || closing_) return;
  closing_ = true;  // a failed write inside before_close() must not recurse
  error_ = error;
  before_close();
  if (held_) {
    // held_: it had a loop
    tornado::detail::IOLoopStreams::cancel_after_io(*loop_of(tcp_), &IOStream::release_hold, this);
    held_ = false;
    --cork_depth_;
  }
  flush_corked();  // a close frame written just before close() still goes out
  closed_ = true;
  if (reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(tcp_));
  struct Notice {
    static void closed(void* stream) noexcept {
      static_cast<IOStream*>(stream)->on_handle_closed();
    }
  };
  tornado::detail::close_handle<uv_tcp_t, Notice>(tcp_);
}

void IOStream::on_handle_closed() noexcept {
  handle_closed_ = true;
  unlink();
  tcp_ = nullptr;
  auto keep = std::move(self_);  // released when this function returns
  auto* loop = ioloop::IOLoop::current_or_null();
  if (loop && loop->closing()) {
    // Nothing may be resumed in teardown; a listener is told, so that it
    // can release what it owns.
    if (!reader_waits_) {
      auto* listener = static_cast<ReadListener*>(std::exchange(reader_, nullptr));
      if (listener) listener->on_readable();
    }
    return;
  }
  wake_reader();
  wake_writers();
  if (pending_ && pending_->close_callback) {
    auto callback = std::move(pending_->close_callback);
    pending_->close_callback = nullptr;
    release_pending_if_empty();
    callback();
  }
}

// ---------------------------------------------------------------------------
// SSLIOStream

std::shared_ptr<SSLIOStream> SSLIOStream::create(std::unique_ptr<uv_tcp_t> tcp,
                                                 std::shared_ptr<SSL_CTX> context, bool server_side,
                                                 std::string server_hostname,
                                                 StreamOptions options) {
  // One allocation for the stream and its reference counts.
  auto stream = std::make_shared<SSLIOStream>(Token{}, std::move(tcp), std::move(context),
                                              server_side, std::move(server_hostname), options);
  stream->self_ = stream;
  if (!server_side) {
    stream->start_reading();
    stream->drive_handshake();  // sends the ClientHello
  }
  return stream;
}

SSLIOStream::SSLIOStream(Token, std::unique_ptr<uv_tcp_t> tcp, std::shared_ptr<SSL_CTX> context,
                         bool server_side, std::string server_hostname, StreamOptions options)
    : IOStream(std::move(tcp), options),
      context_(std::move(context)),
      ssl_(SSL_new(context_.get())) {
  if (!ssl_) throw std::runtime_error("SSL_new failed");
  // OpenSSL's record buffers (about 16 KiB each way) are freed whenever
  // they are empty instead of kept for the connection's life: an idle TLS
  // connection costs about a quarter as much, a busy one a malloc per record.
  SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
  BIO* network_in = BIO_new(BIO_s_mem());
  BIO* network_out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl_.get(), network_in, network_out);  // the SSL object owns both
  if (server_side) {
    SSL_set_accept_state(ssl_.get());
  } else {
    SSL_set_connect_state(ssl_.get());
    if (!server_hostname.empty()) {
      SSL_set_tlsext_host_name(ssl_.get(), server_hostname.c_str());
      if (SSL_CTX_get_verify_mode(context_.get()) & SSL_VERIFY_PEER) {
        SSL_set1_host(ssl_.get(), server_hostname.c_str());
      }
    }
  }
}

SSLIOStream::~SSLIOStream() = default;

void SSLIOStream::SslFree::operator()(SSL* ssl) const noexcept {
  SSL_free(ssl);
}

std::string SSLIOStream::version() const {
  return SSL_get_version(ssl_.get());
}

Task<> SSLIOStream::wait_for_handshake() {
  if (handshake_done_) co_return;
  if (closed()) throw StreamClosedError(error());
  start_reading();
  co_await handshake_;
}

void SSLIOStream::fail(const char* where) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  std::error_code error =
      code ? std::error_code(static_cast<int>(code), ssl_category()) : make_uv_error(UV_EPROTO);
  log::general.debug("TLS error in {} from {}: {}", where, remote_ip(), error.message());
  if (!handshake_.done())
    handshake_.set_exception(std::make_exception_ptr(StreamClosedError(error)));
  close(error);
}

void SSLIOStream::on_transport_data(char* data, std::size_t size) {
  BIO_write(SSL_get_rbio(ssl_.get()), data, static_cast<int>(size));
  if (!handshake_done_) {
    drive_handshake();
    if (!handshake_done_ || closed()) return;
  }
  read_plaintext();
}

void SSLIOStream::drive_handshake() {
  int result = SSL_do_handshake(ssl_.get());
  flush_ciphertext();
  if (result == 1) {
    handshake_done_ = true;
    if (!pending_plaintext_.empty()) {
      std::string plain = std::move(pending_plaintext_);
      pending_plaintext_.clear();
      std::string_view part(plain);
      write_plain(std::span<const std::string_view>(&part, 1), pending_seq_);
    } else if (pending_seq_) {
      mark_flushed(pending_seq_);
    }
    if (!handshake_.done()) handshake_.set_result();
    return;
  }
  int error = SSL_get_error(ssl_.get(), result);
  if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) fail("handshake");
}

void SSLIOStream::read_plaintext() {
  while (!closed()) {
    char plain[16 * 1024];
    int n = SSL_read(ssl_.get(), plain, sizeof plain);
    if (n > 0) {
      append_plain(plain, static_cast<std::size_t>(n));
      continue;
    }
    int error = SSL_get_error(ssl_.get(), n);
    if (error == SSL_ERROR_WANT_READ) break;
    if (error == SSL_ERROR_ZERO_RETURN) {
      close();
      break;
    }
    fail("read");
    break;
  }
  if (!closed()) release_large_bio(ssl_.get(), true);
  flush_ciphertext();  // TLS 1.3 may answer post-handshake messages
}

void SSLIOStream::write_plain(std::span<const std::string_view> parts, std::uint64_t seq) {
  if (!handshake_done_) {
    for (auto part : parts) pending_plaintext_.append(part);
    pending_seq_ = seq;
    // A server's handshake advances only as the peer's records are read: one
    // that writes before it reads would otherwise leave the ClientHello
    // unread, and both sides would wait for ever.
    start_reading();
    return;
  }
  // Held as plaintext (see write_out): the answers to one poll's reads are
  // encrypted together.
  write_raw(parts, seq);
}

void SSLIOStream::write_out(std::span<const std::string_view> parts, std::uint64_t seq) {
  // Parts that fit one record are joined first: each SSL_write makes at
  // least one record, and every record costs a seal here and an open at the
  // peer (a response's head and body, a frame's header and payload).
  constexpr std::size_t kRecord = 16 * 1024;
  std::size_t total = 0;
  for (auto part : parts) total += part.size();
  if (parts.size() > 1 && total <= kRecord) {
    std::array<char, kRecord> joined;
    std::size_t at = 0;
    for (auto part : parts) {
      // An empty part may have no data pointer, which memcpy must not see.
      if (part.empty()) continue;
      std::memcpy(joined.data() + at, part.data(), part.size());
      at += part.size();
    }
    if (!encrypt(std::string_view(joined.data(), total))) return;
  } else {
    for (auto part : parts) {
      if (!encrypt(part)) return;
    }
  }
  flush_ciphertext(seq);
}

bool SSLIOStream::encrypt(std::string_view plain) {
  if (plain.empty()) return true;
  std::size_t written = 0;
  // Without partial writes, and into a memory BIO, SSL_write_ex takes all.
  if (SSL_write_ex(ssl_.get(), plain.data(), plain.size(), &written) != 1) {
    fail("write");
    return false;
  }
  return true;
}

void SSLIOStream::flush_ciphertext(std::uint64_t seq) {
  // Straight to the socket: plaintext is what waits to be held, and records
  // must leave in the order they were sealed.
  BIO* out = SSL_get_wbio(ssl_.get());
  char* data = nullptr;
  long size = BIO_get_mem_data(out, &data);
  if (size > 0) {
    std::string_view part(data, static_cast<std::size_t>(size));
    write_now(std::span<const std::string_view>(&part, 1), seq);
    (void)BIO_reset(out);
    release_large_bio(ssl_.get(), false);
  } else if (seq) {
    mark_flushed(seq);
  }
}

void SSLIOStream::before_close() {
  flush_corked();  // held plaintext is sealed before the close_notify
  if (handshake_done_) {
    SSL_shutdown(ssl_.get());
    flush_ciphertext();
  }
  if (!handshake_.done()) {
    handshake_.set_exception(std::make_exception_ptr(StreamClosedError(error())));
  }
}

}  // namespace tornado::iostream
