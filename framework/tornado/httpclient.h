// tornado::httpclient: an HTTP/1.1 client, mirroring tornado.httpclient.
//
// `AsyncHTTPClient::fetch` is a coroutine returning an `HTTPResponse`. A
// response with a code outside 2xx raises `HTTPClientError` unless
// `raise_error` is false; failures to talk to the server at all (refused,
// reset, timed out, malformed response) always raise, as in Tornado 6.
//
//   tornado::Task<> show(std::string url) {
//     tornado::httpclient::AsyncHTTPClient client;
//     try {
//       auto response = co_await client.fetch(url);
//       fmt::print("{}\n", response.body);
//     } catch (const tornado::httpclient::HTTPClientError& e) {
//       fmt::print("Error: {}\n", e.what());  // "HTTP 404: Not Found"
//     }
//   }
//
// Keyword arguments are an `HTTPRequest` with designated initializers:
//
//   co_await client.fetch("http://localhost:8888/echo-body",
//                         {.method = "POST", .body = "hello", .request_timeout = 5s});
//
// `HTTPClient` is the blocking twin for tools and tests: it runs its own
// IOLoop on a private thread, so it also works where another loop exists.
//
// Connections. Requests are HTTP/1.1 with keep-alive: after a clean
// response the connection goes back to an idle pool keyed by (scheme, host,
// port, TLS settings) and the next request to the same server reuses it.
// The pool belongs to the client: `AsyncHTTPClient()` shares one pool per
// IOLoop (as Tornado's instance cache), alive while any such client object
// or any of its fetches is; `AsyncHTTPClient(ClientOptions{...})` gets a pool
// of its own. Either must not outlive its IOLoop. At most `max_clients`
// requests run at once; more wait in a queue (and may time out there).
//
// Timeouts and errors, as Tornado's simple_httpclient: a timeout raises
// `HTTPTimeoutError` (an `HTTPClientError` with code 599: "Timeout while
// connecting", "Timeout during request", "Timeout in request queue"); a
// connection that closes without a socket error raises
// `HTTPStreamClosedError` (599, "Stream closed"); a socket or TLS error
// (refused, reset, certificate rejected, unknown host) raises the
// `iostream::StreamClosedError` that carries it in `real_error`, as Tornado
// raises the underlying OSError; a malformed or oversized response raises
// `httputil::HTTPInputError`; a bad request (unknown method, a body where
// none belongs, a non-http URL) raises `std::invalid_argument`.
//
// Large uploads stream from a `body_producer` (chunked unless the request
// sets Content-Length), each piece awaited until it is flushed:
//
//   co_await client.fetch(url, {.method = "PUT",
//                               .body_producer = [&](BodyWriter write) -> Task<> {
//                                 while (auto piece = co_await source.next())
//                                   co_await write(*piece);
//                               }});
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "tornado/concurrent.h"
#include "tornado/httputil.h"
#include "tornado/iostream.h"

namespace tornado::detail {
class HTTPClientPool;
}

namespace tornado::httpclient {

/// Timeouts are steady-clock durations (`std::chrono::seconds(5)`).
using Duration = std::chrono::steady_clock::duration;

/// What a `body_producer` writes with: each call sends one piece of the
/// body (as one chunk, unless the request has a Content-Length) and returns
/// an awaitable that completes once the piece is flushed to the kernel.
/// Awaiting each write before making the next piece keeps memory flat
/// whatever the body's size. An empty piece sends nothing.
using BodyWriter = std::function<iostream::IOStream::WriteAwaitable(std::string_view)>;
/// Tornado's `body_producer`: a coroutine given the write function, which
/// writes the whole body and returns.
using BodyProducer = std::function<Task<>(BodyWriter write)>;

/// One request's settings, as Tornado's `HTTPRequest` keyword arguments.
/// Timeouts of zero mean "none".
struct HTTPRequest {
  /// The URL to fetch (http:// or https://).
  std::string url;
  /// The HTTP method.
  std::string method = "GET";
  /// Extra request headers.
  httputil::HTTPHeaders headers;
  /// The body: required for POST, PUT and PATCH, refused for other methods
  /// unless `allow_nonstandard_methods` (an empty string is a body; no
  /// value is none, as Tornado's `None`).
  std::optional<std::string> body;
  /// Writes the body in pieces instead of `body` (which then stays
  /// unset), as Tornado's `body_producer`. Without a Content-Length header
  /// the body goes out with `Transfer-Encoding: chunked`; with one, the
  /// producer must write exactly that many bytes (else HTTPOutputError). It
  /// runs on a new connection, after the head (and after 100 Continue with
  /// `expect_100_continue`), and again only if a 307/308 redirect repeats
  /// the request. A timeout or a cancelled fetch cancels it where it waits.
  BodyProducer body_producer;
  /// Basic authentication; a URL's "user:password@" is used if absent.
  std::optional<std::string> auth_username;
  /// The password for `auth_username`.
  std::optional<std::string> auth_password;
  /// Only "basic" is supported, as in Tornado's simple client.
  std::string auth_mode = "basic";
  /// Connecting (DNS, TCP and TLS handshake) must finish within this.
  Duration connect_timeout = std::chrono::seconds(20);
  /// The whole exchange (connect included) must finish within this.
  Duration request_timeout = std::chrono::seconds(20);
  /// Sends If-Modified-Since.
  std::optional<std::chrono::system_clock::time_point> if_modified_since;
  /// Follow 301/302/303/307/308 with a Location, at most `max_redirects` times.
  bool follow_redirects = true;
  /// How many redirects `follow_redirects` follows before giving up.
  int max_redirects = 5;
  /// User-Agent header; "Tornado-cpp/<version>" if neither this nor a
  /// header is set.
  std::string user_agent;
  /// Asks for gzip (Accept-Encoding) and inflates a gzip body; the response
  /// then has X-Consumed-Content-Encoding instead of Content-Encoding.
  bool decompress_response = true;
  /// Receives the body in chunks as it arrives instead of `response.body`
  /// (which stays empty).
  std::function<void(std::string_view)> streaming_callback;
  /// Receives the status line, each header line and the final "\r\n".
  std::function<void(std::string_view)> header_callback;
  /// Skips the method and body checks (custom methods, GET with a body).
  bool allow_nonstandard_methods = false;
  /// Verify the server's TLS certificate and host name (https).
  bool validate_cert = true;
  /// PEM file of CA certificates to trust instead of the system's.
  std::string ca_certs;
  /// Client certificate and key (PEM) for servers that ask for one.
  std::string client_cert;
  /// The private key for `client_cert`.
  std::string client_key;
  /// Sends `Expect: 100-continue` and the body only after the server's
  /// 100 Continue (a final response instead means the body is not sent).
  bool expect_100_continue = false;
  /// Most body bytes accepted (after decompression); the client's
  /// `max_body_size` if unset.
  std::optional<std::size_t> max_body_size;
};

/// The outcome of a fetch, as Tornado's `HTTPResponse`.
struct HTTPResponse {
  /// The request as the caller made it (before redirects).
  std::shared_ptr<const HTTPRequest> request;
  /// The response's status code.
  int code = 0;
  /// The reason phrase the server sent.
  std::string reason;
  /// The response headers.
  httputil::HTTPHeaders headers;
  /// The response body, decompressed unless `decompress_response` is false.
  std::string body;
  /// The URL the final response came from (differs after redirects).
  std::string effective_url;
  /// Seconds from the start of the final request (connecting included,
  /// queueing not) to its last byte, as Tornado's `request_time`.
  double request_time = 0;
  /// Wall-clock time the final request started.
  std::chrono::system_clock::time_point start_time;
  /// With `raise_error=false`, the HTTPClientError a non-2xx code is.
  std::exception_ptr error;

  /// Throws `error` if there is one, as `HTTPResponse.rethrow()`.
  void rethrow() const {
    if (error) std::rethrow_exception(error);
  }
};

/// A response code outside 2xx (or a 599 pseudo-code), as Tornado's
/// `HTTPClientError`. what() is "HTTP 404: Not Found".
class HTTPClientError : public std::runtime_error {
 public:
  /// An error for status `code`; what() is "HTTP <code>: <message>".
  HTTPClientError(int code, std::string message = {},
                  std::shared_ptr<const HTTPResponse> response = nullptr);
  /// The HTTP status, or 599 for a timeout or a closed stream.
  int code;
  /// The reason phrase, or the standard one for `code`.
  std::string message;
  /// The response, when there was one (none for 599s).
  std::shared_ptr<const HTTPResponse> response;

 protected:
  /// For subclasses that word what() themselves.
  HTTPClientError(int code, std::string message, std::string what);
};

/// Tornado keeps `HTTPError` as the old name of `HTTPClientError`.
using HTTPError = HTTPClientError;

/// A timeout (code 599); what() is the message alone, e.g. "Timeout during
/// request", as Tornado's `HTTPTimeoutError`.
class HTTPTimeoutError : public HTTPClientError {
 public:
  /// A 599 whose what() is `message`.
  explicit HTTPTimeoutError(std::string message);
};

/// The connection closed before the response was complete, without a
/// socket error (code 599), as Tornado's `HTTPStreamClosedError`.
class HTTPStreamClosedError : public HTTPClientError {
 public:
  /// A 599 whose what() is `message`.
  explicit HTTPStreamClosedError(std::string message);
};

/// Settings of a client (its pool), as `AsyncHTTPClient.configure`'s.
struct ClientOptions {
  /// Requests running at once; more wait in a queue (Tornado's default 10).
  int max_clients = 10;
  /// Most bytes of a response's header block.
  std::size_t max_header_size = 64 * 1024;
  /// Most bytes of a response body (after decompression).
  std::size_t max_body_size = 100 * 1024 * 1024;
  /// Most bytes a connection buffers while reading.
  std::size_t max_buffer_size = 100 * 1024 * 1024;
  /// An idle pooled connection is closed after this long.
  Duration idle_timeout = std::chrono::seconds(30);
  /// Most idle connections kept, over all servers (0: no keep-alive reuse).
  std::size_t max_idle_connections = 10;
};

/// The non-blocking client, as Tornado's `AsyncHTTPClient`. Cheap to
/// construct and to copy (copies share the pool). Loop thread only.
class AsyncHTTPClient {
 public:
  /// Shares this IOLoop's default pool (created on first use).
  AsyncHTTPClient();
  /// A private pool with these settings (Tornado's `force_instance=True`).
  explicit AsyncHTTPClient(ClientOptions options);

  /// Fetches `url` with the other settings from `options`. Raises
  /// HTTPClientError for a non-2xx final response unless `raise_error` is
  /// false (then `response.error` holds it); other failures always raise.
  Task<HTTPResponse> fetch(std::string url, HTTPRequest options = {}, bool raise_error = true);
  /// Fetches `request.url`.
  Task<HTTPResponse> fetch(HTTPRequest request, bool raise_error = true);

  /// Closes the pool's idle connections and refuses new fetches (running
  /// ones finish). Rarely needed: a pool closes when its last user goes.
  void close();

  /// The options of this client's pool.
  const ClientOptions& options() const noexcept;
  /// Idle connections in the pool now (for tests and monitoring).
  std::size_t idle_connections() const noexcept;
  /// TCP connections this pool has opened so far.
  std::size_t connections_opened() const noexcept;

 private:
  std::shared_ptr<tornado::detail::HTTPClientPool> pool_;
};

/// A blocking client for tools and tests, as Tornado's `HTTPClient`. Its
/// requests run on a private IOLoop thread (callbacks in the request run
/// there too); `fetch` waits for them. Do not call it from a loop that
/// serves the URL being fetched: that loop would be blocked.
class HTTPClient {
 public:
  /// Starts the private IOLoop thread.
  explicit HTTPClient(ClientOptions options = {});
  ~HTTPClient();
  HTTPClient(const HTTPClient&) = delete;
  HTTPClient& operator=(const HTTPClient&) = delete;

  /// Fetches `url` and waits for the response; raises as AsyncHTTPClient.
  HTTPResponse fetch(std::string url, HTTPRequest options = {}, bool raise_error = true);
  /// Fetches `request.url` and waits for the response.
  HTTPResponse fetch(HTTPRequest request, bool raise_error = true);
  /// Stops the private loop and its thread; later fetches throw.
  void close();

 private:
  struct Worker;
  std::unique_ptr<Worker> worker_;
};

}  // namespace tornado::httpclient
