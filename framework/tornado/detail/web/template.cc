// The template-facing objects of a request; see web/template.h.
#include "tornado/detail/web/template.h"

#include <chrono>

#include "tornado/detail/utf8.h"
#include "tornado/escape.h"
#include "tornado/locale.h"
#include "tornado/web.h"

namespace tornado::detail {

using template_::Arguments;
using template_::Object;
using template_::Value;

namespace {

[[noreturn]] void fail(std::string type, std::string message) {
  throw template_::TemplateError({}, 0, std::move(message), {}, std::move(type));
}

bool truthy_arg(const Value* v, bool fallback) {
  if (!v) return fallback;
  const nlohmann::json* j = v->json();
  if (!j) return true;
  if (j->is_boolean()) return j->get<bool>();
  if (j->is_null()) return false;
  if (j->is_number()) return j->get<double>() != 0;
  if (j->is_string()) return !j->get_ref<const std::string&>().empty();
  return !j->empty();
}

nlohmann::json arguments_json(const httputil::Arguments& arguments) {
  nlohmann::json out = nlohmann::json::object();
  // Values are raw bytes (what the client sent); a template sees them as
  // text, with U+FFFD for what is not UTF-8.
  for (const auto& [name, values] : arguments) {
    auto& list = out[name] = nlohmann::json::array();
    for (const auto& value : values) list.push_back(tornado::detail::sanitize_utf8(value));
  }
  return out;
}

// A method table shared by call_method() and attribute(): `obj.name(args)`
// calls straight through, `obj.name` makes a callable.
template <class Self>
std::optional<Value> method_as_attribute(const Self& self, std::string_view name,
                                         std::initializer_list<std::string_view> methods) {
  for (std::string_view m : methods) {
    if (m == name) {
      // A copy: the object may be a temporary (handler.request.full_url).
      return Value(template_::make_callable(
          std::string(name), [self, name = std::string(name)](const Arguments& args) {
            return *self.call_method(name, args);
          }));
    }
  }
  return std::nullopt;
}

class HeadersObject : public Object {
 public:
  explicit HeadersObject(const httputil::HTTPHeaders& headers) : headers_(headers) {}
  std::string type_name() const override { return "HTTPHeaders"; }
  std::optional<Value> item(const Value& key) const override {
    if (!key.json() || !key.json()->is_string()) return std::nullopt;
    const auto& name = key.json()->get_ref<const std::string&>();
    if (!headers_.contains(name)) return std::nullopt;
    return Value(headers_.get_joined(name));
  }
  std::optional<Value> call_method(std::string_view name, const Arguments& args) const override {
    if (name == "get") {
      const std::string& header = args.str(0, "name");
      if (headers_.contains(header)) return Value(headers_.get_joined(header));
      const Value* fallback = args.get(1, "default");
      return fallback ? *fallback : Value();
    }
    if (name == "get_list") {
      nlohmann::json out = nlohmann::json::array();
      for (auto v : headers_.get_list(args.str(0, "name"))) out.push_back(std::string(v));
      return Value(std::move(out));
    }
    return std::nullopt;
  }
  std::optional<Value> attribute(std::string_view name) const override {
    return method_as_attribute(*this, name, {"get", "get_list"});
  }
  std::optional<std::vector<Value>> iterate() const override {
    std::vector<Value> names;
    for (const auto& [name, value] : headers_) {
      bool seen = false;
      for (const auto& n : names) seen = seen || n.json()->get_ref<const std::string&>() == name;
      if (!seen) names.emplace_back(name);
    }
    return names;
  }
  std::optional<std::int64_t> length() const override {
    return static_cast<std::int64_t>(iterate()->size());
  }
  nlohmann::json to_json() const override {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, value] : headers_) out[name] = headers_.get_joined(name);
    return out;
  }

 private:
  const httputil::HTTPHeaders& headers_;
};

class RequestObject : public Object {
 public:
  explicit RequestObject(const httputil::HTTPServerRequest& request) : r_(request) {}
  std::string type_name() const override { return "HTTPServerRequest"; }
  std::optional<Value> attribute(std::string_view name) const override {
    if (name == "method") return Value(r_.method);
    if (name == "uri") return Value(r_.uri);
    if (name == "path") return Value(r_.path);
    if (name == "query") return Value(r_.query);
    if (name == "version") return Value(r_.version);
    if (name == "host") return Value(r_.host);
    if (name == "host_name") return Value(r_.host_name);
    if (name == "remote_ip") return Value(r_.remote_ip);
    if (name == "protocol") return Value(r_.protocol);
    if (name == "body") return Value(r_.body);
    if (name == "headers") return Value(std::make_shared<const HeadersObject>(r_.headers));
    if (name == "arguments") return Value(arguments_json(r_.arguments));
    if (name == "query_arguments") return Value(arguments_json(r_.query_arguments));
    if (name == "body_arguments") return Value(arguments_json(r_.body_arguments));
    if (name == "cookies") {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [k, v] : r_.cookies()) out[k] = v;
      return Value(std::move(out));
    }
    return method_as_attribute(*this, name, {"full_url", "request_time"});
  }
  std::optional<Value> call_method(std::string_view name, const Arguments&) const override {
    if (name == "full_url") return Value(r_.full_url());
    if (name == "request_time") return Value(r_.request_time());
    return std::nullopt;
  }
  std::string repr() const override {
    auto q = [](const std::string& s) { return "'" + s + "'"; };
    return "HTTPServerRequest(protocol=" + q(r_.protocol) + ", host=" + q(r_.host) +
           ", method=" + q(r_.method) + ", uri=" + q(r_.uri) + ", version=" + q(r_.version) +
           ", remote_ip=" + q(r_.remote_ip) + ")";
  }

 private:
  const httputil::HTTPServerRequest& r_;
};

nlohmann::json settings_json(const web::Settings& s) {
  nlohmann::json out = {
      {"debug", s.debug},
      {"static_path", s.static_path},
      {"static_url_prefix", s.static_url_prefix},
      {"template_path", s.template_path},
      {"cookie_secret", s.cookie_secret},
      {"xsrf_cookies", s.xsrf_cookies},
      {"login_url", s.login_url},
      {"compress_response", s.compress_response},
      {"serve_traceback",
       s.serve_traceback ? nlohmann::json(*s.serve_traceback) : nlohmann::json()},
      {"autoescape", s.autoescape ? nlohmann::json(*s.autoescape) : nlohmann::json()},
      {"template_whitespace",
       s.template_whitespace ? nlohmann::json(*s.template_whitespace) : nlohmann::json()},
      {"template_max_value_size", s.template_max_value_size},
  };
  if (s.compiled_template_cache) out["compiled_template_cache"] = *s.compiled_template_cache;
  if (s.values.is_object()) {
    for (const auto& [k, v] : s.values.items()) out[k] = v;
  }
  return out;
}

std::vector<std::string> string_arguments(const Arguments& args, std::size_t from) {
  std::vector<std::string> out;
  for (std::size_t i = from; i < args.positional.size(); ++i) {
    const Value& v = args.positional[i];
    out.push_back(v.json() && v.json()->is_string() ? v.json()->get<std::string>() : v.str());
  }
  return out;
}

class HandlerObject : public Object {
 public:
  explicit HandlerObject(web::RequestHandler& handler) : h_(handler) {}
  std::string type_name() const override { return "RequestHandler"; }
  std::optional<Value> attribute(std::string_view name) const override {
    if (name == "settings") return Value(settings_json(h_.settings()));
    if (name == "request") return request_object(h_);
    if (name == "current_user") {
      const auto& user = h_.current_user();
      return user ? Value(*user) : Value();
    }
    if (name == "locale") return h_.get_template_locale();
    if (name == "path_args") return Value(h_.path_args());
    if (name == "path_kwargs") {
      nlohmann::json out = nlohmann::json::object();
      for (const auto& [k, v] : h_.path_kwargs()) out[k] = v;
      return Value(std::move(out));
    }
    if (name == "xsrf_token") return Value(h_.xsrf_token());
    if (name == "ui") return modules_object(h_);
    return method_as_attribute(
        *this, name,
        {"static_url", "reverse_url", "xsrf_form_html", "get_argument", "get_arguments",
         "get_query_argument", "get_query_arguments", "get_body_argument", "get_body_arguments",
         "get_cookie", "get_signed_cookie", "get_secure_cookie", "get_status", "render_string"});
  }

  std::optional<Value> call_method(std::string_view name, const Arguments& args) const override {
    if (name == "static_url") {
      return Value(
          h_.static_url(args.str(0, "path"), truthy_arg(args.get(1, "include_host"), false)));
    }
    if (name == "reverse_url")
      return Value(h_.reverse_url(args.str(0, "name"), string_arguments(args, 1)));
    if (name == "xsrf_form_html") return Value(h_.xsrf_form_html());
    if (name == "get_status") return Value(h_.get_status());
    if (name == "get_argument" || name == "get_query_argument" || name == "get_body_argument") {
      const std::string& arg = args.str(0, "name");
      const bool strip = truthy_arg(args.get(2, "strip"), true);
      std::vector<std::string> values = name == "get_argument" ? h_.get_arguments(arg, strip)
                                        : name == "get_query_argument"
                                            ? h_.get_query_arguments(arg, strip)
                                            : h_.get_body_arguments(arg, strip);
      if (!values.empty()) return Value(values.back());
      if (const Value* fallback = args.get(1, "default")) return *fallback;
      throw web::MissingArgumentError(arg);
    }
    if (name == "get_arguments" || name == "get_query_arguments" || name == "get_body_arguments") {
      const std::string& arg = args.str(0, "name");
      const bool strip = truthy_arg(args.get(1, "strip"), true);
      return Value(name == "get_arguments"         ? h_.get_arguments(arg, strip)
                   : name == "get_query_arguments" ? h_.get_query_arguments(arg, strip)
                                                   : h_.get_body_arguments(arg, strip));
    }
    if (name == "get_cookie") {
      if (auto cookie = h_.get_cookie(args.str(0, "name"))) return Value(*cookie);
      const Value* fallback = args.get(1, "default");
      return fallback ? *fallback : Value();
    }
    if (name == "get_signed_cookie" || name == "get_secure_cookie") {
      if (auto cookie = h_.get_signed_cookie(args.str(0, "name"))) return Value(*cookie);
      return Value();
    }
    if (name == "render_string") {
      template_::Namespace values;
      for (const auto& [k, v] : args.keywords) values.set(k, v);
      return Value(h_.render_string(args.str(0, "template_name"), std::move(values)));
    }
    return std::nullopt;
  }

 private:
  web::RequestHandler& h_;
};

class ModulesObject : public Object {
 public:
  explicit ModulesObject(web::RequestHandler& handler) : h_(handler) {}
  std::string type_name() const override { return "_UIModuleNamespace"; }
  std::optional<Value> call_method(std::string_view name, const Arguments& args) const override {
    if (!h_.has_ui_module(name)) return std::nullopt;
    return Value(h_.render_ui_module(name, args));
  }
  std::optional<Value> attribute(std::string_view name) const override {
    if (!h_.has_ui_module(name)) return std::nullopt;
    return Value(template_::make_callable(
        std::string(name), [h = &h_, name = std::string(name)](const Arguments& args) {
          return Value(h->render_ui_module(name, args));
        }));
  }
  std::optional<Value> item(const Value& key) const override {
    if (!key.json() || !key.json()->is_string()) return std::nullopt;
    return attribute(key.json()->get_ref<const std::string&>());
  }

 private:
  web::RequestHandler& h_;
};

// Tornado's Locale as templates see it; dates are seconds since the epoch
// (UTC), as a template has no datetime objects.
class LocaleObject : public Object {
 public:
  explicit LocaleObject(std::shared_ptr<const locale::Locale> locale)
      : locale_(std::move(locale)) {}
  std::string type_name() const override { return "Locale"; }
  std::optional<Value> attribute(std::string_view name) const override {
    if (name == "code") return Value(locale_->code());
    if (name == "name") return Value(locale_->name());
    if (name == "rtl") return Value(locale_->rtl());
    return method_as_attribute(
        *this, name,
        {"translate", "pgettext", "format_date", "format_day", "list", "friendly_number"});
  }
  std::optional<Value> call_method(std::string_view name, const Arguments& args) const override {
    if (name == "translate" || name == "pgettext") return translate(name, args);
    if (name == "list") {
      return Value(locale_->list(args.at(0, "parts").to_json().get<std::vector<std::string>>()));
    }
    if (name == "friendly_number") {
      return Value(locale_->friendly_number(integer(args.at(0, "value"), "value")));
    }
    if (name == "format_date" || name == "format_day") {
      const Value* offset = args.get(1, "gmt_offset");
      const int gmt_offset = offset ? static_cast<int>(integer(*offset, "gmt_offset")) : 0;
      const auto date = time_point(args.at(0, "date"));
      if (name == "format_day") {
        return Value(locale_->format_day(date, gmt_offset, truthy_arg(args.get(2, "dow"), true)));
      }
      return Value(locale_->format_date(date, gmt_offset, truthy_arg(args.get(2, "relative"), true),
                                        truthy_arg(args.get(3, "shorter"), false),
                                        truthy_arg(args.get(4, "full_format"), false)));
    }
    return std::nullopt;
  }

 private:
  static double number(const Value& v, std::string_view what) {
    if (!v.json() || !v.json()->is_number())
      fail("TypeError", std::string(what) + " must be a number");
    return v.json()->get<double>();
  }
  // A datetime, or seconds since the epoch (Tornado takes both).
  static locale::TimePoint time_point(const Value& v) {
    if (const auto* datetime = dynamic_cast<const template_::DateTime*>(v.object())) {
      return std::chrono::time_point_cast<locale::TimePoint::duration>(datetime->time());
    }
    if (!v.json() || !v.json()->is_number())
      fail("TypeError", "date must be a datetime or a number");
    return locale::TimePoint(std::chrono::duration_cast<locale::TimePoint::duration>(
        std::chrono::duration<double>(v.json()->get<double>())));
  }
  static long long integer(const Value& v, std::string_view what) {
    return static_cast<long long>(number(v, what));
  }

  // translate(message, plural_message=None, count=None) and
  // pgettext(context, message, plural_message=None, count=None).
  Value translate(std::string_view name, const Arguments& args) const {
    const bool context = name == "pgettext";
    const std::size_t first = context ? 1 : 0;
    const std::string message = args.str(first, "message");
    const Value* plural = args.get(first + 1, "plural_message");
    if (plural && plural->json() && plural->json()->is_null()) plural = nullptr;
    if (!plural) {
      return Value(context ? locale_->pgettext(args.str(0, "context"), message)
                           : locale_->translate(message));
    }
    const Value* count = args.get(first + 2, "count");
    if (!count || !count->json() || !count->json()->is_number()) {
      fail("TypeError", std::string(name) + "() with plural_message needs a count");
    }
    const std::string plural_message = args.str(first + 1, "plural_message");
    const long long n = integer(*count, "count");
    return Value(context ? locale_->pgettext(args.str(0, "context"), message, plural_message, n)
                         : locale_->translate(message, plural_message, n));
  }

  std::shared_ptr<const locale::Locale> locale_;
};

// Built-in UI modules, as Tornado's Application registers them.

class LinkifyModule : public web::UIModule {
 public:
  using UIModule::UIModule;
  std::string render(const Arguments& args) override {
    escape::LinkifyOptions options;
    options.shorten = truthy_arg(args.get(99, "shorten"), false);
    options.require_protocol = truthy_arg(args.get(99, "require_protocol"), false);
    if (const Value* extra = args.get(99, "extra_params");
        extra && extra->json() && extra->json()->is_string()) {
      options.extra_params = extra->json()->get<std::string>();
    }
    if (const Value* protocols = args.get(99, "permitted_protocols")) {
      options.permitted_protocols = protocols->to_json().get<std::vector<std::string>>();
    }
    return escape::linkify(args.str(0, "text"), options);
  }
};

class XsrfFormHtmlModule : public web::UIModule {
 public:
  using UIModule::UIModule;
  std::string render(const Arguments&) override { return handler.xsrf_form_html(); }
};

// {% module Template("x.html", **kwargs) %}: the template in its own
// namespace, which may declare page resources once per file with
// set_resources(embedded_javascript=..., css_files=...).
class TemplateModule : public web::UIModule {
 public:
  using UIModule::UIModule;
  std::string render(const Arguments& args) override {
    const std::string path = args.str(0, "path");
    template_::Namespace values;
    values.set("set_resources",
               template_::make_callable("set_resources", [this, path](const Arguments& a) {
                 nlohmann::json resources = nlohmann::json::object();
                 for (const auto& [k, v] : a.keywords) resources[k] = v.to_json();
                 for (const auto& [p, r] : resources_) {
                   if (p == path) {
                     if (r != resources) {
                       fail("ValueError",
                            "set_resources called with different resources for the same "
                            "template");
                     }
                     return Value("");
                   }
                 }
                 resources_.emplace_back(path, std::move(resources));
                 return Value("");
               }));
    for (const auto& [k, v] : args.keywords) values.set(k, v);
    return render_string(path, std::move(values));
  }
  std::string embedded_javascript() override { return joined("embedded_javascript", "\n"); }
  std::vector<std::string> javascript_files() override { return files("javascript_files"); }
  std::string embedded_css() override { return joined("embedded_css", "\n"); }
  std::vector<std::string> css_files() override { return files("css_files"); }
  std::string html_head() override { return joined("html_head", ""); }
  std::string html_body() override { return joined("html_body", ""); }

 private:
  std::string joined(const std::string& key, std::string_view separator) const {
    std::string out;
    bool first = true;
    for (const auto& [path, r] : resources_) {
      if (!r.contains(key)) continue;
      if (!first) out += separator;
      first = false;
      const auto& v = r[key];
      out += v.is_string() ? v.get<std::string>() : v.dump();
    }
    return out;
  }
  std::vector<std::string> files(const std::string& key) const {
    std::vector<std::string> out;
    for (const auto& [path, r] : resources_) {
      if (!r.contains(key)) continue;
      const auto& v = r[key];
      if (v.is_string()) {
        out.push_back(v.get<std::string>());
      } else if (v.is_array()) {
        for (const auto& f : v) out.push_back(f.is_string() ? f.get<std::string>() : f.dump());
      }
    }
    return out;
  }
  std::vector<std::pair<std::string, nlohmann::json>> resources_;
};

}  // namespace

Value handler_object(web::RequestHandler& handler) {
  return Value(std::make_shared<const HandlerObject>(handler));
}

Value request_object(web::RequestHandler& handler) {
  return Value(std::make_shared<const RequestObject>(handler.request()));
}

Value modules_object(web::RequestHandler& handler) {
  return Value(std::make_shared<const ModulesObject>(handler));
}

Value locale_object(std::shared_ptr<const locale::Locale> locale) {
  return Value(std::make_shared<const LocaleObject>(std::move(locale)));
}

std::unique_ptr<web::UIModule> builtin_ui_module(std::string_view name,
                                                 web::RequestHandler& handler) {
  if (name == "linkify") return std::make_unique<LinkifyModule>(handler);
  if (name == "xsrf_form_html") return std::make_unique<XsrfFormHtmlModule>(handler);
  if (name == "Template") return std::make_unique<TemplateModule>(handler);
  return nullptr;
}

}  // namespace tornado::detail
