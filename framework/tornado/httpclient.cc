#include "tornado/httpclient.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <future>
#include <thread>
#include <vector>

#include "tornado/detail/ascii.h"
#include "tornado/detail/base64.h"
#include "tornado/detail/http1_client/connection.h"
#include "tornado/detail/http1_client/url.h"
#include "tornado/detail/http1_strict.h"
#include "tornado/ioloop.h"
#include "tornado/iostream.h"
#include "tornado/log.h"
#include "tornado/netutil.h"
#include "tornado/tcpclient.h"

namespace tornado {

namespace detail {

/// What makes two requests able to share a connection: the same server
/// reached the same way (TLS settings included, so a connection opened
/// without verification never serves a request that wants it).
struct ConnectionKey {
  std::string scheme;
  std::string host;
  int port = 0;
  bool validate_cert = true;
  std::string ca_certs;
  std::string client_cert;
  std::string client_key;
  bool operator==(const ConnectionKey&) const = default;
};

/// The state behind AsyncHTTPClient objects: the idle connections, the
/// count of running requests and the queue of those waiting for a slot.
class HTTPClientPool : public std::enable_shared_from_this<HTTPClientPool> {
 public:
  explicit HTTPClientPool(httpclient::ClientOptions options)
      : options_(options), loop_(&ioloop::IOLoop::current()) {}
  ~HTTPClientPool() { close(); }
  HTTPClientPool(const HTTPClientPool&) = delete;
  HTTPClientPool& operator=(const HTTPClientPool&) = delete;

  const httpclient::ClientOptions& options() const noexcept { return options_; }
  ioloop::IOLoop* loop() const noexcept { return loop_; }
  bool closed() const noexcept { return closed_; }
  std::size_t idle_count() const noexcept { return idle_.size(); }
  std::size_t opened() const noexcept { return opened_; }
  void count_opened() noexcept { ++opened_; }

  /// Waits until fewer than max_clients requests run; HTTPTimeoutError past
  /// `timeout` (zero: wait as long as it takes).
  Task<> acquire_slot(httpclient::Duration timeout);
  void release_slot();

  /// A pooled connection for `key`, or null.
  std::unique_ptr<HTTP1ClientConnection> take_idle(const ConnectionKey& key);
  /// Keeps a connection that finished cleanly for the next request.
  void put_idle(ConnectionKey key, std::unique_ptr<HTTP1ClientConnection> connection);

  void close();

 private:
  struct Idle {
    std::uint64_t id = 0;
    ConnectionKey key;
    std::unique_ptr<HTTP1ClientConnection> connection;
    ioloop::TimeoutHandle timer;
  };
  struct Waiter {
    Future<> granted;
    ioloop::TimeoutHandle timer;
  };

  void drop_idle(std::uint64_t id);
  void forget(Idle& idle);

  httpclient::ClientOptions options_;
  ioloop::IOLoop* loop_;
  std::vector<Idle> idle_;  // oldest first
  std::deque<std::shared_ptr<Waiter>> waiters_;
  std::uint64_t next_id_ = 1;
  std::size_t opened_ = 0;
  int active_ = 0;
  bool closed_ = false;
};

Task<> HTTPClientPool::acquire_slot(httpclient::Duration timeout) {
  if (active_ < std::max(options_.max_clients, 1)) {
    ++active_;
    co_return;
  }
  auto waiter = std::make_shared<Waiter>();
  waiters_.push_back(waiter);
  if (timeout > httpclient::Duration::zero()) {
    waiter->timer = loop_->call_later(
        timeout, [weak_pool = weak_from_this(), weak_waiter = std::weak_ptr<Waiter>(waiter)] {
          auto pool = weak_pool.lock();
          auto waiter = weak_waiter.lock();
          if (!pool || !waiter) return;
          auto it = std::find(pool->waiters_.begin(), pool->waiters_.end(), waiter);
          if (it == pool->waiters_.end()) return;
          pool->waiters_.erase(it);
          waiter->granted.set_exception(
              std::make_exception_ptr(httpclient::HTTPTimeoutError("Timeout in request queue")));
        });
  }
  try {
    co_await waiter->granted;  // the slot is handed over by release_slot
  } catch (const CancelledError&) {
    // The fetch was cancelled while queued: leave the queue, no trace.
    std::erase(waiters_, waiter);
    loop_->remove_timeout(waiter->timer);
    throw;
  }
}

void HTTPClientPool::release_slot() {
  if (!waiters_.empty()) {
    auto waiter = std::move(waiters_.front());
    waiters_.pop_front();
    loop_->remove_timeout(waiter->timer);
    waiter->granted.set_result();
    return;
  }
  --active_;
}

std::unique_ptr<HTTP1ClientConnection> HTTPClientPool::take_idle(const ConnectionKey& key) {
  // Newest first: it is the least likely to have been closed by the server.
  for (std::size_t i = idle_.size(); i-- > 0;) {
    if (!(idle_[i].key == key)) continue;
    auto connection = std::move(idle_[i].connection);
    forget(idle_[i]);
    idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
    // Closed, or holding bytes nobody asked for (a 408 before closing):
    // drop it (closing it) and look further.
    const auto& stream = connection->stream();
    if (!stream->closed() && stream->buffered().empty()) return connection;
  }
  return nullptr;
}

void HTTPClientPool::put_idle(ConnectionKey key,
                              std::unique_ptr<HTTP1ClientConnection> connection) {
  if (closed_ || options_.max_idle_connections == 0) return;  // closes it
  while (idle_.size() >= options_.max_idle_connections) {
    forget(idle_.front());
    idle_.erase(idle_.begin());
  }
  std::uint64_t id = next_id_++;
  // The server may close an idle connection at any time; the stream keeps
  // reading, sees the end and drops the entry.
  connection->stream()->set_close_callback([weak = weak_from_this(), id] {
    if (auto pool = weak.lock()) pool->drop_idle(id);
  });
  ioloop::TimeoutHandle timer;
  if (options_.idle_timeout > httpclient::Duration::zero()) {
    timer = loop_->call_later(options_.idle_timeout, [weak = weak_from_this(), id] {
      if (auto pool = weak.lock()) pool->drop_idle(id);
    });
  }
  connection->stream()->start_reading();
  idle_.push_back(Idle{id, std::move(key), std::move(connection), timer});
}

void HTTPClientPool::forget(Idle& idle) {
  loop_->remove_timeout(idle.timer);
  idle.timer = {};
  if (idle.connection) idle.connection->stream()->set_close_callback(nullptr);
}

void HTTPClientPool::drop_idle(std::uint64_t id) {
  auto it =
      std::find_if(idle_.begin(), idle_.end(), [id](const Idle& idle) { return idle.id == id; });
  if (it == idle_.end()) return;
  forget(*it);
  idle_.erase(it);  // closes the connection if it is still open
}

void HTTPClientPool::close() {
  closed_ = true;
  auto idle = std::move(idle_);
  idle_.clear();
  for (auto& entry : idle) forget(entry);
}

}  // namespace detail

namespace httpclient {
namespace {

using detail::HTTPClientPool;

constexpr std::array<std::string_view, 7> kSupportedMethods = {"GET",    "HEAD",  "POST",   "PUT",
                                                               "DELETE", "PATCH", "OPTIONS"};
// Safe to send twice: a request on a pooled connection the server had
// already closed is retried once on a new connection only if idempotent.
constexpr std::array<std::string_view, 6> kIdempotentMethods = {"GET", "HEAD",   "OPTIONS",
                                                                "PUT", "DELETE", "TRACE"};
constexpr std::string_view kUserAgent = "tornado-cpp/0.1";

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& set, std::string_view value) {
  return std::find(set.begin(), set.end(), value) != set.end();
}

bool is_redirect(int code) {
  return code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
}

Duration min_timeout(Duration a, Duration b) {
  if (a <= Duration::zero()) return b;
  if (b <= Duration::zero()) return a;
  return std::min(a, b);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool is_request_target(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 127) return false;
  }
  return true;
}

// Tornado's checks before anything is sent (simple_httpclient's run()).
void validate_request(const HTTPRequest& request) {
  if (!request.allow_nonstandard_methods) {
    if (!contains(kSupportedMethods, request.method)) {
      throw std::invalid_argument("unknown method " + request.method);
    }
    bool body_expected =
        request.method == "POST" || request.method == "PATCH" || request.method == "PUT";
    bool body_present = request.body.has_value() || static_cast<bool>(request.body_producer);
    if (body_expected != body_present) {
      throw std::invalid_argument(fmt::format(
          "Body must {}be None for method {} (unless allow_nonstandard_methods is true)",
          body_expected ? "not " : "", request.method));
    }
  }
  if (request.body && request.body_producer) {
    throw std::invalid_argument("body and body_producer are mutually exclusive");
  }
  if (!detail::is_token(request.method))
    throw std::invalid_argument("Invalid method " + request.method);
  if (request.auth_mode != "basic") {
    throw std::invalid_argument("unsupported auth_mode " + request.auth_mode);
  }
}

// The request line and header block, with the headers Tornado adds.
std::string build_head(const HTTPRequest& request, const detail::ClientUrl& url) {
  httputil::HTTPHeaders headers = request.headers;
  if (!headers.contains("Host")) headers.set("Host", url.netloc);
  std::optional<std::string> username;
  std::string password;
  if (url.has_userinfo) {
    username = url.username;
    password = url.password;
  } else if (request.auth_username) {
    username = *request.auth_username;
    password = request.auth_password.value_or("");
  }
  if (username)
    headers.set("Authorization", "Basic " + detail::base64_encode(*username + ":" + password));
  if (!request.user_agent.empty()) {
    headers.set("User-Agent", request.user_agent);
  } else if (!headers.contains("User-Agent")) {
    headers.set("User-Agent", kUserAgent);
  }
  if (request.if_modified_since) {
    headers.set("If-Modified-Since", httputil::format_timestamp(*request.if_modified_since));
  }
  if (request.expect_100_continue) headers.set("Expect", "100-continue");
  if (request.body) headers.set("Content-Length", std::to_string(request.body->size()));
  // A producer's body of unknown length goes in chunks (Tornado's rule).
  if (request.body_producer && !headers.contains("Content-Length")) {
    headers.set("Transfer-Encoding", "chunked");
  }
  if (request.method == "POST" && !headers.contains("Content-Type")) {
    headers.set("Content-Type", "application/x-www-form-urlencoded");
  }
  if (request.decompress_response) headers.set("Accept-Encoding", "gzip");

  if (!is_request_target(url.target)) {
    throw std::invalid_argument("Illegal characters in URL path: " + request.url);
  }
  if (!tornado::detail::is_token(request.method)) {
    throw std::invalid_argument("Illegal characters in method: " + request.method);
  }
  std::string head = fmt::format("{} {} HTTP/1.1\r\n", request.method, url.target);
  // The one writer of header lines: a CR, LF or NUL in a caller's header
  // would let its data inject headers, so it throws instead.
  for (const auto& [name, value] : headers) tornado::detail::http1::append_field(head, name, value);
  head.append("\r\n");
  return head;
}

// The Content-Length a producer's request declares, if any.
std::optional<std::size_t> declared_length(const HTTPRequest& request) {
  if (!request.body_producer || !request.headers.contains("Content-Length")) return std::nullopt;
  std::string_view text = request.headers.get("Content-Length");
  std::size_t length = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), length);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    throw std::invalid_argument(fmt::format("Invalid Content-Length {:?}", text));
  }
  return length;
}

bool asks_to_close(const httputil::HTTPHeaders& headers) {
  for (auto value : headers.get_list("Connection")) {
    if (detail::ascii_lower(value).find("close") != std::string::npos) return true;
  }
  return false;
}

// Cancels a pending IOLoop timeout when the scope ends.
class TimeoutGuard {
 public:
  TimeoutGuard() = default;
  TimeoutGuard(ioloop::IOLoop* loop, ioloop::TimeoutHandle handle) : loop_(loop), handle_(handle) {}
  ~TimeoutGuard() {
    if (loop_ && handle_) loop_->remove_timeout(handle_);
  }
  TimeoutGuard(const TimeoutGuard&) = delete;
  TimeoutGuard& operator=(const TimeoutGuard&) = delete;

 private:
  ioloop::IOLoop* loop_ = nullptr;
  ioloop::TimeoutHandle handle_;
};

// Gives a request slot back when the fetch ends, however it ends.
class SlotGuard {
 public:
  explicit SlotGuard(HTTPClientPool& pool) : pool_(pool) {}
  ~SlotGuard() { pool_.release_slot(); }
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;

 private:
  HTTPClientPool& pool_;
};

struct HopResult {
  detail::HTTP1ClientResponse response;
  double request_time = 0;
  std::chrono::system_clock::time_point start_time;
};

// One request to one URL (no redirects), on a pooled or new connection.
Task<HopResult> fetch_hop(std::shared_ptr<HTTPClientPool> pool, const HTTPRequest* request) {
  auto start = std::chrono::steady_clock::now();
  auto wall_start = std::chrono::system_clock::now();
  const auto& options = pool->options();
  detail::ClientUrl url = detail::split_client_url(request->url);
  std::string head = build_head(*request, url);
  bool https = url.scheme == "https";
  detail::ConnectionKey key{url.scheme,
                            url.host,
                            url.port,
                            https ? request->validate_cert : true,
                            https ? request->ca_certs : "",
                            https ? request->client_cert : "",
                            https ? request->client_key : ""};
  detail::HTTP1ClientParams params{options.max_header_size,
                                   request->max_body_size.value_or(options.max_body_size)};
  detail::HTTP1ClientRequest wire;
  wire.head = head;
  if (request->body) wire.body = std::string_view(*request->body);
  if (request->body_producer) wire.body_producer = &request->body_producer;
  wire.content_length = declared_length(*request);
  wire.head_method = request->method == "HEAD";
  wire.expect_100_continue = request->expect_100_continue;
  wire.connection_close = asks_to_close(request->headers);
  wire.decompress = request->decompress_response;
  wire.may_redirect = request->follow_redirects && request->max_redirects > 0;
  wire.streaming_callback = &request->streaming_callback;
  wire.header_callback = &request->header_callback;
  bool idempotent = contains(kIdempotentMethods, request->method);

  // Cancelling the fetch closes the connection it is using (the pending
  // read then fails and is reported as CancelledError); during a connect,
  // the new stream is closed as soon as it exists.
  bool cancelled = false;
  std::weak_ptr<iostream::IOStream> in_use;
  auto cancel_scope = co_await on_cancel([&cancelled, &in_use] {
    cancelled = true;
    if (auto stream = in_use.lock()) stream->close();
  });

  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<detail::HTTP1ClientConnection> connection;
    // A producer starts on a new connection: a pooled one found stale
    // halfway through its body could only be retried by running it again.
    if (attempt == 0 && !request->body_producer) connection = pool->take_idle(key);
    bool reused = connection != nullptr;
    if (!connection) {
      tcpclient::ConnectOptions connect;
      if (https) {
        connect.ssl_options = netutil::SSLOptions{.certfile = request->client_cert,
                                                  .keyfile = request->client_key,
                                                  .ca_certs = request->ca_certs,
                                                  .verify = request->validate_cert};
        connect.server_hostname = url.host;
      }
      connect.stream_options.max_buffer_size = options.max_buffer_size;
      Duration timeout = min_timeout(request->connect_timeout, request->request_timeout);
      if (timeout > Duration::zero()) {
        auto remaining = start + timeout - std::chrono::steady_clock::now();
        connect.timeout = std::max<Duration>(remaining, std::chrono::milliseconds(1));
      }
      std::shared_ptr<iostream::IOStream> stream;
      bool connect_timed_out = false;
      try {
        stream = co_await tcpclient::TCPClient().connect(url.host, url.port, std::move(connect));
      } catch (const TimeoutError&) {
        connect_timed_out = true;
      }
      if (connect_timed_out) throw HTTPTimeoutError("Timeout while connecting");
      if (cancelled) {
        stream->close();
        throw CancelledError();
      }
      pool->count_opened();
      connection = std::make_unique<detail::HTTP1ClientConnection>(std::move(stream), params);
    }

    // The request timeout counts from the start, as Tornado's; it ends the
    // exchange by closing the stream, which wakes the pending read.
    bool timed_out = false;
    std::optional<TimeoutGuard> timeout_guard;
    if (request->request_timeout > Duration::zero()) {
      std::weak_ptr<iostream::IOStream> weak_stream = connection->stream();
      timeout_guard.emplace(pool->loop(), pool->loop()->call_at(start + request->request_timeout,
                                                                [&timed_out, weak_stream] {
                                                                  timed_out = true;
                                                                  if (auto s = weak_stream.lock()) {
                                                                    s->close();
                                                                  }
                                                                }));
    }

    bool retry = false;
    in_use = connection->stream();
    if (cancelled) connection->stream()->close();
    try {
      detail::HTTP1ClientResponse response = co_await connection->fetch(wire);
      if (connection->reusable()) pool->put_idle(std::move(key), std::move(connection));
      co_return HopResult{std::move(response), seconds_since(start), wall_start};
    } catch (const iostream::StreamClosedError& e) {
      if (cancelled) throw CancelledError();
      if (timed_out) throw HTTPTimeoutError("Timeout during request");
      if (reused && !connection->received_response_bytes() && idempotent) {
        log::general.debug("Pooled connection to {} was closed; retrying", url.netloc);
        retry = true;
      } else if (!e.real_error) {
        throw HTTPStreamClosedError("Stream closed");
      } else {
        throw;
      }
    } catch (const httputil::HTTPInputError&) {
      if (cancelled) throw CancelledError();
      if (timed_out) throw HTTPTimeoutError("Timeout during request");
      throw;
    }
    if (!retry) break;
  }
  throw HTTPStreamClosedError("Stream closed");
}

bool same_origin(std::string_view a, std::string_view b) {
  try {
    auto x = detail::split_client_url(a);
    auto y = detail::split_client_url(b);
    return x.scheme == y.scheme && x.host == y.host && x.port == y.port;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

// The request that follows a redirect, as Tornado builds it.
HTTPRequest redirected_request(const HTTPRequest& previous, int code, std::string_view location) {
  HTTPRequest next = previous;
  next.url = detail::resolve_url(previous.url, location);
  next.max_redirects = previous.max_redirects - 1;
  next.headers.remove("Host");
  // RFC 7231 section 6.4: browsers turned POST into GET after 301 and 302,
  // and 303 means "GET this instead" for every method but HEAD.
  if ((code == 303 && previous.method != "HEAD") ||
      ((code == 301 || code == 302) && previous.method == "POST")) {
    next.method = "GET";
    next.body.reset();
    next.body_producer = nullptr;
    for (auto name : {"Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding"}) {
      next.headers.remove(name);
    }
  }
  // Credentials are for the server they were given for, not for wherever
  // it redirects to.
  if (!same_origin(previous.url, next.url)) {
    next.auth_username.reset();
    next.auth_password.reset();
    next.headers.remove("Authorization");
  }
  return next;
}

Task<HTTPResponse> fetch_impl(std::shared_ptr<HTTPClientPool> pool, HTTPRequest request,
                              bool raise_error) {
  if (pool->closed()) throw std::runtime_error("fetch() called on closed AsyncHTTPClient");
  validate_request(request);
  auto original = std::make_shared<const HTTPRequest>(std::move(request));
  co_await pool->acquire_slot(min_timeout(original->connect_timeout, original->request_timeout));
  SlotGuard slot(*pool);

  const HTTPRequest* current = original.get();
  std::optional<HTTPRequest> redirected;
  HopResult hop;
  while (true) {
    hop = co_await fetch_hop(pool, current);
    int code = hop.response.start_line.code;
    auto location = hop.response.headers.get("Location");
    if (!current->follow_redirects || current->max_redirects <= 0 || !is_redirect(code) ||
        !hop.response.headers.contains("Location")) {
      break;
    }
    HTTPRequest next = redirected_request(*current, code, location);
    redirected = std::move(next);
    current = &*redirected;
  }

  HTTPResponse response;
  response.request = original;
  response.code = hop.response.start_line.code;
  response.reason = hop.response.start_line.reason;
  if (response.reason.empty()) response.reason = httputil::reason_phrase(response.code);
  response.headers = std::move(hop.response.headers);
  response.body = std::move(hop.response.body);
  response.effective_url = current->url;
  response.request_time = hop.request_time;
  response.start_time = hop.start_time;
  if (response.code < 200 || response.code >= 300) {
    if (raise_error) {
      int code = response.code;
      std::string reason = response.reason;
      throw HTTPClientError(code, std::move(reason),
                            std::make_shared<const HTTPResponse>(std::move(response)));
    }
    // The error's copy of the response has no error of its own: no cycle.
    auto copy = std::make_shared<const HTTPResponse>(response);
    response.error = std::make_exception_ptr(HTTPClientError(response.code, response.reason, copy));
  }
  co_return response;
}

// The shared pool of this thread's IOLoop (Tornado's per-loop instance
// cache); weak, so it goes away with the last client using it.
thread_local std::weak_ptr<HTTPClientPool> default_pool;

Task<> deliver(Task<HTTPResponse> task, std::promise<HTTPResponse>* promise) {
  try {
    promise->set_value(co_await task);
  } catch (...) {
    promise->set_exception(std::current_exception());
  }
}

}  // namespace

// ---------------------------------------------------------------- errors

HTTPClientError::HTTPClientError(int code, std::string message,
                                 std::shared_ptr<const HTTPResponse> response)
    : HTTPClientError(code, message.empty() ? std::string(httputil::reason_phrase(code)) : message,
                      std::string()) {
  this->response = std::move(response);
}

HTTPClientError::HTTPClientError(int code, std::string message, std::string what)
    : std::runtime_error(what.empty() ? fmt::format("HTTP {}: {}", code, message) : what),
      code(code),
      message(std::move(message)) {}

HTTPTimeoutError::HTTPTimeoutError(std::string message)
    : HTTPClientError(599, message, message.empty() ? std::string("Timeout") : message) {}

HTTPStreamClosedError::HTTPStreamClosedError(std::string message)
    : HTTPClientError(599, message, message.empty() ? std::string("Stream closed") : message) {}

// ---------------------------------------------------------------- AsyncHTTPClient

AsyncHTTPClient::AsyncHTTPClient() : pool_(default_pool.lock()) {
  if (!pool_ || pool_->closed() || pool_->loop() != &ioloop::IOLoop::current()) {
    pool_ = std::make_shared<HTTPClientPool>(ClientOptions{});
    default_pool = pool_;
  }
}

AsyncHTTPClient::AsyncHTTPClient(ClientOptions options)
    : pool_(std::make_shared<HTTPClientPool>(options)) {}

Task<HTTPResponse> AsyncHTTPClient::fetch(std::string url, HTTPRequest options, bool raise_error) {
  options.url = std::move(url);
  return fetch_impl(pool_, std::move(options), raise_error);
}

Task<HTTPResponse> AsyncHTTPClient::fetch(HTTPRequest request, bool raise_error) {
  return fetch_impl(pool_, std::move(request), raise_error);
}

void AsyncHTTPClient::close() {
  pool_->close();
}

const ClientOptions& AsyncHTTPClient::options() const noexcept {
  return pool_->options();
}

std::size_t AsyncHTTPClient::idle_connections() const noexcept {
  return pool_->idle_count();
}

std::size_t AsyncHTTPClient::connections_opened() const noexcept {
  return pool_->opened();
}

// ---------------------------------------------------------------- HTTPClient

struct HTTPClient::Worker {
  std::thread thread;
  ioloop::IOLoop* loop = nullptr;
  AsyncHTTPClient* client = nullptr;
};

HTTPClient::HTTPClient(ClientOptions options) : worker_(std::make_unique<Worker>()) {
  std::promise<void> ready;
  auto started = ready.get_future();
  worker_->thread = std::thread([worker = worker_.get(), options, &ready] {
    ioloop::IOLoop loop;
    AsyncHTTPClient client(options);  // destroyed before the loop
    worker->loop = &loop;
    worker->client = &client;
    ready.set_value();
    loop.start();
    client.close();
  });
  started.wait();
}

HTTPClient::~HTTPClient() {
  close();
}

void HTTPClient::close() {
  if (!worker_) return;
  auto* loop = worker_->loop;
  loop->add_callback([loop] { loop->stop(); });
  worker_->thread.join();
  worker_.reset();
}

HTTPResponse HTTPClient::fetch(std::string url, HTTPRequest options, bool raise_error) {
  options.url = std::move(url);
  return fetch(std::move(options), raise_error);
}

HTTPResponse HTTPClient::fetch(HTTPRequest request, bool raise_error) {
  if (!worker_) throw std::runtime_error("fetch() called on closed HTTPClient");
  std::promise<HTTPResponse> promise;
  auto result = promise.get_future();
  auto* worker = worker_.get();
  // std::function needs a copyable callable; the request moves through a
  // shared_ptr instead of being copied.
  auto shared_request = std::make_shared<HTTPRequest>(std::move(request));
  worker->loop->add_callback([worker, shared_request, raise_error, &promise] {
    spawn(deliver(worker->client->fetch(std::move(*shared_request), raise_error), &promise));
  });
  return result.get();
}

}  // namespace httpclient
}  // namespace tornado
