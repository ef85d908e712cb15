// tornado::web: request handlers and the application that routes to them,
// mirroring tornado.web.
//
// A web application is a table of URL patterns, each mapped to a subclass of
// `RequestHandler`. For every request the matching handler class is
// instantiated, its `prepare()` runs, then the method named after the HTTP
// verb (`get`, `post`, ...), called with the pattern's captured groups:
//
//   class MainHandler : public tornado::web::RequestHandler {
//    public:
//     void get() { write("Hello, world"); }
//   };
//   class StoryHandler : public tornado::web::RequestHandler {
//    public:
//     tornado::Task<> get(std::string_view story_id) {
//       co_await tornado::sleep(std::chrono::milliseconds(1));
//       write(nlohmann::json{{"story", story_id}});
//     }
//   };
//   tornado::web::Application app({
//       {"/", tornado::web::handler<MainHandler>()},
//       {"/story/([0-9]+)", tornado::web::handler<StoryHandler>()},
//   });
//   app.listen(8888);
//   tornado::ioloop::IOLoop::current().start();
//
// Verbs are found by name when `handler<H>()` is compiled: a handler without
// `post` answers POST with 405 and a correct `Allow` header, and a route
// whose group count fits none of the handler's verbs is refused when the
// Application is built. Throw `HTTPError(404)` anywhere in a handler to send
// that status; any other exception becomes a logged 500, never a crash.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "tornado/concurrent.h"
#include "tornado/detail/handler_traits.h"
#include "tornado/http1connection.h"
#include "tornado/httpserver.h"
#include "tornado/httputil.h"
#include "tornado/locale.h"
#include "tornado/template.h"

namespace tornado::web {

class Application;
class RequestHandler;

/// An exception that becomes an HTTP error response, as `tornado.web.HTTPError`.
/// `log_message` goes to the log (not to the client); `reason` replaces the
/// standard reason phrase.
class HTTPError : public std::runtime_error {
 public:
  /// Status 500 unless given; `log_message` is logged, `reason` replaces the reason phrase.
  explicit HTTPError(int status_code = 500, std::string log_message = {}, std::string reason = {});
  /// The HTTP status sent to the client.
  int status_code;
  /// Logged with the error, never sent to the client.
  std::string log_message;
  /// The reason phrase; the standard one for the status when empty.
  std::string reason;
};

/// A required argument is missing: a 400.
class MissingArgumentError : public HTTPError {
 public:
  /// A 400 naming the missing argument.
  explicit MissingArgumentError(std::string arg_name);
  /// The name of the argument that was missing.
  std::string arg_name;
};

/// Thrown to end the request without an error (`raise Finish()`); the
/// response is finished with what was written.
class Finish : public std::exception {
 public:
  /// Always "Finish".
  const char* what() const noexcept override { return "Finish"; }
};

/// How a route creates and calls its handler; made by `handler<H>()`.
struct HandlerSpec {
  /// Creates a fresh handler (and calls its `initialize`) for each request.
  std::function<std::unique_ptr<RequestHandler>()> factory;
  /// Runs prepare() and the verb for `method`; empty if H has no such verb.
  std::function<Task<>(RequestHandler&, std::string_view method, const std::vector<std::string>&)>
      invoke;
  /// Verbs H defines, each with the path-argument counts it accepts.
  std::map<std::string, unsigned, std::less<>> verbs;
  /// For handlers that stream the request body (define `data_received`).
  std::function<void(RequestHandler&, std::string_view)> data_received;
  /// The handler class's name, for logs and errors.
  std::string handler_name;
  /// True when the handler defines `data_received` (Tornado's stream_request_body).
  bool streams_body = false;
  /// True for WebSocketHandler subclasses.
  bool websocket = false;
};

/// Application settings, with Tornado's names and meanings.
struct Settings {
  /// Reload changed templates, allow serve_traceback; no autoreload.
  bool debug = false;
  /// Folder served under static_url_prefix by StaticFileHandler; none when empty.
  std::string static_path;
  /// The URL prefix of static files.
  std::string static_url_prefix = "/static/";
  /// Folder `render` loads templates from.
  std::string template_path;
  /// The key signing cookies (`set_signed_cookie`); keep it long, random and secret.
  std::string cookie_secret;
  /// Check the `_xsrf` field or header on every POST, PUT, PATCH and DELETE.
  bool xsrf_cookies = false;
  /// Where `authenticated()` sends users who are not signed in.
  std::string login_url;
  /// Restart the process when its executable, a rendered template or a
  /// watched file changes (tornado::autoreload); unset: follows `debug`.
  std::optional<bool> autoreload;
  /// gzip responses for clients that accept it (text types, ≥ 1 KiB).
  bool compress_response = false;
  /// Include the exception text in 500 pages (only with debug).
  bool serve_traceback = false;
  /// Interval between server pings on every WebSocket (0: none).
  std::chrono::milliseconds websocket_ping_interval{0};
  /// A WebSocket that does not answer a ping in this time is closed (0: 3 intervals).
  std::chrono::milliseconds websocket_ping_timeout{0};
  /// Largest WebSocket message accepted (1009 past it).
  std::size_t websocket_max_message_size = 10 * 1024 * 1024;
  /// Replaces the access log line (`Application::log_request`).
  std::function<void(RequestHandler&)> log_function;
  /// Handles requests no route matches (Tornado's default_handler_class);
  /// a 404 page when unset.
  std::optional<HandlerSpec> default_handler_class;
  /// Functions templates may call, in addition to the built-ins.
  template_::Functions ui_methods;
  /// Extra values every template sees.
  nlohmann::json template_globals = nlohmann::json::object();
  /// The application's own settings, by name (see `operator[]`).
  nlohmann::json values = nlohmann::json::object();

  /// The application's own setting `key` (created null if absent).
  nlohmann::json& operator[](const std::string& key) { return values[key]; }
  /// The application's own setting `key`; null if absent.
  const nlohmann::json& operator[](const std::string& key) const;
};

/// Options for `set_cookie`, Tornado's keyword arguments.
struct CookieOptions {
  /// The cookie's Domain attribute; none when empty.
  std::string domain;
  /// An absolute expiry time.
  std::optional<std::chrono::system_clock::time_point> expires;
  /// The cookie's Path attribute.
  std::string path = "/";
  /// Expiry in days from now.
  std::optional<double> expires_days;
  /// The Max-Age attribute, in seconds.
  std::optional<long long> max_age;
  /// Send the cookie over HTTPS only.
  bool secure = false;
  /// Hide the cookie from JavaScript.
  bool httponly = false;
  std::string samesite;  ///< "Strict", "Lax" or "None"; empty: not sent
};

namespace detail {
struct HandlerRunner;
}

/// A route: `{pattern, handler<H>(), name}`. Patterns are anchored at both
/// ends, as Tornado's; one with no regex syntax is matched literally.
struct URLSpec {
  // A constructor rather than an aggregate, so `{"/", handler<H>()}` without
  // a name compiles cleanly under -Wmissing-field-initializers.
  /// A route: `pattern` to the handler made by `spec`, optionally named for `reverse_url`.
  URLSpec(std::string pattern, HandlerSpec spec, std::string name = {})
      : pattern(std::move(pattern)), spec(std::move(spec)), name(std::move(name)) {}
  /// The regex, anchored at both ends.
  std::string pattern;
  /// How to create and call the handler.
  HandlerSpec spec;
  /// The route's name for `reverse_url`; empty for none.
  std::string name;
};

/// The base of every HTTP handler; subclass it and define verbs.
class RequestHandler {
 public:
  RequestHandler();
  virtual ~RequestHandler();
  RequestHandler(const RequestHandler&) = delete;
  RequestHandler& operator=(const RequestHandler&) = delete;

  // ---- hooks (override) ----
  /// Called after the response is sent, for cleanup or logging.
  virtual void on_finish() {}
  /// Called if the client closes the connection during an async request.
  virtual void on_connection_close() {}
  /// Writes the error page for `send_error`; the default is Tornado's
  /// minimal HTML page (with the exception text when serve_traceback).
  virtual void write_error(int status_code, std::exception_ptr error);
  /// Determines the current user (cached by `current_user()`); none by default.
  virtual std::optional<nlohmann::json> get_current_user() { return std::nullopt; }
  /// Where `authenticated()` redirects; the `login_url` setting by default.
  virtual std::string get_login_url();
  /// The user's locale from their profile, if the app keeps one; none by
  /// default, so `locale()` falls back to `get_browser_locale()`.
  virtual std::shared_ptr<const locale::Locale> get_user_locale() { return nullptr; }
  /// The ETag of the response body; an SHA-1 of it by default.
  virtual std::optional<std::string> compute_etag();

  // ---- the request ----
  /// The request being answered (Tornado's `self.request`).
  httputil::HTTPServerRequest& request() { return *request_; }
  /// The request being answered, read-only.
  const httputil::HTTPServerRequest& request() const { return *request_; }
  /// The Application that routed the request here.
  Application& application() { return *application_; }
  /// The application's settings.
  const Settings& settings() const;
  /// The route's captured groups, URL-unescaped.
  const std::vector<std::string>& path_args() const { return path_args_; }
  /// The route's named groups, URL-unescaped.
  const std::map<std::string, std::string, std::less<>>& path_kwargs() const {
    return path_kwargs_;
  }

  /// The last value of query or body argument `name` (stripped); throws
  /// MissingArgumentError (400) if absent.
  std::string get_argument(std::string_view name, bool strip = true) const;
  /// The same with a default for a missing argument.
  std::string get_argument(std::string_view name, std::string_view default_value,
                           bool strip = true) const;
  /// A string literal default must not turn into the `strip` flag.
  std::string get_argument(std::string_view name, const char* default_value,
                           bool strip = true) const {
    return get_argument(name, std::string_view(default_value), strip);
  }
  /// Every value of query or body argument `name`, in order; empty if absent.
  std::vector<std::string> get_arguments(std::string_view name, bool strip = true) const;
  /// The last value of query argument `name`; 400 if absent.
  std::string get_query_argument(std::string_view name, bool strip = true) const;
  /// The last value of query argument `name`, or `default_value`.
  std::string get_query_argument(std::string_view name, std::string_view default_value,
                                 bool strip = true) const;
  /// A string literal default must not turn into the `strip` flag.
  std::string get_query_argument(std::string_view name, const char* default_value,
                                 bool strip = true) const {
    return get_query_argument(name, std::string_view(default_value), strip);
  }
  /// Every value of query argument `name`.
  std::vector<std::string> get_query_arguments(std::string_view name, bool strip = true) const;
  /// The last value of form-body argument `name`; 400 if absent.
  std::string get_body_argument(std::string_view name, bool strip = true) const;
  /// The last value of form-body argument `name`, or `default_value`.
  std::string get_body_argument(std::string_view name, std::string_view default_value,
                                bool strip = true) const;
  /// A string literal default must not turn into the `strip` flag.
  std::string get_body_argument(std::string_view name, const char* default_value,
                                bool strip = true) const {
    return get_body_argument(name, std::string_view(default_value), strip);
  }
  /// Every value of form-body argument `name`.
  std::vector<std::string> get_body_arguments(std::string_view name, bool strip = true) const;

  // ---- the response ----
  /// Sets the status; an unknown code needs a `reason`.
  void set_status(int status_code, std::string_view reason = {});
  /// The response status set so far (200 by default).
  int get_status() const noexcept { return status_code_; }
  /// Sets a header, replacing earlier values; refuses CR/LF (header injection).
  void set_header(std::string_view name, std::string_view value);
  /// Sets a header to a number.
  void set_header(std::string_view name, long long value);
  /// Adds a header value, keeping earlier ones (Set-Cookie, say).
  void add_header(std::string_view name, std::string_view value);
  /// Removes every value of a header.
  void clear_header(std::string_view name);
  /// Resets headers and content to the defaults (status 200, HTML type).
  void clear();
  /// The response headers set so far.
  const httputil::HTTPHeaders& response_headers() const { return headers_; }

  /// Adds to the response body. A JSON value is sent as JSON (with the
  /// application/json type), as Tornado's `write(dict)`.
  void write(std::string_view chunk);
  /// Sends `value` as JSON, with the application/json type.
  void write(const nlohmann::json& value);
  /// Adds a C string to the response body.
  void write(const char* chunk) { write(std::string_view(chunk)); }
  /// Adds a string to the response body.
  void write(const std::string& chunk) { write(std::string_view(chunk)); }
  /// Sends what was written so far (headers first, then chunked body).
  /// Await it for backpressure.
  iostream::IOStream::WriteAwaitable flush();
  /// Ends the response, optionally writing `chunk` first.
  void finish(std::string_view chunk = {});
  /// True once the response is finished.
  bool finished() const noexcept { return finished_; }
  /// Redirects to `url` (302, or 301 when permanent).
  void redirect(std::string_view url, bool permanent = false,
                std::optional<int> status = std::nullopt);
  /// Renders template `name` with `values` (plus the handler's namespace)
  /// and finishes the response.
  void render(std::string_view name, nlohmann::json values = nlohmann::json::object());
  /// Renders template `name` to a string.
  std::string render_string(std::string_view name,
                            nlohmann::json values = nlohmann::json::object());
  /// The functions and values templates see from this handler (Tornado's
  /// `get_template_namespace`).
  virtual nlohmann::json get_template_namespace();
  /// Sends an error page via write_error (status 500 by default).
  void send_error(int status_code = 500, std::exception_ptr error = nullptr);

  // ---- cookies ----
  /// The value of the request's cookie `name`, if sent.
  std::optional<std::string> get_cookie(std::string_view name) const;
  /// Sets a cookie (a plain one: the client can read and change it).
  void set_cookie(std::string_view name, std::string_view value, CookieOptions options = {});
  /// Deletes a cookie by sending it expired.
  void clear_cookie(std::string_view name, std::string_view path = "/",
                    std::string_view domain = {});
  /// Signs and timestamps a cookie (Tornado's v2 format, HMAC-SHA256 with
  /// the cookie_secret setting) so it cannot be forged.
  void set_signed_cookie(std::string_view name, std::string_view value, double expires_days = 30,
                         CookieOptions options = {});
  /// The value of a signed cookie, if its signature is valid and it is not
  /// older than `max_age_days`.
  std::optional<std::string> get_signed_cookie(std::string_view name,
                                               double max_age_days = 31) const;

  // ---- XSRF, users, URLs ----
  /// This user's XSRF token (sets the _xsrf cookie on first use).
  std::string xsrf_token();
  /// `<input type="hidden" name="_xsrf" value="...">` for forms.
  std::string xsrf_form_html();
  /// Throws HTTPError(403) unless the request carries the right token.
  void check_xsrf_cookie();
  /// The cached result of `get_current_user()`.
  const std::optional<nlohmann::json>& current_user();
  /// For verbs that need a user: redirects to login_url (GET/HEAD) or 403.
  /// Returns false when it did, so the verb can `if (!authenticated()) return;`.
  bool authenticated();
  /// The locale for this request: `get_user_locale()`, else
  /// `get_browser_locale()`; computed once per request.
  const locale::Locale& locale();
  /// Replaces the request's locale (Tornado's `locale` setter).
  void set_locale(std::shared_ptr<const locale::Locale> value) { locale_ = std::move(value); }
  /// The best supported locale for the Accept-Language header (q-values
  /// honoured), or `default_code`'s when the header is absent.
  std::shared_ptr<const locale::Locale> get_browser_locale(std::string_view default_code = "en_US");
  /// A URL for a static file with a content-hash version argument.
  std::string static_url(std::string_view path, bool include_host = false);
  /// The URL of the route named `name`, with its groups filled by `args`.
  std::string reverse_url(std::string_view name, const std::vector<std::string>& args = {});

  /// The connection this request arrived on (a WebSocket takes it over).
  const std::shared_ptr<http1connection::HTTP1ServerConnection>& connection() const {
    return connection_;
  }

 protected:
  /// Subclasses that take over the connection (WebSocketHandler) say so;
  /// the response state is released (an upgraded connection may live for hours).
  void mark_detached() noexcept {
    detached_ = true;
    headers_ = httputil::HTTPHeaders();
    std::string().swap(write_buffer_);
  }
  /// True once a subclass took the connection over.
  bool detached() const noexcept { return detached_; }
  /// Logs an exception from the handler: an HTTPError's log_message as a warning,
  /// anything else as an error with the request line.
  void log_exception(std::exception_ptr error);
  /// True if the request's If-None-Match matches `etag`.
  bool check_etag_header(std::string_view etag) const;

 private:
  friend struct detail::HandlerRunner;
  friend class Application;
  iostream::IOStream::WriteAwaitable send_headers_and(std::string_view chunk, bool finishing);
  std::vector<std::string> arguments_from(const httputil::Arguments& args, std::string_view name,
                                          bool strip) const;

  Application* application_ = nullptr;
  std::shared_ptr<httputil::HTTPServerRequest> request_;
  std::shared_ptr<http1connection::HTTP1ServerConnection> connection_;
  std::vector<std::string> path_args_;
  std::map<std::string, std::string, std::less<>> path_kwargs_;
  int status_code_ = 200;
  std::string reason_;
  httputil::HTTPHeaders headers_;
  std::string write_buffer_;
  bool headers_written_ = false;
  bool finished_ = false;
  bool detached_ = false;
  std::shared_ptr<const locale::Locale> locale_;
  std::optional<std::optional<nlohmann::json>> current_user_;
  std::optional<std::string> xsrf_token_;
};

/// Signs `value` for cookie `name` (Tornado's version 2 signed value).
std::string create_signed_value(std::string_view secret, std::string_view name,
                                std::string_view value, std::int64_t timestamp);
/// Checks and decodes a signed value; nothing if forged, misnamed or expired.
std::optional<std::string> decode_signed_value(std::string_view secret, std::string_view name,
                                               std::string_view signed_value, double max_age_days,
                                               std::int64_t now);

/// Builds the dispatch table for handler class H. Arguments are passed to
/// H's `initialize(...)` for every request, as Tornado's route kwargs.
template <class H, class... InitArgs>
HandlerSpec handler(InitArgs... init_args);

/// Answers every request with `status_code` (Tornado's ErrorHandler).
class ErrorHandler : public RequestHandler {
 public:
  /// The status to answer with.
  void initialize(int status_code) { status_ = status_code; }
  /// Answers with the status.
  void get() { throw HTTPError(status_); }
  /// Answers with the status.
  void post() { throw HTTPError(status_); }
  /// Answers with the status.
  void head() { throw HTTPError(status_); }

 private:
  int status_ = 404;
};

/// Redirects to `url`, where "{0}", "{1}"... are the route's groups
/// (Tornado's RedirectHandler).
class RedirectHandler : public RequestHandler {
 public:
  /// The target ("{0}" is the first group) and whether the redirect is 301 (else 302).
  void initialize(std::string url, bool permanent = true) {
    url_ = std::move(url);
    permanent_ = permanent;
  }
  /// Redirects a route without groups.
  void get();
  /// Redirects a route with one group.
  void get(std::string_view a) { get_with({std::string(a)}); }
  /// Redirects a route with two groups.
  void get(std::string_view a, std::string_view b) { get_with({std::string(a), std::string(b)}); }

 private:
  void get_with(const std::vector<std::string>& groups);
  std::string url_;
  bool permanent_ = true;
};

/// Serves files under a root directory, as Tornado's StaticFileHandler:
/// ETag and Last-Modified with 304 answers, single byte ranges (206, 416),
/// HEAD, content types by extension, long cache headers for versioned URLs
/// (`?v=`). A path that would leave the root (`..`, encoded dots or
/// slashes, absolute paths, NUL) is a 403; a missing file a 404.
///
///   {"/static/(.*)", tornado::web::handler<StaticFileHandler>(std::string("static"))}
class StaticFileHandler : public RequestHandler {
 public:
  /// The root folder, and the file served for a directory ("index.html", say).
  void initialize(std::string path, std::string default_filename = {});
  /// Sends the file at `path` under the root.
  Task<> get(std::string_view path) { return serve(std::string(path), true); }
  /// The headers GET would send, without the body.
  Task<> head(std::string_view path) { return serve(std::string(path), false); }

 private:
  Task<> serve(std::string path, bool include_body);
  std::string root_;
  std::string default_filename_;
};

/// Routes requests to handlers and is the HTTP server's delegate, as
/// `tornado.web.Application`.
class Application : public http1connection::HTTPServerConnectionDelegate {
 public:
  /// Throws std::invalid_argument naming the route if a pattern is invalid
  /// or its groups fit none of its handler's verbs.
  explicit Application(std::vector<URLSpec> handlers, Settings settings = {});
  ~Application() override;

  /// Listens on `port` (HTTP; HTTPS with `server_settings.ssl_options`) on the
  /// current IOLoop and returns the server, which the Application keeps: the
  /// Application must outlive the loop's use of it (a local in `main` does).
  httpserver::HTTPServer& listen(int port, std::string_view address = "",
                                 httpserver::HTTPServerSettings server_settings = {},
                                 netutil::BindOptions bind_options = {});

  /// Adds routes after construction (checked like the constructor's).
  void add_handlers(std::vector<URLSpec> handlers);
  /// The URL of the route named `name` with its groups filled by `args`.
  std::string reverse_url(std::string_view name, const std::vector<std::string>& args = {}) const;
  /// Writes the access log line (or calls the log_function setting).
  void log_request(RequestHandler& handler) const;

  /// The settings given to the constructor.
  const Settings& settings() const noexcept { return settings_; }
  /// The settings, to change before the first request.
  Settings& settings() noexcept { return settings_; }
  /// The template loader for `template_path` (created on first use).
  template_::Loader& template_loader();
  /// Versioned static URL ("/static/app.css?v=abc12"), content hash cached.
  std::string static_url(std::string_view path);
  /// Stops every server this Application listens with; open connections
  /// are closed once idle (graceful shutdown).
  void stop_listening();
  /// The servers `listen` started.
  std::vector<std::unique_ptr<httpserver::HTTPServer>>& servers() { return servers_; }

  std::unique_ptr<http1connection::HTTPMessageDelegate> start_request(
      std::shared_ptr<http1connection::HTTP1ServerConnection> connection,
      std::shared_ptr<httputil::HTTPServerRequest> request) override;

 private:
  struct Route;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Settings settings_;
  std::vector<std::unique_ptr<httpserver::HTTPServer>> servers_;
};

// ---------------------------------------------------------------------------
// handler<H>() — implementation

namespace detail {

template <class H, class Verb>
void add_verb(HandlerSpec& spec, const char* method) {
  constexpr unsigned mask = tornado::detail::arity_mask<Verb, H>();
  if constexpr (mask != 0) spec.verbs.emplace(method, mask);
}

template <class H>
Task<> invoke_verb(H& h, std::string_view method, const std::vector<std::string>& args) {
  using namespace tornado::detail;
  if constexpr (arity_mask<HookPrepare, H>() & 1u) {
    co_await run_hook([&h] { return h.prepare(); });
    if (static_cast<RequestHandler&>(h).finished()) co_return;
  }
  if (method == "GET") {
    co_await tornado::detail::invoke<VerbGet, H>(h, args);
  } else if (method == "POST") {
    co_await tornado::detail::invoke<VerbPost, H>(h, args);
  } else if (method == "PUT") {
    co_await tornado::detail::invoke<VerbPut, H>(h, args);
  } else if (method == "PATCH") {
    co_await tornado::detail::invoke<VerbPatch, H>(h, args);
  } else if (method == "DELETE") {
    co_await tornado::detail::invoke<VerbDelete, H>(h, args);
  } else if (method == "HEAD") {
    co_await tornado::detail::invoke<VerbHead, H>(h, args);
  } else if (method == "OPTIONS") {
    co_await tornado::detail::invoke<VerbOptions, H>(h, args);
  }
}

/// Filled in by websocket.h for WebSocketHandler subclasses.
template <class H, class = void>
struct WebSocketSpec {
  static void apply(HandlerSpec&) {}
};

}  // namespace detail

template <class H, class... InitArgs>
HandlerSpec handler(InitArgs... init_args) {
  static_assert(std::is_base_of_v<RequestHandler, H>,
                "handler<H>: H must derive from RequestHandler");
  using namespace tornado::detail;
  HandlerSpec spec;
  spec.factory = [init_args...]() -> std::unique_ptr<RequestHandler> {
    auto h = std::make_unique<H>();
    if constexpr (sizeof...(InitArgs) > 0) {
      h->initialize(init_args...);
    } else if constexpr (requires { h->initialize(); }) {
      h->initialize();
    }
    return h;
  };
  spec.invoke = [](RequestHandler& base, std::string_view method,
                   const std::vector<std::string>& args) -> Task<> {
    return detail::invoke_verb<H>(static_cast<H&>(base), method, args);
  };
  detail::add_verb<H, VerbGet>(spec, "GET");
  detail::add_verb<H, VerbPost>(spec, "POST");
  detail::add_verb<H, VerbPut>(spec, "PUT");
  detail::add_verb<H, VerbPatch>(spec, "PATCH");
  detail::add_verb<H, VerbDelete>(spec, "DELETE");
  detail::add_verb<H, VerbHead>(spec, "HEAD");
  detail::add_verb<H, VerbOptions>(spec, "OPTIONS");
  if constexpr ((arity_mask<HookDataReceived, H>() & 2u) != 0) {
    spec.streams_body = true;
    spec.data_received = [](RequestHandler& base, std::string_view chunk) {
      static_cast<H&>(base).data_received(chunk);
    };
  }
  spec.handler_name = typeid(H).name();
  detail::WebSocketSpec<H>::apply(spec);
  return spec;
}

}  // namespace tornado::web
