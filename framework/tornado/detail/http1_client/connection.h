// One HTTP/1.1 client connection: writes a request and reads its response
// with llhttp in response mode (Content-Length, chunked and read-until-close
// bodies, HEAD and 1xx/204/304 without body, `Expect: 100-continue`), and
// says afterwards whether the connection may carry another request.
//
// The client (httpclient.cc) owns connections, pools the reusable ones and
// applies timeouts by closing the stream; this layer only speaks the protocol.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tornado/concurrent.h"
#include "tornado/detail/http1_client/gzip.h"
#include "tornado/detail/http1_strict.h"
#include "tornado/httputil.h"
#include "tornado/iostream.h"

namespace tornado::detail {

/// Limits for reading responses.
struct HTTP1ClientParams {
  std::size_t max_header_size = 64 * 1024;
  std::size_t max_body_size = 100 * 1024 * 1024;
};

/// One request as it goes on the wire. Views and pointers refer to the
/// caller's request, which outlives the exchange.
struct HTTP1ClientRequest {
  std::string_view head;  ///< request line, header fields and the blank line
  std::optional<std::string_view> body;
  /// httpclient's BodyProducer (the same type): writes the body in pieces,
  /// chunked unless `content_length` says how long it is.
  const std::function<Task<>(std::function<iostream::IOStream::WriteAwaitable(std::string_view)>)>*
      body_producer = nullptr;
  std::optional<std::size_t> content_length;
  bool head_method = false;  ///< HEAD: the response has headers only
  bool expect_100_continue = false;
  bool connection_close = false;  ///< the request asked the server to close
  bool decompress = false;        ///< inflate a gzip body, drop Content-Encoding
  /// The response will be followed as a redirect if it is a 3xx with a
  /// Location: its body is discarded and no callback sees it.
  bool may_redirect = false;
  const std::function<void(std::string_view)>* streaming_callback = nullptr;
  const std::function<void(std::string_view)>* header_callback = nullptr;
};

struct HTTP1ClientResponse {
  httputil::ResponseStartLine start_line;
  httputil::HTTPHeaders headers;
  std::string body;
};

class HTTP1ClientConnection {
 public:
  HTTP1ClientConnection(std::shared_ptr<iostream::IOStream> stream, HTTP1ClientParams params);
  /// Closes the stream unless it was handed on.
  ~HTTP1ClientConnection();
  HTTP1ClientConnection(const HTTP1ClientConnection&) = delete;
  HTTP1ClientConnection& operator=(const HTTP1ClientConnection&) = delete;

  /// Sends `request` (headers and body in one write, unless it waits for
  /// 100 Continue or has a producer) and reads the final response. Throws
  /// iostream::StreamClosedError if the connection ends first and
  /// httputil::HTTPInputError for a malformed or oversized response.
  Task<HTTP1ClientResponse> fetch(HTTP1ClientRequest request);

  /// After `fetch`: the connection is clean and may carry another request.
  bool reusable() const noexcept;
  /// True once any byte of a response arrived on this connection during the
  /// last `fetch` (a reused connection that failed before that was stale).
  bool received_response_bytes() const noexcept { return received_any_; }
  /// Number of requests this connection has carried.
  int requests() const noexcept { return requests_; }
  const std::shared_ptr<iostream::IOStream>& stream() const noexcept { return stream_; }

 private:
  struct Callbacks;
  void start_message();
  void decide_body_handling();
  void process_headers();
  void process_body();
  bool finish_on_eof();
  bool has_producer() const noexcept;
  Task<> send_produced_body();

  std::shared_ptr<iostream::IOStream> stream_;
  HTTP1ClientParams params_;
  llhttp_t parser_{};
  const HTTP1ClientRequest* request_ = nullptr;

  // The message being parsed; filled by llhttp callbacks (which only copy
  // bytes and set flags, never run user code).
  HTTP1ClientResponse response_;
  std::string header_field_;
  std::size_t head_bytes_ = 0;  // status reason, names and values parsed so far
  std::string header_value_;
  std::string pending_body_;
  std::string error_;
  std::size_t raw_body_bytes_ = 0;
  std::optional<GzipDecompressor> decompressor_;
  // RFC 9112 checks llhttp 8.1 does not make (detail/http1_strict.h).
  http1::HeadScanner head_scanner_{true};
  http1::ChunkGuard chunk_guard_;
  bool head_checked_ = false;
  const char* exec_end_ = nullptr;  // end of the bytes given to llhttp_execute
  bool headers_complete_ = false;
  bool headers_processed_ = false;
  bool message_complete_ = false;
  bool keep_alive_ = false;
  bool discard_body_ = false;
  bool buffer_body_directly_ = false;
  bool connection_close_ = false;
  bool body_unsent_ = false;
  bool closed_by_eof_ = false;
  bool received_any_ = false;
  bool done_ = false;
  int requests_ = 0;
};

}  // namespace tornado::detail
