#include "tornado/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "tornado/detail/ascii.h"
#include "tornado/detail/base64.h"
#include "tornado/detail/crypto.h"
#include "tornado/escape.h"
#include "tornado/httputil.h"

namespace tornado::auth {

namespace {

constexpr std::string_view kStateCookie = "_oauth2_state";
constexpr std::string_view kRequestTokenCookie = "_oauth_request_token";

using tornado::detail::base64_decode;
using tornado::detail::base64_encode;

std::string random_hex(std::size_t bytes) {
  return tornado::detail::hex_encode(tornado::detail::random_bytes(bytes));
}

std::string urlencode(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += escape::url_escape(k);
    out += '=';
    out += escape::url_escape(v);
  }
  return out;
}

const nlohmann::json& setting(const web::Settings& settings, const std::string& name) {
  return settings[name];
}

std::string require_string(const web::Settings& settings, const std::string& name,
                           std::string_view feature) {
  const auto& value = setting(settings, name);
  if (!value.is_string()) {
    throw std::logic_error(fmt::format(
        "You must define the '{}' setting in your application to use {}", name, feature));
  }
  return value.get<std::string>();
}

// Fetches `request`, turning a provider's error answer or unreadable body
// into an AuthError that says which URL failed and how.
Task<nlohmann::json> fetch_json(httpclient::AsyncHTTPClient& client,
                                httpclient::HTTPRequest request, std::string_view what) {
  std::string url = request.url;
  auto q = url.find('?');
  std::string shown = url.substr(0, q);  // the query may carry secrets
  httpclient::HTTPResponse response = co_await client.fetch(std::move(request), false);
  if (response.code < 200 || response.code >= 300) {
    throw AuthError(fmt::format("{} failed: {} answered {} {}", what, shown, response.code,
                                std::string_view(response.body).substr(0, 200)));
  }
  try {
    co_return escape::json_decode(response.body);
  } catch (const std::exception&) {
    throw AuthError(fmt::format("{} failed: {} answered a body that is not JSON", what, shown));
  }
}

// Tornado's _oauth_parse_response: a form-encoded token answer.
OAuthToken parse_token_response(std::string_view body, std::string_view what) {
  auto args = httputil::parse_qs_bytes(body, false);
  auto first = [&](const char* name) -> std::optional<std::string> {
    auto it = args.find(name);
    if (it == args.end() || it->second.empty()) return std::nullopt;
    return it->second.front();
  };
  auto key = first("oauth_token");
  auto secret = first("oauth_token_secret");
  if (!key || !secret) {
    throw AuthError(fmt::format("{}: the answer has no oauth_token and oauth_token_secret", what));
  }
  OAuthToken token{*key, *secret, {}};
  for (const auto& [name, values] : args) {
    if (name != "oauth_token" && name != "oauth_token_secret" && !values.empty()) {
      token.extra[name] = values.front();
    }
  }
  return token;
}

nlohmann::json token_json(const OAuthToken& token) {
  nlohmann::json j = {{"key", token.key}, {"secret", token.secret}};
  for (const auto& [k, v] : token.extra) j[k] = v;
  return j;
}

// Resolves `relative` against `base` as urllib.parse.urljoin does for the
// forms a callback takes: absolute URL, absolute path, or relative path.
std::string url_join(std::string_view base, std::string_view relative) {
  if (relative.find("://") != std::string_view::npos) return std::string(relative);
  auto scheme_end = base.find("://");
  auto path_start = base.find('/', scheme_end == std::string_view::npos ? 0 : scheme_end + 3);
  std::string origin(base.substr(0, path_start));
  if (relative.starts_with("/")) return origin + std::string(relative);
  std::string_view path =
      path_start == std::string_view::npos ? std::string_view("/") : base.substr(path_start);
  path = path.substr(0, path.find('?'));
  return origin + std::string(path.substr(0, path.rfind('/') + 1)) + std::string(relative);
}

}  // namespace

// ---------------------------------------------------------------------------
// Signatures

std::string oauth_escape(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string oauth_signature_base_string(std::string_view method, std::string_view url,
                                        const Params& parameters) {
  std::string_view without_fragment = url.substr(0, url.find('#'));
  auto q = without_fragment.find('?');
  std::string_view base = without_fragment.substr(0, q);
  // Scheme and host are case-insensitive; the default port is left out.
  auto scheme_end = base.find("://");
  if (scheme_end == std::string_view::npos) {
    throw std::invalid_argument(fmt::format("OAuth: '{}' is not an absolute URL", url));
  }
  auto path_start = base.find('/', scheme_end + 3);
  std::string scheme(base.substr(0, scheme_end));
  std::string host(base.substr(scheme_end + 3, path_start == std::string_view::npos
                                                   ? std::string_view::npos
                                                   : path_start - scheme_end - 3));
  scheme = tornado::detail::ascii_lower(scheme);
  host = tornado::detail::ascii_lower(host);
  if ((scheme == "http" && host.ends_with(":80")) ||
      (scheme == "https" && host.ends_with(":443"))) {
    host.resize(host.rfind(':'));
  }
  std::string path =
      path_start == std::string_view::npos ? "/" : std::string(base.substr(path_start));

  std::vector<std::pair<std::string, std::string>> encoded;
  if (q != std::string_view::npos) {
    std::string_view query = without_fragment.substr(q + 1);
    while (!query.empty()) {
      auto amp = query.find('&');
      std::string_view field = query.substr(0, amp);
      if (!field.empty()) {
        auto eq = field.find('=');
        std::string name = escape::url_unescape(field.substr(0, eq), true);
        std::string value =
            eq == std::string_view::npos ? "" : escape::url_unescape(field.substr(eq + 1), true);
        encoded.emplace_back(oauth_escape(name), oauth_escape(value));
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  for (const auto& [k, v] : parameters) encoded.emplace_back(oauth_escape(k), oauth_escape(v));
  std::sort(encoded.begin(), encoded.end());
  std::string normalized;
  for (const auto& [k, v] : encoded) {
    if (!normalized.empty()) normalized += '&';
    normalized += k + "=" + v;
  }
  return tornado::detail::ascii_upper(method) + "&" + oauth_escape(scheme + "://" + host + path) +
         "&" + oauth_escape(normalized);
}

std::string oauth10a_signature(std::string_view consumer_secret, std::string_view method,
                               std::string_view url, const Params& parameters,
                               std::string_view token_secret) {
  std::string key = oauth_escape(consumer_secret) + "&" + oauth_escape(token_secret);
  std::string base = oauth_signature_base_string(method, url, parameters);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(base.data()), base.size(), digest, &len);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

// ---------------------------------------------------------------------------
// OAuth2Mixin

httpclient::AsyncHTTPClient& OAuth2Mixin::get_auth_http_client() {
  if (!client_) client_.emplace();
  return *client_;
}

void OAuth2Mixin::authorize_redirect(const AuthorizeOptions& options) {
  Params args{{"response_type", options.response_type}};
  if (!options.redirect_uri.empty()) args.emplace_back("redirect_uri", options.redirect_uri);
  if (!options.client_id.empty()) args.emplace_back("client_id", options.client_id);
  bool has_state = false;
  for (const auto& p : options.extra_params) {
    has_state |= p.first == "state";
    args.push_back(p);
  }
  if (!options.scope.empty()) {
    std::string scope;
    for (const auto& s : options.scope) scope += (scope.empty() ? "" : " ") + s;
    args.emplace_back("scope", scope);
  }
  if (!has_state) {
    std::string state = random_hex(16);
    web::CookieOptions cookie;
    cookie.httponly = true;
    cookie.samesite = "Lax";  // the provider's redirect back is a top-level GET
    cookie.secure = request().protocol == "https";
    set_cookie(kStateCookie, state, cookie);
    args.emplace_back("state", state);
  }
  redirect(httputil::url_concat(oauth_authorize_url, args));
}

void OAuth2Mixin::check_oauth2_state() {
  auto expected = get_cookie(kStateCookie);
  std::string got = get_argument("state", "");
  clear_cookie(kStateCookie);
  if (!expected || expected->empty() || !tornado::detail::constant_time_equal(*expected, got)) {
    throw AuthError("OAuth2 state does not match this browser's (forged or replayed callback)",
                    403);
  }
}

std::string OAuth2Mixin::oauth_request_token_url(std::string_view redirect_uri,
                                                 std::string_view client_id,
                                                 std::string_view client_secret,
                                                 std::string_view code,
                                                 const Params& extra_params) const {
  Params args;
  if (!redirect_uri.empty()) args.emplace_back("redirect_uri", redirect_uri);
  if (!code.empty()) args.emplace_back("code", code);
  if (!client_id.empty()) args.emplace_back("client_id", client_id);
  if (!client_secret.empty()) args.emplace_back("client_secret", client_secret);
  args.insert(args.end(), extra_params.begin(), extra_params.end());
  return httputil::url_concat(oauth_access_token_url, args);
}

Task<nlohmann::json> OAuth2Mixin::get_authenticated_user(std::string redirect_uri, std::string code,
                                                         std::string client_id,
                                                         std::string client_secret) {
  check_oauth2_state();
  httpclient::HTTPRequest request;
  request.url = oauth_access_token_url;
  request.method = "POST";
  request.headers.add("Content-Type", "application/x-www-form-urlencoded");
  request.body = urlencode({{"redirect_uri", redirect_uri},
                            {"code", code},
                            {"client_id", client_id},
                            {"client_secret", client_secret},
                            {"grant_type", "authorization_code"}});
  nlohmann::json token =
      co_await fetch_json(get_auth_http_client(), std::move(request), "OAuth2 token exchange");
  if (!token.is_object() || !token.contains("access_token")) {
    throw AuthError("OAuth2 token exchange failed: the answer has no access_token");
  }
  co_return token;
}

Task<nlohmann::json> OAuth2Mixin::oauth2_request(std::string url, std::string access_token,
                                                 std::optional<Params> post_args, Params args) {
  Params all;
  if (!access_token.empty()) {
    all.emplace_back("access_token", access_token);
    all.insert(all.end(), args.begin(), args.end());
  }
  if (!all.empty()) url += "?" + urlencode(all);
  httpclient::HTTPRequest request;
  request.url = std::move(url);
  if (post_args) {
    request.method = "POST";
    request.body = urlencode(*post_args);
  }
  co_return co_await fetch_json(get_auth_http_client(), std::move(request), "OAuth2 request");
}

// ---------------------------------------------------------------------------
// Google and Facebook

GoogleOAuth2Mixin::GoogleOAuth2Mixin() {
  oauth_authorize_url = "https://accounts.google.com/o/oauth2/v2/auth";
  oauth_access_token_url = "https://www.googleapis.com/oauth2/v4/token";
}

Task<nlohmann::json> GoogleOAuth2Mixin::get_authenticated_user(std::string redirect_uri,
                                                               std::string code) {
  const auto& google = setting(settings(), "google_oauth");
  if (!google.is_object() || !google.contains("key") || !google.contains("secret")) {
    throw std::logic_error(
        "You must define the 'google_oauth' setting ({\"key\", \"secret\"}) to use "
        "GoogleOAuth2Mixin");
  }
  co_return co_await OAuth2Mixin::get_authenticated_user(std::move(redirect_uri), std::move(code),
                                                         google.at("key").get<std::string>(),
                                                         google.at("secret").get<std::string>());
}

FacebookGraphMixin::FacebookGraphMixin() {
  oauth_authorize_url = "https://www.facebook.com/dialog/oauth?";
  oauth_access_token_url = "https://graph.facebook.com/oauth/access_token?";
}

Task<nlohmann::json> FacebookGraphMixin::get_authenticated_user(
    std::string redirect_uri, std::string client_id, std::string client_secret, std::string code,
    std::vector<std::string> extra_fields) {
  check_oauth2_state();
  std::set<std::string> fields{"id",     "name",    "first_name", "last_name",
                               "locale", "picture", "link"};
  fields.insert(extra_fields.begin(), extra_fields.end());
  httpclient::HTTPRequest request;
  request.url = oauth_request_token_url(redirect_uri, client_id, client_secret, code);
  nlohmann::json session =
      co_await fetch_json(get_auth_http_client(), std::move(request), "Facebook token exchange");
  if (!session.is_object() || !session.contains("access_token") ||
      !session["access_token"].is_string()) {
    throw AuthError("Facebook token exchange failed: the answer has no access_token");
  }
  std::string access_token = session["access_token"].get<std::string>();
  std::string field_list;
  for (const auto& f : fields) field_list += (field_list.empty() ? "" : ",") + f;
  nlohmann::json user = co_await facebook_request(
      "/me", access_token, std::nullopt,
      {{"appsecret_proof", tornado::detail::hmac_hex(EVP_sha256(), client_secret, access_token)},
       {"fields", field_list}});
  if (user.is_null()) co_return nullptr;
  nlohmann::json result = nlohmann::json::object();
  for (const auto& f : fields)
    result[f] = user.is_object() ? user.value(f, nlohmann::json()) : nullptr;
  result["access_token"] = access_token;
  const auto& expires = session.value("expires_in", nlohmann::json());
  result["session_expires"] = expires.is_null()     ? "None"
                              : expires.is_string() ? expires.get<std::string>()
                                                    : expires.dump();
  co_return result;
}

Task<nlohmann::json> FacebookGraphMixin::facebook_request(std::string path,
                                                          std::string access_token,
                                                          std::optional<Params> post_args,
                                                          Params args) {
  co_return co_await oauth2_request(facebook_base_url + path, std::move(access_token),
                                    std::move(post_args), std::move(args));
}

// ---------------------------------------------------------------------------
// OAuthMixin (1.0a)

httpclient::AsyncHTTPClient& OAuthMixin::get_auth_http_client() {
  if (!client_) client_.emplace();
  return *client_;
}

std::string OAuthMixin::oauth_nonce() {
  return random_hex(16);
}

std::string OAuthMixin::oauth_timestamp() {
  return std::to_string(std::time(nullptr));
}

std::string OAuthMixin::request_token_url(std::string_view callback_uri,
                                          const Params& extra_params) {
  OAuthToken consumer = oauth_consumer_token();
  Params args{{"oauth_consumer_key", consumer.key},
              {"oauth_signature_method", "HMAC-SHA1"},
              {"oauth_timestamp", oauth_timestamp()},
              {"oauth_nonce", oauth_nonce()},
              {"oauth_version", "1.0"}};
  if (callback_uri == "oob") {
    args.emplace_back("oauth_callback", "oob");
  } else if (!callback_uri.empty()) {
    args.emplace_back("oauth_callback", url_join(request().full_url(), callback_uri));
  }
  args.insert(args.end(), extra_params.begin(), extra_params.end());
  args.emplace_back("oauth_signature",
                    oauth10a_signature(consumer.secret, "GET", oauth_request_token_url, args));
  return oauth_request_token_url + "?" + urlencode(args);
}

std::string OAuthMixin::access_token_url(const OAuthToken& request_token) {
  OAuthToken consumer = oauth_consumer_token();
  Params args{{"oauth_consumer_key", consumer.key},    {"oauth_token", request_token.key},
              {"oauth_signature_method", "HMAC-SHA1"}, {"oauth_timestamp", oauth_timestamp()},
              {"oauth_nonce", oauth_nonce()},          {"oauth_version", "1.0"}};
  if (auto v = request_token.extra.find("verifier"); v != request_token.extra.end()) {
    args.emplace_back("oauth_verifier", v->second);
  }
  args.emplace_back("oauth_signature",
                    oauth10a_signature(consumer.secret, "GET", oauth_access_token_url, args,
                                       request_token.secret));
  return oauth_access_token_url + "?" + urlencode(args);
}

Params OAuthMixin::oauth_request_parameters(std::string_view url, const OAuthToken& access_token,
                                            const Params& parameters, std::string_view method) {
  OAuthToken consumer = oauth_consumer_token();
  Params base{{"oauth_consumer_key", consumer.key},    {"oauth_token", access_token.key},
              {"oauth_signature_method", "HMAC-SHA1"}, {"oauth_timestamp", oauth_timestamp()},
              {"oauth_nonce", oauth_nonce()},          {"oauth_version", "1.0"}};
  Params all = base;
  all.insert(all.end(), parameters.begin(), parameters.end());
  base.emplace_back("oauth_signature",
                    oauth10a_signature(consumer.secret, method, url, all, access_token.secret));
  return base;
}

void OAuthMixin::on_request_token(std::string_view authorize_url, std::string_view callback_uri,
                                  const httpclient::HTTPResponse& response) {
  OAuthToken token = parse_token_response(response.body, "OAuth request token");
  web::CookieOptions cookie;
  cookie.httponly = true;
  set_cookie(kRequestTokenCookie, base64_encode(token.key) + "|" + base64_encode(token.secret),
             cookie);
  Params args{{"oauth_token", token.key}};
  if (callback_uri == "oob") {
    finish(std::string(authorize_url) + "?" + urlencode(args));
    return;
  }
  if (!callback_uri.empty()) {
    args.emplace_back("oauth_callback", url_join(request().full_url(), callback_uri));
  }
  redirect(std::string(authorize_url) + "?" + urlencode(args));
}

Task<> OAuthMixin::authorize_redirect(std::string callback_uri, Params extra_params) {
  httpclient::HTTPRequest request;
  request.url = request_token_url(callback_uri, extra_params);
  auto response = co_await get_auth_http_client().fetch(std::move(request), false);
  if (response.code != 200) {
    throw AuthError(fmt::format("OAuth request token failed: {} answered {}",
                                oauth_request_token_url, response.code));
  }
  on_request_token(oauth_authorize_url, callback_uri, response);
}

Task<nlohmann::json> OAuthMixin::get_authenticated_user() {
  std::string request_key = get_argument("oauth_token");
  std::string verifier = get_argument("oauth_verifier", "");
  auto cookie = get_cookie(kRequestTokenCookie);
  if (!cookie || cookie->empty()) throw AuthError("Missing OAuth request token cookie", 403);
  clear_cookie(kRequestTokenCookie);
  auto bar = cookie->find('|');
  std::optional<std::string> key, secret;
  if (bar != std::string::npos) {
    key = base64_decode(std::string_view(*cookie).substr(0, bar));
    secret = base64_decode(std::string_view(*cookie).substr(bar + 1));
  }
  if (!key || !secret) throw AuthError("Malformed OAuth request token cookie", 403);
  if (!tornado::detail::constant_time_equal(*key, request_key)) {
    throw AuthError("Request token does not match cookie", 403);
  }
  OAuthToken token{*key, *secret, {}};
  if (!verifier.empty()) token.extra["verifier"] = verifier;
  httpclient::HTTPRequest request;
  request.url = access_token_url(token);
  auto response = co_await get_auth_http_client().fetch(std::move(request), false);
  if (response.code != 200) {
    throw AuthError(fmt::format("OAuth access token failed: {} answered {}", oauth_access_token_url,
                                response.code));
  }
  OAuthToken access = parse_token_response(response.body, "OAuth access token");
  nlohmann::json user = co_await oauth_get_user(access);
  if (user.is_null() || (user.is_object() && user.empty())) throw AuthError("Error getting user");
  user["access_token"] = token_json(access);
  co_return user;
}

// ---------------------------------------------------------------------------
// TwitterMixin

TwitterMixin::TwitterMixin() {
  oauth_request_token_url = "https://api.twitter.com/oauth/request_token";
  oauth_access_token_url = "https://api.twitter.com/oauth/access_token";
  oauth_authorize_url = "https://api.twitter.com/oauth/authorize";
}

OAuthToken TwitterMixin::oauth_consumer_token() {
  return {require_string(settings(), "twitter_consumer_key", "Twitter OAuth"),
          require_string(settings(), "twitter_consumer_secret", "Twitter OAuth"),
          {}};
}

Task<> TwitterMixin::authenticate_redirect(std::string callback_uri) {
  httpclient::HTTPRequest request;
  request.url = request_token_url(callback_uri, {});
  auto response = co_await get_auth_http_client().fetch(std::move(request), false);
  if (response.code != 200) {
    throw AuthError(fmt::format("OAuth request token failed: {} answered {}",
                                oauth_request_token_url, response.code));
  }
  on_request_token(oauth_authenticate_url, {}, response);
}

Task<nlohmann::json> TwitterMixin::twitter_request(std::string path, const OAuthToken& access_token,
                                                   std::optional<Params> post_args, Params args) {
  std::string url = (path.starts_with("http:") || path.starts_with("https:"))
                        ? path
                        : twitter_base_url + path + ".json";
  if (!access_token.key.empty()) {
    Params all = args;
    if (post_args) all.insert(all.end(), post_args->begin(), post_args->end());
    Params oauth = oauth_request_parameters(url, access_token, all, post_args ? "POST" : "GET");
    args.insert(args.end(), oauth.begin(), oauth.end());
  }
  if (!args.empty()) url += "?" + urlencode(args);
  httpclient::HTTPRequest request;
  request.url = std::move(url);
  if (post_args) {
    request.method = "POST";
    request.body = urlencode(*post_args);
  }
  co_return co_await fetch_json(get_auth_http_client(), std::move(request), "Twitter request");
}

Task<nlohmann::json> TwitterMixin::oauth_get_user(const OAuthToken& access_token) {
  nlohmann::json user = co_await twitter_request("/account/verify_credentials", access_token);
  if (user.is_object() && user.contains("screen_name")) user["username"] = user["screen_name"];
  co_return user;
}

}  // namespace tornado::auth
