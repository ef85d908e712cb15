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
class IOStream : public std::enable_shared_from_this<IOStream> {
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
  /// open. Starts reading; nullptr stops the calls. Not with `wait_for_bytes`.
  void set_read_listener(ReadListener* listener);
  /// The bytes read but not consumed yet.
  std::string_view buffered() const noexcept {
    if (lending_) return {lent_.data(), lent_.size()};
    return {read_buffer_.data() + read_start_, read_buffer_.size() - read_start_};
  }
  /// The same bytes, mutable (a WebSocket parser unmasks in place).
  std::span<char> buffered_mutable() noexcept {
    if (lending_) return lent_;
    return {read_buffer_.data() + read_start_, read_buffer_.size() - read_start_};
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
  std::size_t pending_write_bytes() const noexcept { return pending_write_bytes_ + corked_.size(); }

  /// Holds small writes back until the matching `uncork()`, which sends them
  /// in one system call: a parser answering every message of one read calls
  /// cork() before and uncork() after. A large write, awaiting a write, or
  /// closing the stream sends what is held at once. Calls nest.
  void cork() noexcept { ++cork_depth_; }
  /// Ends a `cork()`; the outermost one sends what was held.
  void uncork();

  /// Called once when the stream closes, for whatever reason.
  void set_close_callback(std::function<void()> callback) { close_callback_ = std::move(callback); }
  /// Closes the stream; pending reads and writes raise StreamClosedError.
  void close(std::error_code error = {});
  /// True once the stream is closed.
  bool closed() const noexcept { return closed_; }
  /// Why the stream closed (empty for a clean close).
  std::error_code error() const noexcept { return error_; }

  /// Disables Nagle's algorithm (TCP_NODELAY).
  void set_nodelay(bool value) noexcept;
  /// The peer's address and port, as text ("127.0.0.1", 54321).
  const std::string& remote_ip() const noexcept { return remote_ip_; }
  /// The peer's port.
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
  void on_handle_closed() noexcept;
  void wake_reader() noexcept;
  void wake_writers() noexcept;
  void hold_until_io_done() noexcept;
  static void release_hold(void* stream);

  uv_tcp_t* tcp_;

 protected:
  /// Keeps the stream alive while its libuv handle is open.
  std::shared_ptr<IOStream> self_;

 private:
  StreamOptions options_;
  std::string read_buffer_;
  std::size_t read_start_ = 0;
  // While a reader is resumed on bytes still in the caller's scratch buffer
  // (append_plain), buffered() is `lent_`; what is left is copied after.
  std::span<char> lent_;
  bool lending_ = false;
  std::coroutine_handle<> read_waiter_;
  std::size_t read_waiter_min_ = 0;
  ReadListener* read_listener_ = nullptr;
  std::vector<std::pair<std::uint64_t, std::coroutine_handle<>>> write_waiters_;
  std::uint64_t write_seq_ = 0;
  std::uint64_t flushed_seq_ = 0;
  std::size_t pending_write_bytes_ = 0;
  std::size_t writes_in_flight_ = 0;
  // Writes held back by cork(): the bytes, and the last write number among them.
  std::string corked_;
  std::uint64_t corked_seq_ = 0;
  unsigned cork_depth_ = 0;
  // Corked by the loop from a read until the loop has handled the whole
  // poll's events (detail::IOLoopStreams::after_io); the ticket cancels that.
  bool held_ = false;
  std::size_t held_ticket_ = 0;
  std::function<void()> close_callback_;
  // In the loop's list of what to close if the loop goes first.
  tornado::detail::CloserLink closer_;
  std::error_code error_;
  std::string remote_ip_;
  int remote_port_ = 0;
  bool reading_ = false;
  bool closed_ = false;
  bool closing_ = false;
  bool handle_closed_ = false;
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

  /// Completes when the TLS handshake has finished; throws StreamClosedError
  /// (with the TLS failure) if it fails.
  Task<> wait_for_handshake();
  /// Always true.
  bool is_ssl() const noexcept override { return true; }
  /// The negotiated protocol version, e.g. "TLSv1.3".
  std::string version() const;

 private:
  SSLIOStream(std::unique_ptr<uv_tcp_t> tcp, std::shared_ptr<SSL_CTX> context, bool server_side,
              std::string server_hostname, StreamOptions options);
  void on_transport_data(char* data, std::size_t size) override;
  void write_plain(std::span<const std::string_view> parts, std::uint64_t seq) override;
  void write_out(std::span<const std::string_view> parts, std::uint64_t seq) override;
  void before_close() override;
  void drive_handshake();
  void read_plaintext();
  void flush_ciphertext(std::uint64_t seq = 0);
  bool encrypt(std::string_view plain);
  void fail(const char* where);

  std::shared_ptr<SSL_CTX> context_;
  std::unique_ptr<SSL, void (*)(SSL*)> ssl_;
  bool handshake_done_ = false;
  std::string pending_plaintext_;
  std::uint64_t pending_seq_ = 0;
  Future<> handshake_;
};

}  // namespace tornado::iostream
