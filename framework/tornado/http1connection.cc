#include "tornado/http1connection.h"

#include <llhttp.h>
#include <uv.h>
#include <zlib.h>

#include <charconv>
#include <new>

#include "tornado/detail/uv_handle.h"
#include "tornado/detail/zlib.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"
#include "tornado/netutil.h"

namespace tornado::http1connection {

using iostream::StreamClosedError;

struct HTTP1ServerConnection::Native {
  llhttp_t parser{};
  detail::UvHandle<uv_timer_t> timer;
};

// Inflates a gzip request body, never past the body limit.
struct HTTP1ServerConnection::Inflater {
  tornado::detail::zlib::Stream zs =
      tornado::detail::zlib::inflate_stream(tornado::detail::zlib::kGzipWindowBits);
};

struct ParserCallbacks {
  static HTTP1ServerConnection* self(llhttp_t* p) noexcept {
    return static_cast<HTTP1ServerConnection*>(p->data);
  }
  // llhttp is C: nothing may unwind through it. A callback that can throw
  // (an allocation) runs here, and a failure answers the request with 500.
  template <class Fn>
  static int guarded(llhttp_t* p, Fn&& fn) noexcept {
    try {
      return fn(self(p));
    } catch (const std::exception& e) {
      log::general.error("Error parsing a request: {}", e.what());
    } catch (...) {
      log::general.error("Error parsing a request: unknown exception");
    }
    self(p)->error_code_ = 500;
    return HPE_USER;
  }
  static int count(HTTP1ServerConnection* c, std::size_t length) noexcept {
    c->header_bytes_ += length;
    if (c->header_bytes_ > c->params_->max_header_size) {
      c->error_code_ = 431;
      return HPE_USER;
    }
    return HPE_OK;
  }
  static int on_message_begin(llhttp_t* p) noexcept {
    auto* c = self(p);
    c->url_.clear();
    c->field_.clear();
    c->value_.clear();
    c->headers_.clear();
    c->header_bytes_ = 0;
    c->body_bytes_ = 0;
    c->max_body_size_ = c->params_->max_body_size;
    c->in_trailers_ = false;
    return HPE_OK;
  }
  static int on_url(llhttp_t* p, const char* at, std::size_t length) noexcept {
    return guarded(p, [&](HTTP1ServerConnection* c) {
      c->url_.append(at, length);
      return count(c, length);
    });
  }
  static int on_header_field(llhttp_t* p, const char* at, std::size_t length) noexcept {
    return guarded(p, [&](HTTP1ServerConnection* c) {
      // As Tornado's, the server takes no trailer fields after a chunked body.
      if (c->in_trailers_) return c->refuse("trailer fields after a chunked body");
      c->field_.append(at, length);
      return count(c, length);
    });
  }
  static int on_header_value(llhttp_t* p, const char* at, std::size_t length) noexcept {
    return guarded(p, [&](HTTP1ServerConnection* c) {
      c->value_.append(at, length);
      return count(c, length);
    });
  }
  static int on_header_value_complete(llhttp_t* p) noexcept {
    return guarded(p, [](HTTP1ServerConnection* c) {
      // The parsed bytes move into the request's headers: copied once only.
      c->headers_.add_owned(std::move(c->field_), std::move(c->value_));
      c->field_.clear();  // a moved-from string is valid but unspecified
      c->value_.clear();
      return int{HPE_OK};
    });
  }
  static int on_headers_complete(llhttp_t* p) noexcept { return self(p)->on_headers_complete(); }
  static int on_body(llhttp_t* p, const char* at, std::size_t length) noexcept {
    return self(p)->on_body(at, length);
  }
  static int on_message_complete(llhttp_t* p) noexcept {
    // Pause so the request is answered before the next one is parsed; an
    // upgrade pauses by itself (HPE_PAUSED_UPGRADE).
    return p->upgrade ? HPE_OK : HPE_PAUSED;
  }
  static const llhttp_settings_t& settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t init;
      llhttp_settings_init(&init);
      init.on_message_begin = on_message_begin;
      init.on_url = on_url;
      init.on_header_field = on_header_field;
      init.on_header_value = on_header_value;
      init.on_header_value_complete = on_header_value_complete;
      init.on_headers_complete = on_headers_complete;
      init.on_body = on_body;
      init.on_message_complete = on_message_complete;
      return init;
    }();
    return s;
  }
};

HTTP1ServerConnection::HTTP1ServerConnection(
    std::shared_ptr<iostream::IOStream> stream,
    std::shared_ptr<HTTPServerConnectionDelegate> delegate,
    std::shared_ptr<const HTTP1ConnectionParameters> params)
    : stream_(std::move(stream)),
      server_delegate_(std::move(delegate)),
      params_(std::move(params)),
      native_(std::make_unique<Native>()) {
  llhttp_init(&native_->parser, HTTP_REQUEST, &ParserCallbacks::settings());
  native_->parser.data = this;
  auto timer = std::make_unique<uv_timer_t>();
  uv_timer_init(ioloop::IOLoop::current().uv_loop(), timer.get());
  timer->data = this;
  native_->timer = detail::UvHandle<uv_timer_t>(std::move(timer));
  native_->timer->data = this;
}

HTTP1ServerConnection::~HTTP1ServerConnection() = default;

// Every request moves the deadline; restarting the libuv timer each time
// costs as much as parsing the request. So the deadline is only recorded, and
// the timer, started for the earliest deadline still pending, checks when it
// fires whether the deadline has moved on and sleeps again if so.
void HTTP1ServerConnection::arm_timer(std::chrono::milliseconds timeout) noexcept {
  if (!native_ || !native_->timer) return;
  auto* timer = native_->timer.get();
  std::uint64_t now = uv_now(timer->loop);
  deadline_ = now + static_cast<std::uint64_t>(timeout.count());
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(timer)) &&
      now + uv_timer_get_due_in(timer) <= deadline_) {
    return;
  }
  start_timer(deadline_ - now);
}

void HTTP1ServerConnection::start_timer(std::uint64_t delay) noexcept {
  uv_timer_start(
      native_->timer.get(),
      [](uv_timer_t* h) noexcept {
        auto* c = static_cast<HTTP1ServerConnection*>(h->data);
        if (!c || !c->deadline_) return;
        std::uint64_t now = uv_now(h->loop);
        if (now < c->deadline_) {
          c->start_timer(c->deadline_ - now);
          return;
        }
        c->deadline_ = 0;
        if (c->stream_) {
          log::general.debug("Closing connection from {} after timeout", c->stream_->remote_ip());
          c->stream_->close();
        }
      },
      delay, 0);
}

void HTTP1ServerConnection::disarm_timer() noexcept {
  deadline_ = 0;
}

void HTTP1ServerConnection::apply_xheaders(httputil::HTTPServerRequest& request) const {
  auto trusted = [&](std::string_view ip) {
    for (const auto& t : params_->trusted_downstream) {
      if (t == ip) return true;
    }
    return false;
  };
  std::string_view ip = request.headers.get("X-Forwarded-For", request.remote_ip);
  // The last address not added by a trusted proxy is the client's.
  std::string_view chosen = ip;
  while (true) {
    auto comma = chosen.rfind(',');
    std::string_view last = comma == std::string_view::npos ? chosen : chosen.substr(comma + 1);
    while (!last.empty() && last.front() == ' ') last.remove_prefix(1);
    while (!last.empty() && last.back() == ' ') last.remove_suffix(1);
    if (comma == std::string_view::npos || !trusted(last)) {
      chosen = last;
      break;
    }
    chosen = chosen.substr(0, comma);
  }
  std::string_view real = request.headers.get("X-Real-Ip", chosen);
  if (netutil::is_valid_ip(real)) request.remote_ip = std::string(real);
  std::string_view scheme =
      request.headers.get("X-Scheme", request.headers.get("X-Forwarded-Proto", request.protocol));
  if (auto comma = scheme.rfind(','); comma != std::string_view::npos) {
    scheme = scheme.substr(comma + 1);
  }
  while (!scheme.empty() && scheme.front() == ' ') scheme.remove_prefix(1);
  if (scheme == "http" || scheme == "https") request.protocol = std::string(scheme);
}

int HTTP1ServerConnection::refuse(const char* reason) noexcept {
  error_code_ = 400;
  error_reason_ = reason;
  return HPE_USER;
}

int HTTP1ServerConnection::on_headers_complete() noexcept {
  in_trailers_ = true;
  request_http10_ = native_->parser.http_major == 1 && native_->parser.http_minor == 0;
  if (native_->parser.http_major != 1) {
    error_code_ = 505;
    return HPE_USER;
  }
  if (!request_http10_ && !headers_.contains("Host")) {
    error_code_ = 400;  // RFC 7230 5.4: a 1.1 request without Host
    return HPE_USER;
  }
  std::string_view method =
      llhttp_method_name(static_cast<llhttp_method_t>(native_->parser.method));
  request_head_ = method == "HEAD";
  try {
    auto version = request_http10_ ? "HTTP/1.0" : "HTTP/1.1";
    request_ = std::make_shared<httputil::HTTPServerRequest>(
        std::string(method), std::move(url_), version, std::move(headers_), std::string(),
        stream_->remote_ip(), params_->protocol);
    url_.clear();
    headers_.clear();
    if (params_->xheaders) apply_xheaders(*request_);
    if (params_->decompress && request_->headers.get("Content-Encoding") == "gzip") {
      inflater_ = std::make_unique<Inflater>();
      request_->headers.remove("Content-Encoding");
      request_->headers.add("X-Consumed-Content-Encoding", "gzip");
    } else {
      inflater_.reset();
    }
    response_started_ = false;
    response_done_ = false;
    delegate_ = server_delegate_->start_request(shared_from_this(), request_);
    if (delegate_) {
      if (auto work = delegate_->headers_received()) pending_.push_back(std::move(work));
    }
  } catch (const httputil::HTTPInputError& e) {
    log::general.info("Malformed HTTP request from {}: {}", stream_->remote_ip(), e.what());
    error_code_ = 400;
    return HPE_USER;
  } catch (const std::exception& e) {
    log::app.error("Error starting request: {}", e.what());
    error_code_ = 500;
    return HPE_USER;
  }
  // As Tornado, the body limit is checked once the delegate has seen the
  // headers (a streaming handler's prepare may have changed it).
  if (!pending_.empty()) {
    length_unchecked_ = true;
    return HPE_PAUSED;
  }
  if ((native_->parser.flags & F_CONTENT_LENGTH) &&
      native_->parser.content_length > max_body_size_) {
    error_code_ = 413;
    return HPE_USER;
  }
  send_continue();
  return HPE_OK;
}

// A client that asked may send its body now: only once the body is known to
// be wanted (within the limit, and not answered already, e.g. by prepare).
void HTTP1ServerConnection::send_continue() noexcept {
  if (request_ && !request_http10_ && !response_started_ &&
      request_->headers.get("Expect") == "100-continue") {
    (void)stream_->write("HTTP/1.1 100 (Continue)\r\n\r\n");
  }
}

int HTTP1ServerConnection::on_body(const char* at, std::size_t length) noexcept {
  // llhttp counts a chunk's remaining bytes down in content_length: at zero
  // this piece ends the chunk's data, and CRLF must follow it.
  if ((native_->parser.flags & F_CHUNKED) && native_->parser.content_length == 0 &&
      !chunk_guard_.data_ended(at + length, exec_end_)) {
    return refuse("chunk data not followed by CRLF (RFC 9112 7.1)");
  }
  try {
    if (!inflater_) {
      body_bytes_ += length;
      if (body_bytes_ > max_body_size_) {
        error_code_ = 413;
        return HPE_USER;
      }
      if (delegate_) {
        if (auto work = delegate_->data_received(std::string_view(at, length))) {
          pending_.push_back(std::move(work));
          return HPE_PAUSED;
        }
      }
      return HPE_OK;
    }
    if (!inflater_->zs) throw std::bad_alloc();  // zlib refuses only for memory
    auto& zs = *inflater_->zs;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(at));
    zs.avail_in = static_cast<uInt>(length);
    char out[16 * 1024];
    while (zs.avail_in > 0) {
      zs.next_out = reinterpret_cast<Bytef*>(out);
      zs.avail_out = sizeof out;
      int rc = inflate(&zs, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
        error_code_ = 400;
        return HPE_USER;
      }
      std::size_t produced = sizeof out - zs.avail_out;
      body_bytes_ += produced;
      if (body_bytes_ > max_body_size_) {
        error_code_ = 413;
        return HPE_USER;
      }
      if (produced && delegate_) {
        // Lazy: each starts only when awaited, after the one before.
        if (auto work = delegate_->data_received(std::string_view(out, produced))) {
          pending_.push_back(std::move(work));
        }
      }
      if (rc == Z_STREAM_END || (rc == Z_BUF_ERROR && produced == 0)) break;
    }
    return pending_.empty() ? HPE_OK : HPE_PAUSED;
  } catch (const std::exception& e) {
    log::app.error("Error in data_received: {}", e.what());
    error_code_ = 500;
    return HPE_USER;
  }
}

Task<> HTTP1ServerConnection::serve() {
  auto self = shared_from_this();
  stream_->set_nodelay(true);
  // A response may be awaited when the peer goes away: wake the loop.
  stream_->set_close_callback([weak = weak_from_this()] {
    if (auto self = weak.lock()) {
      if (auto waiter = std::exchange(self->finish_waiter_, {})) waiter.resume();
    }
  });
  try {
    // After the delegate's work the parser may have a step to take without
    // new bytes (the body ended where the pause came: message complete).
    bool resumed = false;
    // Bytes at the front of the buffer the chunk guard already looked at
    // (what followed a pause in the body).
    std::size_t guard_seen = 0;
    while (!stream_->closed()) {
      if (stream_->buffered().empty() && !std::exchange(resumed, false)) {
        set_corked(false);  // the answers to the last read go out together
        if (idle_) arm_timer(params_->idle_connection_timeout);
        co_await stream_->wait_for_bytes();
      }
      auto data = stream_->buffered();
      if (data.empty()) data = std::string_view("", 0);
      if (!head_checked_) {
        if (head_scanner_.scanned() == 0) {
          // The first byte of a request: from here it must arrive whole
          // within body_timeout.
          idle_ = false;
          arm_timer(params_->body_timeout);
        }
        auto scanned = head_scanner_.scan(data);
        if (scanned == detail::http1::HeadScanner::Result::invalid) {
          log::general.info("Malformed HTTP request from {}: {}", stream_->remote_ip(),
                            head_scanner_.error());
          co_await send_error_and_close(400);
          break;
        }
        if (scanned == detail::http1::HeadScanner::Result::need_more) {
          if (head_scanner_.scanned() > params_->max_header_size) {
            co_await send_error_and_close(431);
            break;
          }
          set_corked(false);
          co_await stream_->wait_for_bytes(data.size() + 1);
          continue;
        }
        head_checked_ = true;
      } else if (!chunk_guard_.next_buffer(data.substr(std::exchange(guard_seen, 0)))) {
        log::general.info("Malformed HTTP request from {}: {}", stream_->remote_ip(),
                          "chunk data not followed by CRLF (RFC 9112 7.1)");
        co_await send_error_and_close(400);
        break;
      }
      exec_end_ = data.data() + data.size();
      llhttp_errno_t err = llhttp_execute(&native_->parser, data.data(), data.size());
      std::size_t consumed = data.size();
      if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        consumed = static_cast<std::size_t>(llhttp_get_error_pos(&native_->parser) - data.data());
      }
      stream_->consume(consumed);
      if (err == HPE_OK) continue;
      if (err == HPE_PAUSED && !pending_.empty()) {
        // The delegate's work comes before more of the body is read.
        auto work = std::move(pending_);
        pending_.clear();
        bool failed = false;
        for (auto& task : work) {
          try {
            co_await task;
          } catch (const StreamClosedError&) {
            throw;
          } catch (const std::exception& e) {
            log::app.error("Error in data_received: {}", e.what());
            failed = true;
            break;
          }
        }
        if (failed) {
          co_await send_error_and_close(500);
          break;
        }
        if (std::exchange(length_unchecked_, false)) {  // the headers' work was done
          if ((native_->parser.flags & F_CONTENT_LENGTH) &&
              native_->parser.content_length > max_body_size_) {
            co_await send_error_and_close(413);
            break;
          }
          send_continue();
        }
        if (stream_->closed()) break;
        llhttp_resume(&native_->parser);
        resumed = true;
        guard_seen = data.size() - consumed;
        continue;
      }
      if (err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE) {
        if (error_reason_) {
          log::general.info("Malformed HTTP request from {}: {}", stream_->remote_ip(),
                            error_reason_);
        } else if (!error_code_) {
          log::general.info("Malformed HTTP request from {}: {} ({})", stream_->remote_ip(),
                            llhttp_errno_name(err), llhttp_get_error_reason(&native_->parser));
        }
        co_await send_error_and_close(error_code_ ? error_code_ : 400);
        break;
      }
      // A complete request: let its delegate answer, then go on.
      disarm_timer();
      // More pipelined requests already read: hold this answer back so that
      // it leaves with theirs in one write.
      if (err == HPE_PAUSED && !stream_->buffered().empty()) set_corked(true);
      request_keep_alive_ = llhttp_should_keep_alive(&native_->parser) && !params_->no_keep_alive;
      keep_alive_ = request_keep_alive_;
      if (delegate_) {
        auto delegate = delegate_.get();
        delegate->finish();
      }
      if (!response_done_ && !detached_ && !stream_->closed()) {
        struct WaitForFinish {
          HTTP1ServerConnection* c;
          bool await_ready() const noexcept { return c->response_done_ || c->closed(); }
          void await_suspend(std::coroutine_handle<> h) noexcept { c->finish_waiter_ = h; }
          void await_resume() const noexcept {}
        };
        set_corked(false);  // the answers before this one must not wait for it
        co_await WaitForFinish{this};
      }
      if (!response_done_ && delegate_) {
        auto delegate = std::move(delegate_);
        delegate->on_connection_close();
      }
      delegate_.reset();
      request_.reset();
      if (detached_) co_return;
      idle_ = true;
      if (!keep_alive_) {
        stream_->close();
        break;
      }
      next_message();
      if (err == HPE_PAUSED_UPGRADE) {
        llhttp_resume_after_upgrade(&native_->parser);
      } else {
        llhttp_resume(&native_->parser);
      }
    }
  } catch (const StreamClosedError&) {
  }
  set_corked(false);
  disarm_timer();
  if (native_) native_->timer.close();
  if (!detached_) stream_->set_close_callback(nullptr);
  if (delegate_) {
    auto delegate = std::move(delegate_);
    delegate->on_connection_close();
  }
}

void HTTP1ServerConnection::next_message() noexcept {
  head_scanner_.reset();
  chunk_guard_.reset();
  head_checked_ = false;
}

void HTTP1ServerConnection::set_corked(bool corked) {
  if (corked == corked_) return;
  corked_ = corked;
  if (corked) {
    stream_->cork();
  } else {
    stream_->uncork();
  }
}

void HTTP1ServerConnection::fail_request(int code) noexcept {
  error_code_ = code;
}

Task<> HTTP1ServerConnection::send_error_and_close(int code) {
  disarm_timer();
  if (delegate_) {
    auto delegate = std::move(delegate_);
    delegate->on_connection_close();
  }
  if (!response_started_) {
    std::string response =
        fmt::format("HTTP/1.1 {} {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", code,
                    httputil::reason_phrase(code));
    try {
      co_await stream_->write(response);
    } catch (const StreamClosedError&) {
    }
  }
  stream_->close();
}

iostream::IOStream::WriteAwaitable HTTP1ServerConnection::write_headers(
    int code, std::string_view reason, const httputil::HTTPHeaders& headers, std::string_view chunk,
    bool finishing) {
  response_started_ = true;
  bool no_body = request_head_ || code == 204 || code == 304 || (code >= 100 && code < 200);
  bool has_length = headers.contains("Content-Length");
  chunked_ = !request_http10_ && !has_length && !finishing && !no_body &&
             !headers.contains("Transfer-Encoding");
  // HTTP/1.0 can only delimit a body of unknown length by closing.
  if (request_http10_ && !has_length && !finishing && !no_body) keep_alive_ = false;
  if (headers.get("Connection") == "close") keep_alive_ = false;

  if (code < 100 || code > 999) throw std::invalid_argument(fmt::format("bad status {}", code));
  if (!detail::http1::is_safe_field_value(reason)) {
    throw std::invalid_argument("unsafe reason phrase (CR, LF, NUL or another control byte)");
  }
  out_.clear();
  out_ += request_http10_ ? "HTTP/1.0 " : "HTTP/1.1 ";
  // Appended by hand: fmt's parsing of a format string cost more than the
  // rest of the status line and the Content-Length together.
  const char status[] = {static_cast<char>('0' + code / 100),
                         static_cast<char>('0' + code / 10 % 10),
                         static_cast<char>('0' + code % 10), ' '};
  out_.append(status, sizeof status).append(reason).append("\r\n");
  for (const auto& [name, value] : headers) {
    if (name == "Connection") continue;
    detail::http1::append_field(out_, name, value);
  }
  if (finishing && !has_length && code != 204 && code != 304 && !(code >= 100 && code < 200)) {
    char digits[24];
    auto end = std::to_chars(std::begin(digits), std::end(digits), chunk.size()).ptr;
    out_.append("Content-Length: ").append(digits, end).append("\r\n");
  }
  if (chunked_) out_ += "Transfer-Encoding: chunked\r\n";
  if (!keep_alive_) {
    out_ += "Connection: close\r\n";
  } else if (request_http10_) {
    out_ += "Connection: keep-alive\r\n";
  }
  out_ += "\r\n";
  if (no_body || chunk.empty()) return stream_->write(out_);
  if (chunked_) {
    auto size = fmt::format("{:x}\r\n", chunk.size());
    std::string_view parts[] = {out_, size, chunk, "\r\n"};
    return stream_->write(parts);
  }
  std::string_view parts[] = {out_, chunk};
  return stream_->write(parts);
}

iostream::IOStream::WriteAwaitable HTTP1ServerConnection::write(std::string_view chunk) {
  if (request_head_ || chunk.empty()) return stream_->write(std::string_view());
  if (!chunked_) return stream_->write(chunk);
  auto size = fmt::format("{:x}\r\n", chunk.size());
  std::string_view parts[] = {size, chunk, "\r\n"};
  return stream_->write(parts);
}

void HTTP1ServerConnection::finish() {
  if (chunked_ && !request_head_ && !stream_->closed()) (void)stream_->write("0\r\n\r\n");
  chunked_ = false;
  response_finished();
}

void HTTP1ServerConnection::response_finished() noexcept {
  response_done_ = true;
  if (auto waiter = std::exchange(finish_waiter_, {})) waiter.resume();
}

std::shared_ptr<iostream::IOStream> HTTP1ServerConnection::detach() {
  detached_ = true;
  set_corked(false);                     // the new owner writes as it sees fit
  stream_->set_close_callback(nullptr);  // the new owner sets its own
  disarm_timer();
  // The handler keeps this object for the upgraded connection's lifetime:
  // give back what only HTTP parsing needed (the parser and its timer too:
  // serve() reads no more once detached).
  native_.reset();
  std::string().swap(url_);
  std::string().swap(field_);
  std::string().swap(value_);
  std::string().swap(out_);
  headers_ = httputil::HTTPHeaders();
  inflater_.reset();
  // The handler owns the request from here (and may pack it while idle).
  request_.reset();
  response_finished();
  return stream_;
}

void HTTP1ServerConnection::close() {
  if (stream_) stream_->close();
  if (auto waiter = std::exchange(finish_waiter_, {})) waiter.resume();
}

}  // namespace tornado::http1connection
