#include "tornado/detail/http1_client/connection.h"

#include <fmt/format.h>

#include <array>
#include <span>
#include <stdexcept>

namespace tornado::detail {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    char y = b[i] >= 'A' && b[i] <= 'Z' ? static_cast<char>(b[i] - 'A' + 'a') : b[i];
    if (x != y) return false;
  }
  return true;
}

bool is_redirect(int code) noexcept {
  return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

}  // namespace

// llhttp's callbacks: C function pointers, so they are noexcept, copy bytes
// into the connection and report failures through `error_` and -1.
struct HTTP1ClientConnection::Callbacks {
  static HTTP1ClientConnection& self(llhttp_t* parser) noexcept {
    return *static_cast<HTTP1ClientConnection*>(parser->data);
  }

  template <class Fn>
  static int guarded(llhttp_t* parser, Fn&& fn) noexcept {
    try {
      return fn(self(parser));
    } catch (const std::exception& e) {
      self(parser).error_ = e.what();
    } catch (...) {
      self(parser).error_ = "unknown error";
    }
    return -1;
  }

  // The head is limited as it is parsed, not only between reads: a whole
  // oversized head can arrive in one read.
  static bool head_within_limit(HTTP1ClientConnection& c, std::size_t length) noexcept {
    c.head_bytes_ += length;
    if (c.head_bytes_ <= c.params_.max_header_size) return true;
    c.error_ = "Response headers too large";
    return false;
  }

  static int on_status(llhttp_t* parser, const char* at, std::size_t length) noexcept {
    return guarded(parser, [&](HTTP1ClientConnection& c) {
      if (!head_within_limit(c, length)) return -1;
      c.response_.start_line.reason.append(at, length);
      return 0;
    });
  }

  static int on_header_field(llhttp_t* parser, const char* at, std::size_t length) noexcept {
    return guarded(parser, [&](HTTP1ClientConnection& c) {
      if (!head_within_limit(c, length)) return -1;
      if (c.headers_complete_) {
        c.error_ = "trailer fields after a chunked body";
        return -1;
      }
      c.header_field_.append(at, length);
      return 0;
    });
  }

  static int on_header_value(llhttp_t* parser, const char* at, std::size_t length) noexcept {
    return guarded(parser, [&](HTTP1ClientConnection& c) {
      if (!head_within_limit(c, length)) return -1;
      c.header_value_.append(at, length);
      return 0;
    });
  }

  static int on_header_value_complete(llhttp_t* parser) noexcept {
    return guarded(parser, [&](HTTP1ClientConnection& c) {
      c.response_.headers.add(c.header_field_, c.header_value_);
      c.header_field_.clear();
      c.header_value_.clear();
      return 0;
    });
  }

  static int on_headers_complete(llhttp_t* parser) noexcept {
    return guarded(parser, [&](HTTP1ClientConnection& c) {
      c.headers_complete_ = true;
      int code = llhttp_get_status_code(parser);
      c.response_.start_line.code = code;
      c.response_.start_line.version =
          fmt::format("HTTP/{}.{}", llhttp_get_http_major(parser), llhttp_get_http_minor(parser));
      // RFC 7230 3.3.3: these end at the blank line whatever their headers
      // announce (a HEAD response describes the body a GET would get).
      bool bodiless = code < 200 || code == 204 || code == 304 || c.request_->head_method;
      if (code < 200) return 1;  // informational: the real response follows
      if (!bodiless && (parser->flags & F_CONTENT_LENGTH) &&
          parser->content_length > c.params_.max_body_size) {
        c.error_ = "Content-Length too long";
        return -1;
      }
      c.decide_body_handling();
      return bodiless ? 1 : 0;
    });
  }

  static int on_body(llhttp_t* parser, const char* at, std::size_t length) noexcept {
    return guarded(parser, [&](HTTP1ClientConnection& c) {
      // content_length counts down a chunk's bytes: at zero its data ended.
      if ((parser->flags & F_CHUNKED) && parser->content_length == 0 &&
          !c.chunk_guard_.data_ended(at + length, c.exec_end_)) {
        c.error_ = "chunk data not followed by CRLF";
        return -1;
      }
      c.raw_body_bytes_ += length;
      if (c.raw_body_bytes_ > c.params_.max_body_size) {
        c.error_ = "Response body too large";
        return -1;
      }
      if (c.discard_body_) return 0;
      // Plain buffered bodies go straight to the response: one copy only.
      std::string& sink = c.buffer_body_directly_ ? c.response_.body : c.pending_body_;
      sink.append(at, length);
      return 0;
    });
  }

  static int on_message_complete(llhttp_t* parser) noexcept {
    auto& c = self(parser);
    c.message_complete_ = true;
    c.keep_alive_ = llhttp_should_keep_alive(parser) != 0;
    // Stop at the end of each message: the coroutine decides what follows
    // (a 1xx is followed by the real response, a final one by nothing).
    return HPE_PAUSED;
  }

  static const llhttp_settings_t& settings() noexcept {
    static const llhttp_settings_t instance = [] {
      llhttp_settings_t s;
      llhttp_settings_init(&s);
      s.on_status = on_status;
      s.on_header_field = on_header_field;
      s.on_header_value = on_header_value;
      s.on_header_value_complete = on_header_value_complete;
      s.on_headers_complete = on_headers_complete;
      s.on_body = on_body;
      s.on_message_complete = on_message_complete;
      return s;
    }();
    return instance;
  }
};

HTTP1ClientConnection::HTTP1ClientConnection(std::shared_ptr<iostream::IOStream> stream,
                                             HTTP1ClientParams params)
    : stream_(std::move(stream)), params_(params) {}

HTTP1ClientConnection::~HTTP1ClientConnection() {
  if (stream_) stream_->close();
}

void HTTP1ClientConnection::start_message() {
  head_bytes_ = 0;
  response_ = {};
  header_field_.clear();
  header_value_.clear();
  pending_body_.clear();
  error_.clear();
  raw_body_bytes_ = 0;
  decompressor_.reset();
  head_scanner_.reset();
  chunk_guard_.reset();
  head_checked_ = false;
  headers_complete_ = false;
  headers_processed_ = false;
  message_complete_ = false;
  keep_alive_ = false;
  discard_body_ = false;
  buffer_body_directly_ = false;
}

bool HTTP1ClientConnection::reusable() const noexcept {
  return done_ && keep_alive_ && !closed_by_eof_ && !body_unsent_ && !connection_close_ &&
         !stream_->closed() && stream_->buffered().empty() && stream_->pending_write_bytes() == 0;
}

Task<HTTP1ClientResponse> HTTP1ClientConnection::fetch(HTTP1ClientRequest request) {
  request_ = &request;
  connection_close_ = request.connection_close;
  ++requests_;
  received_any_ = false;
  closed_by_eof_ = false;
  done_ = false;
  llhttp_init(&parser_, HTTP_RESPONSE, &Callbacks::settings());
  parser_.data = this;
  start_message();

  // A stale pooled connection may already hold unsolicited bytes (a 408
  // sent before closing): they belong to no request of ours.
  if (!stream_->buffered().empty()) throw iostream::StreamClosedError();

  body_unsent_ =
      request.expect_100_continue && (has_producer() || (request.body && !request.body->empty()));
  std::array<std::string_view, 2> parts{request.head, request.body.value_or(std::string_view())};
  // One gathered write; a write error closes the stream and surfaces in the
  // read below, so the write's own awaitable is not needed.
  (void)stream_->write(std::span<const std::string_view>(parts.data(), body_unsent_ ? 1 : 2));
  if (has_producer() && !body_unsent_) co_await send_produced_body();

  std::size_t header_bytes = 0;
  while (true) {
    std::string_view data = stream_->buffered();
    if (data.empty()) {
      try {
        data = co_await stream_->wait_for_bytes(1);
      } catch (const iostream::StreamClosedError&) {
        if (!finish_on_eof()) throw;
      }
    }
    if (!message_complete_) {
      received_any_ = true;
      if (!head_checked_) {
        // The head is checked whole before llhttp reads it.
        auto scanned = head_scanner_.scan(data);
        if (scanned == http1::HeadScanner::Result::invalid) {
          throw httputil::HTTPInputError(
              fmt::format("Malformed HTTP response: {}", head_scanner_.error()));
        }
        if (scanned == http1::HeadScanner::Result::need_more) {
          if (head_scanner_.scanned() > params_.max_header_size) {
            throw httputil::HTTPInputError("Response headers too large");
          }
          co_await stream_->wait_for_bytes(data.size() + 1);
          continue;
        }
        head_checked_ = true;
      } else if (!chunk_guard_.next_buffer(data)) {
        throw httputil::HTTPInputError("Malformed HTTP response: chunk data not followed by CRLF");
      }
      exec_end_ = data.data() + data.size();
      llhttp_errno_t status = llhttp_execute(&parser_, data.data(), data.size());
      std::size_t used = data.size();
      if (status == HPE_PAUSED) {
        used = static_cast<std::size_t>(llhttp_get_error_pos(&parser_) - data.data());
        llhttp_resume(&parser_);
      } else if (status != HPE_OK) {
        std::string reason = !error_.empty() ? error_ : llhttp_get_error_reason(&parser_);
        if (status == HPE_PAUSED_UPGRADE) reason = "Unexpected protocol upgrade";
        throw httputil::HTTPInputError("Malformed HTTP response: " + reason);
      }
      stream_->consume(used);
      if (!headers_complete_) {
        header_bytes += used;
        if (header_bytes > params_.max_header_size) {
          throw httputil::HTTPInputError("Response headers too large");
        }
      }
    }
    process_headers();
    process_body();
    if (!message_complete_) continue;

    int code = response_.start_line.code;
    if (code == 101) {
      // Only a request that asked for an upgrade may get one; none does.
      throw httputil::HTTPInputError("Unexpected 101 Switching Protocols");
    }
    if (code >= 100 && code < 200) {
      // Informational: the final response follows on the same connection.
      if (code == 100 && body_unsent_) {
        body_unsent_ = false;
        if (has_producer()) {
          co_await send_produced_body();
        } else {
          (void)stream_->write(*request.body);
        }
      }
      start_message();
      header_bytes = 0;
      continue;
    }
    break;
  }
  done_ = true;
  request_ = nullptr;  // it lives in this frame
  co_return std::move(response_);
}

bool HTTP1ClientConnection::has_producer() const noexcept {
  return request_->body_producer && *request_->body_producer;
}

namespace {
// What the producer's write function holds: it may be copied and kept
// beyond the body, so it refers to nothing that could be gone by then.
struct ProducedBody {
  std::weak_ptr<iostream::IOStream> stream;
  std::optional<std::size_t> remaining;  // of the Content-Length; none: chunked
  bool finished = false;
};
}  // namespace

Task<> HTTP1ClientConnection::send_produced_body() {
  auto body = std::make_shared<ProducedBody>();
  body->stream = stream_;
  body->remaining = request_->content_length;
  auto write = [body](std::string_view data) -> iostream::IOStream::WriteAwaitable {
    auto stream = body->stream.lock();
    if (body->finished || !stream) {
      throw httputil::HTTPOutputError("body_producer wrote after its request body ended");
    }
    if (data.empty()) return stream->completed_write();
    if (body->remaining) {
      if (data.size() > *body->remaining) {
        throw httputil::HTTPOutputError("Tried to write more data than Content-Length");
      }
      *body->remaining -= data.size();
      return stream->write(data);
    }
    std::string size = fmt::format("{:x}\r\n", data.size());
    std::array<std::string_view, 3> parts{size, data, "\r\n"};
    return stream->write(std::span<const std::string_view>(parts));
  };
  Future<> producing = to_future((*request_->body_producer)(std::move(write)));
  // Whatever ends the exchange early (the request timeout, a cancelled
  // fetch, the server) closes the stream; the producer may be waiting on
  // something else entirely (a queue, another socket), so it is cancelled
  // there too.
  stream_->set_close_callback([producing]() mutable { producing.cancel(); });
  std::exception_ptr failure;
  try {
    co_await producing;
  } catch (...) {
    failure = std::current_exception();
  }
  body->finished = true;
  stream_->set_close_callback(nullptr);
  // Cancelled (or given up) because the stream closed: the caller sees the
  // closed stream, as it would in a read, and tells a timeout from a cancel.
  if (stream_->closed() && (!failure || producing.cancelled())) {
    throw iostream::StreamClosedError(stream_->error());
  }
  if (failure) std::rethrow_exception(failure);
  if (body->remaining && *body->remaining > 0) {
    throw httputil::HTTPOutputError(
        fmt::format("Tried to write {} bytes less than Content-Length", *body->remaining));
  }
  if (!body->remaining) (void)stream_->write("0\r\n\r\n");
}

bool HTTP1ClientConnection::finish_on_eof() {
  // Only a body delimited by the connection's end completes on EOF.
  if (!headers_complete_ || message_complete_ || !llhttp_message_needs_eof(&parser_)) return false;
  llhttp_errno_t status = llhttp_finish(&parser_);
  if ((status != HPE_OK && status != HPE_PAUSED) || !message_complete_) return false;
  closed_by_eof_ = true;
  return true;
}

void HTTP1ClientConnection::decide_body_handling() {
  auto& headers = response_.headers;
  int code = response_.start_line.code;
  if (request_->may_redirect && is_redirect(code) && headers.contains("Location")) {
    discard_body_ = true;
    return;
  }
  if (request_->decompress && iequals(headers.get("Content-Encoding"), "gzip")) {
    decompressor_.emplace(params_.max_body_size);
    // As Tornado: the caller sees the body decoded, and can still tell what
    // the server sent.
    std::string encoding(headers.get("Content-Encoding"));
    headers.remove("Content-Encoding");
    headers.add("X-Consumed-Content-Encoding", encoding);
  }
  bool streaming = request_->streaming_callback && *request_->streaming_callback;
  buffer_body_directly_ = !decompressor_ && !streaming;
}

void HTTP1ClientConnection::process_headers() {
  if (!headers_complete_ || headers_processed_) return;
  headers_processed_ = true;
  if (response_.start_line.code < 200 || discard_body_) return;
  // User code runs here, outside llhttp's callbacks, so it may throw.
  if (request_->header_callback && *request_->header_callback) {
    const auto& callback = *request_->header_callback;
    const auto& line = response_.start_line;
    callback(fmt::format("{} {} {}\r\n", line.version, line.code, line.reason));
    for (const auto& [name, value] : response_.headers) {
      callback(fmt::format("{}: {}\r\n", name, value));
    }
    callback("\r\n");
  }
}

void HTTP1ClientConnection::process_body() {
  if (pending_body_.empty()) return;
  std::string chunk;
  if (decompressor_) {
    decompressor_->decompress(pending_body_, chunk);
    pending_body_.clear();
  } else {
    chunk.swap(pending_body_);
  }
  if (chunk.empty()) return;
  if (request_->streaming_callback && *request_->streaming_callback) {
    (*request_->streaming_callback)(chunk);
  } else {
    response_.body.append(chunk);
  }
}

}  // namespace tornado::detail
