#include "tornado/web.h"

#include <cxxabi.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <typeinfo>

#include "tornado/autoreload.h"
#include "tornado/detail/ascii.h"
#include "tornado/detail/base64.h"
#include "tornado/detail/crypto.h"
#include "tornado/detail/utf8.h"
#include "tornado/detail/web/template.h"
#include "tornado/detail/zlib.h"
#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/locks.h"
#include "tornado/log.h"

namespace tornado::web {

namespace {

using tornado::detail::constant_time_equal;
using tornado::detail::digest_hex;
using tornado::detail::hex_decode;
using tornado::detail::hex_encode;

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  return tornado::detail::hmac_hex(EVP_sha256(), key, data);
}

std::string_view strip(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Tornado's signed value v2: "2|1:0|10:<ts>|4:<name>|<n>:<b64 value>|<hmac>".
std::string format_field(std::string_view s) {
  return fmt::format("{}:{}", s.size(), s);
}

std::optional<std::string_view> consume_field(std::string_view& rest) {
  auto colon = rest.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::size_t length = 0;
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + colon, length);
  if (ec != std::errc() || p != rest.data() + colon) return std::nullopt;
  std::string_view after = rest.substr(colon + 1);
  if (after.size() < length + 1 || after[length] != '|') return std::nullopt;
  std::string_view value = after.substr(0, length);
  rest = after.substr(length + 1);
  return value;
}

}  // namespace

std::string create_signed_value(std::string_view secret, std::string_view name,
                                std::string_view value, std::int64_t timestamp) {
  std::string to_sign =
      fmt::format("2|1:0|{}|{}|{}|", format_field(std::to_string(timestamp)), format_field(name),
                  format_field(tornado::detail::base64_encode(value)));
  return to_sign + hmac_sha256_hex(secret, to_sign);
}

std::optional<std::string> decode_signed_value(std::string_view secret, std::string_view name,
                                               std::string_view signed_value, double max_age_days,
                                               std::int64_t now) {
  if (!signed_value.starts_with("2|")) return std::nullopt;
  std::string_view rest = signed_value.substr(2);
  auto key_version = consume_field(rest);
  auto timestamp = key_version ? consume_field(rest) : std::nullopt;
  auto name_field = timestamp ? consume_field(rest) : std::nullopt;
  auto value_field = name_field ? consume_field(rest) : std::nullopt;
  if (!value_field) return std::nullopt;
  std::string_view signature = rest;
  std::string_view signed_part = signed_value.substr(0, signed_value.size() - signature.size());
  if (!constant_time_equal(signature, hmac_sha256_hex(secret, signed_part))) return std::nullopt;
  if (*name_field != name) return std::nullopt;
  std::int64_t ts = 0;
  auto [p, ec] = std::from_chars(timestamp->data(), timestamp->data() + timestamp->size(), ts);
  if (ec != std::errc() || p != timestamp->data() + timestamp->size()) return std::nullopt;
  if (static_cast<double>(ts) < static_cast<double>(now) - max_age_days * 86400) {
    return std::nullopt;
  }
  if (ts > now + 31 * 86400) return std::nullopt;  // from the future: refuse
  return tornado::detail::base64_decode(*value_field);
}

HTTPError::HTTPError(int status_code, std::string log_message, std::string reason)
    : std::runtime_error(fmt::format(
          "HTTP {}: {}", status_code,
          reason.empty() ? httputil::reason_phrase(status_code) : std::string_view(reason))),
      status_code(status_code),
      log_message(std::move(log_message)),
      reason(std::move(reason)) {}

MissingArgumentError::MissingArgumentError(std::string name)
    : HTTPError(400, "Missing argument " + name), arg_name(std::move(name)) {}

// ---------------------------------------------------------------------------
// Application

namespace {

// A rule's target that is a handler class rather than a delegate, as the
// handler classes in the rules of Tornado's _ApplicationRouter.
class HandlerTarget final : public http1connection::HTTPServerConnectionDelegate {
 public:
  HandlerTarget(Application& app, HandlerSpec spec) : app_(app), spec_(std::move(spec)) {}
  std::unique_ptr<http1connection::HTTPMessageDelegate> start_request(
      std::shared_ptr<http1connection::HTTP1ServerConnection> connection,
      std::shared_ptr<httputil::HTTPServerRequest> request) override {
    return app_.get_handler_delegate(connection, request, spec_);
  }
  const HandlerSpec& spec() const noexcept { return spec_; }

 private:
  Application& app_;
  HandlerSpec spec_;
};

// Tornado's _ApplicationRouter: a rule router whose handler-class targets
// the application runs with the path arguments the rule matched.
class ApplicationRouter final : public routing::ReversibleRuleRouter {
 public:
  explicit ApplicationRouter(Application& app) : app_(app) {}
  routing::MessageDelegate get_target_delegate(const routing::Target& target,
                                               const routing::Connection& connection,
                                               const routing::Request& request,
                                               routing::MatchResult& match) override {
    // Both classes are final and this runs for every request: comparing the
    // type costs a pointer comparison where dynamic_cast walked the class
    // hierarchy (a tenth of the instructions of a small request).
    auto& delegate = *target;
    const auto& type = typeid(delegate);
    if (type == typeid(HandlerTarget)) {
      const auto& handler = static_cast<const HandlerTarget&>(delegate);
      return app_.get_handler_delegate(connection, request, handler.spec(), std::move(match));
    }
    if (type == typeid(ApplicationRouter)) {
      // Router is a virtual base, so no static_cast down to it; but the
      // object is an ApplicationRouter, and dynamic_cast<void*> finds where
      // it starts from the vtable alone, without a search.
      auto* router = static_cast<ApplicationRouter*>(dynamic_cast<void*>(target.get()));
      return router->find_handler(connection, request);
    }
    return ReversibleRuleRouter::get_target_delegate(target, connection, request, match);
  }

 private:
  Application& app_;
};

// The rules of `handlers`, each checked: a valid pattern, and groups that
// fit one of its handler's verbs.
std::vector<routing::Rule> rules_of(Application& app, std::vector<URLSpec> handlers) {
  std::vector<routing::Rule> rules;
  rules.reserve(handlers.size());
  for (auto& url : handlers) {
    auto matcher = std::make_shared<routing::PathMatches>(url.pattern);
    if (url.target) {
      rules.emplace_back(std::move(matcher), std::move(url.target), std::move(url.name));
      continue;
    }
    const std::size_t groups = matcher->group_count();
    if (groups > tornado::detail::kMaxPathArgs) {
      throw std::invalid_argument(fmt::format("route '{}': more than {} groups", url.pattern,
                                              tornado::detail::kMaxPathArgs));
    }
    bool fits = url.spec.websocket && groups == 0;
    for (const auto& [verb, mask] : url.spec.verbs) {
      if (mask & (1u << groups)) fits = true;
    }
    if (!fits) {
      throw std::invalid_argument(fmt::format(
          "route '{}' captures {} group(s), but its handler has no verb taking {} path "
          "argument(s) (a verb must be public, take each path argument as std::string_view "
          "and return void or tornado::Task<>)",
          url.pattern, groups, groups));
    }
    rules.emplace_back(std::move(matcher),
                       std::make_shared<HandlerTarget>(app, std::move(url.spec)),
                       std::move(url.name));
  }
  return rules;
}

}  // namespace

struct Application::Impl {
  // As Tornado's: the constructor's routes (then, with default_host, the
  // host routes it matches), and in front of them the host routes.
  std::shared_ptr<ApplicationRouter> wildcard_router;
  std::shared_ptr<ApplicationRouter> default_router;
  HandlerSpec not_found = handler<ErrorHandler>(404);
  std::unique_ptr<template_::Loader> loader;
  std::mutex static_hashes_mutex;
  std::map<std::string, std::string, std::less<>> static_hashes;
  // With debug or autoreload: the checks of the loop the application is
  // served on, which stop when the application goes.
  std::optional<autoreload::Watcher> watcher;
  std::once_flag watcher_once;
};

Application::Application(std::vector<URLSpec> handlers, Settings settings)
    : impl_(std::make_unique<Impl>()), settings_(std::move(settings)) {
  impl_->wildcard_router = std::make_shared<ApplicationRouter>(*this);
  impl_->default_router = std::make_shared<ApplicationRouter>(*this);
  impl_->default_router->add_rules(
      {routing::Rule(std::make_shared<routing::AnyMatches>(), impl_->wildcard_router)});
  // As Tornado: debug implies these unless the application set them.
  if (settings_.debug) {
    if (!settings_.compiled_template_cache) settings_.compiled_template_cache = false;
    if (!settings_.static_hash_cache) settings_.static_hash_cache = false;
    if (!settings_.serve_traceback) settings_.serve_traceback = true;
  }
  // As Tornado: a static_path setting serves its files under
  // static_url_prefix (and /favicon.ico, /robots.txt), ahead of the
  // application's own routes.
  if (!settings_.static_path.empty()) {
    StaticHandlerClass cls = settings_.static_handler_class
                                 ? *settings_.static_handler_class
                                 : static_handler_class<StaticFileHandler>();
    std::string prefix;
    for (char c : settings_.static_url_prefix) {
      if (std::string_view("()[]{}*+?.^$|\\").find(c) != std::string_view::npos) prefix += '\\';
      prefix += c;
    }
    std::vector<URLSpec> statics;
    for (const auto& pattern :
         {prefix + "(.*)", std::string("/(favicon\\.ico)"), std::string("/(robots\\.txt)")}) {
      statics.emplace_back(pattern,
                           cls.route(settings_.static_path, settings_.static_handler_args));
    }
    handlers.insert(handlers.begin(), std::make_move_iterator(statics.begin()),
                    std::make_move_iterator(statics.end()));
  }
  add_handlers(std::move(handlers));
  // As Tornado, the checks start with the application, on the current
  // loop; where there is none yet they start on the loop it is served on
  // (listen() or its first request), so that no loop is created for them.
  if (ioloop::IOLoop::current_or_null() != nullptr) start_autoreload();
}

void Application::start_autoreload() {
  if (!settings_.autoreload.value_or(settings_.debug)) return;
  std::call_once(impl_->watcher_once, [this] { impl_->watcher.emplace(); });
}

Application::~Application() {
  stop_listening();
}

void Application::add_handlers(std::vector<URLSpec> handlers) {
  impl_->wildcard_router->add_rules(rules_of(*this, std::move(handlers)));
}

void Application::add_handlers(const std::string& host_pattern, std::vector<URLSpec> handlers) {
  auto host_router = std::make_shared<ApplicationRouter>(*this);
  host_router->add_rules(rules_of(*this, std::move(handlers)));
  // Before the last rule, the one for any host, as Tornado's.
  auto& front = *impl_->default_router;
  front.insert_rules(
      front.rules().size() - 1,
      {routing::Rule(std::make_shared<routing::HostMatches>(host_pattern), host_router)});
  if (settings_.default_host) {
    impl_->wildcard_router->add_rules({routing::Rule(
        std::make_shared<routing::DefaultHostMatches>(*settings_.default_host, host_pattern),
        host_router)});
  }
}

std::string Application::reverse_url(std::string_view name,
                                     const std::vector<std::string>& args) const {
  if (auto url = impl_->default_router->reverse_url(name, args)) return *url;
  throw std::invalid_argument(
      fmt::format("reverse_url: no route named '{}', or its pattern has no single URL", name));
}

template_::BaseLoader& Application::template_loader() {
  if (settings_.template_loader) return *settings_.template_loader;
  if (!impl_->loader) {
    template_::LoaderOptions options;
    // Without the cache Tornado recompiles every template on each render;
    // recompiling those whose files changed shows the same pages.
    options.debug = !settings_.compiled_template_cache.value_or(!settings_.debug);
    options.autoescape = settings_.autoescape.value_or("");
    options.whitespace = settings_.template_whitespace;
    options.max_value_size = settings_.template_max_value_size;
    impl_->loader = std::make_unique<template_::Loader>(settings_.template_path, options);
  }
  return *impl_->loader;
}

std::string Application::static_url(std::string_view path, bool include_version) {
  if (settings_.static_path.empty()) {
    throw std::logic_error("the static_path setting is required for static_url");
  }
  std::unique_ptr<StaticFileHandler> instance = settings_.static_handler_class
                                                    ? settings_.static_handler_class->create()
                                                    : std::make_unique<StaticFileHandler>();
  instance->application_ = this;
  return instance->make_static_url(settings_, path, include_version);
}

std::optional<std::string> Application::cached_static_version(
    const std::string& abspath, const std::function<std::optional<std::string>()>& compute) {
  std::lock_guard lock(impl_->static_hashes_mutex);
  auto it = impl_->static_hashes.find(abspath);
  if (it == impl_->static_hashes.end()) {
    std::optional<std::string> version;
    try {
      version = compute();
    } catch (const std::exception& e) {
      log::general.error("Could not open static file '{}': {}", abspath, e.what());
    }
    it = impl_->static_hashes.emplace(abspath, version.value_or("")).first;
  }
  if (it->second.empty()) return std::nullopt;
  return it->second;
}

void Application::reset_static_versions() {
  std::lock_guard lock(impl_->static_hashes_mutex);
  impl_->static_hashes.clear();
}

httpserver::HTTPServer& Application::listen(int port, std::string_view address,
                                            httpserver::HTTPServerSettings server_settings,
                                            netutil::BindOptions bind_options) {
  // The Application owns its servers and so outlives them: they serve it by
  // reference, as Tornado's HTTPServer(app).
  start_autoreload();
  auto server = std::make_unique<httpserver::HTTPServer>(*this, std::move(server_settings));
  server->listen(port, address, bind_options);
  servers_.push_back(std::move(server));
  return *servers_.back();
}

void Application::stop_listening() {
  for (auto& server : servers_) {
    server->stop();
    server->close_idle_connections();
  }
}

void Application::close_all_connections() {
  for (auto& server : servers_) server->close_all_connections();
}

void Application::log_request(RequestHandler& handler) const {
  if (settings_.log_function) {
    settings_.log_function(handler);
    return;
  }
  int status = handler.get_status();
  log::Level level = status < 400   ? log::Level::info
                     : status < 500 ? log::Level::warning
                                    : log::Level::error;
  if (!log::access.enabled(level)) return;
  const auto& request = handler.request();
  log::access.log(level, fmt::format("{} {} {} ({}) {:.2f}ms", status, request.method, request.uri,
                                     request.remote_ip, 1000.0 * request.request_time()));
}

// ---------------------------------------------------------------------------
// Running a handler

namespace detail {

// What a request's message delegate and its running handler share; the
// handler itself belongs to HandlerRunner::execute while it runs.
struct RequestState {
  RequestHandler* handler = nullptr;  // set while execute() runs
  bool closed = false;                // the connection closed first
  // For a handler that streams its body only (each Event allocates).
  struct Streaming {
    locks::Event prepared;   // prepare() is done
    locks::Event body_done;  // the whole body arrived (or never will)
  };
  std::optional<Streaming> streaming;
};

struct HandlerRunner {
  // A client that left before any answer gets none, and the access log no
  // late line for it: a long poll whose wait was cancelled in
  // on_connection_close ends here, as nothing was served.
  static bool end_if_client_gone(RequestHandler& h) {
    auto& s = h.state();
    if (!s.connection || !s.connection->closed() || h.headers_written_) return false;
    h.finished_ = true;
    s.write_buffer.clear();
    s.connection->finish();
    return true;
  }

  // 405 or the XSRF check, before prepare(). Out of line: its locals would
  // otherwise take room in execute()'s frame, which lives as long as the
  // connection for a WebSocket.
  [[gnu::noinline]] static void check_method(RequestHandler& h, const HandlerSpec& spec,
                                             std::string_view method) {
    auto verb = spec.verbs.find(method);
    unsigned arity_bit = 1u << h.state().path_args.size();
    bool supported = (verb != spec.verbs.end() && (verb->second & arity_bit)) ||
                     (spec.websocket && method == "GET");
    if (!supported) {
      std::string allow;
      for (const auto& [name, mask] : spec.verbs) {
        if (!(mask & arity_bit)) continue;
        if (!allow.empty()) allow += ", ";
        allow += name;
      }
      h.set_header("Allow", allow);
      throw HTTPError(405);
    }
    if (h.settings().xsrf_cookies && method != "GET" && method != "HEAD" && method != "OPTIONS") {
      h.check_xsrf_cookie();
    }
  }

  // As Tornado's RequestHandler._execute: 405, XSRF, prepare(), then (for
  // a streaming handler, started when the headers arrive) the body, then
  // the verb.
  static Task<> execute(std::unique_ptr<RequestHandler> handler, const HandlerSpec* spec,
                        std::shared_ptr<RequestState> state) {
    RequestHandler& h = *handler;
    state->handler = &h;
    std::string_view method = h.request().method;
    try {
      check_method(h, *spec, method);
      if (spec->prepare) {
        if (auto work = spec->prepare(h)) co_await work;
      }
      if (state->streaming) state->streaming->prepared.set();
      if (!h.finished_ && !h.detached_ && state->streaming) {
        co_await state->streaming->body_done.wait();
        if (state->closed) {
          state->handler = nullptr;
          co_return;
        }
      }
      if (!h.finished_ && !h.detached_) {
        co_await spec->invoke(h, method, h.state().path_args);
        if (!h.finished_ && !h.detached_ && !end_if_client_gone(h)) h.finish();
      }
    } catch (const Finish&) {
      if (!h.finished_) h.finish();
    } catch (const iostream::StreamClosedError&) {
      // The client went away; nothing left to answer.
    } catch (const CancelledError&) {
      // Cancelled with its client still there: an error of the server's.
      if (!h.finished_ && !h.detached_ && !end_if_client_gone(h)) {
        // Not `method`: a long-lived handler may have packed its request since.
        log::app.error("Handler for {} {} was cancelled", h.request().method, h.request().uri);
        h.send_error(500);
      }
    } catch (...) {
      h.log_exception(std::current_exception());
      if (!h.finished_ && !h.detached_) {
        try {
          throw;
        } catch (const HTTPError& e) {
          h.send_error(e.status_code, std::current_exception());
        } catch (...) {
          h.send_error(500, std::current_exception());
        }
      }
    }
    if (state->streaming) state->streaming->prepared.set();
    state->handler = nullptr;
    h.adopt_after_run(handler);  // last: the handler may be gone when it returns
  }
};

// Feeds one request's body to its handler, then runs it.
class HandlerDelegate final : public http1connection::HTTPMessageDelegate {
 public:
  HandlerDelegate(std::unique_ptr<RequestHandler> handler, const HandlerSpec* spec)
      : handler_(std::move(handler)), spec_(spec), state_(std::make_shared<RequestState>()) {
    if (spec_->streams_body) state_->streaming.emplace();
  }

  Task<> headers_received() override {
    if (!spec_->streams_body) return {};
    // As @stream_request_body: the handler starts now, and the body is read
    // once its prepare() is done.
    spawn(HandlerRunner::execute(std::move(handler_), spec_, state_));
    if (state_->streaming->prepared.is_set()) return {};
    return wait_prepared(state_);
  }

  Task<> data_received(std::string_view chunk) override {
    if (!spec_->streams_body) {
      handler_->request().body.append(chunk);
      return {};
    }
    RequestHandler* h = state_->handler;
    if (!h || h->finished()) return {};  // answered early: the rest is dropped
    return spec_->data_received(*h, chunk);
  }

  void finish() override {
    if (spec_->streams_body) {
      state_->streaming->body_done.set();
      return;
    }
    auto& request = handler_->request();
    try {
      request.parse_body();
    } catch (const httputil::HTTPInputError& e) {
      log::general.warning("Invalid body from {}: {}", request.remote_ip, e.what());
      handler_->send_error(400);
      return;
    }
    spawn(HandlerRunner::execute(std::move(handler_), spec_, state_));
  }

  void on_connection_close() override {
    state_->closed = true;
    if (RequestHandler* h = state_->handler) {
      h->on_connection_close();
    } else if (handler_) {
      handler_->on_connection_close();
    }
    if (state_->streaming) state_->streaming->body_done.set();
  }

 private:
  static Task<> wait_prepared(std::shared_ptr<RequestState> state) {
    co_await state->streaming->prepared.wait();
  }

  std::unique_ptr<RequestHandler> handler_;  // until execute() takes it
  const HandlerSpec* spec_;
  std::shared_ptr<RequestState> state_;
};

}  // namespace detail

std::unique_ptr<http1connection::HTTPMessageDelegate> Application::start_request(
    std::shared_ptr<http1connection::HTTP1ServerConnection> connection,
    std::shared_ptr<httputil::HTTPServerRequest> request) {
  return find_handler(connection, request);
}

routing::MessageDelegate Application::find_handler(const routing::Connection& connection,
                                                   const routing::Request& request) {
  start_autoreload();
  if (auto delegate = impl_->default_router->find_handler(connection, request)) return delegate;
  return get_handler_delegate(
      connection, request,
      settings_.default_handler_class ? *settings_.default_handler_class : impl_->not_found);
}

routing::MessageDelegate Application::get_handler_delegate(const routing::Connection& connection,
                                                           const routing::Request& request,
                                                           const HandlerSpec& spec,
                                                           routing::MatchResult match) {
  if (!settings_.static_hash_cache.value_or(true)) reset_static_versions();
  auto handler = spec.factory([&](RequestHandler& h) {
    h.application_ = this;
    h.request_ = request;
    auto& s = h.state();
    s.connection = connection;
    s.path_args = std::move(match.path_args);
    s.path_kwargs = std::move(match.path_kwargs);
    h.set_default_headers();
  });
  return std::make_unique<detail::HandlerDelegate>(std::move(handler), &spec);
}

// ---------------------------------------------------------------------------
// FallbackHandler

Task<> FallbackHandler::prepare() {
  // A request of its own: the fallback reads the body and its arguments
  // afresh, as from the connection.
  const auto& original = request();
  auto copy = std::make_shared<httputil::HTTPServerRequest>(
      original.method, original.uri, original.version, original.headers, std::string(),
      original.remote_ip, original.protocol);
  copy->start_time = original.start_time;
  std::string body = original.body;
  delegate_ = fallback_->start_request(connection(), copy);
  mark_detached();
  // A delegate with nothing to wait for returns an empty Task.
  if (auto work = delegate_->headers_received()) co_await work;
  if (!body.empty()) {
    if (auto work = delegate_->data_received(body)) co_await work;
  }
  delegate_->finish();
}

void FallbackHandler::on_connection_close() {
  if (delegate_) delegate_->on_connection_close();
}

// ---------------------------------------------------------------------------
// RequestHandler

RequestHandler::RequestHandler() {
  reset_response();
}

// ---------------------------------------------------------------------------
// A request packed into one string while a long-lived connection idles

namespace {

// Lengths and counts as LEB128 varints (one byte below 128). Fields the
// request's constructor derives from others (path and query from the URI,
// host from the Host header) are left out when they still equal what it
// would derive, and re-derived when unpacked.
void pack_size(std::string& out, std::size_t n) {
  while (n >= 0x80) {
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
    n >>= 7;
  }
  out.push_back(static_cast<char>(n));
}
void pack_text(std::string& out, std::string_view text) {
  pack_size(out, text.size());
  out.append(text);
}
void pack_arguments(std::string& out, const httputil::Arguments& arguments) {
  pack_size(out, arguments.size());
  for (const auto& [name, values] : arguments) {
    pack_text(out, name);
    pack_size(out, values.size());
    for (const auto& value : values) pack_text(out, value);
  }
}

constexpr unsigned char kDerivedPathQuery = 1;
constexpr unsigned char kDerivedHost = 2;
constexpr unsigned char kDerivedHostName = 4;

// What a WebSocket handshake from a browser carries most: header names as
// HTTPHeaders spells them (normalised), their usual values, the method,
// version and protocol. Each is packed as its index, a byte instead of up
// to 25. A packed text is one varint: below the table's size an index, else
// the length of the literal bytes that follow plus the table's size.
constexpr std::array<std::string_view, 31> kCommonTexts = {
    "GET",
    "HTTP/1.1",
    "http",
    "https",
    "Host",
    "Connection",
    "Upgrade",
    "websocket",
    "Sec-Websocket-Key",
    "Sec-Websocket-Version",
    "13",
    "Sec-Websocket-Extensions",
    "permessage-deflate; client_max_window_bits",
    "Sec-Websocket-Protocol",
    "Origin",
    "User-Agent",
    "Accept",
    "Accept-Encoding",
    "gzip, deflate",
    "gzip, deflate, br",
    "Accept-Language",
    "Cookie",
    "Cache-Control",
    "Pragma",
    "no-cache",
    "X-Forwarded-For",
    "X-Real-Ip",
    "X-Forwarded-Proto",
    "keep-alive",
    "HTTP/1.0",
    "POST"};

void pack_known(std::string& out, std::string_view text) {
  auto known = std::find(kCommonTexts.begin(), kCommonTexts.end(), text);
  if (known != kCommonTexts.end()) {
    pack_size(out, static_cast<std::size_t>(known - kCommonTexts.begin()));
    return;
  }
  pack_size(out, kCommonTexts.size() + text.size());
  out.append(text);
}

struct Unpacker {
  std::string_view in;
  std::size_t size() {
    std::size_t n = 0;
    for (int shift = 0;; shift += 7) {
      auto byte = static_cast<unsigned char>(in.front());
      in.remove_prefix(1);
      n |= static_cast<std::size_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return n;
    }
  }
  std::string take(std::size_t n) {
    std::string t(in.substr(0, n));
    in.remove_prefix(n);
    return t;
  }
  std::string text() { return take(size()); }
  std::string known() {
    std::size_t tag = size();
    if (tag < kCommonTexts.size()) return std::string(kCommonTexts[tag]);
    return take(tag - kCommonTexts.size());
  }
  httputil::Arguments arguments() {
    httputil::Arguments out;
    for (std::size_t i = size(); i > 0; --i) {
      auto& values = out[text()];
      std::size_t count = size();
      values.reserve(count);
      for (; count > 0; --count) values.push_back(text());
    }
    return out;
  }
};

std::string_view uri_path(std::string_view uri) {
  return uri.substr(0, uri.find('?'));
}
std::string_view uri_query(std::string_view uri) {
  auto question = uri.find('?');
  return question == std::string_view::npos ? std::string_view() : uri.substr(question + 1);
}
std::string header_host(const httputil::HTTPHeaders& headers) {
  std::string host = headers.get_joined("Host");
  if (host.empty()) host = "127.0.0.1";
  return host;
}
std::string host_name_of(std::string_view host) {
  return std::string(httputil::split_host_and_port(tornado::detail::ascii_lower(host)).first);
}

}  // namespace

const detail::HandlerState& RequestHandler::empty_state() noexcept {
  static const detail::HandlerState empty;
  return empty;
}

detail::HandlerState& RequestHandler::make_state() const {
  state_ = std::make_unique<detail::HandlerState>();
  return *state_;
}

void RequestHandler::release_state_if_unused() noexcept {
  if (!state_) return;
  const detail::HandlerState& s = *state_;
  if (s.connection || !s.path_args.empty() || !s.path_kwargs.empty() || s.locale ||
      s.current_user || s.xsrf_token || !s.active_modules.empty() || !s.headers.empty() ||
      !s.write_buffer.empty()) {
    return;
  }
  state_.reset();
}

void RequestHandler::pack_request() {
  if (state_) state_->connection.reset();
  release_state_if_unused();
  // Shared with someone else, or holding files: left as it is.
  if (!request_ || request_.use_count() != 1 || !request_->files.empty()) return;
  const auto& r = *request_;
  unsigned char derived = 0;
  if (r.path == uri_path(r.uri) && r.query == uri_query(r.uri)) derived |= kDerivedPathQuery;
  if (r.host == header_host(r.headers)) derived |= kDerivedHost;
  if (r.host_name == host_name_of(r.host)) derived |= kDerivedHostName;
  std::string out;
  std::size_t size = 32 + r.method.size() + r.uri.size() + r.version.size() + r.body.size() +
                     r.remote_ip.size() + r.protocol.size() + r.host.size() + r.host_name.size() +
                     r.path.size() + r.query.size();
  for (const auto& [name, value] : r.headers) size += 4 + name.size() + value.size();
  out.reserve(size);
  out.push_back(static_cast<char>(derived));
  for (const std::string* field :
       {&r.method, &r.uri, &r.version, &r.body, &r.remote_ip, &r.protocol}) {
    pack_known(out, *field);
  }
  if (!(derived & kDerivedHostName)) pack_text(out, r.host_name);
  if (!(derived & kDerivedPathQuery)) {
    pack_text(out, r.path);
    pack_text(out, r.query);
  }
  if (!(derived & kDerivedHost)) pack_text(out, r.host);
  pack_size(out, r.headers.size());
  for (const auto& [name, value] : r.headers) {
    pack_known(out, name);
    pack_known(out, value);
  }
  pack_arguments(out, r.arguments);
  pack_arguments(out, r.query_arguments);
  pack_arguments(out, r.body_arguments);
  auto start = r.start_time.time_since_epoch().count();
  out.append(reinterpret_cast<const char*>(&start), sizeof start);
  // One block of its exact size, its length in front: 24 bytes less in every
  // handler than a std::string, and no spare capacity.
  auto length = static_cast<std::uint32_t>(out.size());
  packed_request_ = std::make_unique_for_overwrite<char[]>(sizeof length + out.size());
  std::memcpy(packed_request_.get(), &length, sizeof length);
  std::memcpy(packed_request_.get() + sizeof length, out.data(), out.size());
  request_.reset();
}

void RequestHandler::unpack_request() const {
  if (!packed_request_) throw std::logic_error("RequestHandler has no request");
  std::uint32_t length = 0;
  std::memcpy(&length, packed_request_.get(), sizeof length);
  Unpacker in{std::string_view(packed_request_.get() + sizeof length, length)};
  auto derived = static_cast<unsigned char>(in.in.front());
  in.in.remove_prefix(1);
  auto r = std::make_shared<httputil::HTTPServerRequest>(std::string(), std::string());
  for (std::string* field :
       {&r->method, &r->uri, &r->version, &r->body, &r->remote_ip, &r->protocol}) {
    *field = in.known();
  }
  std::string host_name;
  if (!(derived & kDerivedHostName)) host_name = in.text();
  if (derived & kDerivedPathQuery) {
    r->path = uri_path(r->uri);
    r->query = uri_query(r->uri);
  } else {
    r->path = in.text();
    r->query = in.text();
  }
  std::string host;
  if (!(derived & kDerivedHost)) host = in.text();
  for (std::size_t i = in.size(); i > 0; --i) {
    std::string name = in.known();
    r->headers.add_owned(std::move(name), in.known());
  }
  r->host = derived & kDerivedHost ? header_host(r->headers) : std::move(host);
  r->host_name = derived & kDerivedHostName ? host_name_of(r->host) : std::move(host_name);
  r->arguments = in.arguments();
  r->query_arguments = in.arguments();
  r->body_arguments = in.arguments();
  std::chrono::steady_clock::duration::rep start;
  std::memcpy(&start, in.in.data(), sizeof start);
  r->start_time = std::chrono::steady_clock::time_point(std::chrono::steady_clock::duration(start));
  request_ = std::move(r);
  packed_request_.reset();
}
RequestHandler::~RequestHandler() = default;

const Settings& RequestHandler::settings() const {
  return application_->settings();
}

const nlohmann::json& Settings::operator[](const std::string& key) const {
  static const nlohmann::json null_value;
  auto it = values.find(key);
  return it == values.end() ? null_value : *it;
}

void RequestHandler::clear() {
  reset_response();
  set_default_headers();
}

void RequestHandler::reset_response() {
  detail::HandlerState& s = state();
  s.headers.clear();
  s.headers.set("Server", "TornadoServer/6.4 (tornado-cpp)");
  s.headers.set("Content-Type", "text/html; charset=UTF-8");
  s.headers.set("Date", httputil::format_timestamp(std::chrono::system_clock::now()));
  s.write_buffer.clear();
  status_code_ = 200;
  s.reason.clear();
}

void RequestHandler::set_status(int status_code, std::string_view reason) {
  if (!httputil::is_valid_header_value(reason)) {
    throw std::invalid_argument(
        "unsafe reason phrase (a control byte would split the status line)");
  }
  status_code_ = status_code;
  state().reason = std::string(reason);
}

void RequestHandler::set_header(std::string_view name, std::string_view value) {
  if (!httputil::is_valid_header_value(value) || !httputil::is_valid_header_name(name)) {
    throw std::invalid_argument(fmt::format("unsafe header {:?}", name.substr(0, 64)));
  }
  state().headers.set(name, value);
}

void RequestHandler::set_header(std::string_view name, long long value) {
  set_header(name, std::to_string(value));
}

void RequestHandler::add_header(std::string_view name, std::string_view value) {
  if (!httputil::is_valid_header_value(value) || !httputil::is_valid_header_name(name)) {
    throw std::invalid_argument(fmt::format("unsafe header {:?}", name.substr(0, 64)));
  }
  state().headers.add(name, value);
}

void RequestHandler::clear_header(std::string_view name) {
  state().headers.remove(name);
}

void RequestHandler::write(std::string_view chunk) {
  if (finished_) throw std::logic_error("Cannot write() after finish()");
  state().write_buffer.append(chunk);
}

void RequestHandler::write(const nlohmann::json& value) {
  if (value.is_string()) {
    write(value.get_ref<const std::string&>());
    return;
  }
  write(escape::json_encode(value));
  set_header("Content-Type", "application/json; charset=UTF-8");
}

iostream::IOStream::WriteAwaitable RequestHandler::send_headers_and(std::string_view chunk,
                                                                    bool finishing) {
  detail::HandlerState& s = state();
  std::string_view reason =
      s.reason.empty() ? httputil::reason_phrase(status_code_) : std::string_view(s.reason);
  headers_written_ = true;
  return s.connection->write_headers(status_code_, reason, s.headers, chunk, finishing);
}

iostream::IOStream::WriteAwaitable RequestHandler::flush() {
  detail::HandlerState& s = state();
  if (!s.connection || s.connection->closed()) throw iostream::StreamClosedError();
  std::string chunk = std::move(s.write_buffer);
  s.write_buffer.clear();
  if (!headers_written_) return send_headers_and(chunk, false);
  return s.connection->write(chunk);
}

bool RequestHandler::check_etag_header(std::string_view etag) const {
  std::string_view header = request().headers.get("If-None-Match");
  if (header.empty() || etag.empty()) return false;
  auto normalize = [](std::string_view tag) {
    tag = strip(tag);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    return tag;
  };
  if (strip(header) == "*") return true;
  std::string_view target = normalize(etag);
  while (!header.empty()) {
    auto comma = header.find(',');
    if (normalize(header.substr(0, comma)) == target) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

std::optional<std::string> RequestHandler::compute_etag() {
  return "\"" + digest_hex(EVP_sha1(), state().write_buffer) + "\"";
}

void RequestHandler::finish(std::string_view chunk) {
  if (finished_) throw std::logic_error("finish() called twice");
  if (!chunk.empty()) write(chunk);
  detail::HandlerState& s = state();
  if (!s.connection) {
    finished_ = true;
    return;
  }
  if (!headers_written_) {
    const auto& method = request().method;
    if (status_code_ == 200 && (method == "GET" || method == "HEAD") &&
        !s.headers.contains("Etag")) {
      if (auto etag = compute_etag()) {
        set_header("Etag", *etag);
        if (check_etag_header(*etag)) {
          s.write_buffer.clear();
          status_code_ = 304;
        }
      }
    }
    if (status_code_ == 204 || status_code_ == 304 || (status_code_ >= 100 && status_code_ < 200)) {
      s.write_buffer.clear();
      s.headers.remove("Content-Type");
    } else if (settings().compress_response && s.write_buffer.size() >= 1024 &&
               request().headers.get("Accept-Encoding").find("gzip") != std::string_view::npos &&
               !s.headers.contains("Content-Encoding")) {
      std::string_view type = s.headers.get("Content-Type");
      if (type.starts_with("text/") || type.find("json") != std::string_view::npos ||
          type.find("javascript") != std::string_view::npos ||
          type.find("xml") != std::string_view::npos) {
        if (auto gzipped = tornado::detail::zlib::gzip_compress(s.write_buffer)) {
          s.write_buffer = std::move(*gzipped);
          set_header("Content-Encoding", "gzip");
        }
        add_header("Vary", "Accept-Encoding");
      }
    }
    if (!s.connection->closed()) (void)send_headers_and(s.write_buffer, true);
  } else if (!s.write_buffer.empty() && !s.connection->closed()) {
    (void)s.connection->write(s.write_buffer);
  }
  s.write_buffer.clear();
  finished_ = true;
  s.connection->finish();
  application_->log_request(*this);
  on_finish();
}

void RequestHandler::redirect(std::string_view url, bool permanent, std::optional<int> status) {
  if (headers_written_) throw std::logic_error("Cannot redirect after headers have been written");
  if (status && (*status < 300 || *status > 399)) {
    throw std::invalid_argument(fmt::format("redirect: status {} is not a 3xx", *status));
  }
  set_status(status.value_or(permanent ? 301 : 302));
  set_header("Location", url);
  finish();
}

template_::Namespace RequestHandler::get_template_namespace() {
  using template_::Arguments;
  using template_::Value;
  template_::Namespace ns;
  ns.set("handler", tornado::detail::handler_object(*this));
  ns.set("request", tornado::detail::request_object(*this));
  const auto& user = current_user();
  ns.set("current_user", user ? Value(*user) : Value());
  // `_` and `pgettext` go through the locale, so a real one translates.
  const Value locale = get_template_locale();
  ns.set("locale", locale);
  for (const char* method : {"translate", "pgettext"}) {
    ns.set(std::string_view(method) == "translate" ? "_" : "pgettext",
           template_::make_callable(method, [locale, method](const Arguments& args) {
             return *locale.object()->call_method(method, args);
           }));
  }
  ns.set("static_url", template_::make_callable("static_url", [this](const Arguments& args) {
           return *tornado::detail::handler_object(*this).object()->call_method("static_url", args);
         }));
  ns.set("xsrf_form_html", template_::make_callable("xsrf_form_html", [this](const Arguments&) {
           return Value(xsrf_form_html());
         }));
  ns.set("reverse_url", template_::make_callable("reverse_url", [this](const Arguments& args) {
           return *tornado::detail::handler_object(*this).object()->call_method("reverse_url",
                                                                                args);
         }));
  // Tornado's self.ui: the ui_methods bound to this handler, and the modules.
  for (const auto& entry : settings().ui_methods) {
    const UIMethod* method = &entry.second;
    ns.set(entry.first,
           template_::make_callable(entry.first, [this, method](const Arguments& args) {
             return (*method)(*this, args);
           }));
  }
  const Value modules = tornado::detail::modules_object(*this);
  ns.set("_tt_modules", modules);
  ns.set("modules", modules);
  return ns;
}

template_::Value RequestHandler::get_template_locale() {
  locale();
  return tornado::detail::locale_object(state().locale);
}

std::string RequestHandler::render_string(std::string_view name, template_::Namespace values) {
  template_::BaseLoader& loader = application_->template_loader();
  if (settings().template_loader && settings().compiled_template_cache == false) loader.reset();
  template_::Namespace ns;
  if (settings().template_globals.is_object() && !settings().template_globals.empty()) {
    ns = template_::Namespace(settings().template_globals);
  }
  ns.update(get_template_namespace());
  ns.update(values);
  try {
    auto tmpl = loader.load(name);
    if (settings().autoreload.value_or(settings().debug)) {
      if (auto* files = dynamic_cast<template_::Loader*>(&loader)) {
        for (const auto& file : files->loaded_files()) autoreload::watch(file);
      }
    }
    return tmpl->generate(ns);
  } catch (const template_::TemplateError& e) {
    // handler.get_argument('x') in a template answers 400 as in a verb, as
    // Tornado's HTTPErrors cross its templates.
    if (e.cause()) {
      try {
        std::rethrow_exception(e.cause());
      } catch (const HTTPError&) {
        throw;
      } catch (...) {
      }
    }
    throw;
  }
}

bool RequestHandler::has_ui_module(std::string_view name) const {
  return settings().ui_modules.contains(name) || name == "linkify" || name == "xsrf_form_html" ||
         name == "Template";
}

std::string RequestHandler::render_ui_module(std::string_view name,
                                             const template_::Arguments& args) {
  UIModule* module = nullptr;
  for (auto& [n, m] : state().active_modules) {
    if (n == name) module = m.get();
  }
  if (!module) {
    std::unique_ptr<UIModule> created;
    if (const auto it = settings().ui_modules.find(name); it != settings().ui_modules.end()) {
      created = it->second(*this);
    } else {
      created = tornado::detail::builtin_ui_module(name, *this);
    }
    if (!created) {
      throw template_::TemplateError({}, 0, fmt::format("no UI module named '{}'", name), {},
                                     "AttributeError");
    }
    module = created.get();
    state().active_modules.emplace_back(std::string(name), std::move(created));
  }
  template_::Arguments named = args;
  named.function = name;
  return module->render(named);
}

namespace {

bool is_absolute_url(std::string_view path) {
  return path.starts_with("/") || path.starts_with("http:") || path.starts_with("https:");
}

// The URLs of `files` (local ones through static_url), each once, in order.
std::vector<std::string> unique_static_urls(RequestHandler& handler,
                                            const std::vector<std::string>& files) {
  std::vector<std::string> paths;
  for (const std::string& file : files) {
    std::string path = is_absolute_url(file) ? file : handler.static_url(file);
    if (std::find(paths.begin(), paths.end(), path) == paths.end()) paths.push_back(path);
  }
  return paths;
}

// Inserts `part` and a newline before the last (`last`) or first `tag`.
void insert_before(std::string& html, std::string_view tag, bool last, const std::string& part) {
  const std::size_t at = last ? html.rfind(tag) : html.find(tag);
  if (at == std::string::npos) {
    throw std::runtime_error(fmt::format(
        "render(): the page has no {} to place its UI modules' JavaScript and CSS before", tag));
  }
  html.insert(at, part + "\n");
}

}  // namespace

std::string RequestHandler::render_linked_js(const std::vector<std::string>& js_files) {
  std::string out;
  for (const auto& p : unique_static_urls(*this, js_files)) {
    out += "<script src=\"" + escape::xhtml_escape(p) + "\" type=\"text/javascript\"></script>";
  }
  return out;
}

std::string RequestHandler::render_embed_js(const std::vector<std::string>& js_embed) {
  std::string out = "<script type=\"text/javascript\">\n//<![CDATA[\n";
  for (std::size_t i = 0; i < js_embed.size(); ++i) out += (i ? "\n" : "") + js_embed[i];
  return out + "\n//]]>\n</script>";
}

std::string RequestHandler::render_linked_css(const std::vector<std::string>& css_files) {
  std::string out;
  for (const auto& p : unique_static_urls(*this, css_files)) {
    out += "<link href=\"" + escape::xhtml_escape(p) + "\" type=\"text/css\" rel=\"stylesheet\"/>";
  }
  return out;
}

std::string RequestHandler::render_embed_css(const std::vector<std::string>& css_embed) {
  std::string out = "<style type=\"text/css\">\n";
  for (std::size_t i = 0; i < css_embed.size(); ++i) out += (i ? "\n" : "") + css_embed[i];
  return out + "\n</style>";
}

void RequestHandler::render(std::string_view name, template_::Namespace values) {
  if (finished_) throw std::logic_error("Cannot render() after finish()");
  std::string html = render_string(name, std::move(values));
  // The JavaScript and CSS of the UI modules the page used, placed as Tornado does.
  std::vector<std::string> js_embed, js_files, css_embed, css_files;
  std::string heads, bodies;
  for (auto& [module_name, module] : state().active_modules) {
    if (auto part = module->embedded_javascript(); !part.empty()) js_embed.push_back(part);
    for (auto& file : module->javascript_files()) js_files.push_back(std::move(file));
    if (auto part = module->embedded_css(); !part.empty()) css_embed.push_back(part);
    for (auto& file : module->css_files()) css_files.push_back(std::move(file));
    heads += module->html_head();
    bodies += module->html_body();
  }
  if (!js_files.empty()) insert_before(html, "</body>", true, render_linked_js(js_files));
  if (!js_embed.empty()) insert_before(html, "</body>", true, render_embed_js(js_embed));
  if (!css_files.empty()) insert_before(html, "</head>", false, render_linked_css(css_files));
  if (!css_embed.empty()) insert_before(html, "</head>", false, render_embed_css(css_embed));
  if (!heads.empty()) insert_before(html, "</head>", false, heads);
  if (!bodies.empty()) insert_before(html, "</body>", false, bodies);
  finish(html);
}

UIModule::~UIModule() = default;

void RequestHandler::log_exception(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const HTTPError& e) {
    if (!e.log_message.empty()) {
      // Tornado's form: "<status> <method> <uri> (<ip>): <message>".
      log::general.warning("{} {} {} ({}): {}", e.status_code, request().method, request().uri,
                           request().remote_ip, e.log_message);
    }
  } catch (const std::exception& e) {
    log::app.error("Uncaught exception {} {} ({}): {}", request().method, request().uri,
                   request().remote_ip, e.what());
  } catch (...) {
    log::app.error("Uncaught exception {} {} ({})", request().method, request().uri,
                   request().remote_ip);
  }
}

void RequestHandler::send_error(int status_code, std::exception_ptr error,
                                std::string_view reason_phrase) {
  if (headers_written_) {
    log::general.error("Cannot send error response after headers written");
    if (!finished_) {
      finished_ = true;
      if (state().connection) state().connection->close();
    }
    return;
  }
  // A 405 keeps the Allow header the dispatcher computed.
  std::string allow(state().headers.get("Allow"));
  clear();
  if (status_code == 405 && !allow.empty()) state().headers.set("Allow", allow);
  std::string reason(reason_phrase);
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const HTTPError& e) {
      if (!e.reason.empty()) reason = e.reason;
    } catch (...) {
    }
  }
  set_status(status_code, reason);
  try {
    write_error(status_code, error);
  } catch (const std::exception& e) {
    log::app.error("Uncaught exception in write_error: {}", e.what());
  }
  if (!finished_) finish();
}

namespace {

// The type as the source spells it ("std::runtime_error"), not its mangled
// name: the serve_traceback page's counterpart of Tornado's "ValueError".
std::string readable_type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), &std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(type.name());
}

}  // namespace

void RequestHandler::write_error(int status_code, std::exception_ptr error) {
  std::string reason =
      state().reason.empty() ? std::string(httputil::reason_phrase(status_code)) : state().reason;
  if (error && settings().serve_traceback.value_or(false)) {
    set_header("Content-Type", "text/plain; charset=UTF-8");
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      write(fmt::format("{}: {}\n", readable_type_name(typeid(e)), e.what()));
    } catch (...) {
      write("unknown exception\n");
    }
    finish();
    return;
  }
  finish(fmt::format("<html><title>{0}: {1}</title><body>{0}: {1}</body></html>", status_code,
                     escape::xhtml_escape(reason)));
}

std::string RequestHandler::get_login_url() {
  if (settings().login_url.empty()) {
    throw std::logic_error("the login_url setting is required for authenticated()");
  }
  return settings().login_url;
}

// ---- arguments ----

std::vector<std::string> RequestHandler::arguments_from(const httputil::Arguments& args,
                                                        std::string_view name,
                                                        bool do_strip) const {
  std::vector<std::string> values;
  auto it = args.find(name);
  if (it == args.end()) return values;
  for (const auto& v : it->second) {
    if (!tornado::detail::is_valid_utf8(v)) {
      throw HTTPError(
          400, fmt::format("Invalid unicode in {}: {:?}", name, std::string_view(v).substr(0, 40)));
    }
    // As Tornado: control characters become spaces (bytes below 0x20 never
    // occur inside a multi-byte UTF-8 sequence, so bytewise is enough).
    std::string value = v;
    for (char& c : value) {
      if ((c >= '\x00' && c <= '\x08') || (c >= '\x0e' && c <= '\x1f')) c = ' ';
    }
    if (do_strip) value = std::string(tornado::detail::python_strip(value));
    values.push_back(std::move(value));
  }
  return values;
}

namespace {

// The last value of a list of arguments, as Tornado's get_argument returns.
std::optional<std::string> last_value(std::vector<std::string> values) {
  if (values.empty()) return std::nullopt;
  return std::move(values.back());
}

std::string required_argument(std::optional<std::string> value, std::string_view name) {
  if (!value) throw MissingArgumentError(std::string(name));
  return *std::move(value);
}

}  // namespace

std::optional<std::string> RequestHandler::get_argument(std::string_view name, std::nullopt_t,
                                                        bool do_strip) const {
  return last_value(arguments_from(request().arguments, name, do_strip));
}
std::string RequestHandler::get_argument(std::string_view name, bool do_strip) const {
  return required_argument(get_argument(name, std::nullopt, do_strip), name);
}
std::string RequestHandler::get_argument(std::string_view name, std::string_view default_value,
                                         bool do_strip) const {
  return get_argument(name, std::nullopt, do_strip).value_or(std::string(default_value));
}
std::vector<std::string> RequestHandler::get_arguments(std::string_view name, bool do_strip) const {
  return arguments_from(request().arguments, name, do_strip);
}

std::optional<std::string> RequestHandler::get_query_argument(std::string_view name, std::nullopt_t,
                                                              bool do_strip) const {
  return last_value(arguments_from(request().query_arguments, name, do_strip));
}
std::string RequestHandler::get_query_argument(std::string_view name, bool do_strip) const {
  return required_argument(get_query_argument(name, std::nullopt, do_strip), name);
}
std::string RequestHandler::get_query_argument(std::string_view name,
                                               std::string_view default_value,
                                               bool do_strip) const {
  return get_query_argument(name, std::nullopt, do_strip).value_or(std::string(default_value));
}
std::vector<std::string> RequestHandler::get_query_arguments(std::string_view name,
                                                             bool do_strip) const {
  return arguments_from(request().query_arguments, name, do_strip);
}

std::optional<std::string> RequestHandler::get_body_argument(std::string_view name, std::nullopt_t,
                                                             bool do_strip) const {
  return last_value(arguments_from(request().body_arguments, name, do_strip));
}
std::string RequestHandler::get_body_argument(std::string_view name, bool do_strip) const {
  return required_argument(get_body_argument(name, std::nullopt, do_strip), name);
}
std::string RequestHandler::get_body_argument(std::string_view name, std::string_view default_value,
                                              bool do_strip) const {
  return get_body_argument(name, std::nullopt, do_strip).value_or(std::string(default_value));
}
std::vector<std::string> RequestHandler::get_body_arguments(std::string_view name,
                                                            bool do_strip) const {
  return arguments_from(request().body_arguments, name, do_strip);
}

// ---- cookies ----

std::optional<std::string> RequestHandler::get_cookie(std::string_view name) const {
  const auto& cookies = request().cookies();
  auto it = cookies.find(name);
  if (it == cookies.end()) return std::nullopt;
  return it->second;
}

void RequestHandler::set_cookie(std::string_view name, std::string_view value,
                                CookieOptions options) {
  auto unsafe = [](std::string_view s) {
    return s.find_first_of(std::string_view(";\r\n\0", 4)) != std::string_view::npos;
  };
  if (unsafe(name) || unsafe(value) || name.empty()) {
    throw std::invalid_argument(fmt::format("invalid cookie {:?}", name.substr(0, 64)));
  }
  std::string cookie = fmt::format("{}={}", name, value);
  if (!options.domain.empty()) cookie += "; Domain=" + options.domain;
  if (options.expires_days && !options.expires) {
    options.expires = std::chrono::system_clock::now() +
                      std::chrono::duration_cast<std::chrono::system_clock::duration>(
                          std::chrono::duration<double>(*options.expires_days * 86400));
  }
  if (options.expires) cookie += "; expires=" + httputil::format_timestamp(*options.expires);
  if (!options.path.empty()) cookie += "; Path=" + options.path;
  if (options.max_age) cookie += fmt::format("; Max-Age={}", *options.max_age);
  if (options.secure) cookie += "; Secure";
  if (options.httponly) cookie += "; HttpOnly";
  if (!options.samesite.empty()) cookie += "; SameSite=" + options.samesite;
  add_header("Set-Cookie", cookie);
}

void RequestHandler::clear_cookie(std::string_view name, std::string_view path,
                                  std::string_view domain) {
  CookieOptions options;
  options.path = std::string(path);
  options.domain = std::string(domain);
  options.expires = std::chrono::system_clock::now() - std::chrono::hours(24 * 365);
  options.max_age = 0;
  set_cookie(name, "", options);
}

void RequestHandler::clear_all_cookies(std::string_view path, std::string_view domain) {
  for (const auto& [name, value] : request().cookies()) clear_cookie(name, path, domain);
}

void RequestHandler::set_signed_cookie(std::string_view name, std::string_view value,
                                       double expires_days, CookieOptions options) {
  if (settings().cookie_secret.empty()) {
    throw std::logic_error("the cookie_secret setting is required for signed cookies");
  }
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  options.expires_days = expires_days;
  set_cookie(name, create_signed_value(settings().cookie_secret, name, value, now), options);
}

std::optional<std::string> RequestHandler::get_signed_cookie(std::string_view name,
                                                             double max_age_days) const {
  if (settings().cookie_secret.empty()) {
    throw std::logic_error("the cookie_secret setting is required for signed cookies");
  }
  auto value = get_cookie(name);
  if (!value) return std::nullopt;
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return decode_signed_value(settings().cookie_secret, name, *value, max_age_days, now);
}

// ---- XSRF ----
// Token cookie "2|<mask hex>|<masked token hex>|<timestamp>": the mask
// changes on every page so the token never repeats in a compressed response
// (BREACH), as Tornado's version 2 tokens.

namespace {
std::optional<std::string> decode_xsrf(std::string_view cookie) {
  if (!cookie.starts_with("2|")) return std::nullopt;
  cookie.remove_prefix(2);
  auto bar = cookie.find('|');
  if (bar == std::string_view::npos) return std::nullopt;
  std::string_view mask_hex = cookie.substr(0, bar);
  std::string_view rest = cookie.substr(bar + 1);
  bar = rest.find('|');
  std::string_view masked_hex = rest.substr(0, bar);
  if (mask_hex.size() != 8 || masked_hex.size() % 2 != 0 || masked_hex.empty()) return std::nullopt;
  auto mask = hex_decode(mask_hex);
  auto masked = hex_decode(masked_hex);
  if (!mask || !masked) return std::nullopt;
  for (std::size_t i = 0; i < masked->size(); ++i) (*masked)[i] ^= (*mask)[i % 4];
  return masked;
}

std::string encode_xsrf(std::string_view token) {
  const std::string mask = tornado::detail::random_bytes(4);
  std::string masked(token);
  for (std::size_t i = 0; i < masked.size(); ++i) masked[i] ^= mask[i % 4];
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return fmt::format("2|{}|{}|{}", hex_encode(mask), hex_encode(masked), now);
}
}  // namespace

std::string RequestHandler::xsrf_token() {
  if (state().xsrf_token) return *state().xsrf_token;
  std::optional<std::string> token;
  if (auto cookie = get_cookie("_xsrf")) token = decode_xsrf(*cookie);
  if (!token) {
    token = tornado::detail::random_bytes(16);
    CookieOptions options;
    options.samesite = "Lax";
    set_cookie("_xsrf", encode_xsrf(*token), options);
  }
  state().xsrf_token = encode_xsrf(*token);
  return *state().xsrf_token;
}

std::string RequestHandler::xsrf_form_html() {
  return "<input type=\"hidden\" name=\"_xsrf\" value=\"" + escape::xhtml_escape(xsrf_token()) +
         "\"/>";
}

void RequestHandler::check_xsrf_cookie() {
  std::string sent = get_argument("_xsrf", "");
  if (sent.empty()) sent = std::string(request().headers.get("X-Xsrftoken"));
  if (sent.empty()) sent = std::string(request().headers.get("X-Csrftoken"));
  if (sent.empty()) throw HTTPError(403, "'_xsrf' argument missing from POST");
  auto cookie = get_cookie("_xsrf");
  auto expected = cookie ? decode_xsrf(*cookie) : std::nullopt;
  auto given = decode_xsrf(sent);
  if (!expected || !given) throw HTTPError(403, "'_xsrf' argument has invalid format");
  if (!constant_time_equal(*expected, *given)) {
    throw HTTPError(403, "XSRF cookie does not match POST argument");
  }
}

const std::optional<nlohmann::json>& RequestHandler::current_user() {
  if (!state().current_user) state().current_user = get_current_user();
  return *state().current_user;
}

bool RequestHandler::authenticated() {
  if (current_user()) return true;
  const auto& method = request().method;
  if (method == "GET" || method == "HEAD") {
    std::string url = get_login_url();
    // As Tornado: a login URL with a query of its own is used as it is, and
    // an absolute one (another host) gets the full URL to come back to.
    if (url.find('?') == std::string::npos) {
      auto colon = url.find(':');
      bool absolute =
          colon != std::string::npos && colon > 0 &&
          std::isalpha(static_cast<unsigned char>(url[0])) &&
          url.find_first_not_of(
              "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") == colon;
      url += "?next=" + escape::url_escape(absolute ? request().full_url() : request().uri);
    }
    redirect(url);
    return false;
  }
  throw HTTPError(403);
}

std::string RequestHandler::static_url(std::string_view path, bool include_host) {
  std::string url = application_->static_url(path, true);
  if (include_host) url = request().protocol + "://" + request().host + url;
  return url;
}

const locale::Locale& RequestHandler::locale() {
  if (!state().locale) {
    state().locale = get_user_locale();
    if (!state().locale) state().locale = get_browser_locale();
  }
  return *state().locale;
}

std::shared_ptr<const locale::Locale> RequestHandler::get_browser_locale(
    std::string_view default_code) {
  const auto& headers = request().headers;
  if (headers.contains("Accept-Language")) {
    auto codes = locale::accept_language_codes(headers.get("Accept-Language"));
    if (!codes.empty()) return locale::get(codes);
  }
  return locale::get({default_code});
}

std::string RequestHandler::reverse_url(std::string_view name,
                                        const std::vector<std::string>& args) {
  return application_->reverse_url(name, args);
}

// ---- built-in handlers ----

namespace {

std::string_view content_type_for(const std::filesystem::path& file) {
  static const std::map<std::string, std::string_view, std::less<>> types = {
      {".html", "text/html; charset=UTF-8"},
      {".htm", "text/html; charset=UTF-8"},
      {".css", "text/css; charset=UTF-8"},
      {".js", "text/javascript; charset=UTF-8"},
      {".mjs", "text/javascript; charset=UTF-8"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=UTF-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".ico", "image/x-icon"},
      {".webp", "image/webp"},
      {".woff2", "font/woff2"},
      {".woff", "font/woff"},
      {".wasm", "application/wasm"},
      {".pdf", "application/pdf"},
      {".xml", "application/xml"},
      {".md", "text/markdown; charset=UTF-8"},
  };
  auto it = types.find(file.extension().string());
  return it == types.end() ? std::string_view("application/octet-stream") : it->second;
}

// Parses "bytes=a-b" for a file of `size` bytes; nullopt for unsupported
// forms (served whole), {size, 0} when unsatisfiable.
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_range(std::string_view header,
                                                                   std::uint64_t size) {
  if (!header.starts_with("bytes=")) return std::nullopt;
  header.remove_prefix(6);
  if (header.find(',') != std::string_view::npos) return std::nullopt;
  auto dash = header.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  auto number = [](std::string_view text) -> std::optional<std::uint64_t> {
    text = strip(text);
    if (text.empty()) return std::nullopt;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
    return v;
  };
  auto first = number(header.substr(0, dash));
  auto last = number(header.substr(dash + 1));
  if (!first && !last) return std::nullopt;
  if (!first) {  // suffix: the last N bytes
    if (*last == 0) return std::pair<std::uint64_t, std::uint64_t>{size, 0};
    std::uint64_t n = std::min(*last, size);
    return std::pair<std::uint64_t, std::uint64_t>{size - n, size};
  }
  if (*first >= size) return std::pair<std::uint64_t, std::uint64_t>{size, 0};
  std::uint64_t end = last ? std::min(*last + 1, size) : size;
  if (end <= *first) return std::nullopt;
  return std::pair<std::uint64_t, std::uint64_t>{*first, end};
}

}  // namespace

void StaticFileHandler::initialize(std::string root_path, std::optional<std::string> default_file) {
  root = std::move(root_path);
  if (default_file && default_file->empty()) default_file.reset();
  default_filename = std::move(default_file);
}

std::string StaticFileHandler::parse_url_path(std::string_view url_path) {
  return std::string(url_path);
}

std::string StaticFileHandler::get_absolute_path(std::string_view root_path,
                                                 std::string_view relative) {
  namespace fs = std::filesystem;
  return fs::absolute(fs::path(root_path) / fs::path(relative)).lexically_normal().string();
}

std::optional<std::string> StaticFileHandler::validate_absolute_path(std::string_view root_path,
                                                                     std::string_view absolute) {
  namespace fs = std::filesystem;
  // The route already URL-unescaped the path, so "%2e%2e" arrives as "..";
  // symbolic links are resolved before the root check, so none leads out.
  if (path.find('\0') != std::string::npos || path.starts_with('/') ||
      path.find('\\') != std::string::npos) {
    throw HTTPError(403,
                    fmt::format("{} is not in root static directory (unsafe static path)", path));
  }
  std::error_code ec;
  std::string real_root = fs::weakly_canonical(fs::absolute(fs::path(root_path)), ec).string();
  if (!real_root.ends_with('/')) real_root += '/';
  fs::path full = fs::weakly_canonical(fs::path(absolute), ec);
  if (ec || !(full.string() + "/").starts_with(real_root)) {
    throw HTTPError(403, fmt::format("{} is not in root static directory (static path)", path));
  }
  if (fs::is_directory(full, ec) && default_filename) {
    if (!request().path.ends_with('/')) {
      if (request().path.starts_with("//")) {
        throw HTTPError(403, "cannot redirect path with two initial slashes");
      }
      redirect(request().path + "/", true);
      return std::nullopt;
    }
    full /= *default_filename;
  }
  if (!fs::exists(full, ec)) throw HTTPError(404);
  if (!fs::is_regular_file(full, ec)) {
    throw HTTPError(403, fmt::format("{} is not a file (static path)", path));
  }
  return full.string();
}

StaticFileHandler::ContentChunks StaticFileHandler::get_content(const std::string& abspath,
                                                                std::optional<std::uint64_t> start,
                                                                std::optional<std::uint64_t> end) {
  auto file = std::make_shared<std::ifstream>(abspath, std::ios::binary);
  if (!*file) throw std::runtime_error("cannot open " + abspath);
  if (start) file->seekg(static_cast<std::streamoff>(*start));
  std::optional<std::uint64_t> remaining;
  if (end) remaining = *end - start.value_or(0);
  return [file, remaining]() mutable -> std::optional<std::string> {
    constexpr std::uint64_t kChunk = 64 * 1024;
    std::uint64_t want = remaining ? std::min(*remaining, kChunk) : kChunk;
    if (want == 0) return std::nullopt;
    std::string chunk(want, '\0');
    file->read(chunk.data(), static_cast<std::streamsize>(want));
    chunk.resize(static_cast<std::size_t>(file->gcount()));
    if (chunk.empty()) return std::nullopt;
    if (remaining) *remaining -= chunk.size();
    return chunk;
  };
}

std::string StaticFileHandler::get_content_version(const std::string& abspath) {
  auto chunks = get_content(abspath);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr);
  while (auto chunk = chunks()) EVP_DigestUpdate(ctx.get(), chunk->data(), chunk->size());
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
  return hex_encode({reinterpret_cast<const char*>(out), len});
}

std::uint64_t StaticFileHandler::get_content_size() {
  if (!size_) size_ = std::filesystem::file_size(absolute_path);
  return *size_;
}

std::optional<std::chrono::system_clock::time_point> StaticFileHandler::get_modified_time() {
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(absolute_path, ec);
  if (ec) return std::nullopt;
  // Whole seconds, as HTTP dates (and Tornado) have them.
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::file_clock::to_sys(mtime));
}

std::string StaticFileHandler::get_content_type() {
  return std::string(content_type_for(absolute_path));
}

long long StaticFileHandler::get_cache_time(std::string_view,
                                            std::optional<std::chrono::system_clock::time_point>,
                                            std::string_view) {
  return request().query_arguments.count("v") ? CACHE_MAX_AGE : 0;
}

std::string StaticFileHandler::make_static_url(const Settings& app_settings,
                                               std::string_view relative, bool include_version) {
  std::string url = app_settings.static_url_prefix + std::string(relative);
  if (!include_version) return url;
  auto version = get_version(app_settings, relative);
  if (!version) return url;
  return url + "?v=" + *version;
}

std::optional<std::string> StaticFileHandler::get_version(const Settings& app_settings,
                                                          std::string_view relative) {
  return get_cached_version(get_absolute_path(app_settings.static_path, relative));
}

std::optional<std::string> StaticFileHandler::get_cached_version(const std::string& abspath) {
  return application().cached_static_version(
      abspath, [&]() -> std::optional<std::string> { return get_content_version(abspath); });
}

std::optional<std::string> StaticFileHandler::compute_etag() {
  if (absolute_path.empty()) return std::nullopt;
  auto version = get_cached_version(absolute_path);
  if (!version) return std::nullopt;
  return "\"" + *version + "\"";
}

void StaticFileHandler::set_headers() {
  set_header("Accept-Ranges", "bytes");
  if (auto etag = compute_etag()) set_header("Etag", *etag);
  if (modified) set_header("Last-Modified", httputil::format_timestamp(*modified));
  std::string content_type = get_content_type();
  if (!content_type.empty()) set_header("Content-Type", content_type);
  long long cache_time = get_cache_time(path, modified, content_type);
  if (cache_time > 0) {
    set_header("Expires", httputil::format_timestamp(std::chrono::system_clock::now() +
                                                     std::chrono::seconds(cache_time)));
    set_header("Cache-Control", fmt::format("max-age={}", cache_time));
  }
  set_extra_headers(path);
}

bool StaticFileHandler::should_return_304() {
  // If-None-Match, when sent, decides alone (RFC 7232 3.3).
  if (!request().headers.get("If-None-Match").empty()) {
    return check_etag_header(response_headers().get("Etag"));
  }
  if (auto since = httputil::parse_http_date(request().headers.get("If-Modified-Since"))) {
    return modified && *since >= *modified;
  }
  return false;
}

Task<> StaticFileHandler::serve(std::string url_path, bool include_body) {
  path = parse_url_path(url_path);
  auto validated = validate_absolute_path(root, get_absolute_path(root, path));
  if (!validated) co_return;
  absolute_path = std::move(*validated);
  modified = get_modified_time();
  set_headers();
  if (should_return_304()) {
    set_status(304);
    co_return;
  }
  std::uint64_t size = get_content_size();
  std::uint64_t start = 0;
  std::uint64_t end = size;
  if (auto range = parse_range(request().headers.get("Range"), size)) {
    if (range->first >= size || range->second == 0) {
      set_status(416);
      set_header("Content-Type", "text/plain");
      set_header("Content-Range", fmt::format("bytes */{}", size));
      co_return;
    }
    start = range->first;
    end = range->second;
    // As Tornado: "bytes=0-" (the whole file) is a 200, which some
    // players insist on.
    if (end - start != size) {
      set_status(206);
      set_header("Content-Range", fmt::format("bytes {}-{}/{}", start, end - 1, size));
    }
  }
  set_header("Content-Length", static_cast<long long>(end - start));
  if (!include_body) co_return;
  auto chunks = get_content(absolute_path, start, end);
  // Each piece is flushed (and the write awaited) before the next is read:
  // memory stays at one piece whatever the file's size.
  while (auto chunk = chunks()) {
    write(*chunk);
    co_await flush();
  }
}

void RedirectHandler::get() {
  get_with({});
}

void RedirectHandler::get_with(const std::vector<std::string>& groups) {
  // The target is formatted as Python's str.format, as Tornado's: "{0}" and
  // "{}" are groups by position, "{name}" a named group, "{{" and "}}" braces.
  std::string target;
  std::size_t next_position = 0;
  for (std::size_t i = 0; i < url_.size(); ++i) {
    char c = url_[i];
    if ((c == '{' || c == '}') && i + 1 < url_.size() && url_[i + 1] == c) {
      target.push_back(c);
      ++i;
      continue;
    }
    if (c != '{') {
      target.push_back(c);
      continue;
    }
    std::size_t close = url_.find('}', i);
    if (close == std::string::npos) {
      throw std::invalid_argument(fmt::format("RedirectHandler: unclosed '{{' in {:?}", url_));
    }
    std::string_view field(url_.data() + i + 1, close - i - 1);
    i = close;
    if (!field.empty() && field.find_first_not_of("0123456789") != std::string_view::npos) {
      auto named = path_kwargs().find(field);
      if (named == path_kwargs().end()) {
        throw std::invalid_argument(fmt::format("RedirectHandler: no group named {:?}", field));
      }
      target += named->second;
      continue;
    }
    std::size_t position = field.empty() ? next_position++ : std::stoul(std::string(field));
    if (position >= groups.size()) {
      throw std::invalid_argument(
          fmt::format("RedirectHandler: no group {} in {:?}", position, url_));
    }
    target += groups[position];
  }
  if (!request().query.empty()) {
    target += (target.find('?') == std::string::npos ? "?" : "&");
    target += request().query;
  }
  redirect(target, permanent_);
}

}  // namespace tornado::web
