// tornado::iostream: buffered, awaitable TCP and TLS streams, mirroring
// tornado.iostream.
//
// An `IOStream` owns one connected libuv TCP handle. Reads fill one growable
// buffer and complete the pending read (`read_until`, `read_bytes`,
// `read_until_close`, or the low-level `wait_for_bytes`); writes are tried at
// once (`uv_try_write`) and queued only for what the socket did not take. Each
// write returns an awaitable that completes when those bytes reached the
// kernel: awaiting it is backpressure, ignoring it is fine.
//
//   tornado::Task<> echo_line(std::shared_ptr<tornado::iostream::IOStream> stream) {
//     std::string line = co_await stream->read_until("\n", 1024);
//     co_await stream->write(line);
//   }
//
// `SSLIOStream` puts OpenSSL between the socket and the same interface: the
// socket bytes go through memory BIOs, so libuv and TLS never share a fd.
//
// Lifetime: a stream keeps itself alive while its socket is open; it is
// released after `close()` once libuv has closed the handle. Hold it by
// `std::shared_ptr`. All methods are for the stream's loop thread only.
#pragma once

#include <sys/types.h>  // ssize_t, of libuv's read callback

#include <array>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "tornado/concurrent.h"

/// libuv's TCP handle type, named so that this header needs no libuv include.
using uv_tcp_t = struct uv_tcp_s;
/// libuv's buffer type, named for the same reason.
struct uv_buf_t;
/// OpenSSL's connection type, named so that this header needs no OpenSSL include.
using SSL = struct ssl_st;
/// OpenSSL's context type, named so that this header needs no OpenSSL include.
using SSL_CTX = struct ssl_ctx_st;

namespace tornado::detail {
/// Writes a stream holds back while corked: the bytes, and the last write
/// number among them. The loop keeps a pool of these for its streams.
struct StreamCork {
  std::string bytes;
  std::uint64_t seq = 0;
};
}  // namespace tornado::detail

namespace tornado::iostream {

/// Raised by every pending or later operation once the stream is closed.
/// `real_error` is the socket or TLS error that closed it, if any.
class StreamClosedError : public std::runtime_error {
 public:
  /// A closed stream; `real_error` says why when a socket or TLS error closed it.
  explicit StreamClosedError(std::error_code real_error = {});
  /// The error that closed the stream; empty for a clean close.
  std::error_code real_error;
};

/// A read whose limit (`max_bytes`) was exceeded before it could complete.
class UnsatisfiableReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A write that would grow the queue past `max_write_buffer_size`.
class StreamBufferFullError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Limits, with Tornado's names and defaults.
struct StreamOptions {
  /// Most bytes buffered for reading before the stream is closed (100 MiB).
  std::size_t max_buffer_size = 100 * 1024 * 1024;
  /// Most bytes queued for writing; 0 means unlimited, as Tornado.
  std::size_t max_write_buffer_size = 0;
};

/// The libuv error category: uv error codes (negative errno) as std::error_code.
const std::error_category& uv_category() noexcept;
/// A libuv status (negative errno) as a std::error_code of `uv_category()`.
std::error_code make_uv_error(int status) noexcept;

/// A non-blocking TCP connection with awaitable reads and writes, as
/// `tornado.iostream.IOStream`. Owned through shared_ptr; loop thread only.
class IOStream : private tornado::detail::CloserLink {
 public:
  /// Wraps a connected TCP handle (initialised on the current loop).
  static std::shared_ptr<IOStream> create(std::unique_ptr<uv_tcp_t> tcp,
                                          StreamOptions options = {});
  virtual ~IOStream();
  IOStream(const IOStream&) = delete;
  IOStream& operator=(const IOStream&) = delete;

  /// Awaitable returned by `wait_for_bytes`; yields a view of the whole
  /// read buffer, valid until the next `consume` or read.
  class BufferedAwaitable {
   public:
    /// True when enough bytes are buffered already.
    bool await_ready() const noexcept;
    /// Parks the awaiting coroutine until the bytes arrive or the stream closes.
    void await_suspend(std::coroutine_handle<> h);
    /// The buffered bytes; throws StreamClosedError if the stream closed first.
    std::string_view await_resume() const;

   private:
    friend class IOStream;
    BufferedAwaitable(IOStream* stream, std::size_t min_bytes) noexcept
        : stream_(stream), min_bytes_(min_bytes) {}
    IOStream* stream_;
    std::size_t min_bytes_;
    // While suspended, the stream points at this awaitable (it lives in the
    // waiting coroutine's frame) instead of keeping a copy of both fields.
    std::coroutine_handle<> waiter_;
  };

  /// Awaitable returned by `write`; completes when the bytes are flushed to
  /// the kernel, throws StreamClosedError if the stream closed first.
  class WriteAwaitable {
   public:
    /// True when the bytes are already flushed.
    bool await_ready() const noexcept;
    /// Parks the awaiting coroutine until the bytes are flushed; false if they already are.
    bool await_suspend(std::coroutine_handle<> h);
    /// Throws StreamClosedError if the stream closed before the bytes were flushed.
    void await_resume() const;

   private:
    friend class IOStream;
    WriteAwaitable(IOStream* stream, std::uint64_t seq) noexcept : stream_(stream), seq_(seq) {}
    IOStream* stream_;
    std::uint64_t seq_;
  };

  /// Reads up to and including `delimiter`; UnsatisfiableReadError if more
  /// than `max_bytes` (0: unlimited) arrive without it.
  Task<std::string> read_until(std::string delimiter, std::size_t max_bytes = 0);
  /// Reads exactly `num_bytes`, or with `partial` whatever is there (≥ 1).
  Task<std::string> read_bytes(std::size_t num_bytes, bool partial = false);
  /// Reads everything until the peer closes.
  Task<std::string> read_until_close();

  /// Low level, for protocol parsers: completes once at least `min_bytes`
  /// are buffered (throws StreamClosedError if the stream closes first).
  BufferedAwaitable wait_for_bytes(std::size_t min_bytes = 1) noexcept {
    return BufferedAwaitable(this, min_bytes);
  }
  /// Told when a stream has bytes to read or has closed; see `set_read_listener`.
  class ReadListener {
   public:
    /// Bytes are buffered, or the stream has closed (`closed()`), or the
    /// loop is being torn down (`IOLoop::closing()`).
    virtual void on_readable() noexcept = 0;

   protected:
    ~ReadListener() = default;
  };
  /// Low level, for a protocol that reads for the stream's whole life (a
  /// WebSocket): instead of a coroutine parked in `wait_for_bytes` (whose
  /// frame an idle connection would keep), `listener` is called on every
  /// read, on close, and once when the loop is torn down with the stream
  /// open. Starts reading; nullptr stops the calls. Not with `wait_for_bytes`
  /// (std::logic_error while a coroutine waits there, and the reverse).
  void set_read_listener(ReadListener* listener);
  /// The bytes read but not consumed yet.
  std::string_view buffered() const noexcept {
    if (lent_) return {lent_->data(), lent_->size()};
    if (read_buffer_)
      return {read_buffer_->bytes.data() + read_buffer_->start,
              read_buffer_->bytes.size() - read_buffer_->start};
    return {};
  }
  /// The same bytes, mutable (a WebSocket parser unmasks in place).
  std::span<char> buffered_mutable() noexcept {
    if (lent_) return *lent_;
    if (read_buffer_)
      return {read_buffer_->bytes.data() + read_buffer_->start,
              read_buffer_->bytes.size() - read_buffer_->start};
    return {};
  }
  /// Drops `n` bytes from the front of the read buffer.
  void consume(std::size_t n) noexcept;

  /// Writes `data`; the awaitable completes once it is flushed. Bytes
  /// written while the loop handles a read (of any stream) leave once it has
  /// handled every event of that poll, all of a stream's in one system call.
  WriteAwaitable write(std::string_view data);
  /// Writes several buffers as one (a single writev when possible).
  WriteAwaitable write(std::span<const std::string_view> parts);
  /// Writes bytes shared with other streams (one WebSocket frame published
  /// to many): what the kernel does not take at once is queued by keeping
  /// `data` alive, not by copying it. Small writes while corked are still
  /// gathered (a copy of a few bytes costs less than a system call each).
  WriteAwaitable write_shared(std::shared_ptr<const std::string> data);
  /// An awaitable that is already complete: for a write that was not made
  /// (a message dropped by a backpressure policy).
  WriteAwaitable completed_write() noexcept { return WriteAwaitable(this, 0); }
  /// Bytes accepted by `write` but not yet flushed to the kernel.
  std::size_t pending_write_bytes() const noexcept {
    return (pending_ ? pending_->write_bytes : 0) + (corked_ ? corked_->bytes.size() : 0);
  }

  /// Holds small writes back until the matching `uncork()`, which sends them
  /// in one system call: a parser answering every message of one read calls
  /// cork() before and uncork() after. A large write, awaiting a write, or
  /// closing the stream sends what is held at once. Calls nest.
  void cork() noexcept { ++cork_depth_; }
  /// Ends a `cork()`; the outermost one sends what was held.
  void uncork();

  /// Called once when the stream closes, for whatever reason.
  void set_close_callback(std::function<void()> callback);
  /// Closes the stream; pending reads and writes raise StreamClosedError.
  void close(std::error_code error = {});
  /// True once the stream is closed.
  bool closed() const noexcept { return closed_; }
  /// Why the stream closed (empty for a clean close).
  std::error_code error() const noexcept { return error_; }

  /// Disables Nagle's algorithm (TCP_NODELAY).
  void set_nodelay(bool value) noexcept;
  /// The peer's address, as text ("127.0.0.1"; empty if unknown).
  std::string remote_ip() const;
  /// The peer's port (0 if unknown).
  int remote_port() const noexcept { return remote_port_; }
  /// True for an SSLIOStream.
  virtual bool is_ssl() const noexcept { return false; }

  /// Starts reading from the socket (reads also start on the first wait).
  void start_reading();
  /// The handle, for code that needs libuv directly (a WebSocket upgrade
  /// keeps using the same stream, so this is rarely needed).
  uv_tcp_t* handle() noexcept { return tcp_; }

 protected:
  /// Use `create`: streams live in a shared_ptr.
  IOStream(std::unique_ptr<uv_tcp_t> tcp, StreamOptions options);

  /// Bytes arrived from the socket. The plain stream buffers them; a TLS
  /// stream decrypts them first. `data` is scratch memory, writable.
  virtual void on_transport_data(char* data, std::size_t size);
  /// Sends plaintext `parts` for write number `seq`. The plain stream writes
  /// them; a TLS stream encrypts them first.
  virtual void write_plain(std::span<const std::string_view> parts, std::uint64_t seq);
  /// Called just before the handle closes (a TLS stream sends close_notify).
  virtual void before_close() {}

  /// Writes bytes to the socket (or holds them while corked); `seq` (0:
  /// none) completes when flushed.
  void write_raw(std::span<const std::string_view> parts, std::uint64_t seq);
  /// Sends what cork() held back.
  void flush_corked();
  /// Where written bytes leave the stream once nothing holds them: the plain
  /// stream sends them; a TLS stream encrypts them first, so that all it
  /// held in one poll becomes one record.
  virtual void write_out(std::span<const std::string_view> parts, std::uint64_t seq);
  /// Sends bytes to the socket now (what the kernel does not take is queued).
  void write_now(std::span<const std::string_view> parts, std::uint64_t seq);
  /// Adds decoded bytes to the read buffer and wakes a waiting reader.
  /// `data` is the caller's scratch memory: a reader waiting on an empty
  /// buffer parses it in place, and only what it leaves is copied.
  void append_plain(char* data, std::size_t size);
  /// Marks write `seq` flushed without writing (nothing was left to send).
  void mark_flushed(std::uint64_t seq) noexcept;

 private:
  struct WriteRequest;
  void on_read(ssize_t nread, const uv_buf_t* buf) noexcept;
  void write_now_shared(std::shared_ptr<const std::string> data, std::uint64_t seq);
  void release_corked() noexcept;
  void on_write_done(WriteRequest* request, int status) noexcept;
  void queued(const WriteRequest& request) noexcept;
  bool writes_in_flight() const noexcept { return pending_ && pending_->writes_in_flight != 0; }
  void on_handle_closed() noexcept;
  void wake_reader() noexcept;
  void wake_writers() noexcept;
  void hold_until_io_done() noexcept;
  static void release_hold(void* stream);

  // An idle connection holds only what follows: what a read, a queued
  // write or a cork needs lives in blocks made when first needed and
  // released (or given back to the loop's pool) once empty again.

  // Bytes read and not consumed, when the reader left some (most readers
  // consume all they are lent, and then no buffer exists).
  struct ReadBuffer {
    std::string bytes;
    std::size_t start = 0;
  };
  // Writes held back by cork(), in a block lent by the loop's pool while
  // corked and given back once sent.
  using Cork = tornado::detail::StreamCork;
  // What only some streams need, some of the time: made on first use,
  // released when everything in it is back to empty.
  struct Pending {
    // Writes handed to libuv and not completed yet.
    std::size_t write_bytes = 0;
    std::size_t writes_in_flight = 0;
    std::vector<std::pair<std::uint64_t, std::coroutine_handle<>>> write_waiters;
    std::function<void()> close_callback;
    // The limits, when one does not fit the 32 bits kept in the stream.
    StreamOptions large_options;
    bool has_large_options = false;
    bool empty() const noexcept {
      return writes_in_flight == 0 && write_bytes == 0 && write_waiters.empty() &&
             !close_callback && !has_large_options;
    }
  };
  Pending& pending();
  void release_pending_if_empty() noexcept;
  std::size_t max_buffer_size() const noexcept {
    return max_buffer_size_ != kLargeLimit ? max_buffer_size_
                                           : pending_->large_options.max_buffer_size;
  }
  std::size_t max_write_buffer_size() const noexcept {
    return max_write_buffer_size_ != kLargeLimit ? max_write_buffer_size_
                                                 : pending_->large_options.max_write_buffer_size;
  }
  static constexpr std::uint32_t kLargeLimit = UINT32_MAX;  // the real one is in pending_

  uv_tcp_t* tcp_;

 protected:
  /// Keeps the stream alive while its libuv handle is open.
  std::shared_ptr<IOStream> self_;

 private:
  std::unique_ptr<ReadBuffer> read_buffer_;
  // While a reader is resumed on bytes still in the caller's scratch buffer
  // (append_plain), buffered() is what this points to (on append_plain's
  // stack); what is left is copied after.
  std::span<char>* lent_ = nullptr;
  // The reader: a coroutine parked in wait_for_bytes (a BufferedAwaitable,
  // when reader_waits_) or a ReadListener. One pointer: never both at once.
  void* reader_ = nullptr;
  std::uint64_t write_seq_ = 0;
  std::uint64_t flushed_seq_ = 0;
  std::unique_ptr<Cork> corked_;
  std::unique_ptr<Pending> pending_;
  std::error_code error_;
  // The peer: an IPv4 address as its text (15 characters at most), an IPv6
  // address as its 16 bytes; formatted by remote_ip().
  std::array<char, 16> remote_address_{};
  std::uint16_t remote_port_ = 0;
  std::uint8_t remote_family_ = 0;  // 0 (unknown), 4 or 6
  bool reading_ : 1 = false;
  bool closed_ : 1 = false;
  bool closing_ : 1 = false;
  bool handle_closed_ : 1 = false;
  bool reader_waits_ : 1 = false;
  // Corked by the loop from a read until the loop has handled the whole
  // poll's events (detail::IOLoopStreams::after_io).
  bool held_ : 1 = false;
  // The limits of StreamOptions; kLargeLimit: see pending_.
  std::uint32_t max_buffer_size_;
  std::uint32_t max_write_buffer_size_;
  unsigned cork_depth_ = 0;
};

/// A TLS stream over OpenSSL memory BIOs, with the IOStream interface.
class SSLIOStream final : public IOStream {
 public:
  /// `server_hostname` (client side) is sent as SNI and verified against the
  /// certificate when the context verifies peers.
  static std::shared_ptr<SSLIOStream> create(std::unique_ptr<uv_tcp_t> tcp,
                                             std::shared_ptr<SSL_CTX> context, bool server_side,
                                             std::string server_hostname = {},
                                             StreamOptions options = {});
  ~SSLIOStream() override;

 private:
  struct Token {};

 public:
  /// Use `create`; public only for make_shared (Token is private).
  SSLIOStream(Token, std::unique_ptr<uv_tcp_t> tcp, std::shared_ptr<SSL_CTX> context,
              bool server_side, std::string server_hostname, StreamOptions options);

  /// Completes when the TLS handshake has finished; throws StreamClosedError
  /// (with the TLS failure) if it fails.
  Task<> wait_for_handshake();
  /// Always true.
  bool is_ssl() const noexcept override { return true; }
  /// The negotiated protocol version, e.g. "TLSv1.3".
  std::string version() const;

 private:
  void on_transport_data(char* data, std::size_t size) override;
  void write_plain(std::span<const std::string_view> parts, std::uint64_t seq) override;
  void write_out(std::span<const std::string_view> parts, std::uint64_t seq) override;
  void before_close() override;
  void drive_handshake();
  void read_plaintext();
  void flush_ciphertext(std::uint64_t seq = 0);
  bool encrypt(std::string_view plain);
  void fail(const char* where);

  struct SslFree {
    void operator()(SSL* ssl) const noexcept;
  };
  std::shared_ptr<SSL_CTX> context_;
  std::unique_ptr<SSL, SslFree> ssl_;  // a stateless deleter: 8 bytes, not 16
  bool handshake_done_ = false;
  std::string pending_plaintext_;
  std::uint64_t pending_seq_ = 0;
  Future<> handshake_;
};

}  // namespace tornado::iostream
