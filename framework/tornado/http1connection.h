// tornado::http1connection: HTTP/1.x on one connection, mirroring
// tornado.http1connection.
//
// `HTTP1ServerConnection` reads requests from an IOStream with llhttp (strict:
// no lenient flags), hands each to an `HTTPMessageDelegate`, and writes the
// response the delegate produces. Requests on one connection are answered
// strictly in order: the parser pauses after each complete request until its
// response is finished, so pipelined requests queue in the read buffer and a
// malformed request can never be half-read into the next one.
//
// Application code does not use this module directly: `web::Application` is
// the delegate, and `RequestHandler::write`/`finish` call the response
// methods below.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/detail/http1_strict.h"
#include "tornado/httputil.h"
#include "tornado/iostream.h"

namespace tornado::http1connection {

/// Per-connection limits, with Tornado's names and defaults.
struct HTTP1ConnectionParameters {
  /// Close every connection after one request.
  bool no_keep_alive = false;
  /// Most bytes in the request line and headers (431 past it).
  std::size_t max_header_size = 64 * 1024;
  /// Most bytes in a request body (413, sent before the body is read).
  std::size_t max_body_size = 100 * 1024 * 1024;
  /// A connection with no request in flight is closed after this long.
  std::chrono::milliseconds idle_connection_timeout = std::chrono::seconds(3600);
  /// A request body must arrive within this long (from its headers).
  std::chrono::milliseconds body_timeout = std::chrono::seconds(3600);
  /// Inflate `Content-Encoding: gzip` request bodies (within max_body_size).
  bool decompress = false;
  /// Honour X-Real-Ip / X-Forwarded-For / X-Scheme / X-Forwarded-Proto.
  bool xheaders = false;
  /// Proxies whose X-Forwarded-For entries are skipped (with xheaders).
  std::vector<std::string> trusted_downstream;
  /// "http" or "https": what `request.protocol` says without xheaders.
  std::string protocol = "http";
};

class HTTP1ServerConnection;

/// Receives one request's body and completion, as Tornado's
/// `HTTPMessageDelegate`. Answers through the connection.
///
/// As Tornado's, `headers_received` and `data_received` may return work
/// (a non-empty Task) that the connection awaits before it reads more of
/// the body: a streaming handler's `prepare()` and a coroutine
/// `data_received` run there, which gives flow control and lets limits set
/// in `prepare()` apply to the body that follows.
class HTTPMessageDelegate {
 public:
  virtual ~HTTPMessageDelegate() = default;
  /// The request line and headers have been parsed (start_request's
  /// request); nothing of the body has been read yet.
  virtual Task<> headers_received() { return {}; }
  /// A piece of the body (de-chunked and, with `decompress`, inflated).
  /// `chunk` is valid only during the call: a returned Task must own what
  /// it keeps.
  virtual Task<> data_received(std::string_view chunk) = 0;
  /// The whole request has arrived; respond now or later.
  virtual void finish() = 0;
  /// The connection closed before the response was finished.
  virtual void on_connection_close() {}
};

/// Creates a message delegate for each request, as Tornado's
/// `HTTPServerConnectionDelegate` (`web::Application` is one).
class HTTPServerConnectionDelegate {
 public:
  virtual ~HTTPServerConnectionDelegate() = default;
  /// Called once the request line and headers are parsed and valid.
  virtual std::unique_ptr<HTTPMessageDelegate> start_request(
      std::shared_ptr<HTTP1ServerConnection> connection,
      std::shared_ptr<httputil::HTTPServerRequest> request) = 0;
};

/// The server side of one HTTP/1.x connection, as `tornado.http1connection.HTTP1ServerConnection`:
/// reads requests one after another (keep-alive, pipelining), hands each to the delegate,
/// and writes the responses.
class HTTP1ServerConnection : public std::enable_shared_from_this<HTTP1ServerConnection> {
 public:
  /// Serves `stream` with requests routed to `delegate`, within the limits in `params`.
  HTTP1ServerConnection(std::shared_ptr<iostream::IOStream> stream,
                        std::shared_ptr<HTTPServerConnectionDelegate> delegate,
                        std::shared_ptr<const HTTP1ConnectionParameters> params);
  ~HTTP1ServerConnection();
  HTTP1ServerConnection(const HTTP1ServerConnection&) = delete;
  HTTP1ServerConnection& operator=(const HTTP1ServerConnection&) = delete;

  /// Reads and answers requests until the connection closes.
  Task<> serve();

  /// Starts the response. Without a Content-Length header and unless
  /// `finishing`, an HTTP/1.1 body is sent chunked. `chunk` goes out in the
  /// same write as the headers.
  iostream::IOStream::WriteAwaitable write_headers(int code, std::string_view reason,
                                                   const httputil::HTTPHeaders& headers,
                                                   std::string_view chunk = {},
                                                   bool finishing = false);
  /// Sends a piece of the body (framed when chunked).
  iostream::IOStream::WriteAwaitable write(std::string_view chunk);
  /// Ends the response; the next pipelined request is read after this.
  void finish();

  /// Hands the stream over (a WebSocket upgrade); the connection stops
  /// reading requests from it.
  std::shared_ptr<iostream::IOStream> detach();

  /// Sets this request's body limit (Tornado's
  /// `request.connection.set_max_body_size`). It applies to a body not yet
  /// read: call it in the `prepare()` of a handler that streams its body
  /// (defines `data_received`), which runs before the body is read; other
  /// handlers run after the whole body has arrived.
  void set_max_body_size(std::size_t size) noexcept { max_body_size_ = size; }
  /// The rest of this request's body must arrive within `timeout` from now
  /// (Tornado's `set_body_timeout`; same rule as `set_max_body_size`).
  void set_body_timeout(std::chrono::milliseconds timeout) noexcept { arm_timer(timeout); }
  /// Closes the connection (pending work sees StreamClosedError).
  void close();
  /// True once the connection is closed.
  bool closed() const noexcept { return !stream_ || stream_->closed(); }
  /// True when no request is being read or answered.
  bool idle() const noexcept { return idle_; }
  /// The underlying stream (null after `detach`).
  const std::shared_ptr<iostream::IOStream>& stream() const noexcept { return stream_; }

 private:
  friend struct ParserCallbacks;
  int on_headers_complete() noexcept;
  int on_body(const char* at, std::size_t length) noexcept;
  int refuse(const char* reason) noexcept;
  void next_message() noexcept;
  void apply_xheaders(httputil::HTTPServerRequest& request) const;
  void fail_request(int code) noexcept;
  void send_continue() noexcept;
  Task<> send_error_and_close(int code);
  void arm_timer(std::chrono::milliseconds timeout) noexcept;
  void start_timer(std::uint64_t delay) noexcept;
  void disarm_timer() noexcept;
  void response_finished() noexcept;
  void set_corked(bool corked);

  std::shared_ptr<iostream::IOStream> stream_;
  std::shared_ptr<HTTPServerConnectionDelegate> server_delegate_;
  std::shared_ptr<const HTTP1ConnectionParameters> params_;
  // llhttp's parser and the libuv timer: kept out of this header, so that a
  // user of web.h needs neither library's headers, and freed on detach().
  struct Native;
  std::unique_ptr<Native> native_;
  std::uint64_t deadline_ = 0;  // loop time (ms) the connection times out at; 0: none

  // Request being parsed.
  std::string url_;
  std::string field_;
  std::string value_;
  httputil::HTTPHeaders headers_;
  std::size_t header_bytes_ = 0;
  std::size_t body_bytes_ = 0;
  std::size_t max_body_size_ = 0;
  int error_code_ = 0;                  // the status to answer a refused request with
  const char* error_reason_ = nullptr;  // why a 400 was sent, for the log
  // RFC 9112 checks llhttp 8.1 does not make (detail/http1_strict.h).
  detail::http1::HeadScanner head_scanner_;
  detail::http1::ChunkGuard chunk_guard_;
  bool head_checked_ = false;       // the current message's head passed head_scanner_
  bool in_trailers_ = false;        // llhttp is past the current message's headers
  const char* exec_end_ = nullptr;  // end of the bytes given to llhttp_execute
  std::shared_ptr<httputil::HTTPServerRequest> request_;
  std::unique_ptr<HTTPMessageDelegate> delegate_;
  // Work the delegate returned, awaited before more of the body is parsed.
  std::vector<Task<>> pending_;
  bool length_unchecked_ = false;  // the Content-Length check waits for pending_
  struct Inflater;
  std::unique_ptr<Inflater> inflater_;

  // Response being written.
  std::string out_;
  bool request_head_ = false;
  bool request_keep_alive_ = true;
  bool request_http10_ = false;
  bool chunked_ = false;
  bool keep_alive_ = true;
  bool response_started_ = false;
  bool response_done_ = false;
  std::coroutine_handle<> finish_waiter_;
  bool detached_ = false;
  bool idle_ = true;
  bool corked_ = false;  // this connection holds a cork() on the stream
};

}  // namespace tornado::http1connection
