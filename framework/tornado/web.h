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
#include "tornado/routing.h"
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
  /// Creates H, lets `attach` give it its request (and run
  /// set_default_headers), then calls its `initialize`, as Tornado's
  /// RequestHandler.__init__.
  std::function<std::unique_ptr<RequestHandler>(const std::function<void(RequestHandler&)>& attach)>
      factory;
  /// Runs H's prepare() (plain or Task<>); empty if H has none.
  std::function<Task<>(RequestHandler&)> prepare;
  /// Runs the verb for `method`.
  std::function<Task<>(RequestHandler&, std::string_view method, const std::vector<std::string>&)>
      invoke;
  /// Verbs H defines, each with the path-argument counts it accepts.
  std::map<std::string, unsigned, std::less<>> verbs;
  /// For handlers that stream the request body (define `data_received`):
  /// an empty Task for a plain hook, else the hook's work (owning a copy
  /// of the chunk), awaited before the next chunk is read.
  std::function<Task<>(RequestHandler&, std::string_view)> data_received;
  /// The handler class's name, for logs and errors.
  std::string handler_name;
  /// True when the handler defines `data_received` (Tornado's stream_request_body).
  bool streams_body = false;
  /// True for WebSocketHandler subclasses.
  bool websocket = false;
};

class StaticFileHandler;

/// How the static route creates its handler: `static_handler_class<H>()`
/// for a StaticFileHandler subclass (Tornado's `static_handler_class`).
struct StaticHandlerClass {
  /// The route's handler, serving `path` with `args` (static_handler_args).
  std::function<HandlerSpec(const std::string& path, const nlohmann::json& args)> route;
  /// A bare instance, for `make_static_url` / `get_version` (Tornado's
  /// class methods, virtual here).
  std::function<std::unique_ptr<StaticFileHandler>()> create;
};

class UIModule;

/// Makes the UI module a handler uses (one per name and request, as
/// Tornado); `ui_module<M>()` makes one for a UIModule subclass M.
using UIModuleFactory = std::function<std::unique_ptr<UIModule>(RequestHandler& handler)>;
/// The factory of UI module class M, for the ui_modules setting.
template <class M>
UIModuleFactory ui_module() {
  return [](RequestHandler& handler) -> std::unique_ptr<UIModule> {
    return std::make_unique<M>(handler);
  };
}

/// A function templates call as `name(args)`. Made from
/// `Value(RequestHandler& handler, const template_::Arguments& args)`, which
/// receives the handler first as Tornado's ui_methods do, or from either
/// signature of template_::Function when the handler is not needed.
class UIMethod {
 public:
  /// The signature with the handler first.
  using Call = std::function<template_::Value(RequestHandler&, const template_::Arguments&)>;
  UIMethod() = default;
  /// From a callable taking the handler first.
  template <class F>
  requires(
      std::is_invocable_r_v<template_::Value, F&, RequestHandler&, const template_::Arguments&>)
      UIMethod(F f)
      : call_(std::move(f)) {}  // NOLINT: implicit, so that lambdas convert
  /// From a callable of template_::Function (no handler).
  template <class F>
  requires(!std::is_invocable_v<F&, RequestHandler&, const template_::Arguments&> &&
           std::is_constructible_v<template_::Function, F>)
      UIMethod(F f)  // NOLINT: implicit, so that functions convert
      : call_([function = template_::Function(std::move(f))](
                  RequestHandler&, const template_::Arguments& args) { return function(args); }) {}
  /// Calls the method for `handler`.
  template_::Value operator()(RequestHandler& handler, const template_::Arguments& args) const {
    return call_(handler, args);
  }

 private:
  Call call_;
};

/// Application settings, with Tornado's names and meanings.
///
/// The application's own settings live beside the typed ones:
/// `settings["blog_title"] = "My blog"`, read back in a handler as
/// `settings()["blog_title"]` (Tornado's extra keyword arguments).
struct Settings {
  /// Implies, unless set otherwise: compiled_template_cache = false,
  /// static_hash_cache = false, serve_traceback = true, autoreload = true
  /// (as Tornado).
  bool debug = false;
  /// Folder served under static_url_prefix by StaticFileHandler; none when empty.
  std::string static_path;
  /// The URL prefix of static files.
  std::string static_url_prefix = "/static/";
  /// The handler class for static_path; StaticFileHandler when unset.
  std::optional<StaticHandlerClass> static_handler_class;
  /// Passed to the static handler's `initialize` (the key it knows is
  /// `default_filename`); a subclass reads others from `settings()`.
  nlohmann::json static_handler_args = nlohmann::json::object();
  /// Cache content hashes for static_url (false: rehash on every request).
  std::optional<bool> static_hash_cache;
  /// Keep compiled templates (false: recompile when the file changed).
  std::optional<bool> compiled_template_cache;
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
  /// The checks run on the loop current when the Application is built (else
  /// the one it listens or first answers on) and stop when it is destroyed.
  std::optional<bool> autoreload;
  /// gzip responses for clients that accept it (text types, ≥ 1 KiB).
  bool compress_response = false;
  /// Include the exception text in error pages (default: the debug setting).
  std::optional<bool> serve_traceback;
  /// Interval between server pings on every WebSocket (0: none).
  std::chrono::milliseconds websocket_ping_interval{0};
  /// A WebSocket that does not answer a ping in this time is closed (0: 3 intervals).
  std::chrono::milliseconds websocket_ping_timeout{0};
  /// Largest WebSocket message accepted (1009 past it).
  std::size_t websocket_max_message_size = 10 * 1024 * 1024;
  /// Replaces the access log line (`Application::log_request`).
  std::function<void(RequestHandler&)> log_function;
  /// The host whose `add_handlers` routes also serve requests that came
  /// without a proxy's X-Real-Ip (Tornado's `default_host`); none when unset.
  std::optional<std::string> default_host;
  /// Handles requests no route matches (Tornado's default_handler_class);
  /// a 404 page when unset.
  std::optional<HandlerSpec> default_handler_class;
  /// Functions templates may call, in addition to the built-ins; each gets
  /// the handler first (Tornado's ui_methods).
  std::map<std::string, UIMethod, std::less<>> ui_methods;
  /// UI modules for `{% module Name(args) %}` and `modules.Name(args)`, in
  /// addition to the built-in linkify, xsrf_form_html and Template.
  std::map<std::string, UIModuleFactory, std::less<>> ui_modules;
  /// Extra values every template sees.
  nlohmann::json template_globals = nlohmann::json::object();
  /// The application's own settings, by name (see `operator[]`).
  nlohmann::json values = nlohmann::json::object();

  /// The application's own setting `key` (created null if absent).
  nlohmann::json& operator[](const std::string& key) { return values[key]; }
  /// The application's own setting `key`; null if absent.
  const nlohmann::json& operator[](const std::string& key) const;
  /// The escaping function of `{{ }}` in templates ("xhtml_escape"); nullopt
  /// is Tornado's `autoescape=None` (no escaping).
  std::optional<std::string> autoescape = "xhtml_escape";
  /// Whitespace mode of templates ("all", "single", "oneline"); unset: by
  /// file extension.
  std::optional<std::string> template_whitespace;
  /// Loads the templates instead of a Loader on template_path (Tornado's
  /// template_loader), e.g. a DictLoader.
  std::shared_ptr<template_::BaseLoader> template_loader;
  /// Largest value a template expression may build and largest page a
  /// template renders, in bytes (template_::LoaderOptions::max_value_size);
  /// past it the render fails with a MemoryError naming the file and line.
  /// Not Tornado's: Python has no such bound. A template_loader keeps its own.
  std::size_t template_max_value_size = template_::kDefaultMaxValueSize;
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
  /// A route to another delegate (an Application, a Router, any
  /// HTTPServerConnectionDelegate), which sees the request unchanged, as a
  /// Tornado rule whose target is an application or router.
  URLSpec(std::string pattern, routing::Target target, std::string name = {})
      : pattern(std::move(pattern)), name(std::move(name)), target(std::move(target)) {}
  /// The regex, anchored at both ends.
  std::string pattern;
  /// How to create and call the handler (unused with `target`).
  HandlerSpec spec;
  /// The route's name for `reverse_url`; empty for none.
  std::string name;
  /// The delegate the route hands its requests to, instead of a handler.
  routing::Target target;
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
  /// Sets headers every response of this handler starts with (also after
  /// `clear()`, so error pages have them too), as Tornado's.
  virtual void set_default_headers() {}
  /// Where `authenticated()` redirects; the `login_url` setting by default.
  virtual std::string get_login_url();
  /// The user's locale from their profile, if the app keeps one; none by
  /// default, so `locale()` falls back to `get_browser_locale()`.
  virtual std::shared_ptr<const locale::Locale> get_user_locale() { return nullptr; }
  /// The ETag of the response body; an SHA-1 of it by default.
  virtual std::optional<std::string> compute_etag();

  // ---- the request ----
  /// The request being answered (Tornado's `self.request`).
  httputil::HTTPServerRequest& request() {
    if (!request_) unpack_request();
    return *request_;
  }
  /// The request being answered, read-only.
  const httputil::HTTPServerRequest& request() const {
    if (!request_) unpack_request();
    return *request_;
  }
  /// The Application that routed the request here.
  Application& application() { return *application_; }
  /// The application's settings.
  const Settings& settings() const;
  /// The route's captured groups, URL-unescaped.
  const std::vector<std::string>& path_args() const { return read_state().path_args; }
  /// The route's named groups, URL-unescaped.
  const std::map<std::string, std::string, std::less<>>& path_kwargs() const {
    return read_state().path_kwargs;
  }

  /// The last value of query or body argument `name` (stripped); throws
  /// MissingArgumentError (400) if absent.
  std::string get_argument(std::string_view name, bool strip = true) const;
  /// The same with a default for a missing argument.
  std::string get_argument(std::string_view name, std::string_view default_value,
                           bool strip = true) const;
  /// With `std::nullopt` as the default (Tornado's `default=None`): the
  /// value, or nothing if absent.
  std::optional<std::string> get_argument(std::string_view name, std::nullopt_t,
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
  /// With `std::nullopt` as the default (Tornado's `default=None`): the
  /// value, or nothing if absent.
  std::optional<std::string> get_query_argument(std::string_view name, std::nullopt_t,
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
  /// With `std::nullopt` as the default (Tornado's `default=None`): the
  /// value, or nothing if absent.
  std::optional<std::string> get_body_argument(std::string_view name, std::nullopt_t,
                                               bool strip = true) const;
  /// A string literal default must not turn into the `strip` flag.
  std::string get_body_argument(std::string_view name, const char* default_value,
                                bool strip = true) const {
    return get_body_argument(name, std::string_view(default_value), strip);
  }
  /// Every value of form-body argument `name`.
  std::vector<std::string> get_body_arguments(std::string_view name, bool strip = true) const;

  // ---- the response ----
  /// Sets the status; the reason phrase is `reason`, else the standard one
  /// ("Unknown" for a code without one, as Tornado 6).
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
  const httputil::HTTPHeaders& response_headers() const { return read_state().headers; }

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
  /// Redirects to `url` (302, or 301 when permanent; `status`, a 3xx, overrides
  /// both). The URL is sent as given: a relative one is resolved by the client.
  void redirect(std::string_view url, bool permanent = false,
                std::optional<int> status = std::nullopt);
  /// Renders template `name` with `values` (plus the handler's namespace)
  /// and finishes the response; the UI modules the page used add their
  /// JavaScript and CSS before `</body>` and `</head>`, as in Tornado.
  /// `values` mixes JSON and objects: `render("entry.html", {{"entry", entry}, {"n", 3}})`.
  void render(std::string_view name, template_::Namespace values = {});
  /// Renders template `name` to a string.
  std::string render_string(std::string_view name, template_::Namespace values = {});
  /// The names templates see from this handler, as Tornado's
  /// get_template_namespace: handler, request, current_user, locale, _,
  /// pgettext, static_url, xsrf_form_html, reverse_url, the ui_methods and
  /// `modules`. Override to add names (call the base and set() on it).
  virtual template_::Namespace get_template_namespace();
  /// The `locale` templates see (and `_` / `pgettext` translate through):
  /// an object with `code`, `name`, `rtl`, `translate(message,
  /// plural_message=None, count=None)`, `pgettext(context, message, ...)`,
  /// `format_date(date, gmt_offset=0, relative=True, shorter=False,
  /// full_format=False)` (date: a datetime or seconds), `format_day`, `list`
  /// and `friendly_number`. The default wraps `locale()` (get_user_locale,
  /// else Accept-Language), as Tornado's; override to give templates another
  /// one.
  virtual template_::Value get_template_locale();
  /// `<script src=...>` tags for the UI modules' JavaScript files (relative
  /// paths through static_url, duplicates dropped). Override to change them.
  virtual std::string render_linked_js(const std::vector<std::string>& js_files);
  /// One `<script>` block with the UI modules' embedded JavaScript.
  virtual std::string render_embed_js(const std::vector<std::string>& js_embed);
  /// `<link rel=stylesheet>` tags for the UI modules' CSS files.
  virtual std::string render_linked_css(const std::vector<std::string>& css_files);
  /// One `<style>` block with the UI modules' embedded CSS.
  virtual std::string render_embed_css(const std::vector<std::string>& css_embed);
  /// Renders UI module `name` with `args`, creating it on first use in this
  /// request (what `{% module name(args) %}` calls).
  std::string render_ui_module(std::string_view name, const template_::Arguments& args);
  /// True if `name` is a UI module of the application (or a built-in one).
  bool has_ui_module(std::string_view name) const;
  /// Sends an error page via write_error (status 500 by default). The
  /// status line carries `reason` if given (Tornado's `reason=`), else the
  /// reason of an HTTPError `error`, else the standard phrase.
  void send_error(int status_code = 500, std::exception_ptr error = nullptr,
                  std::string_view reason = {});

  // ---- cookies ----
  /// The value of the request's cookie `name`, if sent.
  std::optional<std::string> get_cookie(std::string_view name) const;
  /// Sets a cookie (a plain one: the client can read and change it).
  void set_cookie(std::string_view name, std::string_view value, CookieOptions options = {});
  /// Deletes a cookie by sending it expired.
  void clear_cookie(std::string_view name, std::string_view path = "/",
                    std::string_view domain = {});
  /// Deletes every cookie the request sent (by name order), at `path` and `domain`.
  void clear_all_cookies(std::string_view path = "/", std::string_view domain = {});
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
  /// Throws HTTPError(403) unless the request carries the right token;
  /// run for POST, PUT, PATCH and DELETE with the xsrf_cookies setting.
  /// Override to check differently (e.g. API requests with their own auth).
  virtual void check_xsrf_cookie();
  /// The current user: set by `set_current_user`, else `get_current_user()`
  /// (cached).
  const std::optional<nlohmann::json>& current_user();
  /// Sets the current user (Tornado's `self.current_user = ...`), typically
  /// in a (coroutine) `prepare()`; nothing means no user.
  void set_current_user(std::optional<nlohmann::json> user) {
    state().current_user.emplace(std::move(user));
  }
  /// For verbs that need a user: redirects to login_url (GET/HEAD) or 403.
  /// Returns false when it did, so the verb can `if (!authenticated()) return;`.
  bool authenticated();
  /// The locale for this request: `get_user_locale()`, else
  /// `get_browser_locale()`; computed once per request.
  const locale::Locale& locale();
  /// Replaces the request's locale (Tornado's `locale` setter).
  void set_locale(std::shared_ptr<const locale::Locale> value) {
    state().locale = std::move(value);
  }
  /// The best supported locale for the Accept-Language header (q-values
  /// honoured), or `default_code`'s when the header is absent.
  std::shared_ptr<const locale::Locale> get_browser_locale(std::string_view default_code = "en_US");
  /// A URL for a static file with a content-hash version argument.
  std::string static_url(std::string_view path, bool include_host = false);
  /// The URL of the route named `name`, with its groups filled by `args`.
  std::string reverse_url(std::string_view name, const std::vector<std::string>& args = {});

  /// The connection this request arrived on (a WebSocket takes it over).
  const std::shared_ptr<http1connection::HTTP1ServerConnection>& connection() const {
    return read_state().connection;
  }

 protected:
  /// Subclasses that take over the connection (WebSocketHandler) say so;
  /// the response state is released (an upgraded connection may live for hours).
  void mark_detached() noexcept {
    detached_ = true;
    state().headers = httputil::HTTPHeaders();
    std::string().swap(state().write_buffer);
  }
  /// True once a subclass took the connection over.
  bool detached() const noexcept { return detached_; }
  /// For a connection that stays open for long (an upgraded WebSocket): the
  /// request is kept as one packed string (a few hundred bytes, instead of
  /// the request object, its header list and their strings) until `request()`
  /// is next called, which unpacks it, equal field for field, once. The
  /// HTTP connection object is released too (`connection()` is null after).
  /// References into the request taken before this call do not survive it.
  void pack_request();
  /// Logs an exception from the handler: an HTTPError's log_message as a warning,
  /// anything else as an error with the request line.
  void log_exception(std::exception_ptr error);
  /// True if the request's If-None-Match matches `etag`.
  bool check_etag_header(std::string_view etag) const;

 private:
  friend struct detail::HandlerRunner;
  friend class Application;
  iostream::IOStream::WriteAwaitable send_headers_and(std::string_view chunk, bool finishing);
  void reset_response();
  std::vector<std::string> arguments_from(const httputil::Arguments& args, std::string_view name,
                                          bool strip) const;

  void unpack_request() const;
  // The runner's last call, with the handler's owner: a handler that lives
  // on after its verb has returned (an upgraded WebSocket, driven by its
  // stream's reads from then on, with no coroutine frame kept) takes it.
  virtual void adopt_after_run(std::unique_ptr<RequestHandler>& self) noexcept { (void)self; }

  // What answering a request needs, in one block. An upgraded WebSocket whose
  // handler keeps nothing in it after open() frees it (an idle connection may
  // live for hours; the block is most of a handler's size), and a later use
  // makes it again, empty.
  struct State {
    std::shared_ptr<http1connection::HTTP1ServerConnection> connection;
    std::vector<std::string> path_args;
    std::map<std::string, std::string, std::less<>> path_kwargs;
    std::string reason;
    httputil::HTTPHeaders headers;
    std::string write_buffer;
    std::shared_ptr<const locale::Locale> locale;
    std::optional<std::optional<nlohmann::json>> current_user;
    std::optional<std::string> xsrf_token;
    // The UI modules this request rendered, in first-use order (Tornado's
    // _active_modules); render() gathers their JavaScript and CSS.
    std::vector<std::pair<std::string, std::unique_ptr<UIModule>>> active_modules;
  };
  State& state() const { return state_ ? *state_ : make_state(); }
  State& make_state() const;
  // For readers: an empty state when the block was given back, without
  // making it again.
  const State& read_state() const noexcept { return state_ ? *state_ : empty_state(); }
  static const State& empty_state() noexcept;
  // Frees the state block when nothing a detached handler may still read
  // (path groups, locale, user, XSRF token, modules) is in it.
  void release_state_if_unused() noexcept;

  Application* application_ = nullptr;
  // Null while packed (pack_request); request() unpacks it on first use.
  mutable std::shared_ptr<httputil::HTTPServerRequest> request_;
  mutable std::unique_ptr<char[]> packed_request_;
  mutable std::unique_ptr<State> state_;
  int status_code_ = 200;
  bool headers_written_ = false;
  bool finished_ = false;
  bool detached_ = false;
};

/// A reusable piece of a page, Tornado's UIModule: `{% module Name(args) %}`
/// calls render(args) on the one instance per request, and the page gets the
/// JavaScript and CSS the module declares. Register it in the `ui_modules`
/// setting with `ui_module<MyModule>()`.
class UIModule {
 public:
  /// A module rendering for `handler`'s request.
  explicit UIModule(RequestHandler& handler) : handler(handler) {}
  virtual ~UIModule();
  UIModule(const UIModule&) = delete;
  UIModule& operator=(const UIModule&) = delete;

  /// The module's HTML, inserted unescaped by `{% module %}`.
  virtual std::string render(const template_::Arguments& args) = 0;
  /// JavaScript placed in one `<script>` block before `</body>` (empty: none).
  virtual std::string embedded_javascript() { return {}; }
  /// JavaScript files linked before `</body>`; relative paths go through static_url.
  virtual std::vector<std::string> javascript_files() { return {}; }
  /// CSS placed in one `<style>` block before `</head>` (empty: none).
  virtual std::string embedded_css() { return {}; }
  /// CSS files linked before `</head>`; relative paths go through static_url.
  virtual std::vector<std::string> css_files() { return {}; }
  /// HTML placed before `</head>` (empty: none).
  virtual std::string html_head() { return {}; }
  /// HTML placed before `</body>` (empty: none).
  virtual std::string html_body() { return {}; }

  /// Renders a template with the handler's namespace, as handler.render_string.
  std::string render_string(std::string_view path, template_::Namespace values = {}) {
    return handler.render_string(path, std::move(values));
  }
  /// The request being answered.
  httputil::HTTPServerRequest& request() { return handler.request(); }
  /// The handler's current_user().
  const std::optional<nlohmann::json>& current_user() { return handler.current_user(); }

  /// The handler the module renders for.
  RequestHandler& handler;
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
  /// Answers with the status before any verb runs, whatever the method.
  void prepare() { throw HTTPError(status_); }
  /// No XSRF check: a POST to a wrong URL gets its 404, not a 403 (as Tornado).
  void check_xsrf_cookie() override {}
  // Every verb Tornado knows, so that none is a 405; prepare() answers first.
  /// Never runs (prepare() answers).
  void get() {}
  /// Never runs (prepare() answers).
  void head() {}
  /// Never runs (prepare() answers).
  void post() {}
  /// Never runs (prepare() answers).
  void put() {}
  /// Never runs (prepare() answers).
  void patch() {}
  /// Never runs (prepare() answers).
  void delete_() {}
  /// Never runs (prepare() answers).
  void options() {}

 private:
  int status_ = 404;
};

/// Redirects to `url`, where "{0}", "{1}"... (or "{}") are the route's
/// groups and "{name}" its named groups (Python's str.format, as Tornado's
/// RedirectHandler); the request's query is appended.
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

/// Hands every request its route takes to another delegate (an Application,
/// a Router, any HTTPServerConnectionDelegate), which answers it on the same
/// connection, as Tornado's FallbackHandler hands it to a WSGI application:
///
///   {"/new/.*", tornado::web::handler<NewHandler>()},
///   {".*", tornado::web::handler<FallbackHandler>(legacy_app)},
///
/// The fallback gets a request of its own with the same line, headers and
/// body; the handler itself writes and logs nothing. Its route captures no
/// groups.
class FallbackHandler : public RequestHandler {
 public:
  /// The delegate that answers instead.
  void initialize(routing::Target fallback) { fallback_ = std::move(fallback); }
  /// Hands the request over, then steps aside (the verbs never run).
  Task<> prepare();
  /// Tells the fallback's answer, if it is still running, that the client left.
  void on_connection_close() override;
  /// Never runs: prepare() answered.
  void get() {}
  /// Never runs: prepare() answered.
  void post() {}
  /// Never runs: prepare() answered.
  void put() {}
  /// Never runs: prepare() answered.
  void patch() {}
  /// Never runs: prepare() answered.
  void delete_() {}
  /// Never runs: prepare() answered.
  void head() {}
  /// Never runs: prepare() answered.
  void options() {}

 private:
  routing::Target fallback_;
  std::unique_ptr<http1connection::HTTPMessageDelegate> delegate_;
};

/// Serves files under a root directory, as Tornado's StaticFileHandler:
/// ETag and Last-Modified with 304 answers (If-None-Match, If-Modified-Since),
/// single byte ranges (206, 416), HEAD, content types by extension, cache
/// headers for versioned URLs (`?v=`: Cache-Control and Expires both ten
/// years ahead, Tornado's CACHE_MAX_AGE). The file is read and sent 64 KiB
/// at a time, each piece flushed before the next is read, so a file of any
/// size is served in constant memory. A path that would leave the root
/// (`..`, encoded dots or slashes, absolute paths, NUL) is a 403; a missing
/// file a 404.
///
/// The `static_path` setting adds its route (`static_url_prefix` + `(.*)`,
/// `/favicon.ico`, `/robots.txt`); as a route of its own:
///
///   {"/files/(.*)", tornado::web::handler<StaticFileHandler>(std::string("files"))}
///
/// Tornado's override points are virtual; a subclass is installed with the
/// `static_handler_class` setting (`static_handler_class<MyStatic>()`).
/// Tornado's class methods (`get_absolute_path`, `get_content`,
/// `get_content_version`, `make_static_url`, `get_version`) are virtual
/// member functions here: `static_url()` calls them on a bare instance.
class StaticFileHandler : public RequestHandler {
 public:
  /// Ten years, in seconds: the lifetime of a versioned URL.
  static constexpr long long CACHE_MAX_AGE = 86400LL * 365 * 10;

  /// A sequence of content pieces: each call returns the next, nothing at
  /// the end (Tornado's generator of bytes).
  using ContentChunks = std::function<std::optional<std::string>()>;

  /// `default_filename` (e.g. "index.html") is served for a directory.
  void initialize(std::string path, std::optional<std::string> default_filename = std::nullopt);
  /// Sends the file at `path` under the root.
  Task<> get(std::string_view path) { return serve(std::string(path), true); }
  /// The headers GET would send, without the body.
  Task<> head(std::string_view path) { return serve(std::string(path), false); }

  // ---- override points (Tornado's names) ----
  /// The URL path (with the prefix removed) as a path relative to the root.
  virtual std::string parse_url_path(std::string_view url_path);
  /// The absolute location of `path` under `root`.
  virtual std::string get_absolute_path(std::string_view root, std::string_view path);
  /// Checks the path (403 outside the root, 404 missing, redirect for a
  /// directory with default_filename) and returns it; nothing when it
  /// already answered (a redirect).
  virtual std::optional<std::string> validate_absolute_path(std::string_view root,
                                                            std::string_view absolute_path);
  /// The bytes of `abspath` from `start` to `end` (exclusive), in pieces
  /// of 64 KiB read as they are asked for.
  virtual ContentChunks get_content(const std::string& abspath,
                                    std::optional<std::uint64_t> start = std::nullopt,
                                    std::optional<std::uint64_t> end = std::nullopt);
  /// The version of a file for its URL: a SHA-512 of its content.
  virtual std::string get_content_version(const std::string& abspath);
  /// The size of the file being served.
  virtual std::uint64_t get_content_size();
  /// Its modification time (Last-Modified, If-Modified-Since), if known.
  virtual std::optional<std::chrono::system_clock::time_point> get_modified_time();
  /// The Content-Type to send.
  virtual std::string get_content_type();
  /// Seconds the response may be cached: CACHE_MAX_AGE for a versioned URL
  /// (`?v=`), else 0 (no cache headers).
  virtual long long get_cache_time(std::string_view path,
                                   std::optional<std::chrono::system_clock::time_point> modified,
                                   std::string_view mime_type);
  /// Adds headers of the subclass's own.
  virtual void set_extra_headers(std::string_view path) { (void)path; }
  /// The URL for `path`: static_url_prefix + path, with `?v=<version>`.
  virtual std::string make_static_url(const Settings& settings, std::string_view path,
                                      bool include_version = true);
  /// The version for `path` under static_path (cached), or nothing if the
  /// file cannot be read.
  virtual std::optional<std::string> get_version(const Settings& settings, std::string_view path);
  /// The ETag: the file's version, so ranges and HEAD share the file's tag.
  std::optional<std::string> compute_etag() override;

 protected:
  /// Sets Accept-Ranges, ETag, Last-Modified, Content-Type, cache headers.
  void set_headers();
  /// True when If-None-Match or If-Modified-Since says the client has it.
  bool should_return_304();
  /// The version of `abspath`, computed once per application (unless the
  /// static_hash_cache setting is false).
  std::optional<std::string> get_cached_version(const std::string& abspath);

  /// The folder served (the `path` initialize argument).
  std::string root;
  /// Served for a directory (the `default_filename` initialize argument).
  std::optional<std::string> default_filename;
  /// The request's path relative to the root, once parsed.
  std::string path;
  /// The file being served, once validated.
  std::string absolute_path;
  /// Its modification time, once known.
  std::optional<std::chrono::system_clock::time_point> modified;

 private:
  friend class Application;
  Task<> serve(std::string url_path, bool include_body);
  std::optional<std::uint64_t> size_;
};

/// The `static_handler_class` setting for a StaticFileHandler subclass H.
template <class H>
StaticHandlerClass static_handler_class();

/// Routes requests to handlers and is the HTTP server's delegate, as
/// `tornado.web.Application`. Built on tornado::routing, as Tornado's: its
/// routes are rules of a RuleRouter per host pattern (`add_handlers`), tried
/// before the constructor's, which match any host.
class Application : public routing::Router {
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

  /// Adds routes for any host after construction, after the constructor's
  /// (checked like them).
  void add_handlers(std::vector<URLSpec> handlers);
  /// Adds routes for the hosts `host_pattern` matches (a regex anchored at
  /// both ends, on the host name without port), tried before the routes of
  /// earlier calls and the constructor's, as Tornado's `add_handlers`. With
  /// the `default_host` setting, they also serve requests that came without
  /// a proxy's X-Real-Ip when `default_host` matches `host_pattern`.
  void add_handlers(const std::string& host_pattern, std::vector<URLSpec> handlers);
  /// The URL of the route named `name` with its groups filled by `args`,
  /// looking into host routes and nested routers and applications too.
  /// Throws std::invalid_argument when no route has that name or the
  /// route's pattern has no single URL.
  std::string reverse_url(std::string_view name, const std::vector<std::string>& args = {}) const;
  /// The delegate answering `request`: the first route that matches, else
  /// `default_handler_class`, else a 404 (never null), as Tornado's.
  routing::MessageDelegate find_handler(const routing::Connection& connection,
                                        const routing::Request& request) override;
  /// A delegate running `spec`'s handler on `request` with the path
  /// arguments in `match`, as Tornado's `get_handler_delegate`. `spec` must
  /// outlive the request.
  routing::MessageDelegate get_handler_delegate(const routing::Connection& connection,
                                                const routing::Request& request,
                                                const HandlerSpec& spec,
                                                routing::MatchResult match = {});
  /// Writes the access log line (or calls the log_function setting).
  void log_request(RequestHandler& handler) const;

  /// The settings given to the constructor.
  const Settings& settings() const noexcept { return settings_; }
  /// The settings, to change before the first request.
  Settings& settings() noexcept { return settings_; }
  /// The template loader: the template_loader setting, else a Loader on
  /// template_path with the autoescape, template_whitespace and
  /// compiled_template_cache settings (created on first use).
  template_::BaseLoader& template_loader();
  /// Versioned static URL ("/static/app.css?v=..."): the static handler
  /// class's `make_static_url`.
  std::string static_url(std::string_view path, bool include_version = true);
  /// The cached content version of `abspath`, computed by `compute` on
  /// first use (StaticFileHandler's version cache, one per application).
  std::optional<std::string> cached_static_version(
      const std::string& abspath, const std::function<std::optional<std::string>()>& compute);
  /// Forgets cached static versions (Tornado's StaticFileHandler.reset).
  void reset_static_versions();
  /// Stops every server this Application listens with; open connections
  /// are closed once idle (graceful shutdown).
  void stop_listening();
  /// Closes every connection of the servers `listen` started, at once (the
  /// last step of a graceful shutdown, after `stop_listening`).
  void close_all_connections();

  /// `find_handler`'s delegate.
  std::unique_ptr<http1connection::HTTPMessageDelegate> start_request(
      std::shared_ptr<http1connection::HTTP1ServerConnection> connection,
      std::shared_ptr<httputil::HTTPServerRequest> request) override;

 private:
  struct Impl;
  // Starts autoreload's checks on the current loop (once) if the settings
  // ask for them.
  void start_autoreload();
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
  static constexpr bool is_websocket = false;
  static void apply(HandlerSpec&) {}
};

template <class H>
Task<> data_received_task(H& h, std::string chunk) {
  co_await h.data_received(std::string_view(chunk));
}

/// A hook or verb named `Hook` that H declares callably but whose result
/// is neither void nor Task<> (it would be dropped): never silently.
template <class Hook, class H, std::size_t N>
constexpr bool returns_other() {
  return tornado::detail::callable_any_v<Hook, H, N> &&
         !tornado::detail::callable_with_v<Hook, H, N>;
}

}  // namespace detail

template <class H, class... InitArgs>
HandlerSpec handler(InitArgs... init_args) {
  static_assert(std::is_base_of_v<RequestHandler, H>,
                "handler<H>: H must derive from RequestHandler");
  using namespace tornado::detail;
  HandlerSpec spec;
  spec.factory =
      [init_args...](
          const std::function<void(RequestHandler&)>& attach) -> std::unique_ptr<RequestHandler> {
    auto h = std::make_unique<H>();
    attach(*h);
    if constexpr (sizeof...(InitArgs) > 0) {
      h->initialize(init_args...);
    } else if constexpr (requires { h->initialize(); }) {
      h->initialize();
    }
    return h;
  };
  static_assert(!detail::returns_other<HookPrepare, H, 0>(),
                "handler<H>: H::prepare() must return void or tornado::Task<> (any other "
                "result would be dropped)");
  static_assert(!detail::returns_other<HookDataReceived, H, 1>(),
                "handler<H>: H::data_received(std::string_view) must return void or "
                "tornado::Task<> (any other result would be dropped)");
  static_assert(
      !detail::returns_other<VerbGet, H, 0>() && !detail::returns_other<VerbPost, H, 0>() &&
          !detail::returns_other<VerbPut, H, 0>() && !detail::returns_other<VerbPatch, H, 0>() &&
          !detail::returns_other<VerbDelete, H, 0>() && !detail::returns_other<VerbHead, H, 0>() &&
          !detail::returns_other<VerbOptions, H, 0>(),
      "handler<H>: a verb must return void or tornado::Task<> (any other result "
      "would be dropped)");
  if constexpr (arity_mask<HookPrepare, H>() & 1u) {
    spec.prepare = [](RequestHandler& base) -> Task<> {
      H& h = static_cast<H&>(base);
      if constexpr (std::is_void_v<decltype(h.prepare())>) {
        h.prepare();
        return {};
      } else {
        return h.prepare();
      }
    };
  }
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
    spec.data_received = [](RequestHandler& base, std::string_view chunk) -> Task<> {
      H& h = static_cast<H&>(base);
      if constexpr (std::is_void_v<decltype(h.data_received(chunk))>) {
        h.data_received(chunk);
        return {};
      } else {
        // The chunk lives in the connection's buffer only during this call.
        return detail::data_received_task(h, std::string(chunk));
      }
    };
  }
  spec.handler_name = typeid(H).name();
  detail::WebSocketSpec<H>::apply(spec);
  constexpr unsigned all_verbs = arity_mask<VerbGet, H>() | arity_mask<VerbPost, H>() |
                                 arity_mask<VerbPut, H>() | arity_mask<VerbPatch, H>() |
                                 arity_mask<VerbDelete, H>() | arity_mask<VerbHead, H>() |
                                 arity_mask<VerbOptions, H>();
  static_assert(detail::WebSocketSpec<H>::is_websocket || all_verbs != 0,
                "handler<H>: H has no verb that can be called: a verb (get, post, put, patch, "
                "delete_, head, options) must be public, take its path arguments as "
                "std::string_view (or none) and return void or tornado::Task<>");
  return spec;
}

template <class H>
StaticHandlerClass static_handler_class() {
  static_assert(std::is_base_of_v<StaticFileHandler, H>,
                "static_handler_class<H>: H must derive from StaticFileHandler");
  StaticHandlerClass cls;
  cls.route = [](const std::string& path, const nlohmann::json& args) {
    std::optional<std::string> default_filename;
    if (args.is_object() && args.contains("default_filename") &&
        args["default_filename"].is_string()) {
      default_filename = args["default_filename"].template get<std::string>();
    }
    return handler<H>(path, default_filename);
  };
  cls.create = [] { return std::make_unique<H>(); };
  return cls;
}

}  // namespace tornado::web
