#include "tornado/web.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <re2/re2.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "tornado/autoreload.h"
#include "tornado/escape.h"
#include "tornado/ioloop.h"
#include "tornado/log.h"

namespace tornado::web {

namespace {

std::string hex(const unsigned char* data, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(digits[data[i] >> 4]);
    out.push_back(digits[data[i] & 15]);
  }
  return out;
}

std::string digest_hex(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  return hex(out, len);
}

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return hex(out, len);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
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

bool has_regex_syntax(std::string_view pattern) {
  return pattern.find_first_of("()[]{}*+?.^$|\\") != std::string_view::npos;
}

// Tornado's signed value v2: "2|1:0|10:<ts>|4:<name>|<n>:<b64 value>|<hmac>".
std::string format_field(std::string_view s) {
  return fmt::format("{}:{}", s.size(), s);
}

std::string base64(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> unbase64(std::string_view data) {
  if (data.size() % 4 != 0) return std::nullopt;
  std::string out(3 * data.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  if (n < 0) return std::nullopt;
  std::size_t padding = 0;
  if (!data.empty() && data.back() == '=') ++padding;
  if (data.size() > 1 && data[data.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
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
  std::string to_sign = fmt::format("2|1:0|{}|{}|{}|", format_field(std::to_string(timestamp)),
                                    format_field(name), format_field(base64(value)));
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
  return unbase64(*value_field);
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

struct Application::Route {
  std::string pattern;
  HandlerSpec spec;
  std::string name;
  bool literal = true;
  std::unique_ptr<re2::RE2> regex;
  int groups = 0;
  std::vector<std::string> group_names;  // empty string for unnamed
};

struct Application::Impl {
  std::vector<Route> routes;
  HandlerSpec not_found = handler<ErrorHandler>(404);
  std::unique_ptr<template_::Loader> loader;
  std::mutex static_hashes_mutex;
  std::map<std::string, std::string, std::less<>> static_hashes;
};

Application::Application(std::vector<URLSpec> handlers, Settings settings)
    : impl_(std::make_unique<Impl>()), settings_(std::move(settings)) {
  // As Tornado: a static_path setting serves its files under
  // static_url_prefix, ahead of the application's own routes.
  if (!settings_.static_path.empty()) {
    handlers.insert(handlers.begin(), URLSpec(settings_.static_url_prefix + "(.*)",
                                              handler<StaticFileHandler>(settings_.static_path)));
  }
  add_handlers(std::move(handlers));
  if (settings_.autoreload.value_or(settings_.debug)) autoreload::start();
}

Application::~Application() {
  stop_listening();
}

void Application::add_handlers(std::vector<URLSpec> handlers) {
  for (auto& url : handlers) {
    Route route;
    route.pattern = url.pattern;
    route.name = url.name;
    route.literal = !has_regex_syntax(url.pattern);
    if (!route.literal) {
      re2::RE2::Options options;
      options.set_log_errors(false);
      route.regex = std::make_unique<re2::RE2>(url.pattern, options);
      if (!route.regex->ok()) {
        throw std::invalid_argument(
            fmt::format("route '{}': invalid pattern: {}", url.pattern, route.regex->error()));
      }
      route.groups = route.regex->NumberOfCapturingGroups();
      route.group_names.assign(static_cast<std::size_t>(route.groups), "");
      for (const auto& [name, index] : route.regex->NamedCapturingGroups()) {
        route.group_names[static_cast<std::size_t>(index - 1)] = name;
      }
    }
    if (route.groups > static_cast<int>(tornado::detail::kMaxPathArgs)) {
      throw std::invalid_argument(fmt::format("route '{}': more than {} groups", url.pattern,
                                              tornado::detail::kMaxPathArgs));
    }
    bool fits = url.spec.websocket && route.groups == 0;
    for (const auto& [verb, mask] : url.spec.verbs) {
      if (mask & (1u << route.groups)) fits = true;
    }
    if (!fits) {
      throw std::invalid_argument(fmt::format(
          "route '{}' captures {} group(s), but its handler has no verb taking {} path argument(s)",
          url.pattern, route.groups, route.groups));
    }
    route.spec = std::move(url.spec);
    impl_->routes.push_back(std::move(route));
  }
}

std::string Application::reverse_url(std::string_view name,
                                     const std::vector<std::string>& args) const {
  for (const auto& route : impl_->routes) {
    if (route.name != name) continue;
    if (route.literal) return route.pattern;
    // Replace each top-level group with the next argument, drop anchors.
    std::string out;
    std::size_t next = 0;
    int depth = 0;
    std::string_view p = route.pattern;
    if (p.starts_with('^')) p.remove_prefix(1);
    if (p.ends_with('$')) p.remove_suffix(1);
    for (std::size_t i = 0; i < p.size(); ++i) {
      char c = p[i];
      if (c == '\\' && i + 1 < p.size()) {
        if (depth == 0) out.push_back(p[i + 1]);
        ++i;
      } else if (c == '(') {
        if (depth++ == 0) {
          if (next >= args.size()) {
            throw std::invalid_argument(fmt::format("reverse_url('{}'): too few arguments", name));
          }
          out += escape::url_escape(args[next++], false);
        }
      } else if (c == ')') {
        --depth;
      } else if (depth == 0) {
        out.push_back(c);
      }
    }
    return out;
  }
  throw std::invalid_argument(fmt::format("reverse_url: no route named '{}'", name));
}

template_::Loader& Application::template_loader() {
  if (!impl_->loader) {
    template_::LoaderOptions options;
    options.debug = settings_.debug;
    impl_->loader = std::make_unique<template_::Loader>(settings_.template_path, options);
  }
  return *impl_->loader;
}

std::string Application::static_url(std::string_view path) {
  std::string version;
  {
    std::lock_guard lock(impl_->static_hashes_mutex);
    auto it = impl_->static_hashes.find(path);
    if (it != impl_->static_hashes.end() && !settings_.debug) {
      version = it->second;
    } else {
      std::filesystem::path file = std::filesystem::path(settings_.static_path) / std::string(path);
      std::ifstream in(file, std::ios::binary);
      if (in) {
        std::ostringstream content;
        content << in.rdbuf();
        version = digest_hex(EVP_md5(), content.str()).substr(0, 32);
      }
      impl_->static_hashes[std::string(path)] = version;
    }
  }
  std::string url = settings_.static_url_prefix + std::string(path);
  if (!version.empty()) url += "?v=" + version;
  return url;
}

httpserver::HTTPServer& Application::listen(int port, std::string_view address,
                                            httpserver::HTTPServerSettings server_settings,
                                            netutil::BindOptions bind_options) {
  // The Application owns its servers, so they refer to it without owning it
  // (an owning pointer both ways would keep both alive forever).
  std::shared_ptr<Application> self(std::shared_ptr<Application>(), this);
  auto server = std::make_unique<httpserver::HTTPServer>(self, std::move(server_settings));
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

struct HandlerRunner {
  static Task<> execute(std::unique_ptr<RequestHandler> handler, const HandlerSpec* spec) {
    RequestHandler& h = *handler;
    std::string_view method = h.request().method;
    try {
      auto verb = spec->verbs.find(method);
      unsigned arity_bit = 1u << h.path_args_.size();
      bool supported = (verb != spec->verbs.end() && (verb->second & arity_bit)) ||
                       (spec->websocket && method == "GET");
      if (!supported) {
        std::string allow;
        for (const auto& [name, mask] : spec->verbs) {
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
      co_await spec->invoke(h, method, h.path_args_);
      if (!h.finished_ && !h.detached_) h.finish();
    } catch (const Finish&) {
      if (!h.finished_) h.finish();
    } catch (const iostream::StreamClosedError&) {
      // The client went away; nothing left to answer.
    } catch (...) {
      h.log_exception(std::current_exception());
      if (!h.finished_ && !h.detached_) {
        const HTTPError* http_error = nullptr;
        try {
          throw;
        } catch (const HTTPError& e) {
          http_error = &e;
          h.send_error(e.status_code, std::current_exception());
        } catch (...) {
          h.send_error(500, std::current_exception());
        }
        (void)http_error;
      }
    }
  }
};

// Feeds one request's body to its handler, then runs it.
class HandlerDelegate final : public http1connection::HTTPMessageDelegate {
 public:
  HandlerDelegate(std::unique_ptr<RequestHandler> handler, const HandlerSpec* spec)
      : handler_(std::move(handler)), spec_(spec) {}

  void data_received(std::string_view chunk) override {
    if (spec_->streams_body) {
      spec_->data_received(*handler_, chunk);
    } else {
      handler_->request().body.append(chunk);
    }
  }

  void finish() override {
    auto& request = handler_->request();
    if (!spec_->streams_body) {
      try {
        request.parse_body();
      } catch (const httputil::HTTPInputError& e) {
        log::general.warning("Invalid body from {}: {}", request.remote_ip, e.what());
        handler_->send_error(400);
        return;
      }
    }
    raw_ = handler_.get();
    spawn(HandlerRunner::execute(std::move(handler_), spec_));
  }

  void on_connection_close() override {
    if (raw_) {
      raw_->on_connection_close();
    } else if (handler_) {
      handler_->on_connection_close();
    }
  }

 private:
  std::unique_ptr<RequestHandler> handler_;
  const HandlerSpec* spec_;
  RequestHandler* raw_ = nullptr;  // while execute() owns the handler
};

}  // namespace detail

std::unique_ptr<http1connection::HTTPMessageDelegate> Application::start_request(
    std::shared_ptr<http1connection::HTTP1ServerConnection> connection,
    std::shared_ptr<httputil::HTTPServerRequest> request) {
  const HandlerSpec* spec =
      settings_.default_handler_class ? &*settings_.default_handler_class : &impl_->not_found;
  std::vector<std::string> args;
  std::map<std::string, std::string, std::less<>> kwargs;
  const std::string& path = request->path;
  for (const auto& route : impl_->routes) {
    if (route.literal) {
      if (route.pattern != path) continue;
    } else {
      std::vector<std::string> groups(static_cast<std::size_t>(route.groups));
      std::vector<re2::RE2::Arg> arg_storage(groups.size());
      std::vector<const re2::RE2::Arg*> arg_ptrs(groups.size());
      for (std::size_t i = 0; i < groups.size(); ++i) {
        arg_storage[i] = &groups[i];
        arg_ptrs[i] = &arg_storage[i];
      }
      if (!re2::RE2::FullMatchN(path, *route.regex, arg_ptrs.data(), route.groups)) continue;
      for (std::size_t i = 0; i < groups.size(); ++i) {
        std::string value = escape::url_unescape(groups[i], false);
        if (!route.group_names[i].empty()) kwargs[route.group_names[i]] = value;
        args.push_back(std::move(value));
      }
    }
    spec = &route.spec;
    break;
  }
  auto handler = spec->factory();
  handler->application_ = this;
  handler->request_ = std::move(request);
  handler->connection_ = std::move(connection);
  handler->path_args_ = std::move(args);
  handler->path_kwargs_ = std::move(kwargs);
  return std::make_unique<detail::HandlerDelegate>(std::move(handler), spec);
}

// ---------------------------------------------------------------------------
// RequestHandler

RequestHandler::RequestHandler() {
  clear();
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
  headers_.clear();
  headers_.set("Server", "TornadoServer/6.4 (tornado-cpp)");
  headers_.set("Content-Type", "text/html; charset=UTF-8");
  headers_.set("Date", httputil::format_timestamp(std::chrono::system_clock::now()));
  write_buffer_.clear();
  status_code_ = 200;
  reason_.clear();
}

void RequestHandler::set_status(int status_code, std::string_view reason) {
  if (reason.empty() && httputil::reason_phrase(status_code) == "Unknown") {
    throw std::invalid_argument(fmt::format("unknown status code {}", status_code));
  }
  if (!httputil::is_valid_header_value(reason)) {
    throw std::invalid_argument(
        "unsafe reason phrase (a control byte would split the status line)");
  }
  status_code_ = status_code;
  reason_ = std::string(reason);
}

void RequestHandler::set_header(std::string_view name, std::string_view value) {
  if (!httputil::is_valid_header_value(value) || !httputil::is_valid_header_name(name)) {
    throw std::invalid_argument(fmt::format("unsafe header {:?}", name.substr(0, 64)));
  }
  headers_.set(name, value);
}

void RequestHandler::set_header(std::string_view name, long long value) {
  set_header(name, std::to_string(value));
}

void RequestHandler::add_header(std::string_view name, std::string_view value) {
  if (!httputil::is_valid_header_value(value) || !httputil::is_valid_header_name(name)) {
    throw std::invalid_argument(fmt::format("unsafe header {:?}", name.substr(0, 64)));
  }
  headers_.add(name, value);
}

void RequestHandler::clear_header(std::string_view name) {
  headers_.remove(name);
}

void RequestHandler::write(std::string_view chunk) {
  if (finished_) throw std::logic_error("Cannot write() after finish()");
  write_buffer_.append(chunk);
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
  std::string_view reason =
      reason_.empty() ? httputil::reason_phrase(status_code_) : std::string_view(reason_);
  headers_written_ = true;
  return connection_->write_headers(status_code_, reason, headers_, chunk, finishing);
}

iostream::IOStream::WriteAwaitable RequestHandler::flush() {
  if (!connection_ || connection_->closed()) throw iostream::StreamClosedError();
  std::string chunk = std::move(write_buffer_);
  write_buffer_.clear();
  if (!headers_written_) return send_headers_and(chunk, false);
  return connection_->write(chunk);
}

bool RequestHandler::check_etag_header(std::string_view etag) const {
  std::string_view header = request_->headers.get("If-None-Match");
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
  return "\"" + digest_hex(EVP_sha1(), write_buffer_) + "\"";
}

void RequestHandler::finish(std::string_view chunk) {
  if (finished_) throw std::logic_error("finish() called twice");
  if (!chunk.empty()) write(chunk);
  if (!connection_) {
    finished_ = true;
    return;
  }
  if (!headers_written_) {
    const auto& method = request_->method;
    if (status_code_ == 200 && (method == "GET" || method == "HEAD") &&
        !headers_.contains("Etag")) {
      if (auto etag = compute_etag()) {
        set_header("Etag", *etag);
        if (check_etag_header(*etag)) {
          write_buffer_.clear();
          status_code_ = 304;
        }
      }
    }
    if (status_code_ == 204 || status_code_ == 304 || (status_code_ >= 100 && status_code_ < 200)) {
      write_buffer_.clear();
      headers_.remove("Content-Type");
    } else if (settings().compress_response && write_buffer_.size() >= 1024 &&
               request_->headers.get("Accept-Encoding").find("gzip") != std::string_view::npos &&
               !headers_.contains("Content-Encoding")) {
      std::string_view type = headers_.get("Content-Type");
      if (type.starts_with("text/") || type.find("json") != std::string_view::npos ||
          type.find("javascript") != std::string_view::npos ||
          type.find("xml") != std::string_view::npos) {
        z_stream zs{};
        if (deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
          std::string out(deflateBound(&zs, write_buffer_.size()), '\0');
          zs.next_in = reinterpret_cast<Bytef*>(write_buffer_.data());
          zs.avail_in = static_cast<uInt>(write_buffer_.size());
          zs.next_out = reinterpret_cast<Bytef*>(out.data());
          zs.avail_out = static_cast<uInt>(out.size());
          if (deflate(&zs, Z_FINISH) == Z_STREAM_END) {
            out.resize(zs.total_out);
            write_buffer_ = std::move(out);
            set_header("Content-Encoding", "gzip");
          }
          deflateEnd(&zs);
        }
        add_header("Vary", "Accept-Encoding");
      }
    }
    if (!connection_->closed()) (void)send_headers_and(write_buffer_, true);
  } else if (!write_buffer_.empty() && !connection_->closed()) {
    (void)connection_->write(write_buffer_);
  }
  write_buffer_.clear();
  finished_ = true;
  connection_->finish();
  application_->log_request(*this);
  on_finish();
}

void RequestHandler::redirect(std::string_view url, bool permanent, std::optional<int> status) {
  if (headers_written_) throw std::logic_error("Cannot redirect after headers have been written");
  set_status(status.value_or(permanent ? 301 : 302));
  set_header("Location", url);
  finish();
}

nlohmann::json RequestHandler::get_template_namespace() {
  nlohmann::json ns = settings().template_globals.is_object() ? settings().template_globals
                                                              : nlohmann::json::object();
  const auto& user = current_user();
  ns["current_user"] = user ? *user : nlohmann::json();
  ns["request"] = {{"method", request_->method},     {"uri", request_->uri},
                   {"path", request_->path},         {"host", request_->host},
                   {"protocol", request_->protocol}, {"remote_ip", request_->remote_ip}};
  return ns;
}

std::string RequestHandler::render_string(std::string_view name, nlohmann::json values) {
  nlohmann::json ns = get_template_namespace();
  if (values.is_object()) {
    for (auto& [key, value] : values.items()) ns[key] = std::move(value);
  }
  template_::Functions functions = settings().ui_methods;
  functions["static_url"] = [this](const std::vector<nlohmann::json>& args) -> nlohmann::json {
    if (args.empty() || !args[0].is_string()) throw std::invalid_argument("static_url(path)");
    return static_url(args[0].get<std::string>());
  };
  functions["reverse_url"] = [this](const std::vector<nlohmann::json>& args) -> nlohmann::json {
    if (args.empty() || !args[0].is_string()) throw std::invalid_argument("reverse_url(name, ...)");
    std::vector<std::string> rest;
    for (std::size_t i = 1; i < args.size(); ++i) {
      rest.push_back(args[i].is_string() ? args[i].get<std::string>() : args[i].dump());
    }
    return reverse_url(args[0].get<std::string>(), rest);
  };
  functions["xsrf_form_html"] = [this](const std::vector<nlohmann::json>&) -> nlohmann::json {
    return xsrf_form_html();
  };
  auto& loader = application_->template_loader();
  auto tmpl = loader.load(name);
  if (settings().autoreload.value_or(settings().debug)) {
    for (const auto& file : loader.loaded_files()) autoreload::watch(file);
  }
  return tmpl->generate(ns, functions);
}

void RequestHandler::render(std::string_view name, nlohmann::json values) {
  std::string html = render_string(name, std::move(values));
  finish(html);
}

void RequestHandler::log_exception(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const HTTPError& e) {
    if (!e.log_message.empty()) {
      log::general.warning("{} {} ({}): {}", e.status_code, request_->method, request_->remote_ip,
                           e.log_message);
    }
  } catch (const std::exception& e) {
    log::app.error("Uncaught exception {} {} ({}): {}", request_->method, request_->uri,
                   request_->remote_ip, e.what());
  } catch (...) {
    log::app.error("Uncaught exception {} {} ({})", request_->method, request_->uri,
                   request_->remote_ip);
  }
}

void RequestHandler::send_error(int status_code, std::exception_ptr error) {
  if (headers_written_) {
    log::general.error("Cannot send error response after headers written");
    if (!finished_) {
      finished_ = true;
      if (connection_) connection_->close();
    }
    return;
  }
  // A 405 keeps the Allow header the dispatcher computed.
  std::string allow(headers_.get("Allow"));
  clear();
  if (status_code == 405 && !allow.empty()) headers_.set("Allow", allow);
  std::string reason;
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const HTTPError& e) {
      reason = e.reason;
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

void RequestHandler::write_error(int status_code, std::exception_ptr error) {
  std::string reason =
      reason_.empty() ? std::string(httputil::reason_phrase(status_code)) : reason_;
  if (error && settings().serve_traceback && settings().debug) {
    set_header("Content-Type", "text/plain; charset=UTF-8");
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      write(fmt::format("{}: {}\n", typeid(e).name(), e.what()));
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
    values.emplace_back(do_strip ? strip(v) : std::string_view(v));
  }
  return values;
}

#define TORNADO_WEB_ARGUMENT_GETTERS(getter, source)                                               \
  std::string RequestHandler::getter(std::string_view name, bool do_strip) const {                 \
    auto values = arguments_from(request_->source, name, do_strip);                                \
    if (values.empty()) throw MissingArgumentError(std::string(name));                             \
    return values.back();                                                                          \
  }                                                                                                \
  std::string RequestHandler::getter(std::string_view name, std::string_view default_value,        \
                                     bool do_strip) const {                                        \
    auto values = arguments_from(request_->source, name, do_strip);                                \
    return values.empty() ? std::string(default_value) : values.back();                            \
  }                                                                                                \
  std::vector<std::string> RequestHandler::getter##s(std::string_view name, bool do_strip) const { \
    return arguments_from(request_->source, name, do_strip);                                       \
  }
TORNADO_WEB_ARGUMENT_GETTERS(get_argument, arguments)
TORNADO_WEB_ARGUMENT_GETTERS(get_query_argument, query_arguments)
TORNADO_WEB_ARGUMENT_GETTERS(get_body_argument, body_arguments)
#undef TORNADO_WEB_ARGUMENT_GETTERS

// ---- cookies ----

std::optional<std::string> RequestHandler::get_cookie(std::string_view name) const {
  const auto& cookies = request_->cookies();
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
  auto unhex = [](std::string_view h) -> std::optional<std::string> {
    std::string out;
    for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
      unsigned value = 0;
      auto [p, ec] = std::from_chars(h.data() + i, h.data() + i + 2, value, 16);
      if (ec != std::errc() || p != h.data() + i + 2) return std::nullopt;
      out.push_back(static_cast<char>(value));
    }
    return out;
  };
  auto mask = unhex(mask_hex);
  auto masked = unhex(masked_hex);
  if (!mask || !masked) return std::nullopt;
  for (std::size_t i = 0; i < masked->size(); ++i) (*masked)[i] ^= (*mask)[i % 4];
  return masked;
}

std::string encode_xsrf(std::string_view token) {
  unsigned char mask[4];
  RAND_bytes(mask, sizeof mask);
  std::string masked(token);
  for (std::size_t i = 0; i < masked.size(); ++i) masked[i] ^= static_cast<char>(mask[i % 4]);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return fmt::format("2|{}|{}|{}", hex(mask, 4),
                     hex(reinterpret_cast<const unsigned char*>(masked.data()), masked.size()),
                     now);
}
}  // namespace

std::string RequestHandler::xsrf_token() {
  if (xsrf_token_) return *xsrf_token_;
  std::optional<std::string> token;
  if (auto cookie = get_cookie("_xsrf")) token = decode_xsrf(*cookie);
  if (!token) {
    unsigned char raw[16];
    RAND_bytes(raw, sizeof raw);
    token = std::string(reinterpret_cast<const char*>(raw), sizeof raw);
    CookieOptions options;
    options.samesite = "Lax";
    set_cookie("_xsrf", encode_xsrf(*token), options);
  }
  xsrf_token_ = encode_xsrf(*token);
  return *xsrf_token_;
}

std::string RequestHandler::xsrf_form_html() {
  return "<input type=\"hidden\" name=\"_xsrf\" value=\"" + escape::xhtml_escape(xsrf_token()) +
         "\"/>";
}

void RequestHandler::check_xsrf_cookie() {
  std::string sent = get_argument("_xsrf", "");
  if (sent.empty()) sent = std::string(request_->headers.get("X-Xsrftoken"));
  if (sent.empty()) sent = std::string(request_->headers.get("X-Csrftoken"));
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
  if (!current_user_) current_user_ = get_current_user();
  return *current_user_;
}

bool RequestHandler::authenticated() {
  if (current_user()) return true;
  const auto& method = request_->method;
  if (method == "GET" || method == "HEAD") {
    std::string url = get_login_url();
    url += (url.find('?') == std::string::npos ? "?" : "&");
    url += "next=" + escape::url_escape(request_->uri);
    redirect(url);
    return false;
  }
  throw HTTPError(403);
}

std::string RequestHandler::static_url(std::string_view path, bool include_host) {
  std::string url = application_->static_url(path);
  if (include_host) url = request_->protocol + "://" + request_->host + url;
  return url;
}

const locale::Locale& RequestHandler::locale() {
  if (!locale_) {
    locale_ = get_user_locale();
    if (!locale_) locale_ = get_browser_locale();
  }
  return *locale_;
}

std::shared_ptr<const locale::Locale> RequestHandler::get_browser_locale(
    std::string_view default_code) {
  if (request_->headers.contains("Accept-Language")) {
    auto codes = locale::accept_language_codes(request_->headers.get("Accept-Language"));
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

void StaticFileHandler::initialize(std::string path, std::string default_filename) {
  root_ = std::filesystem::weakly_canonical(std::filesystem::absolute(path)).string();
  default_filename_ = std::move(default_filename);
}

Task<> StaticFileHandler::serve(std::string path, bool include_body) {
  namespace fs = std::filesystem;
  // The route already URL-unescaped the path, so "%2e%2e" arrives as "..".
  if (path.find('\0') != std::string::npos || path.starts_with('/') ||
      path.find('\\') != std::string::npos) {
    throw HTTPError(403, "unsafe static path");
  }
  for (std::string_view rest = path; !rest.empty();) {
    auto slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part == "..") throw HTTPError(403, "static path leaves the root");
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  std::error_code ec;
  fs::path full = fs::weakly_canonical(fs::path(root_) / path, ec);
  std::string full_text = full.string();
  if (ec || !(full_text == root_ || full_text.starts_with(root_ + "/"))) {
    throw HTTPError(403, "static path leaves the root");
  }
  if (fs::is_directory(full, ec)) {
    if (default_filename_.empty()) throw HTTPError(403, "is a directory");
    if (!request().path.ends_with('/')) {
      redirect(request().path + "/", true);
      co_return;
    }
    full /= default_filename_;
  }
  if (!fs::is_regular_file(full, ec)) throw HTTPError(404);
  std::ifstream in(full, std::ios::binary);
  if (!in) throw HTTPError(404);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  std::string content = buffer.str();
  auto size = static_cast<std::uint64_t>(content.size());
  auto mtime = fs::last_write_time(full, ec);
  auto modified =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::file_clock::to_sys(mtime));

  std::string etag = "\"" + digest_hex(EVP_md5(), content) + "\"";
  set_header("Etag", etag);
  set_header("Last-Modified", httputil::format_timestamp(modified));
  set_header("Accept-Ranges", "bytes");
  set_header("Content-Type", content_type_for(full));
  if (!request().query_arguments.empty() && request().query_arguments.count("v")) {
    set_header("Cache-Control", "max-age=31536000");
    set_header("Expires", httputil::format_timestamp(std::chrono::system_clock::now() +
                                                     std::chrono::hours(24 * 3650)));
  }
  bool not_modified = false;
  if (request().headers.contains("If-None-Match")) {
    not_modified = check_etag_header(etag);
  } else if (auto since = httputil::parse_http_date(request().headers.get("If-Modified-Since"))) {
    not_modified = modified <= *since;
  }
  if (not_modified) {
    set_status(304);
    finish();
    co_return;
  }
  std::uint64_t start = 0;
  std::uint64_t end = size;
  if (auto range = parse_range(request().headers.get("Range"), size)) {
    if (range->first >= size || range->second == 0) {
      set_status(416);
      set_header("Content-Type", "text/plain");
      set_header("Content-Range", fmt::format("bytes */{}", size));
      finish();
      co_return;
    }
    start = range->first;
    end = range->second;
    set_status(206);
    set_header("Content-Range", fmt::format("bytes {}-{}/{}", start, end - 1, size));
  }
  set_header("Content-Length", static_cast<long long>(end - start));
  if (include_body) write(std::string_view(content).substr(start, end - start));
  // The ETag is the file's, not the body's: skip compute_etag in finish().
  finish();
}

void RedirectHandler::get() {
  get_with({});
}

void RedirectHandler::get_with(const std::vector<std::string>& groups) {
  std::string target;
  for (std::size_t i = 0; i < url_.size(); ++i) {
    if (url_[i] == '{' && i + 2 < url_.size() && url_[i + 2] == '}' && url_[i + 1] >= '0' &&
        url_[i + 1] <= '9') {
      std::size_t index = static_cast<std::size_t>(url_[i + 1] - '0');
      if (index < groups.size()) target += groups[index];
      i += 2;
    } else {
      target.push_back(url_[i]);
    }
  }
  if (!request().query.empty()) {
    target += (target.find('?') == std::string::npos ? "?" : "&");
    target += request().query;
  }
  redirect(target, permanent_);
}

}  // namespace tornado::web
